/*
 * rt_ops.h: the op contract between the executor (runtime/vk/rt_plan.c)
 * and the op families (runtime/ops/rt_op_*.c), and the op table.
 *
 * A family turns one IR node into dispatch records (struct rt_dispatch:
 * shader id, specialisation constants, bindings as regions, push
 * constants, grid).  It never calls Vulkan: it sees the device only
 * through struct rt_op_target, so ops/ includes nothing from vk/ and the
 * plan is the only caller.  The op table (rt_ops.c) has one row per IR op
 * naming the family that builds it; an op without a row is refused by
 * rt_ops_check when a plan is created, naming the op and the node.
 * See runtime/README.md "Adding an op".
 */
#ifndef VKV_RT_OPS_H
#define VKV_RT_OPS_H

#include "runtime/rt.h"
#include "runtime/ir/rt_ir.h"
#include "runtime/ops/rt_push.h"
#include "rt_shaders.h"

#include <stdint.h>

#define RT_MAX_BINDINGS 9 /* dwpw.comp's int8 variant uses 9 */
#define RT_MAX_SPEC 11    /* specialisation constants per dispatch (dwpw uses 11) */

enum rt_region_kind { RT_REG_ACT = 0, RT_REG_WEIGHT, RT_REG_STAGE, RT_REG_KINDS };

/* bytes of one of the plan's three buffers */
struct rt_region {
    int kind;           /* enum rt_region_kind */
    uint64_t off, size; /* bytes */
};

enum rt_texel {
    RT_TEXEL_NONE = 0,
    RT_TEXEL_RGBA32F,
    RT_TEXEL_RGBA16F,
    RT_TEXEL_RGBA8I,
    RT_TEXEL_R32F,
    RT_TEXEL_R16F,
    RT_TEXEL_R8I,
    RT_TEXEL_R32UI
};

struct rt_bind {
    struct rt_region r;
    int write;
    int texel; /* enum rt_texel: bound as a uniform texel buffer of that format */
};

struct rt_dispatch {
    enum rt_shader_id shader;
    uint32_t spec[RT_MAX_SPEC];
    int n_spec;
    int n_bind;
    struct rt_bind bind[RT_MAX_BINDINGS];
    uint32_t push[32];
    uint32_t push_size;
    uint32_t groups[3];
    int node;     /* graph node (for timing / errors) */
    double flops; /* floating-point operations (multiply-adds x 2), 0 where not counted */
};

/* what the families may know of the device (filled by the executor) */
struct rt_op_target {
    struct rt_caps caps;
    int use_gemm;              /* 1x1 convs and dense through the GEMM kernels */
    int use_texel;             /* uniform texel buffers for the conv/GEMM operands */
    uint32_t gemm_rb, gemm_cb; /* forced GEMM register tile (0 = per layer) */
    int gpu_kernels;           /* the GPU kernel family (VKV_RT_KERNELS); 0 = CPU-device kernels */
    int fp16_math;             /* GPU-family GEMM in fp16 arithmetic (VKV_RT_FP16_MATH) */
    int dw3;                   /* depthwise 3x3 on dwconv3.comp where it applies (VKV_NO_DW3) */
    int dwpw;                  /* depthwise 3x3 + 1x1 fused on dwpw.comp (VKV_NO_DWPW) */
};

/* what ops see while building: the graph at one batch size + region map */
struct rt_build {
    const struct rt_op_target *t;
    const struct rt_graph *g;
    const struct rt_region *reg;       /* per tensor id */
    const struct rt_region *wscale;    /* per tensor id: int8 scale region (size 0 if none) */
    const struct rt_region *zero_bias; /* bias region for conv/dense without bias */
    struct rt_dispatch *d;             /* owned; the caller frees with free() */
    int n, cap;
    const int *fuse; /* per node, from rt_op_dwpw_plan (borrowed; NULL = no fusion) */
};

/* appends a dispatch; returns it zeroed but for shader/node, or NULL with e set */
struct rt_dispatch *rt_build_add(struct rt_build *b, enum rt_shader_id sh, int node, struct err *e);
/* sets the grid for `total` invocations of workgroup size wg, folded into 2-D */
int rt_dispatch_grid1d(struct rt_dispatch *d, uint64_t total, uint32_t wg, struct err *e);
/* appends a binding (at most RT_MAX_BINDINGS: a bug otherwise) */
void rt_dispatch_bind(struct rt_dispatch *d, struct rt_region r, int write);

/* weight qtype that the conv shaders read for tensor t: 0 f32, 1 f16, 2 i8 */
int rt_wtype_of(const struct rt_tensor *t);

/* ---- the op table --------------------------------------------------------- */

/* builds the dispatches of node k of b->g; 0 or <0 (RT_UNSUPPORTED naming
 * the node for a shape the kernels cannot run) */
typedef int (*rt_op_build_fn)(struct rt_build *b, int k, struct err *e);

struct rt_op_row {
    const char *family; /* the file that builds it: "conv", "elem", "data" */
    rt_op_build_fn build;
};

/* the row of op, or NULL when no family builds it; cannot fail */
const struct rt_op_row *rt_op_row_get(enum rt_op op);

/* every node of g has a row: 0, or RT_UNSUPPORTED naming the op and the node
 * (called by plan creation before anything is allocated) */
int rt_ops_check(const struct rt_graph *g, struct err *e);

/* builds the dispatches of node k through its row; 0 or <0 with e set */
int rt_ops_build(struct rt_build *b, int k, struct err *e);

/*
 * The depthwise + 1x1 fusion (rt_op_dwpw.c), decided once per plan for the
 * device t over g (the plan's graph at its reserved shape, after the passes
 * and the quantisation): fuse[j] = k when depthwise node j is fused into
 * the 1x1 node k that alone reads its output (j then builds no dispatch, k
 * builds one dwpw dispatch reading j's input, so j's inputs must live until
 * k: the memory planner takes the same array), else -1.  fuse has
 * g->n_nodes entries (caller-owned).  Returns the number of fused pairs;
 * cannot fail.  The same decision holds at every smaller shape.
 */
int rt_op_dwpw_plan(const struct rt_op_target *t, const struct rt_graph *g, int *fuse);
/* The same array also folds a 2x2 stride-2 max-pool into the residual read
 * of the fused 1x1 that alone reads it: fuse[p] = k for pool node p (p
 * builds nothing; k reads p's input, which must live until k).  Returns the
 * pool node folded into 1x1 node k's residual, or -1; cannot fail. */
int rt_op_dwpw_pooled(const struct rt_build *b, int k);
/* builds the fused dispatch of 1x1 node k (b->fuse names its depthwise); 0 or <0 */
int rt_op_dwpw_build(struct rt_build *b, int k, struct err *e);

/* the families (one file each) */
int rt_op_conv_build(struct rt_build *b, int k, struct err *e);
int rt_op_elem_build(struct rt_build *b, int k, struct err *e);
int rt_op_data_build(struct rt_build *b, int k, struct err *e);
/* the GPU family's GEMM of CONV2D/DENSE node k, y[m,n] = x[m,kk] w[kk,n]
 * (rt_op_gemm_gpu.c, called by rt_op_conv.c when b->t->gpu_kernels) */
int rt_op_gemm_gpu(struct rt_build *b, int k, uint32_t m, uint32_t kk, uint32_t n, struct err *e);

#endif
