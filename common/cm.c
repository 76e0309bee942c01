/*
 * cm.c: always-on assertions, aborting allocators and clocks.
 *
 * A failed assertion prints the expression and location and aborts so the
 * supervisor restarts the process; it never tries to recover.  See
 * common/README.md.
 */
#include "common/cm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cm_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

void *cm_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

void *cm_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory allocating %zu x %zu bytes\n", n, size);
        abort();
    }
    return p;
}

char *cm_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cm_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

long long cm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double cm_now_ms(void)
{
    return (double)cm_now_ns() / 1e6;
}
