/*
 * h_dash.c: the dashboard's read-only routes (h_dash.h).  The SQL lives in
 * schema/queries/dash.sql; every statement takes the tenant scope as its
 * first parameter, so a tenant key never reads another tenant's jobs.
 */
#include "fcgi/handlers/h_dash.h"

#include "fcgi/api_impl.h"

#include "common/jq.h"
#include "common/pgx.h"
#include "common/thumb.h"
#include "sql_queries.h"

#include <stdlib.h>
#include <string.h>

int api_dash_scope(struct api_ctx *ctx, struct api_req *r, int64_t *scope)
{
    *scope = r->tenant.id;
    const char *v = api_query_get(r, ctx->ar, "tenant");
    if (v == NULL)
        return API_OK;
    if (!r->tenant.is_admin) {
        api_reply_error(r, 403, "admin_required", 0, "the tenant filter needs an admin key");
        return API_ERR;
    }
    if (strcmp(v, "all") == 0) {
        *scope = 0;
        return API_OK;
    }
    int64_t id = api_id_parse(v);
    if (id <= 0) {
        api_reply_error(r, 400, "invalid_query", 0, "tenant must be \"all\" or a tenant id");
        return API_ERR;
    }
    *scope = id;
    return API_OK;
}

/* runs a statement that answers one JSON text cell and replies with it */
static int reply_json_query(struct api_ctx *ctx, struct api_req *r, int q, int n,
                            const char *const *vals)
{
    struct err e;
    err_clear(&e);
    PGresult *res = pgx_exec(ctx->db, q, n, vals, NULL, NULL, 0, &e);
    if (res == NULL)
        return api_reply_err(r, &e);
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        return api_reply_error(r, 500, "internal", 0, "the statement answered no row");
    const char *t = PQgetvalue(res, 0, 0);
    return api_reply_text(r, 200, "application/json", t, strlen(t));
}

int api_h_whoami(struct api_ctx *ctx, struct api_req *r)
{
    (void)ctx;
    return api_reply_json(
        r, 200,
        json_pack("{s:I, s:b}", "tenant_id", (json_int_t)r->tenant.id, "admin", r->tenant.is_admin),
        NULL);
}

int api_h_dash_stats(struct api_ctx *ctx, struct api_req *r)
{
    int64_t scope;
    if (api_dash_scope(ctx, r, &scope) != API_OK)
        return API_ERR;
    char s[24];
    const char *v[1] = {pgx_i64(s, scope)};
    return reply_json_query(ctx, r, SQLQ_DASH_STATS, 1, v);
}

int api_h_jobs_input(struct api_ctx *ctx, struct api_req *r)
{
    int64_t id = api_id_parse(r->pp[0]);
    if (id < 0)
        return api_reply_error(r, 404, "not_found", 0, "no job \"%.32s\"", r->pp[0]);
    int64_t scope;
    if (api_dash_scope(ctx, r, &scope) != API_OK)
        return API_ERR;
    char s[24], j[24];
    const char *v[2] = {pgx_i64(s, scope), pgx_i64(j, id)};
    struct err e;
    err_clear(&e);
    PGresult *res = pgx_exec(ctx->db, SQLQ_DASH_JOB_INPUT, 2, v, NULL, NULL, 1, &e);
    if (res == NULL)
        return api_reply_err(r, &e);
    if (PQntuples(res) == 1) {
        /* only image types the API accepted at enqueue reach the table;
         * anything else is sent as opaque bytes */
        const char *type = PQgetvalue(res, 0, 1);
        if (strncmp(type, "image/", 6) != 0)
            type = "application/octet-stream";
        return api_reply_text(r, 200, type, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
    }
    res = pgx_exec(ctx->db, SQLQ_DASH_JOB_EXISTS, 2, v, NULL, NULL, 0, &e);
    if (res == NULL)
        return api_reply_err(r, &e);
    if (PQntuples(res) == 0)
        return api_reply_error(r, 404, "not_found", 0, "job not found");
    return api_reply_error(r, 404, "input_not_retained", 0,
                           "job %lld has finished; its input is kept only while it is queued "
                           "or running",
                           (long long)id);
}

int api_h_admin_tenants(struct api_ctx *ctx, struct api_req *r)
{
    return reply_json_query(ctx, r, SQLQ_DASH_TENANTS, 0, NULL);
}

int api_h_admin_settings(struct api_ctx *ctx, struct api_req *r)
{
    return reply_json_query(ctx, r, SQLQ_DASH_SETTINGS, 0, NULL);
}

/* the longest any queue setting may be: a day (a typo of extra zeros would
 * otherwise park the aged lane or retries for weeks) */
#define DASH_SETTING_MAX_MS 86400000

int api_h_admin_settings_set(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    json_t *body = api_req_json(r, ctx->ar, &e);
    if (body == NULL)
        return api_reply_err(r, &e);
    if (!json_is_object(body))
        return api_reply_error(r, 400, "invalid_json", 0, "the body must be a JSON object");
    static const char *const names[5] = {"aging_ms", "aged_interval_ms", "fair_quantum_ms",
                                         "retry_base_ms", "retry_max_ms"};
    int v[5] = {-1, -1, -1, -1, -1};
    const char *k;
    json_t *x;
    json_object_foreach(body, k, x)
    {
        int i = 0;
        while (i < 5 && strcmp(k, names[i]) != 0)
            i++;
        if (i == 5)
            return api_reply_error(r, 400, "unknown_field", 0,
                                   "unknown field \"%.32s\": aging_ms, aged_interval_ms, "
                                   "fair_quantum_ms, retry_base_ms, retry_max_ms",
                                   k);
        json_int_t n = json_is_integer(x) ? json_integer_value(x) : -1;
        if (n < (i == 2 ? 1 : 0) || n > DASH_SETTING_MAX_MS)
            return api_reply_error(r, 400, "invalid_field", 0, "%s must be an integer of %d..%d ms",
                                   names[i], i == 2 ? 1 : 0, DASH_SETTING_MAX_MS);
        v[i] = (int)n;
    }
    struct jq_settings st = {v[0], v[1], v[2], v[3], v[4]};
    char *text = NULL;
    if (jq_settings_set(ctx->db, &st, &text, &e) != JQ_OK)
        return api_reply_err(r, &e);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    if (j == NULL)
        return api_reply_error(r, 500, "internal", 0, "the settings could not be read back");
    return api_reply_json(r, 200, json_pack("{s:o}", "settings", j), NULL);
}

int api_h_jobs_thumbnail(struct api_ctx *ctx, struct api_req *r)
{
    int64_t id = api_id_parse(r->pp[0]);
    if (id < 0)
        return api_reply_error(r, 404, "not_found", 0, "no job \"%.32s\"", r->pp[0]);
    int64_t scope;
    if (api_dash_scope(ctx, r, &scope) != API_OK)
        return API_ERR;
    char s[24], j[24];
    const char *v[2] = {pgx_i64(s, scope), pgx_i64(j, id)};
    struct err e;
    err_clear(&e);
    PGresult *res = pgx_exec(ctx->db, SQLQ_DASH_JOB_THUMB, 2, v, NULL, NULL, 1, &e);
    if (res == NULL)
        return api_reply_err(r, &e);
    if (PQntuples(res) == 0)
        return api_reply_error(r, 404, "not_found", 0, "job not found");
    /* binary result: the flag is an int4 */
    if (pgx_bin_i32(res, 0, 0) == 0)
        return api_reply_text(r, 204, THUMB_MIME, "", 0);
    const uint8_t *b = (const uint8_t *)PQgetvalue(res, 0, 1);
    size_t n = (size_t)PQgetlength(res, 0, 1);
    return api_reply_text(r, 200, thumb_mime(b, n), (const char *)b, n);
}
