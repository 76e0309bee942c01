/*
 * th.h: a zero-dependency test helper (Redis's testhelp.h).  Each check
 * prints a TAP-style line, "ok - ..." or "not ok - ...", which tests/run.sh
 * counts; th_done() prints the binary's summary and returns its exit code.
 *
 *   TH_CHECK(expr, "what it proves");
 *   TH_EQ_INT(a, b, "...");  TH_EQ_STR(a, b, "...");
 *   return th_done();
 */
#ifndef VKV_TH_H
#define VKV_TH_H

#include <stdio.h>
#include <string.h>

static int th_pass, th_fail;

#define TH_CHECK(expr, ...)                                                                        \
    do {                                                                                           \
        if (expr) {                                                                                \
            th_pass++;                                                                             \
            printf("ok - ");                                                                       \
        } else {                                                                                   \
            th_fail++;                                                                             \
            printf("not ok - (%s:%d: %s) ", __FILE__, __LINE__, #expr);                            \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
    } while (0)

#define TH_EQ_INT(a, b, ...)                                                                       \
    do {                                                                                           \
        long long th_a = (long long)(a), th_b = (long long)(b);                                    \
        if (th_a != th_b)                                                                          \
            printf("# %s = %lld, expected %lld\n", #a, th_a, th_b);                                \
        TH_CHECK(th_a == th_b, __VA_ARGS__);                                                       \
    } while (0)

#define TH_EQ_STR(a, b, ...)                                                                       \
    do {                                                                                           \
        const char *th_sa = (a), *th_sb = (b);                                                     \
        int th_ok = th_sa != NULL && th_sb != NULL && strcmp(th_sa, th_sb) == 0;                   \
        if (!th_ok)                                                                                \
            printf("# %s = \"%s\", expected \"%s\"\n", #a, th_sa ? th_sa : "(null)",               \
                   th_sb ? th_sb : "(null)");                                                      \
        TH_CHECK(th_ok, __VA_ARGS__);                                                              \
    } while (0)

static inline int th_done(void)
{
    printf("# %d passed, %d failed\n", th_pass, th_fail);
    return th_fail == 0 ? 0 : 1;
}

#endif
