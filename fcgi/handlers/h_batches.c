/*
 * h_batches.c: /v1/batches — an album submitted at once.
 *
 * Every image is validated (decoded under the limits) before anything is
 * written; then the batch row and one job per image are inserted in ONE
 * transaction, so a failure leaves nothing behind.  Batches default to
 * BACKGROUND.  Body: JSON {"task", "model"?, "tier"?, "params"?, "label"?,
 * "images": ["data:...", ...] or [{"image_url": "data:...", "params"?}]}
 * or multipart/form-data with text fields and several "images" files.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"
#include "fcgi/handlers/handlers.h"

#include "common/ar.h"
#include "common/jq.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

int api_h_batches_create(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    int max = ctx->lim->max_batch;
    struct api_image *imgs = ar_calloc(ctx->ar, (size_t)max, sizeof(*imgs));
    const char **img_params = ar_calloc(ctx->ar, (size_t)max, sizeof(*img_params));
    if (imgs == NULL || img_params == NULL)
        return api_reply_error(r, 503, "out_of_memory", 1, "out of request memory");
    int n = 0;
    json_t *body = NULL;
    if (api_req_ctype_is(r, "multipart/form-data")) {
        if (api_form_to_json(ctx, r, &body, imgs, max, &n, &e) != API_OK)
            return api_reply_err(r, &e);
    } else {
        body = api_req_json(r, ctx->ar, &e);
        if (body == NULL)
            return api_reply_err(r, &e);
    }
    json_t *images = json_object_get(body, "images");
    const char *label = NULL;
    json_t *lv = json_object_get(body, "label");
    if (lv != NULL && !json_is_null(lv)) {
        if (!json_is_string(lv) || json_string_length(lv) > 200)
            return api_reply_error(r, 400, "invalid_field", 0,
                                   "field \"label\" must be a string of at most 200 bytes");
        label = ar_strdup(ctx->ar, json_string_value(lv));
    }
    /* the job fields are shared: validate them with the job rules */
    json_t *common = api_json_own(ctx->ar, json_deep_copy(body));
    if (common == NULL)
        return api_reply_error(r, 503, "out_of_memory", 1, "out of request memory");
    json_object_del(common, "images");
    json_object_del(common, "label");
    struct api_job_spec spec;
    if (api_job_spec_from_json(ctx, r, common, &spec, &e) != API_OK)
        return api_reply_err(r, &e);
    if (spec.image.data != NULL)
        return api_reply_error(r, 400, "invalid_field", 0,
                               "a batch takes its images in \"images\", not \"image_url\"");
    if (images != NULL) {
        if (n > 0)
            return api_reply_error(r, 400, "invalid_field", 0,
                                   "give the images either as json or as files, not both");
        if (!json_is_array(images))
            return api_reply_error(r, 400, "invalid_field", 0, "field \"images\" must be an array");
        if (json_array_size(images) > (size_t)max)
            return api_reply_error(r, 413, "too_many_images", 0,
                                   "%zu images in one batch; the limit is %d",
                                   json_array_size(images), max);
        size_t i;
        json_t *it;
        json_array_foreach(images, i, it)
        {
            json_t *url = it;
            if (json_is_object(it)) {
                url = json_object_get(it, "image_url");
                json_t *p = json_object_get(it, "params");
                if (p != NULL && !json_is_null(p)) {
                    if (!json_is_object(p))
                        return api_reply_error(r, 400, "invalid_field", 0,
                                               "images[%zu].params must be an object", i);
                    char *s = json_dumps(p, JSON_COMPACT);
                    img_params[i] = s ? ar_strdup(ctx->ar, s) : NULL;
                    free(s);
                }
            }
            if (!json_is_string(url))
                return api_reply_error(r, 400, "invalid_field", 0,
                                       "images[%zu] must be a data url string or "
                                       "{\"image_url\": ...}",
                                       i);
            if (api_image_from_data_url(ctx, json_string_value(url), json_string_length(url),
                                        &imgs[i], &e) != API_OK) {
                int st = e.cls == ERR_INTERNAL ? 400 : api_err_status(&e);
                return api_reply_error(r, st, e.code, st == 503 ? 1 : 0, "images[%zu]: %s", i,
                                       e.msg);
            }
        }
        n = (int)json_array_size(images);
    }
    if (n == 0)
        return api_reply_error(r, 400, "missing_field", 0, "a batch needs at least one image");
    if (spec.idem_key != NULL)
        return api_reply_error(r, 400, "invalid_field", 0,
                               "idempotency keys are per job; batches do not take one");

    int64_t bid = 0;
    if (jq_tx_begin(ctx->db, &e) != JQ_OK)
        return api_reply_err(r, &e);
    if (jq_batch_create(ctx->db, r->tenant.id, spec.tier, n, label, &bid, &e) != JQ_OK)
        goto fail;
    /* one statement for the whole batch (the group enqueue) */
    int64_t *jids = ar_calloc(ctx->ar, (size_t)n, sizeof(*jids));
    if (jids == NULL) {
        err_set(&e, JQ_ERR, ERR_UNAVAILABLE, "out_of_memory", "could not allocate %d job ids", n);
        goto fail;
    }
    if (api_job_enqueue_group(ctx, r, &spec, imgs, img_params, n, bid, jids, &e) != JQ_OK)
        goto fail;
    json_t *ids = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(ids, json_integer(jids[i]));
    if (jq_tx_commit(ctx->db, &e) != JQ_OK) {
        json_decref(ids);
        return api_reply_err(r, &e);
    }
    return api_reply_json(r, 202,
                          json_pack("{s:I, s:i, s:s, s:s, s:i, s:s, s:o, s:s}", "id",
                                    (json_int_t)bid, "total", n, "task", spec.task, "model",
                                    spec.model ? spec.model : "", "tier", spec.tier, "tier_name",
                                    jq_tier_str(spec.tier), "job_ids", ids, "url",
                                    ar_printf(ctx->ar, "/v1/batches/%lld", (long long)bid)),
                          NULL);
fail : {
    struct err re;
    err_clear(&re);
    jq_tx_rollback(ctx->db, &re);
    if (strcmp(e.code, "tier_full") == 0)
        return api_reply_error(r, 429, "tier_full", jq_retry_after_s(), "%s", e.msg);
    return api_reply_err(r, &e);
}
}

int api_h_batches_get(struct api_ctx *ctx, struct api_req *r)
{
    int64_t id = api_id_parse(r->pp[0]);
    if (id < 0)
        return api_reply_error(r, 404, "not_found", 0, "no batch \"%.32s\"", r->pp[0]);
    struct err e;
    err_clear(&e);
    char *text = NULL;
    if (jq_batch_get_json(ctx->db, r->tenant.id, id, &text, &e) != JQ_OK)
        return api_reply_err(r, &e);
    return api_reply_json_text(r, 200, text);
}
