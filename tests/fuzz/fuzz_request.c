/*
 * fuzz_request.c: vkv-api's request parser (fcgi/api_req.c), router
 * (fcgi/api_route.c) and reply writer (fcgi/api_resp.c), without FCGX.
 *
 * Input: FastCGI params as "NAME=VALUE" lines, a blank line, then the body
 * (no blank line: all params, empty body).  The harness runs what the
 * server runs for one request: api_req_parse (CONTENT_LENGTH vetting,
 * auth headers, request id), then the body parsers (JSON when the type
 * says so, multipart/form-data, the query string), the router, tier and id
 * parsing, and an error reply into a buffer.  Checks, besides "no crash":
 * a parsed Content-Length never exceeds the limit, multipart parts lie
 * inside the body, a reply starts with "Status: ".  See tests/fuzz/README.md.
 */
#include "tests/fuzz/fuzz.h"

#include "common/ar.h"
#include "common/cm.h"
#include "common/jq.h"
#include "common/log.h"
#include "fcgi/api.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_PARAMS 64

struct fuzz_buf {
    char data[4096];
    size_t n;
};

static int buf_write(void *u, const char *p, size_t n)
{
    struct fuzz_buf *b = u;
    size_t room = sizeof(b->data) - b->n;
    size_t k = n < room ? n : room;
    memcpy(b->data + b->n, p, k);
    b->n += k;
    return 0;
}

static int buf_flush(void *u)
{
    (void)u;
    return 0;
}

static int h_dummy(struct api_ctx *ctx, struct api_req *r)
{
    (void)ctx;
    (void)r;
    return 0;
}

static const struct api_route fuzz_routes[] = {
    {"POST", "/v1/jobs", API_AUTH_TENANT, JQ_TIER_INTERACTIVE, h_dummy},
    {"GET", "/v1/jobs/{}", API_AUTH_TENANT, API_TIER_NONE, h_dummy},
    {"GET", "/v1/jobs/{}/events", API_AUTH_TENANT, API_TIER_NONE, h_dummy},
    {"POST", "/v1/admin/tiers/{}/pause", API_AUTH_ADMIN, API_TIER_NONE, h_dummy},
    {"GET", "/v1/health", API_AUTH_NONE, API_TIER_NONE, h_dummy},
    {NULL, NULL, API_AUTH_NONE, API_TIER_NONE, NULL},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* the reply writer logs every 4xx at info: keep the fuzzer quiet */
    log_init("fuzz_request", LOG_LEVEL_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ar *ar = ar_init(16 * 1024);
    ar_limit_set(ar, (size_t)8 << 20);
    /* split params / body */
    const char *s = (const char *)data;
    const char *sep = NULL;
    for (size_t i = 0; i + 1 < size; i++)
        if (s[i] == '\n' && s[i + 1] == '\n') {
            sep = s + i;
            break;
        }
    size_t plen = sep ? (size_t)(sep - s) : size;
    char *params = ar_strndup(ar, s, plen);
    const char *body = sep ? sep + 2 : s + size;
    size_t blen = (size_t)(s + size - body);
    char *envp[FUZZ_MAX_PARAMS + 1];
    int n = 0;
    for (char *p = params; p && *p && n < FUZZ_MAX_PARAMS;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        envp[n++] = p;
        p = nl ? nl + 1 : NULL;
    }
    envp[n] = NULL;

    struct api_limits lim = {.max_body = 65536,
                             .max_image = 65536,
                             .max_side = 256,
                             .max_pixels = 65536,
                             .max_batch = 8,
                             .max_parts = 16};
    struct api_req r;
    memset(&r, 0, sizeof(r));
    struct fuzz_buf out;
    out.n = 0;
    r.out.write = buf_write;
    r.out.flush = buf_flush;
    r.out.u = &out;
    struct err e;
    err_clear(&e);
    int rc = api_req_parse(&r, ar, envp, &lim, &e);
    if (rc != API_OK) {
        CM_ASSERT(api_err_status(&e) >= 400 && e.code[0] != '\0');
        if (r.request_id == NULL)
            r.request_id = "-";
        api_reply_err(&r, &e);
        CM_ASSERT(out.n > 8 && memcmp(out.data, "Status: ", 8) == 0);
        ar_free(ar);
        return 0;
    }
    CM_ASSERT(r.content_length >= 0 && (size_t)r.content_length <= lim.max_body);
    CM_ASSERT(r.method != NULL && r.path != NULL && r.query != NULL && r.request_id != NULL);
    /* the server reads exactly content_length bytes; here: what is there */
    size_t take = blen < (size_t)r.content_length ? blen : (size_t)r.content_length;
    r.body = ar_strndup(ar, body, take);
    r.body_len = r.body ? take : 0;

    if (api_req_ctype_is(&r, "multipart/form-data")) {
        struct api_part *parts;
        int np;
        if (api_multipart_parse(r.content_type, r.body, r.body_len, ar, lim.max_parts, &parts, &np,
                                &e) == API_OK) {
            CM_ASSERT(np <= lim.max_parts);
            for (int i = 0; i < np; i++) {
                CM_ASSERT(parts[i].name != NULL);
                CM_ASSERT(parts[i].data >= r.body &&
                          parts[i].data + parts[i].len <= r.body + r.body_len);
            }
        } else {
            CM_ASSERT(api_err_status(&e) >= 400);
        }
    } else {
        json_t *j = api_req_json(&r, ar, &e);
        if (j != NULL) {
            CM_ASSERT(json_is_object(j));
            r.route = &fuzz_routes[0]; /* POST /v1/jobs: enqueues at INTERACTIVE */
            int t = -1;
            if (api_job_tier(&r, j, &t, &e) == API_OK)
                CM_ASSERT(t >= 0 && t <= 3);
            else
                CM_ASSERT(e.cls == ERR_INVALID && t == -1);
        } else {
            CM_ASSERT(e.cls == ERR_INVALID || e.cls == ERR_UNSUPPORTED || e.cls == ERR_INTERNAL);
        }
    }
    const char *names[] = {"state", "tier", "limit", "cursor", "task"};
    for (size_t i = 0; i < CM_ARRAY_LEN(names); i++) {
        const char *v = api_query_get(&r, ar, names[i]);
        if (v != NULL)
            (void)jq_tier_parse(v);
    }
    int path_matched = 0;
    const struct api_route *rt = api_route_match(fuzz_routes, &r, &path_matched);
    if (rt != NULL) {
        CM_ASSERT(r.npp >= 0 && r.npp <= API_MAX_PATH_PARAMS);
        for (int i = 0; i < r.npp; i++)
            CM_ASSERT(r.pp[i] != NULL && r.pp[i][0] != '\0');
        api_reply_json(&r, 200, json_pack("{s:s}", "path", r.path), NULL);
    } else {
        api_reply_error(&r, path_matched ? 405 : 404, "not_found", 0, "no route for %s", r.path);
    }
    CM_ASSERT(out.n > 8 && memcmp(out.data, "Status: ", 8) == 0);
    ar_free(ar);
    return 0;
}
