/*
 * rt_manifest.c: the one manifest reader (see rt_manifest.h for the rule).
 *
 * The API, the worker and the loader used to read manifests each their own
 * way, and disagreed: a manifest whose "name" differed from its file name
 * was offered by the API and claimed by no worker, so its jobs waited until
 * they timed out.  Everything that decides whether a manifest is a model,
 * what it is called and what it serves lives here.
 */
#include "tasks/rt_manifest.h"

#include "common/cm.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD(...) err_set(e, RT_MANIFEST_ERR_INVALID, ERR_INVALID, "invalid_manifest", __VA_ARGS__)

/* the formats some loader reads: tasks/rt_task.c (tfjs, onnx, pipeline: the
 * faces pipeline of other manifests, tasks/rt_task_faces.c), vlm/ (moondream2) */
static const char *const formats[] = {"tfjs-layers", "tfjs-graph", "tfjs",
                                      "onnx",        "moondream2", "pipeline"};
/* the tasks only format moondream2 serves (vlm/md_task.c) */
static const char *const vlm_tasks[] = {"caption", "query", "locate"};

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* a model name: what jobs, URLs and the cache folder use */
static int name_ok(const char *s)
{
    if (s[0] == '\0' || s[0] == '.' || s[0] == '-')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static int task_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int add_task(struct rt_manifest *m, const char *file, const json_t *v, struct err *e)
{
    const char *t = json_string_value(v);
    if (!task_ok(t))
        return BAD("manifest %s: \"task\" must be a task name (lower case, digits, _), or an "
                   "array of them",
                   file);
    for (int k = 0; k < m->n_tasks; k++)
        if (strcmp(m->tasks[k], t) == 0)
            return BAD("manifest %s: task \"%s\" is listed twice", file, t);
    if (m->n_tasks >= RT_MANIFEST_MAX_TASKS)
        return BAD("manifest %s: more than %d tasks", file, RT_MANIFEST_MAX_TASKS);
    m->tasks[m->n_tasks++] = t;
    return 0;
}

static int check(struct rt_manifest *m, const char *file, struct err *e)
{
    const json_t *j = m->json;
    if (!json_is_object(j))
        return BAD("manifest %s: not a JSON object", file);
    const json_t *nm = json_object_get(j, "name");
    if (nm != NULL && !json_is_string(nm))
        return BAD("manifest %s: \"name\" must be a string", file);
    if (nm != NULL && strcmp(json_string_value(nm), m->name) != 0)
        return BAD("manifest %s: \"name\" is \"%.40s\" but a model is named by its file (\"%s\"): "
                   "rename the file or the name",
                   file, json_string_value(nm), m->name);
    if (json_object_get(j, "id") != NULL)
        return BAD("manifest %s: \"id\" is not a manifest key (a model is named by its file)",
                   file);
    if (json_object_get(j, "tasks") != NULL)
        return BAD("manifest %s: \"tasks\" is not a manifest key; use \"task\" (a string, or an "
                   "array of strings)",
                   file);
    const json_t *t = json_object_get(j, "task");
    if (t == NULL)
        return BAD("manifest %s: no \"task\"", file);
    if (json_is_array(t)) {
        if (json_array_size(t) == 0)
            return BAD("manifest %s: \"task\" is an empty array", file);
        for (size_t i = 0; i < json_array_size(t); i++)
            if (add_task(m, file, json_array_get(t, i), e) < 0)
                return e->status;
    } else if (add_task(m, file, t, e) < 0) {
        return e->status;
    }
    m->format = json_string_value(json_object_get(j, "format"));
    if (m->format == NULL)
        return BAD("manifest %s: no \"format\" (one of tfjs-layers, tfjs-graph, tfjs, onnx, "
                   "moondream2, pipeline)",
                   file);
    int known = 0;
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        known |= strcmp(m->format, formats[i]) == 0;
    if (!known)
        return BAD("manifest %s: unknown format \"%.30s\" (tfjs-layers, tfjs-graph, tfjs, onnx, "
                   "moondream2 or pipeline)",
                   file, m->format);
    /* the text-generating tasks have one runner, vlm/ (format moondream2):
     * an image model's manifest naming one would be offered by the API and
     * claimed by no worker, its jobs waiting until they time out */
    for (int k = 0; k < m->n_tasks; k++)
        for (size_t i = 0; i < sizeof(vlm_tasks) / sizeof(vlm_tasks[0]); i++)
            if (strcmp(m->tasks[k], vlm_tasks[i]) == 0 && strcmp(m->format, "moondream2") != 0)
                return BAD("manifest %s: task \"%s\" is run only by the vision-language runner "
                           "(format moondream2), not by format \"%s\"",
                           file, m->tasks[k], m->format);
    const json_t *sv = json_object_get(j, "serve");
    if (sv != NULL && !json_is_boolean(sv))
        return BAD("manifest %s: \"serve\" must be true or false", file);
    m->serve = sv == NULL || json_is_true(sv);
    const json_t *df = json_object_get(j, "default");
    if (df != NULL && !json_is_boolean(df))
        return BAD("manifest %s: \"default\" must be true or false", file);
    m->is_default = json_is_true(df);
    const json_t *ds = json_object_get(j, "description");
    if (ds != NULL && !json_is_string(ds))
        return BAD("manifest %s: \"description\" must be a string", file);
    m->description = ds ? json_string_value(ds) : "";
    const json_t *vs = json_object_get(j, "version");
    if (vs == NULL)
        vs = json_object_get(json_object_get(j, "source"), "version");
    m->version = json_is_string(vs) ? json_string_value(vs) : "";
    return 0;
}

int rt_manifest_read(const char *path, struct rt_manifest *m, struct err *e)
{
    memset(m, 0, sizeof(*m));
    const char *file = base_name(path);
    size_t fl = strlen(file);
    if (fl <= 5 || strcmp(file + fl - 5, ".json") != 0 || fl - 5 >= sizeof(m->name))
        return BAD("manifest %.80s: the file name must be <name>.json with a name of 1..%d "
                   "characters",
                   file, RT_MANIFEST_NAME_MAX - 1);
    memcpy(m->name, file, fl - 5);
    m->name[fl - 5] = '\0';
    if (!name_ok(m->name))
        return BAD("manifest %s: a model name has only letters, digits, '-', '_' and '.', and "
                   "does not start with '.' or '-'",
                   file);
    snprintf(m->path, sizeof(m->path), "%s", path);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return err_set(e, RT_MANIFEST_ERR_IO, ERR_NOT_FOUND, "invalid_manifest",
                       "cannot open manifest %s: %s", path, strerror(errno));
    char *buf = cm_xmalloc(RT_MANIFEST_MAX_BYTES + 1);
    size_t len = fread(buf, 1, RT_MANIFEST_MAX_BYTES + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return err_set(e, RT_MANIFEST_ERR_IO, ERR_INTERNAL, "invalid_manifest",
                       "cannot read manifest %s", path);
    }
    if (len > RT_MANIFEST_MAX_BYTES) {
        free(buf);
        return BAD("manifest %s: larger than %d bytes", file, RT_MANIFEST_MAX_BYTES);
    }
    json_error_t je;
    m->json = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (m->json == NULL)
        return BAD("manifest %s: invalid JSON at line %d: %s", file, je.line, je.text);
    int rc = check(m, file, e);
    if (rc < 0) {
        rt_manifest_clear(m);
        return rc;
    }
    return 0;
}

void rt_manifest_clear(struct rt_manifest *m)
{
    if (m == NULL)
        return;
    json_decref(m->json);
    memset(m, 0, sizeof(*m));
}

int rt_manifest_has_task(const struct rt_manifest *m, const char *task)
{
    for (int k = 0; k < m->n_tasks; k++)
        if (strcmp(m->tasks[k], task) == 0)
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_manifest(const void *a, const void *b)
{
    return strcmp(((const struct rt_manifest *)a)->name, ((const struct rt_manifest *)b)->name);
}

int rt_manifest_dir_read(const char *dir, struct rt_manifest_dir *d, struct err *e)
{
    memset(d, 0, sizeof(*d));
    DIR *dh = opendir(dir);
    if (dh == NULL)
        return err_set(e, RT_MANIFEST_ERR_IO, ERR_NOT_FOUND, "invalid_manifest",
                       "cannot open the models folder %s: %s", dir, strerror(errno));
    char *files[RT_MANIFEST_MAX_FILES];
    int nf = 0, over = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l <= 5 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        if (nf < RT_MANIFEST_MAX_FILES)
            files[nf++] = cm_xstrdup(de->d_name);
        else
            over++;
    }
    closedir(dh);
    qsort(files, (size_t)nf, sizeof(files[0]), cmp_str);
    d->m = cm_xcalloc((size_t)nf + 1, sizeof(d->m[0]));
    d->refused = cm_xcalloc((size_t)nf + 2, sizeof(d->refused[0]));
    for (int i = 0; i < nf; i++) {
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        struct rt_manifest_refused *r = &d->refused[d->n_refused];
        err_clear(&r->err);
        if (rt_manifest_read(path, &d->m[d->n], &r->err) == 0) {
            d->n++;
        } else {
            snprintf(r->file, sizeof(r->file), "%s", files[i]);
            d->n_refused++;
        }
        free(files[i]);
    }
    if (over > 0) {
        struct rt_manifest_refused *r = &d->refused[d->n_refused++];
        snprintf(r->file, sizeof(r->file), "...");
        err_clear(&r->err);
        err_set(&r->err, RT_MANIFEST_ERR_INVALID, ERR_TOO_LARGE, "invalid_manifest",
                "%d manifests of %s over the limit of %d not read", over, dir,
                RT_MANIFEST_MAX_FILES);
    }
    qsort(d->m, (size_t)d->n, sizeof(d->m[0]), cmp_manifest);
    return 0;
}

void rt_manifest_dir_free(struct rt_manifest_dir *d)
{
    if (d == NULL)
        return;
    for (int i = 0; i < d->n; i++)
        rt_manifest_clear(&d->m[i]);
    free(d->m);
    free(d->refused);
    memset(d, 0, sizeof(*d));
}
