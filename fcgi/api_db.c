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
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
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
 * The one exception keeps that promise another way: on an API_AUTH_ENQUEUE
 * route (POST /v1/jobs without ?wait) a key this process looked up in the
 * last API_KEY_CACHE_MS skips the lookup, and the job's own statement
 * checks the key (jq_new_job.auth_key: a revoked key writes nothing and
 * gets 401), or, when the request ends before it, the first reply head
 * (api_auth_settle).  One round trip and one transaction fewer per job.
 */
#define API_KEY_CACHE_N 64
#define API_KEY_CACHE_MS 10000.0
struct api_key_cached {
    unsigned char h[crypto_hash_sha256_BYTES];
    int64_t tenant;
    int admin;
    double at; /* cm_now_ms of the lookup; 0 = empty */
};
static pthread_mutex_t api_key_mu = PTHREAD_MUTEX_INITIALIZER;
static struct api_key_cached api_key_cache[API_KEY_CACHE_N]; /* direct-mapped by h[0] */
static atomic_llong api_key_skipped;

long long api_auth_lookups_skipped(void)
{
    return atomic_load(&api_key_skipped);
}

static void api_key_sha(const char *key, unsigned char h[crypto_hash_sha256_BYTES])
{
    crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
}

static int api_key_cache_get(const unsigned char *h, int64_t *tenant, int *admin)
{
    struct api_key_cached *c = &api_key_cache[h[0] % API_KEY_CACHE_N];
    pthread_mutex_lock(&api_key_mu);
    int hit = c->at > 0 && cm_now_ms() - c->at < API_KEY_CACHE_MS &&
              memcmp(c->h, h, crypto_hash_sha256_BYTES) == 0;
    if (hit) {
        *tenant = c->tenant;
        *admin = c->admin;
    }
    pthread_mutex_unlock(&api_key_mu);
    return hit;
}

static void api_key_cache_put(const unsigned char *h, int64_t tenant, int admin, int keep)
{
    struct api_key_cached *c = &api_key_cache[h[0] % API_KEY_CACHE_N];
    pthread_mutex_lock(&api_key_mu);
    if (keep) {
        memcpy(c->h, h, crypto_hash_sha256_BYTES);
        c->tenant = tenant;
        c->admin = admin;
        c->at = cm_now_ms();
    } else if (memcmp(c->h, h, crypto_hash_sha256_BYTES) == 0) {
        c->at = 0;
    }
    pthread_mutex_unlock(&api_key_mu);
}

void api_auth_refused(struct api_req *r)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    api_key_sha(r->auth_key, h);
    api_key_cache_put(h, 0, 0, 0);
    api_limit_auth_failed(r->remote_addr);
    r->auth_deferred = 0;
}

/* the lookup a deferred key skipped, before a reply that no statement
 * checked it for (send_head calls it; nothing else runs on the thread's
 * connection then) */
static int api_auth_settle(struct api_req *r)
{
    r->auth_deferred = 0;
    struct err e;
    err_clear(&e);
    int64_t tid = 0;
    int admin = 0;
    int rc = jq_auth_key(r->auth_ctx->db, r->auth_key, &tid, &admin, &e);
    if (rc == JQ_OK && tid == r->tenant.id && admin == r->tenant.is_admin)
        return API_OK;
    if (rc == JQ_OK || rc == JQ_ERR_NOT_FOUND) {
        api_auth_refused(r);
        api_reply_error(r, 401, "invalid_key", 0, "unknown or revoked api key");
    } else {
        api_reply_err(r, &e);
    }
    return API_ERR;
}

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
    unsigned char h[crypto_hash_sha256_BYTES];
    int cacheable = need == API_AUTH_ENQUEUE && api_query_get(r, ctx->ar, "wait") == NULL;
    if (cacheable) {
        api_key_sha(r->auth_key, h);
        if (api_key_cache_get(h, &tid, &admin)) {
            atomic_fetch_add(&api_key_skipped, 1);
            r->auth_deferred = 1;
            r->auth_settle = api_auth_settle;
            r->auth_ctx = ctx;
            goto known;
        }
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
    if (cacheable)
        api_key_cache_put(h, tid, admin, 1);
known:
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
