/*
 * api_job.c: validation of job submissions at the API boundary.
 *
 * Everything a job needs is checked here before anything is written: the
 * task and model against the manifests, the tier, params, deadline and the
 * image (data URL or upload) decoded under the image limits.  A corrupt or
 * oversized image is a 400/413/415 here, never a failed job later.  Used by
 * POST /v1/jobs, POST /v1/batches and the synchronous calls (api_call.c).
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"
#include "fcgi/handlers/h_analyze.h"
#include "fcgi/handlers/h_upscale.h"

#include "common/ar.h"
#include "common/cm.h"
#include "common/durl.h"
#include "common/img.h"
#include "common/jq.h"
#include "common/log.h"
#include "common/pgx.h"
#include "common/thumb.h"
#include "sql_queries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void img_limits_from(const struct api_limits *lim, struct img_limits *il)
{
    il->max_bytes = lim->max_image;
    il->max_side = (uint32_t)lim->max_side;
    il->max_pixels = (uint64_t)lim->max_pixels;
    il->max_cpu_ms = 0;
}

static unsigned long long thread_cpu_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
}

/* WebP quality of the thumbnails: ~3-6 KB at 160 px, enough to see what
 * boxes were drawn on */
#define API_THUMB_QUALITY 70

/* the dashboard's thumbnail of a decoded image into the request arena;
 * best effort: a job is never refused for want of a thumbnail */
static void thumb_keep(struct api_ctx *ctx, const struct img *im, struct api_image *out)
{
    struct err te;
    err_clear(&te);
    uint8_t *t = NULL;
    size_t n = 0;
    if (thumb_webp(im, ctx->lim->thumb_side, API_THUMB_QUALITY, &t, &n, &te) != THUMB_OK) {
        log_warn("no thumbnail: %s", te.msg);
        return;
    }
    uint8_t *copy = ar_alloc(ctx->ar, n);
    if (copy != NULL) {
        memcpy(copy, t, n);
        out->thumb = copy;
        out->thumb_len = n;
    }
    thumb_free(t);
}

int api_image_from_bytes(struct api_ctx *ctx, const uint8_t *data, size_t n, struct api_image *out,
                         struct err *e)
{
    struct img_limits il;
    img_limits_from(ctx->lim, &il);
    /* one CPU budget for all the images of a request (a batch of 1000
     * small bombs must not cost 1000 budgets) */
    if (ctx->lim->decode_cpu_ms) {
        if (ctx->decode_cpu_used_ms >= ctx->lim->decode_cpu_ms)
            return err_set(e, API_ERR_INVALID, ERR_TOO_LARGE, "image_too_costly",
                           "the request's images used its decoding budget of %u ms of CPU",
                           ctx->lim->decode_cpu_ms);
        il.max_cpu_ms = (uint32_t)(ctx->lim->decode_cpu_ms - ctx->decode_cpu_used_ms);
    }
    if (n == 0)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_image", "empty image");
    struct img_info info;
    memset(&info, 0, sizeof(info));
    struct img im;
    memset(&im, 0, sizeof(im));
    /* a decode of every block: only that proves a truncated or corrupt
     * file bad.  The pixels only make the thumbnail (the worker decodes
     * again on its side), so a JPEG decodes at the smallest DCT scale that
     * still covers it: the same verdict for a fraction of the work */
    unsigned long long c0 = thread_cpu_ms();
    double w0 = cm_now_ms();
    int min_side = ctx->lim->thumb_side > 0 ? ctx->lim->thumb_side : 1;
    int rc = img_decode_reduced(data, n, &il, min_side, NULL, &im, &info, e);
    ctx->decode_cpu_used_ms += thread_cpu_ms() - c0;
    ctx->decode_wall_ms += cm_now_ms() - w0;
    if (rc != IMG_OK) {
        if (e->cls == ERR_INTERNAL)
            e->cls = rc == IMG_ERR_OOM ? ERR_UNAVAILABLE : ERR_INVALID;
        return API_ERR_INVALID;
    }
    out->thumb = NULL;
    out->thumb_len = 0;
    memset(&out->thumb_src, 0, sizeof(out->thumb_src));
    long long side = ctx->lim->thumb_side;
    if (thumb_keeps_input(&info, n, ctx->lim->thumb_side)) {
        /* small already: the input is its own thumbnail, no encode (a
         * 16x16 WebP encode alone costs ~70 us, more than the rest of the
         * request's own code) */
        out->thumb = data;
        out->thumb_len = n;
    } else if (side > 0 && ctx->thumb_later && (long long)im.w * im.h <= 4 * side * side &&
               ar_on_reset(ctx->ar, free, im.rgb) == 0) {
        /* small already (a JPEG decoded at a reduced scale): the box
         * filter waits for the reply too; the arena's reset frees it */
        out->thumb_src = im;
        out->thumb_src.owned = 0;
        im.rgb = NULL;
    } else if (side > 0 && ctx->thumb_later) {
        /* the WebP encode (most of a thumbnail's cost) waits for the
         * reply: keep only the small picture */
        struct err te;
        err_clear(&te);
        if (thumb_shrink(&im, ctx->lim->thumb_side, ctx->ar, &out->thumb_src, &te) != THUMB_OK)
            log_warn("no thumbnail: %s", te.msg);
    } else if (ctx->lim->thumb_side > 0) {
        thumb_keep(ctx, &im, out);
    }
    img_free(&im);
    out->data = data;
    out->len = n;
    out->mime = img_format_mime(info.format);
    out->w = info.w;
    out->h = info.h;
    return API_OK;
}

int api_image_from_data_url(struct api_ctx *ctx, const char *s, size_t n, struct api_image *out,
                            struct err *e)
{
    struct durl d;
    memset(&d, 0, sizeof(d));
    int rc = durl_parse(s, n, ctx->lim->max_image, DURL_IMAGE_ONLY | DURL_ALLOW_PLAIN_BASE64,
                        ctx->ar, &d, e);
    if (rc != DURL_OK) {
        if (e->cls == ERR_INTERNAL)
            e->cls = ERR_INVALID;
        return API_ERR_INVALID;
    }
    return api_image_from_bytes(ctx, d.data, d.len, out, e);
}

static int is_int(const json_t *v)
{
    return json_is_integer(v);
}

/* the valid tasks (or models of a task) as "a, b, c" in the arena */
static const char *list_str(struct api_ctx *ctx, json_t *arr)
{
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    const char *out = s ? ar_strdup(ctx->ar, s) : "[]";
    free(s);
    return out ? out : "[]";
}

static int check_task_model(struct api_ctx *ctx, struct api_job_spec *spec, struct err *e)
{
    /* several models in one job (fcgi/handlers/h_analyze.c) */
    if (strcmp(spec->task, API_ANALYZE_TASK) == 0)
        return api_analyze_check_model(ctx, spec, e);
    if (spec->task[0] == '\0' || strlen(spec->task) > JQ_TASK_MAX ||
        !api_models_has(ctx->models, spec->task, NULL))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_task",
                       "unknown task \"%.64s\"; valid tasks: %s", spec->task,
                       list_str(ctx, api_analyze_tasks_json(ctx->models)));
    if (spec->model == NULL) {
        spec->model = api_models_default(ctx->models, spec->task);
    } else if (strlen(spec->model) > JQ_MODEL_MAX ||
               !api_models_has(ctx->models, spec->task, spec->model)) {
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_model",
                       "unknown model \"%.64s\" for task \"%s\"; valid models: %s", spec->model,
                       spec->task, list_str(ctx, api_models_names_json(ctx->models, spec->task)));
    }
    return API_OK;
}

static const char *const job_fields[] = {"task",        "model",           "tier",
                                         "priority",    "image_url",       "params",
                                         "deadline_ms", "idempotency_key", NULL};

int api_job_spec_from_json(struct api_ctx *ctx, struct api_req *r, json_t *body,
                           struct api_job_spec *spec, struct err *e)
{
    memset(spec, 0, sizeof(*spec));
    spec->params_json = "{}";
    spec->idem_key = r->idem_key;

    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int known = 0;
        for (int i = 0; job_fields[i]; i++)
            known |= strcmp(job_fields[i], key) == 0;
        if (!known)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_field",
                           "unknown field \"%.64s\"", key);
    }

    v = json_object_get(body, "task");
    if (v == NULL)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "missing_field", "missing field \"task\"");
    if (!json_is_string(v))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "field \"task\" must be a string");
    spec->task = json_string_value(v);

    v = json_object_get(body, "model");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "field \"model\" must be a string");
        spec->model = json_string_value(v);
    }
    int model_given = spec->model != NULL;
    if (check_task_model(ctx, spec, e) != API_OK)
        return API_ERR_INVALID;

    if (api_job_tier(r, body, &spec->tier, e) != API_OK)
        return API_ERR_INVALID;

    v = json_object_get(body, "params");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_object(v))
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "field \"params\" must be an object");
        char *s = json_dumps(v, JSON_COMPACT);
        spec->params_json = s ? ar_strdup(ctx->ar, s) : NULL;
        free(s);
        if (spec->params_json == NULL)
            return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory", "could not copy params");
    }

    if (strcmp(spec->task, API_ANALYZE_TASK) == 0 && api_analyze_params(ctx, spec, e) != API_OK)
        return API_ERR_INVALID;
    if (strcmp(spec->task, API_UPSCALE_TASK) == 0 &&
        api_upscale_params(ctx, spec, model_given, e) != API_OK)
        return API_ERR_INVALID;

    v = json_object_get(body, "deadline_ms");
    if (v != NULL && !json_is_null(v)) {
        if (!is_int(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > 7LL * 24 * 3600 * 1000)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "field \"deadline_ms\" must be an integer of 1..604800000 "
                           "(milliseconds from now)");
        spec->deadline_ms = json_integer_value(v);
    }

    v = json_object_get(body, "idempotency_key");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > JQ_IDEMPOTENCY_KEY_MAX)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "field \"idempotency_key\" must be a string of 1..%d bytes",
                           JQ_IDEMPOTENCY_KEY_MAX);
        if (spec->idem_key == NULL)
            spec->idem_key = json_string_value(v);
    }

    v = json_object_get(body, "image_url");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "field \"image_url\" must be a string (a data url)");
        if (api_image_from_data_url(ctx, json_string_value(v), json_string_length(v), &spec->image,
                                    e) != API_OK)
            return API_ERR_INVALID;
    }
    return API_OK;
}

int api_job_enqueue(struct api_ctx *ctx, struct api_req *r, const struct api_job_spec *spec,
                    int64_t batch_id, int64_t *job_id, int *existed, struct err *e)
{
    /* a batch may give each image its own params: resolve them too */
    struct api_job_spec as;
    if (strcmp(spec->task, API_ANALYZE_TASK) == 0) {
        as = *spec;
        if (api_analyze_params(ctx, &as, e) != API_OK)
            return JQ_ERR_INVALID;
        spec = &as;
    }
    /* every route's upscale job, with its image now known (form or URL) */
    if (strcmp(spec->task, API_UPSCALE_TASK) == 0 && api_upscale_check_size(ctx, spec, e) != API_OK)
        return JQ_ERR_INVALID;
    struct jq_new_job j;
    memset(&j, 0, sizeof(j));
    j.tenant_id = r->tenant.id;
    j.task = spec->task;
    j.model = spec->model;
    j.tier = spec->tier;
    j.params_json = spec->params_json;
    j.input = spec->image.data;
    j.input_len = spec->image.len;
    j.input_type = spec->image.mime;
    j.idempotency_key = spec->idem_key;
    j.batch_id = batch_id;
    j.deadline_ms = (int)spec->deadline_ms;
    j.thumb = spec->image.thumb;
    j.thumb_len = spec->image.thumb ? spec->image.thumb_len : 0;
    *existed = 0;
    if (r->auth_deferred)
        j.auth_key = r->auth_key; /* the statement checks it (api_db.c) */
    int rc;
    j.wait_channel = batch_id == 0 ? spec->wait_channel : NULL;
    if (batch_id != 0 || j.wait_channel != NULL) {
        /* a batch's job: inside the batch's transaction, on its
         * connection; a waited-for job: on the connection that LISTENs on
         * its wait channel (a group leader would write another's) */
        rc = jq_job_enqueue(ctx->db, &j, job_id, existed, e);
    } else {
        /* shared with concurrent requests (api_group.c) */
        struct jq_row row;
        memset(&row, 0, sizeof(row));
        row.job = &j;
        rc = api_group_enqueue(ctx->db, &row);
        if (rc != JQ_OK && e != NULL)
            *e = row.e;
        *job_id = row.id;
        *existed = row.existed;
    }
    if (j.auth_key != NULL && rc == JQ_OK)
        r->auth_deferred = 0;
    else if (j.auth_key != NULL && rc == JQ_ERR_NOT_FOUND && e != NULL && e->cls == ERR_AUTH)
        api_auth_refused(r);
    /* a long route's thumbnail is made after the reply (api_after_reply) */
    if (rc == JQ_OK && !*existed && spec->image.thumb == NULL &&
        spec->image.thumb_src.rgb != NULL) {
        struct api_later *l = ar_calloc(ctx->ar, 1, sizeof(*l));
        if (l != NULL) {
            l->tenant_id = r->tenant.id;
            l->job_id = *job_id;
            l->thumb_src = spec->image.thumb_src;
            ctx->later = l;
        }
    }
    return rc;
}

void api_after_reply(struct api_ctx *ctx)
{
    struct api_later *l = ctx->later;
    ctx->later = NULL;
    if (l == NULL || ctx->db == NULL)
        return;
    struct err te;
    err_clear(&te);
    uint8_t *t = NULL;
    size_t n = 0;
    if (thumb_webp(&l->thumb_src, ctx->lim->thumb_side, API_THUMB_QUALITY, &t, &n, &te) !=
        THUMB_OK) {
        log_warn("job %lld: no thumbnail: %s", (long long)l->job_id, te.msg);
        return;
    }
    char tn[24], id[24];
    const char *v[3] = {pgx_i64(tn, l->tenant_id), pgx_i64(id, l->job_id), (const char *)t};
    const int lens[3] = {0, 0, (int)n}, fmts[3] = {0, 0, 1};
    if (pgx_exec(ctx->db, SQLQ_DASH_THUMB_PUT, 3, v, lens, fmts, 0, &te) == NULL)
        log_warn("job %lld: thumbnail not stored: %s", (long long)l->job_id, te.msg);
    pgx_reset(ctx->db);
    thumb_free(t);
}

int api_job_enqueue_group(struct api_ctx *ctx, struct api_req *r, const struct api_job_spec *spec,
                          const struct api_image *images, const char *const *params, int n,
                          int64_t batch_id, int64_t *ids, struct err *e)
{
    struct jq_new_job *jobs = ar_calloc(ctx->ar, (size_t)n, sizeof(*jobs));
    const uint8_t **thumbs = ar_calloc(ctx->ar, (size_t)n, sizeof(*thumbs));
    size_t *tlens = ar_calloc(ctx->ar, (size_t)n, sizeof(*tlens));
    if (jobs == NULL || thumbs == NULL || tlens == NULL)
        return err_set(e, JQ_ERR, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate the group of %d jobs", n);
    for (int i = 0; i < n; i++) {
        /* analyze resolves each image's params to its model list */
        struct api_job_spec js = *spec;
        js.image = images[i];
        if (params != NULL && params[i] != NULL)
            js.params_json = params[i];
        if (strcmp(js.task, API_ANALYZE_TASK) == 0 && api_analyze_params(ctx, &js, e) != API_OK)
            return JQ_ERR_INVALID;
        struct jq_new_job *j = &jobs[i];
        j->tenant_id = r->tenant.id;
        j->task = js.task;
        j->model = js.model;
        j->tier = js.tier;
        j->params_json = js.params_json;
        j->input = js.image.data;
        j->input_len = js.image.len;
        j->input_type = js.image.mime;
        j->batch_id = batch_id;
        j->deadline_ms = (int)js.deadline_ms;
        thumbs[i] = js.image.thumb;
        tlens[i] = js.image.thumb_len;
    }
    return jq_job_enqueue_many(ctx->db, jobs, n, thumbs, tlens, ids, e);
}

int api_req_body(struct api_ctx *ctx, struct api_req *r, json_t **body, struct api_image *fimg,
                 int *nfimg, struct err *e)
{
    memset(fimg, 0, sizeof(*fimg));
    *nfimg = 0;
    if (api_req_ctype_is(r, "multipart/form-data"))
        return api_form_to_json(ctx, r, body, fimg, 1, nfimg, e);
    if (!api_req_ctype_is(r, "application/json"))
        return err_set(e, API_ERR_INVALID, ERR_UNSUPPORTED, "unsupported_media_type",
                       "expected application/json or multipart/form-data, got \"%.64s\"",
                       r->content_type[0] ? r->content_type : "(none)");
    *body = api_req_json(r, ctx->ar, e);
    return *body != NULL ? API_OK : API_ERR;
}

int api_form_to_json(struct api_ctx *ctx, struct api_req *r, json_t **body,
                     struct api_image *images, int max_images, int *nimages, struct err *e)
{
    struct api_part *parts;
    int n;
    if (api_multipart_parse(r->content_type, r->body, r->body_len, ctx->ar, ctx->lim->max_parts,
                            &parts, &n, e) != API_OK)
        return API_ERR_INVALID;
    json_t *o = api_json_own(ctx->ar, json_object());
    if (o == NULL)
        return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory",
                       "could not build the form object");
    *nimages = 0;
    for (int i = 0; i < n; i++) {
        struct api_part *p = &parts[i];
        if (strcmp(p->name, "image") == 0 || strcmp(p->name, "images") == 0 ||
            strcmp(p->name, "file") == 0) {
            if (*nimages >= max_images)
                return err_set(e, API_ERR_TOO_LARGE, ERR_TOO_LARGE, "too_many_images",
                               "more than %d images in one request", max_images);
            if (api_image_from_bytes(ctx, (const uint8_t *)p->data, p->len, &images[*nimages], e) !=
                API_OK)
                return API_ERR_INVALID;
            (*nimages)++;
            continue;
        }
        if (memchr(p->data, '\0', p->len) != NULL || p->len > 65536)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "form field \"%.64s\" is not text or longer than 65536 bytes", p->name);
        json_t *v;
        if (strcmp(p->name, "params") == 0) {
            json_error_t je;
            v = json_loadb(p->data, p->len, JSON_REJECT_DUPLICATES, &je);
            if (v == NULL)
                return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_json",
                               "form field \"params\" is not json: %s", je.text);
        } else if (strcmp(p->name, "deadline_ms") == 0) {
            char buf[32];
            if (p->len == 0 || p->len >= sizeof(buf))
                return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                               "form field \"deadline_ms\" must be an integer");
            memcpy(buf, p->data, p->len);
            buf[p->len] = '\0';
            char *end;
            long long x = strtoll(buf, &end, 10);
            if (*end != '\0')
                return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                               "form field \"deadline_ms\" must be an integer");
            v = json_integer(x);
        } else {
            v = json_stringn(p->data, p->len);
            if (v == NULL)
                return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                               "form field \"%.64s\" is not valid utf-8", p->name);
        }
        if (json_object_get(o, p->name) != NULL) {
            json_decref(v);
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "form field \"%.64s\" given twice", p->name);
        }
        json_object_set_new(o, p->name, v);
    }
    *body = o;
    return API_OK;
}
