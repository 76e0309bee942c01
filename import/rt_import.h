/*
 * rt_import.h: model importers (tfjs layers, tfjs graph, ONNX) producing
 * the graph IR of runtime/ir/rt_ir.h.  Used by tasks/, the fuzz harnesses
 * and tests/models.
 *
 * Every importer treats its input as hostile: sizes and offsets are
 * checked against the bytes present and against RT_MAX_* limits before
 * anything input-sized is allocated, and every failure fills struct err
 * with code "invalid_model" (ERR_INVALID), "model_too_large" (ERR_TOO_LARGE),
 * "unsupported_model" (ERR_UNPROCESSABLE) or, for files, "model_io" (transient).
 * Importers return the runtime's enum rt_status (rt.h): RT_ERR_INVALID,
 * RT_ERR_TOO_LARGE, RT_UNSUPPORTED, RT_ERR_IO, RT_ERR_OOM.
 *
 * Layout: the IR is NHWC (see rt_ir.h).  The ONNX importer keeps, for each
 * rank-4 value, whether the IR tensor holds the ONNX NCHW value in NHWC
 * order, folds the boundary Transposes that models put around NHWC inputs,
 * and transposes constant operands instead of activations.
 */
#ifndef VKV_RT_IMPORT_H
#define VKV_RT_IMPORT_H

#include "common/err.h"
#include "runtime/rt.h"
#include "runtime/ir/rt_ir.h"

#include <stddef.h>
#include <stdint.h>

/* limits on what a model file may ask for, checked before allocating */
#define RT_IMPORT_MAX_FILE (512LL * 1024 * 1024) /* model.json, .bin or .onnx */
#define RT_IMPORT_MAX_JSON (64LL * 1024 * 1024)
#define RT_IMPORT_MAX_SHARDS 256

struct rt_import_opts {
    /* values for dynamic input dims: spatial size of an image input
     * (0 = the model must give it); the batch dim is always set to 1 and
     * changed at plan time */
    int in_h, in_w;
    /* tfjs graph models: stop at these nodes instead of the signature's
     * outputs (borrowed; NULL/0 = the model's own outputs) */
    const char *const *outputs;
    int n_outputs;
    /* largest constant an importer may create from a small description
     * (ONNX ConstantOfShape, Shape arithmetic); 0 = RT_MAX_TENSOR_ELEMS.
     * Constants stored in the file are bounded by the file's size. */
    int64_t max_const_elems;
};

/* ---- tfjs (layers and graph models) ----------------------------------- */

/*
 * Imports a tfjs model from model.json; the weight shards named in its
 * weightsManifest are read from the same directory.  Detects layers
 * (Keras model_config) vs graph (modelTopology.node) models.  On success
 * returns 0 and *out is a new graph; caller frees with rt_graph_free.
 * On failure returns <0 with e set and *out is NULL.
 */
int rt_import_tfjs(const char *model_json_path, const struct rt_import_opts *o,
                   struct rt_graph **out, struct err *e);

/*
 * As rt_import_tfjs, from memory: json[0..json_len) is model.json and
 * bin[0..bin_len) the concatenation of every shard in manifest order.
 * Both buffers are borrowed for the call only.
 */
int rt_import_tfjs_mem(const char *json, size_t json_len, const uint8_t *bin, size_t bin_len,
                       const struct rt_import_opts *o, struct rt_graph **out, struct err *e);

/* ---- ONNX ---------------------------------------------------------- */

/* imports an .onnx file (opset 9..13); as rt_import_tfjs for ownership */
int rt_import_onnx(const char *path, const struct rt_import_opts *o, struct rt_graph **out,
                   struct err *e);

/* as rt_import_onnx, from a borrowed buffer */
int rt_import_onnx_mem(const uint8_t *buf, size_t len, const struct rt_import_opts *o,
                       struct rt_graph **out, struct err *e);

/*
 * Reads a whole file into a new buffer (NUL-terminated, *len excludes the
 * NUL) after checking its size against max; caller frees with free().
 * Returns 0 or RT_ERR_IO / RT_ERR_TOO_LARGE with e set.
 */
int rt_import_file_read(const char *path, long long max, uint8_t **buf, size_t *len, struct err *e);

/*
 * A float read from an untrusted model where an integer is meant (a shape,
 * an axis, an index), truncated toward zero; out-of-range values saturate and
 * NaN gives 0, so the cast is never undefined and the caller's range checks
 * refuse the value.
 */
int64_t rt_import_f2i(float f);

#endif
