/*
 * api_long.c: admission of long requests (event streams, ?wait=, the
 * synchronous calls), so that they cannot take every thread.
 *
 * A long request holds its thread (libfcgi serves one connection per
 * thread) for up to VKV_WAIT_TIMEOUT_MS.  Forty event streams from one key
 * held all 32 threads of two processes and /v1/health timed out.  So each
 * vkv-api process admits at most `threads - reserve` long requests at once
 * (the reserve, VKV_API_SHORT_RESERVE, is kept for short ones) and at most
 * VKV_LONG_PER_TENANT of one tenant; over either cap the answer is 429
 * `too_many_long_requests` + Retry-After at once, before anything is
 * written.  nginx caps concurrent long requests per API key across all
 * processes (limit_conn, VKV_LONG_PER_KEY).  Design: fcgi/README.md,
 * "Long requests".
 *
 * State: one mutex-protected table per process (tenant id -> in-flight
 * count); a request's slot is released by api_long_leave at its end.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include <pthread.h>
#include <string.h>

#define API_LONG_TENANTS 1024 /* tenants with a long request in flight, per process */

static pthread_mutex_t api_long_mu = PTHREAD_MUTEX_INITIALIZER;
static int api_long_total, api_long_cap, api_long_per_tenant;
static struct {
    int64_t tenant;
    int n;
} api_long_tab[API_LONG_TENANTS];

void api_long_init(int threads, int reserve, int per_tenant)
{
    if (reserve >= threads)
        reserve = threads - 1;
    api_long_cap = threads - reserve;
    api_long_per_tenant = per_tenant;
}

int api_long_is(const struct api_route *rt, const struct api_req *r)
{
    static const char *const long_routes[] = {
        "/v1/jobs/{}/events", "/v1/caption", "/v1/query",    "/v1/detect",
        "/v1/point",          "/v1/segment", "/v1/classify", "/v1/faces",
        "/v1/faces/similar",  "/v1/ocr",     NULL,
    };
    for (int i = 0; long_routes[i]; i++)
        if (strcmp(rt->pattern, long_routes[i]) == 0)
            return 1;
    /* POST /v1/jobs?wait=MS and /v1/upscale?wait=MS answer when the job ends */
    return (strcmp(rt->pattern, "/v1/jobs") == 0 || strcmp(rt->pattern, "/v1/upscale") == 0) &&
           strcmp(r->method, "POST") == 0 && r->query != NULL &&
           (strncmp(r->query, "wait=", 5) == 0 || strstr(r->query, "&wait="));
}

/* the slot of tenant t (or a free one when add); -1 when the table is full */
static int api_long_slot(int64_t t, int add)
{
    int free_i = -1;
    for (int i = 0; i < API_LONG_TENANTS; i++) {
        if (api_long_tab[i].n > 0 && api_long_tab[i].tenant == t)
            return i;
        if (api_long_tab[i].n == 0 && free_i < 0)
            free_i = i;
    }
    return add ? free_i : -1;
}

int api_long_enter(struct api_req *r)
{
    pthread_mutex_lock(&api_long_mu);
    const char *why = NULL;
    int slot = -1;
    if (api_long_total >= api_long_cap)
        why = "this server's threads for long requests are all busy";
    else if ((slot = api_long_slot(r->tenant.id, 1)) < 0)
        why = "too many tenants hold long requests";
    else if (api_long_tab[slot].n >= api_long_per_tenant)
        why = "this tenant holds its cap of long requests";
    if (why == NULL) {
        api_long_tab[slot].tenant = r->tenant.id;
        api_long_tab[slot].n++;
        api_long_total++;
        r->long_held = 1;
    }
    int cap = api_long_per_tenant, total_cap = api_long_cap;
    pthread_mutex_unlock(&api_long_mu);
    if (why == NULL)
        return API_OK;
    api_reply_error(r, 429, "too_many_long_requests", 2,
                    "%s (at most %d per tenant and %d in all on one api process; event streams, "
                    "?wait= and synchronous calls count): retry later",
                    why, cap, total_cap);
    return API_ERR;
}

int api_long_active(void)
{
    pthread_mutex_lock(&api_long_mu);
    int n = api_long_total;
    pthread_mutex_unlock(&api_long_mu);
    return n;
}

void api_long_leave(struct api_req *r)
{
    if (!r->long_held)
        return;
    pthread_mutex_lock(&api_long_mu);
    int slot = api_long_slot(r->tenant.id, 0);
    if (slot >= 0)
        api_long_tab[slot].n--;
    api_long_total--;
    pthread_mutex_unlock(&api_long_mu);
    r->long_held = 0;
}
