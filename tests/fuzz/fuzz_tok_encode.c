/*
 * fuzz_tok_encode.c: tok_encode and the decoders (import/tok.c) on any
 * bytes, with a fixed tokenizer: the 256 byte-level characters, a few
 * merges and added tokens with lstrip/rstrip.  Invariants: every id is in
 * the vocabulary; for valid UTF-8 input, decode(encode(x)) == x (no added
 * token strips anything unless whitespace touches one, so only inputs
 * without the markers are checked); the stream decoder equals tok_decode
 * and each piece it emits is complete UTF-8.
 */
#include "tests/fuzz/fuzz.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cm.h"
#include "import/tok.h"

static struct tok_tokenizer *tk;

static void build(void)
{
    static const char *const hex = "0123456789abcdef";
    struct tok_buf j = {0};
    tok_buf_put(&j, "{\"model\":{\"type\":\"BPE\",\"vocab\":{", 32);
    int m = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        int cp = keep ? b : 256 + m++;
        char u[32];
        int n = snprintf(u, sizeof u, "%s\"\\u%c%c%c%c\":%d", b ? "," : "", hex[cp >> 12],
                         hex[(cp >> 8) & 15], hex[(cp >> 4) & 15], hex[cp & 15], b);
        tok_buf_put(&j, u, (size_t)n);
    }
    static const char rest[] =
        ",\"he\":256,\"ll\":257,\"hell\":258,\"\\u0120w\":259,\"\\u0120\\u0120\":260},"
        "\"merges\":[\"h e\",\"l l\",\"he ll\",[\"\\u0120\",\"w\"],\"\\u0120 \\u0120\"]},"
        "\"added_tokens\":[{\"id\":261,\"content\":\"<|e|>\",\"special\":true},"
        "{\"id\":262,\"content\":\"<s>\",\"special\":true,\"lstrip\":true,\"rstrip\":true}],"
        "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"use_regex\":true},"
        "\"decoder\":{\"type\":\"ByteLevel\"}}";
    tok_buf_put(&j, rest, sizeof rest - 1);
    struct err e;
    CM_ASSERT(tok_load_mem(&tk, j.p, j.n, NULL, &e) == 0);
    free(j.p);
}

static int has(const uint8_t *d, size_t n, const char *w)
{
    size_t l = strlen(w);
    for (size_t i = 0; i + l <= n; i++)
        if (memcmp(d + i, w, l) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tk)
        build();
    int32_t *ids;
    size_t n;
    struct err e;
    if (tok_encode(tk, (const char *)data, size, &ids, &n, &e) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        CM_ASSERT(ids[i] >= 0 && (size_t)ids[i] < tok_vocab_size(tk));
    struct tok_buf a = {0}, b = {0};
    CM_ASSERT(tok_decode(tk, ids, n, 0, &a, &e) == 0);
    json_t *valid = json_stringn((const char *)data, size);
    if (valid && !has(data, size, "<s>"))
        CM_ASSERT(a.n == size && memcmp(a.p, data, size) == 0);
    json_decref(valid);
    struct tok_stream s;
    tok_stream_init(&s);
    tok_buf_put(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        size_t before = b.n;
        CM_ASSERT(tok_stream_push(tk, &s, ids[i], 0, &b, &e) == 0);
        json_t *piece = json_stringn(b.p + before, b.n - before);
        CM_ASSERT(piece != NULL);
        json_decref(piece);
    }
    tok_stream_flush(&s, &b);
    CM_ASSERT(a.n == b.n && memcmp(a.p, b.p, a.n) == 0);
    free(a.p);
    free(b.p);
    free(ids);
    return 0;
}
