/*
 * rt_task.c: manifests, preprocessing and postprocessing around an
 * executor.
 *
 * Design: rt_task_model_load reads models/<name>.json, imports the model
 * file with rt_import_*, then creates an executor (rt_exec_create): the
 * Vulkan plan (preprocessing on the device from RGB8) or, with dev ==
 * NULL, the CPU reference (tests, no device wanted).  The
 * postprocessing (softmax/top-k with labels, BlazeFace anchors + decode +
 * weighted NMS, CenterNet via rt_task_detect.c) is plain C on the host
 * outputs and is shared by both paths, so the fidelity tests exercise what
 * the worker runs.  Letterboxing (pad to a square) is done on the host
 * before the image goes to the device.  See tasks/README.md and
 * models/README.md.
 */
#include "tasks/rt_task.h"
#include "import/rt_import.h"
#include "runtime/ir/rt_ir.h"
#include "tasks/rt_manifest.h"
#include "tasks/rt_tags.h"
#include "tasks/rt_task_detect.h"
#include "tasks/rt_task_faces.h"
#include "tasks/rt_task_ocr.h"
#include "common/cm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BAD(...) err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_manifest", __VA_ARGS__)

/*
 * Images up to this side are uploaded as RGB8 and resized on the device;
 * larger ones are resized on the host (the cost is the model input's size,
 * and the upload is smaller).  Sized so max_batch images fit lavapipe's
 * 128 MiB storage binding.
 */
#define RT_TASK_PRE_MAX_SIDE 1024

/*
 * Generation of the packed cache files: bump it whenever an importer or a
 * pass changes the graph it produces, so stale packs are not reused.
 */
#define RT_TASK_PACK_GEN 2

struct rt_task_model {
    char name[96];
    enum rt_task_kind kind;
    struct rt_task_input in;
    int batch_limit, max_batch;
    enum rt_weights weights;
    struct rt_exec *exec; /* Vulkan plan or CPU reference */
    int n_out;
    int64_t out_size[16]; /* floats per image */
    int64_t out_shape[16][RT_MAX_DIMS];
    int out_ndim[16];
    double load_ms, graph_ms;
    int packed; /* the graph came from the packed cache file */
    size_t weight_bytes_f32;
    /* postprocessing */
    char **labels;
    int n_labels;
    int top_k, softmax;
    struct rt_face_opts face;
    char lm_names[6][24];
    struct rt_centernet_opts cn;
    int cn_heat, cn_wh;     /* output indices */
    struct rt_faces *faces; /* RT_TASK_FACES: the pipeline; exec is NULL */
    struct rt_ocr *ocr;     /* RT_TASK_OCR: its own executors, one per input shape; exec is NULL */
    struct rt_tags *tags;   /* a tagger's table (output 0 in its order) */
    struct rt_tags_opts tag_opts;
    int tag_spaces;
};

/* ---- options and accessors --------------------------------------------- */

struct rt_task_opts rt_task_opts_default(void)
{
    struct rt_task_opts o;
    memset(&o, 0, sizeof(o));
    o.weights = RT_WEIGHTS_F32;
    return o;
}

const char *rt_task_model_name(const struct rt_task_model *m)
{
    return m->name;
}
enum rt_task_kind rt_task_model_kind(const struct rt_task_model *m)
{
    return m->kind;
}
int rt_task_model_batch_limit(const struct rt_task_model *m)
{
    return m->max_batch;
}
double rt_task_model_load_ms(const struct rt_task_model *m)
{
    return m->load_ms;
}
double rt_task_model_graph_ms(const struct rt_task_model *m)
{
    return m->graph_ms;
}
int rt_task_model_packed(const struct rt_task_model *m)
{
    return m->packed;
}
int rt_task_model_output_count(const struct rt_task_model *m)
{
    return m->n_out;
}
const struct rt_task_input *rt_task_model_input(const struct rt_task_model *m)
{
    return &m->in;
}
const char *rt_task_model_label(const struct rt_task_model *m, int i)
{
    return i >= 0 && i < m->n_labels ? m->labels[i] : NULL;
}
struct rt_faces *rt_task_model_faces(const struct rt_task_model *m)
{
    return m->faces;
}
size_t rt_task_model_weight_bytes_f32(const struct rt_task_model *m)
{
    return m->weight_bytes_f32;
}

int64_t rt_task_model_output_size(const struct rt_task_model *m, int j)
{
    return j >= 0 && j < m->n_out ? m->out_size[j] : 0;
}

struct rt_ocr *rt_task_model_ocr(struct rt_task_model *m)
{
    return m->ocr;
}

size_t rt_task_model_bytes(const struct rt_task_model *m)
{
    if (m->ocr)
        return rt_ocr_bytes(m->ocr);
    return m->faces ? rt_faces_bytes(m->faces) : rt_exec_device_bytes(m->exec);
}

size_t rt_task_model_weight_bytes(const struct rt_task_model *m)
{
    return m->faces ? rt_faces_weight_bytes(m->faces) : m->exec ? rt_exec_weight_bytes(m->exec) : 0;
}

int rt_task_model_dispatch_count(const struct rt_task_model *m)
{
    return m->faces  ? rt_faces_dispatch_count(m->faces)
           : m->exec ? rt_exec_dispatch_count(m->exec)
                     : 0;
}

void rt_task_model_free(struct rt_task_model *m)
{
    if (m == NULL)
        return;
    rt_faces_free(m->faces);
    rt_exec_destroy(m->exec);
    rt_ocr_free(m->ocr);
    rt_tags_free(m->tags);
    for (int i = 0; i < m->n_labels; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m);
}

/* ---- manifest ------------------------------------------------------------ */

static int num_get(const json_t *o, const char *k, double def, double lo, double hi, double *out,
                   struct err *e)
{
    const json_t *v = json_object_get(o, k);
    if (v == NULL || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return BAD("manifest: \"%s\" must be a number in %g..%g", k, lo, hi);
    *out = json_number_value(v);
    return 0;
}

static int manifest_input(struct rt_task_model *m, const json_t *in, struct err *e)
{
    double v;
    const char *rs;
    if (!json_is_object(in))
        return BAD("manifest: no \"input\" object");
    if (num_get(in, "width", 0, 1, 8192, &v, e) < 0)
        return e->status;
    m->in.w = (int)v;
    if (num_get(in, "height", 0, 1, 8192, &v, e) < 0)
        return e->status;
    m->in.h = (int)v;
    if (m->in.w < 1 || m->in.h < 1)
        return BAD("manifest: input width and height are required");
    rs = json_string_value(json_object_get(in, "resize"));
    if (rs && strcmp(rs, "bilinear") && strcmp(rs, "nearest"))
        return BAD("manifest: unknown resize \"%.20s\"", rs);
    m->in.bilinear = rs == NULL || !strcmp(rs, "bilinear");
    if (num_get(in, "align_corners", 0, 0, 1, &v, e) < 0)
        return e->status;
    m->in.align_corners = v != 0;
    if (num_get(in, "half_pixel", 0, 0, 1, &v, e) < 0)
        return e->status;
    m->in.half_pixel = v != 0;
    if (m->in.align_corners && m->in.half_pixel)
        return BAD("manifest: align_corners and half_pixel together");
    if (num_get(in, "letterbox", 0, 0, 1, &v, e) < 0)
        return e->status;
    m->in.letterbox = v != 0;
    if (num_get(in, "pad_value", 0, 0, 255, &v, e) < 0)
        return e->status;
    m->in.pad_value = (int)v;
    if (num_get(in, "pad_center", 0, 0, 1, &v, e) < 0)
        return e->status;
    m->in.pad_center = v != 0;
    if (m->in.pad_center && m->kind != RT_TASK_TAG && m->kind != RT_TASK_CLASSIFY)
        return BAD("manifest: input.pad_center is for classify and tag models (the boxes of "
                   "other tasks are mapped back from a top-left letterbox)");
    if (num_get(in, "scale", 1.0 / 255, -1e6, 1e6, &v, e) < 0)
        return e->status;
    m->in.scale = (float)v;
    for (int k = 0; k < 2; k++) {
        const json_t *a = json_object_get(in, k ? "std" : "mean");
        for (int c = 0; c < 3; c++) {
            const json_t *x = json_array_get(a, (size_t)c);
            float def = k ? 1.0f : 0.0f;
            float val = x ? (float)json_number_value(x) : def;
            if (a && (!json_is_array(a) || json_array_size(a) != 3 || !json_is_number(x)))
                return BAD("manifest: input.%s must be 3 numbers", k ? "std" : "mean");
            if (k && val == 0)
                return BAD("manifest: input.std has a zero");
            if (k)
                m->in.std[c] = val;
            else
                m->in.mean[c] = val;
        }
    }
    const char *color = json_string_value(json_object_get(in, "color"));
    if (color && strcmp(color, "RGB") && strcmp(color, "BGR") && strcmp(color, "GRAY"))
        return err_set(e, RT_UNSUPPORTED, ERR_UNPROCESSABLE, "unsupported_model",
                       "manifest: input color %.10s (RGB, BGR or GRAY)", color);
    m->in.gray = color != NULL && !strcmp(color, "GRAY");
    m->in.bgr = color != NULL && !strcmp(color, "BGR");
    if (num_get(in, "channels", m->in.gray ? 1 : 3, 1, 3, &v, e) < 0)
        return e->status;
    if ((int)v != (m->in.gray ? 1 : 3))
        return BAD("manifest: input.channels must be %d for color %s", m->in.gray ? 1 : 3,
                   m->in.gray ? "GRAY"
                   : color    ? color
                              : "RGB");
    return 0;
}

/*
 * A tagger's "post": thresholds per category ({"general": 0.35,
 * "character": 0.85, "9": ...}), "threshold" for the categories not named,
 * "max_tags", "sigmoid" (outputs are logits), "underscores" ("spaces", the
 * default, or "keep").
 */
static int manifest_tag_post(struct rt_task_model *m, const json_t *post, struct err *e)
{
    double v;
    m->tag_opts = rt_tags_opts_default();
    if (num_get(post, "threshold", 0.35, 0, 1, &v, e) < 0)
        return e->status;
    for (int c = 0; c < RT_TAGS_CATS; c++)
        if (c != 4 || json_object_get(post, "threshold") != NULL)
            m->tag_opts.threshold[c] = (float)v;
    const json_t *th = json_object_get(post, "thresholds");
    if (th != NULL && !json_is_object(th))
        return BAD("manifest: post.thresholds must be an object {category: 0..1}");
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)th, k, x)
    {
        int cat = -1;
        for (int c = 0; c < RT_TAGS_CATS && cat < 0; c++) {
            const char *w = rt_tags_category_word(c);
            char num[8];
            snprintf(num, sizeof(num), "%d", c);
            if ((w && !strcmp(w, k)) || !strcmp(num, k))
                cat = c;
        }
        if (cat < 0 || !json_is_number(x) || json_number_value(x) < 0 || json_number_value(x) > 1)
            return BAD("manifest: post.thresholds.%.20s: a category word or 0..%d, and 0..1", k,
                       RT_TAGS_CATS - 1);
        m->tag_opts.threshold[cat] = (float)json_number_value(x);
    }
    if (num_get(post, "max_tags", 64, 1, 4096, &v, e) < 0)
        return e->status;
    m->tag_opts.max_tags = (int)v;
    if (num_get(post, "sigmoid", 0, 0, 1, &v, e) < 0)
        return e->status;
    m->tag_opts.sigmoid = v != 0;
    const char *us = json_string_value(json_object_get(post, "underscores"));
    if (us && strcmp(us, "spaces") && strcmp(us, "keep"))
        return BAD("manifest: post.underscores must be spaces or keep");
    m->tag_spaces = us == NULL || !strcmp(us, "spaces");
    return 0;
}

static int manifest_post(struct rt_task_model *m, const json_t *post, const json_t *labels,
                         struct err *e)
{
    double v;
    if (labels) {
        if (!json_is_array(labels) || json_array_size(labels) > RT_TASK_MAX_LABELS)
            return BAD("manifest: labels must be an array of at most %d strings",
                       RT_TASK_MAX_LABELS);
        m->labels = calloc(json_array_size(labels) + 1, sizeof(char *));
        if (m->labels == NULL)
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "could not allocate labels");
        for (size_t i = 0; i < json_array_size(labels); i++) {
            const char *s = json_string_value(json_array_get(labels, i));
            if (s == NULL)
                return BAD("manifest: label %zu is not a string", i);
            m->labels[m->n_labels++] = cm_xstrdup(s);
        }
    }
    if (m->kind == RT_TASK_CLASSIFY) {
        if (num_get(post, "top_k", 5, 1, RT_TASK_MAX_LABELS, &v, e) < 0)
            return e->status;
        m->top_k = (int)v;
        if (num_get(post, "softmax", 0, 0, 1, &v, e) < 0)
            return e->status;
        m->softmax = v != 0;
        return 0;
    }
    if (m->kind == RT_TASK_TAG)
        return manifest_tag_post(m, post, e);
    if (m->kind == RT_TASK_DETECT_FACES) {
        struct rt_face_opts *f = &m->face;
        const json_t *an = json_object_get(post, "anchors");
        if (!json_is_array(an) || json_array_size(an) < 1 || json_array_size(an) > 4)
            return BAD("manifest: post.anchors must list 1..4 layers");
        f->n_layers = (int)json_array_size(an);
        for (int i = 0; i < f->n_layers; i++) {
            const json_t *l = json_array_get(an, (size_t)i);
            if (num_get(l, "stride", 0, 1, 1024, &v, e) < 0)
                return e->status;
            f->stride[i] = (int)v;
            if (num_get(l, "per_cell", 0, 1, 64, &v, e) < 0)
                return e->status;
            f->per_cell[i] = (int)v;
            if (f->stride[i] < 1 || f->per_cell[i] < 1 || m->in.w % f->stride[i])
                return BAD("manifest: anchor layer %d needs a stride dividing %d", i, m->in.w);
        }
        if (num_get(post, "min_score", 0.5, 0, 1, &v, e) < 0)
            return e->status;
        f->min_score = (float)v;
        if (num_get(post, "nms_iou", 0.3, 0, 1, &v, e) < 0)
            return e->status;
        f->nms_iou = (float)v;
        if (num_get(post, "max_faces", 64, 1, 4096, &v, e) < 0)
            return e->status;
        f->max_faces = (int)v;
        const char *nms = json_string_value(json_object_get(post, "nms"));
        f->weighted = nms == NULL || !strcmp(nms, "weighted");
        if (nms && strcmp(nms, "weighted") && strcmp(nms, "greedy"))
            return BAD("manifest: post.nms must be weighted or greedy");
        f->in_size = m->in.w;
        if (m->in.w != m->in.h)
            return BAD("manifest: a face detector needs a square input");
        static const char *def_lm[6] = {"right_eye", "left_eye",  "nose",
                                        "mouth",     "right_ear", "left_ear"};
        const json_t *lm = json_object_get(post, "landmarks");
        for (int i = 0; i < 6; i++) {
            const char *s = json_string_value(json_array_get(lm, (size_t)i));
            snprintf(m->lm_names[i], sizeof(m->lm_names[i]), "%s", s ? s : def_lm[i]);
        }
        return 0;
    }
    /* CenterNet objects */
    m->cn = rt_centernet_opts_default();
    if (num_get(post, "stride", m->cn.stride, 1, 64, &v, e) < 0)
        return e->status;
    m->cn.stride = (float)v;
    if (num_get(post, "topk", m->cn.topk, 1, 10000, &v, e) < 0)
        return e->status;
    m->cn.topk = (int)v;
    if (num_get(post, "min_score", m->cn.min_score, 0, 1, &v, e) < 0)
        return e->status;
    m->cn.min_score = (float)v;
    if (num_get(post, "nms_iou", m->cn.nms_iou, 0, 1, &v, e) < 0)
        return e->status;
    m->cn.nms_iou = (float)v;
    if (num_get(post, "per_class", 1, 0, 1, &v, e) < 0)
        return e->status;
    m->cn.per_class = v != 0;
    return 0;
}

static const char *models_dir(const struct rt_task_opts *o)
{
    if (o && o->models_dir)
        return o->models_dir;
    const char *env = getenv("VKV_MODEL_CACHE");
    return env && *env ? env : "var/cache/models";
}

/* fp32 bytes of the constants a node reads (g is after the standard passes) */
static size_t weights_f32(const struct rt_graph *g)
{
    struct err e2;
    size_t n = 0;
    /* g has been through the passes (import path or packed file) */
    const struct rt_graph *c = g;
    {
        char *used = calloc((size_t)c->n_tensors, 1);
        if (used) {
            for (int i = 0; i < c->n_nodes; i++)
                for (int k = 0; k < c->nodes[i].n_in; k++)
                    used[c->nodes[i].in[k]] = 1;
            for (int t = 0; t < c->n_tensors; t++)
                if (used[t] && c->tensors[t].is_const)
                    n += (size_t)rt_tensor_nelem(&c->tensors[t]) * 4;
            free(used);
        }
    }
    (void)e2;
    return n;
}

/* a tagger's CSV: the manifest's "tags", a file beside the model */
static int tags_load(struct rt_task_model *m, const json_t *man, const char *dir,
                     const char *manifest_path, struct err *e)
{
    const char *file = json_string_value(json_object_get(man, "tags"));
    if (file == NULL || strstr(file, "..") || file[0] == '/')
        return BAD("manifest \"%s\": a tagger needs \"tags\", its CSV beside the model",
                   manifest_path);
    char path[1024];
    uint8_t *buf;
    size_t len;
    snprintf(path, sizeof(path), "%s/%s/%s", dir, m->name, file);
    int rc = rt_import_file_read(path, RT_TAGS_FILE_MAX, &buf, &len, e);
    if (rc < 0)
        return rc;
    rc = rt_tags_parse((const char *)buf, len, m->tag_spaces, &m->tags, e);
    free(buf);
    if (rc < 0)
        snprintf(e->msg + strlen(e->msg), sizeof(e->msg) - strlen(e->msg), " (%s)", file);
    return rc;
}

/*
 * See rt_task.h.  The manifest is read whole (limit 1 MiB); the model
 * path comes from "model" under <models_dir>/<name>/ and must not climb
 * out of it.
 */
int rt_task_model_load(struct rt_device *dev, const char *manifest_path,
                       const struct rt_task_opts *o, struct rt_task_model **out, struct err *e)
{
    struct rt_task_opts od = rt_task_opts_default();
    double t0 = cm_now_ms(), v;
    int rc;

    *out = NULL;
    if (o == NULL)
        o = &od;
    struct rt_manifest mf;
    rc = rt_manifest_read(manifest_path, &mf, e);
    if (rc < 0)
        return e->status = rc == RT_MANIFEST_ERR_IO ? RT_ERR_IO : RT_ERR_INVALID;
    const json_t *man = mf.json;
    const char *name = mf.name, *task = mf.tasks[0], *fmt = mf.format;
    const char *file = json_string_value(json_object_get(man, "model"));
    struct rt_task_model *m = cm_xcalloc(1, sizeof(*m));
    m->cn_heat = m->cn_wh = -1;
    rc = 0;
    if (!strcmp(fmt, "pipeline")) {
        /* a pipeline of other manifests (rt_task_faces.c): no model file of its own */
        if (mf.n_tasks != 1 || strcmp(task, "faces") != 0)
            rc = BAD("manifest %s: format pipeline serves the task faces only", manifest_path);
        snprintf(m->name, sizeof(m->name), "%s", name);
        m->kind = RT_TASK_FACES;
        if (rc == 0)
            rc = num_get(man, "batch_limit", 8, 1, 64, &v, e);
        if (rc == 0) {
            m->batch_limit = (int)v;
            m->max_batch =
                o->max_batch > 0 && o->max_batch < m->batch_limit ? o->max_batch : m->batch_limit;
            rc = rt_faces_load(dev, manifest_path, man, o, &m->faces, e);
        }
        rt_manifest_clear(&mf);
        if (rc < 0) {
            rt_task_model_free(m);
            return rc;
        }
        m->weights = o->weights;
        m->load_ms = cm_now_ms() - t0;
        *out = m;
        return 0;
    }
    if (!strcmp(fmt, "moondream2"))
        rc = err_set(e, RT_UNSUPPORTED, ERR_UNPROCESSABLE, "unsupported_model",
                     "manifest %s: format moondream2 is loaded by vlm/ (vkv-md, the worker), not "
                     "the task layer",
                     manifest_path);
    else if (mf.n_tasks != 1)
        rc = BAD("manifest %s: a model of the task layer serves one task, not %d", manifest_path,
                 mf.n_tasks);
    else if (file == NULL)
        rc = BAD("manifest %s needs \"model\" (the model file)", manifest_path);
    else if (strstr(file, "..") || file[0] == '/')
        rc = BAD("manifest %s: invalid model path", manifest_path);
    if (rc == 0) {
        snprintf(m->name, sizeof(m->name), "%s", name);
        if (!strcmp(task, "classify"))
            m->kind = RT_TASK_CLASSIFY;
        else if (!strcmp(task, "detect_faces"))
            m->kind = RT_TASK_DETECT_FACES;
        else if (!strcmp(task, "detect"))
            m->kind = RT_TASK_DETECT;
        else if (!strcmp(task, "segment"))
            m->kind = RT_TASK_SEGMENT;
        else if (!strcmp(task, "upscale"))
            m->kind = RT_TASK_UPSCALE;
        else if (!strcmp(task, "ocr"))
            m->kind = RT_TASK_OCR;
        else if (!strcmp(task, "tag"))
            m->kind = RT_TASK_TAG;
        else
            rc = err_set(e, RT_UNSUPPORTED, ERR_UNPROCESSABLE, "unsupported_model",
                         "manifest \"%s\": unknown task \"%.30s\"", manifest_path, task);
    }
    if (rc == 0 && m->kind == RT_TASK_OCR) {
        /* two graphs run at the image's own shapes: rt_task_ocr.c holds them */
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/%s", models_dir(o), name);
        rc = rt_ocr_load(dev, man, dir, &m->ocr, e);
        rt_manifest_clear(&mf);
        if (rc < 0) {
            rt_task_model_free(m);
            return rc;
        }
        m->batch_limit = m->max_batch = 1;
        m->weights = RT_WEIGHTS_F32;
        m->load_ms = cm_now_ms() - t0;
        *out = m;
        return 0;
    }
    if (rc == 0)
        rc = manifest_input(m, json_object_get(man, "input"), e);
    if (rc == 0)
        rc = manifest_post(m, json_object_get(man, "post"), json_object_get(man, "labels"), e);
    if (rc == 0 && (rc = num_get(man, "batch_limit", 16, 1, 1024, &v, e)) == 0) {
        m->batch_limit = (int)v;
        m->max_batch =
            o->max_batch > 0 && o->max_batch < m->batch_limit ? o->max_batch : m->batch_limit;
    }
    /* import */
    struct rt_graph *g = NULL;
    if (rc == 0) {
        char path[1024];
        struct rt_import_opts io;
        const char *outs[16];
        memset(&io, 0, sizeof(io));
        io.in_h = m->in.h;
        io.in_w = m->in.w;
        const json_t *jo = json_object_get(man, "outputs");
        if (json_is_array(jo) && json_array_size(jo) > 0 && json_array_size(jo) <= 16) {
            for (size_t i = 0; i < json_array_size(jo); i++)
                outs[i] = json_string_value(json_array_get(jo, i));
            io.outputs = outs;
            io.n_outputs = (int)json_array_size(jo);
        }
        snprintf(path, sizeof(path), "%s/%s/%s", models_dir(o), name, file);
        /*
         * The packed cache <dir>/<name>/<name>.<w>.g<GEN>.vkvpack holds the graph
         * after the passes and the weight rounding; it is used when newer
         * than both the model file and the manifest, and rewritten
         * otherwise (best effort: a read-only directory just loads slower).
         */
        static const char *wn[3] = {"f32", "f16", "i8"};
        char pack[1100];
        struct stat sp, sm, sf;
        snprintf(pack, sizeof(pack), "%s/%s/%s.%s.g%d.vkvpack", models_dir(o), name, name,
                 wn[o->weights >= 0 && o->weights <= 2 ? o->weights : 0], RT_TASK_PACK_GEN);
        double tg = cm_now_ms();
        int fresh = getenv("VKV_NO_PACK") == NULL && stat(pack, &sp) == 0 && stat(path, &sm) == 0 &&
                    stat(manifest_path, &sf) == 0 && sp.st_mtime >= sm.st_mtime &&
                    sp.st_mtime >= sf.st_mtime;
        struct err pe;
        if (fresh && rt_pack_load(pack, &g, &pe) == 0) {
            m->packed = 1;
        } else if (!strcmp(fmt, "onnx"))
            rc = rt_import_onnx(path, &io, &g, e);
        else if (!strcmp(fmt, "tfjs-layers") || !strcmp(fmt, "tfjs-graph") || !strcmp(fmt, "tfjs"))
            rc = rt_import_tfjs(path, &io, &g, e);
        else
            rc = err_set(e, RT_UNSUPPORTED, ERR_UNPROCESSABLE, "unsupported_model",
                         "manifest \"%s\": unknown format \"%.30s\"", manifest_path, fmt);
        if (rc == RT_ERR_IO)
            snprintf(e->msg + strlen(e->msg), sizeof(e->msg) - strlen(e->msg),
                     " (run make models)");
        if (rc == 0 && !m->packed) {
            /* the same passes and weight rounding as a plan, then cache */
            if ((rc = rt_graph_optimize(g, e)) == 0 && o->weights != RT_WEIGHTS_F32)
                rc = rt_graph_quantize(g, o->weights == RT_WEIGHTS_F16 ? RT_DTYPE_F16 : RT_DTYPE_I8,
                                       e);
            if (rc == 0 && getenv("VKV_NO_PACK") == NULL) {
                char tmp[1200];
                snprintf(tmp, sizeof(tmp), "%s.%d.tmp", pack, (int)getpid());
                if (rt_pack_save(g, tmp, &pe) == 0 && rename(tmp, pack) == 0)
                    ;
                else
                    unlink(tmp);
            }
        }
        m->graph_ms = cm_now_ms() - tg;
    }
    if (rc == 0 && m->kind == RT_TASK_TAG)
        rc = tags_load(m, man, models_dir(o), manifest_path, e);
    rt_manifest_clear(&mf);
    if (rc == 0) {
        const struct rt_tensor *x = g->n_inputs == 1 ? &g->tensors[g->inputs[0]] : NULL;
        int ch = m->in.gray ? 1 : 3;
        if (x == NULL || x->ndim != 4 || x->shape[1] != m->in.h || x->shape[2] != m->in.w ||
            x->shape[3] != ch)
            rc = BAD("model \"%s\": needs one [N,%d,%d,%d] input as the manifest says", m->name,
                     m->in.h, m->in.w, ch);
        else if (g->n_outputs > 16)
            rc = BAD("model \"%s\": more than 16 outputs", m->name);
    }
    if (rc == 0) {
        m->weight_bytes_f32 = weights_f32(g);
        m->n_out = g->n_outputs;
        for (int j = 0; j < g->n_outputs; j++) {
            const struct rt_tensor *t = &g->tensors[g->outputs[j]];
            m->out_size[j] = rt_tensor_nelem(t) / (t->ndim ? t->shape[0] : 1);
            m->out_ndim[j] = t->ndim;
            memcpy(m->out_shape[j], t->shape, sizeof(t->shape));
        }
    }
    if (rc == 0) {
        /* the CPU reference (dev == NULL) runs the graph after the passes done above */
        struct rt_plan_opts po = rt_plan_opts_default();
        po.max_batch = m->max_batch;
        po.weights = o->weights;
        po.max_device_bytes = o->max_device_bytes;
        /* the device preprocessing makes 3 channels: a GRAY input is made on the host */
        po.pre.enabled = !m->in.gray;
        po.pre.max_w = po.pre.max_h = RT_TASK_PRE_MAX_SIDE;
        po.pre.bilinear = m->in.bilinear;
        po.pre.align_corners = m->in.align_corners;
        po.pre.half_pixel = m->in.half_pixel;
        po.pre.scale = m->in.scale;
        memcpy(po.pre.mean, m->in.mean, sizeof(po.pre.mean));
        memcpy(po.pre.std, m->in.std, sizeof(po.pre.std));
        rc = rt_exec_create(dev, g, &po, &m->exec, e);
    }
    rt_graph_free(g);
    if (rc == 0 && m->kind == RT_TASK_TAG &&
        (m->n_out < 1 || m->out_size[0] != rt_tags_count(m->tags)))
        rc = BAD("model \"%s\": output 0 has %lld values per image, its tags file %d rows", m->name,
                 (long long)(m->n_out ? m->out_size[0] : 0), rt_tags_count(m->tags));
    if (rc == 0 && m->kind == RT_TASK_DETECT) {
        for (int j = 0; j < m->n_out; j++) {
            if (m->out_ndim[j] == 4 && m->out_shape[j][3] == 4)
                m->cn_wh = j;
            else if (m->out_ndim[j] == 4)
                m->cn_heat = j;
        }
        if (m->cn_heat < 0 || m->cn_wh < 0)
            rc = BAD("model \"%s\": needs a heat map and a [N,H,W,4] wh output", m->name);
    }
    if (rc < 0) {
        rt_task_model_free(m);
        return rc;
    }
    m->weights = o->weights;
    m->load_ms = cm_now_ms() - t0;
    *out = m;
    return 0;
}

/* ---- preprocessing ------------------------------------------------------- */

/*
 * Luma weights of a "GRAY" input, applied after the resize (as human's
 * emotion.ts does: tf.mul by [0.2989, 0.5870, 0.1140], then a sum).
 */
static const float rt_task_gray_w[3] = {0.2989f, 0.5870f, 0.1140f};

/* where a letterbox puts the image in its square of side s */
static void pad_offset(const struct rt_task_input *in, int w, int h, int *ox, int *oy)
{
    int s = w > h ? w : h;
    *ox = in->letterbox && in->pad_center ? (s - w) / 2 : 0;
    *oy = in->letterbox && in->pad_center ? (s - h) / 2 : 0;
}

/* a letterboxed image's pixel: the image at (ox, oy), pad_value elsewhere */
static inline float px(const struct rt_image *img, int ox, int oy, float fill, int x, int y, int c)
{
    x -= ox;
    y -= oy;
    if (x < 0 || y < 0 || x >= img->w || y >= img->h)
        return fill;
    return (float)img->rgb[((size_t)y * (size_t)img->w + (size_t)x) * 3 + (size_t)c];
}

/*
 * See rt_task.h.  Mirrors tfjs resizeBilinear: src = dst*ratio, or
 * (dst+0.5)*ratio-0.5 with half-pixel centres; ratio (in-1)/(out-1) with
 * align_corners; floor clamped at 0, ceil at in-1.
 */
int rt_task_preprocess(const struct rt_task_input *in, const struct rt_image *img, float *out,
                       struct err *e)
{
    if (img->rgb == NULL || img->w < 1 || img->h < 1 || img->w > RT_TASK_MAX_IMAGE_SIDE ||
        img->h > RT_TASK_MAX_IMAGE_SIDE)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_image", "invalid image size %dx%d",
                       img ? img->w : 0, img ? img->h : 0);
    int sw = img->w, sh = img->h, ox, oy;
    float fill = (float)in->pad_value;
    if (in->letterbox)
        sw = sh = img->w > img->h ? img->w : img->h;
    pad_offset(in, img->w, img->h, &ox, &oy);
    double ry =
        in->align_corners && in->h > 1 ? (double)(sh - 1) / (in->h - 1) : (double)sh / in->h;
    double rx =
        in->align_corners && in->w > 1 ? (double)(sw - 1) / (in->w - 1) : (double)sw / in->w;
    for (int y = 0; y < in->h; y++) {
        float fy = in->half_pixel ? (float)(ry * (y + 0.5) - 0.5) : (float)(ry * y);
        for (int x = 0; x < in->w; x++) {
            float fx = in->half_pixel ? (float)(rx * (x + 0.5) - 0.5) : (float)(rx * x);
            float *o = out + ((size_t)y * (size_t)in->w + (size_t)x) * (in->gray ? 1 : 3);
            float g = 0;
            for (int c = 0; c < 3; c++) {
                float v;
                int sc = in->bgr ? 2 - c : c; /* the image's channel for model channel c */
                if (in->bilinear) {
                    int y0 = (int)floorf(fy), x0 = (int)floorf(fx);
                    float ly = fy - (float)y0, lx = fx - (float)x0;
                    int y1 = (int)ceilf(fy), x1 = (int)ceilf(fx);
                    if (y0 < 0)
                        y0 = 0;
                    if (x0 < 0)
                        x0 = 0;
                    if (y1 > sh - 1)
                        y1 = sh - 1;
                    if (x1 > sw - 1)
                        x1 = sw - 1;
                    if (y0 > sh - 1)
                        y0 = sh - 1;
                    if (x0 > sw - 1)
                        x0 = sw - 1;
                    float tl = px(img, ox, oy, fill, x0, y0, sc),
                          tr = px(img, ox, oy, fill, x1, y0, sc);
                    float bl = px(img, ox, oy, fill, x0, y1, sc),
                          br = px(img, ox, oy, fill, x1, y1, sc);
                    float top = tl + (tr - tl) * lx, bot = bl + (br - bl) * lx;
                    v = top + (bot - top) * ly;
                } else {
                    int yy = (int)(in->align_corners ? roundf(fy) : floorf(fy));
                    int xx = (int)(in->align_corners ? roundf(fx) : floorf(fx));
                    yy = yy < 0 ? 0 : yy > sh - 1 ? sh - 1 : yy;
                    xx = xx < 0 ? 0 : xx > sw - 1 ? sw - 1 : xx;
                    v = px(img, ox, oy, fill, xx, yy, sc);
                }
                if (in->gray)
                    g += v * rt_task_gray_w[c];
                else
                    o[c] = (v * in->scale - in->mean[c]) / in->std[c];
            }
            if (in->gray)
                o[0] = (g * in->scale - in->mean[0]) / in->std[0];
        }
    }
    return 0;
}

/* ---- BlazeFace ------------------------------------------------------------ */

struct cand {
    float cx, cy, w, h, score;
    float lm[6][2];
};

static float cand_iou(const struct cand *a, const struct cand *b)
{
    float ax0 = a->cx - a->w / 2, ax1 = a->cx + a->w / 2, ay0 = a->cy - a->h / 2,
          ay1 = a->cy + a->h / 2;
    float bx0 = b->cx - b->w / 2, bx1 = b->cx + b->w / 2, by0 = b->cy - b->h / 2,
          by1 = b->cy + b->h / 2;
    float iw = fminf(ax1, bx1) - fmaxf(ax0, bx0), ih = fminf(ay1, by1) - fmaxf(ay0, by0);
    if (iw <= 0 || ih <= 0)
        return 0;
    float inter = iw * ih, uni = a->w * a->h + b->w * b->h - inter;
    return uni > 0 ? inter / uni : 0;
}

static int cand_cmp(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    return a->score < b->score ? 1 : a->score > b->score ? -1 : 0;
}

/*
 * See rt_task.h.  Anchors: for each layer, a (side/stride)^2 grid with
 * per_cell anchors per cell at ((x+0.5)/grid, (y+0.5)/grid); regressions
 * are in input pixels relative to the anchor.  Weighted NMS (MediaPipe):
 * candidates sorted by score; each unused one gathers every unused one
 * with IoU >= nms_iou, and the group's boxes and landmarks are averaged
 * weighted by score, keeping the best score.
 */
int rt_face_decode(const struct rt_face_opts *o, const float *scores, const float *regs,
                   int n_anchors, struct rt_face *out, int cap, struct err *e)
{
    int total = 0;
    for (int l = 0; l < o->n_layers; l++) {
        int grid = o->in_size / o->stride[l];
        total += grid * grid * o->per_cell[l];
    }
    if (total != n_anchors)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "face model gives %d anchors, the manifest describes %d", n_anchors, total);
    struct cand *c = malloc((size_t)(total ? total : 1) * sizeof(*c));
    if (c == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
    int n = 0, a = 0;
    float inv = 1.0f / (float)o->in_size;
    for (int l = 0; l < o->n_layers; l++) {
        int grid = o->in_size / o->stride[l];
        for (int y = 0; y < grid; y++)
            for (int x = 0; x < grid; x++)
                for (int k = 0; k < o->per_cell[l]; k++, a++) {
                    float logit = scores[a];
                    logit = logit < -80 ? -80 : logit > 80 ? 80 : logit;
                    float s = 1.0f / (1.0f + expf(-logit));
                    if (!(s >= o->min_score))
                        continue;
                    const float *r = regs + (size_t)a * 16;
                    float ax = (x + 0.5f) / (float)grid, ay = (y + 0.5f) / (float)grid;
                    struct cand *d = &c[n++];
                    d->cx = ax + r[0] * inv;
                    d->cy = ay + r[1] * inv;
                    d->w = r[2] * inv;
                    d->h = r[3] * inv;
                    d->score = s;
                    for (int q = 0; q < 6; q++) {
                        d->lm[q][0] = ax + r[4 + 2 * q] * inv;
                        d->lm[q][1] = ay + r[5 + 2 * q] * inv;
                    }
                }
    }
    qsort(c, (size_t)n, sizeof(*c), cand_cmp);
    int kept = 0;
    for (int i = 0; i < n && kept < cap && kept < o->max_faces; i++) {
        if (c[i].score < 0)
            continue;
        struct cand acc = c[i];
        if (o->weighted) {
            double wsum = c[i].score, sx = c[i].cx * wsum, sy = c[i].cy * wsum, sw = c[i].w * wsum,
                   sh = c[i].h * wsum, lm[6][2];
            for (int q = 0; q < 6; q++) {
                lm[q][0] = c[i].lm[q][0] * wsum;
                lm[q][1] = c[i].lm[q][1] * wsum;
            }
            for (int j = i + 1; j < n; j++) {
                if (c[j].score < 0 || cand_iou(&c[i], &c[j]) < o->nms_iou)
                    continue;
                double w = c[j].score;
                wsum += w;
                sx += c[j].cx * w;
                sy += c[j].cy * w;
                sw += c[j].w * w;
                sh += c[j].h * w;
                for (int q = 0; q < 6; q++) {
                    lm[q][0] += c[j].lm[q][0] * w;
                    lm[q][1] += c[j].lm[q][1] * w;
                }
                c[j].score = -1;
            }
            acc.cx = (float)(sx / wsum);
            acc.cy = (float)(sy / wsum);
            acc.w = (float)(sw / wsum);
            acc.h = (float)(sh / wsum);
            for (int q = 0; q < 6; q++) {
                acc.lm[q][0] = (float)(lm[q][0] / wsum);
                acc.lm[q][1] = (float)(lm[q][1] / wsum);
            }
        } else {
            for (int j = i + 1; j < n; j++)
                if (c[j].score >= 0 && cand_iou(&c[i], &c[j]) > o->nms_iou)
                    c[j].score = -1;
        }
        struct rt_face *f = &out[kept++];
        f->x_min = acc.cx - acc.w / 2;
        f->x_max = acc.cx + acc.w / 2;
        f->y_min = acc.cy - acc.h / 2;
        f->y_max = acc.cy + acc.h / 2;
        f->score = acc.score;
        memcpy(f->lm, acc.lm, sizeof(f->lm));
    }
    free(c);
    return kept;
}

/* ---- results --------------------------------------------------------------- */

static double r6(double x)
{
    return round(x * 1e6) / 1e6;
}

static json_t *classify_json(const struct rt_task_model *m, const float *p, int64_t n)
{
    json_t *res = json_object(), *arr = json_array();
    int idx[RT_TASK_MAX_LABELS];
    float prob[RT_TASK_MAX_LABELS];
    int k = (int)(n < RT_TASK_MAX_LABELS ? n : RT_TASK_MAX_LABELS);
    float mx = -INFINITY;
    double sum = 0;
    for (int i = 0; i < k; i++)
        mx = fmaxf(mx, p[i]);
    for (int i = 0; i < k; i++) {
        prob[i] = m->softmax ? expf(p[i] - mx) : p[i];
        sum += prob[i];
        idx[i] = i;
    }
    if (m->softmax && sum > 0)
        for (int i = 0; i < k; i++)
            prob[i] = (float)(prob[i] / sum);
    /* insertion sort by probability, stable on index */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && prob[idx[j]] > prob[idx[j - 1]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (int i = 0; i < k && i < m->top_k; i++) {
        char fallback[32];
        const char *lab = idx[i] < m->n_labels ? m->labels[idx[i]] : NULL;
        if (lab == NULL) {
            snprintf(fallback, sizeof(fallback), "class_%d", idx[i]);
            lab = fallback;
        }
        json_array_append_new(arr, json_pack("{s:s, s:i, s:f}", "label", lab, "class", idx[i],
                                             "score", r6(prob[idx[i]])));
    }
    json_object_set_new(res, "model", json_string(m->name));
    json_object_set_new(res, "labels", arr);
    return res;
}

static json_t *faces_json(const struct rt_task_model *m, const struct rt_face *f, int n,
                          const struct rt_image *img)
{
    json_t *res = json_object(), *arr = json_array();
    /* letterbox: the model saw a square of side s with the image at the top left */
    double sx = 1, sy = 1;
    if (m->in.letterbox) {
        double s = img->w > img->h ? img->w : img->h;
        sx = s / img->w;
        sy = s / img->h;
    }
    for (int i = 0; i < n; i++) {
        json_t *lm = json_array();
        for (int q = 0; q < 6; q++)
            json_array_append_new(lm,
                                  json_pack("{s:s, s:f, s:f}", "name", m->lm_names[q], "x",
                                            r6(f[i].lm[q][0] * sx), "y", r6(f[i].lm[q][1] * sy)));
        double x0 = fmax(0, f[i].x_min * sx), x1 = fmin(1, f[i].x_max * sx);
        double y0 = fmax(0, f[i].y_min * sy), y1 = fmin(1, f[i].y_max * sy);
        json_array_append_new(arr, json_pack("{s:{s:f, s:f, s:f, s:f}, s:f, s:o}", "box", "x_min",
                                             r6(x0), "y_min", r6(y0), "x_max", r6(x1), "y_max",
                                             r6(y1), "score", r6(f[i].score), "landmarks", lm));
    }
    json_object_set_new(res, "model", json_string(m->name));
    json_object_set_new(res, "faces", arr);
    json_object_set_new(res, "image", json_pack("{s:i, s:i}", "width", img->w, "height", img->h));
    return res;
}

/* output index with shape [.,n,k]: the k == 1 (scores) or k == 16 (boxes) ones, by n */
static int face_outputs(const struct rt_task_model *m, int *sc, int *rg, int max, struct err *e)
{
    int n = 0;
    for (int j = 0; j < m->n_out && n < max; j++) {
        if (m->out_ndim[j] != 3 || m->out_shape[j][2] != 1)
            continue;
        for (int k = 0; k < m->n_out; k++)
            if (m->out_ndim[k] == 3 && m->out_shape[k][2] == 16 &&
                m->out_shape[k][1] == m->out_shape[j][1]) {
                sc[n] = j;
                rg[n++] = k;
                break;
            }
    }
    /* the manifest's layer order is by stride: more anchors first */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && m->out_shape[sc[j]][1] > m->out_shape[sc[j - 1]][1]; j--) {
            int t = sc[j];
            sc[j] = sc[j - 1];
            sc[j - 1] = t;
            t = rg[j];
            rg[j] = rg[j - 1];
            rg[j - 1] = t;
        }
    if (n == 0)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "face model \"%s\" has no [N,A,1] score and [N,A,16] box outputs", m->name);
    return n;
}

static json_t *post_one(struct rt_task_model *m, float *const *outs, int b,
                        const struct rt_image *img, struct err *e)
{
    if (m->kind == RT_TASK_TAG) {
        json_t *res =
            rt_tags_result(m->tags, &m->tag_opts, outs[0] + (size_t)b * (size_t)m->out_size[0],
                           (int)m->out_size[0]);
        json_object_set_new(res, "model", json_string(m->name));
        return res;
    }
    if (m->kind == RT_TASK_UPSCALE) {
        err_set(e, RT_UNSUPPORTED, ERR_UNPROCESSABLE, "unsupported_task",
                "model \"%s\" makes images: upscale jobs are not served yet, only `vkv "
                "upscale` and rt_task_upscale",
                m->name);
        return NULL;
    }
    if (m->kind == RT_TASK_CLASSIFY)
        return classify_json(m, outs[0] + (size_t)b * (size_t)m->out_size[0], m->out_size[0]);
    if (m->kind == RT_TASK_DETECT_FACES) {
        int sc[4], rg[4];
        int nl = face_outputs(m, sc, rg, 4, e);
        if (nl < 0)
            return NULL;
        int64_t na = 0;
        for (int l = 0; l < nl; l++)
            na += m->out_shape[sc[l]][1];
        float *s = malloc((size_t)na * sizeof(float)), *r = malloc((size_t)na * 16 * sizeof(float));
        struct rt_face *f = malloc((size_t)m->face.max_faces * sizeof(*f));
        json_t *res = NULL;
        if (s && r && f) {
            int64_t off = 0;
            for (int l = 0; l < nl; l++) {
                int64_t a = m->out_shape[sc[l]][1];
                memcpy(s + off, outs[sc[l]] + (size_t)b * (size_t)a, (size_t)a * sizeof(float));
                memcpy(r + off * 16, outs[rg[l]] + (size_t)b * (size_t)a * 16,
                       (size_t)a * 16 * sizeof(float));
                off += a;
            }
            int n = rt_face_decode(&m->face, s, r, (int)na, f, m->face.max_faces, e);
            if (n >= 0)
                res = faces_json(m, f, n, img);
        } else {
            err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
        }
        free(s);
        free(r);
        free(f);
        return res;
    }
    if (m->kind == RT_TASK_SEGMENT) {
        /* output 0: [N,H,W,1] person probabilities (Moondream /v1/segment) */
        char *txt = NULL;
        json_t *res = NULL;
        if (m->out_ndim[0] != 4 || m->out_shape[0][3] != 1)
            err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "invalid_model",
                    "model \"%s\": segment needs a "
                    "[N,H,W,1] mask output",
                    m->name);
        else if (rt_task_segment_post(outs[0] + (size_t)b * (size_t)m->out_size[0],
                                      (int)m->out_shape[0][1], (int)m->out_shape[0][2], 0.5f, &txt,
                                      e) == 0)
            res = json_loads(txt, 0, NULL);
        free(txt);
        if (res)
            json_object_set_new(res, "model", json_string(m->name));
        return res;
    }
    /* CenterNet */
    const int64_t *hs = m->out_shape[m->cn_heat];
    struct rt_det *d = malloc((size_t)m->cn.topk * sizeof(*d));
    if (d == NULL) {
        err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
        return NULL;
    }
    int n = rt_centernet_decode(outs[m->cn_heat] + (size_t)b * (size_t)m->out_size[m->cn_heat],
                                outs[m->cn_wh] + (size_t)b * (size_t)m->out_size[m->cn_wh],
                                (int)hs[1], (int)hs[2], (int)hs[3], &m->cn, d, e);
    json_t *res = NULL;
    if (n >= 0) {
        n = rt_det_nms(d, n, m->cn.nms_iou, m->cn.per_class, m->cn.max_out);
        res = rt_det_result_json(d, n, m->in.w, m->in.h, (const char *const *)m->labels,
                                 m->n_labels, img->w, img->h);
        if (res)
            json_object_set_new(res, "model", json_string(m->name));
    }
    free(d);
    return res;
}

/* ---- running --------------------------------------------------------------- */

/*
 * The pixels the device preprocessing gets: img itself, or a copy (new
 * buffer in *buf) letterboxed as the manifest says and/or with its
 * channels in the model's order (BGR).  Only for images up to
 * RT_TASK_PRE_MAX_SIDE, so a copy is small.
 */
static int host_prep(const struct rt_task_input *in, const struct rt_image *img,
                     struct rt_image *out, uint8_t **buf, struct err *e)
{
    *buf = NULL;
    *out = *img;
    int pad = in->letterbox && img->w != img->h;
    if (!pad && !in->bgr)
        return 0;
    int sw = pad ? (img->w > img->h ? img->w : img->h) : img->w;
    int sh = pad ? sw : img->h, ox, oy;
    pad_offset(in, img->w, img->h, &ox, &oy);
    uint8_t *p = malloc((size_t)sw * (size_t)sh * 3);
    if (p == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate a %dx%d canvas", sw, sh);
    memset(p, in->pad_value, (size_t)sw * (size_t)sh * 3);
    for (int y = 0; y < img->h; y++) {
        const uint8_t *s = img->rgb + (size_t)y * (size_t)img->w * 3;
        uint8_t *d = p + ((size_t)(y + oy) * (size_t)sw + (size_t)ox) * 3;
        if (!in->bgr) {
            memcpy(d, s, (size_t)img->w * 3);
            continue;
        }
        for (int x = 0; x < img->w; x++) {
            d[3 * x] = s[3 * x + 2];
            d[3 * x + 1] = s[3 * x + 1];
            d[3 * x + 2] = s[3 * x];
        }
    }
    out->rgb = p;
    out->w = sw;
    out->h = sh;
    *buf = p;
    return 0;
}

/* see rt_task.h */
int rt_task_run_raw(struct rt_task_model *m, const struct rt_image *imgs, int n, float **outs,
                    struct err *e)
{
    int rc = 0;
    if (m->faces != NULL)
        return err_set(e, RT_UNSUPPORTED, ERR_UNPROCESSABLE, "unsupported_model",
                       "model %s is a pipeline: no raw outputs (use rt_task_run)", m->name);
    if (m->kind == RT_TASK_OCR)
        return err_set(e, RT_UNSUPPORTED, ERR_UNPROCESSABLE, "unsupported_task",
                       "model \"%s\": ocr runs two graphs per image (rt_ocr_run), no raw outputs",
                       m->name);
    if (n < 1 || n > m->max_batch)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_batch",
                       "batch of %d images (1..%d)", n, m->max_batch);
    for (int i = 0; i < n; i++)
        if (imgs[i].rgb == NULL || imgs[i].w < 1 || imgs[i].h < 1 ||
            imgs[i].w > RT_TASK_MAX_IMAGE_SIDE || imgs[i].h > RT_TASK_MAX_IMAGE_SIDE)
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_image",
                           "invalid image size %dx%d", imgs[i].w, imgs[i].h);
    for (int j = 0; j < m->n_out; j++)
        outs[j] = NULL;
    for (int j = 0; j < m->n_out; j++) {
        outs[j] = malloc((size_t)n * (size_t)m->out_size[j] * sizeof(float));
        if (outs[j] == NULL) {
            rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                         "could not allocate outputs");
            goto fail;
        }
    }
    size_t in_n = (size_t)m->in.w * (size_t)m->in.h * (m->in.gray ? 1 : 3);
    int small = 1;
    for (int i = 0; i < n; i++) {
        int s = imgs[i].w > imgs[i].h ? imgs[i].w : imgs[i].h;
        if ((m->in.letterbox ? s : imgs[i].w) > RT_TASK_PRE_MAX_SIDE ||
            (m->in.letterbox ? s : imgs[i].h) > RT_TASK_PRE_MAX_SIDE)
            small = 0;
    }
    if (!m->in.gray && rt_exec_has_rgb8(m->exec) && small) {
        struct rt_image lb[1024];
        uint8_t *bufs[1024];
        for (int i = 0; i < n; i++) {
            bufs[i] = NULL;
            lb[i] = imgs[i];
            if (rc == 0)
                rc = host_prep(&m->in, &imgs[i], &lb[i], &bufs[i], e);
        }
        if (rc == 0)
            rc = rt_exec_run_rgb8(m->exec, n, lb, outs, e);
        for (int i = 0; i < n; i++)
            free(bufs[i]);
        if (rc < 0)
            goto fail;
        return 0;
    }
    float *x = malloc(in_n * (size_t)n * sizeof(float));
    if (x == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                     "could not allocate the input");
        goto fail;
    }
    for (int i = 0; i < n && rc == 0; i++)
        rc = rt_task_preprocess(&m->in, &imgs[i], x + in_n * (size_t)i, e);
    if (rc == 0) {
        const float *ins[1] = {x};
        rc = rt_exec_run(m->exec, n, ins, outs, e);
    }
    free(x);
    if (rc == 0)
        return 0;
fail:
    for (int j = 0; j < m->n_out; j++) {
        free(outs[j]);
        outs[j] = NULL;
    }
    return rc;
}

/* see rt_task.h */
int rt_task_run(struct rt_task_model *m, const struct rt_image *imgs, int n, json_t **results,
                struct err *e)
{
    int done = 0, rc = 0;
    for (int i = 0; i < n; i++)
        results[i] = NULL;
    if (m->faces != NULL)
        return rt_faces_run(m->faces, m->name, imgs, n, results, e);
    if (m->kind == RT_TASK_OCR) {
        for (int i = 0; i < n && rc == 0; i++)
            rc = rt_ocr_run(m->ocr, m->name, &imgs[i], NULL, &results[i], e);
        done = n;
    }
    while (done < n && rc == 0) {
        int k = n - done < m->max_batch ? n - done : m->max_batch;
        float *outs[16];
        rc = rt_task_run_raw(m, imgs + done, k, outs, e);
        if (rc < 0)
            break;
        for (int b = 0; b < k && rc == 0; b++) {
            results[done + b] = post_one(m, outs, b, &imgs[done + b], e);
            if (results[done + b] == NULL)
                rc = e && e->status < 0 ? e->status : RT_ERR_OOM;
        }
        for (int j = 0; j < m->n_out; j++)
            free(outs[j]);
        done += k;
    }
    if (rc < 0)
        for (int i = 0; i < n; i++) {
            json_decref(results[i]);
            results[i] = NULL;
        }
    return rc;
}
