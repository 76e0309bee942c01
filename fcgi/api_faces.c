/*
 * api_faces.c: the face search of vkv-api (api_faces_search, see
 * api_impl.h and the README's "Face search").
 *
 * Debian 12's PostgreSQL has no vector index, and an exact scan in SQL of
 * 100,000 real[1024] rows reads 400 MB per query.  So each API process
 * keeps, per tenant it has searched, the tenant's descriptors as an int8
 * matrix (common/fsim.h: 1 KB per face) and brings it up to date from
 * PostgreSQL before each search: one indexed count, then only the rows
 * added since the last id it holds.  Ids come from a sequence but commit in
 * any order, so a count higher than the rows held means a row committed
 * behind the last id: the missing ids are found from the id list (8 bytes
 * per face) and fetched.  A count lower means deletions: the matrix is
 * rebuilt.  The int8 scan picks 4k + 64 candidates; their float rows are
 * read back and scored exactly, so the answer's scores are exact cosines.
 *
 * Memory: VKV_FACES_CACHE_MB per process (all tenants); past it the least
 * recently searched tenants not in use are dropped (and reloaded when
 * searched again).
 *
 * Where the operator's PostgreSQL has pgvector, migration 0008 sets up an
 * HNSW index on the descriptors, and the search asks the database instead
 * (faces_vector_search: ORDER BY the distance, through the index).  Whether
 * it is there is asked again every VEC_RECHECK_MS, so a
 * `SELECT faces_vector_setup()` after installing pgvector takes effect
 * without a restart.  Untested here: Debian 12 has no pgvector.
 */
#include "fcgi/api_impl.h"

#include "common/cfg.h"
#include "common/ar.h"
#include "common/cm.h"
#include "common/fsim.h"
#include "common/log.h"
#include "common/pgx.h"
#include "sql_queries.h"

#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM 1024
/* rows per fetch while loading a tenant */
#define PAGE 4096
/* how often a process asks again whether pgvector's index is there */
#define VEC_RECHECK_MS 60000.0

struct tcache {
    int64_t tenant;
    pthread_rwlock_t lk;
    struct fsim_mat m;
    int64_t max_id;
    int users; /* searches holding it (under g_mu) */
    double used_ms;
    struct tcache *next;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tcache *g_head;
/* faces_vector_ready()'s last answer (-1: not asked yet) and when (g_mu) */
static int g_vec = -1;
static double g_vec_ms;

size_t api_faces_cache_bytes(void)
{
    size_t b = 0;
    pthread_mutex_lock(&g_mu);
    for (struct tcache *t = g_head; t; t = t->next)
        b += fsim_bytes(&t->m);
    pthread_mutex_unlock(&g_mu);
    return b;
}

int api_faces_parse_vec(const char *p, int len, float *v, int dim)
{
    const unsigned char *b = (const unsigned char *)p;
    uint32_t w[5];
    if (len != 20 + dim * 8)
        return -1;
    for (int i = 0; i < 5; i++) {
        memcpy(&w[i], b + 4 * i, 4);
        w[i] = ntohl(w[i]);
    }
    /* ndim 1, no nulls, float4 (oid 700), dim values */
    if (w[0] != 1 || w[1] != 0 || w[2] != 700 || w[3] != (uint32_t)dim)
        return -1;
    b += 20;
    for (int i = 0; i < dim; i++, b += 8) {
        uint32_t l, x;
        memcpy(&l, b, 4);
        memcpy(&x, b + 4, 4);
        if (ntohl(l) != 4)
            return -1;
        x = ntohl(x);
        memcpy(&v[i], &x, 4);
        if (!isfinite(v[i]))
            return -1;
    }
    return 0;
}

static void normalise(float *v)
{
    double s = 0;
    for (int i = 0; i < DIM; i++)
        s += (double)v[i] * v[i];
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (int i = 0; i < DIM; i++)
        v[i] *= inv;
}

/* appends the rows of a (id, descriptor) binary result; skips bad rows */
static int add_rows(struct tcache *t, PGresult *res, struct err *e)
{
    float v[DIM];
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t id = pgx_bin_i64(res, i, 0);
        if (api_faces_parse_vec(PQgetvalue(res, i, 1), PQgetlength(res, i, 1), v, DIM) < 0) {
            log_warn("face %lld of tenant %lld: descriptor not a real[%d]; skipped", (long long)id,
                     (long long)t->tenant, DIM);
            continue;
        }
        normalise(v);
        if (fsim_add(&t->m, id, v, e) < 0)
            return API_ERR;
        if (id > t->max_id)
            t->max_id = id;
    }
    return API_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* rows of the tenant committed behind max_id: the ids not held, fetched */
static int add_missing(struct api_ctx *ctx, struct tcache *t, struct err *e)
{
    char tb[24], lb[24], ib[24];
    const char *v[3] = {pgx_i64(tb, t->tenant), pgx_i64(ib, 0), pgx_i64(lb, 1 << 30)};
    /* only the ids: the stat said which ones to look for */
    size_t n = t->m.n;
    int64_t *held = malloc((n ? n : 1) * sizeof(*held));
    if (held == NULL)
        return err_set(e, API_ERR, ERR_RESOURCE, "out_of_memory", "no memory for %zu ids", n);
    memcpy(held, t->m.ids, n * sizeof(*held));
    qsort(held, n, sizeof(*held), cmp_i64);
    PGresult *res = pgx_exec(ctx->db, SQLQ_FACES_IDS, 3, v, NULL, NULL, 1, e);
    if (res == NULL) {
        free(held);
        return API_ERR;
    }
    /* the missing ids as a text array, in pages */
    size_t j = 0;
    int rows = PQntuples(res);
    char *arr = malloc((size_t)PAGE * 24 + 4);
    if (arr == NULL) {
        free(held);
        return err_set(e, API_ERR, ERR_RESOURCE, "out_of_memory", "no memory for ids");
    }
    int rc = API_OK;
    for (int i = 0; i < rows && rc == API_OK;) {
        size_t o = 0;
        int k = 0;
        arr[o++] = '{';
        for (; i < rows && k < PAGE; i++) {
            int64_t id = pgx_bin_i64(res, i, 0);
            while (j < n && held[j] < id)
                j++;
            if (j < n && held[j] == id)
                continue;
            o += (size_t)snprintf(arr + o, 24, "%s%lld", k ? "," : "", (long long)id);
            k++;
        }
        arr[o++] = '}';
        arr[o] = '\0';
        if (k == 0)
            continue;
        const char *v2[2] = {tb, arr};
        PGresult *r2 = pgx_exec(ctx->db, SQLQ_FACES_ROWS, 2, v2, NULL, NULL, 1, e);
        rc = r2 == NULL ? API_ERR : add_rows(t, r2, e);
    }
    free(arr);
    free(held);
    pgx_reset(ctx->db);
    return rc;
}

/* brings t (write-locked) up to date with the tenant's rows */
static int refresh(struct api_ctx *ctx, struct tcache *t, struct err *e)
{
    char tb[24], ib[24], lb[24];
    const char *v[3] = {pgx_i64(tb, t->tenant), NULL, pgx_i64(lb, PAGE)};
    PGresult *res = pgx_exec(ctx->db, SQLQ_FACES_STAT, 1, v, NULL, NULL, 1, e);
    if (res == NULL)
        return API_ERR;
    int64_t count = pgx_bin_i64(res, 0, 0), max_id = pgx_bin_i64(res, 0, 1);
    if ((size_t)count < t->m.n) {
        /* faces were deleted: rebuild */
        fsim_free(&t->m);
        t->max_id = 0;
    }
    while (t->max_id < max_id) {
        v[1] = pgx_i64(ib, t->max_id);
        res = pgx_exec(ctx->db, SQLQ_FACES_SINCE, 3, v, NULL, NULL, 1, e);
        if (res == NULL)
            return API_ERR;
        int rows = PQntuples(res);
        if (add_rows(t, res, e) != API_OK)
            return API_ERR;
        /* a page is 4096 x 8 KB: free each one (jq.c resets the same way) */
        pgx_reset(ctx->db);
        if (rows < PAGE)
            break;
    }
    if (t->m.n < (size_t)count)
        return add_missing(ctx, t, e);
    return API_OK;
}

/* drops least recently used idle tenants past the budget (g_mu held) */
static void evict(void)
{
    size_t cap = (size_t)cfg_int("VKV_FACES_CACHE_MB") << 20, b = 0;
    for (struct tcache *t = g_head; t; t = t->next)
        b += fsim_bytes(&t->m);
    while (b > cap) {
        struct tcache **lru = NULL;
        for (struct tcache **pp = &g_head; *pp; pp = &(*pp)->next)
            if ((*pp)->users == 0 && (lru == NULL || (*pp)->used_ms < (*lru)->used_ms))
                lru = pp;
        if (lru == NULL)
            return;
        struct tcache *t = *lru;
        *lru = t->next;
        b -= fsim_bytes(&t->m);
        log_info("face search: tenant %lld's %zu faces dropped from memory (VKV_FACES_CACHE_MB)",
                 (long long)t->tenant, t->m.n);
        fsim_free(&t->m);
        pthread_rwlock_destroy(&t->lk);
        free(t);
    }
}

static struct tcache *acquire(int64_t tenant)
{
    pthread_mutex_lock(&g_mu);
    struct tcache *t = g_head;
    while (t != NULL && t->tenant != tenant)
        t = t->next;
    if (t == NULL) {
        t = cm_xcalloc(1, sizeof(*t));
        t->tenant = tenant;
        pthread_rwlock_init(&t->lk, NULL);
        fsim_init(&t->m, DIM);
        t->next = g_head;
        g_head = t;
    }
    t->users++;
    t->used_ms = cm_now_ms();
    pthread_mutex_unlock(&g_mu);
    return t;
}

static void release(struct tcache *t)
{
    pthread_mutex_lock(&g_mu);
    t->users--;
    evict();
    pthread_mutex_unlock(&g_mu);
}

struct scored {
    int64_t id;
    float s;
};

static int scored_desc(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* whether to search through pgvector's index (asked at most every VEC_RECHECK_MS) */
static int vec_ready(struct api_ctx *ctx)
{
    if (cfg_int("VKV_FACES_PGVECTOR") == 0)
        return 0;
    double now = cm_now_ms();
    pthread_mutex_lock(&g_mu);
    int v = g_vec, known = g_vec >= 0 && now - g_vec_ms < VEC_RECHECK_MS;
    pthread_mutex_unlock(&g_mu);
    if (known)
        return v;
    struct err e;
    err_clear(&e);
    PGresult *res = pgx_exec(ctx->db, SQLQ_FACES_VECTOR_READY, 0, NULL, NULL, NULL, 0, &e);
    /* not known (the database is away): the in-memory search, asked again next time */
    if (res == NULL || PQntuples(res) != 1)
        return 0;
    int now_v = PQgetvalue(res, 0, 0)[0] == 't';
    pthread_mutex_lock(&g_mu);
    if (g_vec != now_v)
        log_info("face search: %s", now_v ? "through pgvector's index (migration 0008)"
                                          : "exact, in memory (no pgvector index)");
    g_vec = now_v;
    g_vec_ms = now;
    pthread_mutex_unlock(&g_mu);
    return now_v;
}

/* the search through pgvector's index (faces_vector_search, migration 0008) */
static int vec_search(struct api_ctx *ctx, int64_t tenant, const float *q, int k, int64_t skip,
                      struct api_face_match *out, int *n, int64_t *searched, struct err *e)
{
    char tb[24], sb[24], kb[24];
    const char *v[4] = {pgx_i64(tb, tenant), NULL, pgx_i64(sb, skip), pgx_i64(kb, k)};
    PGresult *res = pgx_exec(ctx->db, SQLQ_FACES_STAT, 1, v, NULL, NULL, 1, e);
    if (res == NULL)
        return API_ERR;
    *searched = pgx_bin_i64(res, 0, 0);
    /* the query as a real[] literal: %.9g keeps every float exactly */
    char *arr = ar_alloc(ctx->ar, (size_t)DIM * 18 + 4);
    if (arr == NULL)
        return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of memory");
    size_t o = 0;
    arr[o++] = '{';
    for (int i = 0; i < DIM; i++)
        o += (size_t)snprintf(arr + o, 18, "%s%.9g", i ? "," : "", (double)q[i]);
    arr[o++] = '}';
    arr[o] = '\0';
    v[1] = arr;
    res = pgx_exec(ctx->db, SQLQ_FACES_VECTOR_SEARCH, 4, v, NULL, NULL, 1, e);
    if (res == NULL)
        return API_ERR;
    for (int i = 0; i < PQntuples(res) && i < k; i++) {
        out[i].id = pgx_bin_i64(res, i, 0);
        out[i].score = pgx_bin_f32(res, i, 1);
        *n = i + 1;
    }
    return API_OK;
}

int api_faces_search(struct api_ctx *ctx, int64_t tenant, const float *q0, int k, int64_t skip,
                     struct api_face_match *out, int *n, int64_t *searched, const char **how,
                     struct err *e)
{
    float q[DIM];
    memcpy(q, q0, sizeof(q));
    normalise(q);
    *n = 0;
    *how = "exact";
    if (vec_ready(ctx)) {
        *how = "pgvector";
        return vec_search(ctx, tenant, q, k, skip, out, n, searched, e);
    }
    struct tcache *t = acquire(tenant);
    pthread_rwlock_wrlock(&t->lk);
    int rc = refresh(ctx, t, e);
    pthread_rwlock_unlock(&t->lk);
    if (rc != API_OK) {
        release(t);
        return rc;
    }
    int kc = 4 * k + 64;
    int64_t ids[4 * 100 + 64];
    float sc[4 * 100 + 64];
    pthread_rwlock_rdlock(&t->lk);
    int nc = fsim_topk(&t->m, q, kc, skip, ids, sc);
    *searched = (int64_t)t->m.n;
    pthread_rwlock_unlock(&t->lk);
    release(t);
    if (nc == 0)
        return API_OK;
    /* exact scores of the candidates from their float rows */
    char *arr = ar_alloc(ctx->ar, (size_t)nc * 24 + 4);
    if (arr == NULL)
        return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of memory");
    size_t o = 0;
    arr[o++] = '{';
    for (int i = 0; i < nc; i++)
        o += (size_t)snprintf(arr + o, 24, "%s%lld", i ? "," : "", (long long)ids[i]);
    arr[o++] = '}';
    arr[o] = '\0';
    char tb[24];
    const char *v[2] = {pgx_i64(tb, tenant), arr};
    PGresult *res = pgx_exec(ctx->db, SQLQ_FACES_ROWS, 2, v, NULL, NULL, 1, e);
    if (res == NULL)
        return API_ERR;
    struct scored s[4 * 100 + 64];
    int m = 0;
    float d[DIM];
    for (int i = 0; i < PQntuples(res) && m < nc; i++) {
        if (api_faces_parse_vec(PQgetvalue(res, i, 1), PQgetlength(res, i, 1), d, DIM) < 0)
            continue;
        normalise(d);
        s[m].id = pgx_bin_i64(res, i, 0);
        s[m++].s = fsim_dot(q, d, DIM);
    }
    qsort(s, (size_t)m, sizeof(s[0]), scored_desc);
    for (int i = 0; i < m && i < k; i++) {
        out[i].id = s[i].id;
        out[i].score = s[i].s;
        *n = i + 1;
    }
    return API_OK;
}
