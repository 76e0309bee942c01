/*
 * err.h: the caller-owned error struct (PostgreSQL's soft errors, jansson's
 * json_error_t).  The function that detects a problem fills it in; the
 * boundary that handles it (request handler, job loop) logs it once.
 *
 * `code` is a stable machine-readable string that the API returns as
 * {"error":{"code":...}}.  `cls` is a protocol-neutral class of the failure,
 * the way PostgreSQL groups SQLSTATEs into classes: modules below the API
 * say what went wrong, never how a protocol reports it.  The API maps a
 * class to an HTTP status in one table (fcgi/api_resp.c, api_err_status).
 * `transient` marks "could not ..." failures that may succeed on retry; it is
 * independent of the class (an internal failure may be transient), and the
 * worker uses it to decide whether a failed job is requeued.
 */
#ifndef VKV_ERR_H
#define VKV_ERR_H

#include <stdarg.h>

enum err_class {
    ERR_INTERNAL = 0,  /* a bug or an unexpected failure; the default */
    ERR_INVALID,       /* the input is malformed or out of its range */
    ERR_UNPROCESSABLE, /* well-formed, but this service cannot process it */
    ERR_TOO_LARGE,     /* the input exceeds a size limit */
    ERR_TOO_LONG,      /* a name or address exceeds its length limit */
    ERR_UNSUPPORTED,   /* a media type or format this service does not read */
    ERR_NOT_FOUND,     /* the named object does not exist */
    ERR_CONFLICT,      /* the object's state forbids the operation */
    ERR_AUTH,          /* the caller is not authenticated */
    ERR_FORBIDDEN,     /* authenticated, but not allowed */
    ERR_RATE_LIMITED,  /* a quota is full; try again later */
    ERR_UNAVAILABLE,   /* a dependency or resource is unavailable for now */
    ERR_TIMEOUT,       /* the operation did not finish in its time */
    ERR_RESOURCE,      /* a resource (device memory, disk) is exhausted */
    ERR_CLASS_COUNT
};

struct err {
    int status;         /* the detecting module's negative status code */
    enum err_class cls; /* what kind of failure, ERR_INTERNAL by default */
    int sys_errno;      /* errno captured at the failure, or 0 */
    int transient;      /* 1: may succeed later (retry) */
    char code[48];      /* machine-readable, e.g. "image_too_large" */
    char msg[256];      /* lower case, no final period, names the value */
};

/* clears e (class ERR_INTERNAL); e may be NULL; cannot fail */
void err_clear(struct err *e);

/*
 * Fills e (may be NULL) and returns status so callers can write
 * `return err_set(e, IMG_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large", "...")`.
 */
int err_set(struct err *e, int status, enum err_class cls, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int err_setv(struct err *e, int status, enum err_class cls, const char *code, const char *fmt,
             va_list ap);

/* as err_set with class ERR_UNAVAILABLE, and marks the error transient */
int err_set_transient(struct err *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
