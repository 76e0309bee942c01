/*
 * wk_eng_up.c: upscale jobs in the Vulkan engine (manifest task
 * "upscale", ESRGAN-slim x2/x3/x4/x8 over tasks/rt_task_upscale.h).
 *
 * One job at a time (the manifests' batch limit is 1): the image is
 * decoded (or taken from the caller's pixels), upscaled in tiles by
 * rt_task_upscale, which is what `vkv upscale` runs, so a job's PNG equals
 * the CLI's byte for byte, and encoded as the job's params ask:
 * {"format": "png" (default) | "webp" | "jpeg", "quality": 1..100 (WebP:
 * 101 = lossless; default 90)}.  The encoded image is the job's result
 * bytes (served by GET /v1/jobs/{id}/result with its MIME type); the JSON
 * result says what they are.  An output over RT_UPSCALE_MAX_OUT_PIXELS
 * (image_too_large) or an encoding over max_result bytes
 * (result_too_large) fails that job permanently with the sizes in the
 * message.  Timings: decode_ms the decode, infer_ms the tiled run, post_ms
 * the encoding.  See worker/README.md.
 */
#include "worker/wk.h"

#include "common/cm.h"
#include "common/img.h"
#include "common/imgenc.h"
#include "runtime/rt.h"
#include "tasks/rt_task_upscale.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* WebP/JPEG quality when the params give none */
#define WK_UP_QUALITY 90

int wk_up_params(const char *params_json, int *format, int *quality, struct err *e)
{
    *format = IMGENC_PNG;
    *quality = WK_UP_QUALITY;
    if (params_json == NULL)
        return WK_OK;
    json_t *p = json_loads(params_json, 0, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        return err_set(e, WK_ERR_INPUT, ERR_INVALID, "invalid_params", "params are not an object");
    }
    int rc = WK_OK;
    json_t *f = json_object_get(p, "format");
    json_t *q = json_object_get(p, "quality");
    enum imgenc_format fm = IMGENC_PNG;
    if (f != NULL && imgenc_format_parse(json_string_value(f), &fm) != 0)
        rc = err_set(e, WK_ERR_INPUT, ERR_INVALID, "invalid_params",
                     "params.format must be \"png\", \"webp\" or \"jpeg\"");
    else if (q != NULL && (!json_is_integer(q) || json_integer_value(q) < 1 ||
                           json_integer_value(q) > (fm == IMGENC_WEBP ? 101 : 100)))
        rc = err_set(e, WK_ERR_INPUT, ERR_INVALID, "invalid_params",
                     "params.quality must be an integer of 1..100 (WebP: 101 = lossless)");
    if (rc == WK_OK) {
        *format = (int)fm;
        if (q != NULL)
            *quality = (int)json_integer_value(q);
    }
    json_decref(p);
    return rc;
}

/* empties every item's outputs (a batch error leaves none filled) */
static void items_clear(int n, struct wk_item *items)
{
    for (int i = 0; i < n; i++) {
        free(items[i].result_json);
        free(items[i].result_bytes);
        items[i].result_json = NULL;
        items[i].result_bytes = NULL;
        items[i].result_len = 0;
        items[i].result_type = NULL;
        items[i].status = WK_OK;
    }
}

/* one item; returns WK_OK (the item filled: result or its own error) or a
 * batch error (WK_ERR_OOM, WK_ERR_DEVICE_LOST, WK_ERR with e) */
static int up_one(struct rt_task_model *m, const struct img_limits *lim, size_t max_result,
                  struct wk_item *it, struct err *e)
{
    int format, quality;
    if (wk_up_params(it->params_json, &format, &quality, &it->err) != WK_OK) {
        it->status = WK_ERR_INPUT;
        return WK_OK;
    }
    struct img dec;
    memset(&dec, 0, sizeof(dec));
    struct rt_image ri = {it->rgb, it->rgb_w, it->rgb_h};
    if (it->rgb == NULL) {
        double t0 = cm_now_ms();
        int rc = it->input == NULL
                     ? IMG_ERR_INVALID
                     : img_decode(it->input, it->input_len, lim, NULL, &dec, NULL, &it->err);
        it->decode_ms = cm_now_ms() - t0;
        if (rc != IMG_OK) {
            if (it->input == NULL)
                err_set(&it->err, WK_ERR_INPUT, ERR_INVALID, "invalid_image",
                        "job has no input image");
            it->status = WK_ERR_INPUT;
            return WK_OK;
        }
        ri.rgb = dec.rgb;
        ri.w = dec.w;
        ri.h = dec.h;
    }
    uint8_t *out = NULL;
    int ow = 0, oh = 0;
    struct err re;
    err_clear(&re);
    double t0 = cm_now_ms();
    int rc = rt_task_upscale(m, &ri, &out, &ow, &oh, &re);
    it->infer_ms = cm_now_ms() - t0;
    it->batch_size = 1;
    img_free(&dec);
    if (rc == RT_ERR_OOM) {
        *e = re;
        return WK_ERR_OOM;
    }
    if (rc == RT_ERR_DEVICE_LOST) {
        *e = re;
        return WK_ERR_DEVICE_LOST;
    }
    if (rc == RT_ERR_TOO_LARGE || rc == RT_ERR_INVALID) {
        it->status = WK_ERR_INPUT;
        err_set(&it->err, WK_ERR_INPUT, rc == RT_ERR_TOO_LARGE ? ERR_TOO_LARGE : ERR_INVALID,
                rc == RT_ERR_TOO_LARGE ? "image_too_large" : "invalid_image",
                "cannot upscale a %dx%d image by %d: %s", ri.w, ri.h, rt_task_upscale_scale(m),
                re.msg);
        return WK_OK;
    }
    if (rc != RT_OK) {
        *e = re;
        /* a fence that did not signal: another try (another device) may work */
        if (rc == RT_ERR_TIMEOUT)
            e->transient = 1;
        return WK_ERR;
    }
    double p0 = cm_now_ms();
    uint8_t *enc = NULL;
    size_t len = 0;
    int er = imgenc_encode(out, ow, oh, (enum imgenc_format)format, quality, &enc, &len, &it->err);
    free(out);
    if (er != IMGENC_OK) {
        it->status = WK_ERR_INPUT;
        return WK_OK;
    }
    const char *fname = format == IMGENC_WEBP ? "webp" : format == IMGENC_JPEG ? "jpeg" : "png";
    if (len > max_result) {
        imgenc_free(enc);
        it->status = WK_ERR_INPUT;
        err_set(&it->err, WK_ERR_INPUT, ERR_TOO_LARGE, "result_too_large",
                "the %dx%d %s is %zu bytes, over the result limit of %zu bytes "
                "(VKV_MAX_RESULT_BYTES); ask for webp or jpeg, or a smaller scale",
                ow, oh, fname, len, max_result);
        return WK_OK;
    }
    json_t *res =
        json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:I}", "model", rt_task_model_name(m),
                  "scale", rt_task_upscale_scale(m), "width", ri.w, "height", ri.h, "out_width", ow,
                  "out_height", oh, "format", fname, "content_type",
                  imgenc_mime((enum imgenc_format)format), "bytes", (json_int_t)len);
    CM_ASSERT(res != NULL);
    if (format != IMGENC_PNG)
        json_object_set_new(res, "quality", json_integer(quality));
    it->result_json = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    CM_ASSERT(it->result_json != NULL);
    it->result_bytes = enc;
    it->result_len = len;
    it->result_type = imgenc_mime((enum imgenc_format)format);
    it->status = WK_OK;
    it->post_ms = cm_now_ms() - p0;
    return WK_OK;
}

int wk_up_run(struct rt_task_model *m, const void *img_limits, size_t max_result, int n,
              struct wk_item *items, struct err *e)
{
    const struct img_limits *lim = img_limits;
    for (int i = 0; i < n; i++) {
        int rc = up_one(m, lim, max_result, &items[i], e);
        if (rc != WK_OK) {
            items_clear(n, items);
            return rc;
        }
    }
    return WK_OK;
}
