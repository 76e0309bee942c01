/*
 * h_classify.c: POST /v1/classify, the synchronous image classification
 * call (NSFW MobileNetV2 by default).
 *
 * The body is the one of POST /v1/jobs without "task" (it is "classify";
 * another task is refused): JSON {"image_url": data URL, "model"?, "tier"?,
 * "params"?, "deadline_ms"?} or multipart/form-data with a file field
 * "image".  The job is enqueued at IMMEDIATE unless the body or X-Priority
 * says otherwise, waited for (api_call_sync: LISTEN vkv_job_done), and the
 * answer is the job's result exactly as the worker wrote it, which is the
 * JSON `vkv run MODEL IMAGE` prints.  Headers carry the rest:
 *   X-Job-Id: the job (GET /v1/jobs/{id} has its history)
 *   Server-Timing: queue, decode, infer, post and worker durations (ms)
 * A job that failed answers 500 inference_failed (503 with Retry-After
 * when it failed for lack of device memory); a canceled one 503.
 * See worker/README.md.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"
#include "fcgi/handlers/handlers.h"

#include "common/ar.h"
#include "common/jq.h"

#include <stdio.h>
#include <string.h>

static double timing(json_t *t, const char *key)
{
    json_t *v = json_object_get(t, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

int api_h_classify(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    json_t *body = NULL;
    struct api_image fimg;
    memset(&fimg, 0, sizeof(fimg));
    int nfimg = 0;
    if (api_req_ctype_is(r, "multipart/form-data")) {
        if (api_form_to_json(ctx, r, &body, &fimg, 1, &nfimg, &e) != API_OK)
            return api_reply_err(r, &e);
    } else if (api_req_ctype_is(r, "application/json")) {
        body = api_req_json(r, ctx->ar, &e);
        if (body == NULL)
            return api_reply_err(r, &e);
    } else {
        return api_reply_error(r, 415, "unsupported_media_type", 0,
                               "expected application/json or multipart/form-data, got \"%.64s\"",
                               r->content_type[0] ? r->content_type : "(none)");
    }
    json_t *task = json_object_get(body, "task");
    if (task == NULL) {
        json_object_set_new(body, "task", json_string("classify"));
    } else if (!json_is_string(task) || strcmp(json_string_value(task), "classify") != 0) {
        return api_reply_error(r, 400, "invalid_field", 0,
                               "field \"task\" must be \"classify\" here (or left out)");
    }
    struct api_job_spec spec;
    if (api_job_spec_from_json(ctx, r, body, &spec, &e) != API_OK)
        return api_reply_err(r, &e);
    if (nfimg > 0) {
        if (spec.image.data != NULL)
            return api_reply_error(r, 400, "invalid_field", 0,
                                   "give the image either as image_url or as a file, not both");
        spec.image = fimg;
    }
    if (spec.image.data == NULL)
        return api_reply_error(r, 400, "missing_field", 0,
                               "missing image: send \"image_url\" (a data url) or a multipart "
                               "file field \"image\"");
    json_t *job = NULL;
    int64_t id = 0;
    if (api_call_sync(ctx, r, &spec, 0, &job, &id, &e) != API_OK) {
        if (strcmp(e.code, "tier_full") == 0)
            return api_reply_error(r, 429, "tier_full", jq_retry_after_s(), "%s", e.msg);
        return api_reply_err(r, &e);
    }
    const char *state = json_string_value(json_object_get(job, "state"));
    const char *msg = json_string_value(json_object_get(job, "error"));
    if (state == NULL || strcmp(state, "succeeded") != 0) {
        if (state != NULL && strcmp(state, "canceled") == 0)
            return api_reply_error(r, 503, "canceled", 0, "job %lld was canceled", (long long)id);
        if (msg != NULL && strstr(msg, "out_of_device_memory") != NULL)
            return api_reply_error(r, 503, "out_of_device_memory", 5, "job %lld %s: %s",
                                   (long long)id, state ? state : "ended", msg);
        return api_reply_error(r, 500, "inference_failed", 0, "job %lld %s: %s", (long long)id,
                               state ? state : "ended", msg ? msg : "no detail");
    }
    json_t *result = json_object_get(job, "result");
    if (!json_is_object(result))
        return api_reply_error(r, 500, "internal", 0, "job %lld succeeded without a JSON result",
                               (long long)id);
    json_t *t = json_object_get(job, "timings");
    char *hdr =
        ar_printf(ctx->ar,
                  "X-Job-Id: %lld\r\n"
                  "Server-Timing: queue;dur=%.3f, decode;dur=%.3f, infer;dur=%.3f, "
                  "post;dur=%.3f, worker;dur=%.3f\r\n",
                  (long long)id, timing(t, "queue_wait_ms"), timing(t, "decode_ms"),
                  timing(t, "inference_ms"), timing(t, "postprocess_ms"), timing(t, "worker_ms"));
    return api_reply_json(r, 200, json_incref(result), hdr);
}
