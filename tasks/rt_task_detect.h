/*
 * rt_task_detect.h: CPU decode of CenterNet-style detection heads and of
 * person masks, run by the worker after the graph (the tail of the tfjs
 * CenterNet graph -- MaxPool/Equal/TopKV2/GatherV2 -- never reaches the
 * GPU; the plan stops at the `keypoints` heat map and the `wh` map).
 *
 * Everything here is plain C on host memory, deterministic, and needs no
 * device: unit tests drive it with synthetic heat maps
 * (tests/moondream/test_md_decode.c).  Internal to tasks/ and its tests; see
 * tests/moondream/README.md ("Detection decode").
 */
#ifndef VKV_RT_TASK_DETECT_H
#define VKV_RT_TASK_DETECT_H

#include "common/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* one detection; box in input (model) pixels until normalised */
struct rt_det {
    float x1, y1, x2, y2;
    float score;
    int cls;     /* 0-based class index */
    int64_t idx; /* flat heat-map index (y*W + x)*C + c; orders ties */
};

/* decode settings; rt_centernet_opts_default() gives the CenterNet ones */
struct rt_centernet_opts {
    int topk;        /* candidates kept before thresholding (graph: 100) */
    float stride;    /* heat-map cell size in input pixels (4) */
    float min_score; /* drop candidates below (0.2; `human` default) */
    float nms_iou;   /* suppress a box whose IoU with a kept one is > this (0.5) */
    int per_class;   /* 1: NMS within each class (default); 0: class-agnostic */
    int max_out;     /* keep at most this many after NMS (100) */
};

/* topk 100, stride 4, min_score 0.2, nms_iou 0.5, per_class 1, max_out 100 */
struct rt_centernet_opts rt_centernet_opts_default(void);

/*
 * The CenterNet graph tail on the CPU, exactly as the tfjs graph computes
 * `tower_0/detections`: heat [h][w][c] (sigmoid scores, NHWC, batch item
 * 0) is compared with its 3x3 stride-1 SAME max-pool (padding never wins);
 * cells equal to their pool are peaks.  The top `topk` peaks by score
 * (ties: lower flat index first, as TopKV2) become boxes
 *   x1 = stride*x - l, y1 = stride*y - t, x2 = stride*x + r, y2 = stride*y + b
 * with (l, t, r, b) = wh[y][x][0..3] (input pixels).  Peaks below
 * min_score are skipped (the graph keeps them in its top 100 and `human`
 * drops them afterwards; the result is the same).
 * out must hold topk entries (borrowed).  Returns the number written
 * (0..topk), sorted by score descending, or <0 with e set for bad sizes
 * (RT_ERR_INVALID).  Cannot allocate.  Thread-safe.
 */
int rt_centernet_decode(const float *heat, const float *wh, int h, int w, int c,
                        const struct rt_centernet_opts *o, struct rt_det *out, struct err *e);

/*
 * Greedy non-maximum suppression in place, as tf.image.nonMaxSuppression:
 * d[0..n) sorted by score descending (stable); a box is dropped when its
 * IoU with an already kept box (of the same class when per_class) is
 * > iou.  Keeps at most max_keep.  Returns the kept count; the kept
 * boxes are d[0..count) in score order.  Cannot fail.
 */
int rt_det_nms(struct rt_det *d, int n, float iou, int per_class, int max_keep);

/* intersection over union of two boxes (0 when either is empty) */
float rt_det_iou(const struct rt_det *a, const struct rt_det *b);

/*
 * Builds the detection job result
 *   {"objects":[{"label","class","score","x_min","y_min","x_max","y_max"}],
 *    "image":{"width","height"}}
 * from d[0..n) whose boxes are in a (in_w x in_h) model input that was
 * stretched from the whole image: coordinates are divided by the input
 * size and clamped to 0..1 (normalised to the original image).  labels
 * (nlabels entries, borrowed) name the classes; a class outside them is
 * labelled "class_<n>".  Returns a new reference (caller decrefs) or NULL
 * when out of memory.
 */
json_t *rt_det_result_json(const struct rt_det *d, int n, int in_w, int in_h,
                           const char *const *labels, int nlabels, int img_w, int img_h);

/*
 * Person mask to an SVG path, for /v1/segment.  mask [h][w] holds
 * probabilities; pixels >= thr are foreground.  The outer boundary of the
 * largest 4-connected foreground component is traced on the pixel-corner
 * grid, simplified with Douglas-Peucker (tolerance eps_px mask pixels) and
 * written as "M x,y L x,y ... Z" with coordinates normalised to 0..1 (3
 * decimals).  bbox[4] receives x_min, y_min, x_max, y_max of that
 * component, normalised.  Returns the number of path vertices (0 and an
 * empty path when no pixel reaches thr), RT_ERR_OOM, or RT_ERR_INVALID for
 * bad sizes, with e set.  *path is a new string; caller frees with free().
 * The mask must be at most 4096 x 4096.  Thread-safe.
 */
int rt_mask_svg_path(const float *mask, int h, int w, float thr, float eps_px, char **path,
                     float bbox[4], struct err *e);

/* ---- glue for the task runner (tasks/rt_task.c) ----------------------- */

/*
 * Reads a manifest's "post" object ({"kind":"centernet","stride",
 * "topk","min_score","nms_iou","per_class","max_out"}; absent keys keep
 * the defaults) into *o.  Returns 0 or RT_ERR_INVALID with e set for a
 * value out of range.
 */
int rt_centernet_opts_from_json(const json_t *post, struct rt_centernet_opts *o, struct err *e);

/*
 * The whole detection post-processing of one image: decode, NMS, result
 * JSON (rt_det_result_json) as a new compact string in *result (caller
 * frees with free()).  heat/wh as for rt_centernet_decode; in_w x in_h is
 * the model input the image was stretched to; labels as for the JSON.
 * Returns the number of objects or <0 with e set.
 */
int rt_task_detect_post(const struct rt_centernet_opts *o, const float *heat, const float *wh,
                        int h, int w, int c, int in_w, int in_h, const char *const *labels,
                        int nlabels, int img_w, int img_h, char **result, struct err *e);

/*
 * The segmentation post-processing of one image: the person mask [h][w]
 * (probabilities 0..1; channel 1 of a 2-channel softmax is the caller's
 * business) to {"path","bbox":{x_min,y_min,x_max,y_max},"coverage"} as a
 * new compact string in *result (caller frees).  thr is the foreground
 * threshold (0.5).  Returns 0 or <0 with e set.
 */
int rt_task_segment_post(const float *mask, int h, int w, float thr, char **result, struct err *e);

#endif
