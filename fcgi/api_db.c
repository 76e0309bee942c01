/*
 * api_db.c: per-thread PostgreSQL connections and authentication.
 *
 * Each accept thread owns one struct pgx (common/pgx.h): prepared
 * statements per connection, reconnect before a statement when the server
 * went away.  A thread whose server is down still serves: handlers get
 * JQ_ERR_DB (transient) and answer 503 with Retry-After, and the next
 * request tries to reconnect.  See fcgi/README.md.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include "common/cfg.h"
#include "common/cm.h"
#include "common/jq.h"
#include "common/log.h"
#include "common/pgx.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

int api_db_global_init(void)
{
    if (!PQisthreadsafe()) {
        log_error("libpq was built without thread safety; vkv-api needs it");
        return -1;
    }
    /* refuse to serve a database whose schema is not the one this binary
     * was built for (an edited or unknown migration, or none applied); when
     * PostgreSQL is down we start anyway and answer 503 until it is back */
    struct pgx *c = NULL;
    struct err e;
    err_clear(&e);
    struct pgx_settings ps;
    cfg_pgx_settings(&ps);
    if (pgx_open(&c, &ps, &e) != PGX_OK) {
        log_warn("could not check the schema at start: %s", e.msg);
        pgx_free(c);
        return 0;
    }
    int rc = jq_schema_check(c, &e);
    pgx_free(c);
    if (rc == JQ_ERR_CONFLICT || rc == JQ_ERR_NOT_FOUND) {
        log_error("%s (%s); run vkv-admin migrate against a database of this version", e.msg,
                  e.code);
        return -1;
    }
    if (rc != JQ_OK)
        log_warn("could not check the schema at start: %s", e.msg);
    return 0;
}

struct pgx *api_db_thread_init(int thread)
{
    struct pgx *c = NULL;
    struct err e;
    err_clear(&e);
    struct pgx_settings ps;
    cfg_pgx_settings(&ps);
    if (pgx_open(&c, &ps, &e) != PGX_OK)
        log_warn("thread %d: %s (will retry on the next request)", thread, e.msg);
    if (c != NULL)
        jq_limits_set(c, cfg_int("VKV_TIER_DEPTH_LIMIT"), (int)cfg_int("VKV_MAX_ATTEMPTS"));
    return c;
}

void api_db_thread_free(struct pgx *db)
{
    pgx_free(db);
}

/*
 * Called after every request: frees the request's PGresults and drops
 * notifications that arrived for LISTENs of earlier requests, so a thread
 * that once waited on vkv_job_done does not accumulate them.
 */
void api_db_request_end(struct pgx *db)
{
    if (db == NULL)
        return;
    pgx_reset(db);
    PGconn *pc = pgx_conn_get(db);
    if (pc == NULL || PQstatus(pc) != CONNECTION_OK)
        return;
    PQconsumeInput(pc);
    PGnotify *n;
    int bound = 100000;
    while (bound-- > 0 && (n = PQnotifies(pc)) != NULL)
        PQfreemem(n);
}

/*
 * Every request looks its key up (one indexed query): a revoked key stops
 * working at once.  The per-thread cache of successful lookups this
 * replaced let a revoked key work for 5 s, which the docs did not say.
 */
int api_auth_check(struct api_ctx *ctx, struct api_req *r, enum api_auth need)
{
    if (need == API_AUTH_NONE)
        return API_OK;
    if (r->auth_header_bad) {
        api_reply_error(r, 401, "invalid_auth_header", 0,
                        "invalid authorization header: expected \"Bearer KEY\"");
        return API_ERR;
    }
    if (r->auth_key == NULL) {
        api_reply_error(r, 401, "missing_key", 0,
                        "missing api key: send Authorization: Bearer KEY or X-Moondream-Auth: KEY");
        return API_ERR;
    }
    if (r->auth_key[0] == '\0') {
        api_reply_error(r, 401, "empty_key", 0, "empty api key");
        return API_ERR;
    }
    struct err e;
    err_clear(&e);
    int64_t tid = 0;
    int admin = 0;
    int retry = 0;
    if (api_limit_auth_blocked(ctx->db, r->remote_addr, r->auth_key, &retry)) {
        api_reply_error(r, 429, "too_many_failed_auth", retry,
                        "too many requests with unknown or revoked keys from this address");
        return API_ERR;
    }
    int rc = jq_auth_key(ctx->db, r->auth_key, &tid, &admin, &e);
    if (rc == JQ_ERR_NOT_FOUND) {
        api_limit_auth_failed(r->remote_addr);
        api_reply_error(r, 401, "invalid_key", 0, "unknown or revoked api key");
        return API_ERR;
    }
    if (rc != JQ_OK) {
        api_reply_err(r, &e);
        return API_ERR;
    }
    r->tenant.id = tid;
    r->tenant.is_admin = admin;
    r->authed = 1;
    if (need == API_AUTH_ADMIN && !admin) {
        api_reply_error(r, 403, "admin_required", 0, "this route needs an admin key");
        return API_ERR;
    }
    if (!api_limit_tenant_take(tid, &retry)) {
        api_reply_error(r, 429, "rate_limited", retry, "too many requests for this tenant");
        return API_ERR;
    }
    return API_OK;
}
