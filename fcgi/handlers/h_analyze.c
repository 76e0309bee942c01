/*
 * h_analyze.c: photo analysis -- POST /v1/analyze and the rules of every
 * job of task "analyze" (also submitted through /v1/jobs and, for albums,
 * /v1/batches).
 *
 * An analyze job is one job (model "analyze") whose params name the
 * sub-tasks and their models; vkv-worker decodes the image once and runs
 * each model on the decoded pixels (worker/wk_analyze.c), so the answer
 * holds each model's own result, exactly as a separate job of that task
 * gives it, plus the tags built from them.  The API resolves the models
 * here so the job row says precisely what runs: {"tasks": [...], "models":
 * {task: model}}.  Which models a worker really has is the worker's
 * business: one that is missing answers in its slot (model_not_installed).
 * See README, "Photo analysis".
 */
#include "fcgi/handlers/h_analyze.h"

#include "common/ar.h"
#include "common/jq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the sub-tasks an analyze job may ask for (the worker's task kinds) and
 * whether each is in the default set */
static const struct {
    const char *task;
    int by_default;
} parts[] = {
    {"classify", 1},     /* NSFW classes (nsfw-mobilenet-v2) */
    {"detect", 1},       /* COCO objects (centernet) */
    {"detect_faces", 1}, /* faces (BlazeFace) */
    {"segment", 0},      /* person outline (selfie) */
    {"faces", 0},        /* faces with attributes, stored for the face search */
    {"tag", 1},          /* multi-label tagger (WD14-style), when an operator installed one */
    {"caption", 0},      /* Moondream 2's short caption: seconds per photo, asked for by name */
    {"ocr", 0},          /* text lines (PP-OCRv4): seconds per photo on a CPU device, by name */
};
#define NPARTS (sizeof(parts) / sizeof(parts[0]))

static int part_known(const char *t)
{
    for (size_t i = 0; i < NPARTS; i++)
        if (strcmp(parts[i].task, t) == 0)
            return 1;
    return 0;
}

static const char *part_list(void)
{
    return "classify, detect, detect_faces, segment, faces, tag, caption, ocr";
}

json_t *api_analyze_tasks_json(const struct api_models *ms)
{
    json_t *a = api_models_tasks_json(ms);
    int any = 0;
    for (size_t i = 0; i < NPARTS; i++)
        any |= api_models_has(ms, parts[i].task, NULL);
    if (any)
        json_array_append_new(a, json_string(API_ANALYZE_TASK));
    return a;
}

int api_analyze_check_model(struct api_ctx *ctx, struct api_job_spec *spec, struct err *e)
{
    (void)ctx;
    if (spec->model != NULL && strcmp(spec->model, API_ANALYZE_TASK) != 0)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_model",
                       "task \"analyze\" runs model \"analyze\"; choose its models with "
                       "params.models (task -> model), not \"%.64s\"",
                       spec->model);
    spec->model = API_ANALYZE_TASK;
    return API_OK;
}

/*
 * params.caption: {"length"?, "settings"?: {temperature, top_p, max_tokens}}
 * for the caption part, checked as /v1/caption checks them; *out is the
 * resolved object ({"length", "settings"}), owned by the request's arena
 */
static int caption_opts(struct api_ctx *ctx, json_t *c, json_t **out, struct err *e)
{
    if (!json_is_object(c))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "\"caption\" must be an object: {length?, settings?}");
    const char *key;
    json_t *v;
    json_object_foreach(c, key, v)
    {
        if (strcmp(key, "length") != 0 && strcmp(key, "settings") != 0)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_field",
                           "unknown caption option \"%.64s\" (length, settings)", key);
    }
    const char *len = "short";
    json_t *l = json_object_get(c, "length");
    if (l != NULL) {
        len = json_string_value(l);
        if (len == NULL ||
            (strcmp(len, "short") != 0 && strcmp(len, "normal") != 0 && strcmp(len, "long") != 0))
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "caption.length must be short, normal or long");
    }
    json_t *set = api_json_own(ctx->ar, json_object());
    json_t *o = api_json_own(ctx->ar, json_object());
    if (set == NULL || o == NULL)
        return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of request memory");
    json_t *st = json_object_get(c, "settings");
    if (st != NULL && !json_is_object(st))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "caption.settings must be an object");
    /* the generation settings of /v1/caption, with its bounds */
    static const struct {
        const char *k;
        double lo, hi;
    } lim[3] = {{"temperature", 0, 2}, {"top_p", 0, 1}, {"max_tokens", 1, 4096}};
    json_object_foreach(st, key, v)
    {
        int i = 0;
        while (i < 3 && strcmp(lim[i].k, key) != 0)
            i++;
        if (i == 3)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_field",
                           "unknown caption setting \"%.64s\" (temperature, top_p, max_tokens)",
                           key);
        double x = json_number_value(v);
        if (!json_is_number(v) || x < lim[i].lo || x > lim[i].hi || (i == 1 && x == 0) ||
            (i == 2 && !json_is_integer(v)))
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "caption.settings.%s must be a%s number in %s%g..%g", lim[i].k,
                           i == 2 ? "n integer" : "", i == 1 ? "(" : "", lim[i].lo, lim[i].hi);
        json_object_set(set, key, v);
    }
    json_object_set_new(o, "length", json_string(len));
    json_object_set(o, "settings", set);
    *out = o;
    return API_OK;
}

int api_analyze_params(struct api_ctx *ctx, struct api_job_spec *spec, struct err *e)
{
    json_t *p =
        api_json_own(ctx->ar, json_loads(spec->params_json ? spec->params_json : "{}", 0, NULL));
    if (!json_is_object(p))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "field \"params\" must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(p, key, v)
    {
        if (strcmp(key, "tasks") != 0 && strcmp(key, "models") != 0 && strcmp(key, "caption") != 0)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_field",
                           "unknown analyze parameter \"%.64s\" (tasks, models, caption)", key);
    }
    json_t *tasks = json_object_get(p, "tasks");
    json_t *models = json_object_get(p, "models");
    if (models != NULL && !json_is_null(models) && !json_is_object(models))
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "\"models\" must be an object: {task: model}");
    json_t *out_tasks = api_json_own(ctx->ar, json_array());
    json_t *out_models = api_json_own(ctx->ar, json_object());
    if (out_tasks == NULL || out_models == NULL)
        return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of request memory");
    if (tasks == NULL || json_is_null(tasks)) {
        for (size_t i = 0; i < NPARTS; i++)
            if (parts[i].by_default && api_models_has(ctx->models, parts[i].task, NULL))
                json_array_append_new(out_tasks, json_string(parts[i].task));
        if (json_array_size(out_tasks) == 0)
            return err_set(e, API_ERR, ERR_UNAVAILABLE, "model_not_installed",
                           "no model installed for any of classify, detect, detect_faces, tag");
    } else {
        if (!json_is_array(tasks) || json_array_size(tasks) == 0 || json_array_size(tasks) > NPARTS)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "\"tasks\" must be a list of 1..%zu of: %s", NPARTS, part_list());
        size_t i;
        json_t *t;
        json_array_foreach(tasks, i, t)
        {
            const char *s = json_string_value(t);
            if (s == NULL || !part_known(s))
                return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_task",
                               "tasks[%zu]: not an analyze task; valid: %s", i, part_list());
            int twice = 0;
            size_t k;
            json_t *u;
            json_array_foreach(out_tasks, k, u) twice |= strcmp(json_string_value(u), s) == 0;
            if (twice)
                return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                               "tasks[%zu]: \"%s\" twice", i, s);
            json_array_append_new(out_tasks, json_string(s));
        }
    }
    json_t *copt = NULL, *cap = json_object_get(p, "caption");
    if (cap != NULL && !json_is_null(cap)) {
        int asked = 0;
        size_t k;
        json_t *u;
        json_array_foreach(out_tasks, k, u) asked |= strcmp(json_string_value(u), "caption") == 0;
        if (!asked)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "\"caption\" options given, but caption is not among the tasks");
        if (caption_opts(ctx, cap, &copt, e) != API_OK)
            return API_ERR_INVALID;
    }
    json_object_foreach(models, key, v)
    {
        int asked = 0;
        size_t k;
        json_t *u;
        json_array_foreach(out_tasks, k, u) asked |= strcmp(json_string_value(u), key) == 0;
        if (!asked)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "models names task \"%.64s\", which is not among the tasks", key);
        if (!json_is_string(v) || json_string_length(v) > JQ_MODEL_MAX ||
            !api_models_has(ctx->models, key, json_string_value(v)))
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "unknown_model",
                           "models.%.64s: no such model for task \"%.64s\"", key, key);
    }
    size_t i;
    json_t *t;
    json_array_foreach(out_tasks, i, t)
    {
        const char *task = json_string_value(t);
        json_t *m = json_object_get(models, task);
        const char *model = m ? json_string_value(m) : api_models_default(ctx->models, task);
        if (model == NULL)
            return err_set(e, API_ERR, ERR_UNAVAILABLE, "model_not_installed",
                           "no model installed for task \"%s\"", task);
        json_object_set_new(out_models, task, json_string(model));
    }
    json_t *resolved = json_pack("{s:O, s:O}", "tasks", out_tasks, "models", out_models);
    if (resolved != NULL && copt != NULL)
        json_object_set(resolved, "caption", copt);
    char *s = resolved ? json_dumps(resolved, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(resolved);
    spec->params_json = s ? ar_strdup(ctx->ar, s) : NULL;
    free(s);
    if (spec->params_json == NULL)
        return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory", "could not copy params");
    return API_OK;
}

/* moves the analyze fields of a /v1/analyze body into params */
static int body_to_job(struct api_ctx *ctx, json_t *body, struct err *e)
{
    if (json_object_get(body, "task") != NULL || json_object_get(body, "params") != NULL)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "/v1/analyze takes \"tasks\", \"models\" and \"caption\", not \"task\" "
                       "or \"params\"");
    json_t *params = json_object();
    json_t *tasks = json_object_get(body, "tasks");
    if (json_is_string(tasks)) {
        /* a multipart field: "classify,detect" */
        json_t *a = json_array();
        char *copy = ar_strdup(ctx->ar, json_string_value(tasks));
        for (char *sv = NULL, *tok = copy ? strtok_r(copy, ", ", &sv) : NULL; tok;
             tok = strtok_r(NULL, ", ", &sv))
            json_array_append_new(a, json_string(tok));
        json_object_set_new(params, "tasks", a);
    } else if (tasks != NULL) {
        json_object_set(params, "tasks", tasks);
    }
    json_t *models = json_object_get(body, "models");
    if (json_is_string(models)) {
        json_t *m = json_loads(json_string_value(models), 0, NULL);
        if (m == NULL) {
            json_decref(params);
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "field \"models\" must be a json object {task: model}");
        }
        json_object_set_new(params, "models", m);
    } else if (models != NULL) {
        json_object_set(params, "models", models);
    }
    json_t *cap = json_object_get(body, "caption");
    if (json_is_string(cap)) {
        json_t *c = json_loads(json_string_value(cap), 0, NULL);
        if (c == NULL) {
            json_decref(params);
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "field \"caption\" must be a json object {length?, settings?}");
        }
        json_object_set_new(params, "caption", c);
    } else if (cap != NULL) {
        json_object_set(params, "caption", cap);
    }
    json_object_del(body, "tasks");
    json_object_del(body, "models");
    json_object_del(body, "caption");
    json_object_set_new(body, "params", params);
    json_object_set_new(body, "task", json_string(API_ANALYZE_TASK));
    return API_OK;
}

int api_h_analyze(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    json_t *body = NULL;
    struct api_image fimg;
    int nfimg = 0;
    if (api_req_body(ctx, r, &body, &fimg, &nfimg, &e) != API_OK)
        return api_reply_err(r, &e);
    if (body_to_job(ctx, body, &e) != API_OK)
        return api_reply_err(r, &e);
    struct api_job_spec spec;
    if (api_job_spec_from_json(ctx, r, body, &spec, &e) != API_OK)
        return api_reply_err(r, &e);
    /* 500 only when every model failed; otherwise the errors are in the slots */
    return api_call_sync_reply(ctx, r, &spec, &fimg, nfimg, API_SYNC_ADD_IDS);
}
