/*
 * h_upscale.c: POST /v1/upscale and the rules of every upscale job.
 *
 * Upscaling takes seconds to minutes per photo (ESRGAN in tiles), so the
 * route is asynchronous by default: 202 with the job's id and the URL of
 * its image (GET /v1/jobs/{id}/result); ?wait=MS (at most
 * VKV_WAIT_TIMEOUT_MS) holds the request until the image is there and
 * answers it directly.  The model is chosen by "model" or by "scale" (the
 * installed upscale model with that manifest post.scale; default: the
 * task's default model); the output format by "format" and "quality".
 * Both become the job's params, so POST /v1/jobs {"task": "upscale",
 * "params": {...}} is the same job.  A photo whose output would exceed the
 * worker's pixel limit is refused here (413), not failed later; an
 * encoding over VKV_MAX_RESULT_BYTES can only be known by the worker, which
 * fails the job with result_too_large (the synchronous form answers 413).
 */
#include "fcgi/handlers/h_upscale.h"

#include "common/ar.h"
#include "common/imgenc.h"
#include "common/jq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const up_fields[] = {"image_url",       "model", "scale",    "format",
                                        "quality",         "tier",  "priority", "deadline_ms",
                                        "idempotency_key", NULL};
static const char *const up_params[] = {"format", "quality", "scale", NULL};

static int in_list(const char *const *l, const char *k)
{
    for (int i = 0; l[i]; i++)
        if (strcmp(l[i], k) == 0)
            return 1;
    return 0;
}

/* the installed scales as "[2, 3, 4]" in the arena */
static const char *scales_str(struct api_ctx *ctx)
{
    json_t *names = api_models_names_json(ctx->models, API_UPSCALE_TASK);
    char buf[128] = "[";
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof(buf) - n, "%s%d", i ? ", " : "",
                 api_models_scale(ctx->models, json_string_value(v)));
    }
    json_decref(names);
    size_t n = strlen(buf);
    snprintf(buf + n, sizeof(buf) - n, "]");
    const char *s = ar_strdup(ctx->ar, buf);
    return s ? s : "[]";
}

int api_upscale_params(struct api_ctx *ctx, struct api_job_spec *spec, int model_given,
                       struct err *e)
{
    json_t *p = api_json_own(ctx->ar, json_loads(spec->params_json, 0, NULL));
    if (!json_is_object(p))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "field \"params\" must be an object");
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v)
    {
        if (!in_list(up_params, k))
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_field",
                           "unknown upscale parameter \"%.64s\" (accepted: format, quality, "
                           "scale)",
                           k);
    }
    enum imgenc_format f = IMGENC_PNG;
    v = json_object_get(p, "format");
    if (v != NULL && imgenc_format_parse(json_string_value(v), &f) != 0)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "field \"format\" must be \"png\", \"webp\" or \"jpeg\"");
    v = json_object_get(p, "quality");
    int qmax = f == IMGENC_WEBP ? 101 : 100;
    if (v != NULL &&
        (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > qmax))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "field \"quality\" must be an integer of 1..100 (WebP: 101 = lossless)");
    v = json_object_get(p, "scale");
    if (v == NULL)
        return API_OK;
    json_int_t s = json_integer_value(v);
    const char *m = json_is_integer(v) && s > 0 && s <= 16
                        ? api_models_by_scale(ctx->models, API_UPSCALE_TASK, (int)s)
                        : NULL;
    if (m == NULL)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "field \"scale\" must be a scale of an installed upscale model: %s",
                       scales_str(ctx));
    if (!model_given) {
        spec->model = m;
    } else if (api_models_scale(ctx->models, spec->model) != (int)s) {
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "model \"%s\" upscales by %d, not by %d (give one of model and scale)",
                       spec->model, api_models_scale(ctx->models, spec->model), (int)s);
    }
    return API_OK;
}

int api_upscale_check_size(struct api_ctx *ctx, const struct api_job_spec *spec, struct err *e)
{
    long long s = api_models_scale(ctx->models, spec->model);
    if (spec->image.data == NULL || s <= 0)
        return API_OK;
    long long px = (long long)spec->image.w * spec->image.h * s * s;
    if (px > API_UPSCALE_MAX_OUT_PIXELS)
        return err_set(e, API_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                       "upscaling a %dx%d image by %lld gives %lld pixels, over the limit of %lld",
                       spec->image.w, spec->image.h, s, px, API_UPSCALE_MAX_OUT_PIXELS);
    return API_OK;
}

/* a multipart text field that is a small decimal number, as an integer */
static void form_int(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    if (s == NULL || *s == '\0' || strlen(s) > 6 || strspn(s, "0123456789") != strlen(s))
        return;
    json_object_set_new(o, k, json_integer(atoi(s)));
}

/* the body of POST /v1/upscale as the job body of POST /v1/jobs */
static int job_body(struct api_ctx *ctx, json_t *body, json_t **job, struct err *e)
{
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        if (!in_list(up_fields, k))
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_field",
                           "unknown field \"%.64s\" (accepted: image_url, model, scale, format, "
                           "quality, tier, priority, deadline_ms, idempotency_key)",
                           k);
    }
    json_t *j = api_json_own(ctx->ar, json_object());
    json_t *p = json_object();
    if (j == NULL || p == NULL) {
        json_decref(p);
        return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory", "could not build the job");
    }
    json_object_set_new(j, "task", json_string(API_UPSCALE_TASK));
    json_object_foreach(body, k, v)
    {
        if (in_list(up_params, k))
            json_object_set(p, k, v);
        else
            json_object_set(j, k, v);
    }
    json_object_set_new(j, "params", p);
    *job = j;
    return API_OK;
}

static int reply_sync(struct api_ctx *ctx, struct api_req *r, struct api_job_spec *spec,
                      long long ms)
{
    struct err e;
    err_clear(&e);
    json_t *job = NULL;
    int64_t id = 0;
    if (api_call_sync(ctx, r, spec, ms, &job, &id, &e) != API_OK) {
        if (strcmp(e.code, "tier_full") == 0)
            return api_reply_error(r, 429, "tier_full", jq_retry_after_s(), "%s", e.msg);
        return api_reply_err(r, &e);
    }
    const char *state = json_string_value(json_object_get(job, "state"));
    const char *msg = json_string_value(json_object_get(job, "error"));
    if (state == NULL || strcmp(state, "succeeded") != 0) {
        if (state != NULL && strcmp(state, "canceled") == 0)
            return api_reply_error(r, 503, "canceled", 0, "job %lld was canceled", (long long)id);
        /* the worker's message starts with its code ("code: message") */
        static const char *const big[] = {"result_too_large", "image_too_large", NULL};
        for (int i = 0; msg != NULL && big[i]; i++)
            if (strncmp(msg, big[i], strlen(big[i])) == 0)
                return api_reply_error(r, 413, big[i], 0, "job %lld failed: %s", (long long)id,
                                       msg);
        if (msg != NULL && strstr(msg, "out_of_device_memory") != NULL)
            return api_reply_error(r, 503, "out_of_device_memory", 5, "job %lld %s: %s",
                                   (long long)id, state ? state : "ended", msg);
        return api_reply_error(r, 500, "inference_failed", 0, "job %lld %s: %s", (long long)id,
                               state ? state : "ended", msg ? msg : "no detail");
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    char type[64] = "";
    if (jq_job_result_bytes_get(ctx->db, r->tenant.id, id, &bytes, &len, type, &e) != JQ_OK)
        return api_reply_err(r, &e);
    char *hdr = ar_printf(ctx->ar, "X-Job-Id: %lld\r\n", (long long)id);
    int rc = api_reply_bytes(r, 200, type, bytes, len, hdr);
    free(bytes);
    return rc;
}

int api_h_upscale(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    json_t *body = NULL;
    struct api_image fimg;
    int nfimg = 0;
    if (api_req_body(ctx, r, &body, &fimg, &nfimg, &e) != API_OK)
        return api_reply_err(r, &e);
    if (api_req_ctype_is(r, "multipart/form-data")) {
        form_int(body, "scale");
        form_int(body, "quality");
    }
    json_t *job = NULL;
    if (job_body(ctx, body, &job, &e) != API_OK)
        return api_reply_err(r, &e);
    struct api_job_spec spec;
    if (api_job_spec_from_json(ctx, r, job, &spec, &e) != API_OK)
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
    const char *w = api_query_get(r, ctx->ar, "wait");
    if (w != NULL) {
        char *end;
        long long ms = strtoll(w, &end, 10);
        if (*w == '\0' || *end != '\0' || ms < 1 || ms > ctx->wait_timeout_ms)
            return api_reply_error(r, 400, "invalid_query", 0,
                                   "query parameter wait must be an integer of 1..%lld (ms)",
                                   ctx->wait_timeout_ms);
        return reply_sync(ctx, r, &spec, ms);
    }
    int64_t id = 0;
    int existed = 0;
    if (api_job_enqueue(ctx, r, &spec, 0, &id, &existed, &e) != JQ_OK) {
        if (strcmp(e.code, "tier_full") == 0)
            return api_reply_error(r, 429, "tier_full", jq_retry_after_s(), "%s", e.msg);
        return api_reply_err(r, &e);
    }
    json_t *out =
        json_pack("{s:I, s:s, s:s, s:s, s:i, s:i, s:s, s:b, s:s, s:s, s:s}", "id", (json_int_t)id,
                  "state", existed ? "existing" : "queued", "task", spec.task, "model",
                  spec.model ? spec.model : "", "scale", api_models_scale(ctx->models, spec.model),
                  "tier", spec.tier, "tier_name", jq_tier_str(spec.tier), "idempotent_replay",
                  existed, "url", ar_printf(ctx->ar, "/v1/jobs/%lld", (long long)id), "events",
                  ar_printf(ctx->ar, "/v1/jobs/%lld/events", (long long)id), "result_url",
                  ar_printf(ctx->ar, "/v1/jobs/%lld/result", (long long)id));
    return api_reply_json(r, existed ? 200 : 202, out, NULL);
}
