/*
 * md_batch_test.c: batched decoding (mdt_run_batch, rt_dec_generate_batch)
 * gives each request what mdt_run gives it alone:
 *   md_batch_test MODEL_DIR [WEIGHTS]
 * on a model directory (the reduced random-weight Moondream 2 of suite 61,
 * with its tokenizer): captions of three lengths and a query on three
 * synthetic photos of different sizes, greedy, with limits that end the
 * sequences at different steps (the batch shrinks), a resumed caption, and
 * a detect that is not decoded in the batch; every text, token list and
 * finish_reason equal to the one-by-one run's.
 */
#include "tests/lib/th.h"
#include "vlm/md_task.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *env_get(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

/* a device with the runtime's settings from the environment (RT_VALIDATE, ...) */
static int env_device_create(struct rt_device **dev, struct err *e)
{
    struct rt_device_opts o = rt_device_opts_default();
    int rc = rt_device_opts_read(&o, env_get, NULL, e);
    return rc < 0 ? rc : rt_device_create(&o, dev, e);
}

/* a photo-like pattern of w x h, different per seed */
static uint8_t *pattern(int w, int h, int seed)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; p != NULL && y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(x * (3 + seed) + y);
            q[1] = (uint8_t)((x ^ y) * (seed + 1));
            q[2] = (uint8_t)(((x / 7 + y / 5 + seed) & 1) * 200 + seed * 17);
        }
    return p;
}

/* the parts of a result a batch must reproduce */
static char *essence(json_t *r)
{
    json_t *o = json_object();
    const char *keys[] = {"caption", "answer", "tokens", "finish_reason", "objects"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (json_object_get(r, keys[i]) != NULL)
            json_object_set(o, keys[i], json_object_get(r, keys[i]));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: md_batch_test MODEL_DIR [f32|f16|i8|q4]\n");
        return 2;
    }
    struct err e = {0};
    struct rt_device *dev = NULL;
    TH_CHECK(env_device_create(&dev, &e) == 0, "device: %s", e.msg);
    if (dev == NULL)
        return th_done();
    int wt = argc > 2 ? rt_tf_wtype_parse(argv[2]) : RT_TF_F32;
    struct mdt_model *m = NULL;
    TH_CHECK(mdt_open(dev, argv[1], wt, &m, &e) == 0, "model: %s", e.msg);
    if (m == NULL)
        return th_done();

    enum { N = 7 };
    uint8_t *px[3] = {pattern(97, 61, 1), pattern(64, 64, 2), pattern(150, 40, 3)};
    struct mdt_image img[N] = {{px[0], 97, 61}, {px[1], 64, 64},  {px[2], 150, 40}, {px[0], 97, 61},
                               {px[1], 64, 64}, {px[2], 150, 40}, {px[1], 64, 64}};
    static const uint32_t resume[3] = {7, 11, 13};
    struct mdt_req r[N];
    memset(r, 0, sizeof(r));
    const char *len[N] = {"short", "normal", "long", "normal", NULL, "short", NULL};
    const uint32_t max[N] = {5, 12, 9, 3, 7, 12, 0};
    for (int i = 0; i < N; i++) {
        r[i].task = "caption";
        r[i].length = len[i];
        r[i].temperature = 0;
        r[i].top_p = 1;
        r[i].max_tokens = max[i];
        r[i].seed = (uint64_t)i + 1;
    }
    r[4].task = "query", r[4].question = "What is it?";
    r[5].resume = resume, r[5].n_resume = 3; /* continues after 3 tokens */
    r[6].task = "detect", r[6].object = "A", r[6].max_objects = 2;

    /* one by one (the kept image changes each time: every image encoded) */
    char *alone[N] = {0};
    for (int i = 0; i < N; i++) {
        json_t *res = NULL;
        err_clear(&e);
        int rc = mdt_run(m, img[i].rgb, img[i].w, img[i].h, &r[i], &res, &e);
        TH_CHECK(rc == 0, "request %d alone: %s", i, e.msg);
        alone[i] = res ? essence(res) : NULL;
        json_decref(res);
    }
    /* the same requests in one batch, and a batch of two */
    json_t *res[N] = {0};
    struct err errs[N];
    err_clear(&e);
    int rc = mdt_run_batch(m, N, img, r, res, errs, &e);
    TH_CHECK(rc == 0, "batch of %d: %s", N, e.msg);
    int same = 0, batched = 0;
    for (int i = 0; i < N; i++) {
        char *b = res[i] ? essence(res[i]) : NULL;
        int ok = b != NULL && alone[i] != NULL && strcmp(b, alone[i]) == 0;
        same += ok;
        if (!ok)
            printf("# request %d: alone %s, batched %s (%s)\n", i, alone[i] ? alone[i] : "-",
                   b ? b : "-", errs[i].msg);
        json_t *mt = json_object_get(res[i], "metrics");
        if (json_integer_value(json_object_get(mt, "batch")) == 6)
            batched++;
        free(b);
        json_decref(res[i]);
    }
    TH_EQ_INT(same, N, "every batched result equals its one-by-one result");
    TH_EQ_INT(batched, 6, "the six captions and queries decoded together (metrics.batch 6)");
    err_clear(&e);
    rc = mdt_run_batch(m, 2, img + 1, r + 1, res, errs, &e);
    TH_CHECK(rc == 0 && res[0] != NULL && res[1] != NULL, "batch of 2: %s", e.msg);
    for (int i = 0; i < 2 && rc == 0; i++) {
        char *b = res[i] ? essence(res[i]) : NULL;
        TH_CHECK(b != NULL && strcmp(b, alone[i + 1]) == 0, "batch of 2, request %d: %s", i,
                 b ? b : "-");
        free(b);
        json_decref(res[i]);
    }
    /* a request that fails fails alone */
    struct mdt_req bad[2] = {r[0], r[1]};
    bad[1].length = "huge";
    err_clear(&e);
    rc = mdt_run_batch(m, 2, img, bad, res, errs, &e);
    TH_CHECK(rc == 0 && res[1] == NULL && strcmp(errs[1].code, "invalid_field") == 0,
             "a bad request in a batch: its own error (%s)", errs[1].code);
    char *b0 = res[0] ? essence(res[0]) : NULL;
    TH_CHECK(b0 != NULL && strcmp(b0, alone[0]) == 0, "the other request of it is answered");
    free(b0);
    json_decref(res[0]);
    json_decref(res[1]);

    TH_EQ_INT(rt_device_validation_errors(dev), 0, "no validation errors");
    for (int i = 0; i < N; i++)
        free(alone[i]);
    for (int i = 0; i < 3; i++)
        free(px[i]);
    mdt_close(m);
    rt_device_destroy(dev);
    return th_done();
}
