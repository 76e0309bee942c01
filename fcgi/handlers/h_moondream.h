/*
 * h_moondream.h: the Moondream-compatible route handlers (h_moondream.c),
 * registered in fcgi/api_routes.c.  Each answers exactly once; see
 * fcgi/handlers/handlers.h for the handler contract.
 */
#ifndef VKV_H_MOONDREAM_H
#define VKV_H_MOONDREAM_H

#include "fcgi/api.h"

/* POST /v1/caption {image_url, length?, stream?, variant?|model?} -> {caption} */
int api_h_md_caption(struct api_ctx *ctx, struct api_req *r);
/* POST /v1/query {question, image_url?, stream?, reasoning?} -> {answer} */
int api_h_md_query(struct api_ctx *ctx, struct api_req *r);
/* POST /v1/detect {image_url, object, settings?:{max_objects}} -> {objects} */
int api_h_md_detect(struct api_ctx *ctx, struct api_req *r);
/* POST /v1/point {image_url, object} -> {points} (box centres) */
int api_h_md_point(struct api_ctx *ctx, struct api_req *r);
/* POST /v1/segment {image_url, object, stream?} -> {path, bbox} */
int api_h_md_segment(struct api_ctx *ctx, struct api_req *r);

/* the Moondream tasks no installed model serves, for GET /v1/models:
 * [{"task","route","reason"}]; new reference */
json_t *api_md_unavailable_json(const struct api_models *models);

#endif
