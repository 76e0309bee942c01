/*
 * rt_manifest.h: the one reader of model manifests (models/<name>.json),
 * used by the API's catalogue (fcgi/api_models.c), the worker's
 * registration and Moondream path (worker/wk_eng_rt.c) and the loader
 * (tasks/rt_task.c).  JSON and files only (jansson, common/): vkv-api
 * links it without the runtime.
 *
 * One rule, applied the same way by all three (models/README.md):
 *   - a model is named by its file: models/nsfw-mobilenet-v2.json is model
 *     "nsfw-mobilenet-v2" (jobs, the API, the cache folder
 *     $VKV_MODEL_CACHE/<name>/).  "name" may repeat it; a "name" that
 *     differs from the file name refuses the manifest (invalid_manifest);
 *   - "task" names what it serves: a string, or an array of strings for a
 *     model that serves several (Moondream 2).  "tasks" is not a manifest
 *     key and refuses the manifest, so a typo never hides a model;
 *   - "format" is required, one of tfjs-layers, tfjs-graph, tfjs, onnx,
 *     moondream2, pipeline (the faces pipeline: "parts" names other
 *     manifests, no files of its own);
 *   - "serve": false keeps the model out of the service: the API does not
 *     offer it and no worker claims it; the CLI and the tests load it.
 * A refused manifest is refused by all three with the same message.
 *
 *   struct rt_manifest m;
 *   if (rt_manifest_read("models/centernet.json", &m, &e) == 0) {
 *       ... m.name, m.tasks[0], m.format, json_object_get(m.json, "input") ...
 *       rt_manifest_clear(&m);
 *   }
 *
 * Threads: a struct rt_manifest is immutable once read; any thread may read it.
 */
#ifndef VKV_RT_MANIFEST_H
#define VKV_RT_MANIFEST_H

#include "common/err.h"

#include <jansson.h>

#define RT_MANIFEST_MAX_BYTES (1 << 20) /* a manifest file is read whole */
#define RT_MANIFEST_MAX_TASKS 8
#define RT_MANIFEST_NAME_MAX 64   /* a model name, NUL included */
#define RT_MANIFEST_MAX_FILES 256 /* manifests in one folder */

enum rt_manifest_status {
    RT_MANIFEST_OK = 0,
    RT_MANIFEST_ERR_IO = -1,      /* cannot read the file or the folder */
    RT_MANIFEST_ERR_INVALID = -2, /* not a manifest by the rule above */
};

struct rt_manifest {
    char name[RT_MANIFEST_NAME_MAX];          /* the file name without ".json" */
    char path[1024];                          /* as given to rt_manifest_read */
    const char *tasks[RT_MANIFEST_MAX_TASKS]; /* distinct, borrowed from json */
    int n_tasks;                              /* >= 1 */
    const char *format;                       /* borrowed from json */
    int serve;                                /* 0 when "serve": false */
    int is_default;                           /* "default": true */
    const char *description;                  /* "" when absent; borrowed */
    const char *version; /* "version", else "source.version", else ""; borrowed */
    json_t *json;        /* the whole manifest; owned, freed by rt_manifest_clear */
};

/*
 * Reads and checks the manifest at path (the file name gives the model's
 * name).  Returns 0 with *m filled (caller calls rt_manifest_clear), or <0
 * with e set (code "invalid_manifest", class ERR_INVALID, the message
 * names the file and the key) and *m empty.
 */
int rt_manifest_read(const char *path, struct rt_manifest *m, struct err *e);

/* frees what m owns and empties it; cannot fail; an empty m is fine */
void rt_manifest_clear(struct rt_manifest *m);

/* 1 when m serves task; cannot fail */
int rt_manifest_has_task(const struct rt_manifest *m, const char *task);

/* one file of a folder that was not read: its file name and why */
struct rt_manifest_refused {
    char file[RT_MANIFEST_NAME_MAX + 8];
    struct err err;
};

struct rt_manifest_dir {
    struct rt_manifest *m; /* n of them, sorted by name; owned */
    int n;
    struct rt_manifest_refused *refused; /* n_refused, sorted by file; owned */
    int n_refused;
};

/*
 * Reads every "*.json" of dir (names starting with '.' are skipped, at most
 * RT_MANIFEST_MAX_FILES) into *d: the manifests that pass the rule in d->m,
 * the others with their error in d->refused, for the caller to log.
 * "serve": false manifests are in d->m with serve = 0.  Returns 0, or <0
 * with e set when dir cannot be opened (*d is then empty).  Caller frees
 * with rt_manifest_dir_free.
 */
int rt_manifest_dir_read(const char *dir, struct rt_manifest_dir *d, struct err *e);

/* frees what d owns and empties it; cannot fail */
void rt_manifest_dir_free(struct rt_manifest_dir *d);

#endif
