/*
 * durl.c: data URLs and base64 with libsodium.
 *
 * Every decoder here works in two passes: a scan that validates the
 * framing and computes the exact decoded size (no allocation), the limit
 * check, one allocation of exactly that size, then the decode proper
 * (a table decoder for plain base64, else sodium_base642bin; or the percent
 * decoder).  The rules are in durl.h;
 * see common/README.md.
 */
#include "common/durl.h"

#include <sodium.h>

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t durl_sodium_once = PTHREAD_ONCE_INIT;

static void durl_sodium_init(void)
{
    /* sodium_init only fails when it cannot open the random source, which
     * the base64 codec never uses; its result does not matter here */
    if (sodium_init() < 0)
        return;
}

/* 6-bit value of each byte per alphabet; 0x80 for every other byte
 * ('=', whitespace included: those inputs go to libsodium) */
static uint8_t durl_b64_tab[2][256];
static pthread_once_t durl_tab_once = PTHREAD_ONCE_INIT;

static void durl_tab_init(void)
{
    static const char orig[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    memset(durl_b64_tab, 0x80, sizeof durl_b64_tab);
    for (int i = 0; i < 64; i++) {
        durl_b64_tab[DURL_B64_ORIGINAL][(unsigned char)orig[i]] = (uint8_t)i;
        durl_b64_tab[DURL_B64_URLSAFE][(unsigned char)url[i]] = (uint8_t)i;
    }
}

const char *durl_status_str(int status)
{
    switch (status) {
    case DURL_OK:
        return "ok";
    case DURL_ERR_INVALID:
        return "invalid data url";
    case DURL_ERR_BASE64:
        return "invalid base64";
    case DURL_ERR_TOO_LARGE:
        return "too large";
    case DURL_ERR_TYPE:
        return "unsupported media type";
    case DURL_ERR_OOM:
        return "out of memory";
    }
    return "unknown durl status";
}

static int durl_is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

/* n + 1 bytes from ar, or malloc when ar is NULL; NULL when out of memory */
static uint8_t *durl_alloc(struct ar *ar, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    return ar ? ar_alloc(ar, n + 1) : malloc(n + 1);
}

/*
 * Computes the decoded size of base64 text under the rules of durl.h.
 * Returns 0 and sets *len, or DURL_ERR_BASE64 with e.  Refuses bytes
 * outside printable ASCII; the alphabet proper is checked by the decoder.
 */
int durl_base64_len(const char *s, size_t n, size_t *len, struct err *e)
{
    size_t chars = 0, pad = 0, pad_seen = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (durl_is_ws(c))
            continue;
        /* libsodium 1.0.18 (Debian 12) accepts every byte >= 0x80 as a
         * base64 digit (signed char in its constant-time lookup): refuse
         * them, and control characters, here */
        if (c >= 0x80 || c < 0x20)
            return err_set(e, DURL_ERR_BASE64, ERR_INVALID, "invalid_base64",
                           "invalid base64: byte 0x%02x at offset %zu", c, i);
        chars++;
        if (c == '=') {
            pad++;
            pad_seen = 1;
        } else if (pad_seen) {
            return err_set(e, DURL_ERR_BASE64, ERR_INVALID, "invalid_base64",
                           "invalid base64: data after padding at offset %zu", i);
        }
    }
    if (chars % 4 == 0) {
        if (pad > 2)
            return err_set(e, DURL_ERR_BASE64, ERR_INVALID, "invalid_base64",
                           "invalid base64: %zu padding characters", pad);
        *len = chars / 4 * 3 - pad;
        return DURL_OK;
    }
    if (pad > 0)
        return err_set(e, DURL_ERR_BASE64, ERR_INVALID, "invalid_base64",
                       "invalid base64: wrong padding for %zu characters", chars);
    if (chars % 4 == 1)
        return err_set(e, DURL_ERR_BASE64, ERR_INVALID, "invalid_base64",
                       "invalid base64: truncated, %zu characters", chars);
    *len = chars / 4 * 3 + (chars % 4 - 1);
    return DURL_OK;
}

/*
 * The common case without libsodium, whose constant-time decoder costs
 * about 4.5 ns a byte (0.37 ms of a synchronous call's 82 KB data URL):
 * s[0..n) with no whitespace, every character in the alphabet, '='
 * only as the final padding of a multiple of 4, zero trailing bits.
 * Such a text has exactly one decoding, so the bytes are libsodium's.
 * Returns 1 with buf[0..want) written, or 0 (nothing promised about buf)
 * for any other text: the caller then lets libsodium decide, so
 * verdicts and messages stay its own.  fuzz_durl compares both on every
 * input (durl_base64_decode_ref).
 */
static int durl_b64_fast(const char *s, size_t n, enum durl_b64 variant, uint8_t *buf, size_t want)
{
    pthread_once(&durl_tab_once, durl_tab_init);
    const uint8_t *t = durl_b64_tab[variant == DURL_B64_URLSAFE];
    const unsigned char *u = (const unsigned char *)s;
    size_t m = n;
    while (m > 0 && m + 2 > n && u[m - 1] == '=')
        m--;
    if ((m != n && n % 4 != 0) || m % 4 == 1 || m / 4 * 3 + (m % 4 ? m % 4 - 1 : 0) != want)
        return 0;
    unsigned bad = 0;
    size_t full = m / 4;
    uint8_t *o = buf;
    for (size_t i = 0; i < full; i++, u += 4, o += 3) {
        unsigned a = t[u[0]], b = t[u[1]], c = t[u[2]], d = t[u[3]];
        bad |= a | b | c | d;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
        o[0] = (uint8_t)(v >> 16);
        o[1] = (uint8_t)(v >> 8);
        o[2] = (uint8_t)v;
    }
    if (m % 4 >= 2) {
        unsigned a = t[u[0]], b = t[u[1]], c = m % 4 == 3 ? t[u[2]] : 0;
        bad |= a | b | c;
        /* the bits past the last byte must be zero (libsodium refuses others) */
        if ((m % 4 == 2 ? (b & 0x0f) : (c & 0x03)) != 0)
            return 0;
        o[0] = (uint8_t)(a << 2 | b >> 4);
        if (m % 4 == 3)
            o[1] = (uint8_t)(b << 4 | c >> 2);
    }
    return (bad & 0x80) == 0; /* each value is 0..63 or 0x80 */
}

/* as durl_base64_decode with the too-large code chosen by the caller;
 * fast 0 skips durl_b64_fast (the reference for tests) */
static int durl_b64_decode(const char *s, size_t n, enum durl_b64 variant, size_t max_bytes,
                           const char *too_large_code, int fast, struct ar *ar, uint8_t **data,
                           size_t *len, struct err *e)
{
    size_t want, got = 0, chars = 0;
    int rc;

    *data = NULL;
    *len = 0;
    if ((rc = durl_base64_len(s, n, &want, e)) != DURL_OK)
        return rc;
    if (max_bytes && want > max_bytes)
        return err_set(e, DURL_ERR_TOO_LARGE, ERR_TOO_LARGE, too_large_code,
                       "decoded data is %zu bytes, more than the limit of %zu", want, max_bytes);
    uint8_t *buf = durl_alloc(ar, want);
    if (buf == NULL)
        return err_set_transient(e, DURL_ERR_OOM, "out_of_memory",
                                 "could not allocate %zu bytes for decoded data", want);
    if (fast && durl_b64_fast(s, n, variant, buf, want)) {
        buf[want] = 0;
        *data = buf;
        *len = want;
        return DURL_OK;
    }
    for (size_t i = 0; i < n; i++)
        chars += !durl_is_ws((unsigned char)s[i]);

    int sv;
    if (chars % 4 == 0)
        sv = variant == DURL_B64_URLSAFE ? sodium_base64_VARIANT_URLSAFE
                                         : sodium_base64_VARIANT_ORIGINAL;
    else
        sv = variant == DURL_B64_URLSAFE ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
                                         : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;

    pthread_once(&durl_sodium_once, durl_sodium_init);
    const char *end = NULL;
    /* sodium_base642bin with an empty input returns 0 without writing */
    if (chars > 0 && sodium_base642bin(buf, want, s, n, " \t\r\n\f", &got, &end, sv) != 0) {
        if (!ar)
            free(buf);
        return err_set(e, DURL_ERR_BASE64, ERR_INVALID, "invalid_base64",
                       "invalid base64 character or trailing bits");
    }
    if (chars > 0 && (end != s + n || got != want)) {
        size_t off = end ? (size_t)(end - s) : 0;
        if (!ar)
            free(buf);
        return err_set(e, DURL_ERR_BASE64, ERR_INVALID, "invalid_base64",
                       "invalid base64 character at offset %zu", off);
    }
    buf[want] = 0;
    *data = buf;
    *len = want;
    return DURL_OK;
}

/*
 * Decodes base64 (see durl.h for the rules).  Sizes are checked before
 * allocating; on failure *data is NULL and nothing is held.
 */
int durl_base64_decode(const char *s, size_t n, enum durl_b64 variant, size_t max_bytes,
                       struct ar *ar, uint8_t **data, size_t *len, struct err *e)
{
    return durl_b64_decode(s, n, variant, max_bytes, "data_too_large", 1, ar, data, len, e);
}

int durl_base64_decode_ref(const char *s, size_t n, enum durl_b64 variant, size_t max_bytes,
                           struct ar *ar, uint8_t **data, size_t *len, struct err *e)
{
    return durl_b64_decode(s, n, variant, max_bytes, "data_too_large", 0, ar, data, len, e);
}

/* returns a new base64 string (ar or malloc); NULL when out of memory */
char *durl_base64_encode(const void *p, size_t n, struct ar *ar)
{
    if (n > (SIZE_MAX - 8) / 4 * 3)
        return NULL;
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *out = ar ? ar_alloc(ar, cap) : malloc(cap);
    if (out == NULL)
        return NULL;
    pthread_once(&durl_sodium_once, durl_sodium_init);
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

static int durl_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* percent-decodes s[0..n) (size checked first); see durl_parse */
static int durl_pct_decode(const char *s, size_t n, size_t max_bytes, struct ar *ar,
                           struct durl *out, struct err *e)
{
    size_t want = 0;
    for (size_t i = 0; i < n; i++, want++) {
        if (s[i] != '%')
            continue;
        if (n - i < 3 || durl_hex((unsigned char)s[i + 1]) < 0 ||
            durl_hex((unsigned char)s[i + 2]) < 0)
            return err_set(e, DURL_ERR_INVALID, ERR_INVALID, "invalid_data_url",
                           "invalid data url: bad percent escape at offset %zu", i);
        i += 2;
    }
    if (max_bytes && want > max_bytes)
        return err_set(e, DURL_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                       "decoded data is %zu bytes, more than the limit of %zu", want, max_bytes);
    uint8_t *buf = durl_alloc(ar, want);
    if (buf == NULL)
        return err_set_transient(e, DURL_ERR_OOM, "out_of_memory",
                                 "could not allocate %zu bytes for decoded data", want);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            buf[o++] = (uint8_t)(durl_hex((unsigned char)s[i + 1]) * 16 +
                                 durl_hex((unsigned char)s[i + 2]));
            i += 2;
        } else {
            buf[o++] = (uint8_t)s[i];
        }
    }
    buf[o] = 0;
    out->data = buf;
    out->len = o;
    return DURL_OK;
}

/* RFC 7230 tchar */
static int durl_is_token(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * Validates and stores the media type h[0..n) ("type/subtype", spaces
 * around it allowed) lower-cased in out->mime.
 */
static int durl_mime_parse(const char *h, size_t n, struct durl *out, struct err *e)
{
    while (n > 0 && (h[0] == ' ' || h[0] == '\t'))
        h++, n--;
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    out->mime[0] = 0;
    if (n == 0)
        return DURL_OK;
    if (n >= DURL_MIME_MAX)
        return err_set(e, DURL_ERR_INVALID, ERR_INVALID, "invalid_data_url",
                       "invalid data url: media type longer than %d bytes", DURL_MIME_MAX - 1);
    size_t slash = 0, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '/' && slash == 0 && i > 0)
            slash = i;
        else if (!durl_is_token(c))
            break;
    }
    if (i != n || slash == 0 || slash == n - 1)
        return err_set(e, DURL_ERR_INVALID, ERR_INVALID, "invalid_data_url",
                       "invalid data url: bad media type \"%.*s\"", (int)n, h);
    for (i = 0; i < n; i++)
        out->mime[i] = (char)tolower((unsigned char)h[i]);
    out->mime[n] = 0;
    return DURL_OK;
}

/* parameters between ';' must be printable ASCII without spaces or quotes
 * (we never use them; this only refuses garbage) */
static int durl_param_ok(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

static int durl_mime_allowed(const char *mime)
{
    return mime[0] == 0 || strncmp(mime, "image/", 6) == 0 ||
           strcmp(mime, "application/octet-stream") == 0;
}

/*
 * Parses and decodes a data URL; the rules, memory ownership and error
 * codes are in durl.h.  Never reads past s + n.  Thread-safe.
 */
int durl_parse(const char *s, size_t n, size_t max_bytes, unsigned flags, struct ar *ar,
               struct durl *out, struct err *e)
{
    int rc;

    memset(out, 0, sizeof *out);
    while (n > 0 && durl_is_ws((unsigned char)s[0]))
        s++, n--;
    while (n > 0 && durl_is_ws((unsigned char)s[n - 1]))
        n--;

    if (n < 5 || strncasecmp(s, "data:", 5) != 0) {
        if (!(flags & DURL_ALLOW_PLAIN_BASE64))
            return err_set(e, DURL_ERR_INVALID, ERR_INVALID, "invalid_data_url",
                           "invalid data url: does not start with \"data:\"");
        enum durl_b64 v = DURL_B64_ORIGINAL;
        if (memchr(s, '-', n) || memchr(s, '_', n))
            v = DURL_B64_URLSAFE;
        out->base64 = 1;
        return durl_b64_decode(s, n, v, max_bytes, "image_too_large", 1, ar, &out->data, &out->len,
                               e);
    }
    s += 5;
    n -= 5;
    const char *comma = memchr(s, ',', n);
    if (comma == NULL)
        return err_set(e, DURL_ERR_INVALID, ERR_INVALID, "invalid_data_url",
                       "invalid data url: no ',' after the header");
    size_t hn = (size_t)(comma - s);
    const char *semi = memchr(s, ';', hn);
    size_t mn = semi ? (size_t)(semi - s) : hn;
    if ((rc = durl_mime_parse(s, mn, out, e)) != DURL_OK)
        return rc;

    /* parameters; ";base64" must be the last one */
    const char *p = semi;
    while (p != NULL) {
        p++;
        const char *next = memchr(p, ';', (size_t)(comma - p));
        size_t pn = next ? (size_t)(next - p) : (size_t)(comma - p);
        if (next == NULL && pn == 6 && strncasecmp(p, "base64", 6) == 0) {
            out->base64 = 1;
        } else if (!durl_param_ok(p, pn) || memchr(p, '=', pn) == NULL) {
            return err_set(e, DURL_ERR_INVALID, ERR_INVALID, "invalid_data_url",
                           "invalid data url: bad parameter \"%.*s\"", (int)(pn > 40 ? 40 : pn), p);
        }
        p = next;
    }
    if ((flags & DURL_IMAGE_ONLY) && !durl_mime_allowed(out->mime))
        return err_set(e, DURL_ERR_TYPE, ERR_UNSUPPORTED, "unsupported_image_type",
                       "unsupported media type \"%s\": expected image/*", out->mime);

    const char *d = comma + 1;
    size_t dn = n - hn - 1;
    if (out->base64) {
        enum durl_b64 v = DURL_B64_ORIGINAL;
        if (memchr(d, '-', dn) || memchr(d, '_', dn))
            v = DURL_B64_URLSAFE;
        return durl_b64_decode(d, dn, v, max_bytes, "image_too_large", 1, ar, &out->data, &out->len,
                               e);
    }
    return durl_pct_decode(d, dn, max_bytes, ar, out, e);
}

/* frees what durl_parse malloc'ed (ar == NULL); d may be NULL */
void durl_free(struct durl *d)
{
    if (d == NULL)
        return;
    free(d->data);
    d->data = NULL;
    d->len = 0;
}
