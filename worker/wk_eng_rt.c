/*
 * wk_eng_rt.c: the Vulkan engine of vkv-worker, over the runtime's task
 * layer (tasks/rt_task.h): one rt_device per process, one
 * rt_task_model per resident model.
 *
 * Registration: every manifest in VKV_MODELS_DIR that the one manifest
 * reader accepts (tasks/rt_manifest.h, the rule vkv-api applies too), that
 * is not "serve": false, whose task the runtime runs (classify,
 * detect_faces, detect, segment, faces, ocr, tag, upscale: wk_eng_up.c) or whose format
 * is moondream2, and whose fetched files are in VKV_MODEL_CACHE/<name>/ (for
 * a pipeline, the folders of its "parts") is a model this worker claims jobs
 * for; its batch limit is the manifest's "batch_limit" (capped by
 * VKV_WORKER_BATCH).
 *
 * A batch: every image is decoded on the CPU (common/img.h, the configured
 * limits; a bad image fails only its own job), then the decoded images run
 * as one rt_task_run call, which resizes and normalises them on the device,
 * runs the model and turns the outputs into the result JSON `vkv run`
 * prints.  Timings: decode_ms is the CPU decode of that image; infer_ms is
 * the whole rt_task_run call (device preprocessing + inference + the host
 * decode of the outputs, which the task layer does in one call); post_ms is
 * the JSON serialisation of that image's result.  Status mapping:
 * RT_ERR_OOM -> WK_ERR_OOM (the residency policy evicts/halves),
 * RT_ERR_DEVICE_LOST -> WK_ERR_DEVICE_LOST (the process exits), RT_ERR_TIMEOUT
 * -> a transient error (the jobs are requeued), anything else fails the
 * batch's jobs with the runtime's message.
 * See worker/README.md.
 */
#include "worker/wk.h"

#include "common/cfg.h"
#include "common/cm.h"
#include "common/img.h"
#include "common/log.h"
#include "runtime/rt.h"
#include "tasks/rt_manifest.h"
#include "tasks/rt_task.h"
#include "tasks/rt_task_upscale.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* a resident model: a task-layer model or Moondream 2 (wk_eng_md.c) */
struct rte_handle {
    struct rt_task_model *m;
    void *md;
};

struct rt_eng {
    struct rt_device *dev;
    char manifests[1024];
    char cache[1024];
    struct img_limits lim;
    size_t max_result; /* VKV_MAX_RESULT_BYTES: an image result's size */
};

static int map_rt(int rc)
{
    switch (rc) {
    case RT_OK:
        return WK_OK;
    case RT_ERR_OOM:
        return WK_ERR_OOM;
    case RT_ERR_DEVICE_LOST:
        return WK_ERR_DEVICE_LOST;
    default:
        return WK_ERR;
    }
}

static int rte_load(void *ctx, const char *model, int max_batch, size_t limit, void **handle,
                    size_t *bytes, struct err *e)
{
    struct rt_eng *r = ctx;
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s.json", r->manifests, model);
    struct rt_manifest man;
    struct err me;
    err_clear(&me);
    if (rt_manifest_read(path, &man, &me) < 0)
        return err_set(e, WK_ERR, ERR_INTERNAL, "model_unavailable", "cannot load model %s: %s",
                       model, me.msg);
    if (strcmp(man.format, "moondream2") == 0) {
        char dir[2048];
        snprintf(dir, sizeof(dir), "%s/%s", r->cache, model);
        void *md = NULL;
        int w = wk_md_load(r->dev, dir, json_string_value(json_object_get(man.json, "weights")),
                           limit, &md, bytes, e);
        rt_manifest_clear(&man);
        if (w != WK_OK)
            return w;
        struct rte_handle *h = cm_xcalloc(1, sizeof(*h));
        h->md = md;
        *handle = h;
        return WK_OK;
    }
    rt_manifest_clear(&man);
    struct rt_task_opts o = rt_task_opts_default();
    o.max_batch = max_batch;
    o.models_dir = r->cache;
    o.max_device_bytes = limit;
    struct rt_task_model *m = NULL;
    struct err le;
    err_clear(&le);
    int rc = rt_task_model_load(r->dev, path, &o, &m, &le);
    if (rc != RT_OK) {
        int w = map_rt(rc);
        if (w == WK_ERR) {
            /* missing files, a bad manifest or an unsupported op will not
             * fix themselves: the jobs fail with the reason */
            err_set(e, WK_ERR, ERR_INTERNAL, "model_unavailable", "cannot load model %s: %s", model,
                    le.msg);
        }
        return w;
    }
    struct rte_handle *h = cm_xcalloc(1, sizeof(*h));
    h->m = m;
    *handle = h;
    *bytes = rt_task_model_bytes(m);
    return WK_OK;
}

static void rte_unload(void *ctx, void *handle)
{
    (void)ctx;
    struct rte_handle *h = handle;
    if (h == NULL)
        return;
    if (h->md != NULL)
        wk_md_unload(h->md);
    else
        rt_task_model_free(h->m);
    free(h);
}

/* runs imgs[0..n) of items idx[0..n); fills results; returns an rt status */
static int run_some(struct rt_task_model *m, int n, const struct rt_image *imgs,
                    struct wk_item **its, struct err *e)
{
    json_t *res[WK_MAX_BATCH];
    double t0 = cm_now_ms();
    int rc = rt_task_run(m, imgs, n, res, e);
    double infer = cm_now_ms() - t0;
    if (rc != RT_OK)
        return rc;
    for (int i = 0; i < n; i++) {
        double p0 = cm_now_ms();
        its[i]->result_json = json_dumps(res[i], JSON_COMPACT);
        json_decref(res[i]);
        CM_ASSERT(its[i]->result_json != NULL);
        its[i]->status = WK_OK;
        its[i]->infer_ms = infer;
        its[i]->post_ms = cm_now_ms() - p0;
    }
    return RT_OK;
}

static int rte_run(void *ctx, void *handle, int n, struct wk_item *items, struct err *e)
{
    struct rt_eng *r = ctx;
    struct rte_handle *h = handle;
    if (h->md != NULL)
        return wk_md_run(h->md, &r->lim, n, items, e);
    struct rt_task_model *m = h->m;
    if (rt_task_upscale_scale(m) > 0)
        return wk_up_run(m, &r->lim, r->max_result, n, items, e);
    struct img dec[WK_MAX_BATCH];
    struct rt_image imgs[WK_MAX_BATCH];
    struct wk_item *its[WK_MAX_BATCH];
    int k = 0;
    memset(dec, 0, sizeof(dec[0]) * (size_t)n);
    for (int i = 0; i < n; i++) {
        struct wk_item *it = &items[i];
        if (it->rgb != NULL) {
            /* decoded once by the caller (wk_analyze) */
            it->decode_ms = 0;
            imgs[k].rgb = it->rgb;
            imgs[k].w = it->rgb_w;
            imgs[k].h = it->rgb_h;
            its[k++] = it;
            continue;
        }
        double t0 = cm_now_ms();
        struct err de;
        err_clear(&de);
        int rc = img_decode(it->input, it->input_len, &r->lim, NULL, &dec[i], NULL, &de);
        it->decode_ms = cm_now_ms() - t0;
        if (it->input == NULL || rc != IMG_OK) {
            it->status = WK_ERR_INPUT;
            if (it->input == NULL)
                err_set(&it->err, WK_ERR_INPUT, ERR_INVALID, "invalid_image",
                        "job has no input image");
            else
                it->err = de;
            continue;
        }
        imgs[k].rgb = dec[i].rgb;
        imgs[k].w = dec[i].w;
        imgs[k].h = dec[i].h;
        its[k++] = it;
    }
    int rc = RT_OK;
    if (k > 0) {
        struct err re;
        err_clear(&re);
        rc = run_some(m, k, imgs, its, &re);
        if (rc == RT_ERR_INVALID || rc == RT_ERR_TOO_LARGE || rc == RT_UNSUPPORTED) {
            /* one bad image must not fail the others: run them alone */
            rc = RT_OK;
            for (int i = 0; i < k && rc == RT_OK; i++) {
                struct err ie;
                err_clear(&ie);
                int r1 = run_some(m, 1, &imgs[i], &its[i], &ie);
                if (r1 == RT_ERR_OOM || r1 == RT_ERR_DEVICE_LOST) {
                    rc = r1;
                    *e = ie;
                } else if (r1 != RT_OK) {
                    its[i]->status = WK_ERR_INPUT;
                    err_set(&its[i]->err, WK_ERR_INPUT, ERR_UNPROCESSABLE, "invalid_image",
                            "cannot run model %s on this image: %s", rt_task_model_name(m), ie.msg);
                }
            }
        } else if (rc != RT_OK) {
            *e = re;
            /* a fence that did not signal in VKV_RT_TIMEOUT_MS: the jobs
             * go back to the queue (a hung device ends as device lost) */
            if (rc == RT_ERR_TIMEOUT)
                e->transient = 1;
        }
    }
    for (int i = 0; i < n; i++)
        img_free(&dec[i]);
    if (rc != RT_OK) {
        /* nothing may stay half-filled: the caller retries or fails all */
        for (int i = 0; i < n; i++) {
            free(items[i].result_json);
            items[i].result_json = NULL;
            items[i].status = WK_OK;
        }
        return map_rt(rc);
    }
    return WK_OK;
}

static size_t rte_model_bytes(void *ctx, void *handle)
{
    (void)ctx;
    const struct rte_handle *h = handle;
    return h->md != NULL ? wk_md_bytes(h->md) : rt_task_model_bytes(h->m);
}

static const struct wk_engine_ops rte_ops = {rte_load, rte_unload, rte_run, NULL, rte_model_bytes};

static void rte_devinfo(void *ctx, struct wk_devinfo *d)
{
    struct rt_eng *r = ctx;
    const struct rt_caps *c = rt_device_caps(r->dev);
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", c->name);
    snprintf(d->driver, sizeof(d->driver), "%s", c->driver);
    snprintf(d->uuid, sizeof(d->uuid), "%s", c->uuid);
    snprintf(d->type, sizeof(d->type), "%s", c->type);
    d->vendor_id = c->vendor_id;
    d->device_id = c->device_id;
    d->index = c->index;
    d->vram_total = c->vram_bytes;
    d->has_budget = c->has_budget;
    d->heap_budget = c->budget_bytes;
    d->heap_usage = c->usage_bytes;
}

static void rte_destroy(void *ctx)
{
    struct rt_eng *r = ctx;
    rt_device_destroy(r->dev);
    free(r);
}

static int is_runnable_task(const char *task)
{
    return task != NULL &&
           (!strcmp(task, "classify") || !strcmp(task, "detect_faces") || !strcmp(task, "detect") ||
            !strcmp(task, "segment") || !strcmp(task, "faces") || !strcmp(task, "upscale") ||
            !strcmp(task, "ocr") || !strcmp(task, "tag"));
}

/*
 * Registers the runnable manifests of the models folder into eng, read by
 * the one manifest reader (tasks/rt_manifest.h) as the API reads them: a
 * refused manifest is logged with the reader's message, as vkv-api logs it.
 */
static void register_models(struct wk_engine *eng, struct rt_eng *r, int batch)
{
    struct rt_manifest_dir d;
    struct err e;
    err_clear(&e);
    if (rt_manifest_dir_read(r->manifests, &d, &e) < 0) {
        log_warn("%s", e.msg);
        return;
    }
    for (int i = 0; i < d.n_refused; i++)
        log_warn("model manifest refused: %s", d.refused[i].err.msg);
    for (int i = 0; i < d.n; i++) {
        const struct rt_manifest *m = &d.m[i];
        int md = strcmp(m->format, "moondream2") == 0;
        json_int_t bl = json_integer_value(json_object_get(m->json, "batch_limit"));
        char cache[2048];
        snprintf(cache, sizeof(cache), "%s/%s", r->cache, m->name);
        struct stat st;
        const json_t *parts = json_object_get(m->json, "parts");
        if (!strcmp(m->format, "pipeline") && json_is_object(parts)) {
            /* a pipeline (faces) has no files: it needs those of its parts */
            snprintf(cache, sizeof(cache), "%s", r->cache);
            const char *k;
            json_t *pv;
            json_object_foreach((json_t *)parts, k, pv)
            {
                char pc[2048];
                snprintf(pc, sizeof(pc), "%s/%s", r->cache,
                         json_string_value(pv) ? json_string_value(pv) : "");
                if (json_string_value(pv) == NULL || stat(pc, &st) != 0 || !S_ISDIR(st.st_mode))
                    snprintf(cache, sizeof(cache), "%s", pc);
            }
        }
        if (!m->serve) {
            log_info("model %s: \"serve\": false; not claimed", m->name);
        } else if (!md && (m->n_tasks != 1 || !is_runnable_task(m->tasks[0]))) {
            log_info("model %s: task %s not run by this worker", m->name, m->tasks[0]);
        } else if (strlen(m->name) >= WK_MODEL_NAME_LEN) {
            log_warn("model %s: name longer than %d characters; skipped", m->name,
                     WK_MODEL_NAME_LEN - 1);
        } else if (stat(cache, &st) != 0 || !S_ISDIR(st.st_mode)) {
            log_warn("model %s: files not fetched (%s missing: run make models); skipped", m->name,
                     cache);
        } else if (eng->n_models < WK_MAX_MODELS) {
            snprintf(eng->models[eng->n_models], WK_MODEL_NAME_LEN, "%s", m->name);
            /* Moondream 2: jobs decode together up to its "batch_limit"
             * (each one's image state takes device memory: default 1) */
            int mb = batch < wk_md_batch_max() ? batch : wk_md_batch_max();
            int b = md ? (bl > 0 && bl < mb ? (int)bl
                          : bl > 0          ? mb
                                            : 1)
                       : (bl > 0 && bl < batch ? (int)bl : batch);
            eng->model_gen[eng->n_models] = md;
            eng->model_batch[eng->n_models++] = b;
            log_info("model %s: task %s, batch limit %d", m->name, md ? "moondream2" : m->tasks[0],
                     b);
        }
    }
    rt_manifest_dir_free(&d);
}

/* the config table as the runtime's settings lookup (rt_device_opts_read) */
static const char *cfg_get(void *ctx, const char *name)
{
    (void)ctx;
    return cfg_str(name);
}

int wk_eng_rt_init(struct wk_engine *eng, const char *selector, const char *models_dir, int batch,
                   struct err *e)
{
    memset(eng, 0, sizeof(*eng));
    struct rt_eng *r = cm_xcalloc(1, sizeof(*r));
    struct err de;
    err_clear(&de);
    /* the runtime's device settings are rows of the config table */
    struct rt_device_opts dopt = rt_device_opts_default();
    int rc = rt_device_opts_read(&dopt, cfg_get, NULL, &de);
    dopt.selector = selector;
    if (rc == RT_OK)
        rc = rt_device_create(&dopt, &r->dev, &de);
    if (rc != RT_OK) {
        free(r);
        return err_set(e, WK_ERR, ERR_INTERNAL, "no_device",
                       "could not open Vulkan device \"%s\": %s", selector ? selector : "0",
                       de.msg);
    }
    snprintf(r->manifests, sizeof(r->manifests), "%s", models_dir);
    snprintf(r->cache, sizeof(r->cache), "%s", cfg_str("VKV_MODEL_CACHE"));
    cfg_img_limits(&r->lim);
    r->max_result = (size_t)cfg_int("VKV_MAX_RESULT_BYTES");
    eng->ops = &rte_ops;
    eng->ctx = r;
    eng->kind = "vulkan";
    eng->devinfo = rte_devinfo;
    eng->destroy = rte_destroy;
    register_models(eng, r, batch);
    return WK_OK;
}
