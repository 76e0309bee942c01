/*
 * rt.h: the public API of libvkv, the Vulkan compute runtime.
 *
 * Code outside runtime/ includes only this header (the importers and tasks
 * of the models engineer also use runtime/ir/rt_ir.h to build graphs).
 *
 *   struct rt_device_opts d = rt_device_opts_default();  d.selector = "0";
 *   struct rt_device *dev;  rt_device_create(&d, &dev, &e);
 *   struct rt_graph *g = ...importer...;
 *   struct rt_plan_opts o = rt_plan_opts_default();  o.max_batch = 4;
 *   struct rt_plan *p;  rt_plan_create(dev, g, &o, &p, &e);  rt_graph_free(g);
 *   rt_plan_run(p, 1, inputs, outputs, &e);      (or rt_plan_run_rgb8)
 *   rt_plan_destroy(p);  rt_device_destroy(dev);
 *
 * Threads: a device and its plans may be used by one thread at a time
 * (the worker runs one job at a time per device).  Every function returns
 * 0 (RT_OK) or a negative enum rt_status with e filled in.
 * Environment switches are listed in runtime/README.md.
 */
#ifndef VKV_RT_H
#define VKV_RT_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

struct rt_graph;

/* ---- status codes ------------------------------------------------------- */

enum rt_status {
    RT_OK = 0,
    RT_ERR_INVALID = -1,     /* bad graph, bad arguments, corrupt model file */
    RT_ERR_OOM = -2,         /* host or device memory exhausted, or over max_device_bytes */
    RT_ERR_DEVICE_LOST = -3, /* VK_ERROR_DEVICE_LOST: fatal to the worker process */
    RT_UNSUPPORTED = -4,     /* op / type / size not supported on this device */
    RT_ERR_TOO_LARGE = -5,   /* input exceeds a documented limit */
    RT_ERR_IO = -6,          /* could not read/write a file */
    RT_ERR_VULKAN = -7,      /* any other Vulkan failure (no device, init failed) */
    RT_ERR_TIMEOUT = -8,     /* fence wait timed out (VKV_RT_TIMEOUT_MS) */
};

/* readable name of a status, e.g. "out of memory"; cannot fail */
const char *rt_status_str(int status);

/* ---- devices ------------------------------------------------------------ */

struct rt_device;

struct rt_caps {
    char name[256];
    char driver[256]; /* driver name + info, e.g. "llvmpipe: Mesa 22.3.6" */
    char uuid[40];    /* pipelineCacheUUID-independent device UUID, 36 chars */
    char type[16];    /* "discrete", "integrated", "virtual", "cpu", "other" */
    uint32_t vendor_id, device_id, api_version, driver_version;
    int index;               /* index in rt_device_count() order */
    uint64_t vram_bytes;     /* sum of DEVICE_LOCAL heaps */
    int has_budget;          /* VK_EXT_memory_budget present */
    uint64_t budget_bytes;   /* heap budget (DEVICE_LOCAL heaps), when has_budget */
    uint64_t usage_bytes;    /* heap usage, when has_budget (at query time) */
    int fp16;                /* shaderFloat16 */
    int int8;                /* shaderInt8 */
    int storage16, storage8; /* 16/8-bit storage buffer access */
    int int_dot;             /* shaderIntegerDotProduct (4x8 packed accelerated) */
    int coopmat;             /* VK_KHR_cooperative_matrix advertised */
    int subgroup_size;
    int subgroup_arith;         /* subgroup arithmetic (subgroupAdd) in compute shaders */
    uint32_t shared_mem;        /* maxComputeSharedMemorySize */
    uint64_t max_storage_range; /* maxStorageBufferRange */
    uint64_t max_alloc;         /* maxMemoryAllocationSize */
    uint32_t max_wg_count[3], max_wg_invocations, max_push_constants;
    uint32_t min_storage_align;  /* minStorageBufferOffsetAlignment */
    uint32_t max_texel_elements; /* maxTexelBufferElements */
    int texel_formats; /* RGBA32F, RGBA16F, RGBA8I, R32F usable as uniform texel buffers */
    int uma;           /* device-local memory is also host visible */
};

/* number of Vulkan physical devices, or <0 with e set (no loader/ICD) */
int rt_device_count(struct err *e);

/*
 * Fills caps of device `index` without creating a logical device (cheap;
 * used by `vkv devices`).  Returns 0 or <0 with e set.
 */
int rt_device_caps_get(int index, struct rt_caps *caps, struct err *e);

/*
 * A device's settings.  The runtime reads no environment: the caller fills
 * this, from its configuration (vkv-worker: the config table, shown by
 * --print-config) or from the environment (the vkv CLI, tests) through
 * rt_device_opts_read.  Each field names the setting that fills it.
 */
struct rt_device_opts {
    /* VKV_WORKER_DEVICE / --device: NULL or "" = device 0; a decimal
     * index; a UUID (36 chars, as in rt_caps.uuid); or a case-insensitive
     * substring of the device name.  Borrowed for rt_device_create. */
    const char *selector;
    int validate;              /* RT_VALIDATE: validation layer + message counter */
    int no_fp16;               /* VKV_NO_FP16: fp16 weight requests fall back to fp32 */
    int no_int8;               /* VKV_NO_INT8: int8 weight requests fall back to fp32 */
    int no_gemm;               /* VKV_NO_GEMM: 1x1 convs and dense on the direct conv kernel */
    int no_texel;              /* VKV_NO_TEXEL: storage-buffer kernels only */
    int no_dw3;                /* VKV_NO_DW3: depthwise 3x3 on dwconv.comp, not dwconv3.comp */
    int no_dwpw;               /* VKV_NO_DWPW: depthwise 3x3 and the 1x1 after it unfused */
    int gemm_rows;             /* VKV_GEMM_TILE=RxC: GEMM tile rows 1..8; 0 = per layer */
    int gemm_cols;             /* ... and vec4 column blocks 1..8 */
    int kernels;               /* VKV_RT_KERNELS: kernel family, 0 "auto" (the GPU family on
                                  every device but a CPU one), 1 "cpu", 2 "gpu" */
    int fp16_math;             /* VKV_RT_FP16_MATH: GPU-family GEMM in fp16 arithmetic
                                  (needs shaderFloat16); off by default (accuracy) */
    char cache_dir[400];       /* VKV_VAR_DIR + "/cache" (pipeline cache); "" = none
                                  (also with VKV_NO_PIPELINE_CACHE) */
    uint64_t timeout_ms;       /* VKV_RT_TIMEOUT_MS: fence wait per run; 60000 */
    uint64_t max_device_bytes; /* VKV_RT_MAX_DEVICE_BYTES: plan creation fails with
                                  RT_ERR_OOM above it; 0 = the plan's own limit */
    int profile;               /* VKV_RT_PROFILE: per-shader device time after each run */
    int profile_dispatch;      /* VKV_RT_PROFILE_DISPATCH: with profile, also one line per
                                  dispatch (node, grid, time, GFLOP/s) */
    int tf_linear;             /* VKV_TF_LINEAR: transformer linear kernel, 0 by rows,
                                  1 "mv" (<= 4 rows), 2 "mm" */
    int tf_texel;              /* VKV_TF_TEXEL: -1 by device type, 0 off, 1 on */
    uint64_t tf_part_bytes;    /* VKV_TF_PART_BYTES: transformer weight part limit
                                  (tests force several parts); 0 = device range */
};

/* the settings rt_device_opts_read asks for, NULL-terminated (static):
 * every one is a row of the programs' configuration table */
extern const char *const rt_device_opt_names[];

/* no switches, device 0, no pipeline cache, 60 s timeout; cannot fail */
struct rt_device_opts rt_device_opts_default(void);

/*
 * Fills o from the settings named in rt_device_opt_names as get(ctx, name)
 * returns them (NULL or "" = unset: the default); o->selector is left as
 * it was.  Booleans: 1/true/yes/on, 0/false/no/off.  Returns 0, or
 * RT_ERR_INVALID with e set naming the setting and its value.
 */
int rt_device_opts_read(struct rt_device_opts *o, const char *(*get)(void *ctx, const char *name),
                        void *ctx, struct err *e);

/*
 * Creates a logical device with o (NULL = rt_device_opts_default(); copied).
 * Returns 0 and a new device in *out (caller frees with rt_device_destroy),
 * or <0 with e set (RT_ERR_INVALID when no device matches o->selector).
 */
int rt_device_create(const struct rt_device_opts *o, struct rt_device **out, struct err *e);

/* destroys the device; all its plans must be destroyed first; NULL ok */
void rt_device_destroy(struct rt_device *dev);

/* borrowed; valid until rt_device_destroy.  Budget/usage are refreshed by
 * this call when the device has VK_EXT_memory_budget. */
const struct rt_caps *rt_device_caps(struct rt_device *dev);

/* validation messages counted since creation (opts.validate); cannot fail */
int rt_device_validation_errors(const struct rt_device *dev);
/* validation errors of all devices so far, including those reported while
 * destroying (leaked objects); for teardown tests; cannot fail */
int rt_validation_errors_total(void);

/* ---- plans (a model prepared for one device) ---------------------------- */

struct rt_plan;

enum rt_weights {
    RT_WEIGHTS_F32 = 0, /* fp32 weights (always available) */
    RT_WEIGHTS_F16,     /* fp16 storage, fp32 arithmetic */
    RT_WEIGHTS_I8,      /* int8 symmetric per output channel, fp32 accumulate */
};

struct rt_preprocess {
    int enabled;           /* 1: input 0 is fed from RGB8 by rt_plan_run_rgb8 */
    int max_w, max_h;      /* largest accepted image (sizes staging); default 4096 */
    int bilinear;          /* 1 bilinear (default), 0 nearest */
    int align_corners;     /* tf align_corners=true */
    int half_pixel;        /* half-pixel centres (tf2 / onnx / cv2) */
    float scale;           /* y = (x * scale - mean[c]) / std[c]; default 1/255 */
    float mean[3], std[3]; /* default 0 and 1 */
};

struct rt_plan_opts {
    int max_batch;           /* >= 1; the activation plan is sized for it */
    enum rt_weights weights; /* RT_WEIGHTS_F16 / I8 fall back to F32 where the op has none */
    struct rt_preprocess pre;
    uint64_t max_device_bytes; /* 0 = no limit; plan creation fails with RT_ERR_OOM
                                  when weights+activations+staging exceed it
                                  (the device's max_device_bytes overrides when set) */
    int no_fuse;               /* 1: skip the fusion passes (debugging) */
};

/* the defaults: batch 1, fp32, no preprocessing, no byte limit; cannot fail */
struct rt_plan_opts rt_plan_opts_default(void);

/*
 * Prepares graph g for dev: clones it (g is borrowed and left unchanged;
 * the caller still frees it), sets the batch to o->max_batch, runs the
 * passes (constant folding, batch-norm folding, activation fusion, dead
 * node removal), quantises weights, plans activation memory, uploads the
 * weights and creates the pipelines.  Nothing is allocated on the device
 * by rt_plan_run afterwards.  Returns 0 and a new plan in *out (caller
 * frees with rt_plan_destroy before destroying dev), or <0 with e set:
 * RT_ERR_OOM (device/host memory or max_device_bytes), RT_UNSUPPORTED (a
 * tensor over maxStorageBufferRange, an op the device cannot run),
 * RT_ERR_INVALID (bad options).
 */
int rt_plan_create(struct rt_device *dev, const struct rt_graph *g, const struct rt_plan_opts *o,
                   struct rt_plan **out, struct err *e);

/* destroys the plan and frees its device memory; NULL ok */
void rt_plan_destroy(struct rt_plan *p);

/*
 * Runs batch items (1..max_batch).  inputs[i] holds batch * (elements of
 * one item) floats of graph input i (NHWC); outputs[j] receives batch *
 * (elements of one item) floats of graph output j.  Both are borrowed for
 * the call.  The command buffer for this batch size is recorded on first
 * use and replayed afterwards.  Returns 0 or <0 with e set
 * (RT_ERR_DEVICE_LOST is fatal to the process).
 */
int rt_plan_run(struct rt_plan *p, int batch, const float *const *inputs, float **outputs,
                struct err *e);

/*
 * As rt_plan_run, at a shape within the reserved one (each input's dims
 * at max_batch, rt_plan_input_shape): a smaller batch, sequence length or
 * crop count, with no re-planning.  shapes[i] holds input i's dims (its
 * rank as reserved), each in 1..reserved; inputs[i] holds their product
 * of floats.  outputs[j] receives output j's elements at that shape
 * (never more than at the reserved one) and, when out_shapes is non-NULL,
 * out_shapes[j * 4 .. j * 4 + 4) its dims (0-padded).  The memory plan,
 * buffers and weights are the reserved ones (each tensor uses a prefix of
 * its region); the first run at a shape records a command buffer, later
 * runs replay it.  Returns 0 or <0 with e set: RT_ERR_INVALID for a dim
 * out of range or a graph that does not shrink with its inputs (a RESHAPE
 * to a literal size), RT_UNSUPPORTED from an op that cannot run the shape.
 */
int rt_plan_run_shape(struct rt_plan *p, const int64_t *const *shapes, const float *const *inputs,
                      float **outputs, int64_t *out_shapes, struct err *e);
/* command buffers recorded since creation (one at creation, one per new
 * run shape); for tests that a smaller shape is not re-planned; cannot fail */
int rt_plan_record_count(const struct rt_plan *p);

struct rt_image {
    const uint8_t *rgb; /* w*h*3 bytes, row-major, no padding; borrowed */
    int w, h;
};

/*
 * As rt_plan_run, but graph input 0 is made on the device from RGB8
 * images by the preprocessing shader (resize + normalise, plan option
 * pre.enabled).  Other graph inputs are not supported here.
 */
int rt_plan_run_rgb8(struct rt_plan *p, int batch, const struct rt_image *imgs, float **outputs,
                     struct err *e);

/* device bytes held by the plan: weights + activations + staging; cannot fail */
size_t rt_plan_device_bytes(const struct rt_plan *p);
/* bytes of the weights alone on the device; cannot fail */
size_t rt_plan_weight_bytes(const struct rt_plan *p);
/* dispatches per inference (after fusion); cannot fail */
int rt_plan_dispatch_count(const struct rt_plan *p);
/* graph nodes after the passes; cannot fail */
int rt_plan_node_count(const struct rt_plan *p);

/* input/output i's shape at the reserved shape (dim 0 is the batch);
 * shape must hold 4 entries; returns the rank, or <0 for a bad index */
int rt_plan_input_shape(const struct rt_plan *p, int i, int64_t *shape);
int rt_plan_output_shape(const struct rt_plan *p, int i, int64_t *shape);
/* the graph after passes and quantisation, at max_batch (borrowed; valid
 * until rt_plan_destroy): what rt_pack_save stores; rt_ref_run of it is the
 * exact reference of the plan's results */
const struct rt_graph *rt_plan_graph(const struct rt_plan *p);
/* compute barriers recorded per inference (hazard tracking); cannot fail */
int rt_plan_barrier_count(const struct rt_plan *p);

/* ---- executors: one interface over the backends ------------------------ */

/*
 * An executor is a graph prepared for one backend: the Vulkan plan when
 * dev is non-NULL (rt_plan_create with o), else the CPU reference (the
 * graph after the same passes and weight rounding, at batch 1, run image
 * by image).  Callers hold a struct rt_exec and never branch on which.
 * g is borrowed.  Returns 0 and a new executor in *out (caller frees with
 * rt_exec_destroy, before dev), or <0 with e set as rt_plan_create.
 */
struct rt_exec;
int rt_exec_create(struct rt_device *dev, const struct rt_graph *g, const struct rt_plan_opts *o,
                   struct rt_exec **out, struct err *e);
void rt_exec_destroy(struct rt_exec *x);
/* "vulkan" or "cpu-reference" (static string); cannot fail */
const char *rt_exec_backend(const struct rt_exec *x);
/* as rt_plan_run, for batch images (<= o->max_batch on Vulkan) */
int rt_exec_run(struct rt_exec *x, int batch, const float *const *inputs, float **outputs,
                struct err *e);
/* 1 when the backend takes RGB8 images (rt_exec_run_rgb8); cannot fail */
int rt_exec_has_rgb8(const struct rt_exec *x);
/* as rt_plan_run_rgb8; only where rt_exec_has_rgb8 */
int rt_exec_run_rgb8(struct rt_exec *x, int batch, const struct rt_image *imgs, float **outputs,
                     struct err *e);
/* bytes the executor holds (device memory, or host memory of the CPU
 * reference's constants), the weights alone, dispatches (or nodes) per
 * inference; cannot fail */
/* as rt_plan_run_shape (the reference re-infers the graph at the shape) */
int rt_exec_run_shape(struct rt_exec *x, const int64_t *const *shapes, const float *const *inputs,
                      float **outputs, int64_t *out_shapes, struct err *e);
size_t rt_exec_device_bytes(const struct rt_exec *x);
size_t rt_exec_weight_bytes(const struct rt_exec *x);
int rt_exec_dispatch_count(const struct rt_exec *x);

/* ---- CPU reference executor (tests, tasks without a device, bring-up) ---- */

/*
 * Runs g on the CPU reference ops (fp32; constants with qtype F16/I8 are
 * used through their dequantised values).  inputs/outputs as rt_plan_run
 * for the graph's own batch.  Returns 0 or <0 with e set.
 */
int rt_ref_run(const struct rt_graph *g, const float *const *inputs, float **outputs,
               struct err *e);

/* ---- packed model files -------------------------------------------------- */

/*
 * Saves g (typically after rt_graph_optimize and rt_graph_quantize) to path
 * as one file: header, tensor and node tables, then the constant data
 * aligned to 64 bytes (int8/fp16 as quantised).  Returns 0 or <0 with e set.
 */
int rt_pack_save(const struct rt_graph *g, const char *path, struct err *e);

/*
 * Maps path and builds a graph from it; every size, offset and id is
 * bounds- and overflow-checked.  Returns 0 and a new graph in *out (caller
 * frees with rt_graph_free), or <0 with e set (RT_ERR_IO, RT_ERR_INVALID,
 * RT_ERR_TOO_LARGE).
 */
int rt_pack_load(const char *path, struct rt_graph **out, struct err *e);
/* as rt_pack_load from memory (borrowed for the call); for the fuzzer */
int rt_pack_load_mem(const void *data, size_t len, struct rt_graph **out, struct err *e);

#endif
