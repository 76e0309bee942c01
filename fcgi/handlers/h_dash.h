/*
 * h_dash.h: the routes behind the operator's dashboard (web/), read-only:
 * wait percentiles and throughput per tier over time windows, a live job's
 * input image, and the admin's view of tenants, keys and queue settings
 * (and the one write: the queue settings).
 * Job-derived data is tenant-scoped; an admin key widens the scope with
 * `?tenant=all` or `?tenant=ID` (api_dash_scope).
 */
#ifndef VKV_H_DASH_H
#define VKV_H_DASH_H

#include "fcgi/api.h"

#include <stdint.h>

/*
 * The tenant a job query of r runs for, into *scope: the caller's own
 * tenant; with `?tenant=all` (0: every tenant) or `?tenant=ID`, only for an
 * admin key.  Returns API_OK, or API_ERR after answering 403
 * admin_required (a tenant key asking for another scope) or 400
 * invalid_query.
 */
int api_dash_scope(struct api_ctx *ctx, struct api_req *r, int64_t *scope);

/* GET /v1/whoami: {tenant_id, admin} of the key (the dashboard shows the
 * admin page from it, without a request that fails) */
int api_h_whoami(struct api_ctx *ctx, struct api_req *r);
/* GET /v1/queue/stats: per tier and window (5m, 1h, 24h) jobs finished, jobs/s,
 * wait p50/p99; a per-minute series of the last hour */
int api_h_dash_stats(struct api_ctx *ctx, struct api_req *r);
/* GET /v1/jobs/{id}/input: the input image of a queued or running job;
 * 404 input_not_retained once it finished (the input leaves with it) */
int api_h_jobs_input(struct api_ctx *ctx, struct api_req *r);
/* GET /v1/jobs/{id}/thumbnail: the WebP thumbnail vkv-api kept at enqueue
 * (any state, for a day); 204 when the job has none (VKV_THUMB_SIDE 0, an
 * older job), 404 when there is no such job for this key */
int api_h_jobs_thumbnail(struct api_ctx *ctx, struct api_req *r);
/* GET /v1/admin/tenants: tenants, their keys (prefix, flags; never the
 * hash), live job counts */
int api_h_admin_tenants(struct api_ctx *ctx, struct api_req *r);
/* GET /v1/admin/settings: the queue_settings row */
int api_h_admin_settings(struct api_ctx *ctx, struct api_req *r);
/* POST /v1/admin/settings: {aging_ms?, aged_interval_ms?, fair_quantum_ms?,
 * retry_base_ms?, retry_max_ms?} (integers, ms, at most a day); the others
 * stay; answers the new settings */
int api_h_admin_settings_set(struct api_ctx *ctx, struct api_req *r);

#endif
