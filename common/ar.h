/*
 * ar.h: arenas with named lifetimes (process, request, job, model).
 * Objects from an arena are never freed one by one; ar_reset() releases
 * everything and runs the cleanup callbacks (PQclear, json_decref, ...) in
 * reverse order of registration (ngx_pool_cleanup_add).  Not thread-safe:
 * one arena belongs to one thread at a time.  See common/README.md.
 */
#ifndef VKV_AR_H
#define VKV_AR_H

#include <stddef.h>

struct ar;

/* returns a new arena whose chunks are at least chunk bytes; caller frees with ar_free */
struct ar *ar_init(size_t chunk);
/* runs callbacks, releases all memory and the arena; ar may be NULL */
void ar_free(struct ar *ar);
/* runs callbacks and releases everything allocated since ar_init; keeps one chunk */
void ar_reset(struct ar *ar);

/*
 * Returns n bytes aligned to 16, valid until ar_reset/ar_free.  Returns NULL
 * when n exceeds limit (bytes the arena may hold in all, 0 = no limit) or
 * malloc fails; callers with input-sized n must check.
 */
void *ar_alloc(struct ar *ar, size_t n);
/* as ar_alloc, zeroed */
void *ar_calloc(struct ar *ar, size_t n, size_t size);
/* copy of s in the arena; NULL on failure */
char *ar_strdup(struct ar *ar, const char *s);
char *ar_strndup(struct ar *ar, const char *s, size_t n);
/* printf into the arena; NULL on failure */
char *ar_printf(struct ar *ar, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* caps the bytes this arena may hand out (0 = unlimited) */
void ar_limit_set(struct ar *ar, size_t limit);
/* bytes handed out since the last reset */
size_t ar_used_get(const struct ar *ar);

/* registers fn(data) to run at reset/free; returns 0, or -1 if out of memory */
int ar_on_reset(struct ar *ar, void (*fn)(void *), void *data);

#endif
