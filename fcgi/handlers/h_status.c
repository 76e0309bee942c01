/*
 * h_status.c: the read-mostly status routes — queue, tier pause/resume
 * (admin), health, Prometheus metrics, models and GPUs.
 *
 * /v1/health and /metrics need no key (load balancers and Prometheus);
 * they reveal counts, never job contents.  Health is 200 while PostgreSQL
 * answers and 503 (Retry-After) while it does not.
 */
#include "fcgi/api.h"
#include "fcgi/handlers/h_analyze.h"
#include "fcgi/api_impl.h"
#include "fcgi/handlers/handlers.h"
#include "fcgi/handlers/h_moondream.h"

#include "common/ar.h"
#include "common/jq.h"
#include "common/pgx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a worker not seen for this long is reported "down" */
#define WORKER_STALE_S 30

int api_h_queue(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    char *text = NULL;
    if (jq_queue_stats_json(ctx->db, &text, &e) != JQ_OK)
        return api_reply_err(r, &e);
    return api_reply_json_text(r, 200, text);
}

static int tier_set(struct api_ctx *ctx, struct api_req *r, int pause)
{
    int tier = jq_tier_parse(r->pp[0]);
    if (tier < 0)
        return api_reply_error(r, 400, "invalid_tier", 0,
                               "invalid tier \"%.32s\": 0..3 or BACKGROUND, PRELOAD, INTERACTIVE, "
                               "IMMEDIATE",
                               r->pp[0]);
    struct err e;
    err_clear(&e);
    int rc = pause ? jq_tier_pause(ctx->db, tier, &e) : jq_tier_resume(ctx->db, tier, &e);
    if (rc != JQ_OK)
        return api_reply_err(r, &e);
    return api_reply_json(
        r, 200,
        json_pack("{s:i, s:s, s:b}", "tier", tier, "name", jq_tier_str(tier), "paused", pause),
        NULL);
}

int api_h_tier_pause(struct api_ctx *ctx, struct api_req *r)
{
    return tier_set(ctx, r, 1);
}

int api_h_tier_resume(struct api_ctx *ctx, struct api_req *r)
{
    return tier_set(ctx, r, 0);
}

/* 1 when some up worker lists model among the models it claims */
static int model_servable(json_t *workers, const char *model)
{
    size_t i, k;
    json_t *w, *m;
    json_array_foreach(workers, i, w)
    {
        const char *st = json_string_value(json_object_get(w, "status"));
        if (st == NULL || strcmp(st, "up") != 0)
            continue;
        json_array_foreach(json_object_get(json_object_get(w, "device"), "models"), k, m)
        {
            const char *n = json_string_value(m);
            if (n != NULL && strcmp(n, model) == 0)
                return 1;
        }
    }
    return 0;
}

/*
 * GET /v1/health.  Without a key: liveness only, {status, db} (no worker
 * names, pids, devices or models: it is public).  With a valid key: also
 * the workers and which catalogue models no up worker can run.  status is
 * "ok", or "degraded" (200) when a model the catalogue offers has no up
 * worker to run it (jobs for it would be accepted and never run), or
 * "unavailable" (503 + Retry-After) when PostgreSQL is down.
 */
int api_h_health(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    int detail = r->auth_key != NULL || r->auth_header_bad;
    if (detail && api_auth_check(ctx, r, API_AUTH_TENANT) != API_OK)
        return API_OK; /* answered 401/429 */
    if (pgx_check(ctx->db, &e) != PGX_OK)
        return api_reply_json(r, 503,
                              json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "status", "unavailable",
                                        "db", "down", "api", "up", "error", "code",
                                        "db_unavailable", "message", e.msg),
                              "Retry-After: 1\r\n");
    char *text = NULL;
    json_t *workers = NULL;
    if (jq_workers_json(ctx->db, WORKER_STALE_S, &text, &e) == JQ_OK) {
        json_t *w = json_loads(text, 0, NULL);
        workers = w ? json_incref(json_object_get(w, "workers")) : NULL;
        json_decref(w);
    } else if (e.transient) {
        free(text);
        return api_reply_json(
            r, 503,
            json_pack("{s:s, s:s, s:s}", "status", "unavailable", "db", "down", "api", "up"),
            "Retry-After: 1\r\n");
    }
    free(text);
    if (workers == NULL)
        workers = json_array();
    size_t up = 0, i;
    json_t *w;
    json_array_foreach(workers, i, w)
    {
        const char *st = json_string_value(json_object_get(w, "status"));
        up += st && strcmp(st, "up") == 0;
    }
    json_t *names = api_models_names_json(ctx->models, NULL);
    json_t *unservable = json_array();
    json_t *m;
    json_array_foreach(names, i, m)
    {
        if (!model_servable(workers, json_string_value(m)))
            json_array_append(unservable, m);
    }
    size_t n_bad = json_array_size(unservable), n_all = json_array_size(names);
    json_decref(names);
    const char *status = n_bad == 0 ? "ok" : "degraded";
    json_t *o = json_pack("{s:s, s:s, s:s}", "status", status, "db", "up", "api", "up");
    if (n_bad > 0) {
        char why[160];
        snprintf(why, sizeof why, "no worker up can run %zu of the %zu models offered", n_bad,
                 n_all);
        json_object_set_new(o, "reason", json_string(why));
    }
    if (detail) {
        json_object_set_new(o, "workers_up", json_integer((json_int_t)up));
        json_object_set_new(o, "workers", workers);
        json_object_set_new(o, "models_unservable", unservable);
    } else {
        json_decref(workers);
        json_decref(unservable);
    }
    return api_reply_json(r, 200, o, NULL);
}

int api_h_metrics(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    char *text = NULL;
    if (jq_metrics_text(ctx->db, &text, &e) != JQ_OK)
        return api_reply_err(r, &e);
    /* this process's group enqueue (fcgi/api_group.c): rows / statements
     * is the mean group */
    long long st = 0, rows = 0;
    int waiting = 0;
    api_group_stats(&st, &rows, &waiting);
    long long skipped = api_auth_lookups_skipped();
    const char *own = ar_printf(ctx->ar,
                                "# HELP vkv_api_enqueue_statements_total single-job enqueue "
                                "statements of this vkv-api process\n"
                                "# TYPE vkv_api_enqueue_statements_total counter\n"
                                "vkv_api_enqueue_statements_total %lld\n"
                                "# HELP vkv_api_enqueue_rows_total jobs those statements wrote or "
                                "answered\n"
                                "# TYPE vkv_api_enqueue_rows_total counter\n"
                                "vkv_api_enqueue_rows_total %lld\n"
                                "# HELP vkv_api_enqueue_waiting jobs waiting for a group "
                                "enqueue statement now\n"
                                "# TYPE vkv_api_enqueue_waiting gauge\n"
                                "vkv_api_enqueue_waiting %d\n"
                                "# HELP vkv_api_auth_lookups_skipped_total key lookups left to "
                                "the enqueue statement (a key this process saw lately)\n"
                                "# TYPE vkv_api_auth_lookups_skipped_total counter\n"
                                "vkv_api_auth_lookups_skipped_total %lld\n"
                                "# HELP vkv_api_sync_results_notified_total synchronous calls "
                                "whose finished job came inside its notification (no read)\n"
                                "# TYPE vkv_api_sync_results_notified_total counter\n"
                                "vkv_api_sync_results_notified_total %lld\n",
                                st, rows, waiting, skipped, api_call_payload_results());
    char *all = own ? ar_printf(ctx->ar, "%s%s", text, own) : NULL;
    int rc = all ? api_reply_text(r, 200, "text/plain; version=0.0.4", all, strlen(all))
                 : api_reply_text(r, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
    return rc;
}

/* the workers array of jq_workers_json, or an empty array */
static json_t *workers_get(struct api_ctx *ctx, struct err *e, int *failed)
{
    char *text = NULL;
    *failed = 0;
    if (jq_workers_json(ctx->db, WORKER_STALE_S, &text, e) != JQ_OK) {
        *failed = 1;
        return NULL;
    }
    json_t *w = json_loads(text, 0, NULL);
    free(text);
    json_t *arr = w ? json_incref(json_object_get(w, "workers")) : NULL;
    json_decref(w);
    return arr ? arr : json_array();
}

int api_h_models(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    int failed;
    json_t *workers = workers_get(ctx, &e, &failed);
    if (failed)
        return api_reply_err(r, &e);
    json_t *models = api_models_list_json(ctx->models);
    /* where each model is resident, as the workers report it
     * (device.resident: [{"model": name, ...}] or ["name", ...]) */
    size_t i, k, wi;
    json_t *m, *w, *res;
    json_array_foreach(models, i, m)
    {
        const char *name = json_string_value(json_object_get(m, "name"));
        json_t *where = json_array(), *vram = json_array();
        json_int_t total = 0;
        json_array_foreach(workers, wi, w)
        {
            json_t *dev = json_object_get(w, "device");
            json_t *resident = json_object_get(dev, "resident");
            json_array_foreach(resident, k, res)
            {
                const char *rn = json_is_string(res)
                                     ? json_string_value(res)
                                     : json_string_value(json_object_get(res, "model"));
                if (rn && name && strcmp(rn, name) == 0) {
                    json_int_t bytes = json_integer_value(json_object_get(res, "bytes"));
                    json_array_append(where, json_object_get(w, "name"));
                    json_array_append_new(
                        vram, json_pack("{s:O, s:O, s:I}", "worker", json_object_get(w, "name"),
                                        "device", json_object_get(dev, "name"), "bytes", bytes));
                    total += bytes;
                }
            }
        }
        json_object_set_new(m, "loaded_on", where);
        /* VRAM per model: what each worker holding it reports, and the sum */
        json_object_set_new(m, "vram", vram);
        json_object_set_new(m, "vram_bytes", json_integer(total));
    }
    json_decref(workers);
    return api_reply_json(r, 200,
                          json_pack("{s:o, s:o, s:o}", "models", models, "tasks",
                                    api_analyze_tasks_json(ctx->models), "unavailable",
                                    api_md_unavailable_json(ctx->models)),
                          NULL);
}

int api_h_gpus(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    int failed;
    json_t *workers = workers_get(ctx, &e, &failed);
    if (failed)
        return api_reply_err(r, &e);
    return api_reply_json(r, 200, json_pack("{s:o}", "gpus", workers), NULL);
}
