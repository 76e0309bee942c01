/*
 * handlers.h: every route handler of vkv-api.  A handler answers exactly
 * once (api_reply_* or an SSE stream) and returns API_OK or an error it
 * already answered.  The table that maps routes to them is in
 * fcgi/api_routes.c.  See fcgi/README.md, "Adding a route".
 */
#ifndef VKV_HANDLERS_H
#define VKV_HANDLERS_H

#include "fcgi/api.h"

/* h_jobs.c */
int api_h_jobs_create(struct api_ctx *ctx, struct api_req *r);
int api_h_jobs_get(struct api_ctx *ctx, struct api_req *r);
int api_h_jobs_list(struct api_ctx *ctx, struct api_req *r);
int api_h_jobs_cancel(struct api_ctx *ctx, struct api_req *r);
int api_h_jobs_events(struct api_ctx *ctx, struct api_req *r);
int api_h_jobs_result(struct api_ctx *ctx, struct api_req *r);

/* h_batches.c */
int api_h_batches_create(struct api_ctx *ctx, struct api_req *r);
int api_h_batches_get(struct api_ctx *ctx, struct api_req *r);

/* h_status.c */
int api_h_queue(struct api_ctx *ctx, struct api_req *r);
int api_h_tier_pause(struct api_ctx *ctx, struct api_req *r);
int api_h_tier_resume(struct api_ctx *ctx, struct api_req *r);
int api_h_health(struct api_ctx *ctx, struct api_req *r);
int api_h_metrics(struct api_ctx *ctx, struct api_req *r);
int api_h_models(struct api_ctx *ctx, struct api_req *r);
int api_h_gpus(struct api_ctx *ctx, struct api_req *r);

/* h_faces.c */
int api_h_faces(struct api_ctx *ctx, struct api_req *r);
int api_h_faces_similar(struct api_ctx *ctx, struct api_req *r);

/* h_classify.c */
int api_h_classify(struct api_ctx *ctx, struct api_req *r);
/* POST /v1/ocr: the "ocr" task, synchronous like /v1/classify */
int api_h_ocr(struct api_ctx *ctx, struct api_req *r);

#endif
