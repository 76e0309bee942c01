/*
 * fuzz_tokenizer.c: the tokenizer.json loader (import/tok.c).
 *
 * Loads the bytes with small limits; on success encodes a fixed text that
 * exercises every class of the split pattern and an added-token marker,
 * decodes the ids back (whole and streamed: both must agree) and decodes
 * every id of the vocabulary once.
 */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "common/cm.h"
#include "import/tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char text[] =
        "Hello  world's 123 \xe4\xb8\xad\xf0\x9f\x98\x80 <|endoftext|>\t\n x";
    struct tok_limits lim = {.max_file = 1 << 20,
                             .max_vocab = 4096,
                             .max_merges = 8192,
                             .max_token_len = 64,
                             .max_added = 64,
                             .max_text = 4096};
    struct tok_tokenizer *t = NULL;
    struct err e;
    if (tok_load_mem(&t, (const char *)data, size, &lim, &e) != 0) {
        CM_ASSERT(t == NULL && e.msg[0] != '\0');
        return 0;
    }
    int32_t *ids;
    size_t n;
    CM_ASSERT(tok_encode(t, text, sizeof text - 1, &ids, &n, &e) == 0);
    struct tok_buf a = {0}, b = {0};
    CM_ASSERT(tok_decode(t, ids, n, 0, &a, &e) == 0);
    struct tok_stream s;
    tok_stream_init(&s);
    tok_buf_put(&b, "", 0);
    for (size_t i = 0; i < n; i++)
        CM_ASSERT(tok_stream_push(t, &s, ids[i], 0, &b, &e) == 0);
    tok_stream_flush(&s, &b);
    CM_ASSERT(a.n == b.n && memcmp(a.p, b.p, a.n) == 0);
    for (size_t id = 0; id < tok_vocab_size(t); id++) {
        int32_t one = (int32_t)id;
        b.n = 0;
        CM_ASSERT(tok_decode(t, &one, 1, 1, &b, &e) == 0 || tok_token(t, one) == NULL);
    }
    free(ids);
    free(a.p);
    free(b.p);
    tok_free(t);
    return 0;
}
