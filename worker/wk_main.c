/*
 * wk_main.c: vkv-worker, one process per Vulkan device.
 *
 * The main thread owns the device and one PostgreSQL connection: it
 * LISTENs on vkv_job_new (with a 1 s polling fallback), claims a batch of
 * jobs of one model (jq_job_claim, up to the batch limit), runs them as one
 * batch (wk_batch_run: residency, out-of-memory policy, cancel
 * checkpoints) and writes each outcome (jq_job_complete / jq_job_fail).
 *
 * A heartbeat thread with its own connection renews the leases of the jobs
 * in hand (jq_job_heartbeat, every third of the lease, at least every
 * second while jobs run) and records which of them were canceled or lost;
 * every VKV_WORKER_STATUS_MS it writes the worker's status
 * (jq_worker_upsert: device, VRAM, resident models, counts, jobs running),
 * and every few seconds it requeues expired leases of dead workers
 * (jq_requeue_expired).
 *
 * Signals: the first SIGTERM/SIGINT finishes the batch in hand and exits 0;
 * a second one stops at the next checkpoint and hands the unfinished jobs
 * back (transient failure: requeued).  A lost device hands the jobs back
 * and exits WK_EXIT_DEVICE_LOST so the supervisor restarts the process.
 * Exit codes are listed in worker/README.md.
 */
#include "worker/wk.h"

#include "common/cfg.h"
#include "common/cm.h"
#include "common/jq.h"
#include "common/log.h"
#include "common/pgx.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define WK_STATUS_MS 2000       /* status heartbeat period */
#define WK_REQUEUE_MS 3000      /* jq_requeue_expired period */
#define WK_POLL_MS 1000         /* polling fallback when no NOTIFY arrives */
#define WK_DB_RETRY_MS 30000    /* how long a result write is retried */
#define WK_PROGRESS_MS 50       /* generated text is published at most this often */
#define WK_PREEMPT_POLL_MS 1000 /* higher tier asked for at least this often while generating */

static volatile sig_atomic_t wk_stop; /* 1: finish the batch; 2: stop now */

/* a generation in hand (main thread only): what was published and when */
struct wk_gen {
    const struct jq_job *job;
    double pub_at;
    size_t pub_len;
    int pub_off; /* publishing failed: stop trying for this job */
};

struct wk_ctx {
    /* settings */
    char name[128];
    int batch;
    int lease_s;
    size_t budget;
    const char *budget_source;
    /* device and models */
    struct wk_engine eng;
    struct wk_res res;
    /* database */
    struct pgx *db; /* main thread */
    struct pgx *hb; /* heartbeat thread */
    /* jobs in hand, shared with the heartbeat thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_hand;
    int64_t hand_ids[WK_MAX_BATCH];
    int hand_flag[WK_MAX_BATCH]; /* 0, 1 canceled by a user, -1 lease lost */
    double hand_since;           /* cm_now_ms() of the claim */
    /* the device as the main thread last saw it: the runtime's device is
     * used by one thread only, so the heartbeat thread reads this copy */
    struct wk_devinfo dev;
    double dev_at;
    int hb_stop;
    /* the generations in hand (main thread only) and when the higher
     * tiers were last asked for */
    struct wk_gen gen[WK_MAX_BATCH];
    int n_gen;
    double gen_asked_at;
    signed char gen_higher[8]; /* per tier: a higher tier waits (1), not (0), unknown (-1) */
    /* counters (under mu) */
    long jobs_done, jobs_failed, jobs_requeued, jobs_canceled, batches, images;
    long jobs_suspended;
    double started_epoch;
    const char *state;
};

static void on_signal(int sig)
{
    (void)sig;
    if (wk_stop < 2)
        wk_stop++;
}

static double epoch_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec * 1000.0 + (double)tv.tv_usec / 1000.0;
}

/* ------------------------------------------------------------ status */

/* the status document of jq_worker_upsert; new string, caller frees */
static char *status_json(struct wk_ctx *w)
{
    struct wk_devinfo d;
    pthread_mutex_lock(&w->mu);
    d = w->dev;
    pthread_mutex_unlock(&w->mu);
    char *res_text = wk_res_json(&w->res);
    json_t *res = json_loads(res_text, 0, NULL);
    free(res_text);
    CM_ASSERT(res != NULL);
    json_t *resident = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(res, "models"), i, m)
    {
        if (json_is_true(json_object_get(m, "resident")))
            json_array_append(resident, m);
    }
    json_t *models = json_array();
    for (int k = 0; k < w->eng.n_models; k++)
        json_array_append_new(models, json_string(w->eng.models[k]));
    char vendor[16];
    snprintf(vendor, sizeof(vendor), "0x%04x", d.vendor_id);
    pthread_mutex_lock(&w->mu);
    json_t *o = json_pack(
        "{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:s, s:b, s:I, s:I,"
        " s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:i}",
        "engine", w->eng.kind, "state", w->state, "index", d.index, "name", d.name, "vendor",
        vendor, "driver", d.driver, "uuid", d.uuid, "type", d.type, "pid", (int)getpid(),
        "vram_total_bytes", (json_int_t)d.vram_total, "vram_budget_bytes", (json_int_t)w->budget,
        "vram_used_bytes", (json_int_t)json_integer_value(json_object_get(res, "used_bytes")),
        "budget_source", w->budget_source, "has_memory_budget", d.has_budget, "heap_budget_bytes",
        (json_int_t)d.heap_budget, "heap_usage_bytes", (json_int_t)d.heap_usage, "resident",
        resident, "models", models, "loads",
        (json_int_t)json_integer_value(json_object_get(res, "loads")), "unloads",
        (json_int_t)json_integer_value(json_object_get(res, "unloads")), "evictions",
        (json_int_t)json_integer_value(json_object_get(res, "evictions")), "oom_events",
        (json_int_t)json_integer_value(json_object_get(res, "oom_events")), "load_failures",
        (json_int_t)json_integer_value(json_object_get(res, "load_failures")), "jobs_running",
        w->n_hand, "jobs_done", (json_int_t)w->jobs_done, "jobs_failed", (json_int_t)w->jobs_failed,
        "jobs_requeued", (json_int_t)w->jobs_requeued, "jobs_canceled",
        (json_int_t)w->jobs_canceled, "batches", (json_int_t)w->batches, "images",
        (json_int_t)w->images, "started_at_ms", w->started_epoch, "batch_limit", w->batch);
    pthread_mutex_unlock(&w->mu);
    CM_ASSERT(o != NULL);
    pthread_mutex_lock(&w->mu);
    json_object_set_new(o, "jobs_suspended", json_integer((json_int_t)w->jobs_suspended));
    pthread_mutex_unlock(&w->mu);
    json_object_set_new(o, "load_ms_total", json_incref(json_object_get(res, "load_ms_total")));
    json_object_set_new(o, "unload_ms_total", json_incref(json_object_get(res, "unload_ms_total")));
    json_object_set_new(o, "models_seen", json_incref(json_object_get(res, "models")));
    json_decref(res);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    CM_ASSERT(s != NULL);
    return s;
}

static void status_write(struct wk_ctx *w, struct pgx *c)
{
    char *s = status_json(w);
    struct err e;
    err_clear(&e);
    if (jq_worker_upsert(c, w->name, s, &e) != JQ_OK)
        log_warn("could not write worker status: %s", e.msg);
    pgx_reset(c);
    free(s);
}

/* main thread: refreshes the device snapshot at most every 1 s */
static void dev_refresh(struct wk_ctx *w, int force)
{
    double now = cm_now_ms();
    if (!force && now - w->dev_at < 1000)
        return;
    struct wk_devinfo d;
    w->eng.devinfo(w->eng.ctx, &d);
    pthread_mutex_lock(&w->mu);
    w->dev = d;
    w->dev_at = now;
    pthread_mutex_unlock(&w->mu);
}

/* ------------------------------------------------------- heartbeat */

static void *hb_main(void *arg)
{
    struct wk_ctx *w = arg;
    log_ctx_set("thread", "heartbeat");
    double next_status = 0, next_requeue = 0, next_lease = 0;
    int lease_ms = w->lease_s * 1000 / 3;
    if (lease_ms > 1000)
        lease_ms = 1000; /* also the cancel-check latency */
    if (lease_ms < 200)
        lease_ms = 200;
    pthread_mutex_lock(&w->mu);
    while (!w->hb_stop) {
        double now = cm_now_ms();
        /* the claim set the lease: the first renewal is due a third of
         * it later, so short jobs cost no extra round trip */
        if (w->n_hand > 0 && next_lease < w->hand_since + lease_ms)
            next_lease = w->hand_since + lease_ms;
        if (now >= next_lease && w->n_hand > 0) {
            int n = w->n_hand;
            int64_t ids[WK_MAX_BATCH];
            int flags[WK_MAX_BATCH];
            memcpy(ids, w->hand_ids, sizeof(ids[0]) * (size_t)n);
            pthread_mutex_unlock(&w->mu);
            struct err e;
            err_clear(&e);
            memset(flags, 0, sizeof(flags));
            int rc = jq_job_heartbeat(w->hb, w->name, ids, n, w->lease_s, flags, &e);
            pgx_reset(w->hb);
            pthread_mutex_lock(&w->mu);
            if (rc != JQ_OK) {
                log_warn("could not renew %d leases: %s", n, e.msg);
            } else {
                /* the set in hand may have changed meanwhile: match by id */
                for (int i = 0; i < n; i++)
                    for (int k = 0; k < w->n_hand; k++)
                        if (w->hand_ids[k] == ids[i] && flags[i] != 0 && w->hand_flag[k] == 0) {
                            w->hand_flag[k] = flags[i];
                            log_info("job %lld %s", (long long)ids[i],
                                     flags[i] > 0 ? "cancel requested" : "lease lost");
                        }
            }
            next_lease = cm_now_ms() + lease_ms;
            continue;
        }
        if (now >= next_status) {
            pthread_mutex_unlock(&w->mu);
            status_write(w, w->hb);
            pthread_mutex_lock(&w->mu);
            next_status = cm_now_ms() + WK_STATUS_MS;
            continue;
        }
        if (now >= next_requeue) {
            pthread_mutex_unlock(&w->mu);
            int n = 0;
            struct err e;
            err_clear(&e);
            if (jq_requeue_expired(w->hb, &n, &e) != JQ_OK)
                log_warn("could not requeue expired leases: %s", e.msg);
            else if (n > 0)
                log_info("requeued %d jobs with expired leases", n);
            pgx_reset(w->hb);
            if (jq_workers_prune(w->hb, (int)cfg_int("VKV_WORKER_PRUNE_S"), &n, &e) == JQ_OK &&
                n > 0)
                log_info("forgot %d workers not seen for %lld s", n,
                         (long long)cfg_int("VKV_WORKER_PRUNE_S"));
            pgx_reset(w->hb);
            pthread_mutex_lock(&w->mu);
            next_requeue = cm_now_ms() + WK_REQUEUE_MS;
            continue;
        }
        double wake = next_status < next_requeue ? next_status : next_requeue;
        if (w->n_hand > 0 && next_lease < wake)
            wake = next_lease;
        if (w->n_hand == 0 && now + lease_ms < wake)
            wake = now + lease_ms; /* notice a new batch soon */
        double wait_ms = wake - now;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = (long long)ts.tv_nsec + (long long)(wait_ms * 1e6);
        ts.tv_sec += (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---------------------------------------------------------- batches */

static int checkpoint(void *arg, int n, struct wk_item *items)
{
    struct wk_ctx *w = arg;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < n; i++) {
        if (items[i].done)
            continue;
        for (int k = 0; k < w->n_hand; k++) {
            if (w->hand_ids[k] != items[i].job_id || w->hand_flag[k] == 0)
                continue;
            items[i].status = WK_ERR_CANCELED;
            items[i].done = 1;
            if (w->hand_flag[k] > 0)
                err_set(&items[i].err, WK_ERR_CANCELED, ERR_INTERNAL, "canceled",
                        "canceled by request");
            else
                err_set(&items[i].err, WK_ERR_CANCELED, ERR_CONFLICT, "lease_lost", "lease lost");
        }
    }
    pthread_mutex_unlock(&w->mu);
    return wk_stop >= 2;
}

static int hand_flag_get(struct wk_ctx *w, int64_t id);

/* the generation state of the batch item whose job is id, or NULL */
static struct wk_gen *gen_find(struct wk_ctx *w, int64_t id)
{
    for (int i = 0; i < w->n_gen; i++)
        if (w->gen[i].job->id == id)
            return &w->gen[i];
    return NULL;
}

/* publishes the text so far of a generation in hand (best effort: the
 * result carries the whole text anyway) */
static void gen_publish(struct wk_ctx *w, struct wk_gen *g, const char *text, size_t len)
{
    struct err e;
    err_clear(&e);
    int rc = jq_job_progress(w->db, w->name, g->job->id, text, &e);
    pgx_reset(w->db);
    g->pub_at = cm_now_ms();
    g->pub_len = len;
    if (rc != JQ_OK) {
        log_warn("job %lld: could not publish its text: %s", (long long)g->job->id, e.msg);
        g->pub_off = 1;
    }
}

/* whether a job of a tier above g's waits for the model in hand: asked
 * again (once per tier of the batch) when a vkv_job_new notification for
 * it arrived (read without waiting), and at least every WK_PREEMPT_POLL_MS */
static int gen_higher_waiting(struct wk_ctx *w, const struct wk_gen *g)
{
    const struct jq_job *j = g->job;
    if (j->tier >= JQ_TIER_IMMEDIATE || j->tier < 0)
        return 0;
    int ask = cm_now_ms() - w->gen_asked_at >= WK_PREEMPT_POLL_MS;
    char ch[64], payload[128];
    struct err e;
    err_clear(&e);
    for (int i = 0; i < 64; i++) {
        int rc = pgx_notify_wait(w->db, 0, ch, sizeof(ch), payload, sizeof(payload), &e);
        if (rc != 1)
            break;
        if (payload[0] == '\0' || strcmp(payload, j->model) == 0)
            ask = 1;
    }
    pgx_reset(w->db);
    if (ask) { /* a new round: every tier is asked again */
        memset(w->gen_higher, -1, sizeof(w->gen_higher));
        w->gen_asked_at = cm_now_ms();
    }
    if (w->gen_higher[j->tier] < 0) {
        int yes = 0;
        err_clear(&e);
        if (jq_job_higher_waiting(w->db, j->model, j->tier, &yes, &e) != JQ_OK)
            log_warn("job %lld: could not look for a higher tier: %s", (long long)j->id, e.msg);
        pgx_reset(w->db);
        w->gen_higher[j->tier] = (signed char)(yes != 0);
    }
    return w->gen_higher[j->tier] > 0;
}

/*
 * wk_item.step: after every generated token of an item.  Publishes its
 * text every WK_PROGRESS_MS (the first piece at once), and stops its
 * generation when a higher tier waits for this model (the job is then
 * suspended: handed back, attempts not charged, its tokens kept) or when
 * the job was canceled or its lease lost.  The other items of a batch go
 * on until their own next token.
 */
static int gen_step(void *arg, struct wk_item *it, const char *text, size_t len,
                    const uint32_t *ids, uint32_t n)
{
    (void)ids;
    struct wk_ctx *w = arg;
    struct wk_gen *g = gen_find(w, it->job_id);
    if (g == NULL)
        return 0;
    if (hand_flag_get(w, it->job_id) != 0)
        return 1; /* canceled or lease lost: outcome_write knows which */
    if (text != NULL && !g->pub_off && len > g->pub_len &&
        (g->pub_len == 0 || cm_now_ms() - g->pub_at >= WK_PROGRESS_MS))
        gen_publish(w, g, text, len);
    if (wk_stop < 2 && !gen_higher_waiting(w, g))
        return 0;
    /* stopping here: the readers get everything generated so far */
    if (text != NULL && !g->pub_off && len > g->pub_len)
        gen_publish(w, g, text, len);
    log_info("job %lld (%s): suspended after %u tokens (%s)", (long long)it->job_id,
             jq_tier_str(g->job->tier), n, wk_stop >= 2 ? "stopping" : "a higher tier waits");
    return 1;
}

static int hand_flag_get(struct wk_ctx *w, int64_t id)
{
    int f = 0;
    pthread_mutex_lock(&w->mu);
    for (int k = 0; k < w->n_hand; k++)
        if (w->hand_ids[k] == id)
            f = w->hand_flag[k];
    pthread_mutex_unlock(&w->mu);
    return f;
}

/*
 * Writes one job's outcome, retrying a broken connection for up to
 * WK_DB_RETRY_MS (pgx reconnects).  When it cannot be written the lease
 * expires and the job runs again: nothing is lost.
 */
static void outcome_write(struct wk_ctx *w, const struct jq_job *j, struct wk_item *it,
                          double claim_epoch)
{
    char tbuf[512];
    snprintf(tbuf, sizeof(tbuf),
             "{\"queue_wait_ms\":%.3f,\"decode_ms\":%.3f,\"inference_ms\":%.3f,"
             "\"postprocess_ms\":%.3f,\"batch_size\":%d,\"worker_ms\":%.3f}",
             claim_epoch - (double)j->enqueued_ms > 0 ? claim_epoch - (double)j->enqueued_ms : 0.0,
             it->decode_ms, it->infer_ms, it->post_ms, it->batch_size, epoch_ms() - claim_epoch);
    int flag = hand_flag_get(w, j->id);
    double until = cm_now_ms() + WK_DB_RETRY_MS;
    for (int attempt = 0;; attempt++) {
        struct err e;
        err_clear(&e);
        int rc, kind;
        if (it->status == WK_SUSPENDED && flag == 0) {
            /* handed back at a token boundary: queued again at once, its
             * attempts not charged, its tokens kept (jq_job_suspend) */
            int st = 0;
            rc = jq_job_suspend(w->db, w->name, j->id, it->resume_json, &st, &e);
            pgx_reset(w->db);
            if (rc == JQ_OK && st == JQ_STATE_CANCELED) {
                flag = 1; /* a cancel came first: end it canceled below */
                continue;
            }
            if (rc == JQ_OK) {
                pthread_mutex_lock(&w->mu);
                w->jobs_suspended++;
                pthread_mutex_unlock(&w->mu);
                return;
            }
            kind = 4;
        } else if (it->status == WK_OK && flag == 0) {
            kind = 0;
            rc = jq_job_complete(w->db, w->name, j->id, it->result_json, it->result_bytes,
                                 it->result_len, it->result_type, tbuf, &e);
        } else if (flag < 0 ||
                   (it->status == WK_ERR_CANCELED && strcmp(it->err.code, "lease_lost") == 0)) {
            /* someone else owns it now: write nothing */
            log_info("job %lld: lease lost, outcome dropped", (long long)j->id);
            return;
        } else {
            int transient =
                it->status == WK_ERR_OOM || (it->status != WK_ERR_INPUT && it->err.transient);
            char msg[320];
            if (flag > 0 ||
                (it->status == WK_ERR_CANCELED && strcmp(it->err.code, "canceled") == 0) ||
                it->status == WK_SUSPENDED) {
                transient = 0;
                kind = 3;
                snprintf(msg, sizeof(msg), "canceled");
            } else {
                kind = transient ? 2 : 1;
                snprintf(msg, sizeof(msg), "%s: %s", it->err.code[0] ? it->err.code : "error",
                         it->err.msg);
            }
            rc = jq_job_fail(w->db, w->name, j->id, msg, transient, &e);
        }
        pgx_reset(w->db);
        if (rc == JQ_OK) {
            pthread_mutex_lock(&w->mu);
            if (kind == 0)
                w->jobs_done++;
            else if (kind == 1)
                w->jobs_failed++;
            else if (kind == 2)
                w->jobs_requeued++;
            else
                w->jobs_canceled++;
            pthread_mutex_unlock(&w->mu);
            if (kind != 0)
                log_info("job %lld: %s (%s)", (long long)j->id,
                         kind == 1   ? "failed"
                         : kind == 2 ? "handed back"
                                     : "canceled",
                         it->err.msg);
            return;
        }
        if (rc == JQ_ERR_CONFLICT) {
            log_info("job %lld: not written, lease lost or job final (%s)", (long long)j->id,
                     e.msg);
            return;
        }
        if (cm_now_ms() > until) {
            log_error("job %lld: could not write the outcome: %s; its lease will expire",
                      (long long)j->id, e.msg);
            return;
        }
        log_warn("job %lld: could not write the outcome (try %d): %s", (long long)j->id,
                 attempt + 1, e.msg);
        usleep(attempt < 5 ? 100000 : 1000000);
    }
}

static int model_gen(const struct wk_ctx *w, const char *model)
{
    for (int i = 0; i < w->eng.n_models; i++)
        if (strcmp(w->eng.models[i], model) == 0)
            return w->eng.model_gen[i];
    return 0;
}

static int model_batch_limit(const struct wk_ctx *w, const char *model)
{
    for (int i = 0; i < w->eng.n_models; i++)
        if (strcmp(w->eng.models[i], model) == 0)
            return w->eng.model_batch[i] < w->batch ? w->eng.model_batch[i] : w->batch;
    return 1;
}

/* claims and runs one batch; returns 1 when a batch ran, 0 when the queue
 * was empty, or -WK_EXIT_* to stop the process */
static int batch_once(struct wk_ctx *w)
{
    dev_refresh(w, 0);
    if (w->eng.n_models == 0)
        return 0; /* jq_job_claim with no models means "any": never */
    const char *models[WK_MAX_MODELS];
    for (int i = 0; i < w->eng.n_models; i++)
        models[i] = w->eng.models[i];
    struct jq_job *jobs = NULL;
    int n = 0;
    struct err e;
    err_clear(&e);
    /* queue wait ends when the claim starts (a claimed job is ours) */
    double claim_epoch = epoch_ms();
    /* jobs record the device by name (index and UUID are in the status) */
    char devname[300];
    pthread_mutex_lock(&w->mu);
    snprintf(devname, sizeof(devname), "%d: %s", w->dev.index, w->dev.name);
    pthread_mutex_unlock(&w->mu);
    /* no batch larger than the largest model limit is ever run */
    int claim_max = 1;
    for (int i = 0; i < w->eng.n_models; i++)
        if (model_batch_limit(w, w->eng.models[i]) > claim_max)
            claim_max = model_batch_limit(w, w->eng.models[i]);
    int rc = jq_job_claim(w->db, w->name, devname, models, w->eng.n_models, claim_max, w->lease_s,
                          &jobs, &n, &e);
    pgx_reset(w->db);
    if (rc == JQ_EMPTY)
        return 0;
    if (rc != JQ_OK) {
        log_warn("could not claim jobs: %s", e.msg);
        usleep(500000);
        return 0;
    }
    CM_ASSERT(n >= 1 && n <= WK_MAX_BATCH);
    /* a model that generates text runs one tier per batch: the jobs of the
     * highest tier claimed decode together, the others are handed back at
     * once (uncharged, their tokens kept), so an IMMEDIATE job never waits
     * for lower-tier image encodes and prefills */
    int n_run = n;
    if (model_gen(w, jobs[0].model)) {
        for (int i = 1; i < n; i++) /* by tier, highest first, else in claim order */
            for (int k = i; k > 0 && jobs[k].tier > jobs[k - 1].tier; k--) {
                struct jq_job t = jobs[k];
                jobs[k] = jobs[k - 1];
                jobs[k - 1] = t;
            }
        for (n_run = 1; n_run < n && jobs[n_run].tier == jobs[0].tier;)
            n_run++;
    }
    pthread_mutex_lock(&w->mu);
    w->n_hand = n;
    w->hand_since = cm_now_ms();
    for (int i = 0; i < n; i++) {
        w->hand_ids[i] = jobs[i].id;
        w->hand_flag[i] = 0;
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);

    struct wk_item items[WK_MAX_BATCH];
    memset(items, 0, sizeof(items[0]) * (size_t)n);
    char idlist[64];
    snprintf(idlist, sizeof(idlist), "%lld+%d", (long long)jobs[0].id, n - 1);
    log_ctx_set("job", idlist);
    for (int i = 0; i < n; i++) {
        items[i].job_id = jobs[i].id;
        items[i].input = jobs[i].input;
        items[i].input_len = jobs[i].input_len;
        items[i].params_json = jobs[i].params_json;
        items[i].step = gen_step;
        items[i].step_arg = w;
    }
    for (int i = n_run; i < n; i++) { /* handed back as they came */
        json_t *p = json_loads(jobs[i].params_json ? jobs[i].params_json : "{}", 0, NULL);
        json_t *rt = json_object_get(p, "resume_tokens");
        items[i].resume_json = json_is_array(rt) ? json_dumps(rt, JSON_COMPACT) : NULL;
        json_decref(p);
        items[i].status = WK_SUSPENDED;
        err_set(&items[i].err, WK_SUSPENDED, ERR_UNAVAILABLE, "suspended",
                "claimed with a higher tier: handed back");
        items[i].done = 1;
    }
    /* each item's generation (texts published, higher tiers asked for) */
    for (int i = 0; i < n; i++)
        w->gen[i] = (struct wk_gen){&jobs[i], 0, 0, 0};
    w->n_gen = n;
    w->gen_asked_at = cm_now_ms();
    memset(w->gen_higher, -1, sizeof(w->gen_higher));
    const char *model = jobs[0].model;
    int lim = model_batch_limit(w, model);
    double t0 = cm_now_ms();
    if (strcmp(model, WK_ANALYZE_MODEL) == 0)
        rc = wk_analyze_run(&w->res, &w->eng, w->batch, WK_ANALYZE_DECODED_MAX, n, items,
                            checkpoint, w);
    else
        rc = wk_batch_run(&w->res, model, lim, n_run, items, checkpoint, w);
    log_info("batch of %d %s jobs in %.1f ms", n_run, model, cm_now_ms() - t0);
    int exit_code = 1;
    if (rc == WK_ERR_DEVICE_LOST) {
        log_error("device lost: handing back %d jobs and exiting", n);
        for (int i = 0; i < n; i++)
            if (!items[i].done) {
                items[i].status = WK_ERR;
                err_set_transient(&items[i].err, WK_ERR_DEVICE_LOST, "device_lost",
                                  "could not run: device lost on worker %s", w->name);
                items[i].done = 1;
            }
        exit_code = -WK_EXIT_DEVICE_LOST;
    }
    for (int i = 0; i < n; i++) {
        CM_ASSERT(items[i].done);
        outcome_write(w, &jobs[i], &items[i], claim_epoch);
        free(items[i].result_json);
        free(items[i].resume_json);
        free(items[i].result_bytes);
    }
    w->n_gen = 0;
    pthread_mutex_lock(&w->mu);
    w->n_hand = 0;
    w->batches++;
    w->images += n;
    pthread_mutex_unlock(&w->mu);
    log_ctx_set(NULL, NULL);
    jq_jobs_free(jobs, n);
    return exit_code;
}

/* ------------------------------------------------------------- main */

static void usage(void)
{
    fprintf(stderr,
            "usage: vkv-worker [--device INDEX|UUID|NAME] [--name NAME] [--batch N]\n"
            "                  [--engine vulkan|test] [--test-models a,b] [--test-delay-ms N]\n"
            "                  [--test-model-mb N] [--test-device-mb N]\n"
            "                  [--config FILE] [--check-config] [--print-config]\n"
            "Settings come from VKV_* (config.example); see worker/README.md.\n");
}

int main(int argc, char **argv)
{
    const char *device = NULL, *name = NULL, *engine = "vulkan", *test_models = NULL;
    int batch = 0, test_delay = 200, test_model_mb = 16, test_device_mb = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--check-config") || !strcmp(a, "--print-config"))
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return WK_EXIT_OK;
        }
        if (v == NULL) {
            fprintf(stderr, "vkv-worker: %s needs a value\n", a);
            usage();
            return WK_EXIT_CONFIG;
        }
        i++;
        if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--name"))
            name = v;
        else if (!strcmp(a, "--batch"))
            batch = atoi(v);
        else if (!strcmp(a, "--engine"))
            engine = v;
        else if (!strcmp(a, "--test-models"))
            test_models = v;
        else if (!strcmp(a, "--test-delay-ms"))
            test_delay = atoi(v);
        else if (!strcmp(a, "--test-model-mb"))
            test_model_mb = atoi(v);
        else if (!strcmp(a, "--test-device-mb"))
            test_device_mb = atoi(v);
        else if (strcmp(a, "--config") != 0) {
            fprintf(stderr, "vkv-worker: unknown option %s\n", a);
            usage();
            return WK_EXIT_CONFIG;
        }
    }
    int crc = cfg_main(CFG_PROG_WORKER, argc, argv);
    if (crc >= 0)
        return crc == 0 ? WK_EXIT_OK : WK_EXIT_CONFIG;
    log_init("vkv-worker", (enum log_level)log_level_parse(cfg_str("VKV_LOG_LEVEL")));
    if (device == NULL)
        device = cfg_str("VKV_WORKER_DEVICE");
    if (batch == 0)
        batch = (int)cfg_int("VKV_WORKER_BATCH");
    if (batch < 1 || batch > WK_MAX_BATCH || test_delay < 0 || test_delay > 600000 ||
        test_model_mb < 0 || test_device_mb < 1) {
        fprintf(stderr, "vkv-worker: invalid --batch or --test-* value\n");
        return WK_EXIT_CONFIG;
    }

    static struct wk_ctx w;
    w.batch = batch;
    w.lease_s = (int)cfg_int("VKV_LEASE_SECONDS");
    w.state = "starting";
    w.started_epoch = epoch_ms();
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);

    struct err e;
    err_clear(&e);
    if (!strcmp(engine, "test")) {
        const char *names[WK_MAX_MODELS];
        char buf[1024];
        int n = 0;
        snprintf(buf, sizeof(buf), "%s", test_models ? test_models : "test");
        for (char *sv = NULL, *t = strtok_r(buf, ",", &sv); t && n < WK_MAX_MODELS;
             t = strtok_r(NULL, ",", &sv))
            names[n++] = t;
        if (wk_eng_test_init(&w.eng, names, n, batch, test_delay, test_model_mb, test_device_mb,
                             &e) != WK_OK) {
            log_error("%s", e.msg);
            return WK_EXIT_CONFIG;
        }
    } else if (!strcmp(engine, "vulkan")) {
        if (wk_eng_rt_init(&w.eng, device, cfg_str("VKV_MODELS_DIR"), batch, &e) != WK_OK) {
            log_error("%s", e.msg);
            return !strcmp(e.code, "no_device") ? WK_EXIT_NO_DEVICE : WK_EXIT_CONFIG;
        }
    } else {
        fprintf(stderr, "vkv-worker: unknown engine \"%s\" (vulkan or test)\n", engine);
        return WK_EXIT_CONFIG;
    }
    /* analyze jobs run the models above on one decoded image (wk_analyze.c) */
    if (!strcmp(engine, "vulkan") && w.eng.n_models > 0 && w.eng.n_models < WK_MAX_MODELS) {
        snprintf(w.eng.models[w.eng.n_models], WK_MODEL_NAME_LEN, "%s", WK_ANALYZE_MODEL);
        w.eng.model_batch[w.eng.n_models++] = batch;
    }
    if (w.eng.n_models == 0)
        log_warn("no runnable model: this worker will claim nothing");

    /* the VRAM budget: configured, else VK_EXT_memory_budget, else 80% */
    dev_refresh(&w, 1);
    struct wk_devinfo d = w.dev;
    long long mb = cfg_int("VKV_VRAM_BUDGET_MB");
    if (mb > 0) {
        w.budget = (size_t)mb << 20;
        w.budget_source = "VKV_VRAM_BUDGET_MB";
    } else if (d.has_budget && d.heap_budget > 0) {
        /* what the driver says this process may use, minus what others hold */
        uint64_t b = d.heap_budget * 9 / 10;
        w.budget = (size_t)b;
        w.budget_source = "VK_EXT_memory_budget";
    } else {
        w.budget = (size_t)(d.vram_total / 10 * 8);
        w.budget_source = "80% of the device-local heap";
    }
    if (w.budget == 0)
        w.budget = (size_t)256 << 20;
    wk_res_init(&w.res, w.eng.ops, w.eng.ctx, w.budget);

    if (name != NULL)
        snprintf(w.name, sizeof(w.name), "%s", name);
    else if (*cfg_str("VKV_WORKER_NAME") != '\0')
        snprintf(w.name, sizeof(w.name), "%s", cfg_str("VKV_WORKER_NAME"));
    else {
        char host[64] = "host";
        gethostname(host, sizeof(host));
        host[sizeof(host) - 1] = '\0';
        snprintf(w.name, sizeof(w.name), "%s:%d:%s%d", host, (int)getpid(), w.eng.kind, d.index);
    }
    log_info("worker %s on %s (%s), budget %zu MB (%s), batch %d, lease %d s, %d models", w.name,
             d.name, d.driver, w.budget >> 20, w.budget_source, w.batch, w.lease_s, w.eng.n_models);
    cfg_log(CFG_PROG_WORKER);

    struct pgx_settings ps;
    cfg_pgx_settings(&ps);
    pgx_open(&w.db, &ps, &e);
    pgx_open(&w.hb, &ps, &e);
    if (w.db == NULL || w.hb == NULL) {
        log_error("could not open PostgreSQL connections: %s", e.msg);
        return WK_EXIT_DB;
    }
    /* never claim from a database whose schema this binary was not built
     * for; exit 1 (configuration) so make run does not restart in a loop */
    {
        int src = jq_schema_check(w.db, &e);
        if (src == JQ_ERR_CONFLICT || src == JQ_ERR_NOT_FOUND) {
            log_error("%s (%s); run vkv-admin migrate against a database of this version", e.msg,
                      e.code);
            return WK_EXIT_CONFIG;
        }
        if (src != JQ_OK)
            log_warn("could not check the schema at start: %s", e.msg);
    }
    /* LISTEN before the first claim so no enqueue falls between */
    double until = cm_now_ms() + 30000;
    while (jq_listen(w.db, JQ_CHAN_JOB_NEW, &e) != JQ_OK) {
        if (cm_now_ms() > until) {
            log_error("could not LISTEN on %s: %s", JQ_CHAN_JOB_NEW, e.msg);
            return WK_EXIT_DB;
        }
        usleep(500000);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* the heartbeat thread must not take SIGTERM/SIGINT */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    w.state = "running";
    pthread_t hb;
    if (pthread_create(&hb, NULL, hb_main, &w) != 0) {
        log_error("could not start the heartbeat thread");
        return WK_EXIT_INTERNAL;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    int exit_code = WK_EXIT_OK;
    while (!wk_stop) {
        int r = batch_once(&w);
        if (r < 0) {
            exit_code = -r;
            break;
        }
        if (r > 0)
            continue;
        /* empty: sleep until a NOTIFY or the polling fallback */
        char payload[128];
        err_clear(&e);
        int wr = jq_wait_notify(w.db, WK_POLL_MS, payload, sizeof(payload), &e);
        if (wr != JQ_OK && wr != JQ_EMPTY) {
            log_warn("waiting for jobs: %s", e.msg);
            usleep(500000);
        }
        pgx_reset(w.db);
    }
    log_info("stopping (%s)", exit_code == WK_EXIT_OK ? "signal" : "device lost");
    pthread_mutex_lock(&w.mu);
    w.state = exit_code == WK_EXIT_OK ? "stopped" : "device_lost";
    w.hb_stop = 1;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(hb, NULL);
    if (exit_code != WK_EXIT_DEVICE_LOST) {
        wk_res_free(&w.res);
        dev_refresh(&w, 1);
        status_write(&w, w.db);
        w.eng.destroy(w.eng.ctx);
    } else {
        /* the device is gone: do not touch its objects; say so */
        status_write(&w, w.db);
    }
    pgx_free(w.hb);
    pgx_free(w.db);
    return exit_code;
}
