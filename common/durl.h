/*
 * durl.h: data URLs (RFC 2397, "data:[<mime>][;param=v]*[;base64],<data>")
 * and plain base64, decoded by a table for plain text (no whitespace, the
 * alphabet, final padding, zero trailing bits) and otherwise by libsodium's
 * sodium_base642bin, which then decides verdict and message.
 *
 * The decoded size is computed from the encoded text and checked against
 * the caller's limit BEFORE anything is allocated, so a 1 GB base64 string
 * is refused with "image_too_large" (ERR_TOO_LARGE) without touching memory.
 *
 * Base64 rules (one place, so the API and the CLI agree):
 * - alphabet: original (+/) or URL-safe (-_), per call;
 * - ASCII whitespace (space, \t, \r, \n) anywhere is ignored (MIME line
 *   wrapping, JSON pretty-printers);
 * - padding: when the number of base64 characters is a multiple of 4 the
 *   text must be correctly padded ("QQ=="); otherwise it must carry no
 *   '=' at all ("QQ", as WHATWG forgiving-base64 accepts).  Wrong padding
 *   ("QQ=", "Q===") and non-zero trailing bits ("QR==") are refused;
 * - a length of 4k+1 characters can never be valid and is refused.
 *
 * Data URL rules:
 * - the scheme "data:" is case-insensitive; the header before the first
 *   ',' is "[type/subtype][;attr=value]*[;base64]";
 * - the media type is returned lower-cased without parameters ("" when
 *   absent; RFC 2397 then means text/plain);
 * - without ";base64" the data is percent-decoded (%XX); a bad escape is
 *   "invalid_data_url".
 *
 * Output memory: when ar is non-NULL the bytes live in the arena (valid
 * until ar_reset/ar_free); when ar is NULL they are malloc'ed and the
 * caller frees them with durl_free().  The bytes are always followed by a
 * NUL that is not counted in len.
 *
 * Thread-safe (no global state besides sodium_init, which it calls once).
 */
#ifndef VKV_DURL_H
#define VKV_DURL_H

#include "common/ar.h"
#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

enum durl_status {
    DURL_OK = 0,
    DURL_ERR_INVALID = -1,   /* "invalid_data_url", ERR_INVALID */
    DURL_ERR_BASE64 = -2,    /* "invalid_base64", ERR_INVALID */
    DURL_ERR_TOO_LARGE = -3, /* "image_too_large" / "data_too_large", ERR_TOO_LARGE */
    DURL_ERR_TYPE = -4,      /* "unsupported_image_type", ERR_UNSUPPORTED (IMAGE_ONLY) */
    DURL_ERR_OOM = -5        /* "out_of_memory", ERR_UNAVAILABLE, transient */
};

/* base64 alphabets */
enum durl_b64 {
    DURL_B64_ORIGINAL = 0, /* A-Z a-z 0-9 + / */
    DURL_B64_URLSAFE = 1   /* A-Z a-z 0-9 - _ */
};

/* flags for durl_parse */
enum {
    /* the media type must be image/<something>; otherwise DURL_ERR_TYPE */
    DURL_IMAGE_ONLY = 1,
    /* input without "data:" is taken as plain (original or URL-safe) base64 */
    DURL_ALLOW_PLAIN_BASE64 = 2
};

#define DURL_MIME_MAX 128

struct durl {
    char mime[DURL_MIME_MAX]; /* lower-case "type/subtype", "" if none */
    int base64;               /* 1 if the data was base64 */
    uint8_t *data;            /* see "Output memory" above */
    size_t len;               /* decoded bytes */
};

/* "ok", "invalid data url", ...; static string, cannot fail */
const char *durl_status_str(int status);

/*
 * Parses the data URL s[0..n) (s need not be NUL-terminated) and decodes
 * its payload, refusing more than max_bytes decoded bytes (0 = no limit)
 * before allocating.  flags: DURL_IMAGE_ONLY | DURL_ALLOW_PLAIN_BASE64.
 * On success fills *out (see "Output memory") and returns DURL_OK; on
 * failure returns a DURL_ERR_* with e filled, and *out holds no memory.
 * Error codes: invalid_data_url and invalid_base64 (ERR_INVALID),
 * image_too_large (ERR_TOO_LARGE), unsupported_image_type (ERR_UNSUPPORTED),
 * out_of_memory (ERR_UNAVAILABLE).
 */
int durl_parse(const char *s, size_t n, size_t max_bytes, unsigned flags, struct ar *ar,
               struct durl *out, struct err *e);

/*
 * Decodes base64 text s[0..n) in the given alphabet under the rules above,
 * refusing more than max_bytes decoded bytes (0 = no limit) before
 * allocating.  On success sets *data (arena or malloc, as above; NUL
 * terminated) and *len and returns DURL_OK.  Error codes: invalid_base64
 * (ERR_INVALID), data_too_large (ERR_TOO_LARGE), out_of_memory (ERR_UNAVAILABLE).
 */
int durl_base64_decode(const char *s, size_t n, enum durl_b64 variant, size_t max_bytes,
                       struct ar *ar, uint8_t **data, size_t *len, struct err *e);

/*
 * durl_base64_decode through libsodium alone, without the table decoder
 * that takes plain base64 first: the reference fuzz_durl and test_durl
 * hold it to.  Same contract.
 */
int durl_base64_decode_ref(const char *s, size_t n, enum durl_b64 variant, size_t max_bytes,
                           struct ar *ar, uint8_t **data, size_t *len, struct err *e);

/*
 * Exact decoded size of base64 text s[0..n) under the rules above, without
 * decoding; returns 0 and sets *len, or DURL_ERR_BASE64 (with e) for a
 * length or padding that can never be valid.  Cannot allocate.
 */
int durl_base64_len(const char *s, size_t n, size_t *len, struct err *e);

/*
 * Encodes n bytes as padded base64 (original alphabet) into a new
 * NUL-terminated string from ar (or malloc when ar is NULL; caller frees
 * with free()).  Returns NULL when out of memory.  For tests and the CLI.
 */
char *durl_base64_encode(const void *p, size_t n, struct ar *ar);

/* frees the malloc'ed data of a durl filled with ar == NULL; d may be NULL */
void durl_free(struct durl *d);

#endif
