/*
 * test_common.c: arenas, the error struct and the configuration table.
 */
#include "common/ar.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/jq.h"

#include "tests/lib/th.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cleanup_calls;
static void on_reset(void *p)
{
    cleanup_calls += *(int *)p;
}

static void test_arena(void)
{
    struct ar *ar = ar_init(4096);
    TH_CHECK(ar != NULL, "arena created");
    char *a = ar_alloc(ar, 10), *b = ar_alloc(ar, 100000);
    TH_CHECK(a && b && ((uintptr_t)a % 16) == 0 && ((uintptr_t)b % 16) == 0,
             "small and large allocations are 16-byte aligned");
    memset(b, 1, 100000);
    TH_EQ_STR(ar_printf(ar, "%s-%d", "job", 42), "job-42", "ar_printf formats into the arena");
    static int one = 1, ten = 10;
    ar_on_reset(ar, on_reset, &one);
    ar_on_reset(ar, on_reset, &ten);
    ar_reset(ar);
    TH_EQ_INT(cleanup_calls, 11, "both cleanup callbacks ran at reset");
    TH_EQ_INT(ar_used_get(ar), 0, "reset returns the arena to empty");
    ar_limit_set(ar, 1000);
    TH_CHECK(ar_alloc(ar, 2000) == NULL, "an allocation over the limit is refused, not aborted");
    TH_CHECK(ar_alloc(ar, SIZE_MAX - 3) == NULL, "a size that would overflow is refused");
    TH_CHECK(ar_alloc(ar, 500) != NULL, "an allocation under the limit succeeds");
    TH_CHECK(ar_calloc(ar, SIZE_MAX / 2, 4) == NULL, "calloc overflow is refused");
    ar_free(ar);
    ar_free(NULL);
}

static void test_err(void)
{
    struct err e;
    err_clear(&e);
    int rc = err_set(&e, -3, ERR_TOO_LARGE, "image_too_large", "image is %d pixels wide", 99999);
    TH_EQ_INT(rc, -3, "err_set returns the status");
    TH_EQ_INT(e.cls, ERR_TOO_LARGE, "err_set keeps the class");
    TH_EQ_STR(e.code, "image_too_large", "err_set keeps the machine code");
    TH_EQ_STR(e.msg, "image is 99999 pixels wide", "err_set formats the message");
    err_set_transient(&e, -1, "db_unavailable", "could not connect");
    TH_CHECK(e.transient && e.cls == ERR_UNAVAILABLE, "transient errors are unavailable");
    TH_EQ_INT(err_set(NULL, -7, ERR_INVALID, "x", "y"), -7, "err_set accepts a NULL struct");
}

static void test_cfg(void)
{
    struct err e;
    err_clear(&e);
    unsetenv("VKV_CONFIG_FILE");
    TH_EQ_INT(cfg_load(CFG_PROG_API, NULL, &e), 0, "defaults are valid");
    TH_EQ_INT(cfg_int("VKV_HTTP_PORT"), 8080, "default port is 8080");
    setenv("VKV_HTTP_PORT", "70000", 1);
    TH_EQ_INT(cfg_load(CFG_PROG_API, NULL, &e), -1, "out-of-range port is refused");
    TH_CHECK(strstr(e.msg, "VKV_HTTP_PORT") && strstr(e.msg, "70000"),
             "the error names the key and the value: %s", e.msg);
    setenv("VKV_HTTP_PORT", "80x", 1);
    TH_EQ_INT(cfg_load(CFG_PROG_API, NULL, &e), -1, "a non-integer is refused");
    unsetenv("VKV_HTTP_PORT");
    setenv("VKV_LOG_LEVEL", "loud", 1);
    TH_EQ_INT(cfg_load(CFG_PROG_API, NULL, &e), -1, "an unknown log level is refused");
    unsetenv("VKV_LOG_LEVEL");

    char path[] = "/tmp/vkv-cfg-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# comment\nVKV_API_THREADS=4\n\nVKV_PG_DB=other\n");
    fclose(f);
    TH_EQ_INT(cfg_load(CFG_PROG_API, path, &e), 0, "a config file loads");
    TH_EQ_INT(cfg_int("VKV_API_THREADS"), 4, "the file sets an int");
    TH_EQ_STR(cfg_str("VKV_PG_DB"), "other", "the file sets a string");
    f = fopen(path, "w");
    fprintf(f, "VKV_NO_SUCH_KEY=1\n");
    fclose(f);
    TH_EQ_INT(cfg_load(CFG_PROG_API, path, &e), -1, "an unknown key in the file is refused");
    TH_CHECK(strstr(e.msg, "VKV_NO_SUCH_KEY") != NULL, "the error names the key");
    unlink(path);
    TH_EQ_INT(cfg_load(CFG_PROG_API, "/nonexistent/vkv.conf", &e), -1,
              "a missing config file is refused");

    /* every key is documented where operators look for it */
    const char *docs[] = {"config.example", "docker-compose.yml"};
    for (size_t d = 0; d < 2; d++) {
        char fn[512];
        snprintf(fn, sizeof(fn), "%s/%s", getenv("VKV_ROOT") ? getenv("VKV_ROOT") : ".", docs[d]);
        FILE *df = fopen(fn, "r");
        TH_CHECK(df != NULL, "%s exists", docs[d]);
        if (df == NULL)
            continue;
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof(buf) - 1, df);
        buf[n] = '\0';
        fclose(df);
        int missing = 0;
        for (const struct cfg_entry *c = cfg_table_get(); c->name; c++)
            if (strstr(buf, c->name) == NULL) {
                printf("# %s does not name %s\n", docs[d], c->name);
                missing++;
            }
        TH_EQ_INT(missing, 0, "%s names every configuration key", docs[d]);
        if (d != 0) /* docker-compose sets a deployment's values, not the defaults */
            continue;
        int stale = 0;
        for (const struct cfg_entry *c = cfg_table_get(); c->name; c++) {
            char want[256];
            snprintf(want, sizeof(want), "%s=%s\n", c->name, c->def ? c->def : "");
            if (c->def != NULL && strstr(buf, want) == NULL) {
                printf("# config.example does not show %s's default: %s", c->name, want);
                stale++;
            }
        }
        TH_EQ_INT(stale, 0, "config.example shows every key's default");
    }
}

/* the one priority parser: every route reads tier/priority through it */
static void test_priority(void)
{
    struct err e;
    int t = -7;
    TH_CHECK(jq_priority_parse(NULL, NULL, NULL, 2, &t, &e) == JQ_OK && t == 2,
             "nothing said: the route's default");
    TH_CHECK(jq_priority_parse("background", NULL, NULL, 2, &t, &e) == JQ_OK && t == 0,
             "X-Priority by name, any case");
    TH_CHECK(jq_priority_parse("0", "IMMEDIATE", NULL, 2, &t, &e) == JQ_OK && t == 3,
             "a body tier wins over X-Priority");
    TH_CHECK(jq_priority_parse("0", NULL, "1", 2, &t, &e) == JQ_OK && t == 1,
             "a body priority wins over X-Priority");
    t = -7;
    err_clear(&e);
    TH_CHECK(jq_priority_parse(NULL, "1", "1", 2, &t, &e) == JQ_ERR_INVALID && t == -7 &&
                 strcmp(e.code, "conflicting_fields") == 0 && e.cls == ERR_INVALID,
             "tier and priority together are refused, even when they agree");
    const char *bad[] = {"4", "-1", "", "03", "URGENT", "2.0", " 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        TH_CHECK(jq_priority_parse(NULL, bad[i], NULL, 2, &t, &e) == JQ_ERR_INVALID &&
                     strcmp(e.code, "invalid_tier") == 0 && t == -7,
                 "tier \"%s\" is refused", bad[i]);
    }
    err_clear(&e);
    TH_CHECK(jq_priority_parse("soon", NULL, NULL, 2, &t, &e) == JQ_ERR_INVALID &&
                 strstr(e.msg, "X-Priority") != NULL,
             "a bad X-Priority is named in the message");
    for (int i = 0; i < JQ_TIERS; i++)
        TH_CHECK(jq_tier_parse(jq_tier_str(i)) == i, "tier %d round-trips by name", i);
    TH_CHECK(jq_tier_str(JQ_TIERS) == NULL, "no name past the last tier");
}

int main(void)
{
    test_arena();
    test_err();
    test_priority();
    test_cfg();
    return th_done();
}
