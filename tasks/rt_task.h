/*
 * rt_task.h: a model as the service sees it -- manifest -> graph -> plan
 * -> results in JSON.  Used by the `vkv run`/`vkv bench` subcommands, the
 * worker and the fidelity tests.  Used by worker/, cli/ and tests.
 *
 *   struct rt_task_model *m;
 *   struct rt_task_opts o = rt_task_opts_default();   (o.weights = RT_WEIGHTS_I8 ...)
 *   rt_task_model_load(dev, "models/nsfw-mobilenet-v2.json", &o, &m, &e);
 *   json_t *res[2];
 *   rt_task_run(m, imgs, 2, res, &e);   -> {"model":..., "labels":[...]} per image
 *   rt_task_model_free(m);
 *
 * A manifest (models/<name>.json, read by tasks/rt_manifest.h, see
 * models/README.md) names the task ("classify", "detect_faces", "detect",
 * "segment", "upscale"; one per model here), the model file (relative to
 * $VKV_MODEL_CACHE/<name>/, default var/cache/models; VKV_MODELS_DIR is the manifests folder), the
 * preprocessing (size, resize mode, letterbox, scale/mean/std) and the postprocessing parameters.
 * The imported graph, after the passes and weight rounding, is cached as a packed file next to the
 * model (<name>.<f32|f16|i8>.g<N>.vkvpack, rt_pack_save) and loaded from it while it is newer than
 * the model and the manifest (VKV_NO_PACK=1 disables).  Preprocessing runs on the device
 * (rt_plan_run_rgb8); with dev == NULL everything runs on the CPU reference (rt_ref_run), same
 * preprocessing in C (rt_task_preprocess).
 *
 * Threads: a model may be used by one thread at a time (as its plan).
 */
#ifndef VKV_RT_TASK_H
#define VKV_RT_TASK_H

#include "common/err.h"
#include "runtime/rt.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define RT_TASK_MAX_LABELS 1024
#define RT_TASK_MAX_IMAGE_SIDE 16384

enum rt_task_kind {
    RT_TASK_CLASSIFY = 0, /* softmax (or already probabilities) + top-k labels */
    RT_TASK_DETECT_FACES, /* BlazeFace anchors, box/landmark decode, (weighted) NMS */
    RT_TASK_DETECT,       /* CenterNet objects (rt_task_detect.c) */
    RT_TASK_SEGMENT,      /* person mask -> SVG outline + bbox (rt_task_detect.c) */
    RT_TASK_UPSCALE,      /* super-resolution, an image out (rt_task_upscale.c, not rt_task_run) */
    RT_TASK_FACES,        /* detect_faces + aligned crops + age/gender/descriptor/emotion
                             (rt_task_faces.c, a pipeline of three models) */
    RT_TASK_OCR,          /* PP-OCRv4 text lines (rt_task_ocr.c) */
    RT_TASK_TAG,          /* multi-label tagger: probabilities + a CSV of tags (rt_tags.c) */
};

struct rt_task_opts {
    enum rt_weights weights; /* F32 (default), F16 or I8 */
    int max_batch;           /* 0 = the manifest's batch_limit */
    const char *models_dir;  /* NULL = $VKV_MODEL_CACHE or var/cache/models */
    uint64_t max_device_bytes;
};

/* fp32 weights, manifest batch limit, default models dir; cannot fail */
struct rt_task_opts rt_task_opts_default(void);

/* preprocessing as the manifest gives it */
struct rt_task_input {
    int w, h; /* model input size */
    int bilinear, align_corners, half_pixel;
    int letterbox;  /* pad to a square first: image at the top left, black, unless... */
    int pad_value;  /* ... the padding is this grey level (0..255; WD14: 255) */
    int pad_center; /* ... and the image centred (WD14) */
    int bgr;        /* the model takes its channels as B, G, R */
    float scale, mean[3], std[3];
    int gray; /* "color": "GRAY": one channel, luma of the resized RGB, mean[0]/std[0] */
};

struct rt_task_model;

/*
 * Loads the manifest at manifest_path, imports its model, and prepares it
 * for dev (NULL: the CPU reference executor).  Returns 0 with *out a new
 * model (caller frees with rt_task_model_free, before destroying dev), or
 * <0 with e set: RT_ERR_IO (missing files: run `make models`),
 * RT_ERR_INVALID (bad manifest or model), RT_UNSUPPORTED, RT_ERR_OOM.
 * Load time is reported by rt_task_model_load_ms.
 */
int rt_task_model_load(struct rt_device *dev, const char *manifest_path,
                       const struct rt_task_opts *o, struct rt_task_model **out, struct err *e);

/* frees m and its plan; NULL ok */
void rt_task_model_free(struct rt_task_model *m);

/*
 * Runs n images (1..rt_task_model_batch_limit; more are run in chunks)
 * and stores one new JSON result per image in results[i] (caller decrefs
 * each).  Images are borrowed.  Classification:
 *   {"model":"nsfw-mobilenet-v2","labels":[{"label":"Neutral","score":0.93},...]}
 * Faces:
 *   {"model":...,"faces":[{"box":{"x_min","y_min","x_max","y_max"},"score",
 *                           "landmarks":[{"name","x","y"},...]}]}
 * (coordinates normalised to the original image, 0..1).  Returns 0 or <0
 * with e set (RT_ERR_INVALID for a bad image size); on failure no result
 * is left allocated.
 */
int rt_task_run(struct rt_task_model *m, const struct rt_image *imgs, int n, json_t **results,
                struct err *e);

/*
 * As rt_task_run but returns the raw graph outputs for image batch
 * imgs[0..n) (n <= batch limit): outs[j] is a new array of
 * n * rt_task_model_output_size(m, j) floats (caller frees with free()).
 */
int rt_task_run_raw(struct rt_task_model *m, const struct rt_image *imgs, int n, float **outs,
                    struct err *e);

/* accessors; borrowed strings valid until rt_task_model_free; cannot fail */
const char *rt_task_model_name(const struct rt_task_model *m);
struct rt_ocr;
/* an ocr model's pipeline (borrowed, lives as m), NULL for other tasks */
struct rt_ocr *rt_task_model_ocr(struct rt_task_model *m);
enum rt_task_kind rt_task_model_kind(const struct rt_task_model *m);
int rt_task_model_batch_limit(const struct rt_task_model *m);
/* device bytes (weights + activations + staging); host bytes of the
 * constants on the CPU reference */
size_t rt_task_model_bytes(const struct rt_task_model *m);
size_t rt_task_model_weight_bytes(const struct rt_task_model *m);
/* fp32 bytes of all constants, the denominator of the weight ratio */
size_t rt_task_model_weight_bytes_f32(const struct rt_task_model *m);
int rt_task_model_dispatch_count(const struct rt_task_model *m);
double rt_task_model_load_ms(const struct rt_task_model *m);
/* of the load: milliseconds to get the graph (packed file or import) */
double rt_task_model_graph_ms(const struct rt_task_model *m);
/* 1 when the graph came from the packed cache file <name>.<w>.vkvpack */
int rt_task_model_packed(const struct rt_task_model *m);
int rt_task_model_output_count(const struct rt_task_model *m);
int64_t rt_task_model_output_size(const struct rt_task_model *m, int j);
const struct rt_task_input *rt_task_model_input(const struct rt_task_model *m);
/* the manifest's label i, NULL past the table */
const char *rt_task_model_label(const struct rt_task_model *m, int i);
/* the pipeline of an RT_TASK_FACES model (rt_task_faces.h), else NULL; borrowed */
struct rt_faces *rt_task_model_faces(const struct rt_task_model *m);

/* ---- pieces, exposed for tests ------------------------------------------ */

/*
 * CPU preprocessing exactly as tf.image.resizeBilinear (alignCorners,
 * halfPixelCenters) or nearest, after an optional letterbox, then
 * y = (x*scale - mean)/std in the model's channel order (RGB, or BGR); out
 * holds in->h*in->w*3 floats (NHWC), or in->h*in->w for a GRAY input (luma
 * 0.2989 R + 0.587 G + 0.114 B).
 * Returns 0 or <0 for a bad image.  Cannot allocate.
 */
int rt_task_preprocess(const struct rt_task_input *in, const struct rt_image *img, float *out,
                       struct err *e);

/* BlazeFace decode parameters (from the manifest's "post") */
struct rt_face_opts {
    int n_layers;
    int stride[4], per_cell[4];
    float min_score, nms_iou;
    int weighted; /* 1: MediaPipe weighted blending; 0: greedy NMS */
    int max_faces;
    int in_size; /* model input side (256) */
};

struct rt_face {
    float x_min, y_min, x_max, y_max; /* normalised to the model input */
    float score;
    float lm[6][2];
};

/*
 * Decodes BlazeFace outputs of one image: scores[a] logits and regs[a*16]
 * for the anchors of every layer in order; writes at most cap faces
 * sorted by score (after NMS) into out and returns the count, or <0 with
 * e set.  Allocates a scratch of n_anchors entries.  Thread-safe.
 */
int rt_face_decode(const struct rt_face_opts *o, const float *scores, const float *regs,
                   int n_anchors, struct rt_face *out, int cap, struct err *e);

#endif
