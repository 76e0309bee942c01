/*
 * api_impl.h: vkv-api internals shared by fcgi/ *.c and fcgi/handlers/ *.c;
 * not for other folders.  See fcgi/README.md.
 */
#ifndef VKV_API_IMPL_H
#define VKV_API_IMPL_H

#include "fcgi/api.h"

#include "common/img.h"

#include <stdint.h>

struct jq_row;

/* images per POST /v1/batches */
#define API_MAX_BATCH 1000
/* after SIGTERM, threads get this long before the process exits anyway */
#define API_STOP_GRACE_MS 3000
/* GET /v1/jobs page size: default and maximum */
#define API_PAGE_DEFAULT 50
#define API_PAGE_MAX 500

/* 1 once SIGTERM/SIGINT arrived; long waits poll it */
int api_stopping(void);

/* ---- database (api_db.c) ---- */

/* process-wide setup before the threads start; 0 or -1 (logged) */
int api_db_global_init(void);
/* this thread's connection; never NULL (connects lazily, reconnects) */
struct pgx *api_db_thread_init(int thread);
void api_db_thread_free(struct pgx *db);
/* after every request: PQclear the results, drop stale notifications */
void api_db_request_end(struct pgx *db);

/* ---- image validation at the boundary (api_image.c) ---- */

struct api_image {
    const uint8_t *data; /* borrowed (arena or body) */
    size_t len;
    const char *mime; /* "image/jpeg", ... (static) */
    int w, h;
    /* the dashboard's thumbnail: a WebP in the request arena, or data
     * itself when it is small (thumb_keeps_input); NULL when
     * VKV_THUMB_SIDE is 0 or it could not be made */
    const uint8_t *thumb;
    size_t thumb_len;
    /* instead of thumb when ctx->thumb_later: its pixels, at most 4 x
     * VKV_THUMB_SIDE^2 (the box filter runs after the reply too), valid
     * until the arena's reset; w = 0 when none */
    struct img thumb_src;
};

/* a thumbnail to encode and store once the reply is out */
struct api_later {
    int64_t tenant_id, job_id;
    struct img thumb_src; /* borrowed from the request arena */
};

/*
 * Runs what a request left for after its reply (ctx->later: a synchronous
 * call's thumbnail, encoded and written with one statement), then clears
 * it.  Called between FCGX_Finish_r and ar_reset; best effort: a failure
 * is logged, never answered.
 */
void api_after_reply(struct api_ctx *ctx);

/*
 * Validates an image given as a data URL (or plain base64) string: decodes
 * the base64 into ar, sniffs the format and decodes the pixels under the
 * configured limits (then drops them).  Returns API_OK with *out filled, or
 * an error: invalid_data_url / invalid_base64 / invalid_image (400),
 * image_too_large (413), unsupported_image_type (415).
 */
int api_image_from_data_url(struct api_ctx *ctx, const char *s, size_t n, struct api_image *out,
                            struct err *e);
/* the same for raw bytes (a multipart upload); data is borrowed */
int api_image_from_bytes(struct api_ctx *ctx, const uint8_t *data, size_t n, struct api_image *out,
                         struct err *e);

/* ---- job submission shared by /v1/jobs, /v1/batches and the
 * synchronous calls (api_call.c) ---- */

struct api_job_spec {
    const char *task;
    const char *model;       /* NULL = the task's default */
    int tier;                /* 0..3 */
    const char *params_json; /* "{}" when none */
    struct api_image image;  /* data NULL = no image */
    const char *idem_key;    /* NULL = none */
    long long deadline_ms;   /* 0 = none, else ms from now */
    /* NULL, or the request's connection's wait channel (api_call_sync):
     * the job is then enqueued on that connection, not in a group */
    const char *wait_channel;
};

/*
 * Validates the common job fields of a JSON object (task, model, tier or
 * priority, params, deadline_ms/deadline, image_url) into *spec; the tier
 * comes from api_job_tier (the route's default tier when none is said).
 * Returns API_OK or an error naming the field.
 */
int api_job_spec_from_json(struct api_ctx *ctx, struct api_req *r, json_t *body,
                           struct api_job_spec *spec, struct err *e);

/*
 * Enqueues spec for r's tenant (batch_id 0 = none).  *existed = 1 when the
 * idempotency key returned an earlier job.  jq status codes.
 */
int api_job_enqueue(struct api_ctx *ctx, struct api_req *r, const struct api_job_spec *spec,
                    int64_t batch_id, int64_t *job_id, int *existed, struct err *e);

/*
 * The group enqueue of a batch: spec with images[i] and, where not NULL,
 * params[i] as each job's own, n jobs in one statement (jq_job_enqueue_many)
 * into batch_id; ids[0..n) receive the job ids.  jq status codes.
 */
int api_job_enqueue_group(struct api_ctx *ctx, struct api_req *r, const struct api_job_spec *spec,
                          const struct api_image *images, const char *const *params, int n,
                          int64_t batch_id, int64_t *ids, struct err *e);

/*
 * Turns a multipart/form-data body into a JSON object of its text fields
 * (owned by the arena; "params" parsed as JSON, "deadline_ms" as an
 * integer) and validates its file parts named image/images/file into
 * images[0..*nimages) (at most max_images).  Returns API_OK or an error.
 */
int api_form_to_json(struct api_ctx *ctx, struct api_req *r, json_t **body,
                     struct api_image *images, int max_images, int *nimages, struct err *e);
/*
 * The body of a one-image request as JSON: multipart/form-data through
 * api_form_to_json (its image file, if any, in *fimg with *nfimg = 1) or
 * application/json (*nfimg = 0); any other type is 415
 * unsupported_media_type.  *body is owned by the arena.  API_OK or an error.
 */
int api_req_body(struct api_ctx *ctx, struct api_req *r, json_t **body, struct api_image *fimg,
                 int *nfimg, struct err *e);

/* ---- the synchronous call (api_call.c) ---- */

/*
 * Enqueues spec at spec->tier and waits up to timeout_ms (0 = ctx's
 * VKV_WAIT_TIMEOUT_MS) for the job to end, via LISTEN vkv_job_done with a
 * polling fallback.  On success returns API_OK and *job (the job JSON
 * object of jq_job_get_json, owned by the request arena; look at "state",
 * "result", "error", "timings") and *job_id.  On timeout the job is
 * canceled and the call answers 504 "timeout"; when the job failed the
 * caller decides (the JSON says "failed").  Errors: the jq errors
 * (429 tier_full, 503 db_unavailable), 504 timeout.
 */
int api_call_sync(struct api_ctx *ctx, struct api_req *r, const struct api_job_spec *spec,
                  long long timeout_ms, json_t **job, int64_t *job_id, struct err *e);

/*
 * As api_call_sync, for a job that generates text: while it runs, each
 * time its published text (jq_job_progress) grows, on_text(ud, piece, len)
 * gets the new bytes (complete UTF-8 characters); a non-zero return (the
 * client is gone) cancels the job and ends the call with that status.
 * Follows the job with LISTEN on its progress channel and vkv_job_done, a
 * 250 ms polling fallback.  The final job JSON's result holds the whole
 * text; *sent receives how many of its bytes went out through on_text.
 */
int api_call_stream(struct api_ctx *ctx, struct api_req *r, const struct api_job_spec *spec,
                    long long timeout_ms, int (*on_text)(void *ud, const char *piece, size_t len),
                    void *ud, json_t **job, int64_t *job_id, size_t *sent, struct err *e);

/* flags of api_call_sync_reply */
enum {
    API_SYNC_ADD_IDS = 1, /* add "job_id" and "request_id" to the answered result */
    API_SYNC_OOM_503 = 2  /* a job failed for device memory answers 503 (retry), not 500 */
};

/*
 * The synchronous image routes' common tail: takes the image from the form
 * file (nfimg > 0: fimg) or from spec's image_url (both: 400), runs spec
 * with api_call_sync, and replies 200 with the job's result object (a copy
 * when flags add fields) and X-Job-Id + Server-Timing headers, or with the
 * error (429 tier_full with Retry-After, 503 canceled, 500
 * inference_failed).  spec and fimg are borrowed.  Returns the reply's
 * status like every handler.
 */
int api_call_sync_reply(struct api_ctx *ctx, struct api_req *r, struct api_job_spec *spec,
                        const struct api_image *fimg, int nfimg, int flags);

/*
 * A hook of api_call_sync_reply_hook: may change out (the answered copy of
 * the succeeded job's result, owned by the caller) before the reply;
 * returns API_OK or an error in e (answered instead).
 */
typedef int (*api_result_hook)(struct api_ctx *ctx, struct api_req *r, int64_t job_id, json_t *out,
                               void *arg, struct err *e);

/* api_call_sync_reply with a hook on the result (NULL: none) */
int api_call_sync_reply_hook(struct api_ctx *ctx, struct api_req *r, struct api_job_spec *spec,
                             const struct api_image *fimg, int nfimg, int flags,
                             api_result_hook hook, void *arg);

/* ---- face search (api_faces.c) ---- */

struct api_face_match {
    int64_t id;
    float score; /* exact cosine similarity */
};

/*
 * The k (1..100) faces of tenant most similar to q (1024 floats,
 * normalised here), best first, skipping face skip (0 = none): the
 * tenant's in-memory int8 matrix is brought up to date from PostgreSQL
 * (rows added since the last call; a reload when rows went missing), the
 * scan keeps 4k + 64 candidates, and those are re-scored with their float
 * descriptors.  Where the database has pgvector's index (migration 0008,
 * faces_vector_ready(); VKV_FACES_PGVECTOR=1) the search runs there
 * instead, approximate as the index is.  Writes out[0..*n), the rows
 * searched in *searched and *how ("exact" or "pgvector", static).
 * Returns API_OK or an error (503 db_unavailable, 507 out_of_memory).
 * Thread-safe: one matrix per tenant per process, shared by the threads.
 */
int api_faces_search(struct api_ctx *ctx, int64_t tenant, const float *q, int k, int64_t skip,
                     struct api_face_match *out, int *n, int64_t *searched, const char **how,
                     struct err *e);

/* bytes of the matrices held by this process (metrics, tests); cannot fail */
size_t api_faces_cache_bytes(void);

/* parses a real[] in PostgreSQL's binary array format into v[0..dim);
 * 0 or -1 when it is not a one-dimensional float4 array of dim values */
int api_faces_parse_vec(const char *p, int len, float *v, int dim);

/* parses a decimal job/batch id path segment; -1 when invalid */
int64_t api_id_parse(const char *s);

/* replies with a JSON text built by PostgreSQL (takes ownership of json,
 * which is free()d); status 200 unless given */
int api_reply_json_text(struct api_req *r, int status, char *json);

/* ---- long requests (api_long.c): event streams, ?wait=, synchronous
 * calls; see fcgi/README.md "Long requests" ---- */

/* sets the caps before any thread starts: threads - reserve long requests
 * per process, per_tenant of one tenant */
void api_long_init(int threads, int reserve, int per_tenant);

/* 1 when the routed request r holds its thread until a job ends */
int api_long_is(const struct api_route *rt, const struct api_req *r);

/* takes a slot for r's (authenticated) tenant, or answers 429
 * too_many_long_requests + Retry-After and returns API_ERR; thread-safe */
int api_long_enter(struct api_req *r);

/* releases r's slot when it holds one; cannot fail */
void api_long_leave(struct api_req *r);
/* long requests in flight in this process now */
int api_long_active(void);

/* ---- group enqueue (api_group.c) ---------------------------------------- */

/*
 * Turns the group enqueue on for this process (off: every row alone):
 * at most max_rows rows per statement, at most `leaders` statements in
 * flight at once; a leader waits up to wait_us for rows of requests still
 * being served (0 = never waits).  Call once before the threads start.
 */
void api_group_init(int max_rows, int leaders, int wait_us);
/* +1 when a thread starts serving a request, -1 when it is done */
void api_group_request(int delta);
/* this thread's request will bring no row (it became a long request, or
 * handed its row already): a gathering leader stops waiting for it */
void api_group_not_coming(void);
/*
 * Enqueues row (batch 0) together with the rows of concurrent requests in
 * one statement, on db when this thread leads the group (another thread's
 * connection otherwise).  Returns row->rc with row->id/existed/e filled
 * as jq_job_enqueue_rows answers; the row is committed when JQ_OK.  row and
 * what it points to stay the caller's.
 */
int api_group_enqueue(struct pgx *db, struct jq_row *row);
/* statements run and rows written by the group enqueue since start, and
 * the rows waiting for a leader now */
void api_group_stats(long long *statements, long long *rows, int *waiting);

/* ---- failed-auth and per-tenant rate limits (api_limit.c) ---- */

/*
 * Sets the rates (a rate <= 0 disables that limit) and maps path (empty:
 * none) as the bucket table shared with the other vkv-api processes; call
 * before any thread starts.  0, or -1 with e set: the limits then work
 * per process (the caller logs it).
 */
int api_limit_init(const char *path, double fail_rate, double tenant_rate, double tenant_burst,
                   struct err *e);

/*
 * 1 when addr has used up its failed authentications and key (borrowed) is
 * not one of the usable keys (*retry_after set): refuse without a lookup.
 * May reload the usable keys' hashes on db (at most once per second).
 */
int api_limit_auth_blocked(struct pgx *db, const char *addr, const char *key, int *retry_after);

/* counts one failed key lookup from addr */
void api_limit_auth_failed(const char *addr);

/* the enqueue statement refused r's deferred key (api_job.c): forgets it
 * in the key cache and counts a failed authentication; cannot fail */
void api_auth_refused(struct api_req *r);

/* how many key lookups this process left to an enqueue statement (api_db.c) */
long long api_auth_lookups_skipped(void);
/* synchronous calls of this process whose finished job came inside its
 * notification (jq_wait_channel), not from a read; cannot fail */
long long api_call_payload_results(void);

/* takes one request token of the tenant: 1, or 0 with *retry_after set */
int api_limit_tenant_take(int64_t tenant, int *retry_after);

/* ---- query parameters per route (api_query.c) ---- */

/* answers 400 unknown_query_parameter and returns API_ERR when r's query
 * names a parameter route rt does not accept */
int api_query_check(const struct api_route *rt, struct api_req *r);

#endif
