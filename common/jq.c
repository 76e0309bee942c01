/*
 * jq.c: the job-queue client.  Thin by design: each function checks its
 * arguments, runs one named statement from schema/queries/jq.sql (JSON is
 * built by PostgreSQL) and copies the answer out before pgx_reset() clears
 * the results.  The queue's rules live in SQL and schema/README.md.
 *
 * The per-tier depth limit reads a count cached in the tiers table (one
 * bounded recount, O(min(depth, limit)), per tier every 2 s cluster-wide)
 * at most every JQ_DEPTH_CACHE_MS per connection, and adds what this
 * connection enqueued since: the limit holds to within what all
 * connections enqueue in about 2.25 s, and neither an enqueue nor a 429
 * ever pays for a count of a deep queue on its own.
 * See common/README.md and schema/README.md.
 */
#include "common/jq.h"

#include "common/cm.h"
#include "common/pgx_impl.h"

#include "sql_queries.h"

#include <assert.h>
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JQ_DEPTH_CACHE_MS 250.0
#define JQ_INPUT_MAX ((size_t)512 << 20)
#define JQ_KEY_MAX 256

static const char *const jq_state_names[] = {
    "queued", "running", "succeeded", "failed", "canceled", "expired", "cancel_requested",
};
static const char *const jq_tier_names[] = {"BACKGROUND", "PRELOAD", "INTERACTIVE", "IMMEDIATE"};

const char *jq_state_str(int state)
{
    if (state < 0 || state >= (int)CM_ARRAY_LEN(jq_state_names))
        return "unknown";
    return jq_state_names[state];
}

int jq_state_parse(const char *s)
{
    for (int i = 0; s != NULL && i < (int)CM_ARRAY_LEN(jq_state_names); i++)
        if (strcmp(s, jq_state_names[i]) == 0)
            return i;
    return -1;
}

const char *jq_tier_str(int tier)
{
    return tier >= 0 && tier < JQ_TIERS ? jq_tier_names[tier] : NULL;
}

int jq_tier_parse(const char *s)
{
    if (s == NULL)
        return -1;
    if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0')
        return s[0] - '0';
    for (int i = 0; i < JQ_TIERS; i++)
        if (strcasecmp(s, jq_tier_names[i]) == 0)
            return i;
    return -1;
}

int jq_priority_parse(const char *header, const char *tier, const char *priority, int def, int *out,
                      struct err *e)
{
    if (tier != NULL && priority != NULL)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "conflicting_fields",
                       "give \"tier\" or \"priority\", not both (they are the same setting)");
    const char *said = tier != NULL ? tier : priority;
    const char *what = tier != NULL ? "field \"tier\"" : "field \"priority\"";
    if (said == NULL) {
        said = header;
        what = "X-Priority";
    }
    if (said == NULL) {
        *out = def;
        return JQ_OK;
    }
    int t = jq_tier_parse(said);
    if (t < 0)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_tier",
                       "invalid %s \"%.32s\": 0..3 or BACKGROUND, PRELOAD, INTERACTIVE, "
                       "IMMEDIATE",
                       what, said);
    *out = t;
    return JQ_OK;
}

const char *jq_status_str(int status)
{
    switch (status) {
    case JQ_OK:
        return "ok";
    case JQ_EMPTY:
        return "empty";
    case JQ_ERR_NOT_FOUND:
        return "not_found";
    case JQ_ERR_TIER_FULL:
        return "tier_full";
    case JQ_ERR_CONFLICT:
        return "conflict";
    case JQ_ERR_DB:
        return "db_unavailable";
    case JQ_ERR_INVALID:
        return "invalid";
    default:
        return "error";
    }
}

/* ---- helpers ------------------------------------------------------------ */

/* the status in e after a failed pgx_exec (the PGX_ and JQ_ values agree) */
static int jq_fail(struct pgx *c, struct err *e)
{
    pgx_reset(c);
    return e != NULL && e->status < 0 ? e->status : JQ_ERR_DB;
}

/* a failed enqueue statement: a data error (SQLSTATE class 22 or 23, which
 * pgx maps to JQ_ERR_INVALID) comes from the caller's values, and the API
 * answers it as invalid_params */
static int jq_enqueue_fail(struct pgx *c, struct err *e)
{
    int rc = jq_fail(c, e);
    if (rc == JQ_ERR_INVALID && e != NULL)
        snprintf(e->code, sizeof(e->code), "invalid_params");
    return rc;
}

static PGresult *jq_q(struct pgx *c, int id, int n, const char *const *v, struct err *e)
{
    return pgx_exec(c, id, n, v, NULL, NULL, 0, e);
}

/* copies the single text value of r into a new string */
static int jq_text_out(struct pgx *c, PGresult *r, char **out, const char *what, struct err *e)
{
    if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0)) {
        pgx_reset(c);
        return err_set(e, JQ_ERR_NOT_FOUND, ERR_NOT_FOUND, "not_found", "%s not found", what);
    }
    *out = cm_xstrdup(PQgetvalue(r, 0, 0));
    pgx_reset(c);
    return JQ_OK;
}

static int jq_tier_ok(int tier, struct err *e)
{
    if (tier < 0 || tier >= JQ_TIERS)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_tier",
                       "invalid tier: %d (expected 0..3)", tier);
    return JQ_OK;
}

static int jq_str_ok(const char *s, size_t max, const char *field, struct err *e)
{
    if (s == NULL || s[0] == '\0')
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field", "missing %s", field);
    if (strlen(s) > max)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "invalid %s: longer than %zu bytes", field, max);
    return JQ_OK;
}

/* builds a PostgreSQL array literal of bigints into a new string */
static char *jq_i64_array(const int64_t *ids, int n)
{
    size_t cap = 3 + (size_t)n * 21;
    char *s = cm_xmalloc(cap), *p = s;
    *p++ = '{';
    for (int i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - s), "%s%lld", i ? "," : "", (long long)ids[i]);
    *p++ = '}';
    *p = '\0';
    return s;
}

/* a PostgreSQL text[] literal, every element quoted; new string */
static char *jq_text_array(const char *const *v, int n)
{
    size_t cap = 3;
    for (int i = 0; i < n; i++)
        cap += 2 * strlen(v[i]) + 3;
    char *s = cm_xmalloc(cap), *p = s;
    *p++ = '{';
    for (int i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *q = v[i]; *q; q++) {
            if (*q == '"' || *q == '\\')
                *p++ = '\\';
            *p++ = *q;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return s;
}

/* ---- settings ------------------------------------------------------------ */

/*
 * The queue client's state per connection: its limits and the depth cache.
 * Owned by jq, kept in the connection's client slot (pgx frees it with the
 * connection), made on first use, so struct pgx knows nothing of the queue.
 */
struct jq_conn {
    int64_t depth_limit;
    int max_attempts;
    int64_t depth_seen[JQ_TIERS], depth_added[JQ_TIERS];
    double depth_at[JQ_TIERS];
    /* jq_wait_channel's name, "" until drawn; valid while the connection
     * has had wait_reconnects reconnects */
    char wait_channel[64];
    int wait_reconnects;
    long long wait_hits; /* jobs whose JSON came on it (jq_wait_hits) */
};

static struct jq_conn *jq_conn(struct pgx *c)
{
    if (c->client == NULL) {
        struct jq_conn *s = cm_xcalloc(1, sizeof(*s));
        s->depth_limit = 100000;
        s->max_attempts = 3;
        c->client = s;
        c->client_free = free;
    }
    return c->client;
}

/* sets the limits of c (see jq.h); cannot fail */
void jq_limits_set(struct pgx *c, int64_t depth_limit, int max_attempts)
{
    struct jq_conn *s = jq_conn(c);
    if (depth_limit > 0)
        s->depth_limit = depth_limit;
    if (max_attempts > 0)
        s->max_attempts = max_attempts;
    for (int t = 0; t < JQ_TIERS; t++)
        s->depth_at[t] = 0;
}

int jq_retry_after_s(void)
{
    return 5;
}

int jq_settings_set(struct pgx *c, const struct jq_settings *s, char **json, struct err *e)
{
    char b[5][24];
    const int x[5] = {s->aging_ms, s->aged_interval_ms, s->fair_quantum_ms, s->retry_base_ms,
                      s->retry_max_ms};
    const char *v[5];
    for (int i = 0; i < 5; i++)
        v[i] = x[i] >= 0 ? pgx_i64(b[i], x[i]) : NULL;
    if (s->fair_quantum_ms == 0)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "invalid fair_quantum_ms: 0");
    PGresult *r = jq_q(c, SQLQ_JQ_SETTINGS_SET, 5, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (json != NULL)
        return jq_text_out(c, r, json, "settings", e);
    pgx_reset(c);
    return JQ_OK;
}

/* ---- auth, tenants, keys ------------------------------------------------ */

static void jq_key_hash(const char *key, unsigned char out[crypto_hash_sha256_BYTES])
{
    crypto_hash_sha256(out, (const unsigned char *)key, strlen(key));
}

/* looks up a key by its SHA-256 (see jq.h) */
int jq_auth_key(struct pgx *c, const char *key, int64_t *tenant_id, int *is_admin, struct err *e)
{
    if (key == NULL || key[0] == '\0' || strlen(key) > JQ_KEY_MAX)
        return err_set(e, JQ_ERR_NOT_FOUND, ERR_AUTH, "invalid_key", "invalid API key");
    unsigned char h[crypto_hash_sha256_BYTES];
    jq_key_hash(key, h);
    const char *v[1] = {(const char *)h};
    int lens[1] = {sizeof(h)}, fmts[1] = {1};
    PGresult *r = pgx_exec(c, SQLQ_JQ_AUTH_KEY, 1, v, lens, fmts, 0, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (PQntuples(r) != 1) {
        pgx_reset(c);
        return err_set(e, JQ_ERR_NOT_FOUND, ERR_AUTH, "invalid_key", "invalid API key");
    }
    *tenant_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (is_admin != NULL)
        *is_admin = atoi(PQgetvalue(r, 0, 1));
    pgx_reset(c);
    return JQ_OK;
}

int jq_key_hashes(struct pgx *c, int max, unsigned char **out, int *n, struct err *e)
{
    *out = NULL;
    *n = 0;
    char m[24];
    const char *v[1] = {pgx_i64(m, max)};
    const int fmts[1] = {0};
    PGresult *r = pgx_exec(c, SQLQ_JQ_KEY_HASHES, 1, v, NULL, fmts, 1, e);
    if (r == NULL)
        return jq_fail(c, e);
    int rows = PQntuples(r);
    unsigned char *h = rows > 0 ? malloc((size_t)rows * crypto_hash_sha256_BYTES) : NULL;
    if (rows > 0 && h == NULL) {
        pgx_reset(c);
        return err_set(e, JQ_ERR, ERR_INTERNAL, "out_of_memory", "out of memory (key hashes)");
    }
    int k = 0;
    for (int i = 0; i < rows; i++)
        if (PQgetlength(r, i, 0) == crypto_hash_sha256_BYTES)
            memcpy(h + (size_t)k++ * crypto_hash_sha256_BYTES, PQgetvalue(r, i, 0),
                   crypto_hash_sha256_BYTES);
    pgx_reset(c);
    *out = h;
    *n = k;
    return JQ_OK;
}

int jq_tenant_create(struct pgx *c, const char *name, int64_t *tenant_id, struct err *e)
{
    if (jq_str_ok(name, 128, "tenant name", e) != JQ_OK)
        return JQ_ERR_INVALID;
    const char *v[1] = {name};
    PGresult *r = jq_q(c, SQLQ_JQ_TENANT_CREATE, 1, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (PQntuples(r) != 1) {
        pgx_reset(c);
        return err_set(e, JQ_ERR_CONFLICT, ERR_CONFLICT, "conflict", "tenant \"%s\" already exists",
                       name);
    }
    *tenant_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    pgx_reset(c);
    return JQ_OK;
}

int jq_tenant_get(struct pgx *c, const char *name, int64_t *tenant_id, struct err *e)
{
    const char *v[1] = {name};
    PGresult *r = jq_q(c, SQLQ_JQ_TENANT_GET, 1, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (PQntuples(r) != 1) {
        pgx_reset(c);
        return err_set(e, JQ_ERR_NOT_FOUND, ERR_NOT_FOUND, "not_found", "unknown tenant: \"%s\"",
                       name ? name : "");
    }
    *tenant_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    pgx_reset(c);
    return JQ_OK;
}

/* creates a key: 32 random bytes, printed once, stored as SHA-256 */
int jq_key_create(struct pgx *c, int64_t tenant_id, int is_admin, char *key_out, size_t key_out_len,
                  int64_t *key_id, struct err *e)
{
    if (key_out_len < 64)
        return err_set(e, JQ_ERR_INVALID, ERR_INTERNAL, "internal", "key buffer too small");
    if (sodium_init() < 0)
        return err_set(e, JQ_ERR, ERR_INTERNAL, "internal", "could not initialise libsodium");
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    char b64[64];
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(key_out, key_out_len, "vkv_%s", b64);
    sodium_memzero(raw, sizeof(raw));
    unsigned char h[crypto_hash_sha256_BYTES];
    jq_key_hash(key_out, h);
    char tid[24], prefix[16];
    snprintf(prefix, sizeof(prefix), "%.12s", key_out);
    const char *v[4] = {pgx_i64(tid, tenant_id), (const char *)h, prefix,
                        is_admin ? "true" : "false"};
    int lens[4] = {0, sizeof(h), 0, 0}, fmts[4] = {0, 1, 0, 0};
    PGresult *r = pgx_exec(c, SQLQ_JQ_KEY_CREATE, 4, v, lens, fmts, 0, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (PQntuples(r) != 1) {
        pgx_reset(c);
        key_out[0] = '\0';
        return err_set(e, JQ_ERR_NOT_FOUND, ERR_NOT_FOUND, "not_found", "unknown tenant: %lld",
                       (long long)tenant_id);
    }
    if (key_id != NULL)
        *key_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    pgx_reset(c);
    return JQ_OK;
}

int jq_key_revoke(struct pgx *c, int64_t key_id, struct err *e)
{
    char id[24];
    const char *v[1] = {pgx_i64(id, key_id)};
    PGresult *r = jq_q(c, SQLQ_JQ_KEY_REVOKE, 1, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    int n = PQntuples(r);
    pgx_reset(c);
    if (n != 1)
        return err_set(e, JQ_ERR_NOT_FOUND, ERR_NOT_FOUND, "not_found",
                       "unknown or revoked key: %lld", (long long)key_id);
    return JQ_OK;
}

/* ---- transactions -------------------------------------------------------- */

static int jq_simple(struct pgx *c, int id, struct err *e)
{
    PGresult *r = jq_q(c, id, 0, NULL, e);
    if (r == NULL)
        return jq_fail(c, e);
    pgx_reset(c);
    return JQ_OK;
}

int jq_tx_begin(struct pgx *c, struct err *e)
{
    return jq_simple(c, SQLQ_JQ_TX_BEGIN, e);
}

int jq_tx_commit(struct pgx *c, struct err *e)
{
    return jq_simple(c, SQLQ_JQ_TX_COMMIT, e);
}

int jq_tx_rollback(struct pgx *c, struct err *e)
{
    return jq_simple(c, SQLQ_JQ_TX_ROLLBACK, e);
}

/* ---- enqueue -------------------------------------------------------------- */

/* the per-tier depth limit; see the file comment for the caches */
static int jq_depth_check(struct pgx *c, int tier, struct err *e)
{
    struct jq_conn *s = jq_conn(c);
    int64_t limit = s->depth_limit;
    double now = cm_now_ms();
    if (s->depth_at[tier] <= 0 || now - s->depth_at[tier] >= JQ_DEPTH_CACHE_MS) {
        char t[24], l[24];
        const char *v[2] = {pgx_i64(t, tier), pgx_i64(l, limit)};
        PGresult *r = jq_q(c, SQLQ_JQ_TIER_DEPTH, 2, v, e);
        if (r == NULL)
            return jq_fail(c, e);
        s->depth_seen[tier] = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        s->depth_added[tier] = 0;
        s->depth_at[tier] = now;
        pgx_reset(c);
    }
    int64_t n = s->depth_seen[tier] + s->depth_added[tier];
    if (n >= limit)
        return err_set(e, JQ_ERR_TIER_FULL, ERR_RATE_LIMITED, "tier_full",
                       "could not enqueue: tier %s holds about %lld queued jobs (limit %lld)",
                       jq_tier_str(tier), (long long)n, (long long)limit);
    return JQ_OK;
}

/* a thumbnail the table takes (job_thumbs' CHECK); another one is left
 * out rather than failing its job */
#define JQ_THUMB_MAX ((size_t)1 << 20)
static int jq_thumb_ok(const struct jq_new_job *j)
{
    return j->thumb != NULL && j->thumb_len >= 1 && j->thumb_len <= JQ_THUMB_MAX;
}

/* a key the job's statement refused (jq_new_job.auth_key) */
static int jq_key_refused(struct err *e)
{
    return err_set(e, JQ_ERR_NOT_FOUND, ERR_AUTH, "invalid_key", "unknown or revoked api key");
}

/* the fields of one job, checked before any statement */
static int jq_job_check(const struct jq_new_job *j, struct err *e)
{
    if (j->tenant_id <= 0)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_tenant", "invalid tenant: %lld",
                       (long long)j->tenant_id);
    if (jq_str_ok(j->task, JQ_TASK_MAX, "task", e) != JQ_OK ||
        jq_str_ok(j->model, JQ_MODEL_MAX, "model", e) != JQ_OK || jq_tier_ok(j->tier, e) != JQ_OK)
        return JQ_ERR_INVALID;
    if (j->idempotency_key != NULL &&
        jq_str_ok(j->idempotency_key, JQ_IDEMPOTENCY_KEY_MAX, "idempotency key", e) != JQ_OK)
        return JQ_ERR_INVALID;
    if (j->auth_key != NULL && (j->auth_key[0] == '\0' || strlen(j->auth_key) > JQ_KEY_MAX))
        return jq_key_refused(e);
    if (j->input_len > JQ_INPUT_MAX || (j->input == NULL && j->input_len > 0))
        return err_set(e, JQ_ERR_INVALID, ERR_TOO_LARGE, "input_too_large",
                       "invalid input: %zu bytes (limit %zu)", j->input_len, JQ_INPUT_MAX);
    if (j->deadline_ms < 0 || j->max_attempts < 0 || j->max_attempts > 100 || j->batch_id < 0)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "invalid deadline_ms %d, max_attempts %d or batch %lld", j->deadline_ms,
                       j->max_attempts, (long long)j->batch_id);
    if (j->params_json != NULL) {
        const char *p = j->params_json;
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '{')
            return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_params",
                           "invalid params: expected a JSON object");
    }
    return JQ_OK;
}

/* enqueues one job (see jq.h) */
int jq_job_enqueue(struct pgx *c, const struct jq_new_job *j, int64_t *job_id, int *existed,
                   struct err *e)
{
    if (existed != NULL)
        *existed = 0;
    int rc = jq_job_check(j, e);
    if (rc != JQ_OK)
        return rc;
    rc = jq_depth_check(c, j->tier, e);
    if (rc != JQ_OK)
        return rc;

    char ten[24], tier[24], batch[24], dl[24], ma[24];
    unsigned char kh[crypto_hash_sha256_BYTES];
    if (j->auth_key != NULL)
        jq_key_hash(j->auth_key, kh);
    const char *v[14] = {
        pgx_i64(ten, j->tenant_id),
        j->task,
        j->model,
        pgx_i64(tier, j->tier),
        j->params_json,
        (const char *)j->input,
        j->input_type,
        j->idempotency_key,
        j->batch_id ? pgx_i64(batch, j->batch_id) : NULL,
        j->deadline_ms ? pgx_i64(dl, j->deadline_ms) : NULL,
        pgx_i64(ma, j->max_attempts ? j->max_attempts : jq_conn(c)->max_attempts),
        jq_thumb_ok(j) ? (const char *)j->thumb : NULL,
        j->auth_key != NULL ? (const char *)kh : NULL,
        j->wait_channel,
    };
    int lens[14] = {
        0, 0, 0, 0, 0, (int)j->input_len, 0, 0, 0, 0, 0, (int)j->thumb_len, (int)sizeof(kh), 0};
    int fmts[14] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0};
    if (j->idempotency_key == NULL && j->batch_id == 0) {
        /* the cheaper statement: no idempotency or batch step.  An input
         * that is its own thumbnail (the same bytes) is stored once: the
         * job only says so, and job_archive copies it to job_thumbs when
         * the job ends (migration 0012) */
        int thumb_in = jq_thumb_ok(j) && j->thumb == j->input && j->thumb_len == j->input_len;
        const char *thumb = thumb_in ? NULL : v[11], *flag = thumb_in ? "t" : "f";
        const char *pv[13] = {v[0], v[1],  v[2],  v[3],  v[4],  v[5], v[6],
                              v[9], v[10], thumb, v[12], v[13], flag};
        int pl[13] = {0, 0, 0, 0, 0, lens[5], 0, 0, 0, thumb_in ? 0 : lens[11], lens[12], 0, 0};
        int pf[13] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0};
        PGresult *r = pgx_exec(c, SQLQ_JQ_ENQUEUE_PLAIN, 13, pv, pl, pf, 0, e);
        if (r == NULL) {
            return jq_enqueue_fail(c, e);
        }
        if (PQntuples(r) == 0) {
            /* only a refused key writes nothing here */
            pgx_reset(c);
            return jq_key_refused(e);
        }
        *job_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        jq_conn(c)->depth_added[j->tier]++;
        pgx_reset(c);
        return JQ_OK;
    }
    /* an idempotency race (the other insert committed after our snapshot)
     * answers no row: the second run sees it */
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *r = pgx_exec(c, SQLQ_JQ_ENQUEUE, 14, v, lens, fmts, 0, e);
        if (r == NULL) {
            return jq_enqueue_fail(c, e);
        }
        if (PQntuples(r) == 0) {
            pgx_reset(c);
            continue;
        }
        if (PQgetisnull(r, 0, 0)) {
            int refused = atoi(PQgetvalue(r, 0, 1)) == 2;
            pgx_reset(c);
            if (refused)
                return jq_key_refused(e);
            return err_set(e, JQ_ERR_NOT_FOUND, ERR_NOT_FOUND, "not_found", "unknown batch: %lld",
                           (long long)j->batch_id);
        }
        *job_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        int ex = atoi(PQgetvalue(r, 0, 1));
        if (existed != NULL)
            *existed = ex;
        if (!ex)
            jq_conn(c)->depth_added[j->tier]++;
        pgx_reset(c);
        return JQ_OK;
    }
    return err_set_transient(e, JQ_ERR_DB, "db_unavailable",
                             "could not enqueue: idempotency key in use by a concurrent request");
}

/* appends a big-endian int32 */
static uint8_t *jq_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/*
 * A one-dimensional array in PostgreSQL's binary format (elements of type
 * oid; vals[i] NULL = SQL NULL): malloc'd, or NULL when it would pass
 * JQ_GROUP_BYTES_MAX or memory ran out.
 */
#define JQ_GROUP_BYTES_MAX ((size_t)1 << 30)
static uint8_t *jq_array_bin(uint32_t oid, int n, const uint8_t *const *vals, const size_t *lens,
                             size_t *out_len)
{
    size_t total = 20;
    int nulls = 0;
    for (int i = 0; i < n; i++) {
        if (vals[i] == NULL)
            nulls = 1;
        else if (lens[i] > JQ_GROUP_BYTES_MAX - total)
            return NULL;
        total += 4 + (vals[i] ? lens[i] : 0);
        if (total > JQ_GROUP_BYTES_MAX)
            return NULL;
    }
    uint8_t *a = malloc(total), *p = a;
    if (a == NULL)
        return NULL;
    p = jq_put32(p, 1);
    p = jq_put32(p, (uint32_t)nulls);
    p = jq_put32(p, oid);
    p = jq_put32(p, (uint32_t)n);
    p = jq_put32(p, 1);
    for (int i = 0; i < n; i++) {
        if (vals[i] == NULL) {
            p = jq_put32(p, 0xffffffffu);
            continue;
        }
        p = jq_put32(p, (uint32_t)lens[i]);
        memcpy(p, vals[i], lens[i]);
        p += lens[i];
    }
    *out_len = total;
    return a;
}

#define JQ_OID_BYTEA 17
#define JQ_OID_TEXT 25

int jq_job_enqueue_many(struct pgx *c, const struct jq_new_job *jobs, int n,
                        const uint8_t *const *thumbs, const size_t *thumb_lens, int64_t *ids,
                        struct err *e)
{
    if (n <= 0 || n > JQ_GROUP_MAX)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "a group enqueue takes 1 to %d jobs, not %d", JQ_GROUP_MAX, n);
    const struct jq_new_job *j0 = &jobs[0];
    if (j0->tenant_id <= 0)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_tenant", "invalid tenant: %lld",
                       (long long)j0->tenant_id);
    if (jq_str_ok(j0->task, JQ_TASK_MAX, "task", e) != JQ_OK ||
        jq_str_ok(j0->model, JQ_MODEL_MAX, "model", e) != JQ_OK || jq_tier_ok(j0->tier, e) != JQ_OK)
        return JQ_ERR_INVALID;
    if (j0->deadline_ms < 0 || j0->max_attempts < 0 || j0->max_attempts > 100 || j0->batch_id < 0)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "invalid deadline_ms %d, max_attempts %d or batch %lld", j0->deadline_ms,
                       j0->max_attempts, (long long)j0->batch_id);
    const uint8_t **pv = calloc((size_t)n * 4, sizeof(*pv));
    size_t *pl = calloc((size_t)n * 4, sizeof(*pl));
    uint8_t *arr[4] = {NULL, NULL, NULL, NULL};
    size_t alen[4] = {0, 0, 0, 0};
    int rc = JQ_OK;
    if (pv == NULL || pl == NULL) {
        rc = err_set(e, JQ_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of memory (group enqueue)");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const struct jq_new_job *j = &jobs[i];
        if (j->idempotency_key != NULL || j->tenant_id != j0->tenant_id || j->tier != j0->tier ||
            j->batch_id != j0->batch_id) {
            rc = err_set(e, JQ_ERR_INVALID, ERR_INTERNAL, "internal",
                         "group enqueue: job %d differs from the first in tenant, tier or batch, "
                         "or has an idempotency key",
                         i);
            goto out;
        }
        if (j->input_len > JQ_INPUT_MAX || (j->input == NULL && j->input_len > 0)) {
            rc = err_set(e, JQ_ERR_INVALID, ERR_TOO_LARGE, "input_too_large",
                         "invalid input %d: %zu bytes (limit %zu)", i, j->input_len, JQ_INPUT_MAX);
            goto out;
        }
        const char *p = j->params_json;
        while (p != NULL && isspace((unsigned char)*p))
            p++;
        if (p != NULL && *p != '{') {
            rc = err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_params",
                         "invalid params of job %d: expected a JSON object", i);
            goto out;
        }
        pv[i] = (const uint8_t *)j->params_json;
        pl[i] = j->params_json ? strlen(j->params_json) : 0;
        pv[n + i] = j->input ? j->input : (const uint8_t *)"";
        pl[n + i] = j->input_len;
        pv[2 * n + i] = (const uint8_t *)j->input_type;
        pl[2 * n + i] = j->input_type ? strlen(j->input_type) : 0;
        pv[3 * n + i] = thumbs ? thumbs[i] : NULL;
        pl[3 * n + i] = thumbs && thumbs[i] ? thumb_lens[i] : 0;
    }
    static const uint32_t oids[4] = {JQ_OID_TEXT, JQ_OID_BYTEA, JQ_OID_TEXT, JQ_OID_BYTEA};
    for (int k = 0; k < 4; k++) {
        arr[k] = jq_array_bin(oids[k], n, pv + (size_t)k * n, pl + (size_t)k * n, &alen[k]);
        if (arr[k] == NULL || alen[k] > INT32_MAX) {
            rc = err_set(e, JQ_ERR_INVALID, ERR_TOO_LARGE, "input_too_large",
                         "the group's inputs pass %zu bytes", JQ_GROUP_BYTES_MAX);
            goto out;
        }
    }
    rc = jq_depth_check(c, j0->tier, e);
    if (rc != JQ_OK)
        goto out;
    char ten[24], tier[24], batch[24], dl[24], ma[24];
    const char *v[11] = {
        pgx_i64(ten, j0->tenant_id),
        j0->task,
        j0->model,
        pgx_i64(tier, j0->tier),
        (const char *)arr[0],
        (const char *)arr[1],
        (const char *)arr[2],
        j0->batch_id ? pgx_i64(batch, j0->batch_id) : NULL,
        j0->deadline_ms ? pgx_i64(dl, j0->deadline_ms) : NULL,
        pgx_i64(ma, j0->max_attempts ? j0->max_attempts : jq_conn(c)->max_attempts),
        (const char *)arr[3],
    };
    int lens[11] = {0, 0, 0, 0, (int)alen[0], (int)alen[1], (int)alen[2], 0, 0, 0, (int)alen[3]};
    int fmts[11] = {0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1};
    PGresult *r = pgx_exec(c, SQLQ_JQ_ENQUEUE_MANY, 11, v, lens, fmts, 0, e);
    if (r == NULL) {
        rc = jq_enqueue_fail(c, e);
        goto out;
    }
    if (PQntuples(r) != n) {
        pgx_reset(c);
        rc = err_set(e, JQ_ERR_NOT_FOUND, ERR_NOT_FOUND, "not_found", "unknown batch: %lld",
                     (long long)j0->batch_id);
        goto out;
    }
    for (int i = 0; i < n; i++)
        ids[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    jq_conn(c)->depth_added[j0->tier] += n;
    pgx_reset(c);
out:
    for (int k = 0; k < 4; k++)
        free(arr[k]);
    free(pv);
    free(pl);
    return rc;
}

/* "{v0,v1,...}" of n integers in the arena-free buffer b (NULL = SQL NULL) */
static char *jq_int_array(const int64_t *v, const int *isnull, int n)
{
    size_t cap = (size_t)n * 22 + 3;
    char *b = malloc(cap), *p = b;
    if (b == NULL)
        return NULL;
    *p++ = '{';
    for (int i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        if (isnull != NULL && isnull[i])
            p += snprintf(p, cap - (size_t)(p - b), "NULL");
        else
            p += snprintf(p, cap - (size_t)(p - b), "%lld", (long long)v[i]);
    }
    *p++ = '}';
    *p = '\0';
    return b;
}

/*
 * jq_enqueue_rows_plain over rows[idx[0..m)], none with an idempotency key:
 * ia and arr are jq_rows_exec's arrays (tenants, tiers, deadlines, max
 * attempts; tasks, models, params, inputs, types, keys, thumbnails, API
 * key hashes).  The
 * distinct (tenant, tier) and (model, tier) pairs are found here, so the
 * statement needs no DISTINCT or window.  Sets each row's rc and id, or
 * returns the statement's error (no row written).
 */
static int jq_rows_exec_plain(struct pgx *c, struct jq_row *rows, const int *idx, int m,
                              char *const *ia, uint8_t *const *arr, const size_t *alen,
                              struct err *e)
{
    int64_t *g = cm_xcalloc((size_t)m * 2, sizeof(*g)), *r = g + m;
    /* pairs' tenants, tiers, rows so far; wake-up pairs' tiers */
    int64_t *pt = cm_xcalloc((size_t)m * 4, sizeof(*pt)), *pr = pt + m, *pn = pt + 2 * m,
            *wt = pt + 3 * m;
    const char **wm = cm_xcalloc((size_t)m, sizeof(*wm));
    int np = 0, nw = 0;
    for (int k = 0; k < m; k++) {
        const struct jq_new_job *j = rows[idx[k]].job;
        int q = 0;
        while (q < np && !(pt[q] == j->tenant_id && pr[q] == j->tier))
            q++;
        if (q == np) {
            pt[np] = j->tenant_id;
            pr[np++] = j->tier;
        }
        g[k] = q + 1;
        r[k] = pn[q]++;
        q = 0;
        while (q < nw && !(wt[q] == j->tier && strcmp(wm[q], j->model) == 0))
            q++;
        if (q == nw) {
            wm[nw] = j->model;
            wt[nw++] = j->tier;
        }
    }
    char *ga = jq_i64_array(g, m), *ra = jq_i64_array(r, m), *pta = jq_i64_array(pt, np),
         *pra = jq_i64_array(pr, np), *wma = jq_text_array(wm, nw), *wta = jq_i64_array(wt, nw);
    /* $1 tenants $2 tasks $3 models $4 tiers $5 params $6 inputs $7 types
     * $8 deadlines $9 max attempts $10 thumbnails $11 pairs $12 ranks
     * $13/$14 fairness pairs $15/$16 wake-up pairs $17 API keys */
    const char *v[17] = {ia[0],
                         (const char *)arr[0],
                         (const char *)arr[1],
                         ia[1],
                         (const char *)arr[2],
                         (const char *)arr[3],
                         (const char *)arr[4],
                         ia[2],
                         ia[3],
                         (const char *)arr[6],
                         ga,
                         ra,
                         pta,
                         pra,
                         wma,
                         wta,
                         (const char *)arr[7]};
    int lens[17] = {0,
                    (int)alen[0],
                    (int)alen[1],
                    0,
                    (int)alen[2],
                    (int)alen[3],
                    (int)alen[4],
                    0,
                    0,
                    (int)alen[6],
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    (int)alen[7]};
    int fmts[17] = {0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    int rc = JQ_OK;
    PGresult *res = pgx_exec(c, SQLQ_JQ_ENQUEUE_ROWS_PLAIN, 17, v, lens, fmts, 0, e);
    if (res == NULL) {
        rc = jq_enqueue_fail(c, e);
    } else if (PQntuples(res) != m) {
        pgx_reset(c);
        rc = err_set(e, JQ_ERR_DB, ERR_INTERNAL, "internal", "enqueue of %d rows answered %d rows",
                     m, PQntuples(res));
    } else {
        for (int k = 0; k < m; k++) {
            struct jq_row *w = &rows[idx[k]];
            w->existed = 0;
            if (PQgetisnull(res, k, 0)) {
                w->rc = jq_key_refused(&w->e); /* the row's key: nothing written */
                continue;
            }
            w->rc = JQ_OK;
            w->id = strtoll(PQgetvalue(res, k, 0), NULL, 10);
        }
        pgx_reset(c);
    }
    free(ga);
    free(ra);
    free(pta);
    free(pra);
    free(wma);
    free(wta);
    free(g);
    free(pt);
    free(wm);
    return rc;
}

/*
 * One run of jq_enqueue_rows over rows[idx[0..m)], whose depth was
 * counted in depth_added beforehand.  JQ_OK with each row's rc/id/existed
 * set (rc JQ_EMPTY: the idempotency race, to run again), or the
 * statement's error (no row written, nothing set).
 */
static int jq_rows_exec(struct pgx *c, struct jq_row *rows, const int *idx, int m, struct err *e)
{
    const uint8_t **pv = calloc((size_t)m * 8, sizeof(*pv));
    size_t *pl = calloc((size_t)m * 8, sizeof(*pl));
    int64_t *iv = calloc((size_t)m * 4, sizeof(*iv));
    int *inull = calloc((size_t)m, sizeof(*inull));
    unsigned char(*kh)[crypto_hash_sha256_BYTES] = calloc((size_t)m, sizeof(*kh));
    uint8_t *arr[8] = {0};
    size_t alen[8] = {0};
    char *ia[4] = {0};
    int rc = JQ_OK;
    if (pv == NULL || pl == NULL || iv == NULL || inull == NULL || kh == NULL) {
        rc = err_set(e, JQ_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of memory (enqueue)");
        goto out;
    }
    for (int k = 0; k < m; k++) {
        const struct jq_new_job *j = rows[idx[k]].job;
        const char *tx[5] = {j->task, j->model, j->params_json, j->input_type, j->idempotency_key};
        for (int f = 0; f < 5; f++) {
            int slot = f < 3 ? f : f + 1; /* 0 task 1 model 2 params 3 input 4 type 5 key */
            pv[(size_t)slot * m + k] = (const uint8_t *)tx[f];
            pl[(size_t)slot * m + k] = tx[f] ? strlen(tx[f]) : 0;
        }
        pv[(size_t)3 * m + k] = j->input ? j->input : (const uint8_t *)"";
        pl[(size_t)3 * m + k] = j->input_len;
        pv[(size_t)6 * m + k] = jq_thumb_ok(j) ? j->thumb : NULL;
        pl[(size_t)6 * m + k] = jq_thumb_ok(j) ? j->thumb_len : 0;
        if (j->auth_key != NULL) {
            jq_key_hash(j->auth_key, kh[k]);
            pv[(size_t)7 * m + k] = kh[k];
            pl[(size_t)7 * m + k] = sizeof(kh[k]);
        }
        iv[k] = j->tenant_id;
        iv[m + k] = j->tier;
        iv[2 * m + k] = j->deadline_ms;
        inull[k] = j->deadline_ms == 0;
        iv[3 * m + k] = j->max_attempts ? j->max_attempts : jq_conn(c)->max_attempts;
    }
    static const uint32_t oids[8] = {JQ_OID_TEXT, JQ_OID_TEXT, JQ_OID_TEXT,  JQ_OID_BYTEA,
                                     JQ_OID_TEXT, JQ_OID_TEXT, JQ_OID_BYTEA, JQ_OID_BYTEA};
    for (int f = 0; f < 8; f++) {
        arr[f] = jq_array_bin(oids[f], m, pv + (size_t)f * m, pl + (size_t)f * m, &alen[f]);
        if (arr[f] == NULL || alen[f] > INT32_MAX) {
            rc = err_set(e, JQ_ERR_INVALID, ERR_TOO_LARGE, "input_too_large",
                         "the group's inputs pass %zu bytes", JQ_GROUP_BYTES_MAX);
            goto out;
        }
    }
    for (int f = 0; f < 4; f++) {
        ia[f] = jq_int_array(iv + (size_t)f * m, f == 2 ? inull : NULL, m);
        if (ia[f] == NULL) {
            rc = err_set(e, JQ_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of memory (enqueue)");
            goto out;
        }
    }
    int plain = 1;
    for (int k = 0; k < m && plain; k++)
        plain = rows[idx[k]].job->idempotency_key == NULL;
    if (plain) {
        rc = jq_rows_exec_plain(c, rows, idx, m, ia, arr, alen, e);
        goto out;
    }
    /* $1 tenants $2 tasks $3 models $4 tiers $5 params $6 inputs $7 types
     * $8 keys $9 deadlines $10 max attempts $11 thumbnails $12 API keys */
    const char *v[12] = {ia[0],
                         (const char *)arr[0],
                         (const char *)arr[1],
                         ia[1],
                         (const char *)arr[2],
                         (const char *)arr[3],
                         (const char *)arr[4],
                         (const char *)arr[5],
                         ia[2],
                         ia[3],
                         (const char *)arr[6],
                         (const char *)arr[7]};
    int lens[12] = {
        0, (int)alen[0], (int)alen[1], 0, (int)alen[2], (int)alen[3], (int)alen[4], (int)alen[5], 0,
        0, (int)alen[6], (int)alen[7]};
    int fmts[12] = {0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1};
    PGresult *r = pgx_exec(c, SQLQ_JQ_ENQUEUE_ROWS, 12, v, lens, fmts, 0, e);
    if (r == NULL) {
        rc = jq_enqueue_fail(c, e);
        goto out;
    }
    if (PQntuples(r) != m) {
        pgx_reset(c);
        rc = err_set(e, JQ_ERR_DB, ERR_INTERNAL, "internal", "enqueue of %d rows answered %d rows",
                     m, PQntuples(r));
        goto out;
    }
    for (int k = 0; k < m; k++) {
        struct jq_row *w = &rows[idx[k]];
        if (PQgetisnull(r, k, 0)) {
            if (atoi(PQgetvalue(r, k, 1)) == 2)
                w->rc = jq_key_refused(&w->e);
            else
                w->rc = JQ_EMPTY;
            continue;
        }
        w->rc = JQ_OK;
        w->id = strtoll(PQgetvalue(r, k, 0), NULL, 10);
        w->existed = atoi(PQgetvalue(r, k, 1));
    }
    pgx_reset(c);
out:
    for (int f = 0; f < 8; f++)
        free(arr[f]);
    for (int f = 0; f < 4; f++)
        free(ia[f]);
    free(kh);
    free(pv);
    free(pl);
    free(iv);
    free(inull);
    return rc;
}

/* takes back the depth a row counted before it was written */
static void jq_depth_unadd(struct pgx *c, int tier)
{
    if (jq_conn(c)->depth_added[tier] > 0)
        jq_conn(c)->depth_added[tier]--;
}

int jq_job_enqueue_rows(struct pgx *c, struct jq_row *rows, int n)
{
    assert(n >= 1 && n <= JQ_GROUP_MAX);
    if (n == 1) {
        /* the one-row statement is the cheaper one */
        struct jq_row *w = &rows[0];
        err_clear(&w->e);
        w->id = 0;
        w->existed = 0;
        w->rc = w->job->batch_id != 0 ? err_set(&w->e, JQ_ERR_INVALID, ERR_INTERNAL, "internal",
                                                "jq_job_enqueue_rows takes no batch job")
                                      : jq_job_enqueue(c, w->job, &w->id, &w->existed, &w->e);
        return JQ_OK;
    }
    int *idx = calloc((size_t)n, sizeof(*idx));
    int m = 0;
    for (int i = 0; i < n; i++) {
        struct jq_row *w = &rows[i];
        err_clear(&w->e);
        w->id = 0;
        w->existed = 0;
        w->rc = jq_job_check(w->job, &w->e);
        if (w->rc == JQ_OK && w->job->batch_id != 0)
            w->rc = err_set(&w->e, JQ_ERR_INVALID, ERR_INTERNAL, "internal",
                            "jq_job_enqueue_rows takes no batch job");
        if (w->rc == JQ_OK && idx == NULL)
            w->rc =
                err_set(&w->e, JQ_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of memory (enqueue)");
        if (w->rc == JQ_OK)
            w->rc = jq_depth_check(c, w->job->tier, &w->e);
        if (w->rc != JQ_OK)
            continue;
        /* counted now, so that the group's later rows see it */
        jq_conn(c)->depth_added[w->job->tier]++;
        idx[m++] = i;
    }
    /* the idempotency race leaves rows with JQ_EMPTY: their second run sees
     * the other insert (as jq_job_enqueue's second attempt) */
    for (int attempt = 0; attempt < 2 && m > 0; attempt++) {
        struct err e;
        err_clear(&e);
        int rc = jq_rows_exec(c, rows, idx, m, &e);
        if (rc != JQ_OK && m > 1) {
            /* one row's bad field fails the statement: each row alone, so
             * that only that row gets the error */
            for (int k = 0; k < m; k++) {
                jq_depth_unadd(c, rows[idx[k]].job->tier);
                jq_job_enqueue_rows(c, &rows[idx[k]], 1);
            }
            m = 0;
            break;
        }
        int left = 0;
        for (int k = 0; k < m; k++) {
            struct jq_row *w = &rows[idx[k]];
            if (rc != JQ_OK) {
                w->rc = rc;
                w->e = e;
            }
            if (w->rc == JQ_EMPTY)
                idx[left++] = idx[k];
            else if (w->rc != JQ_OK || w->existed)
                jq_depth_unadd(c, w->job->tier);
        }
        m = left;
    }
    for (int k = 0; k < m; k++) {
        struct jq_row *w = &rows[idx[k]];
        jq_depth_unadd(c, w->job->tier);
        w->rc = err_set_transient(&w->e, JQ_ERR_DB, "db_unavailable",
                                  "could not enqueue: idempotency key in use by a concurrent "
                                  "request");
    }
    free(idx);
    return JQ_OK;
}

int jq_batch_create(struct pgx *c, int64_t tenant_id, int tier, int n_expected, const char *label,
                    int64_t *batch_id, struct err *e)
{
    if (jq_tier_ok(tier, e) != JQ_OK)
        return JQ_ERR_INVALID;
    if (n_expected < 0)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field", "invalid batch size: %d",
                       n_expected);
    char t[24], ti[24], n[24];
    const char *v[4] = {pgx_i64(t, tenant_id), pgx_i64(ti, tier), label, pgx_i64(n, n_expected)};
    PGresult *r = jq_q(c, SQLQ_JQ_BATCH_CREATE, 4, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    *batch_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    pgx_reset(c);
    return JQ_OK;
}

int jq_batch_get_json(struct pgx *c, int64_t tenant_id, int64_t batch_id, char **json,
                      struct err *e)
{
    char t[24], b[24];
    const char *v[2] = {pgx_i64(t, tenant_id), pgx_i64(b, batch_id)};
    PGresult *r = jq_q(c, SQLQ_JQ_BATCH_GET, 2, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    return jq_text_out(c, r, json, "batch", e);
}

/* ---- reading jobs ----------------------------------------------------------- */

int jq_job_get_json(struct pgx *c, int64_t tenant_id, int64_t job_id, char **json, struct err *e)
{
    char t[24], j[24];
    const char *v[2] = {pgx_i64(t, tenant_id), pgx_i64(j, job_id)};
    PGresult *r = jq_q(c, SQLQ_JQ_JOB_GET, 2, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    return jq_text_out(c, r, json, "job", e);
}

int jq_job_result_bytes_get(struct pgx *c, int64_t tenant_id, int64_t job_id, uint8_t **bytes,
                            size_t *len, char *type_out, struct err *e)
{
    char t[24], j[24];
    const char *v[2] = {pgx_i64(t, tenant_id), pgx_i64(j, job_id)};
    PGresult *r = pgx_exec(c, SQLQ_JQ_JOB_RESULT_BYTES, 2, v, NULL, NULL, 1, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (PQntuples(r) != 1) {
        pgx_reset(c);
        return err_set(e, JQ_ERR_NOT_FOUND, ERR_NOT_FOUND, "not_found",
                       "no result bytes for job %lld", (long long)job_id);
    }
    size_t n = (size_t)PQgetlength(r, 0, 0);
    *bytes = cm_xmalloc(n ? n : 1);
    memcpy(*bytes, PQgetvalue(r, 0, 0), n);
    *len = n;
    if (type_out != NULL)
        snprintf(type_out, 64, "%s", PQgetvalue(r, 0, 1));
    pgx_reset(c);
    return JQ_OK;
}

int jq_job_list_json(struct pgx *c, int64_t tenant_id, const struct jq_job_filter *f, int limit,
                     int64_t cursor, char **json, struct err *e)
{
    if (limit < 1 || limit > 1000)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_limit",
                       "invalid limit: %d (expected 1..1000)", limit);
    if (f != NULL && f->state >= 0 && (f->state > JQ_STATE_EXPIRED))
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_state", "invalid state: %d",
                       f->state);
    if (f != NULL && f->tier >= 0 && jq_tier_ok(f->tier, e) != JQ_OK)
        return JQ_ERR_INVALID;
    char t[24], ti[24], b[24], l[24], cu[24];
    const char *v[9] = {
        pgx_i64(t, tenant_id),
        f && f->state >= 0 ? jq_state_str(f->state) : NULL,
        f && f->tier >= 0 ? pgx_i64(ti, f->tier) : NULL,
        f ? f->task : NULL,
        f ? f->model : NULL,
        f && f->batch_id > 0 ? pgx_i64(b, f->batch_id) : NULL,
        f ? f->created_after : NULL,
        pgx_i64(l, limit),
        cursor > 0 ? pgx_i64(cu, cursor) : NULL,
    };
    PGresult *r = jq_q(c, SQLQ_JQ_JOB_LIST, 9, v, e);
    if (r == NULL) {
        int rc = jq_fail(c, e);
        if (rc == JQ_ERR_INVALID && e != NULL)
            snprintf(e->code, sizeof(e->code), "invalid_filter");
        return rc;
    }
    return jq_text_out(c, r, json, "jobs", e);
}

/* cancels a job (see jq.h) */
int jq_job_cancel(struct pgx *c, int64_t tenant_id, int64_t job_id, int *state_out, struct err *e)
{
    char t[24], j[24];
    const char *v[2] = {pgx_i64(t, tenant_id), pgx_i64(j, job_id)};
    /* no row can also be a race with a completion moving the job to
     * history after our snapshot: look again once */
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *r = jq_q(c, SQLQ_JQ_JOB_CANCEL, 2, v, e);
        if (r == NULL)
            return jq_fail(c, e);
        if (PQntuples(r) == 0) {
            pgx_reset(c);
            continue;
        }
        int st = jq_state_parse(PQgetvalue(r, 0, 0));
        int changed = atoi(PQgetvalue(r, 0, 1));
        pgx_reset(c);
        if (state_out != NULL)
            *state_out = st;
        if (changed)
            return JQ_OK;
        return err_set(e, JQ_ERR_CONFLICT, ERR_CONFLICT, "conflict", "job %lld is already %s",
                       (long long)job_id, jq_state_str(st));
    }
    return err_set(e, JQ_ERR_NOT_FOUND, ERR_NOT_FOUND, "not_found", "job %lld not found",
                   (long long)job_id);
}

int jq_queue_stats_json(struct pgx *c, char **json, struct err *e)
{
    PGresult *r = jq_q(c, SQLQ_JQ_QUEUE_STATS, 0, NULL, e);
    if (r == NULL)
        return jq_fail(c, e);
    return jq_text_out(c, r, json, "queue", e);
}

int jq_metrics_text(struct pgx *c, char **text, struct err *e)
{
    PGresult *r = jq_q(c, SQLQ_JQ_METRICS, 0, NULL, e);
    if (r == NULL)
        return jq_fail(c, e);
    return jq_text_out(c, r, text, "metrics", e);
}

static int jq_tier_set(struct pgx *c, int id, int tier, struct err *e)
{
    if (jq_tier_ok(tier, e) != JQ_OK)
        return JQ_ERR_INVALID;
    char t[24];
    const char *v[1] = {pgx_i64(t, tier)};
    PGresult *r = jq_q(c, id, 1, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    pgx_reset(c);
    return JQ_OK;
}

int jq_tier_pause(struct pgx *c, int tier, struct err *e)
{
    return jq_tier_set(c, SQLQ_JQ_TIER_PAUSE, tier, e);
}

int jq_tier_resume(struct pgx *c, int tier, struct err *e)
{
    return jq_tier_set(c, SQLQ_JQ_TIER_RESUME, tier, e);
}

/* ---- worker side ------------------------------------------------------------- */

void jq_jobs_free(struct jq_job *jobs, int n)
{
    if (jobs == NULL)
        return;
    for (int i = 0; i < n; i++) {
        free(jobs[i].params_json);
        free(jobs[i].input);
    }
    free(jobs);
}

/* claims a same-model batch (see jq.h and schema/README.md "Claim order") */
int jq_job_claim(struct pgx *c, const char *worker, const char *device, const char *const *models,
                 int n_models, int max_jobs, int lease_s, struct jq_job **jobs, int *n,
                 struct err *e)
{
    *jobs = NULL;
    *n = 0;
    if (jq_str_ok(worker, 200, "worker name", e) != JQ_OK)
        return JQ_ERR_INVALID;
    if (max_jobs < 1 || max_jobs > 256 || lease_s < 1 || lease_s > 86400 || n_models < 0)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "invalid claim: max_jobs %d, lease %d s, %d models", max_jobs, lease_s,
                       n_models);
    char *arr;
    if (n_models > 0) {
        arr = jq_text_array(models, n_models);
    } else {
        /* any model: probe every model that has queued jobs */
        PGresult *m = jq_q(c, SQLQ_JQ_CLAIM_MODELS, 0, NULL, e);
        if (m == NULL)
            return jq_fail(c, e);
        arr = cm_xstrdup(PQgetvalue(m, 0, 0));
        pgx_reset(c);
    }
    char mj[24], ls[24];
    const char *v[5] = {worker, device, arr, pgx_i64(mj, max_jobs), pgx_i64(ls, lease_s)};
    PGresult *r = pgx_exec(c, SQLQ_JQ_CLAIM, 5, v, NULL, NULL, 1, e);
    free(arr);
    if (r == NULL)
        return jq_fail(c, e);
    int rows = PQntuples(r);
    if (rows == 0) {
        pgx_reset(c);
        return JQ_EMPTY;
    }
    struct jq_job *out = cm_xcalloc((size_t)rows, sizeof(*out));
    for (int i = 0; i < rows; i++) {
        struct jq_job *j = &out[i];
        j->id = pgx_bin_i64(r, i, 0);
        j->tenant_id = pgx_bin_i64(r, i, 1);
        j->batch_id = pgx_bin_i64(r, i, 2);
        snprintf(j->task, sizeof(j->task), "%s", PQgetvalue(r, i, 3));
        snprintf(j->model, sizeof(j->model), "%s", PQgetvalue(r, i, 4));
        j->tier = pgx_bin_i32(r, i, 5);
        j->attempts = pgx_bin_i32(r, i, 6);
        j->max_attempts = pgx_bin_i32(r, i, 7);
        j->params_json = cm_xstrdup(PQgetvalue(r, i, 8));
        if (!PQgetisnull(r, i, 9)) {
            j->input_len = (size_t)PQgetlength(r, i, 9);
            j->input = cm_xmalloc(j->input_len ? j->input_len : 1);
            memcpy(j->input, PQgetvalue(r, i, 9), j->input_len);
        }
        snprintf(j->input_type, sizeof(j->input_type), "%s", PQgetvalue(r, i, 10));
        j->enqueued_ms = pgx_bin_i64(r, i, 11);
    }
    pgx_reset(c);
    *jobs = out;
    *n = rows;
    return JQ_OK;
}

int jq_job_heartbeat(struct pgx *c, const char *worker, const int64_t *ids, int n, int lease_s,
                     int *cancel_requested, struct err *e)
{
    if (n <= 0)
        return JQ_OK;
    if (n > 4096 || lease_s < 1 || lease_s > 86400)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "invalid heartbeat: %d jobs, lease %d s", n, lease_s);
    char *arr = jq_i64_array(ids, n);
    char ls[24];
    const char *v[3] = {worker, arr, pgx_i64(ls, lease_s)};
    PGresult *r = jq_q(c, SQLQ_JQ_HEARTBEAT, 3, v, e);
    free(arr);
    if (r == NULL)
        return jq_fail(c, e);
    CM_ASSERT(PQntuples(r) == n);
    for (int i = 0; i < n && cancel_requested != NULL; i++)
        cancel_requested[i] = atoi(PQgetvalue(r, i, 1));
    pgx_reset(c);
    return JQ_OK;
}

int jq_job_complete(struct pgx *c, const char *worker, int64_t id, const char *result_json,
                    const uint8_t *result_bytes, size_t len, const char *result_type,
                    const char *timings_json, struct err *e)
{
    if (result_bytes != NULL && len > JQ_INPUT_MAX)
        return err_set(e, JQ_ERR_INVALID, ERR_INTERNAL, "result_too_large",
                       "invalid result: %zu bytes (limit %zu)", len, JQ_INPUT_MAX);
    char j[24];
    const char *v[6] = {worker,      pgx_i64(j, id), result_json, (const char *)result_bytes,
                        result_type, timings_json};
    int lens[6] = {0, 0, 0, (int)len, 0, 0}, fmts[6] = {0, 0, 0, 1, 0, 0};
    PGresult *r = pgx_exec(c, SQLQ_JQ_COMPLETE, 6, v, lens, fmts, 0, e);
    if (r == NULL)
        return jq_fail(c, e);
    int rows = PQntuples(r);
    pgx_reset(c);
    if (rows != 1)
        return err_set(e, JQ_ERR_CONFLICT, ERR_CONFLICT, "lease_lost",
                       "cannot complete job %lld: not running on worker %s", (long long)id, worker);
    return JQ_OK;
}

int jq_job_complete_many(struct pgx *c, const char *worker, const int64_t *ids,
                         const char *const *result_json, int n, int *n_done, struct err *e)
{
    *n_done = 0;
    if (n <= 0)
        return JQ_OK;
    if (n > 4096)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field", "invalid batch: %d jobs",
                       n);
    const char *nulls[1] = {"null"};
    char *ida = jq_i64_array(ids, n);
    /* results may be NULL: complete with a JSON null */
    const char **res = cm_xcalloc((size_t)n, sizeof(*res));
    for (int i = 0; i < n; i++)
        res[i] = result_json && result_json[i] ? result_json[i] : nulls[0];
    char *ra = jq_text_array(res, n);
    free(res);
    const char *v[3] = {worker, ida, ra};
    PGresult *r = jq_q(c, SQLQ_JQ_COMPLETE_MANY, 3, v, e);
    free(ida);
    free(ra);
    if (r == NULL)
        return jq_fail(c, e);
    *n_done = PQntuples(r);
    pgx_reset(c);
    return JQ_OK;
}

int jq_job_fail_state(struct pgx *c, const char *worker, int64_t id, const char *msg, int transient,
                      int *state_out, struct err *e)
{
    char j[24];
    const char *v[4] = {worker, pgx_i64(j, id), msg ? msg : "unknown error",
                        transient ? "true" : "false"};
    PGresult *r = jq_q(c, SQLQ_JQ_FAIL, 4, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (PQntuples(r) != 1) {
        pgx_reset(c);
        return err_set(e, JQ_ERR_CONFLICT, ERR_CONFLICT, "lease_lost",
                       "cannot fail job %lld: not running on worker %s", (long long)id, worker);
    }
    if (state_out != NULL)
        *state_out = jq_state_parse(PQgetvalue(r, 0, 0));
    pgx_reset(c);
    return JQ_OK;
}

int jq_job_fail(struct pgx *c, const char *worker, int64_t id, const char *msg, int transient,
                struct err *e)
{
    return jq_job_fail_state(c, worker, id, msg, transient, NULL, e);
}

int jq_requeue_expired(struct pgx *c, int *n, struct err *e)
{
    PGresult *r = jq_q(c, SQLQ_JQ_REQUEUE_EXPIRED, 0, NULL, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (n != NULL)
        *n = atoi(PQgetvalue(r, 0, 0));
    pgx_reset(c);
    return JQ_OK;
}

int jq_workers_prune(struct pgx *c, int max_age_s, int *n, struct err *e)
{
    char s[24];
    const char *v[1] = {pgx_i64(s, max_age_s)};
    PGresult *r = jq_q(c, SQLQ_JQ_WORKERS_PRUNE, 1, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (n != NULL)
        *n = atoi(PQgetvalue(r, 0, 0));
    pgx_reset(c);
    return JQ_OK;
}

/* ---- waiting ------------------------------------------------------------------ */

int jq_listen(struct pgx *c, const char *channel, struct err *e)
{
    int id;
    if (channel != NULL && strcmp(channel, JQ_CHAN_JOB_NEW) == 0)
        id = SQLQ_JQ_LISTEN_JOB_NEW;
    else if (channel != NULL && strcmp(channel, JQ_CHAN_JOB_DONE) == 0)
        id = SQLQ_JQ_LISTEN_JOB_DONE;
    else if (channel != NULL && strcmp(channel, JQ_CHAN_JOB_CANCEL) == 0)
        id = SQLQ_JQ_LISTEN_JOB_CANCEL;
    else
        return err_set(e, JQ_ERR_INVALID, ERR_INTERNAL, "internal", "unknown channel: \"%s\"",
                       channel ? channel : "");
    int rc = pgx_listen(c, id, e);
    pgx_reset(c);
    return rc;
}

int jq_wait_notify(struct pgx *c, int timeout_ms, char *payload, size_t plen, struct err *e)
{
    int rc = pgx_notify_wait(c, timeout_ms, NULL, 0, payload, plen, e);
    if (rc < 0)
        return JQ_ERR_DB;
    return rc == 1 ? JQ_OK : JQ_EMPTY;
}

/* 1 with *json (malloc'd) when the job has ended, 0 while it is queued or
 * running, or a negative status; one statement */
static int jq_job_final_json(struct pgx *c, int64_t tenant_id, int64_t job_id, char **json,
                             struct err *e)
{
    char t[24], j[24];
    const char *v[2] = {pgx_i64(t, tenant_id), pgx_i64(j, job_id)};
    PGresult *r = jq_q(c, SQLQ_JQ_JOB_GET_FINAL, 2, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (PQntuples(r) < 1) {
        pgx_reset(c);
        return err_set(e, JQ_ERR_NOT_FOUND, ERR_NOT_FOUND, "not_found", "job %lld not found",
                       (long long)job_id);
    }
    int fin = !PQgetisnull(r, 0, 0);
    if (fin)
        *json = cm_xstrdup(PQgetvalue(r, 0, 0));
    pgx_reset(c);
    return fin;
}

/* see jq.h */
int jq_done_payload_has(const char *payload, int64_t job_id)
{
    char want[24];
    pgx_i64(want, job_id);
    size_t n = strlen(want);
    for (const char *p = payload; p != NULL && *p != '\0';) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, want, n) == 0)
            return 1;
        p = p[k] == ',' ? p + k + 1 : NULL;
    }
    return 0;
}

/* waits for job_id to be final (see jq.h) */
int jq_job_wait_done(struct pgx *c, int64_t tenant_id, int64_t job_id, int timeout_ms, char **json,
                     struct err *e)
{
    return jq_job_wait_done_ex(c, tenant_id, job_id, timeout_ms, 1, json, e);
}

int jq_wait_channel(struct pgx *c, const char **name, struct err *e)
{
    struct jq_conn *s = jq_conn(c);
    *name = s->wait_channel;
    if (s->wait_channel[0] != '\0' && s->wait_reconnects == pgx_reconnects_get(c))
        return JQ_OK;
    PGresult *r = jq_q(c, SQLQ_JQ_WAIT_LISTEN, 0, NULL, e);
    if (r == NULL)
        return jq_fail(c, e);
    /* read after the statement: it may have reconnected first */
    s->wait_reconnects = pgx_reconnects_get(c);
    snprintf(s->wait_channel, sizeof(s->wait_channel), "%s",
             PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    pgx_reset(c);
    return JQ_OK;
}

long long jq_wait_hits(struct pgx *c)
{
    return jq_conn(c)->wait_hits;
}

/* a wait-channel payload "<id>:<json>" of job_id: its JSON (malloc'd), else NULL */
static char *jq_wait_payload_json(const char *payload, int64_t job_id)
{
    char want[24];
    size_t n = strlen(pgx_i64(want, job_id));
    if (strncmp(payload, want, n) != 0 || payload[n] != ':')
        return NULL;
    return cm_xstrdup(payload + n + 1);
}

int jq_job_wait_done_ex(struct pgx *c, int64_t tenant_id, int64_t job_id, int timeout_ms,
                        int look_first, char **json, struct err *e)
{
    *json = NULL;
    int rc = jq_listen(c, JQ_CHAN_JOB_DONE, e);
    if (rc != JQ_OK)
        return rc;
    /* this connection's wait channel, if it drew one: a notification on it
     * comes from job_archive for a job this connection enqueued with it */
    const struct jq_conn *s = jq_conn(c);
    int own = s->wait_channel[0] != '\0' && s->wait_reconnects == pgx_reconnects_get(c);
    double deadline = cm_now_ms() + timeout_ms;
    int check = look_first;
    for (int guard = 0; guard < 10000000; guard++) {
        if (check) {
            int fin = jq_job_final_json(c, tenant_id, job_id, json, e);
            if (fin < 0)
                return fin;
            if (fin)
                return JQ_OK;
            check = 0;
        }
        double left = deadline - cm_now_ms();
        if (left <= 0)
            break;
        /* poll fallback: look at the job at least once a second */
        int slice = left > 1000 ? 1000 : (int)left + 1;
        char payload[8192], chan[64];
        int w = pgx_notify_wait(c, slice, chan, sizeof(chan), payload, sizeof(payload), e);
        if (w < 0) {
            check = 1; /* notifications may be lost: look at the job */
            continue;
        }
        if (w == 1 && own && strcmp(chan, s->wait_channel) == 0) {
            /* the finished job itself (a stale one of an earlier call has
             * another id); the id is the job this call enqueued for its
             * tenant, so no look at the tenant is needed */
            *json = jq_wait_payload_json(payload, job_id);
            if (*json != NULL) {
                jq_conn(c)->wait_hits++;
                return JQ_OK;
            }
            continue;
        }
        if (w == 0 || jq_done_payload_has(payload, job_id))
            check = 1;
    }
    rc = jq_job_get_json(c, tenant_id, job_id, json, e);
    return rc == JQ_OK ? JQ_EMPTY : rc;
}

/* ---- worker registry ------------------------------------------------------------ */

int jq_worker_upsert(struct pgx *c, const char *name, const char *device_json, struct err *e)
{
    if (jq_str_ok(name, 200, "worker name", e) != JQ_OK)
        return JQ_ERR_INVALID;
    const char *v[2] = {name, device_json};
    PGresult *r = jq_q(c, SQLQ_JQ_WORKER_UPSERT, 2, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    pgx_reset(c);
    return JQ_OK;
}

int jq_workers_json(struct pgx *c, int stale_s, char **json, struct err *e)
{
    char s[24];
    const char *v[1] = {pgx_i64(s, stale_s > 0 ? stale_s : 30)};
    PGresult *r = jq_q(c, SQLQ_JQ_WORKERS, 1, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    return jq_text_out(c, r, json, "workers", e);
}

int jq_station_stats_json(struct pgx *c, int stale_s, char **json, struct err *e)
{
    char s[24];
    const char *v[1] = {pgx_i64(s, stale_s > 0 ? stale_s : 30)};
    PGresult *r = jq_q(c, SQLQ_JQ_STATION_STATS, 1, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    return jq_text_out(c, r, json, "station stats", e);
}

int jq_retention_run(struct pgx *c, int days, int64_t *n, struct err *e)
{
    if (days < 0)
        return err_set(e, JQ_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "invalid retention: %d days", days);
    char d[24];
    const char *v[1] = {pgx_i64(d, days)};
    PGresult *r = jq_q(c, SQLQ_JQ_RETENTION, 1, v, e);
    if (r == NULL)
        return jq_fail(c, e);
    if (n != NULL)
        *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    pgx_reset(c);
    return JQ_OK;
}
