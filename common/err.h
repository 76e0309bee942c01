/*
 * err.h: the caller-owned error struct (PostgreSQL's soft errors, jansson's
 * json_error_t).  The function that detects a problem fills it in; the
 * boundary that handles it (request handler, job loop) logs it once.
 *
 * `code` is a stable machine-readable string that the API returns as
 * {"error":{"code":...}}; `http` is the status the API should answer with
 * (0 when the detecting module has no opinion, which means 500).
 * `transient` marks "could not ..." failures that may succeed on retry.
 */
#ifndef VKV_ERR_H
#define VKV_ERR_H

#include <stdarg.h>

struct err {
    int status;    /* the detecting module's negative status code */
    int http;      /* suggested HTTP status, 0 = unknown */
    int sys_errno; /* errno captured at the failure, or 0 */
    int transient; /* 1: may succeed later (retry, 503) */
    char code[48]; /* machine-readable, e.g. "image_too_large" */
    char msg[256]; /* lower case, no final period, names the value */
};

/* clears e; e may be NULL; cannot fail */
void err_clear(struct err *e);

/*
 * Fills e (may be NULL) and returns status so callers can write
 * `return err_set(e, IMG_ERR_TOO_LARGE, 413, "image_too_large", "...")`.
 */
int err_set(struct err *e, int status, int http, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int err_setv(struct err *e, int status, int http, const char *code, const char *fmt, va_list ap);

/* as err_set, but marks the error transient (retry / 503) */
int err_set_transient(struct err *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
