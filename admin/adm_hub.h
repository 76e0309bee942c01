/*
 * adm_hub.h: HTTP downloads from a model hub for `vkv-admin model fetch`
 * (prefix adm_hub_), with libcurl.
 *
 * Only http and https, at most 5 redirects, a connect timeout of 30 s and
 * an abort when less than 1 KiB/s arrives for 60 s; every body is bounded
 * by the caller's limit before it is stored.  An HF_TOKEN-style bearer
 * token is sent when given (public models need none).
 */
#ifndef VKV_ADM_HUB_H
#define VKV_ADM_HUB_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

enum { ADM_HUB_OK = 0, ADM_HUB_ERR = -1 };

/*
 * GETs url into memory (at most max bytes).  Returns ADM_HUB_OK with *body
 * (malloc'ed, NUL-terminated; caller frees) and *len, or ADM_HUB_ERR with e:
 * hub_not_found (404), hub_forbidden (401/403), hub_http_error,
 * hub_unreachable, hub_too_large.
 */
int adm_hub_get_mem(const char *url, const char *token, size_t max, char **body, size_t *len,
                    struct err *e);

/*
 * GETs url into path.  With resume, a file already at path is kept and
 * continued with a Range request (restarted when the server ignores it).
 * max bounds the whole file; label, when not NULL, names the file in the
 * progress lines printed to stderr every 2 s.  On ADM_HUB_OK, hex holds the
 * SHA-256 of the whole file (64 hex digits + NUL) and *size its bytes.
 */
int adm_hub_get_file(const char *url, const char *token, const char *path, int resume, uint64_t max,
                     const char *label, char hex[65], uint64_t *size, struct err *e);

/* SHA-256 of a file in hex (progress as above when label is not NULL) */
int adm_hub_sha256_file(const char *path, const char *label, char hex[65], uint64_t *size,
                        struct err *e);

#endif
