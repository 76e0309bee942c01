/*
 * rt_ir.h: the graph IR every importer produces and every pass and executor
 * consumes.  Used by runtime/, import/ and tests (the API is runtime/rt.h).
 *
 * Conventions (the contract between importers and executors):
 *  - Activations of rank 4 are NHWC (tfjs order).  The ONNX importer
 *    converts NCHW graphs to NHWC: it rewrites axes of Concat/Softmax/...,
 *    transposes constant operands, and inserts an explicit RT_OP_TRANSPOSE
 *    back to NCHW before any Reshape/Flatten whose meaning depends on the
 *    element order, so both importers of one model give the same IR values.
 *  - Shapes are static once the input shape is known; dim 0 of an input is
 *    the batch and may be set at plan time (rt_graph_batch_set).
 *  - Constants are fp32 on the host after import (tfjs uint8-affine and
 *    fp16 weights are dequantised by the importer); quantisation to int8 per
 *    output channel or fp16 happens later, in a pass, and is recorded in
 *    rt_tensor.qtype.
 *  - Conv weights are HWIO: [KH, KW, Cin/groups, Cout]; depthwise is a conv
 *    with groups == Cin and weights [KH, KW, 1, Cin*mult].  Dense weights are
 *    [Cin, Cout].  Biases are [Cout].
 *  - A node has at most RT_MAX_INPUTS inputs and exactly one output.
 *  - (addition) CONV2D/DENSE may have a 4th input, a residual of the
 *    output's shape added after the bias and before the activation:
 *    y = act(conv(x) + bias + residual).  Made by the fusion pass from
 *    ADD(conv, r); importers need not produce it (bias is required then).
 *    The residual may have fewer channels (last dim) than the output: the
 *    missing channels read 0 (a channel zero-pad folded in by the passes;
 *    depthwise convs are refused at build).
 *
 * Lifetime: a graph owns all its tensors, nodes and constant data; ids are
 * indices into the graph's arrays and are valid until rt_graph_free().
 */
#ifndef VKV_RT_IR_H
#define VKV_RT_IR_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

#define RT_MAX_DIMS 4
#define RT_MAX_INPUTS 8
#define RT_NAME_LEN 96

/* limits checked by importers before allocating anything input-sized */
#define RT_MAX_TENSOR_ELEMS (256LL * 1024 * 1024)
#define RT_MAX_NODES 100000
#define RT_MAX_TENSORS 200000

enum rt_dtype { RT_DTYPE_F32 = 0, RT_DTYPE_F16, RT_DTYPE_I8, RT_DTYPE_I32 };

enum rt_act {
    RT_ACT_NONE = 0,
    RT_ACT_RELU,
    RT_ACT_RELU6,
    RT_ACT_SIGMOID,
    RT_ACT_TANH,
    RT_ACT_HARDSWISH,   /* x * relu6(x + 3) / 6 */
    RT_ACT_HARDSIGMOID, /* clamp(alpha*x + beta, 0, 1) */
    RT_ACT_LEAKY,       /* x < 0 ? alpha*x : x */
    RT_ACT_ELU,
    RT_ACT_GELU,
    RT_ACT_CLIP, /* clamp(x, lo, hi) */
    RT_ACT_SQRT, /* sqrt(x) (ONNX Sqrt, layer norms written out as elementwise ops) */
};

enum rt_op {
    RT_OP_INPUT = 0, /* graph input, no node inputs */
    RT_OP_CONV2D,    /* in: x[N,H,W,C], w[KH,KW,Cin/g,Cout], (bias[Cout]), (residual) */
    RT_OP_DENSE,     /* in: x[N,Cin] (or [..,Cin]), w[Cin,Cout], (bias[Cout]), (residual) */
    RT_OP_MATMUL,    /* in: a[..,M,K], b[..,K,N]; batch dims broadcast */
    RT_OP_BATCHNORM, /* in: x, scale[C], shift[C] (folded: y = x*scale+shift) */
    RT_OP_ADD,       /* elementwise with numpy broadcasting */
    RT_OP_SUB,
    RT_OP_MUL,
    RT_OP_DIV,
    RT_OP_MAX,
    RT_OP_MIN,
    RT_OP_ACT,         /* unary activation (attrs.act) */
    RT_OP_POOL_MAX,    /* NHWC, attrs.pool */
    RT_OP_POOL_AVG,    /* NHWC, attrs.pool; count_pad decides the divisor */
    RT_OP_GLOBAL_AVG,  /* NHWC -> [N,1,1,C] */
    RT_OP_PAD,         /* constant pad, attrs.pad.before/after per dim */
    RT_OP_CONCAT,      /* attrs.axis */
    RT_OP_RESHAPE,     /* attrs.shape (row-major element order kept) */
    RT_OP_TRANSPOSE,   /* attrs.perm */
    RT_OP_SOFTMAX,     /* attrs.axis */
    RT_OP_RESIZE,      /* NHWC; attrs.resize */
    RT_OP_SLICE,       /* attrs.slice */
    RT_OP_REDUCE_MEAN, /* attrs.axis, keepdims */
    RT_OP_COUNT
};

struct rt_conv_attrs {
    int stride_h, stride_w, dil_h, dil_w;
    int pad_t, pad_l, pad_b, pad_r; /* explicit; importers resolve SAME */
    int groups;
};

struct rt_pool_attrs {
    int kh, kw, stride_h, stride_w;
    int pad_t, pad_l, pad_b, pad_r;
    int count_pad; /* avg: 1 divides by kh*kw, 0 by the valid pixels (TF SAME) */
};

struct rt_resize_attrs {
    int out_h, out_w;
    int mode;          /* 0 nearest, 1 bilinear */
    int align_corners; /* 1: tf align_corners=true */
    int half_pixel;    /* 1: half-pixel centres (tf half_pixel_centers, onnx) */
};

struct rt_attrs {
    enum rt_act act;   /* fused activation for CONV2D/DENSE/ADD/BATCHNORM, or ACT's op */
    float alpha, beta; /* activation parameters (LEAKY, HARDSIGMOID, CLIP lo/hi) */
    struct rt_conv_attrs conv;
    struct rt_pool_attrs pool;
    struct rt_resize_attrs resize;
    int axis; /* CONCAT, SOFTMAX, REDUCE_MEAN (negative counts from the end) */
    int keepdims;
    int ndim;                   /* number of entries used in shape/perm/pads */
    int64_t shape[RT_MAX_DIMS]; /* RESHAPE target (-1 = infer, 0 = copy) */
    int perm[RT_MAX_DIMS];      /* TRANSPOSE */
    int pad_before[RT_MAX_DIMS], pad_after[RT_MAX_DIMS]; /* PAD */
    float pad_value;
    int64_t slice_start[RT_MAX_DIMS], slice_end[RT_MAX_DIMS]; /* SLICE, step 1 */
};

struct rt_tensor {
    char name[RT_NAME_LEN];
    enum rt_dtype dtype; /* logical type of values (F32 for all float tensors) */
    enum rt_dtype qtype; /* storage chosen by the quantisation pass (F32, F16, I8) */
    int ndim;
    int64_t shape[RT_MAX_DIMS];
    float *data; /* constants only: fp32 host copy, owned by the graph */
    int is_const;
    int producer; /* node index, -1 for constants */
    int is_output;
};

struct rt_node {
    enum rt_op op;
    int n_in;
    int in[RT_MAX_INPUTS]; /* tensor ids */
    int out;               /* tensor id */
    struct rt_attrs a;
    char name[RT_NAME_LEN];
};

struct rt_graph {
    struct rt_tensor *tensors;
    int n_tensors, cap_tensors;
    struct rt_node *nodes; /* in execution (topological) order */
    int n_nodes, cap_nodes;
    int inputs[8], n_inputs;
    int outputs[16], n_outputs;
};

/* returns a new empty graph; caller frees with rt_graph_free */
struct rt_graph *rt_graph_init(void);
/* frees g and everything it owns; g may be NULL */
void rt_graph_free(struct rt_graph *g);

/* adds an input of the given shape (NHWC for images); returns its tensor id or <0 with e set */
int rt_graph_input_add(struct rt_graph *g, const char *name, int ndim, const int64_t *shape,
                       struct err *e);
/* adds a constant; data (n = product of shape floats) is copied; returns id or <0 */
int rt_graph_const_add(struct rt_graph *g, const char *name, int ndim, const int64_t *shape,
                       const float *data, struct err *e);
/*
 * Appends a node, infers its output shape from the inputs and attrs, and
 * returns the output tensor id, or <0 with e set (shape mismatch, bad attrs,
 * limits).  Inputs must already exist (importers add nodes in topological
 * order).
 */
int rt_graph_node_add(struct rt_graph *g, enum rt_op op, const int *in, int n_in,
                      const struct rt_attrs *a, const char *name, struct err *e);
/* marks a tensor as a graph output; returns 0 or <0 */
int rt_graph_output_add(struct rt_graph *g, int tensor, struct err *e);

/* number of elements of a tensor; cannot fail */
int64_t rt_tensor_nelem(const struct rt_tensor *t);
/* readable op name, e.g. "conv2d" */
const char *rt_op_name(enum rt_op op);

/* ---- additions (runtime engineer); see runtime/README.md ---------------- */

/* adds a constant that takes ownership of data (malloc'ed, rt_tensor_nelem
 * floats; freed even on failure); returns its id or <0 with e set */
int rt_graph_const_adopt(struct rt_graph *g, const char *name, int ndim, const int64_t *shape,
                         float *data, struct err *e);

/* readable activation name, e.g. "relu6"; cannot fail */
const char *rt_act_name(enum rt_act act);

/* numpy broadcast of the shapes of a and b into (*ndim, out); 0 or <0 with e set */
int rt_shape_broadcast(const struct rt_tensor *a, const struct rt_tensor *b, int *ndim,
                       int64_t *out, struct err *e);

/* returns a deep copy of g (caller frees with rt_graph_free), or NULL with e set */
struct rt_graph *rt_graph_clone(const struct rt_graph *g, struct err *e);

/*
 * Sets dim 0 of every graph input to batch and re-infers every shape in
 * place.  A RESHAPE whose target dim 0 equals the old batch of input 0 is
 * given the new batch (importers should prefer -1 or 0 there).  Returns 0
 * or <0 with e set (shapes over the limits).
 */
int rt_graph_batch_set(struct rt_graph *g, int64_t batch, struct err *e);

/*
 * Sets the dims of every graph input (shapes[i][0..ndim): same ranks as
 * now) and re-infers every shape in place, as rt_graph_batch_set with a
 * batch of shapes[0][0].  Returns 0 or <0 with e set: a dim over the
 * limits, or a node whose shape rule refuses the new inputs (a RESHAPE to
 * a literal size that no longer matches).
 */
int rt_graph_inputs_set(struct rt_graph *g, const int64_t (*shapes)[RT_MAX_DIMS], struct err *e);

/*
 * Graph passes (rt_pass.c), each in place, each keeping graph outputs and
 * their ids: constant folding (nodes whose inputs are all constants are
 * computed on the CPU reference), folding BATCHNORM into a preceding
 * CONV2D/DENSE, folding ACT into the preceding CONV2D/DENSE/MATMUL/
 * BATCHNORM/binary node, and dead-node removal.  Tensor ids stay valid
 * (dead tensors are left in the table without producer).  Returns 0 or <0.
 */
int rt_graph_optimize(struct rt_graph *g, struct err *e);

/*
 * Chooses storage for constant weights (conv/dense weights only): F16 or
 * I8 per output channel (the last dim), setting tensor.qtype and rounding
 * tensor.data in place to the values the device will see, so the CPU
 * reference of a quantised graph computes what the GPU computes.  qtype
 * RT_DTYPE_F32 keeps fp32.  Returns 0 or <0.
 */
int rt_graph_quantize(struct rt_graph *g, enum rt_dtype qtype, struct err *e);

/* int8 symmetric per-output-channel scales of a [.., cout] tensor: scale[c] =
 * max|w[..,c]| / 127 (1 where the channel is all zero); cannot fail */
void rt_quant_scales(const float *w, int64_t n, int64_t cout, float *scale);

/* fp32 <-> IEEE half (round to nearest even, inf/nan kept); cannot fail */
uint16_t rt_f32_to_f16(float f);
float rt_f16_to_f32(uint16_t h);

#endif
