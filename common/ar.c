/*
 * ar.c: a chunked bump allocator.  Large requests get a chunk of their own
 * so a big image body does not waste a standard chunk.  Cleanup callbacks
 * live in the arena itself and run newest first.
 */
#include "common/ar.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ar_chunk {
    struct ar_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

struct ar_cleanup {
    struct ar_cleanup *next;
    void (*fn)(void *);
    void *data;
};

struct ar {
    struct ar_chunk *head;
    struct ar_cleanup *cleanups;
    size_t chunk, used, limit;
};

static struct ar_chunk *ar_chunk_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(struct ar_chunk))
        return NULL;
    struct ar_chunk *c = malloc(sizeof(*c) + size);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

struct ar *ar_init(size_t chunk)
{
    struct ar *ar = calloc(1, sizeof(*ar));
    if (ar == NULL)
        return NULL;
    ar->chunk = chunk < 1024 ? 1024 : chunk;
    ar->head = ar_chunk_new(ar->chunk);
    if (ar->head == NULL) {
        free(ar);
        return NULL;
    }
    return ar;
}

static void ar_run_cleanups(struct ar *ar)
{
    struct ar_cleanup *c = ar->cleanups;
    ar->cleanups = NULL;
    for (; c != NULL; c = c->next)
        c->fn(c->data);
}

void ar_reset(struct ar *ar)
{
    ar_run_cleanups(ar);
    struct ar_chunk *keep = NULL, *c = ar->head;
    while (c != NULL) {
        struct ar_chunk *next = c->next;
        if (keep == NULL && c->size == ar->chunk) {
            keep = c;
            keep->next = NULL;
        } else {
            free(c);
        }
        c = next;
    }
    if (keep == NULL)
        keep = ar_chunk_new(ar->chunk);
    if (keep != NULL)
        keep->used = 0;
    ar->head = keep;
    ar->used = 0;
}

void ar_free(struct ar *ar)
{
    if (ar == NULL)
        return;
    ar_run_cleanups(ar);
    struct ar_chunk *c = ar->head;
    while (c != NULL) {
        struct ar_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(ar);
}

void *ar_alloc(struct ar *ar, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n)
        return NULL;
    if (ar->limit != 0 && (need > ar->limit || ar->used > ar->limit - need))
        return NULL;
    struct ar_chunk *c = ar->head;
    if (c == NULL || c->size - c->used < need) {
        size_t size = need > ar->chunk / 4 ? need : ar->chunk;
        struct ar_chunk *nc = ar_chunk_new(size);
        if (nc == NULL)
            return NULL;
        if (size == need && c != NULL) {
            /* a dedicated chunk: keep the current one for small objects */
            nc->next = c->next;
            c->next = nc;
            c = nc;
        } else {
            nc->next = c;
            ar->head = nc;
            c = nc;
        }
    }
    void *p = c->data + c->used;
    c->used += need;
    ar->used += need;
    return p;
}

void *ar_calloc(struct ar *ar, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = ar_alloc(ar, n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

char *ar_strndup(struct ar *ar, const char *s, size_t n)
{
    char *p = ar_alloc(ar, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *ar_strdup(struct ar *ar, const char *s)
{
    return ar_strndup(ar, s, strlen(s));
}

char *ar_printf(struct ar *ar, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n < 0 ? NULL : ar_alloc(ar, (size_t)n + 1);
    if (p != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void ar_limit_set(struct ar *ar, size_t limit)
{
    ar->limit = limit;
}

size_t ar_used_get(const struct ar *ar)
{
    return ar->used;
}

int ar_on_reset(struct ar *ar, void (*fn)(void *), void *data)
{
    size_t saved = ar->limit;
    ar->limit = 0; /* a cleanup must never be refused for the body limit */
    struct ar_cleanup *c = ar_alloc(ar, sizeof(*c));
    ar->limit = saved;
    if (c == NULL)
        return -1;
    c->fn = fn;
    c->data = data;
    c->next = ar->cleanups;
    ar->cleanups = c;
    return 0;
}
