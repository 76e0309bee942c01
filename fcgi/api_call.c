/*
 * api_call.c: the synchronous call, for routes that answer with a result
 * (POST /v1/classify, the Moondream routes): enqueue at a tier, wait for
 * the job to end, return its JSON.
 *
 * The wait LISTENs on vkv_job_done before the enqueue, so the job's end
 * cannot be missed and nothing is read until its notification (or the 1 s
 * polling fallback) comes: then one statement returns state and JSON
 * (jq_job_wait_done_ex).  The job is enqueued with this connection's own
 * wait channel (jq_wait_channel, a random name only this session knows):
 * the completion sends the finished job's JSON there when it fits a
 * notification, and then nothing is read.  vkv_job_done itself never
 * carries a result: any role that can connect may LISTEN on it
 * (schema/README.md, "Notifications").  It runs on the thread's
 * own connection, in slices so that a stopping server does not hold the thread for the whole
 * timeout. A call that times out cancels its job: nobody would read the result, and GPU time is the
 * scarce resource (Moondream Station keeps running abandoned work).
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include "common/ar.h"
#include "common/cm.h"
#include "common/jq.h"
#include "common/log.h"
#include "common/pgx.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define API_CALL_SLICE_MS 1000

/* synchronous calls whose job came in its notification (/metrics) */
static atomic_llong api_wait_payloads;

long long api_call_payload_results(void)
{
    return atomic_load(&api_wait_payloads);
}

int api_call_sync(struct api_ctx *ctx, struct api_req *r, const struct api_job_spec *spec,
                  long long timeout_ms, json_t **job, int64_t *job_id, struct err *e)
{
    *job = NULL;
    if (timeout_ms <= 0)
        timeout_ms = ctx->wait_timeout_ms;
    int existed = 0;
    /* listening before the job exists: its notification cannot be missed,
     * so the first wait needs no look at the job (one round trip less) */
    int rc = jq_listen(ctx->db, JQ_CHAN_JOB_DONE, e);
    if (rc != JQ_OK)
        return rc;
    /* the job's JSON comes on this connection's own channel (one statement
     * on the connection's first call); without it, vkv_job_done and a read */
    struct api_job_spec ws = *spec;
    if (jq_wait_channel(ctx->db, &ws.wait_channel, e) != JQ_OK || ws.wait_channel[0] == '\0')
        ws.wait_channel = NULL;
    err_clear(e);
    long long hits = jq_wait_hits(ctx->db);
    r->t_enq_ms = cm_now_ms();
    rc = api_job_enqueue(ctx, r, &ws, 0, job_id, &existed, e);
    if (rc != JQ_OK)
        return rc;
    r->t_queued_ms = cm_now_ms();
    double until = cm_now_ms() + (double)timeout_ms;
    char *text = NULL;
    /* an idempotent replay may have ended long ago */
    int look = existed;
    for (;;) {
        double left = until - cm_now_ms();
        if (left <= 0 || api_stopping()) {
            int st = 0;
            struct err ce;
            err_clear(&ce);
            jq_job_cancel(ctx->db, r->tenant.id, *job_id, &st, &ce);
            free(text);
            return err_set(e, API_ERR, ERR_TIMEOUT, "timeout",
                           "job %lld did not finish within %lld ms; it was canceled",
                           (long long)*job_id, timeout_ms);
        }
        int slice = left > API_CALL_SLICE_MS ? API_CALL_SLICE_MS : (int)left + 1;
        free(text);
        text = NULL;
        rc = jq_job_wait_done_ex(ctx->db, r->tenant.id, *job_id, slice, look, &text, e);
        look = 1;
        if (rc == JQ_OK)
            break;
        if (rc != JQ_EMPTY) {
            free(text);
            return rc;
        }
    }
    r->t_done_ms = cm_now_ms();
    if (jq_wait_hits(ctx->db) != hits)
        atomic_fetch_add(&api_wait_payloads, 1);
    /* the read after the notification, for Server-Timing's api_read (a
     * job found by the polling fallback has none; one whose JSON came in
     * its notification has only the parse) */
    double nt = pgx_notified_ms(ctx->db);
    r->t_note_ms = nt > r->t_queued_ms ? nt : r->t_done_ms;
    json_error_t je;
    json_t *j = text ? json_loads(text, 0, &je) : NULL;
    free(text);
    if (j == NULL)
        return err_set(e, API_ERR, ERR_INTERNAL, "internal",
                       "could not parse the job json of job %lld", (long long)*job_id);
    *job = api_json_own(ctx->ar, j);
    if (*job == NULL)
        return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of request memory");
    return API_OK;
}

int api_call_stream(struct api_ctx *ctx, struct api_req *r, const struct api_job_spec *spec,
                    long long timeout_ms, int (*on_text)(void *ud, const char *piece, size_t len),
                    void *ud, json_t **job, int64_t *job_id, size_t *sent, struct err *e)
{
    *job = NULL;
    *sent = 0;
    if (timeout_ms <= 0)
        timeout_ms = ctx->wait_timeout_ms;
    int existed = 0;
    int rc = api_job_enqueue(ctx, r, spec, 0, job_id, &existed, e);
    if (rc != JQ_OK)
        return rc;
    rc = jq_stream_open(ctx->db, *job_id, e);
    if (rc != JQ_OK)
        return rc;
    double until = cm_now_ms() + (double)timeout_ms;
    int state = JQ_STATE_QUEUED;
    for (;;) {
        double left = until - cm_now_ms();
        if (left <= 0 || api_stopping()) {
            int st = 0;
            struct err ce;
            err_clear(&ce);
            jq_job_cancel(ctx->db, r->tenant.id, *job_id, &st, &ce);
            jq_stream_close(ctx->db, *job_id);
            return err_set(e, API_ERR, ERR_TIMEOUT, "timeout",
                           "job %lld did not finish within %lld ms; it was canceled",
                           (long long)*job_id, timeout_ms);
        }
        int slice = left > API_CALL_SLICE_MS ? API_CALL_SLICE_MS : (int)left + 1;
        char *text = NULL;
        rc = jq_stream_wait(ctx->db, r->tenant.id, *job_id, *sent, slice, &state, &text, e);
        if (rc != JQ_OK && rc != JQ_EMPTY) {
            free(text);
            jq_stream_close(ctx->db, *job_id);
            return rc;
        }
        size_t n = text != NULL ? strlen(text) : 0;
        int stop = 0;
        if (n > *sent) {
            stop = on_text(ud, text + *sent, n - *sent);
            *sent = n;
        }
        free(text);
        if (stop) {
            int st = 0;
            struct err ce;
            err_clear(&ce);
            jq_job_cancel(ctx->db, r->tenant.id, *job_id, &st, &ce);
            jq_stream_close(ctx->db, *job_id);
            return err_set(e, stop, ERR_UNAVAILABLE, "client_gone",
                           "job %lld canceled: the stream could not be written",
                           (long long)*job_id);
        }
        if (state != JQ_STATE_QUEUED && state != JQ_STATE_RUNNING)
            break;
    }
    jq_stream_close(ctx->db, *job_id);
    char *jtext = NULL;
    rc = jq_job_get_json(ctx->db, r->tenant.id, *job_id, &jtext, e);
    if (rc != JQ_OK)
        return rc;
    json_t *j = json_loads(jtext, 0, NULL);
    free(jtext);
    if (j == NULL)
        return err_set(e, API_ERR, ERR_INTERNAL, "internal",
                       "could not parse the job json of job %lld", (long long)*job_id);
    *job = api_json_own(ctx->ar, j);
    if (*job == NULL)
        return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of request memory");
    return API_OK;
}

static double timing(json_t *t, const char *key)
{
    json_t *v = json_object_get(t, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

int api_call_sync_reply(struct api_ctx *ctx, struct api_req *r, struct api_job_spec *spec,
                        const struct api_image *fimg, int nfimg, int flags)
{
    return api_call_sync_reply_hook(ctx, r, spec, fimg, nfimg, flags, NULL, NULL);
}

int api_call_sync_reply_hook(struct api_ctx *ctx, struct api_req *r, struct api_job_spec *spec,
                             const struct api_image *fimg, int nfimg, int flags,
                             api_result_hook hook, void *arg)
{
    struct err e;
    err_clear(&e);
    if (nfimg > 0) {
        if (spec->image.data != NULL)
            return api_reply_error(r, 400, "invalid_field", 0,
                                   "give the image either as image_url or as a file, not both");
        spec->image = *fimg;
    }
    if (spec->image.data == NULL)
        return api_reply_error(r, 400, "missing_field", 0,
                               "missing image: send \"image_url\" (a data url) or a multipart "
                               "file field \"image\"");
    json_t *job = NULL;
    int64_t id = 0;
    if (api_call_sync(ctx, r, spec, 0, &job, &id, &e) != API_OK) {
        if (strcmp(e.code, "tier_full") == 0)
            return api_reply_error(r, 429, "tier_full", jq_retry_after_s(), "%s", e.msg);
        return api_reply_err(r, &e);
    }
    const char *state = json_string_value(json_object_get(job, "state"));
    const char *msg = json_string_value(json_object_get(job, "error"));
    if (state == NULL || strcmp(state, "succeeded") != 0) {
        if (state != NULL && strcmp(state, "canceled") == 0)
            return api_reply_error(r, 503, "canceled", 0, "job %lld was canceled", (long long)id);
        if ((flags & API_SYNC_OOM_503) && msg != NULL &&
            strstr(msg, "out_of_device_memory") != NULL)
            return api_reply_error(r, 503, "out_of_device_memory", 5, "job %lld %s: %s",
                                   (long long)id, state ? state : "ended", msg);
        return api_reply_error(r, 500, "inference_failed", 0, "job %lld %s: %s", (long long)id,
                               state ? state : "ended", msg ? msg : "no detail");
    }
    json_t *result = json_object_get(job, "result");
    if (!json_is_object(result))
        return api_reply_error(r, 500, "internal", 0, "job %lld succeeded without a JSON result",
                               (long long)id);
    json_t *out;
    if ((flags & API_SYNC_ADD_IDS) || hook != NULL) {
        out = json_deep_copy(result);
        json_object_set_new(out, "job_id", json_integer(id));
        json_object_set_new(out, "request_id", json_string(r->request_id));
    } else {
        out = json_incref(result);
    }
    if (out == NULL)
        return api_reply_error(r, 503, "out_of_memory", 1, "out of memory");
    if (hook != NULL && hook(ctx, r, id, out, arg, &e) != API_OK) {
        json_decref(out);
        return api_reply_err(r, &e);
    }
    json_t *t = json_object_get(job, "timings");
    char *hdr =
        ar_printf(ctx->ar,
                  "X-Job-Id: %lld\r\n"
                  "Server-Timing: queue;dur=%.3f, decode;dur=%.3f, infer;dur=%.3f, "
                  "post;dur=%.3f, worker;dur=%.3f, api_body;dur=%.3f, api_auth;dur=%.3f, "
                  "api_in;dur=%.3f, api_image;dur=%.3f, api_enqueue;dur=%.3f, api_wait;dur=%.3f, "
                  "api_out;dur=%.3f, api_read;dur=%.3f\r\n",
                  (long long)id, timing(t, "queue_wait_ms"), timing(t, "decode_ms"),
                  timing(t, "inference_ms"), timing(t, "postprocess_ms"), timing(t, "worker_ms"),
                  r->t_body_ms - r->t0_ms, r->t_auth_ms - r->t_body_ms, r->t_enq_ms - r->t_auth_ms,
                  ctx->decode_wall_ms, r->t_queued_ms - r->t_enq_ms, r->t_done_ms - r->t_queued_ms,
                  cm_now_ms() - r->t_done_ms, r->t_done_ms - r->t_note_ms);
    return api_reply_json(r, 200, out, hdr);
}
