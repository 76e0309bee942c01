/*
 * api_main.c: vkv-api's process: configuration, the FastCGI socket, the
 * accept threads and the per-request cycle.
 *
 * VKV_API_THREADS threads each loop FCGX_Accept_r -> api_serve ->
 * FCGX_Finish_r -> ar_reset.  Each owns its request arena and its own
 * PostgreSQL connection (pgx, with its prepared statements), so requests
 * never share mutable state.  Accept is not serialised: with
 * fastcgi_keep_conn a thread keeps serving one nginx connection, and a
 * process-wide accept mutex would let one idle kept connection block every
 * other thread (fcgi/README.md, "Threads and nginx keepalive").
 *
 * Signals: SIGTERM/SIGINT are blocked in every thread and taken by the main
 * thread with sigwait; it sets the stop flag, shuts the listening socket
 * (which wakes threads blocked in accept) and joins the threads.  SIGPIPE
 * gets a no-op handler installed before FCGX_Init so libfcgi keeps it and a
 * vanished client is an EPIPE write error, not a dead process.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include "common/ar.h"
#include "common/cfg.h"
#include "common/cm.h"
#include "common/log.h"

#include <errno.h>
#include <fcgiapp.h>
#include <grp.h>
#include <pthread.h>
#include <sodium.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int api_stop_flag;
static int api_listen_fd = -1;

int api_stopping(void)
{
    return atomic_load(&api_stop_flag);
}

static int fcgx_write(void *u, const char *p, size_t n)
{
    FCGX_Stream *s = u;
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        if (FCGX_PutStr(p, chunk, s) != chunk)
            return -1;
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

static int fcgx_flush(void *u)
{
    return FCGX_FFlush((FCGX_Stream *)u) == 0 ? 0 : -1;
}

/* reads exactly n body bytes into buf; returns bytes read */
static size_t read_body(FCGX_Stream *in, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got;
        int chunk = want > (1u << 30) ? (1 << 30) : (int)want;
        int rc = FCGX_GetStr(buf + got, chunk, in);
        if (rc <= 0)
            break;
        got += (size_t)rc;
    }
    return got;
}

/*
 * Serves one accepted request: parse, read the body, route, authenticate,
 * run the handler, log one access line.  Always answers (a handler that
 * returns without replying is a bug answered with 500).  Sets
 * *keep_conn to 0 when the body was not consumed.
 */
static void api_serve(struct api_ctx *ctx, FCGX_Request *fr, int *keep_conn)
{
    struct api_req r;
    memset(&r, 0, sizeof(r));
    r.out.write = fcgx_write;
    r.out.flush = fcgx_flush;
    r.out.u = fr->out;
    r.t0_ms = cm_now_ms();
    ctx->decode_cpu_used_ms = 0;
    ctx->decode_wall_ms = 0;
    struct err e;
    err_clear(&e);

    if (api_req_parse(&r, ctx->ar, fr->envp, ctx->lim, &e) != API_OK) {
        *keep_conn = 0; /* the body was never read */
        if (r.request_id == NULL)
            r.request_id = "-";
        api_reply_err(&r, &e);
        log_info("method=%s uri=\"%s\" status=%d", r.method ? r.method : "-", r.uri ? r.uri : "-",
                 r.status);
        return;
    }
    log_ctx_set("req", r.request_id);

    if (r.content_length > 0) {
        size_t n = (size_t)r.content_length;
        r.body = ar_alloc(ctx->ar, n + 1);
        if (r.body == NULL) {
            *keep_conn = 0;
            api_reply_error(&r, 413, "body_too_large", 0,
                            "request body of %zu bytes does not fit the request memory", n);
            goto done;
        }
        size_t got = read_body(fr->in, r.body, n);
        if (got != n) {
            *keep_conn = 0;
            api_reply_error(&r, 400, "body_incomplete", 0,
                            "request body ended after %zu of %zu bytes", got, n);
            goto done;
        }
        r.body[n] = '\0';
        r.body_len = n;
    } else {
        r.body = ar_strdup(ctx->ar, "");
    }

    r.t_body_ms = cm_now_ms();
    int path_matched = 0;
    const struct api_route *rt = api_route_match(api_routes_get(), &r, &path_matched);
    if (rt == NULL) {
        if (path_matched)
            api_reply_error(&r, 405, "method_not_allowed", 0, "method %s is not allowed on %s",
                            r.method, r.path);
        else
            api_reply_error(&r, 404, "not_found", 0, "no route for %s", r.path);
        goto done;
    }
    if (api_query_check(rt, &r) != API_OK)
        goto done;
    if (api_auth_check(ctx, &r, rt->auth) != API_OK)
        goto done;
    r.t_auth_ms = cm_now_ms();
    ctx->thumb_later = api_long_is(rt, &r);
    if (ctx->thumb_later && api_long_enter(&r) != API_OK)
        goto done;
    if (ctx->thumb_later)
        api_group_not_coming();
    rt->fn(ctx, &r);
    api_long_leave(&r);
    if (r.status == 0)
        api_reply_error(&r, 500, "internal", 0, "the handler produced no response");

done:
    log_info("method=%s uri=\"%s\" status=%d tenant=%lld ms=%.2f", r.method, r.uri, r.status,
             (long long)r.tenant.id, cm_now_ms() - r.t0_ms);
    log_ctx_set("req", NULL);
}

struct api_thread {
    pthread_t tid;
    struct api_ctx ctx;
};

static void *api_thread_main(void *arg)
{
    struct api_thread *t = arg;
    struct api_ctx *ctx = &t->ctx;
    FCGX_Request fr;
    if (FCGX_InitRequest(&fr, api_listen_fd, 0) != 0) {
        log_error("could not initialise a FastCGI request for thread %d", ctx->thread);
        return NULL;
    }
    while (!api_stopping()) {
        int rc = FCGX_Accept_r(&fr);
        if (rc < 0) {
            if (api_stopping())
                break;
            /* EINTR, ECONNABORTED and friends: try again, but never spin */
            usleep(10000);
            continue;
        }
        int keep = 1;
        api_group_request(1);
        api_serve(ctx, &fr, &keep);
        api_group_request(-1);
        if (!keep)
            fr.keepConnection = 0;
        FCGX_Finish_r(&fr);
        api_after_reply(ctx);
        ctx->thumb_later = 0;
        ar_reset(ctx->ar);
        api_db_request_end(ctx->db);
    }
    FCGX_Free(&fr, 1);
    return NULL;
}

/* a thread parked on a kept nginx connection may not notice the stop; the
 * process exits anyway after API_STOP_GRACE_MS */
static void *watchdog_main(void *arg)
{
    (void)arg;
    usleep(API_STOP_GRACE_MS * 1000);
    log_warn("threads still busy %d ms after the stop signal; exiting", API_STOP_GRACE_MS);
    _exit(0);
    return NULL;
}

static void noop_handler(int sig)
{
    (void)sig;
}

int main(int argc, char **argv)
{
    int rc = cfg_main(CFG_PROG_API, argc, argv);
    if (rc >= 0)
        return rc;
    log_init("vkv-api", (enum log_level)log_level_parse(cfg_str("VKV_LOG_LEVEL")));
    cfg_log(CFG_PROG_API);
    /* before any thread: request ids come from randombytes_buf */
    if (sodium_init() < 0) {
        log_error("libsodium could not initialise (no random source)");
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = noop_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_flags = 0; /* SIGUSR1 interrupts blocking reads at shutdown */
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    static struct api_limits lim;
    lim.max_body = (size_t)cfg_int("VKV_MAX_BODY_BYTES");
    lim.max_image = (size_t)cfg_int("VKV_MAX_IMAGE_BYTES");
    lim.max_side = (int)cfg_int("VKV_MAX_IMAGE_SIDE");
    lim.max_pixels = cfg_int("VKV_MAX_IMAGE_PIXELS");
    lim.max_batch = API_MAX_BATCH;
    lim.max_parts = API_MAX_BATCH + 16;
    lim.decode_cpu_ms = (unsigned)cfg_int("VKV_MAX_DECODE_CPU_MS");
    /* a full batch (1000 jobs of a dozen values each) is far below this;
     * a 19 MB array of numbers (9.5 M values, 4.6 s to parse) is not */
    lim.max_json_values = 200000;
    lim.thumb_side = cfg_int("VKV_THUMB_SIDE") >= 8 ? (int)cfg_int("VKV_THUMB_SIDE") : 0;

    struct api_models *models = api_models_init(cfg_str("VKV_MODELS_DIR"));
    if (api_db_global_init() != 0)
        return 1;

    if (FCGX_Init() != 0) {
        log_error("could not initialise libfcgi");
        return 1;
    }
    const char *path = cfg_str("VKV_API_SOCKET");
    int nthreads = (int)cfg_int("VKV_API_THREADS");
    unlink(path);
    api_listen_fd = FCGX_OpenSocket(path, nthreads * 4 > 128 ? nthreads * 4 : 128);
    if (api_listen_fd < 0) {
        log_error("could not listen on \"%s\": %s", path, strerror(errno));
        return 1;
    }
    /* only nginx may connect: owner and group (VKV_API_SOCKET_GROUP, the
     * group of nginx's worker user when it is not vkv-api's user) */
    const char *grp = cfg_str("VKV_API_SOCKET_GROUP");
    if (grp[0] != '\0') {
        struct group *g = getgrnam(grp);
        if (g == NULL || chown(path, (uid_t)-1, g->gr_gid) != 0) {
            log_error("could not give socket \"%s\" to group \"%s\"", path, grp);
            return 1;
        }
    }
    if (chmod(path, 0660) != 0) {
        log_error("could not chmod socket \"%s\": %s", path, strerror(errno));
        return 1;
    }
    log_info("listening on unix:%s with %d threads", path, nthreads);

    int reserve = (int)cfg_int("VKV_API_SHORT_RESERVE");
    if (reserve == 0)
        reserve = nthreads / 4 > 2 ? nthreads / 4 : 2;
    api_long_init(nthreads, reserve, (int)cfg_int("VKV_LONG_PER_TENANT"));
    /* by default one statement per request: at 8 closed-loop clients a row
     * that waited for a running statement cost more latency than the group
     * saved (fcgi/README.md "Group enqueue") */
    int leaders = (int)cfg_int("VKV_ENQUEUE_GROUP_LEADERS");
    api_group_init((int)cfg_int("VKV_ENQUEUE_GROUP_MAX"), leaders > 0 ? leaders : nthreads,
                   (int)cfg_int("VKV_ENQUEUE_GROUP_WAIT_US"));
    /* one table of buckets for all the processes behind the same nginx */
    char lpath[4096];
    const char *lf = cfg_str("VKV_API_LIMITS_FILE");
    if (lf[0] != '\0') {
        snprintf(lpath, sizeof lpath, "%s", lf);
    } else {
        const char *slash = strrchr(path, '/');
        snprintf(lpath, sizeof lpath, "%.*svkv-api.limits", slash ? (int)(slash - path + 1) : 0,
                 path);
    }
    struct err le;
    err_clear(&le);
    if (api_limit_init(lpath, (double)cfg_int("VKV_AUTH_FAIL_RATE"),
                       (double)cfg_int("VKV_RATE_LIMIT"), (double)cfg_int("VKV_RATE_BURST"),
                       &le) != 0)
        log_warn("rate limits per process only: %s", le.msg);
    else
        log_info("rate limit buckets shared through %s", lpath);
    struct api_thread *th = cm_xcalloc((size_t)nthreads, sizeof(*th));
    for (int i = 0; i < nthreads; i++) {
        struct api_ctx *ctx = &th[i].ctx;
        ctx->thread = i;
        ctx->ar = ar_init(64 * 1024);
        /* the body, its decoded images and the JSON built from them */
        ar_limit_set(ctx->ar, lim.max_body * 3 + ((size_t)16 << 20));
        ctx->models = models;
        ctx->lim = &lim;
        ctx->wait_timeout_ms = cfg_int("VKV_WAIT_TIMEOUT_MS");
        ctx->sse_timeout_ms = ctx->wait_timeout_ms;
        ctx->db = api_db_thread_init(i);
        if (pthread_create(&th[i].tid, NULL, api_thread_main, &th[i]) != 0) {
            log_error("could not start thread %d", i);
            return 1;
        }
    }

    int sig = 0;
    sigwait(&stop, &sig);
    log_info("signal %d: stopping", sig);
    atomic_store(&api_stop_flag, 1);
    FCGX_ShutdownPending();
    shutdown(api_listen_fd, SHUT_RDWR);
    close(api_listen_fd);
    for (int i = 0; i < nthreads; i++)
        pthread_kill(th[i].tid, SIGUSR1); /* interrupt blocking reads */
    pthread_t wd;
    pthread_create(&wd, NULL, watchdog_main, NULL);
    pthread_detach(wd);
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i].tid, NULL);
        api_db_thread_free(th[i].ctx.db);
        ar_free(th[i].ctx.ar);
    }
    unlink(path);
    free(th);
    api_models_free(models);
    log_info("stopped");
    return 0;
}
