/*
 * h_moondream.c: the Moondream-compatible routes, POST /v1/caption,
 * /v1/query, /v1/detect, /v1/point and /v1/segment, so that an app written
 * against the official `moondream` client works by changing the endpoint.
 *
 * Design: every request is validated completely -- JSON, fields, the
 * image (decoded under the limits), the object name -- BEFORE anything is
 * enqueued or any byte is sent, so that an error has its real 4xx/5xx
 * status, never a 200 stream that says nothing; as the Node client ignores
 * the status of a stream, an error of a streamed call is sent in a form it
 * raises (api_reply_error, r->sse_wanted).  Then the call runs as a job
 * (tier IMMEDIATE unless X-Priority or a `priority`/`tier` field says
 * otherwise) through api_call_sync, and the job result is reshaped into
 * the Moondream response, plus `request_id` and `metrics`.  A streamed
 * caption / query follows the job's text as the worker publishes it
 * (api_call_stream) and sends it chunk by chunk.
 *
 *   detect/point: task "detect" (CenterNet, 80 COCO classes); the object
 *     name is matched to classes here (md_objects.c), so an object the
 *     detector has no class for answers 200 with an empty list and a
 *     `warning` naming the classes, without running the model.
 *   segment: task "segment" (a person-mask model), "person" only.
 *   caption/query: task "caption" / "query", served by Moondream 2 when its
 *     manifest (vlm/moondream2.json) is installed; the job params carry
 *     "task", the request's fields and `settings`; otherwise 503
 *     model_not_installed.
 *
 * See the root README ("Moondream API") and tests/moondream/README.md.
 */
#include "fcgi/handlers/h_moondream.h"

#include "fcgi/api.h"
#include "fcgi/api_impl.h"
#include "fcgi/handlers/md_objects.h"

#include "common/ar.h"
#include "common/cm.h"
#include "common/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MD_MAX_OBJECTS_DEFAULT 50 /* Moondream's own default */
#define MD_MAX_OBJECTS_LIMIT 100  /* CenterNet keeps 100 candidates */
#define MD_MAX_OBJECT_LEN 256
#define MD_MAX_QUESTION_LEN 4096

enum md_kind { MD_CAPTION, MD_QUERY, MD_DETECT, MD_POINT, MD_SEGMENT };

struct md_call {
    enum md_kind kind;
    json_t *body;           /* owned by the arena */
    struct api_image image; /* data NULL = no image (query only) */
    const char *object;
    const char *question;
    const char *length; /* caption: short, normal, long */
    int stream;
    int max_objects;
    double temperature, top_p; /* < 0: not given (the model's defaults) */
    int max_tokens;            /* 0: not given */
    int tier;
    long long timeout_ms; /* 0 = the server default */
    const char *task;
    const char *model; /* resolved model name */
    int cls[API_MD_MAX_CLASSES];
    int ncls;
    char warning[1024];
};

/* ---- validation --------------------------------------------------------- */

static int bad(struct err *e, enum err_class cls, const char *code, const char *fmt,
               const char *field)
{
    return err_set(e, API_ERR_INVALID, cls, code, fmt, field);
}

/* optional string field: NULL when absent or null */
static int opt_string(json_t *body, const char *key, size_t max, const char **out, struct err *e)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return API_OK;
    if (!json_is_string(v))
        return bad(e, ERR_INVALID, "invalid_field", "field \"%s\" must be a string", key);
    if (json_string_length(v) > max)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "field \"%s\" is longer than %zu bytes", key, max);
    *out = json_string_value(v);
    return API_OK;
}

static int opt_bool(json_t *body, const char *key, int *out, struct err *e)
{
    json_t *v = json_object_get(body, key);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return API_OK;
    if (!json_is_boolean(v))
        return bad(e, ERR_INVALID, "invalid_field", "field \"%s\" must be true or false", key);
    *out = json_is_true(v);
    return API_OK;
}

/*
 * The model: `model` (Python client) or `variant` (Node client).  A name
 * we serve for the task selects it; any other value (a Moondream model
 * version such as "moondream-2") is noted in the warning and the task's
 * default model answers, so unmodified apps keep working.
 */
static int pick_model(struct api_ctx *ctx, struct md_call *c, struct err *e)
{
    const char *asked = NULL, *variant = NULL;
    if (opt_string(c->body, "model", 128, &asked, e) != API_OK ||
        opt_string(c->body, "variant", 128, &variant, e) != API_OK)
        return API_ERR_INVALID;
    if (asked == NULL)
        asked = variant;
    c->model = api_models_default(ctx->models, c->task);
    if (asked != NULL && api_models_has(ctx->models, c->task, asked)) {
        c->model = asked;
    } else if (asked != NULL && c->model != NULL) {
        size_t n = strlen(c->warning);
        snprintf(c->warning + n, sizeof(c->warning) - n,
                 "%smodel \"%.64s\" is not installed for %s; answered by \"%s\"", n ? "; " : "",
                 asked, c->task, c->model);
    }
    return API_OK;
}

static int parse_common(struct api_ctx *ctx, struct api_req *r, struct md_call *c, struct err *e)
{
    c->body = api_req_json(r, ctx->ar, e);
    if (c->body == NULL)
        return API_ERR_INVALID;
    if (opt_bool(c->body, "stream", &c->stream, e) != API_OK)
        return API_ERR_INVALID;
    r->sse_wanted = c->stream;

    /* the route's default tier (IMMEDIATE: a person is waiting) unless
     * X-Priority or the body's "tier"/"priority" says otherwise */
    if (api_job_tier(r, c->body, &c->tier, e) != API_OK)
        return API_ERR_INVALID;

    /* Moondream Station's per-request timeout, in seconds */
    json_t *v = json_object_get(c->body, "timeout");
    if (v != NULL && !json_is_null(v)) {
        double s = json_is_number(v) ? json_number_value(v) : -1.0;
        if (!(s > 0.0 && s <= 600.0))
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "field \"timeout\" must be a number of seconds in (0, 600]");
        c->timeout_ms = (long long)ceil(s * 1000.0);
    }

    /* settings: {max_objects, temperature, top_p, max_tokens}; only
     * max_objects means something to a detector */
    c->max_objects = MD_MAX_OBJECTS_DEFAULT;
    c->temperature = c->top_p = -1;
    json_t *st = json_object_get(c->body, "settings");
    if (st != NULL && !json_is_null(st)) {
        if (!json_is_object(st))
            return bad(e, ERR_INVALID, "invalid_field", "field \"%s\" must be an object",
                       "settings");
        json_t *mo = json_object_get(st, "max_objects");
        if (mo != NULL && !json_is_null(mo)) {
            if (!json_is_integer(mo) || json_integer_value(mo) < 1 ||
                json_integer_value(mo) > MD_MAX_OBJECTS_LIMIT)
                return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                               "settings.max_objects must be an integer of 1..%d",
                               MD_MAX_OBJECTS_LIMIT);
            c->max_objects = (int)json_integer_value(mo);
        }
        /* generation settings, passed to a vision-language model's job */
        static const struct {
            const char *k;
            double lo, hi;
        } lim[3] = {{"temperature", 0, 2}, {"top_p", 0, 1}, {"max_tokens", 1, 4096}};
        for (int i = 0; i < 3; i++) {
            json_t *sv = json_object_get(st, lim[i].k);
            if (sv == NULL || json_is_null(sv))
                continue;
            double x = json_number_value(sv);
            if (!json_is_number(sv) || x < lim[i].lo || x > lim[i].hi || (i == 1 && x == 0) ||
                (i == 2 && !json_is_integer(sv)))
                return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                               "settings.%s must be a%s number in %s%g..%g", lim[i].k,
                               i == 2 ? "n integer" : "", i == 1 ? "(" : "", lim[i].lo, lim[i].hi);
            if (i == 0)
                c->temperature = x;
            else if (i == 1)
                c->top_p = x;
            else
                c->max_tokens = (int)x;
        }
    }

    /* the image: a data URL (the clients send JPEG q95) or plain base64 */
    const char *url = NULL;
    if (opt_string(c->body, "image_url", (size_t)-1, &url, e) != API_OK)
        return API_ERR_INVALID;
    if (url == NULL && c->kind != MD_QUERY)
        return bad(e, ERR_INVALID, "missing_field", "missing field \"%s\"", "image_url");
    if (url != NULL) {
        size_t n = json_string_length(json_object_get(c->body, "image_url"));
        if (api_image_from_data_url(ctx, url, n, &c->image, e) != API_OK)
            return API_ERR_INVALID;
    }
    return API_OK;
}

static int parse_object(struct md_call *c, struct err *e)
{
    if (opt_string(c->body, "object", MD_MAX_OBJECT_LEN, &c->object, e) != API_OK)
        return API_ERR_INVALID;
    if (c->object == NULL)
        return bad(e, ERR_INVALID, "missing_field", "missing field \"%s\"", "object");
    if (c->object[0] == '\0')
        return bad(e, ERR_INVALID, "invalid_field", "field \"%s\" must not be empty", "object");
    c->ncls = api_md_object_match(c->object, c->cls, API_MD_MAX_CLASSES);
    return API_OK;
}

/* ---- the job and the response ------------------------------------------- */

static void metric_copy(json_t *m, const char *name, json_t *v)
{
    if (json_is_number(v))
        json_object_set_new(m, name, json_real(round(json_number_value(v) * 1000.0) / 1000.0));
}

/*
 * metrics: queue (enqueued -> claimed), the worker's own timings
 * (decode/preprocess/inference/postprocess as it reports them), the
 * worker's run time and our wall-clock total.  New reference.
 */
static json_t *metrics_json(struct api_req *r, json_t *job)
{
    json_t *m = json_object();
    if (m == NULL)
        return NULL;
    if (job != NULL) {
        metric_copy(m, "queue_ms", json_object_get(job, "wait_ms"));
        metric_copy(m, "run_ms", json_object_get(job, "run_ms"));
        json_t *t = json_object_get(job, "timings");
        const char *k;
        json_t *v;
        if (json_is_object(t)) {
            json_object_foreach(t, k, v)
            {
                size_t kl = strlen(k);
                if (kl > 3 && strcmp(k + kl - 3, "_ms") == 0)
                    metric_copy(m, k, v);
            }
            /* the worker's decode_ms is decode + resize/normalise */
            if (json_object_get(m, "preprocess_ms") == NULL)
                metric_copy(m, "preprocess_ms", json_object_get(t, "decode_ms"));
        }
    }
    json_object_set_new(m, "total_ms",
                        json_real(round((cm_now_ms() - r->t0_ms) * 1000.0) / 1000.0));
    return m;
}

/* adds request_id, metrics, model and warning to a success body */
static int reply_ok(struct api_req *r, struct md_call *c, json_t *out, json_t *job, int64_t job_id)
{
    json_object_set_new(out, "request_id", json_string(r->request_id ? r->request_id : ""));
    if (c->model != NULL)
        json_object_set_new(out, "model", json_string(c->model));
    if (job_id > 0)
        json_object_set_new(out, "job_id", json_integer(job_id));
    json_object_set_new(out, "finish_reason", json_string("stop"));
    if (c->warning[0])
        json_object_set_new(out, "warning", json_string(c->warning));
    json_t *m = metrics_json(r, job);
    if (m != NULL)
        json_object_set_new(out, "metrics", m);
    return api_reply_json(r, 200, out, NULL);
}

static int reply_not_installed(struct api_req *r, struct md_call *c)
{
    if (c->kind == MD_CAPTION || c->kind == MD_QUERY)
        return api_reply_error(
            r, 503, "model_not_installed", 0,
            "no %s model is installed: /v1/%s needs a vision-language model (an image encoder and "
            "a text decoder with a KV cache), and none can be obtained on this server yet; to add "
            "one, put its manifest with \"task\": [\"%s\"] in the models folder and restart "
            "vkv-api and the workers (see README, \"Moondream API\")",
            c->task, c->kind == MD_CAPTION ? "caption" : "query", c->task);
    return api_reply_error(r, 503, "model_not_installed", 0,
                           "no model serving task \"%s\" is installed; run `make models` "
                           "(models/*.json) and restart vkv-api and the workers",
                           c->task);
}

/* runs the job; on any failure answers itself and returns API_ERR */
static int run_job(struct api_ctx *ctx, struct api_req *r, struct md_call *c, const char *params,
                   json_t **job, int64_t *job_id)
{
    struct api_job_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.task = c->task;
    spec.model = c->model;
    spec.tier = c->tier;
    spec.params_json = params ? params : "{}";
    spec.image = c->image;
    spec.idem_key = r->idem_key;
    struct err e;
    err_clear(&e);
    if (api_call_sync(ctx, r, &spec, c->timeout_ms, job, job_id, &e) != API_OK) {
        api_reply_err(r, &e);
        return API_ERR;
    }
    const char *state = json_string_value(json_object_get(*job, "state"));
    if (state == NULL || strcmp(state, "succeeded") != 0) {
        const char *msg = json_string_value(json_object_get(*job, "error"));
        if (state != NULL && strcmp(state, "canceled") == 0)
            api_reply_error(r, 503, "canceled", 0, "job %lld was canceled", (long long)*job_id);
        else
            api_reply_error(r, 500, "inference_failed", 0, "job %lld %s: %s", (long long)*job_id,
                            state ? state : "ended", msg ? msg : "no detail");
        return API_ERR;
    }
    if (!json_is_object(json_object_get(*job, "result"))) {
        api_reply_error(r, 500, "internal", 0, "job %lld succeeded without a JSON result",
                        (long long)*job_id);
        return API_ERR;
    }
    return API_OK;
}

/* an object of the job result is wanted when its label names one of the
 * matched COCO classes (a model with other class indices but COCO names
 * still works), or, without a label, when its class index is one of them */
static int wants_object(const struct md_call *c, json_t *o)
{
    const char *label = json_string_value(json_object_get(o, "label"));
    json_t *cl = json_object_get(o, "class");
    for (int i = 0; i < c->ncls; i++) {
        if (label != NULL) {
            if (strcmp(label, api_md_coco_label(c->cls[i])) == 0)
                return 1;
        } else if (json_is_integer(cl) && json_integer_value(cl) == c->cls[i]) {
            return 1;
        }
    }
    return 0;
}

static double num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* detect and point share everything but the output shape */
/* detect / point by Moondream 2's region head: any object name */
static int locate(struct api_ctx *ctx, struct api_req *r, struct md_call *c, enum md_kind kind)
{
    struct err e;
    err_clear(&e);
    c->task = "locate";
    if (pick_model(ctx, c, &e) != API_OK)
        return api_reply_err(r, &e);
    json_t *pq = json_pack("{s:s, s:s, s:{s:i}}", "task", kind == MD_DETECT ? "detect" : "point",
                           "object", c->object, "settings", "max_objects", c->max_objects);
    char *ps = pq ? json_dumps(pq, JSON_COMPACT) : NULL;
    json_decref(pq);
    const char *pj = ps ? ar_strdup(ctx->ar, ps) : NULL;
    free(ps);
    if (pj == NULL)
        return api_reply_error(r, 503, "out_of_memory", 1, "out of memory");
    json_t *job = NULL;
    int64_t job_id = 0;
    if (run_job(ctx, r, c, pj, &job, &job_id) != API_OK)
        return API_ERR;
    const char *field = kind == MD_DETECT ? "objects" : "points";
    json_t *list = json_object_get(json_object_get(job, "result"), field);
    json_t *out = json_object();
    if (out == NULL)
        return api_reply_error(r, 503, "out_of_memory", 1, "out of memory");
    if (json_is_array(list))
        json_object_set(out, field, list);
    else
        json_object_set_new(out, field, json_array());
    if (kind == MD_POINT)
        json_object_set_new(out, "count", json_integer((json_int_t)json_array_size(list)));
    return reply_ok(r, c, out, job, job_id);
}

static int detect_or_point(struct api_ctx *ctx, struct api_req *r, enum md_kind kind)
{
    struct md_call c;
    memset(&c, 0, sizeof(c));
    c.kind = kind;
    c.task = "detect";
    struct err e;
    err_clear(&e);
    if (parse_common(ctx, r, &c, &e) != API_OK || parse_object(&c, &e) != API_OK)
        return api_reply_err(r, &e);
    /* faces are not a COCO class: the face detector answers them */
    int face = c.ncls == 1 && c.cls[0] == API_MD_FACE;
    if (face)
        c.task = "detect_faces";
    /* Moondream 2 (task "locate") answers any object name when installed:
     * when `model`/`variant` names it, or when the fast detectors have no
     * class for the object */
    const char *asked = NULL, *variant = NULL;
    if (opt_string(c.body, "model", 128, &asked, &e) != API_OK ||
        opt_string(c.body, "variant", 128, &variant, &e) != API_OK)
        return api_reply_err(r, &e);
    if (asked == NULL)
        asked = variant;
    int md = api_models_has(ctx->models, "locate", NULL) &&
             ((asked != NULL && api_models_has(ctx->models, "locate", asked)) || c.ncls == 0 ||
              !api_models_has(ctx->models, c.task, NULL));
    if (md)
        return locate(ctx, r, &c, kind);
    if (pick_model(ctx, &c, &e) != API_OK)
        return api_reply_err(r, &e);
    const char *field = kind == MD_DETECT ? "objects" : "points";
    json_t *out = json_object();
    json_t *list = json_array();
    if (out == NULL || list == NULL) {
        json_decref(out);
        json_decref(list);
        return api_reply_error(r, 503, "out_of_memory", 1, "out of memory");
    }
    json_object_set_new(out, field, list);
    if (c.ncls == 0 || (face && c.model == NULL)) {
        /* nothing to run: no installed model can see this object */
        int faces = api_models_has(ctx->models, "detect_faces", NULL);
        size_t n = strlen(c.warning);
        snprintf(c.warning + n, sizeof(c.warning) - n,
                 "%sthe detector has no class for \"%.64s\"; it knows: %s%s", n ? "; " : "",
                 c.object, api_md_coco_names(), faces ? ", face" : "");
        return reply_ok(r, &c, out, NULL, 0);
    }
    if (c.model == NULL) {
        json_decref(out);
        return reply_not_installed(r, &c);
    }
    json_t *job = NULL;
    int64_t job_id = 0;
    if (run_job(ctx, r, &c, "{}", &job, &job_id) != API_OK) {
        json_decref(out);
        return API_ERR;
    }
    /* the worker's objects are sorted by score and NMS'd per class; a
     * face model answers {"faces":[{"box":{x_min..},"score"}]} */
    json_t *objs = json_object_get(json_object_get(job, "result"), face ? "faces" : "objects");
    size_t i;
    json_t *o;
    int kept = 0;
    json_array_foreach(objs, i, o)
    {
        if (kept >= c.max_objects)
            break;
        json_t *bx = o;
        if (face)
            bx = json_object_get(o, "box");
        else if (!wants_object(&c, o))
            continue;
        if (!json_is_object(bx))
            continue;
        double x0 = num(bx, "x_min"), y0 = num(bx, "y_min"), x1 = num(bx, "x_max"),
               y1 = num(bx, "y_max");
        json_t *item = json_object();
        if (item == NULL)
            break;
        if (kind == MD_DETECT) {
            json_object_set_new(item, "x_min", json_real(x0));
            json_object_set_new(item, "y_min", json_real(y0));
            json_object_set_new(item, "x_max", json_real(x1));
            json_object_set_new(item, "y_max", json_real(y1));
        } else {
            json_object_set_new(item, "x", json_real(round((x0 + x1) * 0.5e6) / 1e6));
            json_object_set_new(item, "y", json_real(round((y0 + y1) * 0.5e6) / 1e6));
        }
        if (face)
            json_object_set_new(item, "label", json_string("face"));
        else
            json_object_set(item, "label", json_object_get(o, "label"));
        json_object_set(item, "score", json_object_get(o, "score"));
        json_array_append_new(list, item);
        kept++;
    }
    if (kind == MD_POINT)
        json_object_set_new(out, "count", json_integer(kept));
    return reply_ok(r, &c, out, job, job_id);
}

int api_h_md_detect(struct api_ctx *ctx, struct api_req *r)
{
    return detect_or_point(ctx, r, MD_DETECT);
}

int api_h_md_point(struct api_ctx *ctx, struct api_req *r)
{
    return detect_or_point(ctx, r, MD_POINT);
}

int api_h_md_segment(struct api_ctx *ctx, struct api_req *r)
{
    struct md_call c;
    memset(&c, 0, sizeof(c));
    c.kind = MD_SEGMENT;
    c.task = "segment";
    struct err e;
    err_clear(&e);
    if (parse_common(ctx, r, &c, &e) != API_OK || parse_object(&c, &e) != API_OK ||
        pick_model(ctx, &c, &e) != API_OK)
        return api_reply_err(r, &e);
    json_t *sr = json_object_get(c.body, "spatial_refs");
    if (sr != NULL && !json_is_null(sr) && !json_is_array(sr))
        return api_reply_error(r, 400, "invalid_field", 0,
                               "field \"spatial_refs\" must be an array");
    if (!(c.ncls == 1 && c.cls[0] == 0))
        return api_reply_error(r, 422, "unsupported_object", 0,
                               "segment supports only \"person\" (and synonyms such as people, "
                               "man, woman) with the person-segmentation model; got \"%.64s\"",
                               c.object);
    if (c.model == NULL)
        return reply_not_installed(r, &c);
    json_t *job = NULL;
    int64_t job_id = 0;
    if (run_job(ctx, r, &c, "{}", &job, &job_id) != API_OK)
        return API_ERR;
    json_t *res = json_object_get(job, "result");
    json_t *path = json_object_get(res, "path");
    json_t *bbox = json_object_get(res, "bbox");
    if (!json_is_string(path) || !json_is_object(bbox))
        return api_reply_error(r, 500, "internal", 0, "segment job %lld has no path and bbox",
                               (long long)job_id);
    if (!c.stream) {
        json_t *out = json_object();
        if (out == NULL)
            return api_reply_error(r, 503, "out_of_memory", 1, "out of memory");
        json_object_set(out, "path", path);
        json_object_set(out, "bbox", bbox);
        return reply_ok(r, &c, out, job, job_id);
    }
    /* the clients' segment stream: bbox, path deltas, final */
    if (api_sse_begin(r) != API_OK)
        return API_ERR_IO;
    json_t *ev = json_pack("{s:s, s:O}", "type", "bbox", "bbox", bbox);
    if (api_sse_event(r, NULL, ev) != API_OK)
        return API_ERR_IO;
    const char *p = json_string_value(path);
    size_t plen = strlen(p), step = 256;
    for (size_t off = 0; off < plen; off += step) {
        size_t n = plen - off < step ? plen - off : step;
        ev = json_object();
        json_object_set_new(ev, "type", json_string("path_delta"));
        json_object_set_new(ev, "chunk", json_stringn(p + off, n));
        if (api_sse_event(r, NULL, ev) != API_OK)
            return API_ERR_IO;
    }
    ev = json_pack("{s:s, s:O, s:O, s:b, s:s, s:o}", "type", "final", "path", path, "bbox", bbox,
                   "completed", 1, "request_id", r->request_id ? r->request_id : "", "metrics",
                   metrics_json(r, job));
    return api_sse_event(r, NULL, ev);
}

/* the stream of a caption / query: begun with the first text */
struct md_sse {
    struct api_req *r;
    int begun;
};

static int sse_chunk(struct md_sse *s, const char *piece, size_t len)
{
    if (!s->begun) {
        if (api_sse_begin(s->r) != API_OK)
            return API_ERR_IO;
        s->begun = 1;
    }
    json_t *t = json_stringn(piece, len);
    if (t == NULL) /* not UTF-8: the stored text is; never expected */
        t = json_string("");
    json_t *ev = json_pack("{s:o, s:b}", "chunk", t, "completed", 0);
    return api_sse_event(s->r, NULL, ev) == API_OK ? 0 : API_ERR_IO;
}

static int sse_text(void *ud, const char *piece, size_t len)
{
    return sse_chunk(ud, piece, len);
}

/* the end of a stream that had begun and cannot change its status now */
static int sse_fail(struct api_req *r, const char *code, const char *msg)
{
    json_t *fin = json_pack("{s:s, s:b, s:s, s:{s:s, s:s}, s:s}", "chunk", "", "completed", 1,
                            "finish_reason", "error", "error", "code", code, "message",
                            msg ? msg : "", "request_id", r->request_id ? r->request_id : "");
    return api_sse_event(r, NULL, fin);
}

/*
 * A streamed caption / query: the job's text goes out as the worker
 * publishes it (every 50 ms at most), as the official clients read it:
 * data: {"chunk": "...", "completed": false} ... then {"chunk": "",
 * "completed": true, "finish_reason", "request_id", "metrics"}.  The
 * stream begins with the first text, so a job that fails before any text
 * (bad image, model unavailable, timeout) still answers a real 4xx/5xx;
 * after that an error is a final event with "error".
 */
static int stream_answer(struct api_ctx *ctx, struct api_req *r, struct md_call *c,
                         const char *params, const char *key)
{
    struct api_job_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.task = c->task;
    spec.model = c->model;
    spec.tier = c->tier;
    spec.params_json = params;
    spec.image = c->image;
    spec.idem_key = r->idem_key;
    struct err e;
    err_clear(&e);
    struct md_sse s = {r, 0};
    json_t *job = NULL;
    int64_t job_id = 0;
    size_t sent = 0;
    int rc = api_call_stream(ctx, r, &spec, c->timeout_ms, sse_text, &s, &job, &job_id, &sent, &e);
    if (rc == API_ERR_IO)
        return API_ERR_IO;
    if (rc != API_OK)
        return s.begun ? sse_fail(r, e.code, e.msg) : api_reply_err(r, &e);
    const char *state = json_string_value(json_object_get(job, "state"));
    json_t *text = json_object_get(json_object_get(job, "result"), key);
    if (state == NULL || strcmp(state, "succeeded") != 0 || !json_is_string(text)) {
        const char *msg = json_string_value(json_object_get(job, "error"));
        int canceled = state != NULL && strcmp(state, "canceled") == 0;
        char m[512];
        snprintf(m, sizeof(m), "job %lld %s: %s", (long long)job_id, state ? state : "ended",
                 msg                    ? msg
                 : json_is_string(text) ? "no detail"
                                        : "no text in the result");
        if (s.begun)
            return sse_fail(r, canceled ? "canceled" : "inference_failed", m);
        if (canceled)
            return api_reply_error(r, 503, "canceled", 0, "job %lld was canceled",
                                   (long long)job_id);
        return api_reply_error(r, 500, "inference_failed", 0, "%s", m);
    }
    /* the rest of the text (all of it when the job was faster than the
     * first publication) */
    const char *t = json_string_value(text);
    size_t n = json_string_length(text);
    if (!s.begun || sent < n)
        if (sse_chunk(&s, t + (sent < n ? sent : n), sent < n ? n - sent : 0) != 0)
            return API_ERR_IO;
    json_t *fin =
        json_pack("{s:s, s:b, s:s, s:s, s:I}", "chunk", "", "completed", 1, "finish_reason", "stop",
                  "request_id", r->request_id ? r->request_id : "", "job_id", (json_int_t)job_id);
    if (fin != NULL)
        json_object_set_new(fin, "metrics", metrics_json(r, job));
    return api_sse_event(r, NULL, fin);
}

/* caption and query: validated in full, then a model serving the task
 * answers, or 503 model_not_installed before any byte of a stream */
static int caption_or_query(struct api_ctx *ctx, struct api_req *r, enum md_kind kind)
{
    struct md_call c;
    memset(&c, 0, sizeof(c));
    c.kind = kind;
    c.task = kind == MD_CAPTION ? "caption" : "query";
    struct err e;
    err_clear(&e);
    if (parse_common(ctx, r, &c, &e) != API_OK)
        return api_reply_err(r, &e);
    if (kind == MD_CAPTION) {
        if (opt_string(c.body, "length", 16, &c.length, &e) != API_OK)
            return api_reply_err(r, &e);
        if (c.length == NULL)
            c.length = "normal";
        if (strcmp(c.length, "short") != 0 && strcmp(c.length, "normal") != 0 &&
            strcmp(c.length, "long") != 0)
            return api_reply_error(r, 400, "invalid_field", 0,
                                   "invalid caption length \"%s\": short, normal or long",
                                   c.length);
    } else {
        if (opt_string(c.body, "question", MD_MAX_QUESTION_LEN, &c.question, &e) != API_OK)
            return api_reply_err(r, &e);
        if (c.question == NULL || c.question[0] == '\0')
            return api_reply_error(r, 400, "missing_field", 0, "missing field \"question\"");
        json_t *rs = json_object_get(c.body, "reasoning");
        if (rs != NULL && !json_is_null(rs) && !json_is_boolean(rs))
            return api_reply_error(r, 400, "invalid_field", 0,
                                   "field \"reasoning\" must be true or false");
    }
    if (pick_model(ctx, &c, &e) != API_OK)
        return api_reply_err(r, &e);
    if (c.model == NULL)
        return reply_not_installed(r, &c);

    /* the job's params: the task (a model may serve several), the request's
     * fields and the generation settings given */
    json_t *pq = json_pack("{s:s}", "task", c.task);
    json_t *set = json_object();
    if (pq == NULL || set == NULL) {
        json_decref(pq);
        json_decref(set);
        return api_reply_error(r, 503, "out_of_memory", 1, "out of memory");
    }
    if (kind == MD_CAPTION) {
        json_object_set_new(pq, "length", json_string(c.length));
    } else {
        json_object_set_new(pq, "question", json_string(c.question));
        if (json_is_true(json_object_get(c.body, "reasoning")))
            json_object_set_new(pq, "reasoning", json_true());
    }
    if (c.temperature >= 0)
        json_object_set_new(set, "temperature", json_real(c.temperature));
    if (c.top_p >= 0)
        json_object_set_new(set, "top_p", json_real(c.top_p));
    if (c.max_tokens > 0)
        json_object_set_new(set, "max_tokens", json_integer(c.max_tokens));
    json_object_set_new(pq, "settings", set);
    char *ps = json_dumps(pq, JSON_COMPACT);
    json_decref(pq);
    const char *pj = ps ? ar_strdup(ctx->ar, ps) : NULL;
    free(ps);
    if (pj == NULL)
        return api_reply_error(r, 503, "out_of_memory", 1, "out of memory");
    const char *key = kind == MD_CAPTION ? "caption" : "answer";
    if (c.stream)
        return stream_answer(ctx, r, &c, pj, key);
    json_t *job = NULL;
    int64_t job_id = 0;
    if (run_job(ctx, r, &c, pj, &job, &job_id) != API_OK)
        return API_ERR;
    json_t *text = json_object_get(json_object_get(job, "result"), key);
    if (!json_is_string(text))
        return api_reply_error(r, 500, "internal", 0, "job %lld has no \"%s\"", (long long)job_id,
                               key);
    json_t *out = json_object();
    if (out == NULL)
        return api_reply_error(r, 503, "out_of_memory", 1, "out of memory");
    json_object_set(out, key, text);
    return reply_ok(r, &c, out, job, job_id);
}

int api_h_md_caption(struct api_ctx *ctx, struct api_req *r)
{
    return caption_or_query(ctx, r, MD_CAPTION);
}

int api_h_md_query(struct api_ctx *ctx, struct api_req *r)
{
    return caption_or_query(ctx, r, MD_QUERY);
}

/*
 * The Moondream tasks no installed model serves, for GET /v1/models:
 * [{"task","route","reason"}].  New reference (an empty array when all
 * are served; NULL only when out of memory).
 */
json_t *api_md_unavailable_json(const struct api_models *models)
{
    static const struct {
        const char *task, *route, *reason;
    } t[] = {
        {"caption", "/v1/caption",
         "no vision-language model can be obtained on this server; /v1/caption answers 503 "
         "model_not_installed (README, \"Moondream API\")"},
        {"query", "/v1/query",
         "no vision-language model can be obtained on this server; /v1/query answers 503 "
         "model_not_installed (README, \"Moondream API\")"},
        {"detect", "/v1/detect, /v1/point", "no detection model manifest (models/centernet.json)"},
        {"segment", "/v1/segment", "no person-segmentation model manifest (models/selfie.json)"},
    };
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < sizeof(t) / sizeof(t[0]); i++)
        if (!api_models_has(models, t[i].task, NULL))
            json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "task", t[i].task, "route",
                                               t[i].route, "reason", t[i].reason));
    return a;
}
