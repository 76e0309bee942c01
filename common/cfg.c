/*
 * cfg.c: the one configuration table and its loader.
 *
 * Add a key here, to config.example and to docker-compose.yml (a unit test
 * checks that both name every key).  Keys are read by the programs in the
 * `progs` mask only, so --check-config of the API does not demand worker
 * settings.  See common/README.md.
 */
#include "common/cfg.h"

#include "common/cm.h"
#include "common/img.h"
#include "common/log.h"
#include "common/pgx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* a built-in default of a library (img.h) as the table's string */
#define CFG_STR_(x) #x
#define CFG_STR(x) CFG_STR_(x)

#define A CFG_PROG_API
#define W CFG_PROG_WORKER
#define C CFG_PROG_CLI
#define R CFG_PROG_RUN

static const struct cfg_entry cfg_entries[] = {
    /* paths and processes */
    {"VKV_VAR_DIR", CFG_TYPE_STR, "var", 0, 0, 0, A | W | C | R,
     "state directory: PostgreSQL cluster, sockets, logs, model cache"},
    {"VKV_LOG_LEVEL", CFG_TYPE_STR, "info", 0, 0, 0, A | W | C | R, "debug, info, warn or error"},
    {"VKV_MODELS_DIR", CFG_TYPE_STR, "models", 0, 0, 0, A | W | C,
     "folder of model manifests (models/*.json)"},
    {"VKV_MODEL_CACHE", CFG_TYPE_STR, "var/cache/models", 0, 0, 0, A | W | C | R,
     "where fetched model packages are unpacked"},
    /* http / nginx */
    {"VKV_HTTP_ADDR", CFG_TYPE_STR, "127.0.0.1", 0, 0, 0, R, "address nginx listens on"},
    {"VKV_HTTP_PORT", CFG_TYPE_INT, "8080", 1, 65535, 0, R, "port nginx listens on"},
    {"VKV_API_SOCKET", CFG_TYPE_STR, "var/run/api.sock", 0, 0, 0, A | R,
     "unix socket between nginx and vkv-api"},
    {"VKV_API_THREADS", CFG_TYPE_INT, "16", 1, 1024, 0, A,
     "FastCGI accept threads per vkv-api process (>= nginx keepalive connections)"},
    {"VKV_API_SHORT_RESERVE", CFG_TYPE_INT, "0", 0, 1024, 0, A,
     "threads per vkv-api process kept for short requests (0 = max(2, threads/4))"},
    {"VKV_LONG_PER_TENANT", CFG_TYPE_INT, "8", 1, 1024, 0, A,
     "long requests (event streams, ?wait=, synchronous calls) of one tenant per vkv-api process"},
    {"VKV_LONG_PER_KEY", CFG_TYPE_INT, "8", 1, 100000, 0, R,
     "long requests of one API key at once, all processes (nginx limit_conn)"},
    {"VKV_AUTH_FAIL_RATE", CFG_TYPE_INT, "10", 0, 1000000, 0, A,
     "failed key lookups per second per client address, burst 2x (0 = no limit)"},
    {"VKV_API_LIMITS_FILE", CFG_TYPE_STR, "", 0, 0, 0, A,
     "file mapped by every vkv-api process of the host to share the per-tenant and failed-auth "
     "buckets (empty = vkv-api.limits beside VKV_API_SOCKET)"},
    {"VKV_API_SOCKET_GROUP", CFG_TYPE_STR, "", 0, 0, 0, A,
     "group given the FastCGI socket (mode 0660), for an nginx running as another user"},
    {"VKV_API_PROCESSES", CFG_TYPE_INT, "2", 1, 64, 0, R, "vkv-api processes started by make run"},
    {"VKV_MAX_BODY_BYTES", CFG_TYPE_INT, "20971520", 1024, 1073741824, 0, A | R,
     "largest request body accepted (nginx and vkv-api)"},
    {"VKV_RATE_LIMIT", CFG_TYPE_INT, "200", 1, 1000000, 0, A | R,
     "requests per second per API key (nginx limit_req) and per tenant (vkv-api, all processes)"},
    {"VKV_RATE_BURST", CFG_TYPE_INT, "400", 0, 1000000, 0, A | R,
     "requests per API key above the rate nginx lets through at once"},
    /* images */
    {"VKV_MAX_IMAGE_BYTES", CFG_TYPE_INT, CFG_STR(IMG_DEFAULT_MAX_BYTES), 1024, 1073741824, 0,
     A | W | C, "largest encoded image accepted"},
    {"VKV_MAX_IMAGE_SIDE", CFG_TYPE_INT, CFG_STR(IMG_DEFAULT_MAX_SIDE), 16, 65535, 0, A | W | C,
     "largest image width or height accepted"},
    {"VKV_MAX_IMAGE_PIXELS", CFG_TYPE_INT, CFG_STR(IMG_DEFAULT_MAX_PIXELS), 256, 1000000000, 0,
     A | W | C, "largest width*height accepted, checked before decoding"},
    {"VKV_MAX_DECODE_CPU_MS", CFG_TYPE_INT, CFG_STR(IMG_DEFAULT_MAX_CPU_MS), 0, 600000, 0,
     A | W | C, "CPU time one request's image decoding may use (0 = no limit)"},
    {"VKV_MAX_RESULT_BYTES", CFG_TYPE_INT, "33554432", 1024, 536870912, 0, W,
     "largest image result (an upscaled PNG/WebP/JPEG) a job may store; larger fails the job"},
    {"VKV_ENQUEUE_GROUP_MAX", CFG_TYPE_INT, "64", 1, 256, 0, A,
     "single-job enqueues of concurrent requests written in one statement per vkv-api process "
     "(1 = each alone)"},
    {"VKV_ENQUEUE_GROUP_LEADERS", CFG_TYPE_INT, "0", 0, 1024, 0, A,
     "group enqueue statements in flight at once per vkv-api process (0 = VKV_API_THREADS: a "
     "row waits for a group only with a lower setting)"},
    {"VKV_ENQUEUE_GROUP_WAIT_US", CFG_TYPE_INT, "0", 0, 1000000, 0, A,
     "microseconds a group enqueue waits for rows of requests still being served (0 = none)"},
    {"VKV_THUMB_SIDE", CFG_TYPE_INT, "160", 0, 1024, 0, A,
     "side of the thumbnail vkv-api keeps per job for the dashboard (below 8 = none)"},
    {"VKV_FACES_CACHE_MB", CFG_TYPE_INT, "512", 1, 1048576, 0, A,
     "memory per vkv-api process for the face search's descriptor matrices (about 1 KB a face)"},
    {"VKV_FACES_PGVECTOR", CFG_TYPE_INT, "1", 0, 1, 0, A,
     "1: search faces through pgvector's index when the database has it (migration 0008); 0: "
     "always the exact in-memory search"},
    /* postgresql */
    {"VKV_PG_HOST", CFG_TYPE_STR, "var/run", 0, 0, 0, A | W | C | R,
     "PostgreSQL host or socket directory"},
    {"VKV_PG_PORT", CFG_TYPE_INT, "5488", 1, 65535, 0, A | W | C | R, "PostgreSQL port"},
    {"VKV_PG_DB", CFG_TYPE_STR, "vkvision", 0, 0, 0, A | W | C | R, "PostgreSQL database"},
    {"VKV_PG_USER", CFG_TYPE_STR, "vkvision", 0, 0, 0, A | W | C | R, "PostgreSQL role"},
    {"VKV_PG_PASSWORD", CFG_TYPE_STR, "", 0, 0, 1, A | W | C | R,
     "PostgreSQL password (empty for a local socket with peer)"},
    {"VKV_PG_PASSFILE", CFG_TYPE_STR, "", 0, 0, 0, A | W | C | R,
     "libpq password file (host:port:db:user:password lines, mode 0600) instead of "
     "VKV_PG_PASSWORD"},
    {"VKV_PG_SSLMODE", CFG_TYPE_STR, "", 0, 0, 0, A | W | C | R,
     "libpq sslmode: empty = libpq's default (prefer); verify-full for a server on another host"},
    {"VKV_PG_SSLROOTCERT", CFG_TYPE_STR, "", 0, 0, 0, A | W | C | R,
     "CA certificate (PEM) that signed the PostgreSQL server's certificate "
     "(verify-ca/verify-full)"},
    {"VKV_PG_CHANNEL_BINDING", CFG_TYPE_STR, "", 0, 0, 0, A | W | C | R,
     "libpq channel_binding: require = only SCRAM bound to the TLS channel (no trust, md5, "
     "cleartext)"},
    /* queue */
    {"VKV_LEASE_SECONDS", CFG_TYPE_INT, "10", 1, 3600, 0, A | W | C,
     "a running job's lease; renewed by heartbeat every third of it"},
    {"VKV_MAX_ATTEMPTS", CFG_TYPE_INT, "3", 1, 100, 0, A | C,
     "attempts before a job fails for good"},
    {"VKV_RETENTION_DAYS", CFG_TYPE_INT, "30", 0, 36500, 0, A | W | C,
     "finished jobs older than this are deleted from history (0 = keep forever)"},
    {"VKV_TIER_DEPTH_LIMIT", CFG_TYPE_INT, "100000", 1, 100000000, 0, A,
     "queued jobs per tier before POST answers 429"},
    {"VKV_WAIT_TIMEOUT_MS", CFG_TYPE_INT, "60000", 100, 3600000, 0, A,
     "how long a synchronous call waits for its job"},
    /* worker */
    {"VKV_WORKER_DEVICE", CFG_TYPE_STR, "0", 0, 0, 0, W,
     "Vulkan device by index, UUID or name substring"},
    {"VKV_WORKER_BATCH", CFG_TYPE_INT, "8", 1, 256, 0, W,
     "largest batch a worker claims and runs at once"},
    {"VKV_VRAM_BUDGET_MB", CFG_TYPE_INT, "0", 0, 16777216, 0, W,
     "VRAM budget for resident models; 0 = from VK_EXT_memory_budget or 80% of the heap"},
    {"VKV_WORKER_PRUNE_S", CFG_TYPE_INT, "86400", 60, 31536000, 0, W | C,
     "a worker not seen for this long is removed from the registry (/v1/gpus, /v1/health)"},
    {"VKV_WORKER_NAME", CFG_TYPE_STR, "", 0, 0, 0, W,
     "worker name in job history (default host:pid:device)"},
    /* the runtime's device settings (runtime/rt.h struct rt_device_opts, read through
       rt_device_opts_read; the vkv CLI reads the same names from the environment) */
    {"RT_VALIDATE", CFG_TYPE_BOOL, "0", 0, 0, 0, W,
     "Vulkan validation layer + message counter (device creation fails without the layer)"},
    {"VKV_NO_FP16", CFG_TYPE_BOOL, "0", 0, 0, 0, W, "fp16 weight requests fall back to fp32"},
    {"VKV_NO_INT8", CFG_TYPE_BOOL, "0", 0, 0, 0, W, "int8 weight requests fall back to fp32"},
    {"VKV_NO_GEMM", CFG_TYPE_BOOL, "0", 0, 0, 0, W,
     "1x1 convolutions and dense layers on the direct conv kernel"},
    {"VKV_NO_TEXEL", CFG_TYPE_BOOL, "0", 0, 0, 0, W,
     "storage-buffer kernels instead of the texel-buffer variants"},
    {"VKV_NO_DW3", CFG_TYPE_BOOL, "0", 0, 0, 0, W,
     "depthwise 3x3 convolutions on dwconv.comp instead of dwconv3.comp (for A/B measurements)"},
    {"VKV_NO_DWPW", CFG_TYPE_BOOL, "0", 0, 0, 0, W,
     "depthwise 3x3 convolutions and the 1x1 after them unfused (dwpw.comp off; for A/B "
     "measurements)"},
    {"VKV_GEMM_TILE", CFG_TYPE_STR, "", 0, 0, 0, W,
     "GEMM register tile RxC (1..8 each); empty = per layer"},
    {"VKV_RT_KERNELS", CFG_TYPE_STR, "", 0, 0, 0, W,
     "kernel family: auto (GPU kernels on every device but a CPU one), cpu or gpu; empty = auto"},
    {"VKV_RT_FP16_MATH", CFG_TYPE_BOOL, "0", 0, 0, 0, W,
     "GPU-family GEMM in fp16 arithmetic (needs shaderFloat16; costs accuracy: runtime/README.md)"},
    {"VKV_NO_PIPELINE_CACHE", CFG_TYPE_BOOL, "0", 0, 0, 0, W,
     "do not read/write the pipeline cache ($VKV_VAR_DIR/cache)"},
    {"VKV_RT_TIMEOUT_MS", CFG_TYPE_INT, "60000", 1, 86400000, 0, W,
     "fence wait per model run before RT_ERR_TIMEOUT"},
    {"VKV_RT_MAX_DEVICE_BYTES", CFG_TYPE_INT, "0", 0, 1LL << 50, 0, W,
     "plan creation fails with out-of-memory above this many device bytes; 0 = no limit"},
    {"VKV_RT_PROFILE", CFG_TYPE_BOOL, "0", 0, 0, 0, W,
     "per-shader device time on stderr after each run"},
    {"VKV_RT_PROFILE_DISPATCH", CFG_TYPE_BOOL, "0", 0, 0, 0, W,
     "with VKV_RT_PROFILE: one line per dispatch (node, grid, device time, GFLOP/s)"},
    {"VKV_TF_LINEAR", CFG_TYPE_STR, "", 0, 0, 0, W,
     "transformer linear kernel: mv, mm or auto (empty = by rows)"},
    {"VKV_TF_TEXEL", CFG_TYPE_STR, "", 0, 0, 0, W,
     "transformer linear through texel buffers: 0, 1, or empty = by device type"},
    {"VKV_TF_PART_BYTES", CFG_TYPE_INT, "0", 0, 1LL << 40, 0, W,
     "largest transformer weight part in bytes (tests); 0 = the device's range"},
    {NULL, CFG_TYPE_STR, NULL, 0, 0, 0, 0, NULL},
};

#undef A
#undef W
#undef C
#undef R

#define CFG_N (CM_ARRAY_LEN(cfg_entries) - 1)

static char *cfg_values[CM_ARRAY_LEN(cfg_entries)];
static long long cfg_ints[CM_ARRAY_LEN(cfg_entries)];

const struct cfg_entry *cfg_table_get(void)
{
    return cfg_entries;
}

static int cfg_find(const char *name)
{
    for (size_t i = 0; i < CFG_N; i++)
        if (strcmp(cfg_entries[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int cfg_parse_bool(const char *s, int *out)
{
    if (!strcasecmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
        !strcasecmp(s, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
        !strcasecmp(s, "off")) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int cfg_validate(size_t i, const char *v, struct err *e)
{
    const struct cfg_entry *c = &cfg_entries[i];
    if (c->type == CFG_TYPE_INT) {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0')
            return err_set(e, -1, ERR_INVALID, "invalid_config",
                           "invalid value for %s: \"%s\" is not an integer", c->name, v);
        if (x < c->min || x > c->max)
            return err_set(e, -1, ERR_INVALID, "invalid_config",
                           "invalid value for %s: %lld is outside %lld..%lld", c->name, x, c->min,
                           c->max);
        cfg_ints[i] = x;
    } else if (c->type == CFG_TYPE_BOOL) {
        int b;
        if (cfg_parse_bool(v, &b) != 0)
            return err_set(e, -1, ERR_INVALID, "invalid_config",
                           "invalid value for %s: \"%s\" is not a boolean", c->name, v);
        cfg_ints[i] = b;
    } else if (c->name != NULL && strcmp(c->name, "VKV_LOG_LEVEL") == 0 && log_level_parse(v) < 0) {
        return err_set(e, -1, ERR_INVALID, "invalid_config",
                       "invalid value for VKV_LOG_LEVEL: \"%s\" (debug, info, warn, error)", v);
    }
    free(cfg_values[i]);
    cfg_values[i] = cm_xstrdup(v);
    return 0;
}

static int cfg_load_file(const char *file, struct err *e)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return err_set(e, -1, ERR_INVALID, "invalid_config",
                       "could not open config file \"%s\": %s", file, strerror(errno));
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strlen(p);
        while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
            p[--n] = '\0';
        if (*p == '\0' || *p == '#')
            continue;
        char *eq = strchr(p, '=');
        if (eq == NULL) {
            rc = err_set(e, -1, ERR_INVALID, "invalid_config",
                         "invalid line %d in \"%s\": expected KEY=VALUE", lineno, file);
            break;
        }
        *eq = '\0';
        int i = cfg_find(p);
        if (i < 0) {
            rc = err_set(e, -1, ERR_INVALID, "invalid_config",
                         "unknown key \"%s\" at line %d in \"%s\"", p, lineno, file);
            break;
        }
        rc = cfg_validate((size_t)i, eq + 1, e);
    }
    fclose(f);
    return rc;
}

int cfg_load(int prog, const char *file, struct err *e)
{
    for (size_t i = 0; i < CFG_N; i++) {
        const char *v = getenv(cfg_entries[i].name);
        if (v == NULL)
            v = cfg_entries[i].def;
        if (v == NULL) {
            if (cfg_entries[i].progs & prog)
                return err_set(e, -1, ERR_INVALID, "invalid_config", "missing required setting %s",
                               cfg_entries[i].name);
            continue;
        }
        /* keys of other programs are validated too when set: a typo there
         * is still a typo, but their defaults are always valid */
        if (cfg_validate(i, v, e) != 0)
            return -1;
    }
    if (file == NULL)
        file = getenv("VKV_CONFIG_FILE");
    if (file != NULL && *file != '\0' && cfg_load_file(file, e) != 0)
        return -1;
    const char *lvl = cfg_values[cfg_find("VKV_LOG_LEVEL")];
    (void)prog;
    log_init("vkv", (enum log_level)log_level_parse(lvl));
    return 0;
}

const char *cfg_str(const char *name)
{
    int i = cfg_find(name);
    CM_ASSERT(i >= 0);
    return cfg_values[i] != NULL ? cfg_values[i] : (cfg_entries[i].def ? cfg_entries[i].def : "");
}

long long cfg_int(const char *name)
{
    int i = cfg_find(name);
    CM_ASSERT(i >= 0 && cfg_entries[i].type != CFG_TYPE_STR);
    if (cfg_values[i] == NULL && cfg_entries[i].def != NULL)
        return strtoll(cfg_entries[i].def, NULL, 10);
    return cfg_ints[i];
}

int cfg_bool(const char *name)
{
    return (int)cfg_int(name);
}

void cfg_log(int prog)
{
    for (size_t i = 0; i < CFG_N; i++) {
        const struct cfg_entry *c = &cfg_entries[i];
        if (!(c->progs & prog))
            continue;
        const char *v = cfg_values[i] ? cfg_values[i] : "";
        log_info("config %s=%s", c->name, c->secret && *v ? "********" : v);
    }
}

int cfg_main(int prog, int argc, char **argv)
{
    const char *file = NULL;
    int check = 0, print = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0)
            check = 1;
        else if (strcmp(argv[i], "--print-config") == 0)
            print = 1;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[++i];
    }
    struct err e;
    err_clear(&e);
    if (cfg_load(prog, file, &e) != 0) {
        fprintf(stderr, "configuration error: %s\n", e.msg);
        return 1;
    }
    if (print) {
        for (size_t i = 0; i < CFG_N; i++) {
            const struct cfg_entry *c = &cfg_entries[i];
            if (!(c->progs & prog))
                continue;
            const char *v = cfg_values[i] ? cfg_values[i] : "";
            printf("%s=%s\n", c->name, c->secret && *v ? "********" : v);
        }
        return 0;
    }
    if (check) {
        printf("configuration ok\n");
        return 0;
    }
    return -1;
}

/* ---- settings handed to the libraries ---------------------------------- */

void cfg_img_limits(struct img_limits *l)
{
    l->max_bytes = (size_t)cfg_int("VKV_MAX_IMAGE_BYTES");
    l->max_side = (uint32_t)cfg_int("VKV_MAX_IMAGE_SIDE");
    l->max_pixels = (uint64_t)cfg_int("VKV_MAX_IMAGE_PIXELS");
    l->max_cpu_ms = (uint32_t)cfg_int("VKV_MAX_DECODE_CPU_MS");
}

void cfg_pgx_settings(struct pgx_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->host = cfg_str("VKV_PG_HOST");
    s->port = (int)cfg_int("VKV_PG_PORT");
    s->dbname = cfg_str("VKV_PG_DB");
    s->user = cfg_str("VKV_PG_USER");
    s->password = cfg_str("VKV_PG_PASSWORD");
    s->passfile = cfg_str("VKV_PG_PASSFILE");
    s->sslmode = cfg_str("VKV_PG_SSLMODE");
    s->sslrootcert = cfg_str("VKV_PG_SSLROOTCERT");
    s->channel_binding = cfg_str("VKV_PG_CHANNEL_BINDING");
}
