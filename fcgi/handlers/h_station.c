/*
 * h_station.c: GET /health and GET /v1/stats in Moondream Station's shape,
 * so a gallery app written against a local Station works by changing only
 * its endpoint.  (Station's /v1/models entries carry id, name, description
 * and version: api_models_list_json adds them to ours.)
 *
 * The shapes are Station's own (moondream_station/core/rest_server.py and
 * core/simple_worker_pool.py; README "Moondream Station drop-in"):
 *   /health   {"status": "ok", "server": "moondream-station"}
 *   /v1/stats {"workers", "queue_size", "max_queue_size", "processing",
 *              "timeouts", "default_timeout", "model", "status",
 *              "requests_processed"}
 * Station is one process with one in-memory queue; here every count comes
 * from PostgreSQL (jq_station_stats_json), so all vkv-api processes answer
 * the same.  /health needs no key and, like /v1/health, reveals nothing
 * but liveness; /v1/stats needs a key and gives only counts.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"
#include "fcgi/handlers/h_station.h"

#include "common/cfg.h"
#include "common/jq.h"
#include "common/pgx.h"

#include <stdlib.h>
#include <string.h>

/* a worker not seen for this long is not counted (as /v1/health) */
#define STATION_WORKER_STALE_S 30

int api_h_station_health(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    /* Station answers while it can serve; we cannot without PostgreSQL */
    if (pgx_check(ctx->db, &e) != PGX_OK)
        return api_reply_json(
            r, 503, json_pack("{s:s, s:s}", "status", "unavailable", "server", "moondream-station"),
            "Retry-After: 1\r\n");
    return api_reply_json(
        r, 200, json_pack("{s:s, s:s}", "status", "ok", "server", "moondream-station"), NULL);
}

/* the model Station would name: the default detector, else the first one */
static json_t *station_model(const struct api_models *ms)
{
    const char *d = api_models_default(ms, "detect");
    if (d != NULL)
        return json_string(d);
    json_t *names = api_models_names_json(ms, NULL);
    json_t *first = json_array_get(names, 0);
    json_t *v = first ? json_incref(first) : json_null();
    json_decref(names);
    return v;
}

int api_h_station_stats(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    char *text = NULL;
    if (jq_station_stats_json(ctx->db, STATION_WORKER_STALE_S, &text, &e) != JQ_OK)
        return api_reply_err(r, &e);
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(o)) {
        json_decref(o);
        return api_reply_error(r, 500, "internal", 0, "station stats are not a json object");
    }
    json_int_t workers = json_integer_value(json_object_get(o, "workers"));
    /* Station: max_queue_size bounds its one queue; ours bounds each tier */
    json_object_set_new(o, "max_queue_size", json_integer(cfg_int("VKV_TIER_DEPTH_LIMIT")));
    json_object_set_new(o, "default_timeout", json_real((double)ctx->wait_timeout_ms / 1000.0));
    json_object_set_new(o, "model", station_model(ctx->models));
    /* Station says "running" while its worker pool exists; jobs run here
     * only while a worker is up */
    json_object_set_new(o, "status", json_string(workers > 0 ? "running" : "stopped"));
    return api_reply_json(r, 200, o, NULL);
}
