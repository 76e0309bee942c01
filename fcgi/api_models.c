/*
 * api_models.c: the task/model catalogue read from the manifests in
 * VKV_MODELS_DIR (models/ *.json) at start.
 *
 * A manifest names its model ("name", else "id", else the file stem) and
 * the task(s) it serves ("task": "detect" or "tasks": [...]); one with
 * "serve": false is not offered (CLI and tests only).  The API
 * uses the catalogue only to reject unknown tasks and models before a job
 * is written; what a worker can actually run is the worker's registry.
 * Read once, immutable afterwards, shared by every thread.
 */
#include "fcgi/api.h"

#include "common/cm.h"
#include "common/log.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#define MODELS_MAX 256

struct api_model {
    char *name;
    char *file;
    char **tasks;
    int ntasks;
    int is_default;
    char *description; /* the manifest's "description", "" when absent */
    char *version;     /* "version", else "source.version" (npm), "" when absent */
};

struct api_models {
    struct api_model m[MODELS_MAX];
    int n;
};

static int cmp_model(const void *a, const void *b)
{
    return strcmp(((const struct api_model *)a)->name, ((const struct api_model *)b)->name);
}

static void add_manifest(struct api_models *ms, const char *dir, const char *fname)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, fname);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (j == NULL || !json_is_object(j)) {
        log_warn("could not read model manifest \"%s\": %s", path, j ? "not an object" : je.text);
        json_decref(j);
        return;
    }
    /* "serve": false marks a model fetched for the CLI and tests only (no job
     * task runs it yet): offering it would accept jobs that no worker can
     * claim and report the service degraded */
    if (json_is_false(json_object_get(j, "serve"))) {
        log_info("model manifest \"%s\" has \"serve\": false; not offered", path);
        json_decref(j);
        return;
    }
    if (ms->n >= MODELS_MAX) {
        log_warn("more than %d model manifests; ignoring \"%s\"", MODELS_MAX, path);
        json_decref(j);
        return;
    }
    const char *name = json_string_value(json_object_get(j, "name"));
    if (name == NULL)
        name = json_string_value(json_object_get(j, "id"));
    char stem[256];
    snprintf(stem, sizeof(stem), "%s", fname);
    char *dot = strrchr(stem, '.');
    if (dot)
        *dot = '\0';
    if (name == NULL)
        name = stem;
    struct api_model *m = &ms->m[ms->n];
    json_t *tasks = json_object_get(j, "tasks");
    json_t *task = json_object_get(j, "task");
    size_t nt = json_is_array(tasks) ? json_array_size(tasks) : 0;
    m->tasks = cm_xcalloc(nt + 1, sizeof(char *));
    if (json_is_string(task))
        m->tasks[m->ntasks++] = cm_xstrdup(json_string_value(task));
    for (size_t i = 0; i < nt; i++) {
        const char *t = json_string_value(json_array_get(tasks, i));
        int dup = 0;
        for (int k = 0; t && k < m->ntasks; k++)
            dup |= strcmp(m->tasks[k], t) == 0;
        if (t != NULL && !dup && m->ntasks < (int)nt + 1)
            m->tasks[m->ntasks++] = cm_xstrdup(t);
    }
    if (m->ntasks == 0) {
        log_warn("model manifest \"%s\" names no task; ignored", path);
        free(m->tasks);
        m->tasks = NULL;
        json_decref(j);
        return;
    }
    m->name = cm_xstrdup(name);
    m->file = cm_xstrdup(fname);
    m->is_default = json_is_true(json_object_get(j, "default"));
    const char *desc = json_string_value(json_object_get(j, "description"));
    const char *ver = json_string_value(json_object_get(j, "version"));
    if (ver == NULL)
        ver = json_string_value(json_object_get(json_object_get(j, "source"), "version"));
    m->description = cm_xstrdup(desc ? desc : "");
    m->version = cm_xstrdup(ver ? ver : "");
    ms->n++;
    json_decref(j);
}

struct api_models *api_models_init(const char *dir)
{
    struct api_models *ms = cm_xcalloc(1, sizeof(*ms));
    DIR *d = opendir(dir);
    if (d == NULL) {
        log_warn("could not open models folder \"%s\"; no task is available", dir);
        return ms;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0 && de->d_name[0] != '.')
            add_manifest(ms, dir, de->d_name);
    }
    closedir(d);
    qsort(ms->m, (size_t)ms->n, sizeof(ms->m[0]), cmp_model);
    log_info("models: %d manifests from \"%s\"", ms->n, dir);
    return ms;
}

void api_models_free(struct api_models *ms)
{
    if (ms == NULL)
        return;
    for (int i = 0; i < ms->n; i++) {
        for (int k = 0; k < ms->m[i].ntasks; k++)
            free(ms->m[i].tasks[k]);
        free(ms->m[i].tasks);
        free(ms->m[i].name);
        free(ms->m[i].file);
        free(ms->m[i].description);
        free(ms->m[i].version);
    }
    free(ms);
}

static int serves(const struct api_model *m, const char *task)
{
    for (int k = 0; k < m->ntasks; k++)
        if (strcmp(m->tasks[k], task) == 0)
            return 1;
    return 0;
}

int api_models_has(const struct api_models *ms, const char *task, const char *model)
{
    for (int i = 0; i < ms->n; i++)
        if ((model == NULL || strcmp(ms->m[i].name, model) == 0) &&
            (task == NULL || serves(&ms->m[i], task)))
            return 1;
    return 0;
}

const char *api_models_default(const struct api_models *ms, const char *task)
{
    const char *first = NULL;
    for (int i = 0; i < ms->n; i++) {
        if (!serves(&ms->m[i], task))
            continue;
        if (ms->m[i].is_default)
            return ms->m[i].name;
        if (first == NULL)
            first = ms->m[i].name;
    }
    return first;
}

json_t *api_models_tasks_json(const struct api_models *ms)
{
    json_t *a = json_array();
    for (int i = 0; i < ms->n; i++)
        for (int k = 0; k < ms->m[i].ntasks; k++) {
            int dup = 0;
            size_t idx;
            json_t *v;
            json_array_foreach(a, idx, v) dup |=
                strcmp(json_string_value(v), ms->m[i].tasks[k]) == 0;
            if (!dup)
                json_array_append_new(a, json_string(ms->m[i].tasks[k]));
        }
    return a;
}

json_t *api_models_names_json(const struct api_models *ms, const char *task)
{
    json_t *a = json_array();
    for (int i = 0; i < ms->n; i++)
        if (task == NULL || serves(&ms->m[i], task))
            json_array_append_new(a, json_string(ms->m[i].name));
    return a;
}

json_t *api_models_list_json(const struct api_models *ms)
{
    json_t *a = json_array();
    for (int i = 0; i < ms->n; i++) {
        json_t *t = json_array();
        for (int k = 0; k < ms->m[i].ntasks; k++)
            json_array_append_new(t, json_string(ms->m[i].tasks[k]));
        /* id, name, description, version: the fields of a Moondream Station
         * model entry (fcgi/handlers/h_station.c); "name" is also ours */
        json_array_append_new(a,
                              json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:b}", "id", ms->m[i].name,
                                        "name", ms->m[i].name, "description", ms->m[i].description,
                                        "version", ms->m[i].version, "tasks", t, "manifest",
                                        ms->m[i].file, "default", ms->m[i].is_default));
    }
    return a;
}
