/*
 * cm.h: assertions and aborting allocators for small, fixed-size objects.
 *
 * CM_ASSERT is for bugs only and is always on (ggml's GGML_ASSERT).  The
 * cm_x* allocators abort on failure and are only for sizes that do not come
 * from input; input-sized allocations check a limit and return an error
 * (STYLE.md "Out-of-memory policy").  See common/README.md.
 */
#ifndef VKV_CM_H
#define VKV_CM_H

#include <stddef.h>

void cm_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#define CM_ASSERT(x) ((x) ? (void)0 : cm_assert_fail(#x, __FILE__, __LINE__))

#define CM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* returns new memory; caller frees with free(); aborts on failure */
void *cm_xmalloc(size_t n);
/* returns new zeroed memory; caller frees with free(); aborts on failure */
void *cm_xcalloc(size_t n, size_t size);
/* returns a new copy of s; caller frees with free(); aborts on failure */
char *cm_xstrdup(const char *s);

/* monotonic clock in nanoseconds / milliseconds (double); cannot fail */
long long cm_now_ns(void);
double cm_now_ms(void);

#endif
