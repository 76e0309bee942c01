/*
 * h_classify.c: the synchronous one-task image calls: POST /v1/classify
 * (NSFW MobileNetV2 by default) and POST /v1/ocr (PP-OCRv4 text lines,
 * models/ppocr-v4.json; result schema in tasks/README.md).
 *
 * The body is the one of POST /v1/jobs without "task" (it is the route's:
 * "classify" or "ocr"; another task is refused): JSON {"image_url": data URL, "model"?, "tier"?,
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

/* the route's task: body or form -> job spec -> api_call_sync_reply */
static int sync_task(struct api_ctx *ctx, struct api_req *r, const char *name)
{
    struct err e;
    err_clear(&e);
    json_t *body = NULL;
    struct api_image fimg;
    int nfimg = 0;
    if (api_req_body(ctx, r, &body, &fimg, &nfimg, &e) != API_OK)
        return api_reply_err(r, &e);
    json_t *task = json_object_get(body, "task");
    if (task == NULL) {
        json_object_set_new(body, "task", json_string(name));
    } else if (!json_is_string(task) || strcmp(json_string_value(task), name) != 0) {
        return api_reply_error(r, 400, "invalid_field", 0,
                               "field \"task\" must be \"%s\" here (or left out)", name);
    }
    struct api_job_spec spec;
    if (api_job_spec_from_json(ctx, r, body, &spec, &e) != API_OK)
        return api_reply_err(r, &e);
    return api_call_sync_reply(ctx, r, &spec, &fimg, nfimg, API_SYNC_OOM_503);
}

int api_h_classify(struct api_ctx *ctx, struct api_req *r)
{
    return sync_task(ctx, r, "classify");
}

int api_h_ocr(struct api_ctx *ctx, struct api_req *r)
{
    return sync_task(ctx, r, "ocr");
}
