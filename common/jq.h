/*
 * jq.h: the job-queue client used by vkv-api, vkv-worker, vkv-admin and the
 * SQL tests.  The queue itself (tables, state machine, claim order, lease and
 * retry policy, starvation and fairness bounds) is documented in
 * schema/README.md; every statement lives in schema/queries/jq.sql.
 *
 * Conventions (STYLE.md): every function takes the caller's connection
 * (struct pgx, one per thread) and a struct err, returns an enum jq_status
 * (0 = OK, JQ_EMPTY = "nothing to do", negative = error) and fills e on
 * errors with a class (common/err.h) and a stable code:
 *   JQ_ERR_NOT_FOUND  ERR_NOT_FOUND    "not_found"   (also: another tenant's job)
 *   JQ_ERR_TIER_FULL  ERR_RATE_LIMITED "tier_full"   (Retry-After: see jq_retry_after_s)
 *   JQ_ERR_CONFLICT   ERR_CONFLICT     "conflict"    (lease lost, job already final)
 *   JQ_ERR_DB         ERR_UNAVAILABLE  "db_unavailable", e->transient = 1
 *   JQ_ERR_INVALID    ERR_INVALID      "invalid_..."
 * JSON outputs are built by PostgreSQL (json_build_object) and returned as
 * new malloc'd strings; the caller frees them with free().
 * Thread safety: a struct pgx belongs to one thread at a time; jq has no
 * global state.
 */
#ifndef VKV_JQ_H
#define VKV_JQ_H

#include "common/err.h"
#include "common/pgx.h"

#include <stddef.h>
#include <stdint.h>

enum jq_status {
    JQ_OK = 0,
    JQ_EMPTY = 1, /* no job available (not an error) */
    JQ_ERR = -1,
    JQ_ERR_NOT_FOUND = -2,
    JQ_ERR_TIER_FULL = -3, /* ERR_RATE_LIMITED; see jq_retry_after_s */
    JQ_ERR_CONFLICT = -4,  /* lease lost, already final */
    JQ_ERR_DB = -5,        /* ERR_UNAVAILABLE, transient */
    JQ_ERR_INVALID = -6,
};

/* tiers: higher is claimed first (DESIGN.md) */
enum jq_tier {
    JQ_TIER_BACKGROUND = 0,
    JQ_TIER_PRELOAD = 1,
    JQ_TIER_INTERACTIVE = 2,
    JQ_TIER_IMMEDIATE = 3,
};
#define JQ_TIERS 4

/* job states, as stored (schema/README.md has the state machine) */
enum jq_state {
    JQ_STATE_QUEUED = 0,
    JQ_STATE_RUNNING = 1,
    JQ_STATE_SUCCEEDED = 2,
    JQ_STATE_FAILED = 3,
    JQ_STATE_CANCELED = 4,
    JQ_STATE_EXPIRED = 5,
    JQ_STATE_CANCEL_REQUESTED = 6, /* running, told to stop (cancel result only) */
};

/* LISTEN channels; payloads: job_new = model, job_done = a job id or
 * several comma-separated (batched completions; up to 8000 bytes),
 * job_cancel = job id */
#define JQ_CHAN_JOB_NEW "vkv_job_new"
#define JQ_CHAN_JOB_DONE "vkv_job_done"
#define JQ_CHAN_JOB_CANCEL "vkv_job_cancel"

/* limits checked before anything is written */
#define JQ_TASK_MAX 31
#define JQ_MODEL_MAX 63
#define JQ_IDEMPOTENCY_KEY_MAX 255

/* "queued", "running", ...; "unknown" for other values; static */
const char *jq_state_str(int state);
/* parses a state name; -1 when unknown */
int jq_state_parse(const char *s);
/* "BACKGROUND" ... "IMMEDIATE"; NULL when out of range; static */
const char *jq_tier_str(int tier);
/* parses "0".."3" or a tier name (case-insensitive); -1 when unknown */
int jq_tier_parse(const char *s);
/*
 * The one priority parser: the tier of a job from what a request says.
 * header: the X-Priority header, or NULL; tier, priority: the body's "tier"
 * and "priority" fields as text (an integer as its decimal digits), NULL
 * when absent or null (null means "not said").  A body field wins over the
 * header; *out = def when nothing is said.  Each value is "0".."3" or a
 * tier name, any case.  Returns JQ_OK, or JQ_ERR_INVALID (ERR_INVALID) with
 * "conflicting_fields" when the body names both fields and "invalid_tier"
 * for a value that is not a tier; *out is then unchanged.
 */
int jq_priority_parse(const char *header, const char *tier, const char *priority, int def, int *out,
                      struct err *e);
/* "ok", "empty", "not_found", ...; static */
const char *jq_status_str(int status);

/* ---- settings --------------------------------------------------------- */

/*
 * Per-connection limits, given by the caller (the programs pass their
 * VKV_TIER_DEPTH_LIMIT and VKV_MAX_ATTEMPTS; 100000 and 3 until set; <= 0
 * keeps the current value).  depth_limit: queued jobs per tier before
 * enqueue answers JQ_ERR_TIER_FULL.  Kept in jq's own per-connection state
 * (struct jq_conn in jq.c), not in struct pgx.
 */
void jq_limits_set(struct pgx *c, int64_t depth_limit, int max_attempts);
/* seconds a client should wait after JQ_ERR_TIER_FULL (Retry-After) */
int jq_retry_after_s(void);

/*
 * The queue's tunables (table queue_settings, schema/README.md); a value
 * < 0 leaves that setting unchanged.  *json (may be NULL) receives the
 * new settings as a new string (caller frees).  JQ_ERR_INVALID when a
 * value is out of range.
 */
struct jq_settings {
    int aging_ms, aged_interval_ms, fair_quantum_ms, retry_base_ms, retry_max_ms;
};
int jq_settings_set(struct pgx *c, const struct jq_settings *s, char **json, struct err *e);

/* ---- auth, tenants, keys ---------------------------------------------- */

/*
 * Looks up an API key (hashed with SHA-256; the key itself is never
 * stored).  Returns JQ_OK with *tenant_id and *is_admin, JQ_ERR_NOT_FOUND
 * (ERR_AUTH "invalid_key") for unknown or revoked keys or an empty key.
 */
int jq_auth_key(struct pgx *c, const char *key, int64_t *tenant_id, int *is_admin, struct err *e);
/*
 * The SHA-256 of every usable (not revoked) key, newest first, at most
 * max: *out (n x 32 bytes, caller frees) and *n.  For the failed-auth
 * limit's "is this key worth a lookup" test, never for authentication.
 */
int jq_key_hashes(struct pgx *c, int max, unsigned char **out, int *n, struct err *e);
/* creates a tenant; JQ_ERR_CONFLICT when the name exists */
int jq_tenant_create(struct pgx *c, const char *name, int64_t *tenant_id, struct err *e);
/* tenant id by name; JQ_ERR_NOT_FOUND */
int jq_tenant_get(struct pgx *c, const char *name, int64_t *tenant_id, struct err *e);
/*
 * Creates a random 32-byte key for tenant_id, stores its SHA-256 and writes
 * the printable key ("vkv_" + 43 base64url chars) into key_out (>= 64
 * bytes).  The key cannot be recovered later.
 */
int jq_key_create(struct pgx *c, int64_t tenant_id, int is_admin, char *key_out, size_t key_out_len,
                  int64_t *key_id, struct err *e);
/* revokes a key by id; JQ_ERR_NOT_FOUND */
int jq_key_revoke(struct pgx *c, int64_t key_id, struct err *e);

/* ---- transactions ----------------------------------------------------- */

/* BEGIN / COMMIT / ROLLBACK on c (e.g. a batch and its per-image jobs) */
int jq_tx_begin(struct pgx *c, struct err *e);
int jq_tx_commit(struct pgx *c, struct err *e);
int jq_tx_rollback(struct pgx *c, struct err *e);

/* ---- enqueue (API) ------------------------------------------------------ */

struct jq_new_job {
    int64_t tenant_id;
    const char *task, *model; /* <= JQ_TASK_MAX / JQ_MODEL_MAX bytes */
    int tier;                 /* 0..3 */
    const char *params_json;  /* a JSON object text, NULL = {} */
    const uint8_t *input;     /* image bytes, may be NULL */
    size_t input_len;
    const char *input_type;      /* mime type, NULL allowed */
    const char *idempotency_key; /* NULL = none */
    int64_t batch_id;            /* 0 = none */
    int deadline_ms;             /* 0 = none: ms from now to start by */
    int max_attempts;            /* 0 = default */
    const uint8_t *thumb;        /* the dashboard's WebP thumbnail, NULL = none; */
    size_t thumb_len;            /* written in the job's statement (jq_job_enqueue*) */
    /* NULL: the caller looked the tenant's API key up.  Else that key,
     * checked by the job's own statement (jq_job_enqueue, _rows): unknown,
     * revoked or another tenant's, nothing is written and the call answers
     * JQ_ERR_NOT_FOUND with class ERR_AUTH and code "invalid_key" */
    const char *auth_key;
    /* NULL, or the enqueuing connection's own channel (jq_wait_channel):
     * the finished job's JSON is sent there (jq_job_wait_done_ex reads
     * it).  Only jq_job_enqueue stores it; the group statements ignore it */
    const char *wait_channel;
};

/*
 * Enqueues a job and NOTIFYs vkv_job_new (delivered at commit) when it
 * is IMMEDIATE or no job of its model and tier was waiting (schema/README.md
 * "Notifications").  With an
 * idempotency key already used by this tenant, returns JQ_OK with *existed
 * = 1 and the first job's id (nothing is written).  Returns
 * JQ_ERR_TIER_FULL when the tier holds depth_limit queued jobs,
 * JQ_ERR_INVALID for bad fields, JQ_ERR_NOT_FOUND for an unknown batch of
 * this tenant, JQ_ERR_DB.  May run inside jq_tx_begin/commit.
 */
int jq_job_enqueue(struct pgx *c, const struct jq_new_job *j, int64_t *job_id, int *existed,
                   struct err *e);

/*
 * The group enqueue: jobs[0..n) in one statement, all with jobs[0]'s
 * tenant, task, model, tier, batch, deadline and max_attempts (the caller
 * guarantees it) and no idempotency key; each its own params, input, type
 * and thumbnail (thumbs[i], thumb_lens[i]; thumbs NULL or thumbs[i] NULL =
 * none).  ids[0..n) receive the new ids in order.  One depth check, one
 * fairness lookup, at most one NOTIFY.  Same errors as jq_job_enqueue;
 * n <= JQ_GROUP_MAX.  May run inside jq_tx_begin/commit (all or nothing).
 */
#define JQ_GROUP_MAX 1000
int jq_job_enqueue_many(struct pgx *c, const struct jq_new_job *jobs, int n,
                        const uint8_t *const *thumbs, const size_t *thumb_lens, int64_t *ids,
                        struct err *e);

/*
 * The single jobs of concurrent requests (vkv-api's group enqueue) in one
 * statement and one commit: each row its own tenant, task, model, tier,
 * params, input, idempotency key, deadline, max attempts and thumbnail
 * (batch_id must be 0).  One row runs jq_job_enqueue's statement.  Per row, as jq_job_enqueue would
 * answer it: rc JQ_OK with id and existed (an idempotency key used before, also by an earlier row
 * of the same call, gives the first job's id and existed 1; nothing written), or JQ_ERR_TIER_FULL /
 * JQ_ERR_INVALID / JQ_ERR_DB with e.  The depth limit is checked row by row against the
 * connection's cached count, the group's earlier rows included.  When the statement fails (one
 * row's bad field fails all), every row runs again alone, so that only the
 * bad row gets the error.  A row is committed when it answers JQ_OK (the
 * statement runs outside any transaction: do not call inside
 * jq_tx_begin).  1 <= n <= JQ_GROUP_MAX.  Returns JQ_OK; the caller owns
 * rows and what they point to.
 */
struct jq_row {
    const struct jq_new_job *job; /* in */
    int64_t id;                   /* out */
    int existed;                  /* out */
    int rc;                       /* out */
    struct err e;                 /* out, when rc != JQ_OK */
};
int jq_job_enqueue_rows(struct pgx *c, struct jq_row *rows, int n);

/*
 * Creates a batch (an album) of n_expected images at `tier` for tenant;
 * the caller then enqueues the per-image jobs with batch_id set, ideally in
 * one transaction.  label may be NULL.
 */
int jq_batch_create(struct pgx *c, int64_t tenant_id, int tier, int n_expected, const char *label,
                    int64_t *batch_id, struct err *e);
/*
 * {"id":..,"tenant_id":..,"tier":..,"label":..,"created_at":..,"total":..,
 *  "counts":{"queued":..,"running":..,"succeeded":..,"failed":..,
 *  "canceled":..,"expired":..},"done":bool}.  tenant_id 0 = admin (any).
 * Returns a new string in *json (caller frees), or JQ_ERR_NOT_FOUND.
 */
int jq_batch_get_json(struct pgx *c, int64_t tenant_id, int64_t batch_id, char **json,
                      struct err *e);

/* ---- reading jobs ------------------------------------------------------- */

/*
 * One job as JSON: {"id","tenant_id","batch_id","task","model","tier",
 * "tier_name","state","attempts","max_attempts","enqueued_at","started_at",
 * "finished_at","deadline_at","worker","device","error","params","result",
 * "has_result_bytes","result_type","timings","cancel_requested",
 * "queue_position"(queued only, approximate)}.  tenant_id 0 = admin (any
 * tenant); another tenant's job is JQ_ERR_NOT_FOUND.  Returns a new string
 * in *json (caller frees).
 */
int jq_job_get_json(struct pgx *c, int64_t tenant_id, int64_t job_id, char **json, struct err *e);
/*
 * The binary result of a finished job (an image output).  Returns a new
 * buffer in *bytes (caller frees) with *len and a borrowed-until-free
 * content type copied into type_out (>= 64 bytes), or JQ_ERR_NOT_FOUND.
 */
int jq_job_result_bytes_get(struct pgx *c, int64_t tenant_id, int64_t job_id, uint8_t **bytes,
                            size_t *len, char *type_out, struct err *e);

struct jq_job_filter {
    int state;                 /* -1 = any, else enum jq_state */
    int tier;                  /* -1 = any */
    const char *task, *model;  /* NULL = any */
    int64_t batch_id;          /* 0 = any */
    const char *created_after; /* ISO-8601 timestamp text, NULL = any */
};
/*
 * {"jobs":[ job objects without params/result, newest first ],
 *  "next_cursor": id or null}.  cursor: return jobs with id < cursor
 * (0 = from the newest).  limit 1..1000.  tenant_id 0 = admin (any).
 */
int jq_job_list_json(struct pgx *c, int64_t tenant_id, const struct jq_job_filter *f, int limit,
                     int64_t cursor, char **json, struct err *e);

/*
 * Cancels a job: queued -> canceled at once (*state_out =
 * JQ_STATE_CANCELED); running -> cancel_requested and NOTIFY
 * vkv_job_cancel (*state_out = JQ_STATE_CANCEL_REQUESTED, the worker stops
 * at its next checkpoint); already final -> JQ_ERR_CONFLICT with *state_out
 * the final state; another tenant's or unknown -> JQ_ERR_NOT_FOUND.
 */
int jq_job_cancel(struct pgx *c, int64_t tenant_id, int64_t job_id, int *state_out, struct err *e);

/*
 * {"tiers":[{"tier":3,"name":"IMMEDIATE","paused":false,"queued":n,
 *  "running":n,"oldest_wait_ms":n|null}, ...], "running":n, "queued":n,
 *  "paused":[tiers]}.  Returns a new string (caller frees).
 */
int jq_queue_stats_json(struct pgx *c, char **json, struct err *e);
/*
 * Prometheus text for /metrics: vkv_queue_depth{tier}, vkv_queue_running{tier},
 * vkv_queue_oldest_wait_seconds{tier}, vkv_tier_paused{tier},
 * vkv_jobs_total{state} (history within retention + live).  New string.
 */
int jq_metrics_text(struct pgx *c, char **text, struct err *e);

int jq_tier_pause(struct pgx *c, int tier, struct err *e);
int jq_tier_resume(struct pgx *c, int tier, struct err *e);

/* ---- worker side -------------------------------------------------------- */

struct jq_job {
    int64_t id, tenant_id, batch_id;
    char task[JQ_TASK_MAX + 1], model[JQ_MODEL_MAX + 1];
    int tier, attempts, max_attempts;
    char *params_json; /* NUL-terminated JSON object */
    uint8_t *input;    /* may be NULL */
    size_t input_len;
    char input_type[64];
    int64_t enqueued_ms; /* epoch ms */
};

/*
 * Claims up to max_jobs (1..256) queued jobs, all of the SAME model (the
 * worker runs them as one batch), among models[0..n_models) (n_models 0 =
 * any model), skipping paused tiers, jobs whose run_after is in the future
 * and jobs whose deadline passed.  Order: the claim order of schema/README.md
 * (tier, aging lane, tenant fairness).  Each job becomes running with
 * worker/device set, attempts+1 and a lease of lease_s seconds.
 * worker must be unique per process (e.g. "host:pid:dev0").
 * Returns JQ_OK with a new array in *jobs of *n jobs (caller frees with
 * jq_jobs_free), JQ_EMPTY (*jobs NULL, *n 0), or JQ_ERR_DB.
 */
int jq_job_claim(struct pgx *c, const char *worker, const char *device, const char *const *models,
                 int n_models, int max_jobs, int lease_s, struct jq_job **jobs, int *n,
                 struct err *e);
/* frees an array from jq_job_claim; jobs may be NULL */
void jq_jobs_free(struct jq_job *jobs, int n);

/*
 * Renews the leases of ids[0..n) held by worker to now + lease_s.  For each
 * id, cancel_requested[i] (may be NULL) is set to 1 when the job should
 * stop (canceled by a user), -1 when the lease was lost (requeued or taken
 * by someone else: stop and do not complete), 0 otherwise.
 */
int jq_job_heartbeat(struct pgx *c, const char *worker, const int64_t *ids, int n, int lease_s,
                     int *cancel_requested, struct err *e);
/*
 * Completes a running job held by worker: moves it to history as
 * succeeded with result_json (JSON text, NULL = null), result_bytes (may be
 * NULL) of result_type (NULL allowed) and timings_json (NULL = null),
 * deletes its input, NOTIFYs vkv_job_done.  JQ_ERR_CONFLICT when the lease
 * was lost (requeued, claimed by another, canceled) or the job is final.
 */
int jq_job_complete(struct pgx *c, const char *worker, int64_t id, const char *result_json,
                    const uint8_t *result_bytes, size_t len, const char *result_type,
                    const char *timings_json, struct err *e);
/*
 * Completes many jobs in one statement (same semantics as jq_job_complete,
 * JSON results only).  *n_done receives the number completed; the others
 * had lost their lease.
 */
int jq_job_complete_many(struct pgx *c, const char *worker, const int64_t *ids,
                         const char *const *result_json, int n, int *n_done, struct err *e);
/*
 * Fails a running job held by worker.  transient = 1: requeued with
 * backoff (run_after = now + retry_base * 2^(attempts-1), capped) unless
 * attempts reached max_attempts, then failed; transient = 0: failed at
 * once.  A job with cancel_requested ends canceled.  msg is kept as the
 * job's error.  *state_out (may be NULL) receives the resulting state.
 * JQ_ERR_CONFLICT when the lease was lost.
 */
int jq_job_fail(struct pgx *c, const char *worker, int64_t id, const char *msg, int transient,
                struct err *e);
int jq_job_fail_state(struct pgx *c, const char *worker, int64_t id, const char *msg, int transient,
                      int *state_out, struct err *e);
/*
 * Maintenance (any worker or API process may run it, every few seconds):
 * running jobs whose lease expired -> queued again (attempts were counted
 * at claim) or failed once attempts reached max_attempts (error "lease
 * expired on worker X" unless a worker error was kept); cancel_requested
 * ones -> canceled; queued jobs past their deadline -> expired.
 * *n receives the number of jobs changed.
 */
int jq_requeue_expired(struct pgx *c, int *n, struct err *e);

/* deletes the workers not seen for max_age_s seconds; *n = how many (may be
 * NULL).  Run with the requeue by every worker (VKV_WORKER_PRUNE_S). */
int jq_workers_prune(struct pgx *c, int max_age_s, int *n, struct err *e);

/* ---- waiting ------------------------------------------------------------ */

/* LISTEN on one of the JQ_CHAN_* channels (kept across reconnects) */
int jq_listen(struct pgx *c, const char *channel, struct err *e);
/*
 * Waits up to timeout_ms for a notification.  Returns JQ_OK with
 * payload (may be NULL) filled, JQ_EMPTY on timeout, JQ_ERR_DB.
 */
int jq_wait_notify(struct pgx *c, int timeout_ms, char *payload, size_t plen, struct err *e);
/*
 * Whether a vkv_job_done payload ("<id>[,<id>...]": one job, or a batch
 * from jq_job_complete_many) names job_id.  The payload never carries a
 * result: LISTEN needs no privilege in PostgreSQL, so every role that can
 * connect (vkv_readonly too) could read it.  Cannot fail.
 */
int jq_done_payload_has(const char *payload, int64_t job_id);
/*
 * Waits until job_id (of tenant; 0 = any) is final or timeout_ms passes,
 * via LISTEN vkv_job_done with a polling fallback every 1 s.  Returns JQ_OK with the job JSON (new
 * string, caller frees) when final, JQ_EMPTY with the current JSON on timeout, JQ_ERR_NOT_FOUND.
 */
int jq_job_wait_done(struct pgx *c, int64_t tenant_id, int64_t job_id, int timeout_ms, char **json,
                     struct err *e);
/*
 * jq_job_wait_done; look_first 0 skips the first look at the job, for a
 * caller that was LISTENing on vkv_job_done (jq_listen) before the job
 * could end, e.g. before enqueueing it: then only its notification (or
 * the 1 s fallback) leads to a statement, one round trip per call instead
 * of two.  Ownership and returns as jq_job_wait_done.
 */
int jq_job_wait_done_ex(struct pgx *c, int64_t tenant_id, int64_t job_id, int timeout_ms,
                        int look_first, char **json, struct err *e);
/*
 * This connection's own wait channel (migration 0011, job_wait_listen):
 * LISTENed on by the first call and again after a reconnect (a new name
 * then).  A job enqueued with it (jq_new_job.wait_channel) has its final
 * JSON sent there in "<id>:<json>" when shorter than 8000 bytes, and
 * jq_job_wait_done_ex on this connection returns it without a statement;
 * a longer one, or a notification lost to a reconnect, falls back to
 * vkv_job_done and a read.  Only this session knows the name (122 random
 * bits; no view shows jobs.wait_channel), so no other role can LISTEN on
 * it.  *name is borrowed: valid until the next jq call on c.  JQ_OK, or
 * JQ_ERR_DB.
 */
int jq_wait_channel(struct pgx *c, const char **name, struct err *e);
/* how many waits on c returned a job from its wait channel; cannot fail */
long long jq_wait_hits(struct pgx *c);

/* ---- worker registry (GET /v1/gpus) ------------------------------------ */

/*
 * Records worker's status (device_json: a JSON object: device name,
 * vendor, driver, vram_total/budget/used, resident models with bytes,
 * load/unload counts, jobs_running, ...) and last_seen = now().
 */
int jq_worker_upsert(struct pgx *c, const char *name, const char *device_json, struct err *e);
/*
 * {"workers":[{"name","status":"up"|"down","last_seen","device":{...}}]}
 * where "down" means last_seen older than stale_s.  New string.
 */
int jq_workers_json(struct pgx *c, int stale_s, char **json, struct err *e);
/*
 * The counts behind Moondream Station's /v1/stats: {"workers" (up, seen
 * within stale_s), "queue_size" (queued jobs), "processing" (running jobs),
 * "requests_processed" (jobs succeeded or failed), "timeouts" (jobs
 * expired)}.  Returns a new string in *json (caller frees).
 */
int jq_station_stats_json(struct pgx *c, int stale_s, char **json, struct err *e);

/* ---- schema (migrations embedded from schema/migrations/) --------------- */

/*
 * Compares the migrations recorded in schema_migrations with the ones this
 * binary embeds.  JQ_OK when all are applied with the same sha256;
 * JQ_ERR_CONFLICT ("schema_mismatch") when an applied file's checksum
 * differs or the database has a migration this binary does not know: the
 * program must refuse to start; JQ_ERR_NOT_FOUND ("schema_not_migrated")
 * when some are missing (run vkv-admin migrate); JQ_ERR_DB.
 */
int jq_schema_check(struct pgx *c, struct err *e);
/*
 * Applies the missing migrations in order, each in its own transaction,
 * recording version, name and sha256; serialised between processes with an
 * advisory lock.  Refuses (JQ_ERR_CONFLICT) on a checksum mismatch.
 * *applied (may be NULL) receives how many were applied now; log_info
 * names each.
 */
int jq_schema_migrate(struct pgx *c, int *applied, struct err *e);

/* ---- retention (vkv-admin retention run) ------------------------------- */

/* deletes history, idempotency keys and batches older than days; *n rows */
int jq_retention_run(struct pgx *c, int days, int64_t *n, struct err *e);

/* ---- text generation: progress, preemption, streams (jq_stream.c) ------- */

/*
 * A generating job's text so far (the whole text, not a delta; it only
 * grows: a shorter text than the stored one is not written), NOTIFYed on
 * the job's channel vkv_job_progress_<id>.  JQ_ERR_CONFLICT when the job
 * is no longer running on worker.
 */
int jq_job_progress(struct pgx *c, const char *worker, int64_t id, const char *text, struct err *e);
/* *yes = whether a job of a tier above `tier` waits for model (unpaused
 * tiers, runnable now) */
int jq_job_higher_waiting(struct pgx *c, const char *model, int tier, int *yes, struct err *e);
/*
 * Hands a running job back for a higher tier (migration 0006, job_suspend):
 * queued again at once, first in its tier, attempts not charged, params
 * "resume_tokens" = resume_json (a JSON array of token ids; NULL: start
 * over).  *state_out (may be NULL): JQ_STATE_QUEUED, or JQ_STATE_CANCELED
 * when a cancel was requested (nothing changed: the caller fails the job as
 * canceled).  JQ_ERR_CONFLICT when the job is not running on worker.
 */
int jq_job_suspend(struct pgx *c, const char *worker, int64_t id, const char *resume_json,
                   int *state_out, struct err *e);
/* follows job_id's text on c: LISTEN on its channel and on vkv_job_done */
int jq_stream_open(struct pgx *c, int64_t job_id, struct err *e);
/* stops following (UNLISTEN); cannot fail */
void jq_stream_close(struct pgx *c, int64_t job_id);
/*
 * Waits up to timeout_ms until the job's text is longer than `sent` bytes
 * or the job is final.  Returns JQ_OK or JQ_EMPTY (timeout) with *state
 * (enum jq_state) and *text (new string, caller frees; NULL when the job
 * has none or is final: its result holds the whole text then), or
 * JQ_ERR_NOT_FOUND (not the tenant's job), JQ_ERR_DB.
 */
int jq_stream_wait(struct pgx *c, int64_t tenant_id, int64_t job_id, size_t sent, int timeout_ms,
                   int *state, char **text, struct err *e);

#endif
