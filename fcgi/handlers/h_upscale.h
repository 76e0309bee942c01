/*
 * h_upscale.h: upscaling as a job (h_upscale.c).  The route is registered
 * in fcgi/api_routes.c; the job rules are used by api_job.c for every job
 * of task "upscale" (POST /v1/jobs, /v1/batches and /v1/upscale).
 */
#ifndef VKV_H_UPSCALE_H
#define VKV_H_UPSCALE_H

#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include "common/imgenc.h"

#define API_UPSCALE_TASK "upscale"
/* the largest output in pixels: the worker's limit (common/imgenc.h),
 * checked at submission so an impossible job is a 413, never a failed job */
#define API_UPSCALE_MAX_OUT_PIXELS IMGENC_MAX_PIXELS

/*
 * POST /v1/upscale {image_url, model? | scale?, format?, quality?, tier?,
 * deadline_ms?, idempotency_key?} (or multipart with a file field
 * "image"): enqueues an upscale job and answers 202 {id, ..., result_url};
 * with ?wait=MS it waits and answers the image itself (200, its
 * Content-Type, X-Job-Id), or 504 timeout (the job canceled).
 */
int api_h_upscale(struct api_ctx *ctx, struct api_req *r);

/*
 * Validates an upscale job's params in place: {"format"?: "png" | "webp" |
 * "jpeg", "quality"?: 1..100 (WebP 101 = lossless), "scale"?: a scale an
 * installed model has}.  "scale" picks the model when model_given is 0; a
 * given model must have that scale.  Returns API_OK or 400 (invalid_field,
 * unknown_field, unknown_model) with e.
 */
int api_upscale_params(struct api_ctx *ctx, struct api_job_spec *spec, int model_given,
                       struct err *e);

/*
 * The output size of an upscale job with its image: 413 image_too_large
 * (e) when w * h * scale^2 is over API_UPSCALE_MAX_OUT_PIXELS; API_OK
 * otherwise (also without an image).
 */
int api_upscale_check_size(struct api_ctx *ctx, const struct api_job_spec *spec, struct err *e);

#endif
