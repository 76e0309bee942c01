/*
 * api_req.c: turns FastCGI params and a body into a struct api_req.
 *
 * Nothing here calls FCGX: the server hands us the envp array and, after
 * api_req_parse() has vetted CONTENT_LENGTH, the body it read.  That keeps
 * the whole parser reachable from tests/fuzz/fuzz_request.c.  Every size
 * that comes from the request is checked against struct api_limits before
 * anything is allocated for it; every string lands in the request arena.
 * See fcgi/README.md.
 */
#include "fcgi/api.h"

#include "common/ar.h"

#include <sodium.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *p = envp; p != NULL && *p != NULL; p++)
        if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
            return *p + n + 1;
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

char *api_pct_decode(struct ar *ar, const char *s, size_t n, int plus)
{
    char *out = ar_alloc(ar, n + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return NULL;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return NULL;
            c = (char)(h * 16 + l);
            if (c == '\0')
                return NULL;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        } else if (c == '\0') {
            return NULL;
        }
        out[j++] = c;
    }
    out[j] = '\0';
    return out;
}

/* parses a non-negative decimal; -1 on anything else (sign, junk, overflow) */
static long long parse_len(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (LLONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static const char *trim_dup(struct ar *ar, const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return ar_strndup(ar, s, n);
}

size_t api_utf8_seq(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (n <= 1)
        return c == 0 ? 0 : n;
    unsigned cp = n == 2 ? c & 0x1fu : n == 3 ? c & 0x0fu : c & 0x07u;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* 1 when s (NUL-terminated) is well-formed UTF-8 without a NUL inside */
static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = api_utf8_seq(p);
        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}

static void req_id_set(struct api_req *r, struct ar *ar, char *const *envp)
{
    const char *v;
    /* the request id is nginx's $request_id (fastcgi_params REQUEST_ID:
     * 128 random bits as hex), so nginx's own error pages and vkv-api name a
     * request alike; without nginx, 128 bits from libsodium's randombytes.
     * Never the client's X-Request-Id (ids must be unique), never pid +
     * counter (96,770 requests carried 6,871 distinct ids) */
    v = env_get(envp, "REQUEST_ID");
    int rid_ok = v != NULL && strlen(v) >= 16 && strlen(v) <= 64;
    for (const char *p = v; rid_ok && *p; p++)
        if (!isxdigit((unsigned char)*p))
            rid_ok = 0;
    if (rid_ok) {
        r->request_id = ar_strdup(ar, v);
    } else {
        unsigned char rnd[16];
        char hex[2 * sizeof rnd + 1];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
        r->request_id = ar_strdup(ar, hex);
    }
}

int api_req_parse(struct api_req *r, struct ar *ar, char *const *envp, const struct api_limits *lim,
                  struct err *e)
{
    const char *v;
    /* first: every answer, including a parse error's, names the request */
    req_id_set(r, ar, envp);
    r->method = env_get(envp, "REQUEST_METHOD");
    if (r->method == NULL || *r->method == '\0')
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_request",
                       "missing request method");
    if (strlen(r->method) > 16)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_request",
                       "invalid request method");
    r->method = ar_strdup(ar, r->method);

    /* path: DOCUMENT_URI is already decoded by nginx, but REQUEST_URI is
     * what the client sent; we decode it ourselves so both are the same
     * whatever fastcgi_params says */
    const char *uri = env_get(envp, "REQUEST_URI");
    if (uri == NULL)
        uri = env_get(envp, "SCRIPT_NAME");
    if (uri == NULL || uri[0] != '/')
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_request",
                       "missing or invalid request uri");
    if (strlen(uri) > 8192)
        return err_set(e, API_ERR_TOO_LARGE, ERR_TOO_LONG, "uri_too_long",
                       "request uri longer than 8192 bytes");
    r->uri = ar_strdup(ar, uri);
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    r->path = api_pct_decode(ar, uri, plen, 0);
    if (r->path == NULL)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_request",
                       "invalid percent escape in path");
    r->query = ar_strdup(ar, q ? q + 1 : "");
    if (r->uri == NULL || r->query == NULL)
        return err_set(e, API_ERR, ERR_INTERNAL, "internal", "out of request memory");
    /* invalid UTF-8 (or an escaped NUL: the decoder stops there) is refused
     * here, before it reaches a message, a JSON answer or PostgreSQL */
    if (!utf8_valid(r->path))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_path",
                       "the decoded path is not valid UTF-8 text");
    const char *dq = api_pct_decode(ar, r->query, strlen(r->query), 1);
    if (dq == NULL || !utf8_valid(dq))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_query",
                       "a query parameter is not valid UTF-8 text or has a bad percent escape");

    v = env_get(envp, "CONTENT_TYPE");
    r->content_type = ar_strdup(ar, v ? v : "");

    r->max_json_values = lim->max_json_values;
    v = env_get(envp, "REMOTE_ADDR");
    r->remote_addr = v && *v && strlen(v) < 64 ? ar_strdup(ar, v) : NULL;
    v = env_get(envp, "CONTENT_LENGTH");
    if (v == NULL || *v == '\0') {
        r->content_length = 0;
    } else {
        long long n = parse_len(v);
        if (n < 0)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_content_length",
                           "invalid content length: \"%.32s\"", v);
        if ((unsigned long long)n > (unsigned long long)lim->max_body)
            return err_set(e, API_ERR_TOO_LARGE, ERR_TOO_LARGE, "body_too_large",
                           "request body of %lld bytes exceeds the limit of %zu bytes", n,
                           lim->max_body);
        r->content_length = n;
    }

    /* auth: Authorization: Bearer KEY wins over X-Moondream-Auth */
    r->auth_key = NULL;
    r->auth_header_bad = 0;
    v = env_get(envp, "HTTP_AUTHORIZATION");
    if (v != NULL) {
        while (*v == ' ')
            v++;
        if (strncasecmp(v, "Bearer ", 7) == 0) {
            r->auth_key = trim_dup(ar, v + 7);
        } else if (*v != '\0') {
            r->auth_header_bad = 1;
        } else {
            r->auth_key = ar_strdup(ar, "");
        }
    }
    if (r->auth_key == NULL && !r->auth_header_bad) {
        v = env_get(envp, "HTTP_X_MOONDREAM_AUTH");
        if (v != NULL)
            r->auth_key = trim_dup(ar, v);
    }
    if (r->auth_key != NULL && strlen(r->auth_key) > 256)
        r->auth_header_bad = 1;

    v = env_get(envp, "HTTP_IDEMPOTENCY_KEY");
    r->idem_key = v && *v ? ar_strdup(ar, v) : NULL;
    if (r->idem_key && strlen(r->idem_key) > 200)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_idempotency_key",
                       "idempotency key longer than 200 bytes");
    v = env_get(envp, "HTTP_X_PRIORITY");
    r->priority = v && *v ? ar_strdup(ar, v) : NULL;
    v = env_get(envp, "HTTP_ACCEPT");
    r->accept = ar_strdup(ar, v ? v : "");

    if (r->content_type == NULL || r->accept == NULL || r->request_id == NULL)
        return err_set(e, API_ERR, ERR_INTERNAL, "internal", "out of request memory");
    return API_OK;
}

int api_req_ctype_is(const struct api_req *r, const char *type)
{
    size_t n = strlen(type);
    const char *c = r->content_type;
    while (*c == ' ')
        c++;
    return strncasecmp(c, type, n) == 0 && (c[n] == '\0' || c[n] == ';' || c[n] == ' ');
}

static void json_decref_cb(void *p)
{
    json_decref((json_t *)p);
}

json_t *api_json_own(struct ar *ar, json_t *j)
{
    if (j == NULL)
        return NULL;
    if (ar_on_reset(ar, json_decref_cb, j) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/*
 * Counts the values in a JSON text without building them (commas, colons
 * and openings outside strings; a valid text has about that many values):
 * jansson allocates a node per value, so a 19 MB array of small numbers
 * took 4.6 s and ~1 GB before any field was looked at.  Stops counting at
 * max + 1 (max 0: counts everything).
 *
 * The same pass finds the long plain string values for api_json_parse:
 * a string token of at least min_len bytes, each of them printable ASCII
 * other than '"' and '\\' (no escape, nothing jansson would transform or
 * refuse), not followed by ':' (a value, not a key).  Up to API_JSON_SPANS
 * of them go to spans[] (start and length of the text between the quotes)
 * when spans is not NULL.
 */
#define API_JSON_SPANS 16

struct api_json_span {
    size_t at, len;
};

/* a byte jansson takes as is inside a string: printable ASCII other than
 * '"' and '\\' (control, DEL and non-ASCII bytes are jansson's to check).
 * A compare chain, not a table filled on first use: vkv-api's threads
 * would race on such a table. */
static int json_plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static long long json_scan(const char *p, size_t n, long long max, size_t min_len,
                           struct api_json_span *spans, int *nspans)
{
    const unsigned char *u = (const unsigned char *)p;
    long long v = 1;
    int ns = 0;
    for (size_t i = 0; i < n && (max == 0 || v <= max); i++) {
        unsigned char c = u[i];
        if (c == ',' || c == '[' || c == '{') {
            v++;
            continue;
        }
        if (c != '"')
            continue;
        /* a string: its plain run first, then the rest with escapes */
        size_t at = i + 1, k = at;
        while (k < n && json_plain_byte(u[k]))
            k++;
        int plain = k < n && u[k] == '"';
        while (k < n && u[k] != '"')
            k += u[k] == '\\' ? 2 : 1;
        /* k: the closing quote, or past the end (an unterminated string) */
        if (plain && spans != NULL && ns < API_JSON_SPANS && k - at >= min_len) {
            size_t m = k + 1;
            while (m < n && (u[m] == ' ' || u[m] == '\t' || u[m] == '\n' || u[m] == '\r'))
                m++;
            if (m >= n || u[m] != ':') {
                spans[ns].at = at;
                spans[ns].len = k - at;
                ns++;
            }
        }
        i = k;
    }
    if (nspans != NULL)
        *nspans = ns;
    return v;
}

/* placeholder of span k: "\u0001" then k in decimal (its text, quotes
 * excluded, is at most 8 bytes; the decoded value 2-3 bytes) */
static int json_ph_text(char *buf, int k)
{
    return snprintf(buf, 16, "\\u0001%d", k);
}

/* puts the spans' text back in place of their placeholders under j;
 * hits[k] counts the values that were placeholder k */
static int json_unsplice(json_t *j, const char *p, const struct api_json_span *sp, int ns,
                         int *hits)
{
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *v = json_array_get(j, i), *nv = NULL;
            int rc = json_unsplice(v, p, sp, ns, hits);
            if (rc < 0)
                return rc;
            if (rc > 0 && ((nv = json_stringn_nocheck(p + sp[rc - 1].at, sp[rc - 1].len)) == NULL ||
                           json_array_set_new(j, i, nv) != 0))
                return -1;
        }
        return 0;
    }
    if (json_is_object(j)) {
        for (void *it = json_object_iter(j); it != NULL; it = json_object_iter_next(j, it)) {
            json_t *nv = NULL;
            int rc = json_unsplice(json_object_iter_value(it), p, sp, ns, hits);
            if (rc < 0)
                return rc;
            if (rc > 0 && ((nv = json_stringn_nocheck(p + sp[rc - 1].at, sp[rc - 1].len)) == NULL ||
                           json_object_iter_set_new(j, it, nv) != 0))
                return -1;
        }
        return 0;
    }
    /* a string: 1 + k when it is placeholder k */
    size_t len = json_string_length(j);
    const char *s = json_string_value(j);
    if (s == NULL || len < 2 || len > 3 || s[0] != '\x01')
        return 0;
    for (int k = 0; k < ns; k++) {
        char want[16];
        snprintf(want, sizeof want, "\x01%d", k);
        if (strlen(want) == len && memcmp(want, s, len) == 0) {
            hits[k]++;
            return 1 + k;
        }
    }
    return 0;
}

/*
 * jansson lexes a string a byte at a time through its UTF-8 reader and
 * copies it twice: 0.64 ms for a synchronous call's 82 KB data URL, a
 * quarter of vkv-api's own time on that call.  So the long plain strings
 * json_scan found are cut out of a copy of the text and replaced by short
 * placeholders ("\u0001" + index), jansson parses the rest, and the
 * strings are put back as values.
 *
 * Why the result is exactly json_loadb's on the original text: a cut
 * string holds only printable ASCII other than '"' and '\\', so in the
 * original it is one valid string token whatever surrounds it, whose value
 * is its bytes; the placeholder is one valid string token too.  The two
 * texts differ only inside those tokens, so jansson accepts one iff it
 * accepts the other, and the trees differ only in those values.  Each
 * placeholder must then be found exactly once among the values (a key is
 * never cut: json_scan skips strings followed by ':'); a client's own
 * string equal to a placeholder makes a count 2, and anything unexpected
 * (a parse error included, so its message and position are the original
 * text's) parses the original text with plain jansson.  tests/fuzz/
 * fuzz_json.c holds both paths equal on every input.
 */
json_t *api_json_parse(const char *p, size_t n, size_t min_len, size_t flags, json_error_t *je)
{
    struct api_json_span sp[API_JSON_SPANS];
    int ns = 0;
    size_t cut = 0;
    if (min_len > 0) {
        json_scan(p, n, 0, min_len, sp, &ns);
        for (int k = 0; k < ns; k++)
            cut += sp[k].len;
    }
    if (ns == 0 || cut < 16 * (size_t)ns)
        return json_loadb(p, n, flags, je);
    size_t qn = n - cut + 16 * (size_t)ns;
    char *q = malloc(qn);
    if (q == NULL)
        return json_loadb(p, n, flags, je);
    size_t o = 0, from = 0;
    for (int k = 0; k < ns; k++) {
        memcpy(q + o, p + from, sp[k].at - from);
        o += sp[k].at - from;
        o += (size_t)json_ph_text(q + o, k);
        from = sp[k].at + sp[k].len;
    }
    memcpy(q + o, p + from, n - from);
    o += n - from;
    json_t *j = json_loadb(q, o, flags, je);
    free(q);
    int hits[API_JSON_SPANS] = {0};
    int ok = j != NULL && json_unsplice(j, p, sp, ns, hits) == 0;
    for (int k = 0; ok && k < ns; k++)
        ok = hits[k] == 1;
    if (ok)
        return j;
    json_decref(j);
    return json_loadb(p, n, flags, je);
}

json_t *api_req_json(struct api_req *r, struct ar *ar, struct err *e)
{
    if (!api_req_ctype_is(r, "application/json"))
        return err_set(e, API_ERR_INVALID, ERR_UNSUPPORTED, "unsupported_media_type",
                       "expected content type application/json, got \"%.64s\"",
                       r->content_type[0] ? r->content_type : "(none)"),
               NULL;
    if (r->body_len == 0)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_json", "empty request body"), NULL;
    if (r->max_json_values > 0 &&
        json_scan(r->body, r->body_len, r->max_json_values, 0, NULL, NULL) > r->max_json_values)
        return err_set(e, API_ERR_INVALID, ERR_TOO_LARGE, "json_too_large",
                       "the json body holds more than %lld values", r->max_json_values),
               NULL;
    json_error_t je;
    json_t *j =
        api_json_parse(r->body, r->body_len, API_JSON_SPLICE_MIN, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_json",
                       "invalid json at line %d column %d: %s", je.line, je.column, je.text),
               NULL;
    j = api_json_own(ar, j);
    if (j == NULL)
        return err_set(e, API_ERR, ERR_INTERNAL, "internal", "out of request memory"), NULL;
    if (!json_is_object(j))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "body_not_object",
                       "request body must be a json object"),
               NULL;
    return j;
}

const char *api_query_get(const struct api_req *r, struct ar *ar, const char *name)
{
    size_t nl = strlen(name);
    const char *p = r->query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', seg);
        size_t kl = eq ? (size_t)(eq - p) : seg;
        if (kl == nl && memcmp(p, name, nl) == 0) {
            if (eq == NULL)
                return ar_strdup(ar, "");
            return api_pct_decode(ar, eq + 1, seg - kl - 1, 1);
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* ------------------------------------------------------------ multipart */

/* finds needle in hay[0..n), like memmem */
static const char *find_mem(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || n < m)
        return NULL;
    const char *end = hay + n - m;
    for (const char *p = hay; p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (p == NULL)
            return NULL;
        if (memcmp(p, needle, m) == 0)
            return p;
    }
    return NULL;
}

/* value of param `key` in a header value like `form-data; name="x"; filename="y"` */
static const char *hdr_param(struct ar *ar, const char *v, size_t n, const char *key)
{
    size_t kl = strlen(key);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ';' || v[i] == ' ' || v[i] == '\t'))
            i++;
        size_t start = i;
        while (i < n && v[i] != '=' && v[i] != ';')
            i++;
        size_t klen = i - start;
        if (i >= n || v[i] != '=') {
            continue;
        }
        i++; /* '=' */
        const char *val;
        size_t vl;
        if (i < n && v[i] == '"') {
            i++;
            size_t vs = i;
            while (i < n && v[i] != '"')
                i++;
            if (i >= n)
                return NULL;
            val = v + vs;
            vl = i - vs;
            i++;
        } else {
            size_t vs = i;
            while (i < n && v[i] != ';' && v[i] != ' ')
                i++;
            val = v + vs;
            vl = i - vs;
        }
        if (klen == kl && strncasecmp(v + start, key, kl) == 0) {
            if (memchr(val, '\0', vl) != NULL)
                return NULL;
            return ar_strndup(ar, val, vl);
        }
    }
    return NULL;
}

int api_multipart_parse(const char *ctype, const char *body, size_t len, struct ar *ar,
                        int max_parts, struct api_part **parts, int *nparts, struct err *e)
{
    *parts = NULL;
    *nparts = 0;
    const char *semi = strchr(ctype, ';');
    const char *b = semi ? hdr_param(ar, semi + 1, strlen(semi + 1), "boundary") : NULL;
    if (b == NULL || *b == '\0' || strlen(b) > 70)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_multipart",
                       "multipart content type without a valid boundary");
    size_t bl = strlen(b);
    char *delim = ar_printf(ar, "--%s", b); /* first delimiter */
    char *ndelim = ar_printf(ar, "\r\n--%s", b);
    struct api_part *arr = ar_calloc(ar, (size_t)max_parts, sizeof(*arr));
    if (delim == NULL || ndelim == NULL || arr == NULL)
        return err_set(e, API_ERR, ERR_INTERNAL, "internal", "out of request memory");

    /* the body starts with the delimiter (preamble is allowed but rare) */
    const char *p = find_mem(body, len, delim, bl + 2);
    if (p == NULL)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_multipart",
                       "multipart body without boundary");
    const char *end = body + len;
    p += bl + 2;
    int n = 0;
    for (;;) {
        /* after a delimiter: "--" closes, "\r\n" opens a part */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            break;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_multipart",
                           "malformed multipart delimiter");
        p += 2;
        const char *hend = find_mem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (hend == NULL)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_multipart",
                           "multipart part without headers end");
        if (n >= max_parts)
            return err_set(e, API_ERR_TOO_LARGE, ERR_TOO_LARGE, "too_many_parts",
                           "more than %d multipart parts", max_parts);
        struct api_part *pt = &arr[n];
        /* headers */
        const char *h = p;
        while (h < hend) {
            const char *eol = find_mem(h, (size_t)(hend + 2 - h), "\r\n", 2);
            if (eol == NULL)
                eol = hend;
            const char *colon = memchr(h, ':', (size_t)(eol - h));
            if (colon != NULL) {
                size_t kl = (size_t)(colon - h);
                const char *val = colon + 1;
                while (val < eol && (*val == ' ' || *val == '\t'))
                    val++;
                size_t vl = (size_t)(eol - val);
                if (kl == 19 && strncasecmp(h, "content-disposition", 19) == 0) {
                    pt->name = hdr_param(ar, val, vl, "name");
                    pt->filename = hdr_param(ar, val, vl, "filename");
                } else if (kl == 12 && strncasecmp(h, "content-type", 12) == 0) {
                    pt->content_type = ar_strndup(ar, val, vl);
                }
            }
            h = eol + 2;
        }
        if (pt->name == NULL)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_multipart",
                           "multipart part %d without a name", n + 1);
        const char *data = hend + 4;
        const char *next = find_mem(data, (size_t)(end - data), ndelim, bl + 4);
        if (next == NULL)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_multipart",
                           "multipart part \"%.64s\" is not terminated", pt->name);
        pt->data = data;
        pt->len = (size_t)(next - data);
        n++;
        p = next + bl + 4;
    }
    *parts = arr;
    *nparts = n;
    return API_OK;
}
