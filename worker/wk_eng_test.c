/*
 * wk_eng_test.c: the test engine of vkv-worker (`--engine test`).
 *
 * It has no device: a loaded model "holds" model_mb megabytes (plus one
 * per image of its batch) of an imaginary device of device_mb, so the
 * residency and out-of-memory paths behave as with a GPU; running a batch
 * sleeps delay_ms (one sleep per batch, so batching pays off as on a GPU)
 * and answers {"model","task":"test","input_bytes","fnv1a"} for each
 * image.  Tests use it where they must hold a job mid-run for a known time
 * (kill -9, SIGTERM, cancel) independently of lavapipe's speed.  It is
 * chosen only by the command line, never as a fallback.
 * See worker/README.md.
 */
#include "worker/wk.h"

#include "common/cm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct test_eng {
    int delay_ms;
    size_t model_bytes, per_image, device_bytes, used;
};

struct test_model {
    char name[WK_MODEL_NAME_LEN];
    size_t bytes;
    int max_batch;
};

static int test_load(void *ctx, const char *model, int max_batch, size_t limit, void **handle,
                     size_t *bytes, struct err *e)
{
    struct test_eng *t = ctx;
    (void)e;
    size_t need = t->model_bytes + t->per_image * (size_t)max_batch;
    if ((limit != 0 && need > limit) || t->used + need > t->device_bytes)
        return WK_ERR_OOM;
    struct test_model *m = cm_xcalloc(1, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", model);
    m->bytes = need;
    m->max_batch = max_batch;
    t->used += need;
    *handle = m;
    *bytes = need;
    return WK_OK;
}

static void test_unload(void *ctx, void *handle)
{
    struct test_eng *t = ctx;
    struct test_model *m = handle;
    if (m == NULL)
        return;
    t->used -= m->bytes;
    free(m);
}

static int test_run(void *ctx, void *handle, int n, struct wk_item *items, struct err *e)
{
    struct test_eng *t = ctx;
    struct test_model *m = handle;
    if (n > m->max_batch)
        return err_set(e, WK_ERR, ERR_INTERNAL, "internal", "batch %d over the loaded %d", n,
                       m->max_batch);
    double t0 = cm_now_ms();
    struct timespec ts = {t->delay_ms / 1000, (long)(t->delay_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    double infer = cm_now_ms() - t0;
    for (int i = 0; i < n; i++) {
        struct wk_item *it = &items[i];
        double p0 = cm_now_ms();
        if (it->rgb != NULL) {
            /* decoded pixels (wk_analyze): the hash of the pixels */
            uint32_t h = 2166136261u;
            size_t len = (size_t)it->rgb_w * (size_t)it->rgb_h * 3;
            for (size_t k = 0; k < len; k++)
                h = (h ^ it->rgb[k]) * 16777619u;
            char buf[256];
            snprintf(buf, sizeof(buf),
                     "{\"model\":\"%s\",\"task\":\"test\",\"pixels\":%zu,\"fnv1a\":%u}", m->name,
                     len, h);
            it->result_json = cm_xstrdup(buf);
            it->status = WK_OK;
            it->infer_ms = infer;
            it->post_ms = cm_now_ms() - p0;
            continue;
        }
        if (it->input == NULL || it->input_len == 0) {
            it->status = WK_ERR_INPUT;
            err_set(&it->err, WK_ERR_INPUT, ERR_INVALID, "invalid_image",
                    "invalid image: empty input");
            continue;
        }
        uint32_t h = 2166136261u;
        for (size_t k = 0; k < it->input_len; k++)
            h = (h ^ it->input[k]) * 16777619u;
        char buf[256];
        snprintf(buf, sizeof(buf),
                 "{\"model\":\"%s\",\"task\":\"test\",\"input_bytes\":%zu,\"fnv1a\":%u}", m->name,
                 it->input_len, h);
        it->result_json = cm_xstrdup(buf);
        it->status = WK_OK;
        it->infer_ms = infer;
        it->post_ms = cm_now_ms() - p0;
    }
    return WK_OK;
}

static size_t test_used(void *ctx)
{
    return ((struct test_eng *)ctx)->used;
}

static const struct wk_engine_ops test_ops = {test_load, test_unload, test_run, test_used, NULL};

static void test_devinfo(void *ctx, struct wk_devinfo *d)
{
    struct test_eng *t = ctx;
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "test engine (no device)");
    snprintf(d->driver, sizeof(d->driver), "vkv-worker --engine test");
    snprintf(d->type, sizeof(d->type), "test");
    snprintf(d->uuid, sizeof(d->uuid), "00000000-0000-0000-0000-000000000000");
    d->vram_total = t->device_bytes;
    d->heap_usage = t->used;
}

static void test_destroy(void *ctx)
{
    free(ctx);
}

int wk_eng_test_init(struct wk_engine *eng, const char *const *names, int n, int batch,
                     int delay_ms, int model_mb, int device_mb, struct err *e)
{
    if (n < 1 || n > WK_MAX_MODELS)
        return err_set(e, WK_ERR, ERR_INVALID, "invalid_config",
                       "invalid number of test models: %d", n);
    memset(eng, 0, sizeof(*eng));
    struct test_eng *t = cm_xcalloc(1, sizeof(*t));
    t->delay_ms = delay_ms;
    t->model_bytes = (size_t)model_mb << 20;
    t->per_image = (size_t)1 << 20;
    t->device_bytes = (size_t)device_mb << 20;
    eng->ops = &test_ops;
    eng->ctx = t;
    eng->kind = "test";
    eng->devinfo = test_devinfo;
    eng->destroy = test_destroy;
    for (int i = 0; i < n; i++) {
        if (strlen(names[i]) == 0 || strlen(names[i]) >= WK_MODEL_NAME_LEN) {
            free(t);
            return err_set(e, WK_ERR, ERR_INVALID, "invalid_config",
                           "invalid test model name: \"%s\"", names[i]);
        }
        snprintf(eng->models[i], WK_MODEL_NAME_LEN, "%s", names[i]);
        eng->model_batch[i] = batch;
    }
    eng->n_models = n;
    return WK_OK;
}
