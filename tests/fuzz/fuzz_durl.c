/*
 * fuzz_durl.c: data URL and base64 parsing (common/durl.c).
 *
 * The first byte picks the flags and the limit; the rest is the text.
 * Checks, besides "no crash": a successful decode respects the limit and
 * is NUL-terminated, the arena and malloc paths agree, durl_base64_len
 * predicts the decoded size, encode(decode(x)) decodes back to the
 * same bytes, and the table decoder gives libsodium's verdict, bytes and
 * message (durl_base64_decode_ref) on every input.  See tests/fuzz/README.md.
 */
#include "tests/fuzz/fuzz.h"

#include "common/ar.h"
#include "common/cm.h"
#include "common/durl.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned sel = data[0];
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    unsigned flags = sel & 3;
    size_t max = (sel & 4) ? 64 : (1u << 20);
    struct err e;
    struct durl d;

    /* malloc path */
    int rc = durl_parse(s, n, max, flags, NULL, &d, &e);
    if (rc == DURL_OK) {
        CM_ASSERT(d.len <= max);
        CM_ASSERT(d.data != NULL && d.data[d.len] == 0);
        CM_ASSERT(strlen(d.mime) < DURL_MIME_MAX);
    } else {
        CM_ASSERT(d.data == NULL && e.code[0] != 0 && e.cls != ERR_INTERNAL);
    }

    /* arena path must agree */
    struct ar *ar = ar_init(4096);
    struct durl d2;
    int rc2 = durl_parse(s, n, max, flags, ar, &d2, &e);
    CM_ASSERT(rc2 == rc);
    if (rc == DURL_OK) {
        CM_ASSERT(d2.len == d.len && memcmp(d2.data, d.data, d.len) == 0);
        CM_ASSERT(strcmp(d2.mime, d.mime) == 0 && d2.base64 == d.base64);
        /* round trip through the encoder */
        char *enc = durl_base64_encode(d.data, d.len, ar);
        CM_ASSERT(enc != NULL);
        uint8_t *back;
        size_t blen;
        CM_ASSERT(durl_base64_decode(enc, strlen(enc), DURL_B64_ORIGINAL, 0, ar, &back, &blen,
                                     &e) == DURL_OK);
        CM_ASSERT(blen == d.len && memcmp(back, d.data, blen) == 0);
    }
    durl_free(&d);

    /* plain base64, both alphabets; the size predictor must match */
    for (int v = 0; v < 2; v++) {
        uint8_t *out;
        size_t len, want;
        int lrc = durl_base64_len(s, n, &want, &e);
        rc = durl_base64_decode(s, n, (enum durl_b64)v, max, ar, &out, &len, &e);
        if (rc == DURL_OK) {
            CM_ASSERT(lrc == DURL_OK && len == want && len <= max && out[len] == 0);
        } else {
            CM_ASSERT(out == NULL);
        }
        /* the table decoder must agree with libsodium alone: verdict,
         * bytes, and the error code and message */
        struct err re;
        uint8_t *rout;
        size_t rlen;
        char msg[sizeof e.msg];
        memcpy(msg, e.msg, sizeof msg);
        int rrc = durl_base64_decode_ref(s, n, (enum durl_b64)v, max, ar, &rout, &rlen, &re);
        CM_ASSERT(rrc == rc);
        if (rc == DURL_OK)
            CM_ASSERT(rlen == len && memcmp(rout, out, len) == 0);
        else
            CM_ASSERT(strcmp(re.code, e.code) == 0 && strcmp(re.msg, msg) == 0);
    }
    ar_free(ar);
    return 0;
}
