/*
 * worker_unit.c: the worker's residency manager and batch runner over a
 * fake engine whose device memory is a number, so out-of-memory at load and
 * at run, LRU eviction, batch halving and cancel checkpoints are exercised
 * without a GPU.  Run by tests/suites/50-worker.sh.
 */
#include "worker/wk.h"

#include "tests/lib/th.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the fake engine ---- */

struct fake_model {
    char name[32];
    int max_batch;
    size_t bytes;
};

struct fake {
    size_t device_total; /* the "device": loads beyond it fail with OOM */
    size_t device_used;
    size_t weights;       /* bytes of weights per model */
    size_t act_per_image; /* activation bytes per image of max_batch */
    int run_oom_above;    /* run fails with OOM when n > this (0 = never) */
    int run_oom_always;
    int lose_device_at_run; /* run number that loses the device (0 = never) */
    int runs, loads, unloads;
    int max_n_seen;
    int bad_input_job;     /* job id whose input is "corrupt" */
    int rgb_items;         /* items run from decoded pixels (wk_analyze) */
    int caption_items;     /* items asked for a caption, with the photo's bytes */
    char last_params[256]; /* params_json of the last item run with params */
};

static int fake_load(void *ctx, const char *model, int max_batch, size_t limit, void **handle,
                     size_t *bytes, struct err *e)
{
    struct fake *f = ctx;
    if (strcmp(model, "missing") == 0)
        return err_set(e, WK_ERR, ERR_NOT_FOUND, "unknown_model", "unknown model: \"%s\"", model);
    size_t need = f->weights + f->act_per_image * (size_t)max_batch;
    if (need > limit || f->device_used + need > f->device_total)
        return WK_ERR_OOM;
    struct fake_model *m = calloc(1, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", model);
    m->max_batch = max_batch;
    m->bytes = need;
    f->device_used += need;
    f->loads++;
    *handle = m;
    *bytes = need;
    return WK_OK;
}

static void fake_unload(void *ctx, void *handle)
{
    struct fake *f = ctx;
    struct fake_model *m = handle;
    if (m == NULL)
        return;
    f->device_used -= m->bytes;
    f->unloads++;
    free(m);
}

static int fake_run(void *ctx, void *handle, int n, struct wk_item *items, struct err *e)
{
    struct fake *f = ctx;
    struct fake_model *m = handle;
    (void)e;
    f->runs++;
    if (f->lose_device_at_run && f->runs == f->lose_device_at_run)
        return WK_ERR_DEVICE_LOST;
    if (n > m->max_batch)
        return err_set(e, WK_ERR, ERR_INTERNAL, "bug", "batch %d over loaded %d", n, m->max_batch);
    if (f->run_oom_always || (f->run_oom_above && n > f->run_oom_above))
        return WK_ERR_OOM;
    if (n > f->max_n_seen)
        f->max_n_seen = n;
    for (int i = 0; i < n; i++) {
        f->rgb_items += items[i].rgb != NULL && items[i].rgb_w == 2 && items[i].rgb_h == 2;
        if (items[i].params_json != NULL)
            snprintf(f->last_params, sizeof(f->last_params), "%s", items[i].params_json);
        f->caption_items += items[i].params_json != NULL &&
                            strcmp(items[i].params_json, WK_ANALYZE_CAPTION_PARAMS) == 0 &&
                            items[i].input != NULL;
        if (items[i].job_id == f->bad_input_job) {
            items[i].status = WK_ERR_INPUT;
            err_set(&items[i].err, WK_ERR_INPUT, ERR_INVALID, "invalid_image", "invalid image");
            continue;
        }
        char buf[96];
        snprintf(buf, sizeof(buf), "{\"model\":\"%s\",\"job\":%lld}", m->name,
                 (long long)items[i].job_id);
        items[i].result_json = strdup(buf);
        items[i].status = WK_OK;
        items[i].infer_ms = 1.0;
    }
    return WK_OK;
}

static const struct wk_engine_ops fake_ops = {fake_load, fake_unload, fake_run, NULL, NULL};

static void items_init(struct wk_item *it, int n, int first_id)
{
    memset(it, 0, sizeof(*it) * (size_t)n);
    for (int i = 0; i < n; i++)
        it[i].job_id = first_id + i;
}

static void items_free(struct wk_item *it, int n)
{
    for (int i = 0; i < n; i++) {
        free(it[i].result_json);
        it[i].result_json = NULL;
    }
}

static int count_status(const struct wk_item *it, int n, int status)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += it[i].done && it[i].status == status;
    return c;
}

/* ---- tests ---- */

static void test_lru(void)
{
    /* room for two models of 100 + 10*8 bytes, not three */
    struct fake f = {.device_total = 1 << 20, .weights = 100, .act_per_image = 10};
    struct wk_res r;
    wk_res_init(&r, &fake_ops, &f, 400);
    struct wk_item it[8];
    items_init(it, 8, 1);
    TH_EQ_INT(wk_batch_run(&r, "a", 8, 8, it, NULL, NULL), WK_OK, "batch on model a runs");
    TH_EQ_INT(count_status(it, 8, WK_OK), 8, "all 8 items of a succeed");
    TH_EQ_INT(it[3].batch_size, 8, "the 8 items ran as one batch");
    items_free(it, 8);
    items_init(it, 8, 10);
    TH_EQ_INT(wk_batch_run(&r, "b", 8, 8, it, NULL, NULL), WK_OK, "batch on model b runs");
    items_free(it, 8);
    TH_EQ_INT(r.loads, 2, "two loads");
    TH_EQ_INT(r.evictions, 0, "no eviction while both fit");
    TH_EQ_INT(wk_res_used(&r), 360, "both resident: 2 x 180 bytes");
    /* touch a, so b is the LRU */
    items_init(it, 2, 20);
    wk_batch_run(&r, "a", 8, 2, it, NULL, NULL);
    items_free(it, 2);
    TH_EQ_INT(r.loads, 2, "a resident: no reload");
    items_init(it, 8, 30);
    TH_EQ_INT(wk_batch_run(&r, "c", 8, 8, it, NULL, NULL), WK_OK, "batch on model c runs");
    TH_EQ_INT(count_status(it, 8, WK_OK), 8, "c's items succeed after an eviction");
    items_free(it, 8);
    TH_EQ_INT(r.evictions, 1, "one eviction made room for c");
    TH_CHECK(r.models[1].handle == NULL && r.models[0].handle != NULL,
             "the least recently used model (b) was evicted, a stayed");
    TH_EQ_INT(r.models[1].evictions, 1, "b's eviction is counted on b");
    char *js = wk_res_json(&r);
    json_t *o = json_loads(js, 0, NULL);
    TH_CHECK(o != NULL, "wk_res_json is valid JSON");
    TH_EQ_INT(json_integer_value(json_object_get(o, "evictions")), 1, "json counts evictions");
    TH_EQ_INT(json_integer_value(json_object_get(o, "used_bytes")), 360, "json counts used bytes");
    TH_EQ_INT(json_array_size(json_object_get(o, "models")), 3, "json lists every model seen");
    json_decref(o);
    free(js);
    wk_res_free(&r);
    TH_EQ_INT(f.device_used, 0, "wk_res_free unloads everything");
    TH_EQ_INT(f.loads, f.unloads, "every load has its unload");
}

static void test_load_oom_halves(void)
{
    /* budget 150: weights 100 + 10/image fits batch 4 (140), not 8 (180) */
    struct fake f = {.device_total = 1 << 20, .weights = 100, .act_per_image = 10};
    struct wk_res r;
    wk_res_init(&r, &fake_ops, &f, 150);
    struct wk_item it[8];
    items_init(it, 8, 1);
    TH_EQ_INT(wk_batch_run(&r, "a", 8, 8, it, NULL, NULL), WK_OK, "oversized batch still runs");
    TH_EQ_INT(count_status(it, 8, WK_OK), 8, "every item succeeds at a halved batch");
    TH_EQ_INT(r.models[0].max_batch, 4, "model loaded for batch 4 after one halving");
    TH_EQ_INT(f.max_n_seen, 4, "runs used chunks of 4");
    TH_CHECK(r.oom_events >= 1, "the out-of-memory event is counted");
    items_free(it, 8);
    wk_res_free(&r);

    /* budget below the weights: the model can never fit: transient failure */
    struct fake g = {.device_total = 1 << 20, .weights = 100, .act_per_image = 10};
    wk_res_init(&r, &fake_ops, &g, 50);
    items_init(it, 3, 1);
    TH_EQ_INT(wk_batch_run(&r, "a", 8, 3, it, NULL, NULL), WK_OK, "hopeless load returns ok");
    TH_EQ_INT(count_status(it, 3, WK_ERR_OOM), 3, "each item fails with out-of-memory");
    TH_CHECK(it[0].err.transient, "the failure is transient (requeue for another device)");
    TH_CHECK(strstr(it[0].err.msg, "out of device memory") != NULL, "with a clear message: %s",
             it[0].err.msg);
    items_free(it, 3);
    wk_res_free(&r);

    /* the device (not the budget) is full: evict, then succeed */
    struct fake h = {.device_total = 300, .weights = 100, .act_per_image = 10};
    wk_res_init(&r, &fake_ops, &h, 1 << 20);
    items_init(it, 8, 1);
    wk_batch_run(&r, "a", 8, 8, it, NULL, NULL);
    items_free(it, 8);
    items_init(it, 8, 1);
    TH_EQ_INT(wk_batch_run(&r, "b", 8, 8, it, NULL, NULL), WK_OK, "device-full load");
    TH_EQ_INT(count_status(it, 8, WK_OK), 8, "device out of memory: a evicted, b runs");
    TH_EQ_INT(r.evictions, 1, "eviction counted for device out-of-memory");
    items_free(it, 8);
    wk_res_free(&r);
}

static void test_run_oom(void)
{
    struct fake f = {
        .device_total = 1 << 20, .weights = 100, .act_per_image = 10, .run_oom_above = 2};
    struct wk_res r;
    wk_res_init(&r, &fake_ops, &f, 1 << 20);
    struct wk_item it[8];
    items_init(it, 8, 1);
    wk_batch_run(&r, "other", 8, 1, it, NULL, NULL);
    items_free(it, 1);
    items_init(it, 8, 1);
    TH_EQ_INT(wk_batch_run(&r, "a", 8, 8, it, NULL, NULL), WK_OK, "run-time OOM batch");
    TH_EQ_INT(count_status(it, 8, WK_OK), 8, "run-time OOM: every item succeeds after halving");
    TH_EQ_INT(f.max_n_seen, 2, "chunks halved to 2");
    TH_EQ_INT(r.evictions, 1, "the other model was evicted first");
    items_free(it, 8);
    f.run_oom_always = 1;
    items_init(it, 4, 100);
    TH_EQ_INT(wk_batch_run(&r, "a", 8, 4, it, NULL, NULL), WK_OK, "hopeless run returns ok");
    TH_EQ_INT(count_status(it, 4, WK_ERR_OOM), 4, "every item is handed back as out-of-memory");
    TH_CHECK(it[3].err.transient, "and is transient");
    items_free(it, 4);
    wk_res_free(&r);
}

static int cancel_job_3(void *arg, int n, struct wk_item *items)
{
    int *calls = arg;
    (*calls)++;
    for (int i = 0; i < n; i++)
        if (items[i].job_id == 3 && !items[i].done) {
            items[i].status = WK_ERR_CANCELED;
            items[i].done = 1;
        }
    return 0;
}

static int stop_after_first(void *arg, int n, struct wk_item *items)
{
    int *calls = arg;
    (void)n;
    (void)items;
    return (*calls)++ >= 2; /* call 0: before the batch, 1: first chunk */
}

static void test_cancel_and_errors(void)
{
    struct fake f = {
        .device_total = 1 << 20, .weights = 100, .act_per_image = 10, .bad_input_job = 5};
    struct wk_res r;
    wk_res_init(&r, &fake_ops, &f, 1 << 20);
    struct wk_item it[8];
    int calls = 0;
    items_init(it, 6, 1);
    TH_EQ_INT(wk_batch_run(&r, "a", 8, 6, it, cancel_job_3, &calls), WK_OK, "batch with cancel");
    TH_EQ_INT(it[2].status, WK_ERR_CANCELED, "canceled job 3 is not run");
    TH_CHECK(it[2].result_json == NULL, "canceled job has no result");
    TH_EQ_INT(it[4].status, WK_ERR_INPUT, "bad input fails only its own job");
    TH_EQ_INT(count_status(it, 6, WK_OK), 4, "the other 4 succeed");
    TH_CHECK(calls >= 1, "checkpoint called");
    items_free(it, 6);

    /* chunks of 2 (loaded for batch 2) and a stop request after the first */
    calls = 0;
    items_init(it, 6, 10);
    wk_batch_run(&r, "b", 2, 6, it, stop_after_first, &calls);
    TH_EQ_INT(count_status(it, 6, WK_OK), 2, "first chunk of 2 finished before the stop");
    TH_EQ_INT(count_status(it, 6, WK_ERR_CANCELED), 4, "the rest is handed back");
    TH_CHECK(it[5].err.transient, "handed-back items are transient");
    items_free(it, 6);

    items_init(it, 2, 1);
    wk_batch_run(&r, "missing", 8, 2, it, NULL, NULL);
    TH_EQ_INT(count_status(it, 2, WK_ERR), 2, "an unknown model fails its items");
    TH_EQ_STR(it[0].err.code, "unknown_model", "with the engine's error code");
    items_free(it, 2);

    f.lose_device_at_run = f.runs + 1;
    items_init(it, 2, 1);
    TH_EQ_INT(wk_batch_run(&r, "a", 8, 2, it, NULL, NULL), WK_ERR_DEVICE_LOST,
              "device lost is returned to the caller");
    TH_CHECK(!it[0].done && !it[1].done, "items of a lost device are left undone");
    wk_res_free(&r);
}

/* ---- analyze: several models on one decoded image ---- */

/* a 2x2 RGB PNG */
static const unsigned char png2x2[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x13, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x38, 0x91, 0x62, 0x04,
    0x44, 0x0c, 0x5c, 0x22, 0x72, 0x40, 0x04, 0x00, 0x1f, 0x6c, 0x03, 0x35, 0xe8, 0x0f, 0xa7, 0x08,
    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

static void test_analyze_tags(void)
{
    json_t *res =
        json_loads("{\"classify\":{\"labels\":[{\"label\":\"Porn\",\"score\":0.8},"
                   "{\"label\":\"Neutral\",\"score\":0.1}]},"
                   "\"detect\":{\"objects\":[{\"label\":\"car\",\"score\":0.5},"
                   "{\"label\":\"person\",\"score\":0.9},{\"label\":\"person\",\"score\":0.7},"
                   "{\"label\":\"bus\",\"score\":0.6}]},"
                   "\"detect_faces\":{\"faces\":[{\"score\":0.95},{\"score\":0.99}]}}",
                   0, NULL);
    json_t *tags, *det;
    wk_analyze_tags(res, &tags, &det);
    char *s = json_dumps(tags, JSON_COMPACT);
    TH_EQ_STR(s, "[\"porn\",\"nsfw\",\"person\",\"bus\",\"car\",\"face\"]",
              "tags: top class lowercased + nsfw, objects by count then name, face");
    free(s);
    TH_EQ_INT(json_integer_value(json_object_get(json_array_get(det, 2), "count")), 2,
              "tag_details: person counted twice");
    TH_EQ_INT(json_integer_value(json_object_get(json_array_get(det, 5), "count")), 2,
              "tag_details: two faces");
    TH_CHECK(json_number_value(json_object_get(json_array_get(det, 5), "score")) > 0.98,
             "tag_details: the best face score");
    json_decref(tags);
    json_decref(det);
    json_decref(res);
    /* the tagger's tags and rating, then the caption's words */
    res = json_loads("{\"classify\":{\"labels\":[{\"label\":\"Neutral\",\"score\":0.9}]},"
                     "\"tag\":{\"tags\":[{\"tag\":\"cat\",\"category\":\"general\",\"score\":0.8},"
                     "{\"tag\":\"neutral\",\"category\":\"general\",\"score\":0.5},"
                     "{\"tag\":\"long hair\",\"category\":\"general\",\"score\":0.4}],"
                     "\"rating\":{\"tag\":\"questionable\",\"score\":0.6}},"
                     "\"caption\":{\"caption\":\"A Cat sits on the cat-tree by two "
                     "red \\u00e9t\\u00e9 chairs in the image, xyzzyxyzzyxyzzyxyzzyxyzzyxyzzyxyzzy"
                     "xyzzyxyzzyxyzzyxyzzyxyzzyxyzzyxyzzy.\"}}",
                     0, NULL);
    TH_CHECK(res != NULL, "the tag/caption sample parses");
    wk_analyze_tags(res, &tags, &det);
    s = json_dumps(tags, JSON_COMPACT | JSON_ENSURE_ASCII);
    TH_EQ_STR(s,
              "[\"neutral\",\"cat\",\"long hair\",\"rating:questionable\",\"nsfw\",\"sits\","
              "\"tree\",\"red\",\"\\u00E9t\\u00E9\",\"chairs\"]",
              "tags: tagger's in its order (a tag already there once), rating, nsfw; caption "
              "words lowercased, no stopwords, no short or overlong words");
    free(s);
    json_t *capd = json_array_get(det, 5);
    TH_EQ_STR(json_string_value(json_object_get(capd, "source")), "caption",
              "tag_details: caption words say so");
    TH_CHECK(json_object_get(capd, "score") == NULL, "tag_details: a caption word has no score");
    TH_EQ_STR(json_string_value(json_object_get(json_array_get(det, 3), "source")), "tag",
              "tag_details: the rating comes from the tagger");
    json_decref(tags);
    json_decref(det);
    json_decref(res);
    /* faces with attributes (thresholds WK_TAG_*, brackets WK_AGE_*), then OCR's text */
    res = json_loads("{\"ocr\":{\"lines\":[{\"text\":\"A\",\"confidence\":0.7},"
                     "{\"text\":\"B\",\"confidence\":0.9}]},"
                     "\"faces\":{\"faces\":["
                     "{\"score\":0.9,\"age\":34.5,\"gender\":\"female\",\"gender_score\":0.8,"
                     "\"emotion\":\"happy\",\"emotion_score\":0.7},"
                     "{\"score\":0.8,\"age\":12.9,\"gender\":\"male\",\"gender_score\":0.49,"
                     "\"emotion\":\"sad\",\"emotion_score\":0.49},"
                     "{\"score\":0.95,\"age\":65,\"gender\":\"female\",\"gender_score\":0.5,"
                     "\"emotion\":\"neutral\",\"emotion_score\":0.5},"
                     "{\"score\":0.7,\"age\":19.9,\"gender\":\"male\",\"gender_score\":0.95,"
                     "\"emotion\":\"happy\",\"emotion_score\":0.99}]}}",
                     0, NULL);
    TH_CHECK(res != NULL, "the faces/ocr sample parses");
    wk_analyze_tags(res, &tags, &det);
    s = json_dumps(tags, JSON_COMPACT);
    TH_EQ_STR(s,
              "[\"face\",\"gender:female\",\"gender:male\",\"age:adult\",\"age:child\","
              "\"age:senior\",\"age:teen\",\"expression:happy\",\"expression:neutral\","
              "\"text\"]",
              "tags: face, gender over its cut, age brackets, expressions over their cut (most "
              "faces first, then by name), text");
    free(s);
    TH_EQ_INT(json_integer_value(json_object_get(json_array_get(det, 0), "count")), 4,
              "tag_details: four faces");
    TH_EQ_INT(json_integer_value(json_object_get(json_array_get(det, 1), "count")), 2,
              "tag_details: two female faces (0.5 reaches the cut)");
    TH_CHECK(json_number_value(json_object_get(json_array_get(det, 7), "score")) > 0.98,
             "tag_details: an expression's best probability");
    TH_EQ_INT(json_integer_value(json_object_get(json_array_get(det, 9), "count")), 2,
              "tag_details: text counts the lines");
    TH_CHECK(json_number_value(json_object_get(json_array_get(det, 9), "score")) > 0.89,
             "tag_details: text's best line confidence");
    TH_EQ_STR(json_string_value(json_object_get(json_array_get(det, 9), "source")), "ocr",
              "tag_details: text comes from ocr");
    json_decref(tags);
    json_decref(det);
    json_decref(res);
    json_t *empty = json_loads("{\"classify\":{\"model\":\"x\",\"error\":{}}}", 0, NULL);
    wk_analyze_tags(empty, &tags, &det);
    TH_EQ_INT(json_array_size(tags), 0, "tags: a failed slot gives none");
    json_decref(tags);
    json_decref(det);
    json_decref(empty);
}

static void test_analyze_run(void)
{
    struct fake f = {.device_total = 1000, .weights = 100, .act_per_image = 10};
    struct wk_res r;
    wk_res_init(&r, &fake_ops, &f, 1000);
    struct wk_engine eng;
    memset(&eng, 0, sizeof(eng));
    const char *names[] = {"m-cls", "m-det", "missing", "m-cap"};
    for (int i = 0; i < 4; i++) {
        snprintf(eng.models[i], WK_MODEL_NAME_LEN, "%s", names[i]);
        eng.model_batch[i] = 8;
    }
    eng.n_models = 4;
    struct wk_item it[5];
    items_init(it, 5, 100);
    const char *both = "{\"tasks\":[\"classify\",\"detect\"],"
                       "\"models\":{\"classify\":\"m-cls\",\"detect\":\"m-det\"}}";
    const char *one_missing = "{\"tasks\":[\"classify\",\"detect\"],"
                              "\"models\":{\"classify\":\"m-cls\",\"detect\":\"missing\"}}";
    const char *only_missing = "{\"tasks\":[\"detect\"],\"models\":{\"detect\":\"missing\"}}";
    const char *not_here = "{\"tasks\":[\"detect\",\"classify\"],"
                           "\"models\":{\"detect\":\"m-elsewhere\",\"classify\":\"m-cls\"}}";
    const char *params[5] = {both, one_missing, only_missing, both, not_here};
    for (int i = 0; i < 5; i++) {
        it[i].input = png2x2;
        it[i].input_len = sizeof(png2x2);
        it[i].params_json = params[i];
    }
    it[3].input_len = 20; /* a truncated photo */
    int rc = wk_analyze_run(&r, &eng, 8, WK_ANALYZE_DECODED_MAX, 5, it, NULL, NULL);
    TH_EQ_INT(rc, WK_OK, "analyze: a batch of 5 jobs runs");
    TH_EQ_INT(count_status(it, 5, WK_OK), 3, "analyze: 3 jobs succeed (one with a failed part)");
    json_t *a = json_loads(it[0].result_json ? it[0].result_json : "null", 0, NULL);
    TH_EQ_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(a, "results"), "detect"), "model")),
              "m-det", "analyze: each model's result in its slot");
    TH_EQ_INT(json_integer_value(json_object_get(
                  json_object_get(json_object_get(a, "results"), "classify"), "job")),
              100, "analyze: the classify slot is the model's own answer for this job");
    TH_EQ_INT(json_array_size(json_object_get(a, "failed")), 0, "analyze: nothing failed");
    json_decref(a);
    a = json_loads(it[1].result_json ? it[1].result_json : "null", 0, NULL);
    json_t *slot = json_object_get(json_object_get(a, "results"), "detect");
    TH_EQ_STR(json_string_value(json_object_get(json_object_get(slot, "error"), "code")),
              "unknown_model", "analyze: a model that cannot load leaves its error in its slot");
    TH_EQ_STR(json_string_value(json_array_get(json_object_get(a, "failed"), 0)), "detect",
              "analyze: failed names the part");
    TH_EQ_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(a, "results"), "classify"), "model")),
              "m-cls", "analyze: the other part's result is kept");
    json_decref(a);
    TH_CHECK(it[2].done && it[2].status == WK_ERR && it[2].result_json == NULL &&
                 strcmp(it[2].err.code, "unknown_model") == 0,
             "analyze: every part failing fails the job with the first part's error (%s)",
             it[2].err.code);
    TH_CHECK(it[3].done && it[3].status == WK_ERR_INPUT, "analyze: a corrupt photo fails its job");
    a = json_loads(it[4].result_json ? it[4].result_json : "null", 0, NULL);
    slot = json_object_get(json_object_get(a, "results"), "detect");
    TH_EQ_STR(json_string_value(json_object_get(json_object_get(slot, "error"), "code")),
              "model_not_installed", "analyze: a model this worker lacks: model_not_installed");
    json_decref(a);
    /* every model got the decoded 2x2 pixels (the corrupt photo never
     * reached one); m-cls ran once for its 3 jobs (batched across jobs) */
    TH_EQ_INT(f.rgb_items, 4, "analyze: the models ran on decoded pixels (3 m-cls + 1 m-det)");
    TH_EQ_INT(f.runs, 2, "analyze: one batch per model across the jobs");
    TH_EQ_INT(f.max_n_seen, 3, "analyze: m-cls ran its 3 photos as one batch");
    items_free(it, 5);

    /* a caption part: the captioner gets its task in params and the photo's bytes */
    items_init(it, 1, 150);
    it[0].input = png2x2;
    it[0].input_len = sizeof(png2x2);
    it[0].params_json = "{\"tasks\":[\"classify\",\"caption\"],"
                        "\"models\":{\"classify\":\"m-cls\",\"caption\":\"m-cap\"}}";
    rc = wk_analyze_run(&r, &eng, 8, WK_ANALYZE_DECODED_MAX, 1, it, NULL, NULL);
    TH_CHECK(rc == WK_OK && it[0].status == WK_OK, "analyze with a caption part runs");
    TH_EQ_INT(f.caption_items, 1,
              "analyze: the caption part asked for a short caption of the photo");
    a = json_loads(it[0].result_json ? it[0].result_json : "null", 0, NULL);
    TH_EQ_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(a, "results"), "caption"), "model")),
              "m-cap", "analyze: the captioner's answer in its slot");
    json_decref(a);
    items_free(it, 1);

    /* caption options in the job's params go to the captioner as its params */
    items_init(it, 1, 160);
    it[0].input = png2x2;
    it[0].input_len = sizeof(png2x2);
    it[0].params_json = "{\"tasks\":[\"caption\"],\"models\":{\"caption\":\"m-cap\"},"
                        "\"caption\":{\"length\":\"long\",\"settings\":{\"temperature\":0,"
                        "\"max_tokens\":9}}}";
    rc = wk_analyze_run(&r, &eng, 8, WK_ANALYZE_DECODED_MAX, 1, it, NULL, NULL);
    json_t *got = json_loads(f.last_params, 0, NULL);
    json_t *want = json_loads("{\"task\":\"caption\",\"length\":\"long\","
                              "\"settings\":{\"temperature\":0,\"max_tokens\":9}}",
                              0, NULL);
    TH_CHECK(rc == WK_OK && it[0].status == WK_OK && json_equal(got, want),
             "analyze: caption options reach the captioner as its params (%s)", f.last_params);
    json_decref(got);
    json_decref(want);
    items_free(it, 1);

    /* a lost device: returned, jobs left for the caller to hand back */
    items_init(it, 2, 200);
    for (int i = 0; i < 2; i++) {
        it[i].input = png2x2;
        it[i].input_len = sizeof(png2x2);
        it[i].params_json = both;
    }
    f.lose_device_at_run = f.runs + 1;
    rc = wk_analyze_run(&r, &eng, 8, WK_ANALYZE_DECODED_MAX, 2, it, NULL, NULL);
    TH_EQ_INT(rc, WK_ERR_DEVICE_LOST, "analyze: a lost device is returned");
    TH_CHECK(!it[0].done && !it[1].done, "analyze: after a lost device no job is done");
    items_free(it, 2);

    /* decoded photos capped at two 2x2 photos (24 bytes): 5 jobs run in
     * turns of 2, 2 and 1, each turn one batch per model */
    f.lose_device_at_run = 0;
    int runs0 = f.runs, rgb0 = f.rgb_items;
    f.max_n_seen = 0;
    items_init(it, 5, 300);
    for (int i = 0; i < 5; i++) {
        it[i].input = png2x2;
        it[i].input_len = sizeof(png2x2);
        it[i].params_json = both;
    }
    rc = wk_analyze_run(&r, &eng, 8, 24, 5, it, NULL, NULL);
    TH_EQ_INT(rc, WK_OK, "analyze in turns: runs");
    TH_EQ_INT(count_status(it, 5, WK_OK), 5, "analyze in turns: every job succeeds");
    TH_EQ_INT(f.runs - runs0, 6, "analyze in turns: 3 turns x 2 models");
    TH_EQ_INT(f.max_n_seen, 2, "analyze in turns: no batch holds more than the cap's 2 photos");
    TH_EQ_INT(f.rgb_items - rgb0, 10, "analyze in turns: each photo reached both models");
    items_free(it, 5);
    wk_res_free(&r);
}

int main(void)
{
    test_lru();
    test_load_oom_halves();
    test_run_oom();
    test_cancel_and_errors();
    test_analyze_tags();
    test_analyze_run();
    return th_done();
}
