/*
 * api_limit.c: token buckets kept by each vkv-api process, for the limits
 * nginx cannot key correctly because it does not know who authenticated.
 *
 * - Failed authentications per client address (VKV_AUTH_FAIL_RATE per
 *   second, burst 2x): nginx's limit_req is keyed on the key string the
 *   client sends, so a client sending a fresh random key with every request
 *   had a fresh bucket each time (4,660 failed lookups per second from one
 *   address).  Counted when a key lookup fails; once the address's bucket
 *   is empty its requests get 429 `too_many_failed_auth` without a lookup.
 * - Requests per authenticated tenant (VKV_RATE_LIMIT per second, burst
 *   VKV_RATE_BURST, per process): a tenant with many keys does not get many
 *   buckets.
 *
 * One table of API_LIMIT_SLOTS buckets per process behind a mutex; a key
 * hashes to a slot (FNV-1a) and a collision evicts the older bucket, which
 * at worst forgets a bucket early (more lenient, never stricter).
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include "common/cm.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define API_LIMIT_SLOTS 4096

struct api_bucket {
    char key[72]; /* "a:ADDR" or "t:TENANT" */
    double tokens;
    double at_ms; /* last refill */
};

static pthread_mutex_t api_limit_mu = PTHREAD_MUTEX_INITIALIZER;
static struct api_bucket api_limit_tab[API_LIMIT_SLOTS];
static double api_fail_rate, api_fail_burst, api_tenant_rate, api_tenant_burst;

void api_limit_init(double fail_rate, double tenant_rate, double tenant_burst)
{
    api_fail_rate = fail_rate;
    api_fail_burst = fail_rate * 2;
    api_tenant_rate = tenant_rate;
    api_tenant_burst = tenant_burst > 1 ? tenant_burst : 1;
}

static struct api_bucket *bucket_get(const char *key, double burst, double now)
{
    uint32_t h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    struct api_bucket *b = &api_limit_tab[h % API_LIMIT_SLOTS];
    if (strcmp(b->key, key) != 0) {
        snprintf(b->key, sizeof b->key, "%s", key);
        b->tokens = burst;
        b->at_ms = now;
    }
    return b;
}

static void bucket_refill(struct api_bucket *b, double rate, double burst, double now)
{
    b->tokens += (now - b->at_ms) / 1000.0 * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at_ms = now;
}

/* seconds until one token is back, at least 1 */
static int retry_s(const struct api_bucket *b, double rate)
{
    double s = (1.0 - b->tokens) / rate;
    return s < 1 ? 1 : (int)s + 1;
}

int api_limit_auth_blocked(const char *addr, int *retry_after)
{
    if (api_fail_rate <= 0 || addr == NULL)
        return 0;
    char key[72];
    snprintf(key, sizeof key, "a:%s", addr);
    pthread_mutex_lock(&api_limit_mu);
    double now = cm_now_ms();
    struct api_bucket *b = bucket_get(key, api_fail_burst, now);
    bucket_refill(b, api_fail_rate, api_fail_burst, now);
    int blocked = b->tokens < 1;
    if (blocked)
        *retry_after = retry_s(b, api_fail_rate);
    pthread_mutex_unlock(&api_limit_mu);
    return blocked;
}

void api_limit_auth_failed(const char *addr)
{
    if (api_fail_rate <= 0 || addr == NULL)
        return;
    char key[72];
    snprintf(key, sizeof key, "a:%s", addr);
    pthread_mutex_lock(&api_limit_mu);
    double now = cm_now_ms();
    struct api_bucket *b = bucket_get(key, api_fail_burst, now);
    bucket_refill(b, api_fail_rate, api_fail_burst, now);
    b->tokens -= 1;
    pthread_mutex_unlock(&api_limit_mu);
}

int api_limit_tenant_take(int64_t tenant, int *retry_after)
{
    if (api_tenant_rate <= 0)
        return 1;
    char key[72];
    snprintf(key, sizeof key, "t:%lld", (long long)tenant);
    pthread_mutex_lock(&api_limit_mu);
    double now = cm_now_ms();
    struct api_bucket *b = bucket_get(key, api_tenant_burst, now);
    bucket_refill(b, api_tenant_rate, api_tenant_burst, now);
    int ok = b->tokens >= 1;
    if (ok)
        b->tokens -= 1;
    else
        *retry_after = retry_s(b, api_tenant_rate);
    pthread_mutex_unlock(&api_limit_mu);
    return ok;
}
