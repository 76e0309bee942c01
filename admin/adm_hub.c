/*
 * adm_hub.c: downloads for `vkv-admin model fetch` (see adm_hub.h).
 */
#include "admin/adm_hub.h"

#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double adm_hub_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void adm_hub_hex(const unsigned char d[crypto_hash_sha256_BYTES], char hex[65])
{
    sodium_bin2hex(hex, 65, d, crypto_hash_sha256_BYTES);
}

/* progress on stderr, at most every 2 s, so a 4 GB download shows it is alive */
struct adm_hub_progress {
    const char *label;
    uint64_t total; /* 0: unknown */
    double t0, last;
};

static void adm_hub_progress(struct adm_hub_progress *p, uint64_t done, int final)
{
    if (p->label == NULL)
        return;
    double t = adm_hub_now();
    if (!final && t - p->last < 2.0)
        return;
    p->last = t;
    double mb = (double)done / 1048576.0, rate = mb / (t - p->t0 > 1e-3 ? t - p->t0 : 1e-3);
    if (p->total > 0)
        fprintf(stderr, "  %s: %.1f of %.1f MiB (%.0f %%), %.1f MiB/s%s\n", p->label, mb,
                (double)p->total / 1048576.0, 100.0 * (double)done / (double)p->total, rate,
                final ? ", done" : "");
    else
        fprintf(stderr, "  %s: %.1f MiB, %.1f MiB/s%s\n", p->label, mb, rate,
                final ? ", done" : "");
}

static int adm_hub_init(void)
{
    static int ok;
    if (!ok) {
        if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return -1;
        ok = 1;
    }
    return 0;
}

int adm_hub_sha256_file(const char *path, const char *label, char hex[65], uint64_t *size,
                        struct err *e)
{
    if (adm_hub_init() < 0)
        return err_set(e, ADM_HUB_ERR, ERR_INTERNAL, "init_failed", "libsodium/libcurl init");
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return err_set(e, ADM_HUB_ERR, ERR_NOT_FOUND, "file_missing", "%s: %s", path,
                       strerror(errno));
    struct stat st;
    struct adm_hub_progress p = {label, 0, adm_hub_now(), adm_hub_now()};
    if (fstat(fileno(f), &st) == 0)
        p.total = (uint64_t)st.st_size;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    static unsigned char buf[1 << 20];
    uint64_t n = 0;
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        crypto_hash_sha256_update(&h, buf, k);
        n += k;
        adm_hub_progress(&p, n, 0);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return err_set(e, ADM_HUB_ERR, ERR_INTERNAL, "read_failed", "%s: read error", path);
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&h, d);
    adm_hub_hex(d, hex);
    adm_hub_progress(&p, n, 1);
    *size = n;
    return ADM_HUB_OK;
}

/* one transfer's sink: memory or file, bounded, hashed when a file */
struct adm_hub_sink {
    char *mem;
    size_t len, cap, max;
    FILE *f;
    crypto_hash_sha256_state h;
    uint64_t done, max_file;
    int over;
    struct adm_hub_progress p;
};

static size_t adm_hub_write(char *data, size_t one, size_t n, void *ud)
{
    struct adm_hub_sink *s = ud;
    size_t k = one * n;
    if (s->f != NULL) {
        if (s->done + k > s->max_file) {
            s->over = 1;
            return 0;
        }
        if (fwrite(data, 1, k, s->f) != k)
            return 0;
        crypto_hash_sha256_update(&s->h, (const unsigned char *)data, k);
        s->done += k;
        adm_hub_progress(&s->p, s->done, 0);
        return k;
    }
    if (s->len + k > s->max) {
        s->over = 1;
        return 0;
    }
    if (s->len + k + 1 > s->cap) {
        size_t c = s->cap ? s->cap * 2 : 65536;
        while (c < s->len + k + 1)
            c *= 2;
        char *m = realloc(s->mem, c);
        if (m == NULL)
            return 0;
        s->mem = m;
        s->cap = c;
    }
    memcpy(s->mem + s->len, data, k);
    s->len += k;
    s->mem[s->len] = 0;
    return k;
}

static int adm_hub_perform(const char *url, const char *token, struct adm_hub_sink *s,
                           uint64_t from, long *status, struct err *e)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return err_set(e, ADM_HUB_ERR, ERR_INTERNAL, "init_failed", "curl_easy_init");
    struct curl_slist *hd = NULL;
    char auth[1024];
    if (token != NULL && token[0] != 0) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hd = curl_slist_append(hd, auth);
    }
    char range[64];
    if (from > 0) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)from);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    char ebuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vkv-admin");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, adm_hub_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    /* an error page is not the file: stop at the first status >= 400 */
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    if (hd != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    if (s->over)
        return err_set(e, ADM_HUB_ERR, ERR_TOO_LARGE, "hub_too_large",
                       "%s: more bytes than the hub announced (limit %llu)", url,
                       (unsigned long long)(s->f ? s->max_file : s->max));
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
        if (*status == 404)
            return err_set(e, ADM_HUB_ERR, ERR_NOT_FOUND, "hub_not_found", "%s: 404 not found",
                           url);
        if (*status == 401 || *status == 403)
            return err_set(e, ADM_HUB_ERR, ERR_FORBIDDEN, "hub_forbidden",
                           "%s: %ld (a gated or private model needs HF_TOKEN)", url, *status);
        if (*status == 416)
            return ADM_HUB_OK; /* a resumed file already whole: the caller checks it */
        return err_set(e, ADM_HUB_ERR, ERR_UNAVAILABLE, "hub_http_error", "%s: HTTP %ld", url,
                       *status);
    }
    if (rc != CURLE_OK)
        return err_set(e, ADM_HUB_ERR, ERR_UNAVAILABLE, "hub_unreachable", "%s: %s", url,
                       ebuf[0] ? ebuf : curl_easy_strerror(rc));
    return ADM_HUB_OK;
}

int adm_hub_get_mem(const char *url, const char *token, size_t max, char **body, size_t *len,
                    struct err *e)
{
    if (adm_hub_init() < 0)
        return err_set(e, ADM_HUB_ERR, ERR_INTERNAL, "init_failed", "libsodium/libcurl init");
    struct adm_hub_sink s = {0};
    s.max = max;
    long status;
    if (adm_hub_perform(url, token, &s, 0, &status, e) != ADM_HUB_OK) {
        free(s.mem);
        return ADM_HUB_ERR;
    }
    if (s.mem == NULL && (s.mem = calloc(1, 1)) == NULL)
        return err_set(e, ADM_HUB_ERR, ERR_RESOURCE, "out_of_memory", "no memory");
    *body = s.mem;
    *len = s.len;
    return ADM_HUB_OK;
}

int adm_hub_get_file(const char *url, const char *token, const char *path, int resume, uint64_t max,
                     const char *label, char hex[65], uint64_t *size, struct err *e)
{
    if (adm_hub_init() < 0)
        return err_set(e, ADM_HUB_ERR, ERR_INTERNAL, "init_failed", "libsodium/libcurl init");
    struct adm_hub_sink s = {0};
    s.max_file = max;
    s.p = (struct adm_hub_progress){label, max, adm_hub_now(), adm_hub_now()};
    crypto_hash_sha256_init(&s.h);
    struct stat st;
    uint64_t have = 0;
    if (resume && stat(path, &st) == 0 && st.st_size > 0 && (uint64_t)st.st_size <= max) {
        /* what is already there is part of the digest: hash it first */
        FILE *f = fopen(path, "rb");
        static unsigned char buf[1 << 20];
        size_t k;
        while (f != NULL && (k = fread(buf, 1, sizeof buf, f)) > 0) {
            crypto_hash_sha256_update(&s.h, buf, k);
            have += k;
        }
        if (f != NULL)
            fclose(f);
        if (label != NULL)
            fprintf(stderr, "  %s: resuming after %.1f MiB\n", label, (double)have / 1048576.0);
    }
    s.f = fopen(path, have > 0 ? "ab" : "wb");
    if (s.f == NULL)
        return err_set(e, ADM_HUB_ERR, ERR_INTERNAL, "write_failed", "%s: %s", path,
                       strerror(errno));
    s.done = have;
    long status = 0;
    int rc = adm_hub_perform(url, token, &s, have, &status, e);
    if (rc == ADM_HUB_OK && have > 0 && status == 200) {
        /* the server ignored the range and sent the whole file after what we had */
        fclose(s.f);
        if (label != NULL)
            fprintf(stderr, "  %s: the hub does not resume; starting again\n", label);
        return adm_hub_get_file(url, token, path, 0, max, label, hex, size, e);
    }
    if (fflush(s.f) != 0 || fsync(fileno(s.f)) != 0)
        rc = rc == ADM_HUB_OK ? err_set(e, ADM_HUB_ERR, ERR_RESOURCE, "write_failed", "%s: %s",
                                        path, strerror(errno))
                              : rc;
    fclose(s.f);
    if (rc != ADM_HUB_OK)
        return rc;
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&s.h, d);
    adm_hub_hex(d, hex);
    adm_hub_progress(&s.p, s.done, 1);
    *size = s.done;
    return ADM_HUB_OK;
}
