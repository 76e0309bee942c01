/*
 * err.c: filling the caller-owned error struct.  See err.h.
 */
#include "common/err.h"

#include <stdio.h>
#include <string.h>

void err_clear(struct err *e)
{
    if (e != NULL)
        memset(e, 0, sizeof(*e));
}

int err_setv(struct err *e, int status, enum err_class cls, const char *code, const char *fmt,
             va_list ap)
{
    if (e == NULL)
        return status;
    e->status = status;
    e->cls = cls;
    e->transient = 0;
    snprintf(e->code, sizeof(e->code), "%s", code ? code : "internal");
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    return status;
}

int err_set(struct err *e, int status, enum err_class cls, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_setv(e, status, cls, code, fmt, ap);
    va_end(ap);
    return status;
}

int err_set_transient(struct err *e, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_setv(e, status, ERR_UNAVAILABLE, code, fmt, ap);
    va_end(ap);
    if (e != NULL)
        e->transient = 1;
    return status;
}
