/*
 * wk_eng_md.c: Moondream 2 jobs in vkv-worker (see wk.h): the job's image
 * decoded under the worker's limits, its params turned into an mdt_req
 * (task, length, question, reasoning, object, settings.temperature,
 * top_p, max_tokens, max_objects), the result JSON of mdt_run returned
 * as the job result.  The model keeps the last image, so a question after
 * a caption of the same photo skips the vision encoder.  Every generated
 * token goes through the item's step hook (wk_main publishes the text and
 * asks whether a higher tier waits); a generation stopped there ends
 * WK_SUSPENDED with its answer's ids, which the next run continues from.
 */
#include "worker/wk.h"

#include "common/cm.h"
#include "common/img.h"
#include "vlm/md_task.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int wk_md_load(struct rt_device *dev, const char *dir, const char *weights, size_t limit,
               void **handle, size_t *bytes, struct err *e)
{
    int wt = weights ? rt_tf_wtype_parse(weights) : RT_TF_I8;
    if (wt < 0)
        return err_set(e, WK_ERR, ERR_INTERNAL, "model_unavailable",
                       "moondream2: weights \"%s\" unknown", weights);
    struct mdt_model *m = NULL;
    struct err le;
    err_clear(&le);
    int rc = mdt_open(dev, dir, wt, &m, &le);
    if (rc == RT_ERR_OOM)
        return WK_ERR_OOM;
    if (rc == RT_ERR_DEVICE_LOST)
        return WK_ERR_DEVICE_LOST;
    if (rc < 0)
        return err_set(e, WK_ERR, ERR_INTERNAL, "model_unavailable", "cannot load %s: %s", dir,
                       le.msg);
    /* the weights are measured once loaded: over the limit, they go at once
     * and residency treats it as out of memory (evict, retry) */
    if (mdt_limit(m, limit, &le) < 0) {
        mdt_close(m);
        return WK_ERR_OOM;
    }
    *handle = m;
    *bytes = (size_t)mdt_device_bytes(m);
    return WK_OK;
}

void wk_md_unload(void *handle)
{
    mdt_close(handle);
}

size_t wk_md_bytes(void *handle)
{
    return (size_t)mdt_device_bytes(handle);
}

/* mdt_req.on_step: the item's own hook (wk_main: progress, preemption) */
static int md_step(void *ud, const char *text, size_t len, const uint32_t *ids, uint32_t n)
{
    struct wk_item *it = ud;
    return it->step(it->step_arg, it, text, len, ids, n);
}

/* params.resume_tokens (jq_job_suspend): a new array of *n ids, or NULL */
static uint32_t *resume_ids(json_t *p, uint32_t *n)
{
    json_t *a = json_object_get(p, "resume_tokens");
    *n = 0;
    size_t k = json_array_size(a);
    if (k == 0 || k > 4096)
        return NULL;
    uint32_t *v = malloc(k * sizeof(*v));
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < k; i++) {
        json_t *x = json_array_get(a, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 ||
            json_integer_value(x) > (json_int_t)UINT32_MAX) {
            free(v);
            return NULL; /* not ours: start over */
        }
        v[i] = (uint32_t)json_integer_value(x);
    }
    *n = (uint32_t)k;
    return v;
}

/* a setting within [lo, hi], else dflt: POST /v1/jobs passes params that
 * /v1/caption would have refused, and a cast of an out-of-range double is
 * undefined */
static double num(json_t *o, const char *k, double dflt, double lo, double hi)
{
    json_t *v = json_object_get(o, k);
    double x = json_is_number(v) ? json_number_value(v) : dflt;
    return x >= lo && x <= hi ? x : dflt;
}

int wk_md_batch_max(void)
{
    return MDT_MAX_BATCH;
}

/* one job's request: its decoded image and params (kept alive for r) */
struct md_job {
    struct wk_item *it;
    struct img im;
    json_t *p;
    struct mdt_req r;
};

/* decodes the job's image and reads its params; 0, or <0 with the item's
 * status and error set (its own input) */
static int md_job_read(struct md_job *j, const void *img_limits)
{
    struct wk_item *it = j->it;
    double t0 = cm_now_ms();
    struct err ie;
    err_clear(&ie);
    j->p = json_loads(it->params_json ? it->params_json : "{}", 0, NULL);
    if (it->input == NULL ||
        img_decode(it->input, it->input_len, img_limits, NULL, &j->im, NULL, &ie) != IMG_OK) {
        it->status = WK_ERR_INPUT;
        if (it->input == NULL)
            err_set(&it->err, WK_ERR_INPUT, ERR_INVALID, "invalid_image", "job has no input image");
        else
            it->err = ie;
        return -1;
    }
    it->decode_ms = cm_now_ms() - t0;
    json_t *p = j->p, *s = json_object_get(p, "settings");
    struct mdt_req *r = &j->r;
    r->task = json_string_value(json_object_get(p, "task"));
    r->length = json_string_value(json_object_get(p, "length"));
    r->question = json_string_value(json_object_get(p, "question"));
    r->object = json_string_value(json_object_get(p, "object"));
    r->reasoning = json_is_true(json_object_get(p, "reasoning"));
    /* the published defaults: temperature 0.5, top_p 0.3, 768 tokens, 50 objects */
    r->temperature = (float)num(s, "temperature", 0.5, 0, 2);
    r->top_p = (float)num(s, "top_p", 0.3, 0, 1);
    r->max_tokens = (uint32_t)num(s, "max_tokens", 768, 1, 4096);
    r->max_objects = (uint32_t)num(s, "max_objects", 50, 1, 100);
    r->seed = (uint64_t)it->job_id;
    if (it->step != NULL) {
        r->on_step = md_step;
        r->ud = it;
    }
    r->resume = resume_ids(p, &r->n_resume);
    return 0;
}

static void md_job_free(struct md_job *j)
{
    img_free(&j->im);
    free((void *)j->r.resume);
    json_decref(j->p);
}

/* the item's outcome from its result (taken) or error */
static void md_outcome(struct wk_item *it, json_t *res, const struct err *ie, int n_batch)
{
    if (res == NULL) {
        it->status = WK_ERR_INPUT;
        it->err = *ie;
        return;
    }
    const char *fin = json_string_value(json_object_get(res, "finish_reason"));
    if (fin != NULL && strcmp(fin, "suspended") == 0) {
        /* given way at a token boundary: the answer so far continues
         * later (a reasoning starts over) */
        json_t *tk = json_object_get(res, "tokens");
        if (json_object_get(res, "reasoning") == NULL && json_array_size(tk) > 0)
            it->resume_json = json_dumps(tk, JSON_COMPACT);
        json_decref(res);
        it->status = WK_SUSPENDED;
        err_set(&it->err, WK_SUSPENDED, ERR_UNAVAILABLE, "suspended", "gave way to a higher tier");
        return;
    }
    double t2 = cm_now_ms();
    it->result_json = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    CM_ASSERT(it->result_json != NULL);
    it->status = WK_OK;
    it->batch_size = n_batch;
    it->post_ms = cm_now_ms() - t2;
}

int wk_md_run(void *handle, const void *img_limits, int n, struct wk_item *items, struct err *e)
{
    struct mdt_model *m = handle;
    /* in groups of up to MDT_MAX_BATCH: the captions and queries of a group
     * decode together (mdt_run_batch), the rest one by one */
    for (int g0 = 0; g0 < n; g0 += MDT_MAX_BATCH) {
        int gn = n - g0 < MDT_MAX_BATCH ? n - g0 : MDT_MAX_BATCH, k = 0;
        struct md_job jobs[MDT_MAX_BATCH];
        struct mdt_image img[MDT_MAX_BATCH];
        struct mdt_req req[MDT_MAX_BATCH];
        json_t *res[MDT_MAX_BATCH];
        struct err errs[MDT_MAX_BATCH];
        memset(jobs, 0, sizeof(jobs));
        for (int i = 0; i < gn; i++) {
            struct md_job *j = &jobs[k];
            j->it = &items[g0 + i];
            if (md_job_read(j, img_limits) < 0) {
                md_job_free(j);
                memset(j, 0, sizeof(*j));
                continue;
            }
            img[k] = (struct mdt_image){j->im.rgb, j->im.w, j->im.h};
            req[k++] = j->r;
        }
        struct err ie;
        err_clear(&ie);
        double t1 = cm_now_ms();
        int rc = k > 0 ? mdt_run_batch(m, k, img, req, res, errs, &ie) : 0;
        double dt = cm_now_ms() - t1;
        int nb = 0;
        for (int i = 0; i < k && rc == 0; i++)
            nb += res[i] != NULL &&
                  json_integer_value(json_object_get(json_object_get(res[i], "metrics"), "batch")) >
                      1;
        for (int i = 0; i < k; i++) {
            jobs[i].it->infer_ms = dt;
            if (rc == 0)
                md_outcome(jobs[i].it, res[i], &errs[i], nb > 1 ? nb : 1);
            md_job_free(&jobs[i]);
        }
        if (rc == RT_ERR_OOM || rc == RT_ERR_DEVICE_LOST) {
            *e = ie;
            for (int x = 0; x < n; x++) {
                free(items[x].result_json);
                items[x].result_json = NULL;
                free(items[x].resume_json);
                items[x].resume_json = NULL;
                items[x].status = WK_OK;
            }
            return rc == RT_ERR_OOM ? WK_ERR_OOM : WK_ERR_DEVICE_LOST;
        }
        if (rc < 0) /* not a request's own: every request of the group */
            for (int i = 0; i < k; i++) {
                jobs[i].it->status = WK_ERR;
                jobs[i].it->err = ie;
            }
    }
    return WK_OK;
}
