/*
 * api_limit.c: the limits nginx cannot key correctly because it does not
 * know who authenticated.
 *
 * - Failed authentications per client address (VKV_AUTH_FAIL_RATE per
 *   second, burst 2x): nginx's limit_req is keyed on the key string the
 *   client sends, so a client sending a fresh random key with every request
 *   had a fresh bucket each time (4,660 failed lookups per second from one
 *   address).  Counted when a key lookup fails.  Once an address's bucket
 *   is empty, a key is looked up only when its SHA-256 is in this process's
 *   copy of the usable keys' hashes (reloaded from PostgreSQL at most once
 *   per second, on a miss); any other key gets 429 `too_many_failed_auth`
 *   without a lookup.  So bogus keys cost at most one reload per second per
 *   process, and a valid key sent from the same address (a NAT, or the
 *   client's own key next to its typos) keeps working; the lookup itself
 *   still decides, so revocation stays immediate.
 * - Requests per authenticated tenant (VKV_RATE_LIMIT per second, burst
 *   VKV_RATE_BURST), whatever key it used.
 *
 * Both kinds of bucket live in one table shared by every vkv-api process
 * on the host: a file mapped MAP_SHARED (VKV_API_LIMITS_FILE, by default
 * vkv-api.limits beside the socket), guarded by a process-shared robust
 * mutex, so N processes behind one nginx enforce one limit, not N.  Each
 * process holds a shared flock on the file while it runs; the first to
 * attach (an exclusive flock succeeds) initialises it, so a mutex left
 * locked by a crash or a reboot never survives into a new run, and a
 * process that dies holding the mutex is recovered (EOWNERDEAD).  A key
 * hashes to a slot (FNV-1a) and a collision evicts the older bucket, which
 * at worst forgets a bucket early (more lenient, never stricter).
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include "common/cm.h"
#include "common/jq.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define API_LIMIT_SLOTS 4096
/* usable keys whose hashes are kept for the failed-auth test (32 B each) */
#define API_KEYSET_MAX 100000
#define API_KEYSET_RELOAD_MS 1000.0
#define HLEN crypto_hash_sha256_BYTES
/* layout version of the shared file: a different one is never reused */
#define API_LIMIT_MAGIC 0x766b766c696d3031ull /* "vkvlim01" */

struct api_bucket {
    char key[72]; /* "a:ADDR" or "t:TENANT" */
    double tokens;
    double at_ms; /* last refill, CLOCK_REALTIME (shared by processes) */
};

struct api_limit_tab {
    _Atomic uint64_t magic; /* stored last by the initialiser */
    uint64_t size;          /* sizeof(struct api_limit_tab) */
    pthread_mutex_t mu;     /* process-shared, robust */
    struct api_bucket b[API_LIMIT_SLOTS];
};

static struct api_limit_tab api_local; /* when no file could be shared */
static struct api_limit_tab *api_tab = &api_local;
static int api_limit_fd = -1;
static double api_fail_rate, api_fail_burst, api_tenant_rate, api_tenant_burst;

/* the usable keys' sorted hashes (owned), per process */
static pthread_mutex_t api_keyset_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *api_keyset;
static int api_keyset_n, api_keyset_loading;
static double api_keyset_at_ms = -1e18;

/* wall-clock ms: the buckets' times are compared across processes */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int tab_init(struct api_limit_tab *t)
{
    memset(t->b, 0, sizeof t->b);
    t->size = sizeof *t;
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0)
        return -1;
    int rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) |
             pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) | pthread_mutex_init(&t->mu, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0)
        return -1;
    atomic_store(&t->magic, API_LIMIT_MAGIC);
    return 0;
}

/* maps path as the shared table; -1 (e set) leaves the per-process one */
static int tab_attach(const char *path, struct err *e)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(e, -1, ERR_INTERNAL, "limits_file", "cannot open \"%s\": %s", path,
                       strerror(errno));
    /* alone (nobody holds it shared): (re)initialise; else wait until
     * whoever initialises is done and share it */
    int alone = flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (!alone && flock(fd, LOCK_SH) != 0) {
        close(fd);
        return err_set(e, -1, ERR_INTERNAL, "limits_file", "cannot lock \"%s\": %s", path,
                       strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (alone && ftruncate(fd, (off_t)sizeof(struct api_limit_tab)) != 0) ||
        (!alone && st.st_size != (off_t)sizeof(struct api_limit_tab))) {
        close(fd);
        return err_set(e, -1, ERR_INTERNAL, "limits_file",
                       "\"%s\" cannot be sized, or is in use with another layout (%lld bytes, "
                       "want %zu)",
                       path, (long long)st.st_size, sizeof(struct api_limit_tab));
    }
    void *m = mmap(NULL, sizeof(struct api_limit_tab), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return err_set(e, -1, ERR_INTERNAL, "limits_file", "cannot map \"%s\": %s", path,
                       strerror(errno));
    }
    struct api_limit_tab *t = m;
    if (alone) {
        if (tab_init(t) != 0 || flock(fd, LOCK_SH) != 0) {
            munmap(m, sizeof *t);
            close(fd);
            return err_set(e, -1, ERR_INTERNAL, "limits_file", "cannot initialise \"%s\"", path);
        }
    } else if (atomic_load(&t->magic) != API_LIMIT_MAGIC || t->size != sizeof *t) {
        munmap(m, sizeof *t);
        close(fd);
        return err_set(e, -1, ERR_INTERNAL, "limits_file",
                       "\"%s\" is in use by a vkv-api of another version", path);
    }
    api_tab = t;
    api_limit_fd = fd; /* kept open: the shared flock lasts as long as we do */
    return 0;
}

int api_limit_init(const char *path, double fail_rate, double tenant_rate, double tenant_burst,
                   struct err *e)
{
    api_fail_rate = fail_rate;
    api_fail_burst = fail_rate * 2;
    api_tenant_rate = tenant_rate;
    api_tenant_burst = tenant_burst > 1 ? tenant_burst : 1;
    if (tab_init(&api_local) != 0)
        return err_set(e, -1, ERR_INTERNAL, "internal", "cannot initialise a mutex");
    return path != NULL && path[0] != '\0' ? tab_attach(path, e) : 0;
}

static void tab_lock(void)
{
    int rc = pthread_mutex_lock(&api_tab->mu);
    /* the owner died mid-update: one bucket may be off by a request */
    if (rc == EOWNERDEAD)
        pthread_mutex_consistent(&api_tab->mu);
}

static void tab_unlock(void)
{
    pthread_mutex_unlock(&api_tab->mu);
}

static struct api_bucket *bucket_get(const char *key, double burst, double now)
{
    uint32_t h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    struct api_bucket *b = &api_tab->b[h % API_LIMIT_SLOTS];
    if (strcmp(b->key, key) != 0) {
        snprintf(b->key, sizeof b->key, "%s", key);
        b->tokens = burst;
        b->at_ms = now;
    }
    return b;
}

static void bucket_refill(struct api_bucket *b, double rate, double burst, double now)
{
    if (now > b->at_ms)
        b->tokens += (now - b->at_ms) / 1000.0 * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at_ms = now;
}

/* a Retry-After: seconds until one token is back, rounded up, at least 1 */
static int retry_s(double tokens, double rate)
{
    double s = (1.0 - tokens) / rate;
    return s < 1 ? 1 : (int)s + 1;
}

static int hash_cmp(const void *a, const void *b)
{
    return memcmp(a, b, HLEN);
}

static int keyset_has(const unsigned char *h)
{
    pthread_mutex_lock(&api_keyset_mu);
    int r = api_keyset_n > 0 && bsearch(h, api_keyset, (size_t)api_keyset_n, HLEN, hash_cmp);
    pthread_mutex_unlock(&api_keyset_mu);
    return r;
}

/* reloads the key set unless another thread is at it or it is fresh */
static void keyset_reload(struct pgx *db)
{
    pthread_mutex_lock(&api_keyset_mu);
    int go = !api_keyset_loading && cm_now_ms() - api_keyset_at_ms >= API_KEYSET_RELOAD_MS;
    if (go)
        api_keyset_loading = 1;
    pthread_mutex_unlock(&api_keyset_mu);
    if (!go)
        return;
    struct err e;
    err_clear(&e);
    unsigned char *h = NULL;
    int n = 0;
    int rc = jq_key_hashes(db, API_KEYSET_MAX, &h, &n, &e);
    if (rc != JQ_OK)
        log_warn("could not reload the usable keys' hashes: %s", e.msg);
    else if (n > 1)
        qsort(h, (size_t)n, HLEN, hash_cmp);
    pthread_mutex_lock(&api_keyset_mu);
    if (rc == JQ_OK) {
        free(api_keyset);
        api_keyset = h;
        api_keyset_n = n;
    }
    api_keyset_at_ms = cm_now_ms();
    api_keyset_loading = 0;
    pthread_mutex_unlock(&api_keyset_mu);
}

int api_limit_auth_blocked(struct pgx *db, const char *addr, const char *key, int *retry_after)
{
    if (api_fail_rate <= 0 || addr == NULL)
        return 0;
    char bk[72];
    snprintf(bk, sizeof bk, "a:%s", addr);
    tab_lock();
    double now = now_ms();
    struct api_bucket *b = bucket_get(bk, api_fail_burst, now);
    bucket_refill(b, api_fail_rate, api_fail_burst, now);
    double tokens = b->tokens;
    tab_unlock();
    if (tokens >= 1)
        return 0;
    unsigned char h[HLEN];
    crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
    if (keyset_has(h))
        return 0;
    keyset_reload(db);
    if (keyset_has(h))
        return 0;
    *retry_after = retry_s(tokens, api_fail_rate);
    return 1;
}

void api_limit_auth_failed(const char *addr)
{
    if (api_fail_rate <= 0 || addr == NULL)
        return;
    char key[72];
    snprintf(key, sizeof key, "a:%s", addr);
    tab_lock();
    double now = now_ms();
    struct api_bucket *b = bucket_get(key, api_fail_burst, now);
    bucket_refill(b, api_fail_rate, api_fail_burst, now);
    b->tokens -= 1;
    tab_unlock();
}

int api_limit_tenant_take(int64_t tenant, int *retry_after)
{
    if (api_tenant_rate <= 0)
        return 1;
    char key[72];
    snprintf(key, sizeof key, "t:%lld", (long long)tenant);
    tab_lock();
    double now = now_ms();
    struct api_bucket *b = bucket_get(key, api_tenant_burst, now);
    bucket_refill(b, api_tenant_rate, api_tenant_burst, now);
    int ok = b->tokens >= 1;
    if (ok)
        b->tokens -= 1;
    else
        *retry_after = retry_s(b->tokens, api_tenant_rate);
    tab_unlock();
    return ok;
}
