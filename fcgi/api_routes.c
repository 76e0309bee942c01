/*
 * api_routes.c: the route table of vkv-api.  Order matters only between
 * patterns that overlap (none do today).  auth: NONE (health, metrics),
 * TENANT (any valid key), ADMIN (an admin key), ENQUEUE (a valid key, which
 * the enqueue statement may check instead of a lookup of its own).  tier: the default tier of
 * the jobs a route enqueues (a person waits on the synchronous routes:
 * IMMEDIATE; an album is BACKGROUND), overridden by X-Priority or the
 * body's "tier"/"priority" (api_job_tier); API_TIER_NONE: enqueues nothing.
 */
#include "common/jq.h"
#include "fcgi/api.h"
#include "fcgi/handlers/handlers.h"
#include "fcgi/handlers/h_dash.h"
#include "fcgi/handlers/h_moondream.h"
#include "fcgi/handlers/h_station.h"
#include "fcgi/handlers/h_analyze.h"
#include "fcgi/handlers/h_upscale.h"

#include <stddef.h>

static const struct api_route api_routes[] = {
    {"POST", "/v1/jobs", API_AUTH_ENQUEUE, JQ_TIER_INTERACTIVE, api_h_jobs_create},
    {"GET", "/v1/jobs", API_AUTH_TENANT, API_TIER_NONE, api_h_jobs_list},
    {"GET", "/v1/jobs/{}", API_AUTH_TENANT, API_TIER_NONE, api_h_jobs_get},
    {"DELETE", "/v1/jobs/{}", API_AUTH_TENANT, API_TIER_NONE, api_h_jobs_cancel},
    {"GET", "/v1/jobs/{}/events", API_AUTH_TENANT, API_TIER_NONE, api_h_jobs_events},
    {"GET", "/v1/jobs/{}/result", API_AUTH_TENANT, API_TIER_NONE, api_h_jobs_result},
    {"POST", "/v1/batches", API_AUTH_TENANT, JQ_TIER_BACKGROUND, api_h_batches_create},
    {"GET", "/v1/batches/{}", API_AUTH_TENANT, API_TIER_NONE, api_h_batches_get},
    {"GET", "/v1/queue", API_AUTH_TENANT, API_TIER_NONE, api_h_queue},
    {"POST", "/v1/admin/tiers/{}/pause", API_AUTH_ADMIN, API_TIER_NONE, api_h_tier_pause},
    {"POST", "/v1/admin/tiers/{}/resume", API_AUTH_ADMIN, API_TIER_NONE, api_h_tier_resume},
    {"GET", "/v1/health", API_AUTH_NONE, API_TIER_NONE, api_h_health},
    {"GET", "/metrics", API_AUTH_NONE, API_TIER_NONE, api_h_metrics},
    {"GET", "/v1/models", API_AUTH_TENANT, API_TIER_NONE, api_h_models},
    {"GET", "/v1/gpus", API_AUTH_TENANT, API_TIER_NONE, api_h_gpus},
    /* the dashboard's routes (fcgi/handlers/h_dash.c, web/): read-only but
     * for the queue settings */
    {"GET", "/v1/whoami", API_AUTH_TENANT, API_TIER_NONE, api_h_whoami},
    {"GET", "/v1/queue/stats", API_AUTH_TENANT, API_TIER_NONE, api_h_dash_stats},
    {"GET", "/v1/jobs/{}/input", API_AUTH_TENANT, API_TIER_NONE, api_h_jobs_input},
    {"GET", "/v1/jobs/{}/thumbnail", API_AUTH_TENANT, API_TIER_NONE, api_h_jobs_thumbnail},
    {"GET", "/v1/admin/tenants", API_AUTH_ADMIN, API_TIER_NONE, api_h_admin_tenants},
    {"GET", "/v1/admin/settings", API_AUTH_ADMIN, API_TIER_NONE, api_h_admin_settings},
    {"POST", "/v1/admin/settings", API_AUTH_ADMIN, API_TIER_NONE, api_h_admin_settings_set},
    /* Moondream-compatible (fcgi/handlers/h_moondream.c) */
    {"POST", "/v1/caption", API_AUTH_TENANT, JQ_TIER_IMMEDIATE, api_h_md_caption},
    {"POST", "/v1/query", API_AUTH_TENANT, JQ_TIER_IMMEDIATE, api_h_md_query},
    {"POST", "/v1/detect", API_AUTH_TENANT, JQ_TIER_IMMEDIATE, api_h_md_detect},
    {"POST", "/v1/point", API_AUTH_TENANT, JQ_TIER_IMMEDIATE, api_h_md_point},
    {"POST", "/v1/segment", API_AUTH_TENANT, JQ_TIER_IMMEDIATE, api_h_md_segment},
    /* photo analysis: several models, one decode (fcgi/handlers/h_analyze.c) */
    {"POST", "/v1/analyze", API_AUTH_TENANT, JQ_TIER_IMMEDIATE, api_h_analyze},
    /* upscaling: asynchronous unless ?wait= (fcgi/handlers/h_upscale.c) */
    {"POST", "/v1/upscale", API_AUTH_TENANT, JQ_TIER_INTERACTIVE, api_h_upscale},
    /* Moondream Station status (fcgi/handlers/h_station.c) */
    {"GET", "/health", API_AUTH_NONE, API_TIER_NONE, api_h_station_health},
    {"GET", "/v1/stats", API_AUTH_TENANT, API_TIER_NONE, api_h_station_stats},
    /* the worker's first task (fcgi/handlers/h_classify.c) */
    {"POST", "/v1/classify", API_AUTH_TENANT, JQ_TIER_IMMEDIATE, api_h_classify},
    /* faces with attributes and the face search (fcgi/handlers/h_faces.c) */
    {"POST", "/v1/faces", API_AUTH_TENANT, JQ_TIER_IMMEDIATE, api_h_faces},
    {"POST", "/v1/faces/similar", API_AUTH_TENANT, JQ_TIER_IMMEDIATE, api_h_faces_similar},
    /* text lines (PP-OCRv4, models/ppocr-v4.json), synchronous like /v1/classify */
    {"POST", "/v1/ocr", API_AUTH_TENANT, JQ_TIER_IMMEDIATE, api_h_ocr},
    {NULL, NULL, API_AUTH_NONE, API_TIER_NONE, NULL},
};

const struct api_route *api_routes_get(void)
{
    return api_routes;
}
