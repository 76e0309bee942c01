/*
 * rt_task_ocr.h: text recognition with PP-OCRv4 (manifest task "ocr",
 * models/ppocr-v4.json): DB text detection -> rotated boxes -> crops of
 * height 48 -> CTC recognition -> lines in reading order.  Used by
 * tasks/rt_task.c (rt_task_run of an "ocr" model), cli/ (`vkv ocr`) and
 * tests.
 *
 * The ONNX graphs take image-sized inputs: one executor is made per input
 * shape (detection: a multiple of 32 per side, at most post.det_max_side;
 * recognition: 48 x a width bucket) and the last few are kept (LRU).
 *
 * Threads: one thread at a time per struct rt_ocr (as a plan).
 */
#ifndef RT_TASK_OCR_H
#define RT_TASK_OCR_H

#include "common/err.h"
#include "runtime/rt.h"

#include <jansson.h>
#include <stdint.h>

/* limits (documented in tasks/README.md) */
#define RT_OCR_MAX_SIDE_LIMIT 2048 /* largest post.det_max_side */
#define RT_OCR_MAX_LINES 512       /* boxes recognised per image, best score first */
#define RT_OCR_REC_H 48
#define RT_OCR_REC_MIN_W 320
#define RT_OCR_REC_STEP_W 160 /* recognition widths: 320, 480, ... */
#define RT_OCR_CLS_W 192      /* orientation classifier input: 48 x 192 */
#define RT_OCR_BATCH 8        /* lines per classifier / recognition run */
#define RT_OCR_MAX_KEYS 65536 /* characters in the list */
#define RT_OCR_MAX_KEYS_BYTES (4 << 20)

struct rt_ocr_opts {
    int det_max_side;   /* longest side of the detection input (960) */
    float det_thresh;   /* probability -> text pixel (0.3) */
    float box_thresh;   /* mean probability inside a box to keep it (0.6) */
    float unclip_ratio; /* box growth: area * ratio / perimeter per side (1.5) */
    float min_score;    /* drop lines whose recognition confidence is lower (0.5) */
    int rec_max_w;      /* widest recognition input (1600); wider lines are squeezed */
    float
        cls_thresh; /* a line is turned 180 degrees when the classifier says so above this (0.9) */
};

/* PaddleOCR's defaults; cannot fail */
struct rt_ocr_opts rt_ocr_opts_default(void);

struct rt_ocr;

/*
 * Loads the detection and recognition graphs and the character list named
 * by the manifest's "ocr" object ({"det", "rec", "keys", "cls"?} file
 * names in dir; "cls", the 0/180 degree line classifier, is optional) with the manifest's "post"
 * settings.  dev NULL: the CPU reference. Returns 0 and a new *out (caller frees with rt_ocr_free
 * before dev), or <0 with e set (RT_ERR_IO: files missing, run make models; RT_ERR_INVALID: bad
 * manifest, graph or character list).
 */
int rt_ocr_load(struct rt_device *dev, const json_t *manifest, const char *dir, struct rt_ocr **out,
                struct err *e);
void rt_ocr_free(struct rt_ocr *o);

/*
 * Parses a character list (one character per line, UTF-8, '\n' or "\r\n"
 * ends); the CTC classes are blank, the list, then a space.  Returns the
 * number of characters (>= 1) and *chars (caller frees with free(): one
 * block, NUL-separated) and *offs (caller frees), or <0 with e set (empty,
 * too large, a line that is not one valid UTF-8 character).  Parses
 * untrusted bytes (fuzzed by tests/fuzz/fuzz_ocr_keys.c).
 */
int rt_ocr_keys_parse(const uint8_t *buf, size_t len, char **chars, uint32_t **offs, struct err *e);

/*
 * Where the stages' tensors go (tests compare them with another runtime);
 * all NULL: nothing is kept.  det_map: when set, used INSTEAD of running the
 * detection graph (floats of det_h x det_w, as the graph would give).
 */
struct rt_ocr_debug {
    const char *dump_dir; /* writes det_in.f32, det_map.f32, cls_<i>.f32, rec_<i>.f32,
                           * recout_<i>.f32 (probabilities) and shapes.json (input
                           * shapes, boxes in pixels, classifier outputs) */
    const float *det_map;
    int det_map_h, det_map_w;
    int inputs_only; /* dump the recognition inputs without running that graph (no lines) */
};

/*
 * Reads the text of img: returns 0 and *result, a new JSON object
 * {"model", "image":{width,height}, "lines":[{text, confidence, box_score,
 * angle (0|180), polygon:[{x,y} x 4], box:{x_min,y_min,x_max,y_max}}],
 * "text"} (fractions
 * of the image, reading order), or <0 with e set.  name is the model name
 * put in the result (borrowed).  dbg may be NULL.
 */
int rt_ocr_run(struct rt_ocr *o, const char *name, const struct rt_image *img,
               const struct rt_ocr_debug *dbg, json_t **result, struct err *e);

/* detection input size for an image (multiples of 32, longest <= max side) */
void rt_ocr_det_size(const struct rt_ocr_opts *op, int w, int h, int *dw, int *dh);

/* the options in use (from the manifest) */
struct rt_ocr_opts rt_ocr_opts_of(const struct rt_ocr *o);

/* executors made so far (shape cache misses), for tests and logs */
int rt_ocr_exec_count(const struct rt_ocr *o);
size_t rt_ocr_bytes(const struct rt_ocr *o);

#endif
