/*
 * bench_queue.c: the queue's benchmark driver (run by bench/queue.sh against
 * a tests/lib/pg_tmp.sh cluster; libpq finds it through PG* variables).
 * Prints figures, never asserts them.
 *
 *   bench_queue enqueue N CONNS          jq_job_enqueue rate, 1 job per
 *                                        statement, autocommit
 *   bench_queue drain N WORKERS BATCH    prefill N jobs, then WORKERS
 *                                        threads claim BATCH at a time and
 *                                        complete them (complete_many when
 *                                        BATCH > 1): claim+complete jobs/s
 *   bench_queue flood SERVICE_MS SAMPLES WORKERS
 *                                        a BACKGROUND album keeps WORKERS
 *                                        busy (batches of 8, SERVICE_MS per
 *                                        batch); an IMMEDIATE job arrives
 *                                        every ~SERVICE_MS*1.7 ms: its wait
 *                                        (enqueue -> claimed) percentiles
 *   bench_queue wait N IDLE_MS           a synchronous call's end, N times:
 *                                        one connection enqueues and waits
 *                                        (jq_job_wait_done_ex, no first
 *                                        look), another claims, IDLE_MS
 *                                        later completes it; alternately
 *                                        with and without the waiter's
 *                                        wait channel (migration 0011):
 *                                        completion start -> the waiter has
 *                                        the job's JSON, percentiles per mode
 *
 * Every loop is bounded (job counts and a 120 s wall-clock cap).
 */
#include "common/cm.h"
#include "common/jq.h"
#include "common/pgx.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_CAP_MS 120000.0

static int64_t bench_tenant;
static atomic_int stop_flag;

static struct pgx *conn(void)
{
    struct pgx *c = NULL;
    struct err e;
    struct pgx_settings ps = {.conninfo = ""};
    if (pgx_open(&c, &ps, &e) != PGX_OK) {
        fprintf(stderr, "bench_queue: could not connect: %s\n", e.msg);
        exit(1);
    }
    jq_limits_set(c, 100000000, 0);
    return c;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (time_t)(ms / 1000) * 1000) * 1e6)};
    nanosleep(&ts, NULL);
}

static void tenant_setup(struct pgx *c)
{
    struct err e;
    if (jq_tenant_get(c, "bench", &bench_tenant, &e) != JQ_OK &&
        jq_tenant_create(c, "bench", &bench_tenant, &e) != JQ_OK) {
        fprintf(stderr, "bench_queue: tenant: %s\n", e.msg);
        exit(1);
    }
}

static int enqueue_n(struct pgx *c, int n, const char *model, int tier, int per_tx)
{
    struct err e;
    int ok = 0;
    for (int i = 0; i < n; i++) {
        if (per_tx > 1 && i % per_tx == 0)
            jq_tx_begin(c, &e);
        struct jq_new_job j = {.tenant_id = bench_tenant,
                               .task = "caption",
                               .model = model,
                               .tier = tier,
                               .params_json = "{\"length\":\"short\"}"};
        int64_t id;
        if (jq_job_enqueue(c, &j, &id, NULL, &e) == JQ_OK)
            ok++;
        else
            fprintf(stderr, "bench_queue: enqueue: %s\n", e.msg);
        if (per_tx > 1 && (i % per_tx == per_tx - 1 || i == n - 1))
            jq_tx_commit(c, &e);
    }
    return ok;
}

/* ---- enqueue ---------------------------------------------------------------- */

struct enq_arg {
    int n, done;
};

static void *enq_thread(void *p)
{
    struct enq_arg *a = p;
    struct pgx *c = conn();
    a->done = enqueue_n(c, a->n, "m_bench_enq", 0, 1);
    pgx_free(c);
    return NULL;
}

static int bench_enqueue(int n, int conns)
{
    pthread_t th[64];
    struct enq_arg a[64];
    double t0 = cm_now_ms();
    for (int i = 0; i < conns; i++) {
        a[i] = (struct enq_arg){.n = n / conns};
        pthread_create(&th[i], NULL, enq_thread, &a[i]);
    }
    int done = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        done += a[i].done;
    }
    double s = (cm_now_ms() - t0) / 1000;
    printf("enqueue_jobs=%d conns=%d seconds=%.2f jobs_per_s=%.0f\n", done, conns, s, done / s);
    return 0;
}

/* ---- drain ------------------------------------------------------------------ */

struct drain_arg {
    int idx, batch, done, errors;
};

static void *drain_thread(void *p)
{
    struct drain_arg *a = p;
    struct pgx *c = conn();
    char name[32];
    snprintf(name, sizeof(name), "bench-%d", a->idx);
    const char *models[1] = {"m_bench"};
    int64_t ids[256];
    const char *res[256];
    int empty = 0;
    double t0 = cm_now_ms();
    while (empty < 3 && cm_now_ms() - t0 < BENCH_CAP_MS) {
        struct jq_job *jobs;
        int n;
        struct err e;
        int rc = jq_job_claim(c, name, "bench", models, 1, a->batch, 60, &jobs, &n, &e);
        if (rc == JQ_EMPTY) {
            empty++;
            sleep_ms(2);
            continue;
        }
        if (rc != JQ_OK) {
            a->errors++;
            continue;
        }
        empty = 0;
        if (a->batch == 1) {
            if (jq_job_complete(c, name, jobs[0].id, "{\"caption\":\"x\"}", NULL, 0, NULL, NULL,
                                &e) == JQ_OK)
                a->done++;
            else
                a->errors++;
        } else {
            for (int i = 0; i < n; i++) {
                ids[i] = jobs[i].id;
                res[i] = "{\"caption\":\"x\"}";
            }
            int k = 0;
            if (jq_job_complete_many(c, name, ids, res, n, &k, &e) != JQ_OK)
                a->errors++;
            a->done += k;
        }
        jq_jobs_free(jobs, n);
    }
    pgx_free(c);
    return NULL;
}

static int bench_drain(int n, int workers, int batch)
{
    struct pgx *c = conn();
    double t0 = cm_now_ms();
    int filled = enqueue_n(c, n, "m_bench", 0, 1000);
    double fill_s = (cm_now_ms() - t0) / 1000;
    printf("# prefilled %d jobs in %.2f s (%.0f jobs/s, 1000 per transaction)\n", filled, fill_s,
           filled / fill_s);
    pgx_free(c);
    pthread_t th[64];
    struct drain_arg a[64];
    t0 = cm_now_ms();
    for (int i = 0; i < workers; i++) {
        a[i] = (struct drain_arg){.idx = i, .batch = batch};
        pthread_create(&th[i], NULL, drain_thread, &a[i]);
    }
    int done = 0, errors = 0;
    for (int i = 0; i < workers; i++) {
        pthread_join(th[i], NULL);
        done += a[i].done;
        errors += a[i].errors;
    }
    /* the last 3 empty polls (about 6 ms) are not work: leave them in, it
     * only lowers the figure */
    double s = (cm_now_ms() - t0) / 1000;
    printf("drain_jobs=%d workers=%d batch=%d seconds=%.2f claim_complete_per_s=%.0f "
           "errors=%d\n",
           done, workers, batch, s, done / s, errors);
    return errors ? 1 : 0;
}

/* ---- flood ------------------------------------------------------------------ */

#define FLOOD_MAX_SAMPLES 1000
static double flood_waits[FLOOD_MAX_SAMPLES];
static atomic_int flood_n;
static int flood_service_ms;

static void *flood_worker(void *p)
{
    int idx = (int)(intptr_t)p;
    struct pgx *c = conn();
    char name[32];
    snprintf(name, sizeof(name), "flood-%d", idx);
    const char *models[1] = {"m_flood"};
    int64_t ids[8];
    const char *res[8];
    struct err e;
    jq_listen(c, JQ_CHAN_JOB_NEW, &e);
    while (!atomic_load(&stop_flag)) {
        struct jq_job *jobs;
        int n;
        int rc = jq_job_claim(c, name, "bench", models, 1, 8, 60, &jobs, &n, &e);
        if (rc != JQ_OK) {
            jq_wait_notify(c, 50, NULL, 0, &e);
            continue;
        }
        double now = wall_ms();
        for (int i = 0; i < n; i++) {
            if (jobs[i].tier == JQ_TIER_IMMEDIATE) {
                int k = atomic_fetch_add(&flood_n, 1);
                if (k < FLOOD_MAX_SAMPLES)
                    flood_waits[k] = now - (double)jobs[i].enqueued_ms;
            }
            ids[i] = jobs[i].id;
            res[i] = NULL;
        }
        sleep_ms(flood_service_ms); /* the batch's service time */
        int k;
        jq_job_complete_many(c, name, ids, res, n, &k, &e);
        jq_jobs_free(jobs, n);
    }
    pgx_free(c);
    return NULL;
}

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static int bench_flood(int service_ms, int samples, int workers)
{
    flood_service_ms = service_ms;
    if (samples > FLOOD_MAX_SAMPLES)
        samples = FLOOD_MAX_SAMPLES;
    struct pgx *c = conn();
    /* an album big enough to outlast the run */
    int album = (int)(samples * 1.7 * workers * 8) + 2000;
    enqueue_n(c, album, "m_flood", 0, 1000);
    pthread_t th[16];
    for (int i = 0; i < workers; i++)
        pthread_create(&th[i], NULL, flood_worker, (void *)(intptr_t)i);
    sleep_ms(200);
    double t0 = cm_now_ms();
    int sent = 0;
    unsigned seed = 12345;
    while (sent < samples && cm_now_ms() - t0 < BENCH_CAP_MS) {
        /* arrivals at random phases of the workers' service */
        sleep_ms(service_ms * (1.2 + (rand_r(&seed) % 100) / 100.0));
        sent += enqueue_n(c, 1, "m_flood", JQ_TIER_IMMEDIATE, 1);
    }
    for (int i = 0; i < 200 && atomic_load(&flood_n) < sent; i++)
        sleep_ms(10);
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < workers; i++)
        pthread_join(th[i], NULL);
    int n = atomic_load(&flood_n);
    if (n > FLOOD_MAX_SAMPLES)
        n = FLOOD_MAX_SAMPLES;
    qsort(flood_waits, (size_t)n, sizeof(double), cmp_d);
    char json[512];
    char *q = NULL;
    struct err e;
    jq_queue_stats_json(c, &q, &e);
    snprintf(json, sizeof(json), "%s", q ? q : "");
    free(q);
    if (n == 0) {
        printf("flood_samples=0\n");
        pgx_free(c);
        return 1;
    }
    printf("flood_samples=%d workers=%d service_ms=%d immediate_wait_ms p50=%.1f p90=%.1f "
           "p99=%.1f max=%.1f target_ms=%d\n",
           n, workers, service_ms, flood_waits[n / 2], flood_waits[n * 9 / 10],
           flood_waits[n * 99 / 100], flood_waits[n - 1], service_ms + 5);
    pgx_free(c);
    return 0;
}

/* ---- wait: a synchronous call's end, with and without the wait channel ---- */

struct wait_done {
    struct pgx *w;
    int64_t id;
    int idle_ms;
    double t_start, t_end; /* the completion call, cm_now_ms */
};

static void *wait_completer(void *p)
{
    struct wait_done *d = p;
    struct timespec ts = {d->idle_ms / 1000, (long)(d->idle_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    struct err e;
    d->t_start = cm_now_ms();
    jq_job_complete(
        d->w, "bench-wait", d->id,
        "{\"label\":\"Neutral\",\"p\":0.91,\"top\":[{\"Drawing\":0.05},{\"Porn\":0.01}]}", NULL, 0,
        NULL, "{\"inference_ms\":20.5,\"decode_ms\":1.1}", &e);
    d->t_end = cm_now_ms();
    return NULL;
}

static int bench_wait(int n, int idle_ms)
{
    struct pgx *l = conn(), *w = conn();
    struct err e;
    const char *ch = NULL;
    if (jq_listen(l, JQ_CHAN_JOB_DONE, &e) != JQ_OK || jq_wait_channel(l, &ch, &e) != JQ_OK) {
        printf("wait: %s\n", e.msg);
        return 1;
    }
    char name[64];
    snprintf(name, sizeof(name), "%s", ch);
    double *got[2], *cpl[2];
    int cnt[2] = {0, 0};
    for (int m = 0; m < 2; m++) {
        got[m] = calloc((size_t)n, sizeof(double));
        cpl[m] = calloc((size_t)n, sizeof(double));
    }
    const char *models[1] = {"bench_wait"};
    double t_cap = cm_now_ms() + BENCH_CAP_MS;
    long long hits0 = jq_wait_hits(l);
    for (int i = 0; i < 2 * n && cm_now_ms() < t_cap; i++) {
        int mode = (i / 2 + i) % 2; /* ABBA: 0 1 1 0 0 1 1 0 ... */
        struct jq_new_job j = {.tenant_id = bench_tenant,
                               .task = "classify",
                               .model = "bench_wait",
                               .tier = 3,
                               .wait_channel = mode ? name : NULL};
        int64_t id = 0;
        if (jq_job_enqueue(l, &j, &id, NULL, &e) != JQ_OK)
            break;
        struct jq_job *jobs;
        int k = 0;
        if (jq_job_claim(w, "bench-wait", "d", models, 1, 1, 60, &jobs, &k, &e) != JQ_OK || k != 1)
            break;
        jq_jobs_free(jobs, k);
        struct wait_done d = {.w = w, .id = id, .idle_ms = idle_ms};
        pthread_t th;
        pthread_create(&th, NULL, wait_completer, &d);
        char *json = NULL;
        int rc = jq_job_wait_done_ex(l, bench_tenant, id, 5000, 0, &json, &e);
        double t_got = cm_now_ms();
        pthread_join(th, NULL);
        free(json);
        if (rc != JQ_OK)
            break;
        got[mode][cnt[mode]] = t_got - d.t_start;
        cpl[mode][cnt[mode]++] = d.t_end - d.t_start;
    }
    static const char *names[2] = {"vkv_job_done + read", "wait channel"};
    for (int m = 0; m < 2; m++) {
        int c = cnt[m];
        if (c == 0)
            continue;
        qsort(got[m], (size_t)c, sizeof(double), cmp_d);
        qsort(cpl[m], (size_t)c, sizeof(double), cmp_d);
        printf("wait mode=\"%s\" n=%d idle_ms=%d completion_start_to_waiter_ms p50=%.3f p90=%.3f "
               "completion_call_ms p50=%.3f\n",
               names[m], c, idle_ms, got[m][c / 2], got[m][c * 9 / 10], cpl[m][c / 2]);
        free(got[m]);
        free(cpl[m]);
    }
    printf("wait channel hits=%lld\n", jq_wait_hits(l) - hits0);
    pgx_free(l);
    pgx_free(w);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_queue enqueue N CONNS | drain N WORKERS BATCH | "
                        "flood SERVICE_MS SAMPLES WORKERS | wait N IDLE_MS\n");
        return 2;
    }
    struct pgx *c = conn();
    tenant_setup(c);
    pgx_free(c);
    if (strcmp(argv[1], "enqueue") == 0 && argc == 4)
        return bench_enqueue(atoi(argv[2]),
                             atoi(argv[3]) > 0 && atoi(argv[3]) <= 64 ? atoi(argv[3]) : 1);
    if (strcmp(argv[1], "drain") == 0 && argc == 5) {
        int w = atoi(argv[3]), b = atoi(argv[4]);
        if (w < 1 || w > 64 || b < 1 || b > 256)
            return 2;
        return bench_drain(atoi(argv[2]), w, b);
    }
    if (strcmp(argv[1], "flood") == 0 && argc == 5) {
        int w = atoi(argv[4]);
        if (w < 1 || w > 16)
            return 2;
        return bench_flood(atoi(argv[2]), atoi(argv[3]), w);
    }
    if (strcmp(argv[1], "wait") == 0 && argc == 4) {
        int n = atoi(argv[2]), idle = atoi(argv[3]);
        if (n < 1 || n > 100000 || idle < 0 || idle > 1000)
            return 2;
        return bench_wait(n, idle);
    }
    fprintf(stderr, "bench_queue: bad arguments\n");
    return 2;
}
