/*
 * api.h: the vkv-api interface for handler writers (fcgi/handlers/ *.c).
 *
 * One FastCGI request is one struct api_req, parsed from the FastCGI
 * params and body by api_req_parse() (which never touches FCGX, so the
 * fuzz harness can drive it), routed by api_route_match(), and answered by
 * one api_reply_*() call or a stream of api_sse_*() events.  Everything a
 * request allocates lives in the thread's request arena (ctx->ar), reset
 * after FCGX_Finish_r; json_t roots made with api_json_own() are decref'd
 * then.  See fcgi/README.md.
 */
#ifndef VKV_API_H
#define VKV_API_H

#include "common/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct ar;
struct pgx;

enum api_status {
    API_OK = 0,
    API_ERR = -1, /* generic, see struct err */
    API_ERR_TOO_LARGE = -2,
    API_ERR_INVALID = -3,
    API_ERR_IO = -4 /* the client or nginx went away */
};

/* ---------------------------------------------------------------- limits */

struct api_limits {
    size_t max_body;           /* VKV_MAX_BODY_BYTES */
    size_t max_image;          /* VKV_MAX_IMAGE_BYTES (decoded bytes) */
    int max_side;              /* VKV_MAX_IMAGE_SIDE */
    long long max_pixels;      /* VKV_MAX_IMAGE_PIXELS */
    int max_batch;             /* images per POST /v1/batches */
    int max_parts;             /* multipart parts per request */
    unsigned decode_cpu_ms;    /* VKV_MAX_DECODE_CPU_MS: image decoding CPU per request */
    long long max_json_values; /* values (scalars, arrays, objects) in one JSON body */
    int thumb_side;            /* VKV_THUMB_SIDE: the dashboard's per-job thumbnail, 0 = none */
};

/* ------------------------------------------------------------- output */

/* where a response goes: FCGX in the server, a buffer in tests */
struct api_out {
    int (*write)(void *u, const char *p, size_t n); /* 0 or -1 */
    int (*flush)(void *u);                          /* 0 or -1 */
    void *u;
};

/* ----------------------------------------------------------- requests */

#define API_MAX_PATH_PARAMS 4

struct api_part {             /* one multipart/form-data part */
    const char *name;         /* form field name */
    const char *filename;     /* NULL when not a file */
    const char *content_type; /* NULL when absent */
    const char *data;         /* borrowed from the body */
    size_t len;
};

struct api_tenant {
    int64_t id;
    int is_admin;
    char name[64];
};

struct api_req {
    /* from the FastCGI params (all borrowed from the request arena) */
    const char *method;       /* "GET", ... */
    const char *uri;          /* REQUEST_URI as sent */
    const char *path;         /* percent-decoded path, no query */
    const char *query;        /* raw query string ("" when none) */
    const char *content_type; /* "" when absent */
    long long content_length; /* 0 when absent */
    const char *auth_key;     /* Bearer or X-Moondream-Auth; NULL when absent */
    int auth_header_bad;      /* Authorization present but not "Bearer KEY" */
    const char *idem_key;     /* Idempotency-Key or NULL */
    const char *priority;     /* X-Priority or NULL */
    const char *accept;       /* Accept or "" */
    const char *request_id;   /* X-Request-Id or generated */
    /* body (arena memory, NUL-terminated, body_len bytes) */
    char *body;
    size_t body_len;
    /* set by the router */
    const struct api_route *route; /* the matched row (static) */
    const char *pp[API_MAX_PATH_PARAMS];
    int npp;
    /* set by auth */
    struct api_tenant tenant;
    int authed;
    /* the key came from the process's cache, not yet re-checked: the
     * enqueue statement checks it (jq_new_job.auth_key), else the first
     * reply head runs auth_settle (the lookup; a refused key turns the
     * reply into 401).  Cleared once decided. */
    int auth_deferred;
    int (*auth_settle)(struct api_req *r);
    struct api_ctx *auth_ctx;
    int long_held;           /* holds a long-request slot (api_long.c) */
    const char *remote_addr; /* REMOTE_ADDR, NULL when absent */
    /* response state */
    struct api_out out;
    int status;    /* status sent, 0 until the head is out */
    int streaming; /* SSE head sent */
    /* the client asked for a stream (set by the handler once it has read
     * "stream": true): an error is then sent as SSE, api_reply_error */
    int sse_wanted;
    double t0_ms;
    /* a synchronous call's stages (cm_now_ms; 0 = not reached), answered
     * in its Server-Timing header: body read, key checked, enqueue
     * started, job enqueued, job JSON read back after it ended */
    double t_body_ms, t_auth_ms, t_enq_ms, t_queued_ms, t_done_ms;
    double t_note_ms;          /* the job's notification taken (t_done_ms when none) */
    long long max_json_values; /* from api_limits; 0 = no limit */
};

/*
 * Fills r from envp, a NULL-terminated array of "NAME=VALUE" FastCGI
 * params (borrowed; copied into ar).  Validates CONTENT_LENGTH (absent = 0;
 * negative, non-numeric or > lim->max_body is an error) before any body
 * is read.  Returns API_OK, or an error with e filled (400/413).  Strings
 * in r are borrowed from ar, valid until ar_reset.  Thread-safe.
 */
int api_req_parse(struct api_req *r, struct ar *ar, char *const *envp, const struct api_limits *lim,
                  struct err *e);

/* case-insensitive media-type test: "application/json; charset=utf-8"
 * matches "application/json"; cannot fail */
int api_req_ctype_is(const struct api_req *r, const char *type);

/*
 * Parses the body as a JSON object.  Returns the root (owned by ar:
 * decref'd at reset) or NULL with e filled (400 invalid_json,
 * 415 unsupported_media_type when the content type is not JSON, 400
 * body_not_object).
 */
json_t *api_req_json(struct api_req *r, struct ar *ar, struct err *e);

/* string values at least this long skip jansson's lexer (api_json_parse) */
#define API_JSON_SPLICE_MIN 4096

/*
 * json_loadb(p, n, flags, je) with the same result on every input (value,
 * or NULL and the same error), faster for texts holding long plain string
 * values (data URLs): those of at least min_len bytes are cut out before
 * jansson parses the rest and put back after (0: plain jansson).  Returns
 * a new reference the caller owns.  Thread-safe.
 */
json_t *api_json_parse(const char *p, size_t n, size_t min_len, size_t flags, json_error_t *je);

/*
 * Splits a multipart/form-data body into parts (boundary from the content
 * type).  *parts is an arena array of *nparts entries borrowing from the
 * body.  At most max_parts parts.  Returns API_OK or an error (400
 * invalid_multipart, 413 too_many_parts).
 */
int api_multipart_parse(const char *ctype, const char *body, size_t len, struct ar *ar,
                        int max_parts, struct api_part **parts, int *nparts, struct err *e);

/*
 * Looks up name in the query string (application/x-www-form-urlencoded).
 * Returns a decoded arena copy, or NULL when absent or undecodable.
 */
const char *api_query_get(const struct api_req *r, struct ar *ar, const char *name);

/* percent-decodes s[0..n) into an arena string; '+' becomes ' ' when plus;
 * NULL on a bad escape, an embedded NUL or allocation failure */
char *api_pct_decode(struct ar *ar, const char *s, size_t n, int plus);

/* length of the well-formed UTF-8 sequence at p (1..4; RFC 3629: no
 * overlongs, surrogates or code points past U+10FFFF), 0 when invalid or at
 * the terminating NUL; reads at most 4 bytes, never past a NUL; cannot fail */
size_t api_utf8_seq(const unsigned char *p);

/* registers json_decref(j) on ar; returns j (NULL stays NULL); when the
 * registration fails the value is decref'd and NULL returned */
json_t *api_json_own(struct ar *ar, json_t *j);

/* ------------------------------------------------------------ replies */

/*
 * Sends status + body (takes ownership of body; NULL sends "{}").
 * extra_headers is NULL or "Name: value\r\n..." lines.  Returns API_OK or
 * API_ERR_IO when the peer went away (already logged at debug).
 */
int api_reply_json(struct api_req *r, int status, json_t *body, const char *extra_headers);

/* sends {"error":{"code","message","request_id"}} with status; adds
 * Retry-After: retry_after when retry_after > 0.  When the request asked
 * for a stream (r->sse_wanted) or a stream has begun, the body goes as SSE
 * instead: "event: error" with that JSON, then "data: <code>", a line that
 * is not JSON, so that the official Node client, which ignores a stream's
 * status, raises an error (README, "Moondream API") */
int api_reply_error(struct api_req *r, int status, const char *code, int retry_after,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * The HTTP status for an error from below the API: the one table that maps
 * an error class (common/err.h) to a status.  An ERR_INTERNAL error that is
 * transient answers 503.  Cannot fail.
 */
int api_err_status(const struct err *e);

/* api_reply_error from a struct err with api_err_status(e); code "" ->
 * "internal"; 503 and 429 carry Retry-After: 1 */
int api_reply_err(struct api_req *r, const struct err *e);

/* sends a text body with the given content type */
int api_reply_text(struct api_req *r, int status, const char *ctype, const char *text, size_t n);
/* sends n bytes of any content type (an image result); extra_headers as
 * for api_reply_json */
int api_reply_bytes(struct api_req *r, int status, const char *ctype, const void *data, size_t n,
                    const char *extra_headers);

/* SSE: sends the 200 head (text/event-stream, no-cache, X-Accel-Buffering:
 * no) once; api_sse_event sends "event: <name>\ndata: <json>\n\n" (event
 * line omitted when name is NULL) and flushes.  Takes ownership of data. */
int api_sse_begin(struct api_req *r);
int api_sse_event(struct api_req *r, const char *name, json_t *data);
/* sends ": comment\n\n" to keep the connection alive */
int api_sse_comment(struct api_req *r, const char *text);

/* ------------------------------------------------------------- context */

struct api_models;

/* per-thread state, passed explicitly to every handler */
struct api_later; /* work left for after the reply (api_impl.h) */

struct api_ctx {
    int thread;
    struct ar *ar;  /* request arena */
    struct pgx *db; /* this thread's connection (NULL in unit tests) */
    const struct api_models *models;
    const struct api_limits *lim;
    long long wait_timeout_ms;             /* VKV_WAIT_TIMEOUT_MS */
    long long sse_timeout_ms;              /* longest an events stream stays open */
    unsigned long long decode_cpu_used_ms; /* this request's image decoding so far */
    double decode_wall_ms;                 /* the same in wall-clock time (Server-Timing) */
    /* the request waits for its job (a long route): its images keep only
     * the thumbnail's pixels, encoded and stored after the reply */
    int thumb_later;
    struct api_later *later; /* in ar, or NULL; run by api_after_reply */
};

typedef int (*api_handler_fn)(struct api_ctx *ctx, struct api_req *r);

/* API_AUTH_ENQUEUE: a tenant key, as TENANT, but a key this process
 * looked up in the last API_KEY_CACHE_MS is not looked up again: the
 * enqueue statement itself re-checks it (fcgi/README.md "Group enqueue") */
enum api_auth { API_AUTH_NONE = 0, API_AUTH_TENANT = 1, API_AUTH_ADMIN = 2, API_AUTH_ENQUEUE = 3 };

/* a route that enqueues no job has no default tier */
#define API_TIER_NONE (-1)

struct api_route {
    const char *method;  /* "GET", "POST", "DELETE" */
    const char *pattern; /* "/v1/jobs/{}" ({} matches one segment) */
    enum api_auth auth;
    int tier; /* default tier of the jobs it enqueues (enum jq_tier), or API_TIER_NONE */
    api_handler_fn fn;
};

/*
 * Finds the route for method + path in the table (terminated by a NULL
 * pattern).  Returns the route and fills r->pp/r->npp, or NULL with
 * *path_matched set when a route has the path but not the method (405).
 */
const struct api_route *api_route_match(const struct api_route *table, struct api_req *r,
                                        int *path_matched);
/* the route table of vkv-api; borrowed, static */
const struct api_route *api_routes_get(void);

/* authenticates r (sets r->tenant); replies 401/403/503 itself and returns
 * API_ERR when the request must stop */
int api_auth_check(struct api_ctx *ctx, struct api_req *r, enum api_auth need);

/* -------------------------------------------------------------- models */

/*
 * Reads every models/ *.json manifest in dir with the one manifest reader
 * (tasks/rt_manifest.h): refused manifests and "serve": false ones are
 * logged and not offered.  Returns a new table; caller frees with
 * api_models_free.  A missing or unreadable folder gives an empty table and
 * a warning (no task is then valid).
 */
struct api_models *api_models_init(const char *dir);
void api_models_free(struct api_models *m);
/* 1 when model (NULL = any) serves task */
int api_models_has(const struct api_models *m, const char *task, const char *model);
/* the default model of a task, or NULL; borrowed, valid until free */
const char *api_models_default(const struct api_models *m, const char *task);
/* JSON arrays of the known task names / model names (new references) */
json_t *api_models_tasks_json(const struct api_models *m);
json_t *api_models_names_json(const struct api_models *m, const char *task);
/* [{id, name, description, version, tasks, manifest, default}] (new reference) */
json_t *api_models_list_json(const struct api_models *m);
/* an upscale model's scale (the manifest's post.scale), 0 for any other */
int api_models_scale(const struct api_models *m, const char *model);
/* the model of task with that scale, or NULL; borrowed */
const char *api_models_by_scale(const struct api_models *m, const char *task, int scale);

/* -------------------------------------------------------------- tiers */

/*
 * The tier of a job r asks for: X-Priority and the body's "tier" or
 * "priority" field (body may be NULL), read by jq_priority_parse (the one
 * priority parser; tier names live in common/jq.c), with the route's
 * default tier.  A field that is not an integer, a string or null is an
 * invalid tier.  Returns API_OK or API_ERR_INVALID with e filled.
 */
int api_job_tier(const struct api_req *r, json_t *body, int *out, struct err *e);

#endif
