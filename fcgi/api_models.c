/*
 * api_models.c: the task/model catalogue read from the manifests in
 * VKV_MODELS_DIR (models/ *.json) at start, through the one manifest reader
 * (tasks/rt_manifest.h) that the worker and the loader use too: a model is
 * named by its file, "task" says what it serves, a manifest the reader
 * refuses is logged with the reader's message and not offered (as no worker
 * claims it), and "serve": false keeps a model out of the catalogue.  The
 * API uses the catalogue only to reject unknown tasks and models before a
 * job is written; what a worker can actually run is the worker's registry.
 * Read once, immutable afterwards, shared by every thread.
 */
#include "fcgi/api.h"

#include "common/cm.h"
#include "common/log.h"
#include "tasks/rt_manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct api_models {
    struct rt_manifest_dir dir;
    const struct rt_manifest **m; /* the offered ones: dir.m[i] with serve */
    int n;
};

struct api_models *api_models_init(const char *dir)
{
    struct api_models *ms = cm_xcalloc(1, sizeof(*ms));
    struct err e;
    err_clear(&e);
    if (rt_manifest_dir_read(dir, &ms->dir, &e) < 0) {
        log_warn("%s; no task is available", e.msg);
        return ms;
    }
    for (int i = 0; i < ms->dir.n_refused; i++)
        log_warn("model manifest refused: %s", ms->dir.refused[i].err.msg);
    ms->m = cm_xcalloc((size_t)ms->dir.n + 1, sizeof(ms->m[0]));
    for (int i = 0; i < ms->dir.n; i++) {
        if (ms->dir.m[i].serve)
            ms->m[ms->n++] = &ms->dir.m[i];
        else
            log_info("model %s: \"serve\": false; not offered", ms->dir.m[i].name);
    }
    log_info("models: %d offered from \"%s\" (%d refused)", ms->n, dir, ms->dir.n_refused);
    return ms;
}

void api_models_free(struct api_models *ms)
{
    if (ms == NULL)
        return;
    rt_manifest_dir_free(&ms->dir);
    free(ms->m);
    free(ms);
}

int api_models_has(const struct api_models *ms, const char *task, const char *model)
{
    for (int i = 0; i < ms->n; i++)
        if ((model == NULL || strcmp(ms->m[i]->name, model) == 0) &&
            (task == NULL || rt_manifest_has_task(ms->m[i], task)))
            return 1;
    return 0;
}

const char *api_models_default(const struct api_models *ms, const char *task)
{
    const char *first = NULL;
    for (int i = 0; i < ms->n; i++) {
        if (!rt_manifest_has_task(ms->m[i], task))
            continue;
        if (ms->m[i]->is_default)
            return ms->m[i]->name;
        if (first == NULL)
            first = ms->m[i]->name;
    }
    return first;
}

json_t *api_models_tasks_json(const struct api_models *ms)
{
    json_t *a = json_array();
    for (int i = 0; i < ms->n; i++)
        for (int k = 0; k < ms->m[i]->n_tasks; k++) {
            int dup = 0;
            size_t idx;
            json_t *v;
            json_array_foreach(a, idx, v) dup |=
                strcmp(json_string_value(v), ms->m[i]->tasks[k]) == 0;
            if (!dup)
                json_array_append_new(a, json_string(ms->m[i]->tasks[k]));
        }
    return a;
}

json_t *api_models_names_json(const struct api_models *ms, const char *task)
{
    json_t *a = json_array();
    for (int i = 0; i < ms->n; i++)
        if (task == NULL || rt_manifest_has_task(ms->m[i], task))
            json_array_append_new(a, json_string(ms->m[i]->name));
    return a;
}

json_t *api_models_list_json(const struct api_models *ms)
{
    json_t *a = json_array();
    for (int i = 0; i < ms->n; i++) {
        const struct rt_manifest *m = ms->m[i];
        json_t *t = json_array();
        for (int k = 0; k < m->n_tasks; k++)
            json_array_append_new(t, json_string(m->tasks[k]));
        char file[RT_MANIFEST_NAME_MAX + 8];
        snprintf(file, sizeof(file), "%s.json", m->name);
        /* id, name, description, version: the fields of a Moondream Station
         * model entry (fcgi/handlers/h_station.c); "name" is also ours */
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:b}", "id", m->name,
                                           "name", m->name, "description", m->description,
                                           "version", m->version, "tasks", t, "manifest", file,
                                           "default", m->is_default));
    }
    return a;
}

/* an upscale model's "post.scale" (1..16), else 0 */
static int manifest_scale(const struct rt_manifest *m)
{
    json_int_t sc = json_integer_value(json_object_get(json_object_get(m->json, "post"), "scale"));
    return rt_manifest_has_task(m, "upscale") && sc > 0 && sc <= 16 ? (int)sc : 0;
}

int api_models_scale(const struct api_models *ms, const char *model)
{
    for (int i = 0; model != NULL && i < ms->n; i++)
        if (strcmp(ms->m[i]->name, model) == 0)
            return manifest_scale(ms->m[i]);
    return 0;
}

const char *api_models_by_scale(const struct api_models *ms, const char *task, int scale)
{
    for (int i = 0; i < ms->n; i++)
        if (manifest_scale(ms->m[i]) == scale && rt_manifest_has_task(ms->m[i], task))
            return ms->m[i]->name;
    return NULL;
}
