/*
 * tok.h: Hugging Face tokenizer.json, byte-level BPE (prefix tok_).
 *
 * Supported (anything else is refused at load with an error naming it):
 * - model "BPE": vocab {token: id}, merges as "a b" strings or ["a", "b"]
 *   pairs (later duplicates override earlier ranks, as the reference does),
 *   ignore_merges, unk_token; no dropout, continuing_subword_prefix,
 *   end_of_word_suffix or byte_fallback;
 * - normalizer null;
 * - pre_tokenizer "ByteLevel" (add_prefix_space, use_regex), or a
 *   "Sequence" of a "Split" with the GPT-2 pattern (behavior "Isolated") and
 *   a ByteLevel with use_regex false; the GPT-2 pattern
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   is matched by hand with Unicode category tables (tok_ucd.h, generated
 *   from Python's unicodedata by tok_ucd_gen.py); \s is Unicode White_Space;
 * - decoder "ByteLevel"; post_processor ignored (encode adds no
 *   BOS/EOS: callers add the ids their prompt template wants);
 * - added_tokens with id, content, special, lstrip, rstrip, normalized
 *   (without a normalizer it changes nothing); single_word true is refused.
 *   Added tokens are matched in the raw text before pre-tokenization,
 *   leftmost-longest; lstrip/rstrip absorb the White_Space beside a match.
 *
 * Encode takes UTF-8 (an invalid byte counts as one "other" character).
 * Decode maps byte-level characters back to bytes (added tokens verbatim)
 * and replaces invalid UTF-8 by U+FFFD per the WHATWG decoder (maximal
 * subparts), as the references do.  The stream decoder emits only complete
 * characters; its concatenated output equals tok_decode of all the ids.
 */
#ifndef VKV_TOK_H
#define VKV_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum {
    TOK_ERR_IO = -1,     /* could not read the file */
    TOK_ERR_FORMAT = -2, /* invalid tokenizer.json */
    TOK_ERR_LIMIT = -3,  /* valid but over a limit */
    TOK_ERR_UNSUPP = -4, /* a feature this implementation refuses */
    TOK_ERR_ARG = -5,    /* bad id or text from the caller */
};

struct tok_limits {
    size_t max_file;      /* bytes of tokenizer.json (0: 64 MiB) */
    size_t max_vocab;     /* vocab entries and largest id + 1 (0: 1 << 20) */
    size_t max_merges;    /* (0: 1 << 21) */
    size_t max_token_len; /* bytes of one token's content (0: 1024) */
    size_t max_added;     /* added tokens (0: 65536) */
    size_t max_text;      /* bytes tok_encode accepts (0: 16 MiB) */
};

struct tok_tokenizer;

/* growable output buffer; caller frees p; always NUL-terminated after use */
struct tok_buf {
    char *p;
    size_t n, cap;
};

/* reads and validates path; returns 0 and a new *out (free with tok_free) */
int tok_load(struct tok_tokenizer **out, const char *path, const struct tok_limits *lim,
             struct err *e);
/* the same on a JSON text in memory (borrowed for the call only) */
int tok_load_mem(struct tok_tokenizer **out, const char *json, size_t n,
                 const struct tok_limits *lim, struct err *e);
void tok_free(struct tok_tokenizer *t);

/*
 * Encodes text[0..n) (UTF-8).  Returns 0 and *ids (new, caller frees with
 * free(); NULL when *nids is 0).  TOK_ERR_LIMIT above max_text.
 */
int tok_encode(const struct tok_tokenizer *t, const char *text, size_t n, int32_t **ids,
               size_t *nids, struct err *e);

/*
 * Decodes ids into out (appended, NUL-terminated, valid UTF-8).
 * skip_special leaves out added tokens marked special.  TOK_ERR_ARG on an
 * unknown id (the message names it).
 */
int tok_decode(const struct tok_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
               struct tok_buf *out, struct err *e);

/* streaming detokeniser: never emits part of a UTF-8 character */
struct tok_stream {
    uint8_t pend[4];
    int npend;
};
void tok_stream_init(struct tok_stream *s);
/* appends to out the characters that id completes (maybe none) */
int tok_stream_push(const struct tok_tokenizer *t, struct tok_stream *s, int32_t id,
                    int skip_special, struct tok_buf *out, struct err *e);
/* end of stream: an incomplete tail becomes U+FFFD */
void tok_stream_flush(struct tok_stream *s, struct tok_buf *out);

/* id of a vocab or added token's content, or -1 */
int32_t tok_id(const struct tok_tokenizer *t, const char *content);
/* content of id as written in the file (borrowed), or NULL */
const char *tok_token(const struct tok_tokenizer *t, int32_t id);
/* largest id + 1 */
size_t tok_vocab_size(const struct tok_tokenizer *t);
/* 1 when id is an added token marked special */
int tok_is_special(const struct tok_tokenizer *t, int32_t id);

/* appends bytes to b (aborts on allocation failure, like cm_xmalloc) */
void tok_buf_put(struct tok_buf *b, const void *p, size_t n);

/* Unicode class of a code point: 1 letter, 2 number, 3 White_Space, 0 other */
int tok_uclass(uint32_t cp);

#endif
