/*
 * test_durl.c: data URLs and base64 (common/durl.c): good and bad media
 * types, missing comma, bad characters, padding rules, whitespace,
 * URL-safe alphabet, percent-encoding, the size limit checked before any
 * allocation, arena vs malloc ownership, and an encode/decode round trip.
 */
#include "common/ar.h"
#include "common/durl.h"
#include "common/err.h"

#include "tests/lib/th.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* parses s with flags and limit; returns the status, fills d and e */
static int parse(const char *s, size_t max, unsigned flags, struct durl *d, struct err *e)
{
    err_clear(e);
    return durl_parse(s, strlen(s), max, flags, NULL, d, e);
}

static void test_good(void)
{
    struct durl d;
    struct err e;
    int rc = parse("data:image/png;base64,iVBORw0KGgo=", 0, DURL_IMAGE_ONLY, &d, &e);
    TH_EQ_INT(rc, DURL_OK, "a png data url parses");
    TH_EQ_STR(d.mime, "image/png", "media type is returned");
    TH_EQ_INT(d.base64, 1, "base64 flag is set");
    TH_EQ_INT(d.len, 8, "8 bytes decoded");
    TH_CHECK(d.data && memcmp(d.data, "\x89PNG\r\n\x1a\n", 8) == 0, "bytes are the png signature");
    TH_EQ_INT(d.data[d.len], 0, "decoded data is NUL-terminated");
    durl_free(&d);
    TH_CHECK(d.data == NULL && d.len == 0, "durl_free clears the struct");
    durl_free(NULL);

    rc = parse("  DATA:Image/JPEG;BASE64,QUJD\n", 0, DURL_IMAGE_ONLY, &d, &e);
    TH_EQ_INT(rc, DURL_OK,
              "scheme, type and ;base64 are case-insensitive; outer whitespace trimmed");
    TH_EQ_STR(d.mime, "image/jpeg", "media type is lower-cased");
    TH_EQ_STR((char *)d.data, "ABC", "decoded ABC");
    durl_free(&d);

    rc = parse("data:image/png;name=cat.png;charset=x;base64,QUJD", 0, DURL_IMAGE_ONLY, &d, &e);
    TH_EQ_INT(rc, DURL_OK, "parameters before ;base64 are accepted and dropped");
    TH_EQ_STR(d.mime, "image/png", "parameters are not part of the media type");
    durl_free(&d);

    rc = parse("data:;base64,QUJD", 0, DURL_IMAGE_ONLY, &d, &e);
    TH_EQ_INT(rc, DURL_OK, "a missing media type is accepted for images (sniffed later)");
    TH_EQ_STR(d.mime, "", "missing media type is empty");
    durl_free(&d);

    rc = parse("data:application/octet-stream;base64,QUJD", 0, DURL_IMAGE_ONLY, &d, &e);
    TH_EQ_INT(rc, DURL_OK, "application/octet-stream is accepted for images");
    durl_free(&d);

    rc = parse("data:image/png;base64,", 0, DURL_IMAGE_ONLY, &d, &e);
    TH_CHECK(rc == DURL_OK && d.len == 0 && d.data && d.data[0] == 0,
             "an empty payload decodes to 0 bytes (the image decoder refuses it)");
    durl_free(&d);

    rc = parse("data:,hello%20world%2c%41", 0, 0, &d, &e);
    TH_EQ_INT(rc, DURL_OK, "a percent-encoded data url parses");
    TH_EQ_STR((char *)d.data, "hello world,A", "percent escapes are decoded");
    TH_EQ_INT(d.base64, 0, "base64 flag is clear");
    durl_free(&d);
}

static void test_bad_framing(void)
{
    struct durl d;
    struct err e;
    int rc = parse("data:image/png;base64", 0, DURL_IMAGE_ONLY, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_INVALID, "missing comma is refused");
    TH_EQ_STR(e.code, "invalid_data_url", "code invalid_data_url");
    TH_EQ_INT(e.cls, ERR_INVALID, "class invalid");
    TH_CHECK(d.data == NULL, "nothing is allocated on failure");

    rc = parse("http://example.com/cat.png", 0, DURL_IMAGE_ONLY, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_INVALID, "a url that is not data: is refused");
    TH_CHECK(strstr(e.msg, "data:") != NULL, "the message names the expected scheme: %s", e.msg);

    rc = parse("", 0, 0, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_INVALID, "an empty string is refused");

    const char *bad_mimes[] = {
        "data:image/png/x;base64,QUJD", "data:image/;base64,QUJD", "data:/png;base64,QUJD",
        "data:ima ge/png;base64,QUJD",  "data:image;base64,QUJD",  "data:image/p\"ng;base64,QUJD",
    };
    for (size_t i = 0; i < sizeof bad_mimes / sizeof *bad_mimes; i++) {
        rc = parse(bad_mimes[i], 0, DURL_IMAGE_ONLY, &d, &e);
        TH_CHECK(rc == DURL_ERR_INVALID && strcmp(e.code, "invalid_data_url") == 0,
                 "malformed media type refused: %s", bad_mimes[i]);
    }
    char longmime[300] = "data:image/";
    memset(longmime + 11, 'x', 200);
    strcpy(longmime + 211, ";base64,QUJD");
    rc = parse(longmime, 0, DURL_IMAGE_ONLY, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_INVALID, "a media type longer than DURL_MIME_MAX is refused");

    rc = parse("data:text/html;base64,PGI+", 0, DURL_IMAGE_ONLY, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_TYPE, "text/html is refused for images");
    TH_EQ_STR(e.code, "unsupported_image_type", "code unsupported_image_type");
    TH_EQ_INT(e.cls, ERR_UNSUPPORTED, "class unsupported");
    rc = parse("data:text/html;base64,PGI+", 0, 0, &d, &e);
    TH_EQ_INT(rc, DURL_OK, "text/html is fine without DURL_IMAGE_ONLY");
    durl_free(&d);

    rc = parse("data:image/png;na me;base64,QUJD", 0, 0, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_INVALID, "a parameter with a space is refused");
    rc = parse("data:image/png;foo;base64,QUJD", 0, 0, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_INVALID, "a parameter without '=' is refused");
    rc = parse("data:image/png;base64;x=y,QUJD", 0, 0, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_INVALID, ";base64 must be the last parameter");

    rc = parse("data:,abc%2", 0, 0, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_INVALID, "a cut percent escape is refused");
    rc = parse("data:,abc%zz", 0, 0, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_INVALID, "a non-hex percent escape is refused");
}

static void test_base64_rules(void)
{
    struct durl d;
    struct err e;
    struct {
        const char *in;
        int rc;
        const char *out;
        const char *what;
    } cases[] = {
        {"QQ==", DURL_OK, "A", "padded 1 byte"},
        {"QUI=", DURL_OK, "AB", "padded 2 bytes"},
        {"QQ", DURL_OK, "A", "unpadded 1 byte is accepted"},
        {"QUI", DURL_OK, "AB", "unpadded 2 bytes is accepted"},
        {"QQ=", DURL_ERR_BASE64, NULL, "one '=' where two are needed is refused"},
        {"Q===", DURL_ERR_BASE64, NULL, "three '=' are refused"},
        {"QQ==QQ==", DURL_ERR_BASE64, NULL, "padding in the middle is refused"},
        {"QR==", DURL_ERR_BASE64, NULL, "non-zero trailing bits are refused"},
        {"QUJDQ", DURL_ERR_BASE64, NULL, "4k+1 characters are refused"},
        {"QU*D", DURL_ERR_BASE64, NULL, "a character outside the alphabet is refused"},
        {"QU\x80"
         "D",
         DURL_ERR_BASE64, NULL, "a non-ASCII byte is refused"},
        {"Q U\r\nJ\tD", DURL_OK, "ABC", "whitespace anywhere is ignored"},
        {"QUJD\n", DURL_OK, "ABC", "a trailing newline is ignored"},
        {"-_-_", DURL_OK, "\xfb\xff\xbf", "the URL-safe alphabet is detected"},
        {"+/+_", DURL_ERR_BASE64, NULL, "mixed alphabets are refused"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char url[128];
        snprintf(url, sizeof url, "data:image/png;base64,%s", cases[i].in);
        int rc = parse(url, 0, DURL_IMAGE_ONLY, &d, &e);
        if (cases[i].rc == DURL_OK) {
            TH_CHECK(rc == DURL_OK && d.len == strlen(cases[i].out) &&
                         memcmp(d.data, cases[i].out, d.len) == 0,
                     "base64 %s", cases[i].what);
        } else {
            TH_CHECK(rc == cases[i].rc && strcmp(e.code, "invalid_base64") == 0 &&
                         e.cls == ERR_INVALID,
                     "base64 %s (%s)", cases[i].what, e.msg);
        }
        durl_free(&d);
    }
    size_t len;
    TH_CHECK(durl_base64_len("QUJD QQ==", 9, &len, &e) == 0 && len == 4,
             "durl_base64_len predicts 4 bytes");
    TH_CHECK(durl_base64_len("QUJDQ", 5, &len, &e) == DURL_ERR_BASE64,
             "durl_base64_len refuses 4k+1");
}

static void test_plain_and_variants(void)
{
    struct durl d;
    struct err e;
    int rc = parse("QUJD", 0, DURL_IMAGE_ONLY, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_INVALID, "plain base64 is refused without DURL_ALLOW_PLAIN_BASE64");
    rc = parse("QUJD", 0, DURL_IMAGE_ONLY | DURL_ALLOW_PLAIN_BASE64, &d, &e);
    TH_CHECK(rc == DURL_OK && d.len == 3 && memcmp(d.data, "ABC", 3) == 0,
             "plain base64 is accepted with DURL_ALLOW_PLAIN_BASE64");
    TH_EQ_STR(d.mime, "", "plain base64 has no media type");
    durl_free(&d);

    uint8_t *out;
    size_t len;
    err_clear(&e);
    rc = durl_base64_decode("-_-_", 4, DURL_B64_URLSAFE, 0, NULL, &out, &len, &e);
    TH_CHECK(rc == DURL_OK && len == 3 && out[0] == 0xfb, "url-safe alphabet decodes");
    free(out);
    rc = durl_base64_decode("-_-_", 4, DURL_B64_ORIGINAL, 0, NULL, &out, &len, &e);
    TH_CHECK(rc == DURL_ERR_BASE64 && out == NULL,
             "url-safe text is refused by the original alphabet");
    rc = durl_base64_decode("+/+/", 4, DURL_B64_URLSAFE, 0, NULL, &out, &len, &e);
    TH_EQ_INT(rc, DURL_ERR_BASE64, "original text is refused by the url-safe alphabet");
    rc = durl_base64_decode("QUJDRA==", 8, DURL_B64_ORIGINAL, 3, NULL, &out, &len, &e);
    TH_CHECK(rc == DURL_ERR_TOO_LARGE && strcmp(e.code, "data_too_large") == 0 &&
                 e.cls == ERR_TOO_LARGE,
             "plain decode over the limit: data_too_large 413");
}

static void test_limits(void)
{
    struct durl d;
    struct err e;
    struct ar *ar = ar_init(4096);
    /* 12 decoded bytes against a limit of 10 */
    const char *url = "data:image/png;base64,QUJDREVGR0hJSktM";
    err_clear(&e);
    int rc = durl_parse(url, strlen(url), 10, DURL_IMAGE_ONLY, ar, &d, &e);
    TH_EQ_INT(rc, DURL_ERR_TOO_LARGE, "payload over the limit is refused");
    TH_EQ_STR(e.code, "image_too_large", "code image_too_large");
    TH_EQ_INT(e.cls, ERR_TOO_LARGE, "class too large");
    TH_EQ_INT(ar_used_get(ar), 0, "nothing was allocated before the size check");
    rc = durl_parse(url, strlen(url), 12, DURL_IMAGE_ONLY, ar, &d, &e);
    TH_CHECK(rc == DURL_OK && d.len == 12, "payload exactly at the limit is accepted");
    TH_CHECK(ar_used_get(ar) >= 13, "arena holds the decoded bytes");
    TH_CHECK(strncmp((char *)d.data, "ABCDEFGHIJKL", 12) == 0, "arena data is right");

    /* a 4 MB base64 text against a 1 MB limit: refused before allocation */
    size_t big = 4u << 20;
    char *s = malloc(big + 32);
    memcpy(s, "data:image/png;base64,", 22);
    memset(s + 22, 'A', big);
    ar_reset(ar);
    rc = durl_parse(s, 22 + big, 1u << 20, DURL_IMAGE_ONLY, ar, &d, &e);
    TH_CHECK(rc == DURL_ERR_TOO_LARGE && ar_used_get(ar) == 0,
             "3 MB decoded vs 1 MB limit refused with no allocation (%s)", e.msg);
    rc = durl_parse(s, 22 + big, 0, DURL_IMAGE_ONLY, ar, &d, &e);
    TH_CHECK(rc == DURL_OK && d.len == big / 4 * 3, "the same text decodes without a limit");
    free(s);

    /* arena over its own cap: out_of_memory, transient */
    ar_reset(ar);
    ar_limit_set(ar, 8);
    rc = durl_parse(url, strlen(url), 0, DURL_IMAGE_ONLY, ar, &d, &e);
    TH_CHECK(rc == DURL_ERR_OOM && e.transient && strcmp(e.code, "out_of_memory") == 0,
             "an arena that cannot hold the result gives a transient out_of_memory");
    ar_free(ar);
}

static void test_roundtrip(void)
{
    uint8_t buf[256];
    struct err e;
    int ok = 1;
    uint32_t x = 12345;
    for (size_t n = 0; n <= 200 && ok; n++) {
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        char *enc = durl_base64_encode(buf, n, NULL);
        uint8_t *dec = NULL;
        size_t len = 0, want = 0;
        ok =
            enc && durl_base64_len(enc, strlen(enc), &want, &e) == 0 && want == n &&
            durl_base64_decode(enc, strlen(enc), DURL_B64_ORIGINAL, n, NULL, &dec, &len, &e) == 0 &&
            len == n && memcmp(dec, buf, n) == 0;
        if (!ok)
            printf("# round trip failed at %zu bytes\n", n);
        free(enc);
        free(dec);
    }
    TH_CHECK(ok, "encode/decode round trip for 0..200 random bytes, exact limit");
    TH_EQ_STR(durl_status_str(DURL_ERR_BASE64), "invalid base64", "status strings");
}

/* the table decoder (plain base64) against libsodium alone, on encodings
 * of random bytes and on every one-byte change of them */
static void test_fast_matches_ref(void)
{
    static const char subst[] = {'A', '/', '+', '-', '_', '=', ' ', '\n', '\x80', '\0', 'z'};
    uint8_t buf[64];
    char txt[128];
    uint32_t x = 777;
    long cases = 0, ok_cases = 0, bad = 0;
    struct ar *ar = ar_init(1 << 16);
    for (size_t n = 0; n <= 40; n++) {
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        char *enc = durl_base64_encode(buf, n, NULL);
        size_t el = strlen(enc);
        for (int unpad = 0; unpad < 2; unpad++) {
            size_t tl = el;
            while (unpad && tl > 0 && enc[tl - 1] == '=')
                tl--;
            for (size_t pos = 0; pos <= tl; pos++) {
                for (size_t k = 0; k < (pos == tl ? 1 : sizeof subst); k++) {
                    memcpy(txt, enc, tl);
                    if (pos < tl)
                        txt[pos] = subst[k];
                    for (int v = 0; v < 2; v++) {
                        uint8_t *a = NULL, *b = NULL;
                        size_t al = 0, bl = 0;
                        struct err ea, eb;
                        err_clear(&ea);
                        err_clear(&eb);
                        ar_reset(ar);
                        int ra = durl_base64_decode(txt, tl, (enum durl_b64)v, 0, ar, &a, &al, &ea);
                        int rb =
                            durl_base64_decode_ref(txt, tl, (enum durl_b64)v, 0, ar, &b, &bl, &eb);
                        cases++;
                        ok_cases += ra == DURL_OK;
                        if (ra != rb || (ra == DURL_OK && (al != bl || memcmp(a, b, al) != 0)) ||
                            (ra != DURL_OK &&
                             (strcmp(ea.code, eb.code) != 0 || strcmp(ea.msg, eb.msg) != 0))) {
                            if (bad++ < 3)
                                printf("# differs: %zu bytes, pos %zu, subst 0x%02x, variant %d\n",
                                       n, pos, (unsigned char)subst[k], v);
                        }
                    }
                }
            }
        }
        free(enc);
    }
    ar_free(ar);
    TH_CHECK(bad == 0 && ok_cases > 1000 && ok_cases < cases,
             "table decoder == libsodium on %ld texts (%ld decode, %ld differ)", cases, ok_cases,
             bad);
}

int main(void)
{
    test_good();
    test_bad_framing();
    test_base64_rules();
    test_plain_and_variants();
    test_limits();
    test_roundtrip();
    test_fast_matches_ref();
    return th_done();
}
