/*
 * test_queue.c: the queue's semantics through the jq_ client, against a
 * real PostgreSQL (tests/lib/pg_tmp.sh; libpq finds it through PGHOST,
 * PGPORT, PGDATABASE).  Concurrency cases open 2..N connections in threads
 * or run fixed interleavings of steps on two connections (isolation-spec
 * style).  Every case uses its own model names, so cases do not see each
 * other's jobs.
 *
 *   test_queue            all cases but the restart
 *   test_queue restart    the PostgreSQL restart case: runs $PG_RESTART_CMD
 *                         between statements and expects the same pgx
 *                         connections to recover
 */
#include "common/cm.h"
#include "common/jq.h"
#include "common/pgx.h"
#include "tests/lib/th.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t tenant_a, tenant_b;

static struct pgx *conn(void)
{
    struct pgx *c = NULL;
    struct err e;
    err_clear(&e);
    struct pgx_settings ps = {.conninfo = ""};
    if (pgx_open(&c, &ps, &e) != PGX_OK) {
        printf("# could not connect: %s\n", e.msg);
        exit(1);
    }
    return c;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t enq(struct pgx *c, int64_t tenant, const char *model, int tier)
{
    struct jq_new_job j = {.tenant_id = tenant, .task = "caption", .model = model, .tier = tier};
    int64_t id = 0;
    struct err e;
    int rc = jq_job_enqueue(c, &j, &id, NULL, &e);
    if (rc != JQ_OK)
        printf("# enqueue failed: %s\n", e.msg);
    return id;
}

/* claims one job of model; returns its id or 0 */
static int64_t claim1(struct pgx *c, const char *worker, const char *model, int lease_s)
{
    const char *models[1] = {model};
    struct jq_job *jobs;
    int n;
    struct err e;
    int rc = jq_job_claim(c, worker, "dev0", models, 1, 1, lease_s, &jobs, &n, &e);
    if (rc != JQ_OK)
        return 0;
    int64_t id = jobs[0].id;
    jq_jobs_free(jobs, n);
    return id;
}

/* the "state" of a job from its JSON (test-side parsing, crude but exact) */
static void job_state(struct pgx *c, int64_t tenant, int64_t id, char *out, size_t n)
{
    char *json = NULL;
    struct err e;
    out[0] = '\0';
    if (jq_job_get_json(c, tenant, id, &json, &e) != JQ_OK)
        return;
    const char *p = strstr(json, "\"state\" : \"");
    if (p != NULL) {
        p += strlen("\"state\" : \"");
        size_t k = strcspn(p, "\"");
        snprintf(out, n, "%.*s", (int)k, p);
    }
    free(json);
}

static int json_has(struct pgx *c, int64_t tenant, int64_t id, const char *needle)
{
    char *json = NULL;
    struct err e;
    if (jq_job_get_json(c, tenant, id, &json, &e) != JQ_OK)
        return 0;
    int ok = strstr(json, needle) != NULL;
    if (!ok)
        printf("# %s lacks %s\n", json, needle);
    free(json);
    return ok;
}

static void settings(struct pgx *c, int aging, int interval, int quantum, int rbase)
{
    struct jq_settings s = {aging, interval, quantum, rbase, -1};
    struct err e;
    CM_ASSERT(jq_settings_set(c, &s, NULL, &e) == JQ_OK);
}

/* ---- cases ------------------------------------------------------------ */

static void t_auth(struct pgx *c)
{
    struct err e;
    TH_EQ_INT(jq_tenant_create(c, "tenant-a", &tenant_a, &e), JQ_OK, "tenant a created");
    TH_EQ_INT(jq_tenant_create(c, "tenant-b", &tenant_b, &e), JQ_OK, "tenant b created");
    int64_t dup;
    TH_EQ_INT(jq_tenant_create(c, "tenant-a", &dup, &e), JQ_ERR_CONFLICT,
              "a duplicate tenant name is a conflict");
    char key[128], akey[128];
    int64_t kid, akid, tid = 0;
    int adm = -1;
    TH_EQ_INT(jq_key_create(c, tenant_a, 0, key, sizeof(key), &kid, &e), JQ_OK, "key created");
    TH_EQ_INT(jq_key_create(c, tenant_b, 1, akey, sizeof(akey), &akid, &e), JQ_OK,
              "admin key created");
    TH_CHECK(strncmp(key, "vkv_", 4) == 0 && strlen(key) == 47, "key is vkv_ + 43 chars: %s", key);
    TH_EQ_INT(jq_auth_key(c, key, &tid, &adm, &e), JQ_OK, "key authenticates");
    TH_EQ_INT(tid, tenant_a, "key maps to its tenant");
    TH_EQ_INT(adm, 0, "plain key is not admin");
    TH_EQ_INT(jq_auth_key(c, akey, &tid, &adm, &e), JQ_OK, "admin key authenticates");
    TH_EQ_INT(adm, 1, "admin key is admin");
    key[10] ^= 1;
    TH_EQ_INT(jq_auth_key(c, key, &tid, &adm, &e), JQ_ERR_NOT_FOUND, "altered key rejected");
    TH_EQ_INT(e.cls, ERR_AUTH, "unknown key is an authentication error");
    TH_EQ_INT(jq_auth_key(c, "", &tid, &adm, &e), JQ_ERR_NOT_FOUND, "empty key rejected");
    TH_EQ_INT(jq_key_revoke(c, akid, &e), JQ_OK, "key revoked");
    TH_EQ_INT(jq_auth_key(c, akey, &tid, &adm, &e), JQ_ERR_NOT_FOUND, "revoked key rejected");
    TH_EQ_INT(jq_key_create(c, 999999, 0, key, sizeof(key), &kid, &e), JQ_ERR_NOT_FOUND,
              "key for an unknown tenant refused");
}

/* first: the tiers are still empty here */
static void t_depth_limit(struct pgx *c)
{
    struct err e;
    jq_limits_set(c, 5, 0);
    int64_t id = 0;
    int ok = 1;
    for (int i = 0; i < 5; i++)
        ok &= enq(c, tenant_a, "m_depth", 1) > 0;
    TH_CHECK(ok, "5 jobs fit a tier limited to 5");
    struct jq_new_job j = {.tenant_id = tenant_a, .task = "caption", .model = "m_depth", .tier = 1};
    TH_EQ_INT(jq_job_enqueue(c, &j, &id, NULL, &e), JQ_ERR_TIER_FULL, "6th job: tier full");
    TH_EQ_INT(e.cls, ERR_RATE_LIMITED, "tier full is rate limited");
    j.tier = 2;
    TH_EQ_INT(jq_job_enqueue(c, &j, &id, NULL, &e), JQ_OK, "another tier still accepts");
    jq_limits_set(c, 100000, 0);
    /* drain */
    int n = 0;
    while (claim1(c, "w-depth", "m_depth", 30) > 0 && n < 100)
        n++;
    TH_EQ_INT(n, 6, "the 6 accepted jobs are claimable");
}

static void t_enqueue_get(struct pgx *c)
{
    struct err e;
    const uint8_t img[5] = {1, 2, 0, 4, 5};
    struct jq_new_job j = {.tenant_id = tenant_a,
                           .task = "caption",
                           .model = "m_get",
                           .tier = 2,
                           .params_json = "{\"length\":\"short\"}",
                           .input = img,
                           .input_len = sizeof(img),
                           .input_type = "image/png"};
    int64_t id = 0;
    int existed = -1;
    TH_EQ_INT(jq_job_enqueue(c, &j, &id, &existed, &e), JQ_OK, "enqueue");
    TH_CHECK(id > 0 && existed == 0, "new id %lld", (long long)id);
    char st[32];
    job_state(c, tenant_a, id, st, sizeof(st));
    TH_EQ_STR(st, "queued", "new job is queued");
    TH_CHECK(json_has(c, tenant_a, id, "\"length\": \"short\""), "params kept");
    TH_CHECK(json_has(c, tenant_a, id, "\"input_bytes\" : 5"), "input size reported");
    char *json = NULL;
    TH_EQ_INT(jq_job_get_json(c, tenant_b, id, &json, &e), JQ_ERR_NOT_FOUND,
              "another tenant's job is not found");
    TH_EQ_INT(jq_job_get_json(c, 0, id, &json, &e), JQ_OK, "admin (tenant 0) sees it");
    free(json);
    TH_EQ_INT(jq_job_get_json(c, tenant_a, 987654321, &json, &e), JQ_ERR_NOT_FOUND,
              "unknown id is not found");

    /* bad inputs write nothing */
    struct jq_new_job bad = j;
    bad.tier = 4;
    TH_EQ_INT(jq_job_enqueue(c, &bad, &id, NULL, &e), JQ_ERR_INVALID, "tier 4 invalid");
    bad = j;
    bad.params_json = "[1,2]";
    TH_EQ_INT(jq_job_enqueue(c, &bad, &id, NULL, &e), JQ_ERR_INVALID, "params not an object");
    bad.params_json = "{\"a\":";
    TH_EQ_INT(jq_job_enqueue(c, &bad, &id, NULL, &e), JQ_ERR_INVALID, "params not JSON");
    TH_EQ_STR(e.code, "invalid_params", "bad JSON -> invalid_params");
    bad = j;
    bad.model = "a-model-name-that-is-much-longer-than-sixty-three-bytes-allowed-here";
    TH_EQ_INT(jq_job_enqueue(c, &bad, &id, NULL, &e), JQ_ERR_INVALID, "model too long");
    bad = j;
    bad.task = "";
    TH_EQ_INT(jq_job_enqueue(c, &bad, &id, NULL, &e), JQ_ERR_INVALID, "empty task");
    bad = j;
    bad.batch_id = 424242;
    TH_EQ_INT(jq_job_enqueue(c, &bad, &id, NULL, &e), JQ_ERR_NOT_FOUND, "unknown batch");

    struct jq_job *jobs;
    int n;
    const char *models[1] = {"m_get"};
    TH_EQ_INT(jq_job_claim(c, "w-get", "dev0", models, 1, 8, 30, &jobs, &n, &e), JQ_OK, "claim");
    TH_EQ_INT(n, 1, "only the one valid job exists");
    if (n == 1) {
        TH_CHECK(jobs[0].input_len == 5 && memcmp(jobs[0].input, img, 5) == 0,
                 "input bytes round-trip (with a NUL byte)");
        TH_EQ_STR(jobs[0].input_type, "image/png", "input type");
        TH_EQ_INT(jobs[0].attempts, 1, "attempts counted at claim");
        TH_CHECK(strstr(jobs[0].params_json, "short") != NULL, "params to the worker");
        const uint8_t out[3] = {9, 0, 9};
        TH_EQ_INT(jq_job_complete(c, "w-get", id, "{\"caption\":\"a cat\"}", out, 3, "image/png",
                                  "{\"run_ms\":3}", &e),
                  JQ_OK, "complete");
        uint8_t *b = NULL;
        size_t bl = 0;
        char type[64];
        TH_EQ_INT(jq_job_result_bytes_get(c, tenant_a, id, &b, &bl, type, &e), JQ_OK,
                  "result bytes");
        TH_CHECK(bl == 3 && b && memcmp(b, out, 3) == 0, "result bytes round-trip");
        free(b);
        TH_CHECK(json_has(c, tenant_a, id, "\"caption\": \"a cat\""), "result JSON kept");
        TH_CHECK(json_has(c, tenant_a, id, "\"state\" : \"succeeded\""), "succeeded");
        TH_CHECK(json_has(c, tenant_a, id, "\"input_bytes\" : 5"), "history keeps input size");
        TH_EQ_INT(jq_job_complete(c, "w-get", id, "{}", NULL, 0, NULL, NULL, &e), JQ_ERR_CONFLICT,
                  "a second complete is rejected");
    }
    jq_jobs_free(jobs, n);
}

static void t_tier_order(struct pgx *c)
{
    int64_t id[4];
    for (int t = 0; t < 4; t++)
        id[t] = enq(c, tenant_a, "m_order", t);
    int ok = 1;
    for (int t = 3; t >= 0; t--) {
        int64_t got = claim1(c, "w-order", "m_order", 30);
        if (got != id[t]) {
            printf("# expected tier %d job %lld, got %lld\n", t, (long long)id[t], (long long)got);
            ok = 0;
        }
    }
    TH_CHECK(ok, "claims come in tier order 3, 2, 1, 0 (enqueued 0..3)");
    TH_EQ_INT(claim1(c, "w-order", "m_order", 30), 0, "then the queue is empty");
}

static void t_same_model_batch(struct pgx *c)
{
    struct err e;
    for (int i = 0; i < 4; i++) {
        enq(c, tenant_a, "m_bx", 2);
        enq(c, tenant_a, "m_by", 2);
    }
    const char *models[2] = {"m_bx", "m_by"};
    struct jq_job *jobs;
    int n;
    TH_EQ_INT(jq_job_claim(c, "w-b", "dev0", models, 2, 8, 30, &jobs, &n, &e), JQ_OK, "claim");
    int same = n == 4;
    for (int i = 0; i < n; i++)
        same &= strcmp(jobs[i].model, "m_bx") == 0;
    TH_CHECK(same, "a batch claim takes the 4 jobs of the head's model only (got %d)", n);
    int64_t ids[8];
    const char *res[8];
    for (int i = 0; i < n; i++) {
        ids[i] = jobs[i].id;
        res[i] = NULL;
    }
    int done = 0;
    TH_EQ_INT(jq_job_complete_many(c, "w-b", ids, res, n, &done, &e), JQ_OK, "complete_many");
    TH_EQ_INT(done, 4, "all 4 completed in one statement");
    TH_EQ_INT(jq_job_complete_many(c, "w-b", ids, res, n, &done, &e), JQ_OK, "complete_many again");
    TH_EQ_INT(done, 0, "none completed twice");
    jq_jobs_free(jobs, n);
    const char *other[1] = {"m_none"};
    TH_EQ_INT(jq_job_claim(c, "w-b", "dev0", other, 1, 8, 30, &jobs, &n, &e), JQ_EMPTY,
              "a worker without the model gets nothing");
    TH_EQ_INT(jq_job_claim(c, "w-b", "dev0", models + 1, 1, 8, 30, &jobs, &n, &e), JQ_OK,
              "the other model");
    TH_EQ_INT(n, 4, "its 4 jobs");
    for (int i = 0; i < n; i++)
        jq_job_complete(c, "w-b", jobs[i].id, NULL, NULL, 0, NULL, NULL, &e);
    jq_jobs_free(jobs, n);
}

/* isolation-style: session 1 holds its claim open in a transaction */
static void t_skip_locked(struct pgx *c1, struct pgx *c2)
{
    struct err e;
    int64_t a = enq(c1, tenant_a, "m_skip", 2), b = enq(c1, tenant_a, "m_skip", 2);
    TH_EQ_INT(jq_tx_begin(c1, &e), JQ_OK, "s1: begin");
    int64_t g1 = claim1(c1, "w-s1", "m_skip", 30);
    TH_EQ_INT(g1, a, "s1: claims the first job (uncommitted)");
    int64_t g2 = claim1(c2, "w-s2", "m_skip", 30);
    TH_EQ_INT(g2, b, "s2: skips the row s1 has locked and takes the second");
    TH_EQ_INT(claim1(c2, "w-s2", "m_skip", 30), 0, "s2: nothing else");
    TH_EQ_INT(jq_tx_rollback(c1, &e), JQ_OK, "s1: rollback (a crash mid-claim)");
    TH_EQ_INT(claim1(c2, "w-s2", "m_skip", 30), a, "s2: the rolled-back job is claimable");
    jq_job_complete(c2, "w-s2", a, NULL, NULL, 0, NULL, NULL, &e);
    jq_job_complete(c2, "w-s2", b, NULL, NULL, 0, NULL, NULL, &e);
}

struct conc_arg {
    int idx, n_claimed, errors;
    int64_t *seen; /* [cap] */
    int cap;
};

static void *conc_worker(void *p)
{
    struct conc_arg *a = p;
    struct pgx *c = conn();
    char name[32];
    snprintf(name, sizeof(name), "w-conc-%d", a->idx);
    const char *models[1] = {"m_conc"};
    int empty = 0;
    for (int guard = 0; guard < 100000 && empty < 3; guard++) {
        struct jq_job *jobs;
        int n;
        struct err e;
        int rc = jq_job_claim(c, name, "dev", models, 1, 8, 30, &jobs, &n, &e);
        if (rc == JQ_EMPTY) {
            empty++;
            sleep_ms(5);
            continue;
        }
        if (rc != JQ_OK) {
            a->errors++;
            continue;
        }
        empty = 0;
        for (int i = 0; i < n; i++) {
            if (a->n_claimed < a->cap)
                a->seen[a->n_claimed++] = jobs[i].id;
            if (jq_job_complete(c, name, jobs[i].id, "{}", NULL, 0, NULL, NULL, &e) != JQ_OK)
                a->errors++;
        }
        jq_jobs_free(jobs, n);
    }
    pgx_free(c);
    return NULL;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static void t_concurrent_claims(struct pgx *c)
{
    enum { N = 2000, W = 4 };
    struct err e;
    jq_tx_begin(c, &e);
    for (int i = 0; i < N; i++)
        enq(c, i % 2 ? tenant_a : tenant_b, "m_conc", i % 4);
    jq_tx_commit(c, &e);
    pthread_t th[W];
    struct conc_arg args[W];
    for (int i = 0; i < W; i++) {
        args[i] = (struct conc_arg){.idx = i, .cap = N, .seen = cm_xcalloc(N, 8)};
        pthread_create(&th[i], NULL, conc_worker, &args[i]);
    }
    int64_t *all = cm_xcalloc(N * W, 8);
    int total = 0, errors = 0, busy = 0;
    for (int i = 0; i < W; i++) {
        pthread_join(th[i], NULL);
        memcpy(all + total, args[i].seen, (size_t)args[i].n_claimed * 8);
        total += args[i].n_claimed;
        errors += args[i].errors;
        busy += args[i].n_claimed > 0;
        free(args[i].seen);
    }
    qsort(all, (size_t)total, 8, cmp_i64);
    int dups = 0;
    for (int i = 1; i < total; i++)
        dups += all[i] == all[i - 1];
    free(all);
    TH_EQ_INT(total, N, "%d claimers got all %d jobs", W, N);
    TH_EQ_INT(dups, 0, "no job was claimed twice");
    TH_EQ_INT(errors, 0, "no claim or complete failed");
    TH_EQ_INT(busy, W, "every claimer got work");
}

static void t_lease_expiry(struct pgx *c)
{
    struct err e;
    struct jq_new_job j = {
        .tenant_id = tenant_a, .task = "caption", .model = "m_lease", .tier = 2, .max_attempts = 2};
    int64_t id = 0, other;
    jq_job_enqueue(c, &j, &id, NULL, &e);
    TH_EQ_INT(claim1(c, "w-dead", "m_lease", 1), id, "w-dead claims with a 1 s lease");
    sleep_ms(1300);
    int changed = 0;
    TH_EQ_INT(jq_requeue_expired(c, &changed, &e), JQ_OK, "requeue_expired");
    TH_CHECK(changed >= 1, "the expired lease was requeued (%d)", changed);
    char st[32];
    job_state(c, tenant_a, id, st, sizeof(st));
    TH_EQ_STR(st, "queued", "back to queued");
    TH_CHECK(json_has(c, tenant_a, id, "lease expired on worker w-dead"), "error says why");
    TH_EQ_INT(claim1(c, "w-live", "m_lease", 1), id, "another worker claims it again");
    TH_CHECK(json_has(c, tenant_a, id, "\"attempts\" : 2"), "attempts is now 2");
    TH_EQ_INT(jq_job_complete(c, "w-dead", id, "{}", NULL, 0, NULL, NULL, &e), JQ_ERR_CONFLICT,
              "the dead worker cannot complete it (lease lost)");
    int cancel[1] = {9};
    TH_EQ_INT(jq_job_heartbeat(c, "w-dead", &id, 1, 30, cancel, &e), JQ_OK, "heartbeat");
    TH_EQ_INT(cancel[0], -1, "the dead worker's heartbeat reports the lease lost");
    sleep_ms(1300);
    jq_requeue_expired(c, &changed, &e);
    job_state(c, tenant_a, id, st, sizeof(st));
    TH_EQ_STR(st, "failed", "after max_attempts (2) expiries the job failed");
    TH_CHECK(json_has(c, tenant_a, id, "after 2 attempts"), "final error kept");

    /* a heartbeat keeps a lease alive */
    other = enq(c, tenant_a, "m_lease", 2);
    TH_EQ_INT(claim1(c, "w-hb", "m_lease", 1), other, "claim with 1 s lease");
    sleep_ms(600);
    TH_EQ_INT(jq_job_heartbeat(c, "w-hb", &other, 1, 3, cancel, &e), JQ_OK, "heartbeat");
    TH_EQ_INT(cancel[0], 0, "heartbeat: fine");
    sleep_ms(800);
    jq_requeue_expired(c, &changed, &e);
    job_state(c, tenant_a, other, st, sizeof(st));
    TH_EQ_STR(st, "running", "a renewed lease is not expired");
    TH_EQ_INT(jq_job_complete(c, "w-hb", other, "{}", NULL, 0, NULL, NULL, &e), JQ_OK,
              "complete after heartbeat");
}

static void t_retry(struct pgx *c)
{
    struct err e;
    settings(c, -1, -1, -1, 300);
    struct jq_new_job j = {
        .tenant_id = tenant_a, .task = "caption", .model = "m_retry", .tier = 2, .max_attempts = 2};
    int64_t id = 0;
    jq_job_enqueue(c, &j, &id, NULL, &e);
    TH_EQ_INT(claim1(c, "w-r", "m_retry", 30), id, "claim");
    int st = -1;
    TH_EQ_INT(jq_job_fail_state(c, "w-r", id, "could not allocate device memory", 1, &st, &e),
              JQ_OK, "transient failure");
    TH_EQ_INT(st, JQ_STATE_QUEUED, "requeued");
    TH_EQ_INT(claim1(c, "w-r", "m_retry", 30), 0, "not claimable during the backoff");
    sleep_ms(450);
    TH_EQ_INT(claim1(c, "w-r", "m_retry", 30), id, "claimable after the backoff (300 ms)");
    TH_EQ_INT(jq_job_fail_state(c, "w-r", id, "could not allocate device memory again", 1, &st, &e),
              JQ_OK, "second transient failure");
    TH_EQ_INT(st, JQ_STATE_FAILED, "attempts exhausted: failed");
    TH_CHECK(json_has(c, tenant_a, id, "could not allocate device memory again"),
             "the last error is kept");
    TH_EQ_INT(jq_job_fail(c, "w-r", id, "x", 1, &e), JQ_ERR_CONFLICT, "fail after final");

    int64_t p = enq(c, tenant_a, "m_retry", 2);
    claim1(c, "w-r", "m_retry", 30);
    TH_EQ_INT(jq_job_fail_state(c, "w-r", p, "invalid image: 0x0", 0, &st, &e), JQ_OK,
              "permanent failure");
    TH_EQ_INT(st, JQ_STATE_FAILED, "a permanent error fails at once");
    settings(c, -1, -1, -1, 2000);
}

static void t_cancel(struct pgx *c)
{
    struct err e;
    int st = -1;
    int64_t q = enq(c, tenant_a, "m_cancel", 2);
    TH_EQ_INT(jq_job_cancel(c, tenant_b, q, &st, &e), JQ_ERR_NOT_FOUND,
              "another tenant cannot cancel (404)");
    TH_EQ_INT(jq_job_cancel(c, tenant_a, q, &st, &e), JQ_OK, "cancel a queued job");
    TH_EQ_INT(st, JQ_STATE_CANCELED, "canceled at once");
    TH_EQ_INT(jq_job_cancel(c, tenant_a, q, &st, &e), JQ_ERR_CONFLICT, "cancel again: final");
    TH_EQ_INT(st, JQ_STATE_CANCELED, "state reported");
    TH_EQ_INT(claim1(c, "w-c", "m_cancel", 30), 0, "a canceled job is never claimed");

    struct pgx *l = conn();
    jq_listen(l, JQ_CHAN_JOB_CANCEL, &e);
    int64_t r = enq(c, tenant_a, "m_cancel", 2);
    TH_EQ_INT(claim1(c, "w-c", "m_cancel", 30), r, "claim");
    TH_EQ_INT(jq_job_cancel(c, tenant_a, r, &st, &e), JQ_OK, "cancel a running job");
    TH_EQ_INT(st, JQ_STATE_CANCEL_REQUESTED, "cancel requested");
    char payload[64] = "";
    TH_EQ_INT(jq_wait_notify(l, 2000, payload, sizeof(payload), &e), JQ_OK,
              "the worker is told (NOTIFY vkv_job_cancel)");
    TH_EQ_INT(strtoll(payload, NULL, 10), r, "payload is the job id");
    int cancel[1] = {0};
    jq_job_heartbeat(c, "w-c", &r, 1, 30, cancel, &e);
    TH_EQ_INT(cancel[0], 1, "heartbeat reports the cancel");
    TH_EQ_INT(jq_job_fail_state(c, "w-c", r, "canceled at checkpoint", 1, &st, &e), JQ_OK,
              "worker stops at its checkpoint");
    TH_EQ_INT(st, JQ_STATE_CANCELED, "the job ends canceled");
    pgx_free(l);
}

/* text generation: progress published by the job's worker only and only
 * growing, read by a stream; a running job suspended for a higher tier is
 * queued again, uncharged, with its tokens (migration 0006) */
static void t_stream_suspend(struct pgx *c)
{
    struct err e;
    int st = -1, yes = -1;
    char *text = NULL;
    int64_t id = enq(c, tenant_a, "m_gen", 0);
    TH_EQ_INT(claim1(c, "w-gen", "m_gen", 30), id, "claim the BACKGROUND generation");
    struct pgx *l = conn();
    TH_EQ_INT(jq_stream_open(l, id, &e), JQ_OK, "follow the job's text");
    TH_EQ_INT(jq_stream_wait(l, tenant_a, id, 0, 50, &st, &text, &e), JQ_EMPTY,
              "no text yet: the wait times out");
    free(text);
    TH_EQ_INT(jq_job_progress(c, "w-other", id, "A", &e), JQ_ERR_CONFLICT,
              "another worker cannot publish");
    TH_EQ_INT(jq_job_progress(c, "w-gen", id, "A cat", &e), JQ_OK, "publish");
    TH_EQ_INT(jq_stream_wait(l, tenant_a, id, 0, 2000, &st, &text, &e), JQ_OK,
              "the stream sees it");
    TH_CHECK(text != NULL && strcmp(text, "A cat") == 0, "the text so far (%s)", text ? text : "-");
    TH_EQ_INT(st, JQ_STATE_RUNNING, "running");
    free(text);
    TH_EQ_INT(jq_job_progress(c, "w-gen", id, "A", &e), JQ_OK, "a shorter text is accepted...");
    TH_EQ_INT(jq_stream_wait(l, tenant_a, id, 0, 50, &st, &text, &e), JQ_OK, "...but not written");
    TH_CHECK(text != NULL && strcmp(text, "A cat") == 0, "the text stays (%s)", text ? text : "-");
    free(text);
    TH_EQ_INT(jq_stream_wait(l, tenant_b, id, 0, 50, &st, &text, &e), JQ_ERR_NOT_FOUND,
              "another tenant cannot follow it");
    free(text);

    TH_EQ_INT(jq_job_higher_waiting(c, "m_gen", 0, &yes, &e), JQ_OK, "ask for a higher tier");
    TH_EQ_INT(yes, 0, "none waits");
    int64_t hi = enq(c, tenant_a, "m_gen", 3);
    TH_EQ_INT(jq_job_higher_waiting(c, "m_gen", 0, &yes, &e), JQ_OK, "ask again");
    TH_EQ_INT(yes, 1, "the IMMEDIATE job waits");
    TH_EQ_INT(jq_job_higher_waiting(c, "m_gen", 3, &yes, &e), JQ_OK, "ask for above IMMEDIATE");
    TH_EQ_INT(yes, 0, "nothing is above IMMEDIATE");
    TH_EQ_INT(jq_job_suspend(c, "w-other", id, "[1,2]", &st, &e), JQ_ERR_CONFLICT,
              "another worker cannot suspend it");
    TH_EQ_INT(jq_job_suspend(c, "w-gen", id, "[464,3797]", &st, &e), JQ_OK, "suspend");
    TH_EQ_INT(st, JQ_STATE_QUEUED, "queued again");
    TH_CHECK(json_has(c, tenant_a, id, "464, 3797") || json_has(c, tenant_a, id, "464,3797"),
             "its tokens are in params.resume_tokens");
    TH_EQ_INT(claim1(c, "w-gen", "m_gen", 30), hi, "the next claim takes the IMMEDIATE job");
    TH_EQ_INT(claim1(c, "w-gen", "m_gen", 30), id, "then the suspended one again");
    TH_CHECK(json_has(c, tenant_a, id, "\"attempts\": 1") ||
                 json_has(c, tenant_a, id, "\"attempts\" : 1"),
             "the suspension charged no attempt");
    TH_EQ_INT(jq_job_cancel(c, tenant_a, id, &st, &e), JQ_OK, "cancel it while running");
    TH_EQ_INT(jq_job_suspend(c, "w-gen", id, NULL, &st, &e), JQ_OK, "suspend after the cancel");
    TH_EQ_INT(st, JQ_STATE_CANCELED, "reported canceled, for the worker to end it so");
    TH_EQ_INT(jq_job_fail_state(c, "w-gen", id, "canceled", 1, &st, &e), JQ_OK, "end it");
    TH_EQ_INT(jq_stream_wait(l, tenant_a, id, 5, 2000, &st, &text, &e), JQ_OK,
              "the stream ends with the job");
    TH_EQ_INT(st, JQ_STATE_CANCELED, "final state canceled");
    free(text);
    jq_stream_close(l, id);
    TH_EQ_INT(jq_job_fail_state(c, "w-gen", hi, "done", 1, &st, &e), JQ_OK, "end the other");
    pgx_free(l);
}

static void t_deadline(struct pgx *c)
{
    struct err e;
    struct jq_new_job j = {.tenant_id = tenant_a,
                           .task = "caption",
                           .model = "m_deadline",
                           .tier = 0,
                           .deadline_ms = 150};
    int64_t id = 0;
    jq_job_enqueue(c, &j, &id, NULL, &e);
    sleep_ms(300);
    TH_EQ_INT(claim1(c, "w-d", "m_deadline", 30), 0, "past its deadline: not claimed");
    int n = 0;
    jq_requeue_expired(c, &n, &e);
    char st[32];
    job_state(c, tenant_a, id, st, sizeof(st));
    TH_EQ_STR(st, "expired", "ends as expired");
    j.deadline_ms = 60000;
    jq_job_enqueue(c, &j, &id, NULL, &e);
    TH_EQ_INT(claim1(c, "w-d", "m_deadline", 30), id, "within its deadline: claimed");
    jq_job_complete(c, "w-d", id, NULL, NULL, 0, NULL, NULL, &e);
}

struct idem_arg {
    int64_t id;
    int existed;
};

static void *idem_thread(void *p)
{
    struct idem_arg *a = p;
    struct pgx *c = conn();
    struct err e;
    struct jq_new_job j = {.tenant_id = tenant_a,
                           .task = "caption",
                           .model = "m_idem",
                           .tier = 1,
                           .idempotency_key = "race-key"};
    if (jq_job_enqueue(c, &j, &a->id, &a->existed, &e) != JQ_OK)
        printf("# idem thread: %s\n", e.msg);
    pgx_free(c);
    return NULL;
}

static void t_idempotency(struct pgx *c)
{
    struct err e;
    struct jq_new_job j = {.tenant_id = tenant_a,
                           .task = "caption",
                           .model = "m_idem",
                           .tier = 1,
                           .idempotency_key = "upload-17"};
    int64_t a = 0, b = 0, x = 0;
    int ex = -1;
    TH_EQ_INT(jq_job_enqueue(c, &j, &a, &ex, &e), JQ_OK, "first enqueue with a key");
    TH_EQ_INT(ex, 0, "new");
    TH_EQ_INT(jq_job_enqueue(c, &j, &b, &ex, &e), JQ_OK, "same key again");
    TH_EQ_INT(ex, 1, "existed");
    TH_EQ_INT(b, a, "same job id");
    j.tenant_id = tenant_b;
    TH_EQ_INT(jq_job_enqueue(c, &j, &x, &ex, &e), JQ_OK, "same key, other tenant");
    TH_CHECK(x != a && ex == 0, "other tenant gets its own job");
    /* still the same job once it finished */
    TH_EQ_INT(claim1(c, "w-i", "m_idem", 30) > 0, 1, "claim");
    TH_EQ_INT(claim1(c, "w-i", "m_idem", 30) > 0, 1, "claim");
    jq_job_complete(c, "w-i", a, NULL, NULL, 0, NULL, NULL, &e);
    jq_job_complete(c, "w-i", x, NULL, NULL, 0, NULL, NULL, &e);
    j.tenant_id = tenant_a;
    TH_EQ_INT(jq_job_enqueue(c, &j, &b, &ex, &e), JQ_OK, "key after the job finished");
    TH_CHECK(b == a && ex == 1, "still the first job");

    pthread_t t1, t2;
    struct idem_arg r1 = {0}, r2 = {0};
    pthread_create(&t1, NULL, idem_thread, &r1);
    pthread_create(&t2, NULL, idem_thread, &r2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    TH_CHECK(r1.id > 0 && r1.id == r2.id, "two concurrent requests with one key: one job");
    TH_EQ_INT(r1.existed + r2.existed, 1, "exactly one of them created it");
    int64_t g = claim1(c, "w-i", "m_idem", 30);
    TH_EQ_INT(g, r1.id, "that job exists");
    TH_EQ_INT(claim1(c, "w-i", "m_idem", 30), 0, "and only that one");
    jq_job_complete(c, "w-i", g, NULL, NULL, 0, NULL, NULL, &e);
}

static void t_pause(struct pgx *c)
{
    struct err e;
    TH_EQ_INT(jq_tier_pause(c, 2, &e), JQ_OK, "pause INTERACTIVE");
    int64_t id = enq(c, tenant_a, "m_pause", 2);
    TH_CHECK(id > 0, "a paused tier still accepts jobs");
    int64_t low = enq(c, tenant_a, "m_pause", 0);
    TH_EQ_INT(claim1(c, "w-p", "m_pause", 30), low, "claims skip the paused tier");
    char *json = NULL;
    jq_queue_stats_json(c, &json, &e);
    TH_CHECK(json && strstr(json, "\"paused\" : [2]"), "queue stats list the paused tier");
    for (int t = 0; t < JQ_TIERS; t++) {
        /* one vocabulary: the tiers table names what jq_tier_str names */
        char want[64];
        snprintf(want, sizeof(want), "\"tier\" : %d, \"name\" : \"%s\"", t, jq_tier_str(t));
        TH_CHECK(json && strstr(json, want), "tiers table and jq_tier_str agree on %s",
                 jq_tier_str(t));
    }
    free(json);
    TH_EQ_INT(jq_tier_resume(c, 2, &e), JQ_OK, "resume");
    TH_EQ_INT(claim1(c, "w-p", "m_pause", 30), id, "claimable after resume");
    TH_EQ_INT(jq_tier_pause(c, 7, &e), JQ_ERR_INVALID, "tier 7 invalid");
    jq_job_complete(c, "w-p", id, NULL, NULL, 0, NULL, NULL, &e);
    jq_job_complete(c, "w-p", low, NULL, NULL, 0, NULL, NULL, &e);
}

/*
 * No starvation: one BACKGROUND job under a sustained IMMEDIATE flood that
 * never lets the IMMEDIATE queue run dry.  With aging 400 ms and the aged
 * lane every 100 ms, the bound is aging + interval + one service time.
 */
static void t_starvation(struct pgx *c)
{
    struct err e;
    settings(c, 400, 100, -1, -1);
    for (int i = 0; i < 20; i++)
        enq(c, tenant_b, "m_starve", 3);
    int64_t bg = enq(c, tenant_a, "m_starve", 0);
    double t0 = cm_now_ms(), got_at = -1;
    int served_immediate = 0;
    for (int i = 0; i < 2000 && cm_now_ms() - t0 < 5000; i++) {
        int64_t id = claim1(c, "w-st", "m_starve", 30);
        if (id == 0)
            break;
        sleep_ms(5); /* service time */
        jq_job_complete(c, "w-st", id, NULL, NULL, 0, NULL, NULL, &e);
        if (id == bg) {
            got_at = cm_now_ms() - t0;
            break;
        }
        served_immediate++;
        enq(c, tenant_b, "m_starve", 3); /* keep the flood going */
    }
    printf("# BACKGROUND job served after %.0f ms, %d IMMEDIATE jobs first\n", got_at,
           served_immediate);
    TH_CHECK(got_at >= 0, "the BACKGROUND job ran under the IMMEDIATE flood");
    TH_CHECK(got_at >= 350, "it waited for aging (strict priority before): %.0f ms", got_at);
    TH_CHECK(got_at < 400 + 100 + 300, "within aging + interval + slack: %.0f ms", got_at);
    /* drain the flood */
    for (int64_t id; (id = claim1(c, "w-st", "m_starve", 30)) > 0;)
        jq_job_complete(c, "w-st", id, NULL, NULL, 0, NULL, NULL, &e);
    settings(c, 10000, 1000, -1, -1);
}

/* an IMMEDIATE job under a BACKGROUND album: the very next claim */
static void t_immediate_under_flood(struct pgx *c)
{
    struct err e;
    jq_tx_begin(c, &e);
    for (int i = 0; i < 500; i++)
        enq(c, tenant_a, "m_flood", 0);
    jq_tx_commit(c, &e);
    for (int i = 0; i < 10; i++) {
        int64_t id = claim1(c, "w-f", "m_flood", 30);
        jq_job_complete(c, "w-f", id, NULL, NULL, 0, NULL, NULL, &e);
    }
    int64_t imm = enq(c, tenant_b, "m_flood", 3);
    int64_t next = claim1(c, "w-f", "m_flood", 30);
    TH_EQ_INT(next, imm,
              "the next claim after an IMMEDIATE enqueue takes it, 490 BACKGROUND "
              "jobs waiting");
    jq_job_complete(c, "w-f", next, NULL, NULL, 0, NULL, NULL, &e);
    for (int64_t id; (id = claim1(c, "w-f", "m_flood", 30)) > 0;)
        jq_job_complete(c, "w-f", id, NULL, NULL, 0, NULL, NULL, &e);
}

/* one tenant's 1,000-image album does not delay another's single image */
static void t_fairness(struct pgx *c)
{
    struct err e;
    int64_t batch = 0;
    TH_EQ_INT(jq_batch_create(c, tenant_a, 0, 1000, "album", &batch, &e), JQ_OK, "batch");
    jq_tx_begin(c, &e);
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        struct jq_new_job j = {.tenant_id = tenant_a,
                               .task = "caption",
                               .model = "m_fair",
                               .tier = 0,
                               .batch_id = batch};
        int64_t id;
        ok &= jq_job_enqueue(c, &j, &id, NULL, &e) == JQ_OK;
    }
    jq_tx_commit(c, &e);
    TH_CHECK(ok, "album of 1000 enqueued in one transaction");
    for (int i = 0; i < 5; i++) {
        int64_t id = claim1(c, "w-fair", "m_fair", 30);
        jq_job_complete(c, "w-fair", id, NULL, NULL, 0, NULL, NULL, &e);
    }
    int64_t single = enq(c, tenant_b, "m_fair", 0);
    int pos = -1;
    for (int i = 0; i < 1000; i++) {
        int64_t id = claim1(c, "w-fair", "m_fair", 30);
        if (id == 0)
            break;
        jq_job_complete(c, "w-fair", id, NULL, NULL, 0, NULL, NULL, &e);
        if (id == single) {
            pos = i;
            break;
        }
    }
    printf("# tenant b's job was claim number %d after it arrived (995 album jobs queued)\n",
           pos + 1);
    TH_CHECK(pos >= 0 && pos <= 1, "tenant b's single job is served within 2 claims");
    char *json = NULL;
    TH_EQ_INT(jq_batch_get_json(c, tenant_a, batch, &json, &e), JQ_OK, "batch progress");
    TH_CHECK(json && strstr(json, "\"succeeded\" : 5") && strstr(json, "\"total\" : 1000") &&
                 strstr(json, "\"done\" : false"),
             "batch counts: %s", json ? json : "");
    free(json);
    TH_EQ_INT(jq_batch_get_json(c, tenant_b, batch, &json, &e), JQ_ERR_NOT_FOUND,
              "another tenant's batch is not found");
    struct jq_job_filter f = {.state = JQ_STATE_QUEUED, .tier = 0, .batch_id = batch};
    TH_EQ_INT(jq_job_list_json(c, tenant_a, &f, 10, 0, &json, &e), JQ_OK, "list");
    const char *nc = json ? strstr(json, "\"next_cursor\" : ") : NULL;
    int64_t cursor = nc ? strtoll(nc + 16, NULL, 10) : 0;
    TH_CHECK(cursor > 0, "a full page has a next cursor");
    free(json);
    TH_EQ_INT(jq_job_list_json(c, tenant_a, &f, 10, cursor, &json, &e), JQ_OK, "next page");
    char want[48];
    snprintf(want, sizeof(want), "\"id\" : %lld", (long long)(cursor - 1));
    TH_CHECK(json && strstr(json, want), "the next page starts below the cursor");
    free(json);
    TH_EQ_INT(jq_job_list_json(c, tenant_b, &f, 10, 0, &json, &e), JQ_OK, "list as b");
    TH_CHECK(json && strstr(json, "\"jobs\" : []"), "b sees none of a's jobs");
    free(json);
    f.created_after = "not a time";
    TH_EQ_INT(jq_job_list_json(c, tenant_a, &f, 10, 0, &json, &e), JQ_ERR_INVALID,
              "bad created_after -> invalid");
    int64_t gone = 0;
    int st;
    /* rollback leaves nothing */
    jq_tx_begin(c, &e);
    int64_t rb = enq(c, tenant_a, "m_fair", 0);
    jq_tx_rollback(c, &e);
    TH_EQ_INT(jq_job_get_json(c, tenant_a, rb, &json, &e), JQ_ERR_NOT_FOUND,
              "a rolled-back enqueue leaves no job");
    /* cancel the rest of the album quickly through the admin path */
    for (int i = 0; i < 1000; i++) {
        int64_t id = claim1(c, "w-fair", "m_fair", 30);
        if (id == 0)
            break;
        jq_job_fail_state(c, "w-fair", id, "test drain", 0, &st, &e);
        gone++;
    }
    TH_EQ_INT(gone, 995, "the rest drained");
}

struct late_arg {
    struct pgx *c; /* opened before the thread starts */
    int64_t ids[8];
    int n;
};

/* completes ids as one batch after 300 ms, on its own connection */
static void *late_complete(void *p)
{
    struct late_arg *a = p;
    struct pgx *c = a->c;
    struct err e;
    const char *res[8] = {0};
    int done = 0;
    sleep_ms(300);
    jq_job_complete_many(c, "w-nb", a->ids, res, a->n, &done, &e);
    pgx_free(c);
    return NULL;
}

static void t_notify_wait(struct pgx *c)
{
    struct err e;
    struct pgx *l = conn();
    TH_EQ_INT(jq_listen(l, JQ_CHAN_JOB_NEW, &e), JQ_OK, "LISTEN job_new");
    enq(c, tenant_a, "m_notify", 2);
    char payload[64] = "";
    double t0 = cm_now_ms();
    TH_EQ_INT(jq_wait_notify(l, 2000, payload, sizeof(payload), &e), JQ_OK, "woken");
    TH_CHECK(cm_now_ms() - t0 < 1000, "woken by NOTIFY, not by the timeout");
    TH_EQ_STR(payload, "m_notify", "payload is the model");
    TH_EQ_INT(jq_wait_notify(l, 100, payload, sizeof(payload), &e), JQ_EMPTY,
              "nothing more: timeout");
    enq(c, tenant_a, "m_notify", 2);
    TH_EQ_INT(jq_wait_notify(l, 300, payload, sizeof(payload), &e), JQ_EMPTY,
              "no NOTIFY when a job of the model and tier was already waiting");
    enq(c, tenant_a, "m_notify", 3);
    TH_EQ_INT(jq_wait_notify(l, 2000, payload, sizeof(payload), &e), JQ_OK,
              "IMMEDIATE always NOTIFYs");
    int64_t id = claim1(c, "w-n", "m_notify", 30);
    char *json = NULL;
    t0 = cm_now_ms();
    TH_EQ_INT(jq_job_wait_done(l, tenant_a, id, 300, &json, &e), JQ_EMPTY,
              "wait_done times out while running");
    TH_CHECK(json && strstr(json, "running"), "with the current state");
    free(json);
    jq_job_complete(c, "w-n", id, "{\"ok\":1}", NULL, 0, NULL, NULL, &e);
    TH_EQ_INT(jq_job_wait_done(l, tenant_a, id, 2000, &json, &e), JQ_OK, "wait_done: final");
    TH_CHECK(json && strstr(json, "succeeded"), "final JSON");
    free(json);
    TH_EQ_INT(jq_job_wait_done(l, tenant_b, id, 100, &json, &e), JQ_ERR_NOT_FOUND,
              "wait on another tenant's job: not found");

    /* a batched completion sends one notification listing every id */
    for (int i = 0; i < 3; i++)
        enq(c, tenant_a, "m_notify_b", 2);
    const char *models[1] = {"m_notify_b"};
    struct jq_job *jobs;
    int n = 0;
    jq_job_claim(c, "w-nb", "d", models, 1, 8, 30, &jobs, &n, &e);
    TH_EQ_INT(n, 3, "claimed a batch of 3");
    if (n == 3) {
        static struct late_arg la;
        la = (struct late_arg){.n = 3, .c = conn()};
        for (int i = 0; i < 3; i++)
            la.ids[i] = jobs[i].id;
        pthread_t th;
        pthread_create(&th, NULL, late_complete, &la);
        t0 = cm_now_ms();
        TH_EQ_INT(jq_job_wait_done(l, tenant_a, jobs[1].id, 3000, &json, &e), JQ_OK,
                  "wait_done on the middle job of a batch");
        double took = cm_now_ms() - t0;
        TH_CHECK(took < 800,
                 "woken by the batch's notification 300 ms in, not by the 1 s "
                 "poll (%.0f ms)",
                 took);
        free(json);
        pthread_join(th, NULL);
    }
    jq_jobs_free(jobs, n);

    TH_CHECK(jq_done_payload_has("12,7,30", 7) && jq_done_payload_has("7", 7) &&
                 !jq_done_payload_has("12,70", 7) && !jq_done_payload_has("77,17", 7) &&
                 !jq_done_payload_has("", 7),
             "jq_done_payload_has: the id among a payload's ids, no substring match");
    pgx_free(l);
}

/* enqueues one job of model on c for tenant_a with c's wait channel */
static int64_t enq_wait(struct pgx *c, const char *model, const char *idem, const char *chan)
{
    struct jq_new_job j = {.tenant_id = tenant_a,
                           .task = "caption",
                           .model = model,
                           .tier = 3,
                           .idempotency_key = idem,
                           .wait_channel = chan};
    int64_t id = 0;
    struct err e;
    if (jq_job_enqueue(c, &j, &id, NULL, &e) != JQ_OK)
        printf("# enqueue failed: %s\n", e.msg);
    return id;
}

/* waits for id on l (no first look, as api_call_sync) and checks that the
 * JSON came on the wait channel (hit = 1) or from the read (hit = 0), and
 * that it is the text a read gives */
static void wait_check(struct pgx *l, int64_t id, int hit, const char *what)
{
    struct err e;
    char *json = NULL, *read = NULL;
    long long h0 = jq_wait_hits(l);
    TH_EQ_INT(jq_job_wait_done_ex(l, tenant_a, id, 3000, 0, &json, &e), JQ_OK, "%s: final", what);
    TH_EQ_INT((int)(jq_wait_hits(l) - h0), hit, "%s: %s", what,
              hit ? "the JSON came in the notification" : "the JSON came from a read");
    TH_EQ_INT(jq_job_get_json(l, tenant_a, id, &read, &e), JQ_OK, "%s: read", what);
    TH_CHECK(json != NULL && read != NULL && strcmp(json, read) == 0,
             "%s: the same text as a read after the commit", what);
    if (json != NULL && read != NULL && strcmp(json, read) != 0)
        printf("# notified %s\n# read     %s\n", json, read);
    free(json);
    free(read);
}

static void t_wait_channel(struct pgx *c)
{
    struct err e;
    struct pgx *l = conn(), *other = conn();
    const char *ch = NULL;
    TH_EQ_INT(jq_listen(l, JQ_CHAN_JOB_DONE, &e), JQ_OK, "LISTEN job_done");
    TH_EQ_INT(jq_wait_channel(l, &ch, &e), JQ_OK, "a wait channel");
    char name[64];
    snprintf(name, sizeof(name), "%s", ch ? ch : "");
    size_t hex = strspn(name + 9, "0123456789abcdef");
    TH_CHECK(strncmp(name, "vkv_wait_", 9) == 0 && hex == 32 && name[9 + hex] == '\0',
             "named vkv_wait_ + 32 hex digits (%s)", name);
    TH_EQ_INT(jq_wait_channel(l, &ch, &e), JQ_OK, "asked again");
    TH_EQ_STR(ch, name, "the same channel for the session");
    const char *och = NULL;
    jq_wait_channel(other, &och, &e);
    TH_CHECK(och != NULL && strcmp(och, name) != 0, "another session draws another channel");
    TH_EQ_INT(jq_listen(other, JQ_CHAN_JOB_DONE, &e), JQ_OK, "the other LISTENs on job_done");

    /* succeeded, both enqueue statements (plain, and with an idempotency key) */
    int64_t id = enq_wait(l, "m_wait", NULL, name);
    TH_EQ_INT((int)(claim1(c, "w-wait", "m_wait", 30) == id), 1, "claimed");
    TH_EQ_INT(jq_job_complete(c, "w-wait", id, "{\"label\":\"cat\",\"p\":0.5}", NULL, 0, NULL,
                              "{\"inference_ms\":1.5}", &e),
              JQ_OK, "completed");
    wait_check(l, id, 1, "succeeded job");
    /* vkv_job_done still carries the id alone (other waiters) */
    char payload[8192] = "", want[24];
    snprintf(want, sizeof(want), "%lld", (long long)id);
    TH_EQ_INT(jq_wait_notify(other, 2000, payload, sizeof(payload), &e), JQ_OK,
              "another session woken on vkv_job_done");
    TH_EQ_STR(payload, want, "whose payload is the id, no result");
    TH_EQ_INT(jq_wait_notify(other, 200, payload, sizeof(payload), &e), JQ_EMPTY,
              "and nothing from the waiter's channel");

    id = enq_wait(l, "m_wait", "wait-idem-1", name);
    claim1(c, "w-wait", "m_wait", 30);
    jq_job_complete(c, "w-wait", id, "{\"ok\":2}", NULL, 0, NULL, NULL, &e);
    wait_check(l, id, 1, "job with an idempotency key (jq_enqueue)");

    /* failed and canceled jobs come the same way */
    id = enq_wait(l, "m_wait", NULL, name);
    claim1(c, "w-wait", "m_wait", 30);
    int st = 0;
    TH_EQ_INT(jq_job_fail(c, "w-wait", id, "bad \"pixels\"", 0, &e), JQ_OK, "failed");
    wait_check(l, id, 1, "failed job");
    id = enq_wait(l, "m_wait", NULL, name);
    jq_job_cancel(c, tenant_a, id, &st, &e);
    wait_check(l, id, 1, "canceled job");

    /* too long for a notification: nothing on the channel, vkv_job_done and a read */
    size_t big = 9000;
    char *res = malloc(big + 16);
    memcpy(res, "{\"s\":\"", 6);
    memset(res + 6, 'x', big);
    memcpy(res + 6 + big, "\"}", 3);
    id = enq_wait(l, "m_wait", NULL, name);
    claim1(c, "w-wait", "m_wait", 30);
    TH_EQ_INT(jq_job_complete(c, "w-wait", id, res, NULL, 0, NULL, NULL, &e), JQ_OK,
              "a 9 KB result completes (the payload limit is not an error)");
    free(res);
    wait_check(l, id, 0, "9 KB result");

    /* a stale notification of an earlier job is not taken for this one */
    int64_t a = enq_wait(l, "m_wait", NULL, name), b = enq_wait(l, "m_wait", NULL, name);
    claim1(c, "w-wait", "m_wait", 30);
    jq_job_complete(c, "w-wait", a, "{\"job\":\"a\"}", NULL, 0, NULL, NULL, &e);
    char *json = NULL;
    long long h0 = jq_wait_hits(l);
    TH_EQ_INT(jq_job_wait_done_ex(l, tenant_a, b, 300, 0, &json, &e), JQ_EMPTY,
              "job b still queued: a's notification does not end b's wait");
    TH_CHECK(jq_wait_hits(l) == h0 && json && strstr(json, "queued"), "and b reads as queued");
    free(json);
    claim1(c, "w-wait", "m_wait", 30);
    jq_job_complete(c, "w-wait", b, "{\"job\":\"b\"}", NULL, 0, NULL, NULL, &e);
    wait_check(l, b, 1, "job b after a");

    /* only names job_wait_listen draws: never another channel */
    int64_t bad = 0;
    struct jq_new_job bj = {.tenant_id = tenant_a,
                            .task = "caption",
                            .model = "m_wait_bad",
                            .tier = 3,
                            .wait_channel = "vkv_job_new"};
    TH_CHECK(jq_job_enqueue(c, &bj, &bad, NULL, &e) != JQ_OK, "wait channel vkv_job_new refused");
    TH_EQ_INT(claim1(c, "w-wait", "m_wait_bad", 30), 0, "and nothing was written");

    /* after a reconnect the session has a new channel; a job stored with the
     * old one still ends the wait, through vkv_job_done and a read */
    id = enq_wait(l, "m_wait", NULL, name);
    char q[128];
    snprintf(q, sizeof(q), "select pg_terminate_backend(%d)", PQbackendPID(pgx_conn_get(l)));
    PQclear(PQexec(pgx_conn_get(c), q));
    sleep_ms(100);
    pgx_check(l, &e);
    claim1(c, "w-wait", "m_wait", 30);
    jq_job_complete(c, "w-wait", id, "{\"after\":\"reconnect\"}", NULL, 0, NULL, NULL, &e);
    wait_check(l, id, 0, "job of the old channel after a reconnect");
    TH_EQ_INT(jq_wait_channel(l, &ch, &e), JQ_OK, "a channel after the reconnect");
    TH_CHECK(ch != NULL && strncmp(ch, "vkv_wait_", 9) == 0 && strcmp(ch, name) != 0,
             "a new one (%s)", ch ? ch : "");
    snprintf(name, sizeof(name), "%s", ch ? ch : "");
    id = enq_wait(l, "m_wait", NULL, name);
    claim1(c, "w-wait", "m_wait", 30);
    jq_job_complete(c, "w-wait", id, "{\"new\":1}", NULL, 0, NULL, NULL, &e);
    wait_check(l, id, 1, "job of the new channel");
    pgx_free(l);
    pgx_free(other);
}

static void t_workers_metrics(struct pgx *c)
{
    struct err e;
    TH_EQ_INT(jq_worker_upsert(c, "host:1:gpu0", "{\"device\":\"llvmpipe\",\"vram_total\":1}", &e),
              JQ_OK, "worker upsert");
    TH_EQ_INT(
        jq_worker_upsert(c, "host:1:gpu0", "{\"device\":\"llvmpipe\",\"jobs_running\":2}", &e),
        JQ_OK, "worker upsert again");
    char *json = NULL;
    TH_EQ_INT(jq_workers_json(c, 30, &json, &e), JQ_OK, "workers");
    TH_CHECK(json && strstr(json, "\"status\" : \"up\"") && strstr(json, "jobs_running"),
             "worker is up with its latest status: %s", json ? json : "");
    free(json);
    sleep_ms(1100);
    jq_workers_json(c, 1, &json, &e);
    TH_CHECK(json && strstr(json, "\"status\" : \"down\""), "stale worker is down");
    free(json);
    TH_EQ_INT(jq_worker_upsert(c, "w", "not json", &e), JQ_ERR_INVALID, "bad device JSON");
    char *m = NULL;
    TH_EQ_INT(jq_metrics_text(c, &m, &e), JQ_OK, "metrics");
    TH_CHECK(m && strstr(m, "vkv_queue_depth{tier=\"IMMEDIATE\"}") &&
                 strstr(m, "vkv_jobs{state=\"succeeded\"}"),
             "Prometheus text");
    free(m);
}

static void t_retention(struct pgx *c)
{
    struct err e;
    int64_t n = 0;
    TH_EQ_INT(jq_retention_run(c, 1, &n, &e), JQ_OK, "retention 1 day");
    TH_EQ_INT(n, 0, "nothing is a day old");
    TH_EQ_INT(jq_retention_run(c, 0, &n, &e), JQ_OK, "retention 0 days");
    TH_CHECK(n > 1000, "all finished history removed (%lld rows)", (long long)n);
}

static int t_restart(void)
{
    const char *cmd = getenv("PG_RESTART_CMD");
    if (cmd == NULL) {
        printf("not ok - PG_RESTART_CMD not set\n");
        return 1;
    }
    struct pgx *c = conn(), *l = conn();
    struct err e;
    int64_t t;
    if (jq_tenant_get(c, "tenant-a", &t, &e) != JQ_OK)
        jq_tenant_create(c, "tenant-a", &t, &e);
    jq_listen(l, JQ_CHAN_JOB_NEW, &e);
    TH_CHECK(enq(c, t, "m_restart", 2) > 0, "enqueue before the restart");
    TH_EQ_INT(system(cmd), 0, "PostgreSQL restarted (%s)", cmd);
    /* the first statement goes to a fresh connection */
    int64_t id = 0;
    int tries = 0;
    for (; tries < 20 && id == 0; tries++) {
        id = enq(c, t, "m_restart", 2);
        if (id == 0)
            sleep_ms(250);
    }
    TH_CHECK(id > 0, "enqueue after the restart (%d tries)", tries);
    TH_EQ_INT(tries, 1,
              "the first statement after the restart succeeded (dead connection "
              "noticed before sending)");
    TH_CHECK(pgx_reconnects_get(c) >= 1, "the connection was re-established");
    /* the listener reconnects and LISTENs again */
    char payload[64];
    int rc = jq_wait_notify(l, 500, payload, sizeof(payload), &e);
    TH_CHECK(rc == JQ_ERR_DB || rc == JQ_EMPTY || rc == JQ_OK, "listener notices (%d)", rc);
    for (int i = 0; i < 20 && pgx_check(l, &e) != PGX_OK; i++)
        sleep_ms(100);
    while (jq_wait_notify(l, 0, payload, sizeof(payload), &e) == JQ_OK)
        ;
    enq(c, t, "m_restart", 3); /* IMMEDIATE: always notifies */
    TH_EQ_INT(jq_wait_notify(l, 2000, payload, sizeof(payload), &e), JQ_OK,
              "LISTEN was re-issued after reconnecting");
    const char *models[1] = {"m_restart"};
    struct jq_job *jobs;
    int n, total = 0;
    for (int i = 0; i < 3; i++) {
        if (jq_job_claim(c, "w-rs", "d", models, 1, 8, 30, &jobs, &n, &e) != JQ_OK)
            break;
        total += n;
        jq_jobs_free(jobs, n);
    }
    TH_EQ_INT(total, 3, "all jobs survived the restart (clean stop)");

    /* a transaction broken by a restart is never continued in autocommit */
    TH_EQ_INT(jq_tx_begin(c, &e), JQ_OK, "begin");
    enq(c, t, "m_restart2", 2);
    TH_EQ_INT(system(cmd), 0, "restart inside a transaction");
    int64_t id2 = 0;
    struct jq_new_job j = {.tenant_id = t, .task = "caption", .model = "m_restart2", .tier = 2};
    rc = jq_job_enqueue(c, &j, &id2, NULL, &e);
    TH_EQ_INT(rc, JQ_ERR_DB, "statements fail until the caller rolls back");
    TH_EQ_INT(jq_tx_commit(c, &e), JQ_ERR_DB, "commit of the broken transaction fails");
    TH_EQ_INT(jq_tx_rollback(c, &e), JQ_OK, "rollback clears it");
    TH_EQ_INT(jq_job_claim(c, "w-rs", "d", models + 0, 1, 8, 30, &jobs, &n, &e), JQ_EMPTY,
              "usable again");
    const char *m2[1] = {"m_restart2"};
    TH_EQ_INT(jq_job_claim(c, "w-rs", "d", m2, 1, 8, 30, &jobs, &n, &e), JQ_EMPTY,
              "nothing of the broken transaction was written");
    pgx_free(c);
    pgx_free(l);
    return th_done();
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * Issue 15: an enqueue's fair-key lookup once planned as an aggregate over
 * every queued row of the tenant's tier when the statistics did not know
 * the rows (a long transaction: the generic plan is made when they are not
 * there yet), so a batch enqueued in one transaction cost O(n^2).  5,000
 * enqueues in one transaction on a fresh connection: the last thousand must
 * cost per job about what the first did.  Each thousand is timed in runs of
 * 100 and compared by its fastest run: load from other processes on this
 * shared machine only ever slows a run, and the median still failed once
 * (ratio 3.33 under load 15, 0.98 on the rerun) when a spike covered half a
 * thousand, while the bug slows every run of the last thousand, the fastest
 * too.  Measured under load 16 on 2 cores: ratio 0.81 with the probe of
 * migration 0005, 6.43 with the old inline max() (0.41 -> 2.60 ms/job); the
 * bound 2.0 leaves 2.5x for noise on one side and catches the bug on the
 * other.  A ratio, not a time.
 */
/* large values a session writes are compressed with lz4 where the server
 * has it (pgx_session_toast): a job input compresses with lz4, not pglz */
static void t_toast_lz4(struct pgx *c)
{
    PGconn *pc = pgx_conn_get(c);
    PGresult *r = PQexec(pc, "SELECT current_setting('default_toast_compression'), "
                             "'lz4' = ANY (enumvals) FROM pg_settings "
                             "WHERE name = 'default_toast_compression'");
    int has = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
              strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    char set[32];
    snprintf(set, sizeof(set), "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?");
    PQclear(r);
    if (!has) {
        printf("# SKIP 2 checks: this PostgreSQL has no lz4 (default_toast_compression %s)\n", set);
        return;
    }
    TH_CHECK(strcmp(set, "lz4") == 0,
             "a pgx session writes with lz4 (default_toast_compression %s)", set);
    static uint8_t zeros[100000];
    struct jq_new_job j = {.tenant_id = tenant_a,
                           .task = "caption",
                           .model = "m_toast",
                           .tier = 1,
                           .input = zeros,
                           .input_len = sizeof(zeros),
                           .input_type = "image/png"};
    int64_t id = 0;
    struct err e;
    TH_EQ_INT(jq_job_enqueue(c, &j, &id, NULL, &e), JQ_OK, "enqueue a 100 KB input");
    char q[160];
    snprintf(q, sizeof(q), "SELECT pg_column_compression(input) FROM jobs WHERE id = %lld",
             (long long)id);
    r = PQexec(pc, q);
    const char *how =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)
            ? PQgetvalue(r, 0, 0)
            : "none";
    TH_CHECK(strcmp(how, "lz4") == 0, "the stored input is lz4-compressed (%s)", how);
    PQclear(r);
    int st = 0;
    jq_job_cancel(c, tenant_a, id, &st, &e);
}

static void t_enqueue_linear(void)
{
    struct pgx *c = conn();
    struct err e;
    enum { N = 5000, RUN = 100, RUNS_PER_K = 1000 / RUN };
    double runs[N / RUN];
    TH_EQ_INT(jq_tx_begin(c, &e), JQ_OK, "begin a transaction for 5,000 enqueues");
    int ok = 1;
    double t0 = cm_now_ms();
    for (int i = 0; i < N; i++) {
        ok &= enq(c, tenant_b, "m_linear", 1) > 0;
        if ((i + 1) % RUN == 0) {
            double t = cm_now_ms();
            runs[i / RUN] = t - t0;
            t0 = t;
        }
    }
    TH_CHECK(ok, "5,000 enqueues in one transaction succeed");
    double first[RUNS_PER_K], last[RUNS_PER_K];
    memcpy(first, runs, sizeof(first));
    memcpy(last, runs + N / RUN - RUNS_PER_K, sizeof(last));
    qsort(first, RUNS_PER_K, sizeof(double), cmp_double);
    qsort(last, RUNS_PER_K, sizeof(double), cmp_double);
    double f = first[0] / RUN, l = last[0] / RUN;
    printf("# enqueue in one transaction: first thousand %.3f ms/job, last thousand %.3f "
           "ms/job (fastest of runs of %d; medians %.3f and %.3f), ratio %.2f\n",
           f, l, RUN, first[RUNS_PER_K / 2] / RUN, last[RUNS_PER_K / 2] / RUN, l / f);
    TH_CHECK(l / f < 2.0, "the last thousand costs per job what the first did (ratio %.2f < 2)",
             l / f);
    TH_EQ_INT(jq_tx_rollback(c, &e), JQ_OK, "roll back: nothing stays queued");
    pgx_free(c);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "restart") == 0)
        return t_restart();
    struct pgx *c = conn(), *c2 = conn();
    struct err e;
    TH_EQ_INT(jq_schema_check(c, &e), JQ_OK, "schema is current");
    t_auth(c);
    t_depth_limit(c);
    t_enqueue_get(c);
    t_tier_order(c);
    t_same_model_batch(c);
    t_skip_locked(c, c2);
    t_concurrent_claims(c);
    t_lease_expiry(c);
    t_retry(c);
    t_cancel(c);
    t_stream_suspend(c);
    t_deadline(c);
    t_idempotency(c);
    t_pause(c);
    t_starvation(c);
    t_immediate_under_flood(c);
    t_fairness(c);
    t_notify_wait(c);
    t_wait_channel(c);
    t_workers_metrics(c);
    t_retention(c);
    t_toast_lz4(c);
    t_enqueue_linear();
    pgx_free(c);
    pgx_free(c2);
    return th_done();
}
