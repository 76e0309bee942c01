/*
 * h_jobs.c: /v1/jobs — submit, read, list, cancel, stream events, fetch a
 * binary result.
 *
 * Tenancy: every query passes the caller's tenant id, and jq answers
 * "not found" for another tenant's job, so a tenant can neither see nor
 * cancel what is not theirs (404, never 403: ids do not leak).  Job JSON is
 * built by PostgreSQL and passed through unchanged.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"
#include "fcgi/handlers/handlers.h"
#include "fcgi/handlers/h_dash.h"

#include "common/ar.h"
#include "common/cm.h"
#include "common/jq.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

/* keep-alive comments on an idle event stream */
#define EVENTS_PING_MS 15000
/* how often an event stream looks at the job's state */
#define EVENTS_SLICE_MS 500

int api_h_jobs_create(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    json_t *body = NULL;
    struct api_image fimg;
    int has_fimg = 0;
    if (api_req_body(ctx, r, &body, &fimg, &has_fimg, &e) != API_OK)
        return api_reply_err(r, &e);
    struct api_job_spec spec;
    if (api_job_spec_from_json(ctx, r, body, &spec, &e) != API_OK)
        return api_reply_err(r, &e);
    if (has_fimg) {
        if (spec.image.data != NULL)
            return api_reply_error(r, 400, "invalid_field", 0,
                                   "give the image either as image_url or as a file, not both");
        spec.image = fimg;
    }
    if (spec.image.data == NULL)
        return api_reply_error(r, 400, "missing_field", 0,
                               "missing image: send \"image_url\" (a data url) or a multipart "
                               "file field \"image\"");
    int64_t id = 0;
    int existed = 0;
    /* ?wait=MS: the synchronous form, answered with the finished job */
    const char *w = api_query_get(r, ctx->ar, "wait");
    if (w != NULL) {
        char *end;
        long long ms = strtoll(w, &end, 10);
        if (*w == '\0' || *end != '\0' || ms < 1 || ms > ctx->wait_timeout_ms)
            return api_reply_error(r, 400, "invalid_query", 0,
                                   "query parameter wait must be an integer of 1..%lld (ms)",
                                   ctx->wait_timeout_ms);
        json_t *job = NULL;
        if (api_call_sync(ctx, r, &spec, ms, &job, &id, &e) != API_OK) {
            if (strcmp(e.code, "tier_full") == 0)
                return api_reply_error(r, 429, "tier_full", jq_retry_after_s(), "%s", e.msg);
            return api_reply_err(r, &e);
        }
        return api_reply_json(r, 200, json_incref(job), NULL);
    }
    if (api_job_enqueue(ctx, r, &spec, 0, &id, &existed, &e) != JQ_OK) {
        if (strcmp(e.code, "tier_full") == 0)
            return api_reply_error(r, 429, "tier_full", jq_retry_after_s(), "%s", e.msg);
        return api_reply_err(r, &e);
    }
    json_t *out = json_pack("{s:I, s:s, s:s, s:s, s:i, s:s, s:b, s:s, s:s}", "id", (json_int_t)id,
                            "state", existed ? "existing" : "queued", "task", spec.task, "model",
                            spec.model ? spec.model : "", "tier", spec.tier, "tier_name",
                            jq_tier_str(spec.tier), "idempotent_replay", existed, "url",
                            ar_printf(ctx->ar, "/v1/jobs/%lld", (long long)id), "events",
                            ar_printf(ctx->ar, "/v1/jobs/%lld/events", (long long)id));
    if (existed) {
        /* the first job's real state, not "queued" */
        char *text = NULL;
        if (jq_job_get_json(ctx->db, r->tenant.id, id, &text, &e) == JQ_OK) {
            json_t *j = json_loads(text, 0, NULL);
            free(text);
            if (j != NULL) {
                json_object_set(out, "state", json_object_get(j, "state"));
                json_decref(j);
            }
        }
    }
    return api_reply_json(r, existed ? 200 : 202, out, NULL);
}

static int job_id_or_404(struct api_req *r, int64_t *id)
{
    *id = api_id_parse(r->pp[0]);
    if (*id < 0) {
        api_reply_error(r, 404, "not_found", 0, "no job \"%.32s\"", r->pp[0]);
        return API_ERR;
    }
    return API_OK;
}

int api_h_jobs_get(struct api_ctx *ctx, struct api_req *r)
{
    int64_t id;
    if (job_id_or_404(r, &id) != API_OK)
        return API_ERR;
    struct err e;
    err_clear(&e);
    char *text = NULL;
    int64_t scope;
    if (api_dash_scope(ctx, r, &scope) != API_OK)
        return API_ERR;
    if (jq_job_get_json(ctx->db, scope, id, &text, &e) != JQ_OK)
        return api_reply_err(r, &e);
    return api_reply_json_text(r, 200, text);
}

int api_h_jobs_result(struct api_ctx *ctx, struct api_req *r)
{
    int64_t id;
    if (job_id_or_404(r, &id) != API_OK)
        return API_ERR;
    struct err e;
    err_clear(&e);
    uint8_t *bytes = NULL;
    size_t len = 0;
    char type[64] = "";
    int rc = jq_job_result_bytes_get(ctx->db, r->tenant.id, id, &bytes, &len, type, &e);
    if (rc == JQ_OK) {
        rc = api_reply_bytes(r, 200, type[0] ? type : "application/octet-stream", bytes, len, NULL);
        free(bytes);
        return rc;
    }
    if (rc != JQ_ERR_NOT_FOUND)
        return api_reply_err(r, &e);
    /* no image: the JSON result of a job that succeeded (another tenant's
     * job or an unknown id is not found: 404, as for GET /v1/jobs/{id}) */
    char *text = NULL;
    err_clear(&e);
    if (jq_job_get_json(ctx->db, r->tenant.id, id, &text, &e) != JQ_OK)
        return api_reply_err(r, &e);
    json_t *job = api_json_own(ctx->ar, json_loads(text, 0, NULL));
    free(text);
    const char *state = json_string_value(json_object_get(job, "state"));
    json_t *res = json_object_get(job, "result");
    if (state == NULL || strcmp(state, "succeeded") != 0 || json_is_null(res) || res == NULL)
        return api_reply_error(r, 409, "result_not_ready", 0, "job %lld has no result (state %s)",
                               (long long)id, state ? state : "unknown");
    return api_reply_json(r, 200, json_incref(res), NULL);
}

int api_h_jobs_cancel(struct api_ctx *ctx, struct api_req *r)
{
    int64_t id;
    if (job_id_or_404(r, &id) != API_OK)
        return API_ERR;
    struct err e;
    err_clear(&e);
    int st = -1;
    int rc = jq_job_cancel(ctx->db, r->tenant.id, id, &st, &e);
    if (rc == JQ_ERR_CONFLICT)
        return api_reply_error(r, 409, "job_final", 0, "job %lld already ended as %s",
                               (long long)id, jq_state_str(st));
    if (rc != JQ_OK)
        return api_reply_err(r, &e);
    return api_reply_json(
        r, 200,
        json_pack("{s:I, s:s}", "id", (json_int_t)id, "state",
                  st == JQ_STATE_CANCEL_REQUESTED ? "cancel_requested" : jq_state_str(st)),
        NULL);
}

static int query_int(struct api_ctx *ctx, struct api_req *r, const char *name, long long lo,
                     long long hi, long long *out, int *present)
{
    *present = 0;
    const char *v = api_query_get(r, ctx->ar, name);
    if (v == NULL)
        return API_OK;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < lo || x > hi) {
        api_reply_error(r, 400, "invalid_query", 0,
                        "query parameter %s must be an integer of %lld..%lld", name, lo, hi);
        return API_ERR;
    }
    *out = x;
    *present = 1;
    return API_OK;
}

int api_h_jobs_list(struct api_ctx *ctx, struct api_req *r)
{
    struct jq_job_filter f;
    memset(&f, 0, sizeof(f));
    f.state = -1;
    f.tier = -1;
    const char *v;
    if ((v = api_query_get(r, ctx->ar, "state")) != NULL) {
        f.state = jq_state_parse(v);
        if (f.state < 0)
            return api_reply_error(r, 400, "invalid_query", 0,
                                   "unknown state \"%.32s\": queued, running, succeeded, failed, "
                                   "canceled, expired",
                                   v);
    }
    if ((v = api_query_get(r, ctx->ar, "tier")) != NULL) {
        f.tier = jq_tier_parse(v);
        if (f.tier < 0)
            return api_reply_error(r, 400, "invalid_tier", 0, "invalid tier \"%.32s\"", v);
    }
    f.task = api_query_get(r, ctx->ar, "task");
    f.model = api_query_get(r, ctx->ar, "model");
    if ((f.task && strlen(f.task) > JQ_TASK_MAX) || (f.model && strlen(f.model) > JQ_MODEL_MAX))
        return api_reply_error(r, 400, "invalid_query", 0, "task or model filter too long");
    f.created_after = api_query_get(r, ctx->ar, "created_after");
    if (f.created_after != NULL) {
        /* plain ISO-8601 characters only; PostgreSQL parses it */
        size_t n = strlen(f.created_after);
        int ok = n >= 4 && n <= 40;
        for (size_t i = 0; ok && i < n; i++)
            ok = strchr("0123456789-:T .+Z", f.created_after[i]) != NULL;
        if (!ok)
            return api_reply_error(r, 400, "invalid_query", 0,
                                   "created_after must be an ISO-8601 timestamp");
    }
    long long batch = 0, limit = API_PAGE_DEFAULT, cursor = 0;
    int has;
    if (query_int(ctx, r, "batch_id", 1, INT64_MAX, &batch, &has) != API_OK ||
        query_int(ctx, r, "limit", 1, API_PAGE_MAX, &limit, &has) != API_OK ||
        query_int(ctx, r, "cursor", 1, INT64_MAX, &cursor, &has) != API_OK)
        return API_ERR;
    f.batch_id = batch;
    struct err e;
    err_clear(&e);
    char *text = NULL;
    int64_t scope;
    if (api_dash_scope(ctx, r, &scope) != API_OK)
        return API_ERR;
    if (jq_job_list_json(ctx->db, scope, &f, (int)limit, cursor, &text, &e) != JQ_OK)
        return api_reply_err(r, &e);
    return api_reply_json_text(r, 200, text);
}

/* the event name for a job state */
static const char *event_name(const char *state)
{
    if (strcmp(state, "succeeded") == 0)
        return "done";
    if (strcmp(state, "queued") == 0 || strcmp(state, "running") == 0 ||
        strcmp(state, "failed") == 0 || strcmp(state, "canceled") == 0 ||
        strcmp(state, "expired") == 0)
        return state;
    return "state";
}

static int is_final(const char *state)
{
    return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "canceled") == 0 || strcmp(state, "expired") == 0;
}

int api_h_jobs_events(struct api_ctx *ctx, struct api_req *r)
{
    int64_t id;
    if (job_id_or_404(r, &id) != API_OK)
        return API_ERR;
    struct err e;
    err_clear(&e);
    char *text = NULL;
    /* errors before the first byte get a real status */
    if (jq_job_get_json(ctx->db, r->tenant.id, id, &text, &e) != JQ_OK)
        return api_reply_err(r, &e);
    if (api_sse_begin(r) != API_OK) {
        free(text);
        return API_ERR_IO;
    }
    char last[32] = "";
    double t_end = cm_now_ms() + (double)ctx->sse_timeout_ms;
    double t_ping = cm_now_ms() + EVENTS_PING_MS;
    for (;;) {
        json_t *j = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        text = NULL;
        if (j == NULL) {
            api_sse_event(
                r, "error",
                json_pack("{s:s, s:s}", "code", "internal", "message", "could not read the job"));
            return API_ERR;
        }
        const char *state = json_string_value(json_object_get(j, "state"));
        if (state == NULL)
            state = "unknown";
        int final = is_final(state);
        if (strcmp(state, last) != 0) {
            snprintf(last, sizeof(last), "%s", state);
            if (api_sse_event(r, event_name(state), j) != API_OK)
                return API_ERR_IO;
        } else {
            json_decref(j);
        }
        if (final)
            return API_OK;
        double now = cm_now_ms();
        if (now >= t_end || api_stopping()) {
            api_sse_event(r, "timeout",
                          json_pack("{s:I, s:s, s:I}", "id", (json_int_t)id, "state", last,
                                    "timeout_ms", (json_int_t)ctx->sse_timeout_ms));
            return API_OK;
        }
        if (now >= t_ping) {
            if (api_sse_comment(r, "ping") != API_OK)
                return API_ERR_IO;
            t_ping = now + EVENTS_PING_MS;
        }
        double left = t_end - now;
        int slice = left > EVENTS_SLICE_MS ? EVENTS_SLICE_MS : (int)left + 1;
        int rc = jq_job_wait_done(ctx->db, r->tenant.id, id, slice, &text, &e);
        if (rc != JQ_OK && rc != JQ_EMPTY) {
            free(text);
            api_sse_event(
                r, "error",
                json_pack("{s:s, s:s}", "code", e.code[0] ? e.code : "internal", "message", e.msg));
            return API_ERR;
        }
        /* results of this slice are not needed any more */
        pgx_reset(ctx->db);
    }
}
