/*
 * rt_ir.c: building the graph IR with shape inference and validation.
 *
 * Every node added is checked here, once, so that passes and executors may
 * assume a well-formed graph: input ids exist and precede the node, ranks
 * and dims agree with the op, attrs are in range, and every tensor stays
 * under RT_MAX_TENSOR_ELEMS.  Attributes that have a canonical form
 * (dilation 0 -> 1, negative axes, SLICE bounds, RESHAPE -1/0 entries) are
 * normalised into the stored node so that consumers never re-derive them.
 * See runtime/README.md.
 */
#include "runtime/ir/rt_ir.h"
#include "runtime/rt.h"
#include "common/cm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[RT_OP_COUNT] = {
    [RT_OP_INPUT] = "input",
    [RT_OP_CONV2D] = "conv2d",
    [RT_OP_DENSE] = "dense",
    [RT_OP_MATMUL] = "matmul",
    [RT_OP_BATCHNORM] = "batchnorm",
    [RT_OP_ADD] = "add",
    [RT_OP_SUB] = "sub",
    [RT_OP_MUL] = "mul",
    [RT_OP_DIV] = "div",
    [RT_OP_MAX] = "max",
    [RT_OP_MIN] = "min",
    [RT_OP_ACT] = "act",
    [RT_OP_POOL_MAX] = "pool_max",
    [RT_OP_POOL_AVG] = "pool_avg",
    [RT_OP_GLOBAL_AVG] = "global_avg",
    [RT_OP_PAD] = "pad",
    [RT_OP_CONCAT] = "concat",
    [RT_OP_RESHAPE] = "reshape",
    [RT_OP_TRANSPOSE] = "transpose",
    [RT_OP_SOFTMAX] = "softmax",
    [RT_OP_RESIZE] = "resize",
    [RT_OP_SLICE] = "slice",
    [RT_OP_REDUCE_MEAN] = "reduce_mean",
};

/* readable op name; "?" for values out of range; cannot fail */
const char *rt_op_name(enum rt_op op)
{
    if ((int)op < 0 || op >= RT_OP_COUNT)
        return "?";
    return op_names[op];
}

static const char *const act_names[] = {
    "none",        "relu",  "relu6", "sigmoid", "tanh", "hardswish",
    "hardsigmoid", "leaky", "elu",   "gelu",    "clip", "sqrt",
};

/* readable activation name; "?" for values out of range; cannot fail */
const char *rt_act_name(enum rt_act act)
{
    if ((int)act < 0 || (size_t)act >= CM_ARRAY_LEN(act_names))
        return "?";
    return act_names[act];
}

/* number of elements (1 for rank 0); cannot fail */
int64_t rt_tensor_nelem(const struct rt_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* returns a new empty graph; caller frees with rt_graph_free */
struct rt_graph *rt_graph_init(void)
{
    struct rt_graph *g = cm_xcalloc(1, sizeof(*g));
    return g;
}

/* frees g and everything it owns; g may be NULL */
void rt_graph_free(struct rt_graph *g)
{
    if (g == NULL)
        return;
    for (int i = 0; i < g->n_tensors; i++)
        free(g->tensors[i].data);
    free(g->tensors);
    free(g->nodes);
    free(g);
}

static void name_copy(char *dst, const char *src)
{
    snprintf(dst, RT_NAME_LEN, "%s", src ? src : "");
}

/*
 * Validates a shape: rank 0..RT_MAX_DIMS, dims >= 1, product under the
 * element limit (checked step by step, so it cannot overflow).
 */
static int shape_check(const char *what, int ndim, const int64_t *shape, struct err *e)
{
    if (ndim < 0 || ndim > RT_MAX_DIMS)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "invalid rank of %s: %d (max %d)", what, ndim, RT_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                           "invalid dim %d of %s: %lld", i, what, (long long)shape[i]);
        if (shape[i] > RT_MAX_TENSOR_ELEMS || n > RT_MAX_TENSOR_ELEMS / shape[i])
            return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                           "tensor %s too large (limit %lld elements)", what,
                           (long long)RT_MAX_TENSOR_ELEMS);
        n *= shape[i];
    }
    return 0;
}

/* appends a tensor (shape already checked); returns its id or <0 */
static int tensor_push(struct rt_graph *g, const char *name, int ndim, const int64_t *shape,
                       struct err *e)
{
    if (g->n_tensors >= RT_MAX_TENSORS)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                       "too many tensors (limit %d)", RT_MAX_TENSORS);
    if (g->n_tensors == g->cap_tensors) {
        int cap = g->cap_tensors ? g->cap_tensors * 2 : 64;
        struct rt_tensor *t = realloc(g->tensors, (size_t)cap * sizeof(*t));
        if (t == NULL)
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "could not grow tensor table to %d", cap);
        g->tensors = t;
        g->cap_tensors = cap;
    }
    struct rt_tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof(*t));
    name_copy(t->name, name);
    t->dtype = RT_DTYPE_F32;
    t->qtype = RT_DTYPE_F32;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->producer = -1;
    return g->n_tensors++;
}

/* adds an input of the given shape; returns its tensor id or <0 with e set */
int rt_graph_input_add(struct rt_graph *g, const char *name, int ndim, const int64_t *shape,
                       struct err *e)
{
    if (g->n_inputs >= (int)CM_ARRAY_LEN(g->inputs))
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "too many graph inputs (max %d)", (int)CM_ARRAY_LEN(g->inputs));
    int rc = shape_check(name ? name : "input", ndim, shape, e);
    if (rc < 0)
        return rc;
    int id = tensor_push(g, name, ndim, shape, e);
    if (id < 0)
        return id;
    g->inputs[g->n_inputs++] = id;
    return id;
}

/* adds a constant owning data (malloc'ed, freed by the graph even on failure) */
int rt_graph_const_adopt(struct rt_graph *g, const char *name, int ndim, const int64_t *shape,
                         float *data, struct err *e)
{
    int rc = shape_check(name ? name : "constant", ndim, shape, e);
    int id = rc < 0 ? rc : tensor_push(g, name, ndim, shape, e);
    if (id < 0) {
        free(data);
        return id;
    }
    g->tensors[id].data = data;
    g->tensors[id].is_const = 1;
    return id;
}

/* adds a constant; data is copied; returns id or <0 with e set */
int rt_graph_const_add(struct rt_graph *g, const char *name, int ndim, const int64_t *shape,
                       const float *data, struct err *e)
{
    int rc = shape_check(name ? name : "constant", ndim, shape, e);
    if (rc < 0)
        return rc;
    if (data == NULL)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model", "constant %s has no data",
                       name ? name : "");
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    float *copy = malloc((size_t)n * sizeof(float));
    if (copy == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate constant %s (%lld floats)", name ? name : "",
                       (long long)n);
    memcpy(copy, data, (size_t)n * sizeof(float));
    int id = tensor_push(g, name, ndim, shape, e);
    if (id < 0) {
        free(copy);
        return id;
    }
    g->tensors[id].data = copy;
    g->tensors[id].is_const = 1;
    return id;
}

/* marks a tensor as a graph output; returns 0 or <0 with e set */
int rt_graph_output_add(struct rt_graph *g, int tensor, struct err *e)
{
    if (tensor < 0 || tensor >= g->n_tensors)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "invalid output tensor id: %d", tensor);
    if (g->n_outputs >= (int)CM_ARRAY_LEN(g->outputs))
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "too many graph outputs (max %d)", (int)CM_ARRAY_LEN(g->outputs));
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == tensor)
            return 0;
    g->outputs[g->n_outputs++] = tensor;
    g->tensors[tensor].is_output = 1;
    return 0;
}

/* ---- shape inference ---------------------------------------------------- */

#define BAD(...) err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model", __VA_ARGS__)

static int norm_axis(int axis, int ndim)
{
    return axis < 0 ? axis + ndim : axis;
}

/* numpy broadcasting of two shapes; 0 or <0 */
int rt_shape_broadcast(const struct rt_tensor *a, const struct rt_tensor *b, int *ndim,
                       int64_t *out, struct err *e)
{
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = a->ndim - n + i, ib = b->ndim - n + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1;
        int64_t db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return BAD("cannot broadcast dim %d: %lld vs %lld", i, (long long)da, (long long)db);
        out[i] = da > db ? da : db;
    }
    *ndim = n;
    return 0;
}

static int act_check(const struct rt_attrs *a, struct err *e)
{
    if ((int)a->act < 0 || a->act > RT_ACT_SQRT)
        return BAD("invalid activation: %d", (int)a->act);
    if (a->act == RT_ACT_CLIP && !(a->alpha <= a->beta))
        return BAD("invalid clip range: %g..%g", a->alpha, a->beta);
    return 0;
}

static int conv_infer(const struct rt_graph *g, struct rt_node *nd, int *ndim, int64_t *s,
                      struct err *e)
{
    if (nd->n_in < 2 || nd->n_in > 4)
        return BAD("conv2d needs 2 to 4 inputs, got %d", nd->n_in);
    const struct rt_tensor *x = &g->tensors[nd->in[0]], *w = &g->tensors[nd->in[1]];
    struct rt_conv_attrs *c = &nd->a.conv;
    if (x->ndim != 4 || w->ndim != 4)
        return BAD("conv2d needs rank-4 input and weights, got %d and %d", x->ndim, w->ndim);
    if (c->groups == 0)
        c->groups = 1;
    if (c->dil_h == 0)
        c->dil_h = 1;
    if (c->dil_w == 0)
        c->dil_w = 1;
    if (c->stride_h < 1 || c->stride_w < 1 || c->stride_h > 64 || c->stride_w > 64)
        return BAD("invalid conv2d stride: %dx%d", c->stride_h, c->stride_w);
    if (c->dil_h < 1 || c->dil_w < 1 || c->dil_h > 64 || c->dil_w > 64)
        return BAD("invalid conv2d dilation: %dx%d", c->dil_h, c->dil_w);
    if (c->pad_t < 0 || c->pad_l < 0 || c->pad_b < 0 || c->pad_r < 0 || c->pad_t > 1024 ||
        c->pad_l > 1024 || c->pad_b > 1024 || c->pad_r > 1024)
        return BAD("invalid conv2d padding: %d,%d,%d,%d", c->pad_t, c->pad_l, c->pad_b, c->pad_r);
    int64_t cin = x->shape[3], cout = w->shape[3];
    if (c->groups < 1 || cin % c->groups != 0 || cout % c->groups != 0)
        return BAD("invalid conv2d groups %d for %lld input and %lld output channels", c->groups,
                   (long long)cin, (long long)cout);
    if (w->shape[2] != cin / c->groups)
        return BAD("conv2d weights have %lld input channels, expected %lld", (long long)w->shape[2],
                   (long long)(cin / c->groups));
    if (nd->n_in == 3) {
        const struct rt_tensor *b = &g->tensors[nd->in[2]];
        if (b->ndim != 1 || b->shape[0] != cout)
            return BAD("conv2d bias must be [%lld]", (long long)cout);
    }
    int64_t eh = (int64_t)c->dil_h * (w->shape[0] - 1) + 1;
    int64_t ew = (int64_t)c->dil_w * (w->shape[1] - 1) + 1;
    int64_t hp = x->shape[1] + c->pad_t + c->pad_b, wp = x->shape[2] + c->pad_l + c->pad_r;
    if (hp < eh || wp < ew)
        return BAD("conv2d kernel %lldx%lld larger than padded input %lldx%lld", (long long)eh,
                   (long long)ew, (long long)hp, (long long)wp);
    *ndim = 4;
    s[0] = x->shape[0];
    s[1] = (hp - eh) / c->stride_h + 1;
    s[2] = (wp - ew) / c->stride_w + 1;
    s[3] = cout;
    return act_check(&nd->a, e);
}

static int pool_infer(const struct rt_tensor *x, struct rt_pool_attrs *p, int *ndim, int64_t *s,
                      struct err *e)
{
    if (x->ndim != 4)
        return BAD("pool needs a rank-4 input, got %d", x->ndim);
    if (p->kh < 1 || p->kw < 1 || p->kh > 4096 || p->kw > 4096)
        return BAD("invalid pool kernel: %dx%d", p->kh, p->kw);
    if (p->stride_h < 1 || p->stride_w < 1 || p->stride_h > 4096 || p->stride_w > 4096)
        return BAD("invalid pool stride: %dx%d", p->stride_h, p->stride_w);
    if (p->pad_t < 0 || p->pad_l < 0 || p->pad_b < 0 || p->pad_r < 0 || p->pad_t >= p->kh ||
        p->pad_b >= p->kh || p->pad_l >= p->kw || p->pad_r >= p->kw)
        return BAD("invalid pool padding: %d,%d,%d,%d", p->pad_t, p->pad_l, p->pad_b, p->pad_r);
    int64_t hp = x->shape[1] + p->pad_t + p->pad_b, wp = x->shape[2] + p->pad_l + p->pad_r;
    if (hp < p->kh || wp < p->kw)
        return BAD("pool kernel %dx%d larger than padded input", p->kh, p->kw);
    *ndim = 4;
    s[0] = x->shape[0];
    s[1] = (hp - p->kh) / p->stride_h + 1;
    s[2] = (wp - p->kw) / p->stride_w + 1;
    s[3] = x->shape[3];
    return 0;
}

static int infer(const struct rt_graph *g, struct rt_node *nd, int *ndim, int64_t *s, struct err *e)
{
    struct rt_attrs *a = &nd->a;
    const struct rt_tensor *x = &g->tensors[nd->in[0]];
    int n_want_min = 1, n_want_max = 1;
    switch (nd->op) {
    case RT_OP_CONV2D:
        return conv_infer(g, nd, ndim, s, e);
    case RT_OP_DENSE:
        n_want_min = 2;
        n_want_max = 4;
        break;
    case RT_OP_MATMUL:
        n_want_min = n_want_max = 2;
        break;
    case RT_OP_BATCHNORM:
        n_want_min = n_want_max = 3;
        break;
    case RT_OP_ADD:
    case RT_OP_SUB:
    case RT_OP_MUL:
    case RT_OP_DIV:
    case RT_OP_MAX:
    case RT_OP_MIN:
        n_want_min = n_want_max = 2;
        break;
    case RT_OP_CONCAT:
        n_want_min = 1;
        n_want_max = RT_MAX_INPUTS;
        break;
    default:
        break;
    }
    if (nd->n_in < n_want_min || nd->n_in > n_want_max)
        return BAD("%s needs %d..%d inputs, got %d", rt_op_name(nd->op), n_want_min, n_want_max,
                   nd->n_in);
    /* fused activations are allowed on the ops that compute values */
    if (nd->op != RT_OP_ACT && a->act != RT_ACT_NONE &&
        !(nd->op == RT_OP_DENSE || nd->op == RT_OP_MATMUL || nd->op == RT_OP_BATCHNORM ||
          (nd->op >= RT_OP_ADD && nd->op <= RT_OP_MIN)))
        return BAD("%s cannot carry a fused activation", rt_op_name(nd->op));
    if (act_check(a, e) < 0)
        return e ? e->status : RT_ERR_INVALID;

    switch (nd->op) {
    case RT_OP_DENSE: {
        const struct rt_tensor *w = &g->tensors[nd->in[1]];
        if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[0])
            return BAD("dense: input [..,%lld] does not match weights [%lld,%lld]",
                       (long long)(x->ndim ? x->shape[x->ndim - 1] : 0),
                       (long long)(w->ndim > 0 ? w->shape[0] : 0),
                       (long long)(w->ndim > 1 ? w->shape[1] : 0));
        if (nd->n_in == 3) {
            const struct rt_tensor *b = &g->tensors[nd->in[2]];
            if (b->ndim != 1 || b->shape[0] != w->shape[1])
                return BAD("dense bias must be [%lld]", (long long)w->shape[1]);
        }
        *ndim = x->ndim;
        memcpy(s, x->shape, sizeof(x->shape));
        s[x->ndim - 1] = w->shape[1];
        return 0;
    }
    case RT_OP_MATMUL: {
        const struct rt_tensor *b = &g->tensors[nd->in[1]];
        if (x->ndim < 2 || b->ndim < 2)
            return BAD("matmul needs rank >= 2 operands, got %d and %d", x->ndim, b->ndim);
        if (x->shape[x->ndim - 1] != b->shape[b->ndim - 2])
            return BAD("matmul: inner dims differ: %lld vs %lld", (long long)x->shape[x->ndim - 1],
                       (long long)b->shape[b->ndim - 2]);
        struct rt_tensor ba = *x, bb = *b;
        ba.ndim -= 2;
        bb.ndim -= 2;
        int nb;
        int64_t bs[RT_MAX_DIMS];
        if (rt_shape_broadcast(&ba, &bb, &nb, bs, e) < 0)
            return e ? e->status : RT_ERR_INVALID;
        *ndim = nb + 2;
        for (int i = 0; i < nb; i++)
            s[i] = bs[i];
        s[nb] = x->shape[x->ndim - 2];
        s[nb + 1] = b->shape[b->ndim - 1];
        return 0;
    }
    case RT_OP_BATCHNORM: {
        int64_t c = x->ndim ? x->shape[x->ndim - 1] : 1;
        for (int i = 1; i < 3; i++) {
            const struct rt_tensor *p = &g->tensors[nd->in[i]];
            if (p->ndim != 1 || p->shape[0] != c)
                return BAD("batchnorm parameter %d must be [%lld]", i, (long long)c);
        }
        *ndim = x->ndim;
        memcpy(s, x->shape, sizeof(x->shape));
        return 0;
    }
    case RT_OP_ADD:
    case RT_OP_SUB:
    case RT_OP_MUL:
    case RT_OP_DIV:
    case RT_OP_MAX:
    case RT_OP_MIN:
        return rt_shape_broadcast(x, &g->tensors[nd->in[1]], ndim, s, e);
    case RT_OP_ACT:
        *ndim = x->ndim;
        memcpy(s, x->shape, sizeof(x->shape));
        return 0;
    case RT_OP_POOL_MAX:
    case RT_OP_POOL_AVG:
        return pool_infer(x, &a->pool, ndim, s, e);
    case RT_OP_GLOBAL_AVG:
        if (x->ndim != 4)
            return BAD("global_avg needs a rank-4 input, got %d", x->ndim);
        *ndim = 4;
        s[0] = x->shape[0];
        s[1] = s[2] = 1;
        s[3] = x->shape[3];
        return 0;
    case RT_OP_PAD:
        if (a->ndim != x->ndim)
            return BAD("pad has %d entries for a rank-%d input", a->ndim, x->ndim);
        *ndim = x->ndim;
        for (int i = 0; i < x->ndim; i++) {
            if (a->pad_before[i] < 0 || a->pad_after[i] < 0 || a->pad_before[i] > 4096 ||
                a->pad_after[i] > 4096)
                return BAD("invalid pad of dim %d: %d,%d", i, a->pad_before[i], a->pad_after[i]);
            s[i] = x->shape[i] + a->pad_before[i] + a->pad_after[i];
        }
        return 0;
    case RT_OP_CONCAT: {
        int ax = norm_axis(a->axis, x->ndim);
        if (ax < 0 || ax >= x->ndim)
            return BAD("invalid concat axis %d for rank %d", a->axis, x->ndim);
        a->axis = ax;
        *ndim = x->ndim;
        memcpy(s, x->shape, sizeof(x->shape));
        for (int i = 1; i < nd->n_in; i++) {
            const struct rt_tensor *y = &g->tensors[nd->in[i]];
            if (y->ndim != x->ndim)
                return BAD("concat input %d has rank %d, expected %d", i, y->ndim, x->ndim);
            for (int d = 0; d < x->ndim; d++)
                if (d != ax && y->shape[d] != x->shape[d])
                    return BAD("concat input %d: dim %d is %lld, expected %lld", i, d,
                               (long long)y->shape[d], (long long)x->shape[d]);
            s[ax] += y->shape[ax];
        }
        return 0;
    }
    case RT_OP_RESHAPE: {
        if (a->ndim < 0 || a->ndim > RT_MAX_DIMS)
            return BAD("invalid reshape rank: %d", a->ndim);
        int64_t total = rt_tensor_nelem(x), known = 1;
        int infer_at = -1;
        for (int i = 0; i < a->ndim; i++) {
            int64_t d = a->shape[i];
            if (d == 0) {
                if (i >= x->ndim)
                    return BAD("reshape copies dim %d of a rank-%d input", i, x->ndim);
                d = x->shape[i];
            } else if (d == -1) {
                if (infer_at >= 0)
                    return BAD("reshape has more than one -1");
                infer_at = i;
                s[i] = -1;
                continue;
            } else if (d < 1 || d > RT_MAX_TENSOR_ELEMS) {
                return BAD("invalid reshape dim %d: %lld", i, (long long)d);
            }
            s[i] = d;
            if (known > RT_MAX_TENSOR_ELEMS / d)
                return BAD("reshape target too large");
            known *= d;
        }
        if (infer_at >= 0) {
            if (total % known != 0)
                return BAD("cannot reshape %lld elements with -1 and %lld", (long long)total,
                           (long long)known);
            s[infer_at] = total / known;
            known = total;
        }
        if (known != total)
            return BAD("cannot reshape %lld elements into %lld", (long long)total,
                       (long long)known);
        *ndim = a->ndim; /* attrs keep -1/0 so rt_graph_batch_set can re-infer */
        return 0;
    }
    case RT_OP_TRANSPOSE: {
        if (a->ndim != x->ndim)
            return BAD("transpose perm has %d entries for rank %d", a->ndim, x->ndim);
        int seen = 0;
        for (int i = 0; i < a->ndim; i++) {
            if (a->perm[i] < 0 || a->perm[i] >= x->ndim || (seen & (1 << a->perm[i])))
                return BAD("invalid transpose perm entry %d: %d", i, a->perm[i]);
            seen |= 1 << a->perm[i];
            s[i] = x->shape[a->perm[i]];
        }
        *ndim = x->ndim;
        return 0;
    }
    case RT_OP_SOFTMAX: {
        int ax = norm_axis(a->axis, x->ndim);
        if (ax < 0 || ax >= x->ndim)
            return BAD("invalid softmax axis %d for rank %d", a->axis, x->ndim);
        a->axis = ax;
        *ndim = x->ndim;
        memcpy(s, x->shape, sizeof(x->shape));
        return 0;
    }
    case RT_OP_RESIZE: {
        struct rt_resize_attrs *r = &a->resize;
        if (x->ndim != 4)
            return BAD("resize needs a rank-4 input, got %d", x->ndim);
        if (r->out_h < 1 || r->out_w < 1 || r->out_h > 16384 || r->out_w > 16384)
            return BAD("invalid resize size: %dx%d", r->out_h, r->out_w);
        if (r->mode < 0 || r->mode > 1)
            return BAD("invalid resize mode: %d", r->mode);
        if (r->align_corners && r->half_pixel)
            return BAD("resize cannot use both align_corners and half_pixel");
        *ndim = 4;
        s[0] = x->shape[0];
        s[1] = r->out_h;
        s[2] = r->out_w;
        s[3] = x->shape[3];
        return 0;
    }
    case RT_OP_SLICE:
        if (a->ndim != x->ndim)
            return BAD("slice has %d entries for rank %d", a->ndim, x->ndim);
        *ndim = x->ndim;
        for (int i = 0; i < x->ndim; i++) {
            int64_t d = x->shape[i], b = a->slice_start[i], en = a->slice_end[i];
            if (b < 0)
                b += d;
            if (en < 0)
                en += d;
            b = b < 0 ? 0 : (b > d ? d : b);
            en = en < 0 ? 0 : (en > d ? d : en);
            if (en <= b)
                return BAD("empty slice of dim %d: %lld..%lld", i, (long long)a->slice_start[i],
                           (long long)a->slice_end[i]);
            a->slice_start[i] = b;
            /* an end at or past the dim ("to the end") stays as given, so a
             * re-inference at a larger batch or shape keeps the whole dim */
            if (a->slice_end[i] < d)
                a->slice_end[i] = en;
            s[i] = en - b;
        }
        return 0;
    case RT_OP_REDUCE_MEAN: {
        int ax = norm_axis(a->axis, x->ndim);
        if (ax < 0 || ax >= x->ndim)
            return BAD("invalid reduce_mean axis %d for rank %d", a->axis, x->ndim);
        a->axis = ax;
        a->keepdims = a->keepdims ? 1 : 0;
        *ndim = 0;
        for (int i = 0; i < x->ndim; i++) {
            if (i == ax && !a->keepdims)
                continue;
            s[(*ndim)++] = i == ax ? 1 : x->shape[i];
        }
        return 0;
    }
    default:
        return BAD("cannot add a node of op %d", (int)nd->op);
    }
}

/* appends a node with shape inference; returns the output tensor id or <0 */
int rt_graph_node_add(struct rt_graph *g, enum rt_op op, const int *in, int n_in,
                      const struct rt_attrs *a, const char *name, struct err *e)
{
    if ((int)op <= RT_OP_INPUT || op >= RT_OP_COUNT)
        return BAD("invalid op: %d", (int)op);
    if (n_in < 1 || n_in > RT_MAX_INPUTS)
        return BAD("%s: invalid input count %d", rt_op_name(op), n_in);
    if (g->n_nodes >= RT_MAX_NODES)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                       "too many nodes (limit %d)", RT_MAX_NODES);
    struct rt_node nd;
    memset(&nd, 0, sizeof(nd));
    nd.op = op;
    nd.n_in = n_in;
    if (a != NULL)
        nd.a = *a;
    name_copy(nd.name, name);
    for (int i = 0; i < n_in; i++) {
        if (in[i] < 0 || in[i] >= g->n_tensors)
            return BAD("%s %s: invalid input tensor id %d", rt_op_name(op), nd.name, in[i]);
        nd.in[i] = in[i];
    }
    int ndim = 0;
    int64_t s[RT_MAX_DIMS] = {0};
    int rc = infer(g, &nd, &ndim, s, e);
    if (rc < 0) {
        if (e != NULL && nd.name[0]) {
            char m[sizeof(e->msg)];
            snprintf(m, sizeof(m), "%s", e->msg);
            snprintf(e->msg, sizeof(e->msg), "node \"%.60s\": %.180s", nd.name, m);
        }
        return rc;
    }
    rc = shape_check(nd.name[0] ? nd.name : rt_op_name(op), ndim, s, e);
    if (rc < 0)
        return rc;
    if ((op == RT_OP_CONV2D || op == RT_OP_DENSE) && n_in == 4) {
        const struct rt_tensor *r = &g->tensors[nd.in[3]];
        /* the same shape, or fewer channels (last dim): a folded channel
           zero-pad, the missing channels read 0 */
        int same = r->ndim == ndim;
        for (int i = 0; same && i < ndim; i++)
            same = i == ndim - 1 ? (r->shape[i] >= 1 && r->shape[i] <= s[i]) : r->shape[i] == s[i];
        if (!same)
            return BAD("%s %s: residual input must have the output's shape (or fewer channels)",
                       rt_op_name(op), nd.name);
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        struct rt_node *p = realloc(g->nodes, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "could not grow node table to %d", cap);
        g->nodes = p;
        g->cap_nodes = cap;
    }
    int id = tensor_push(g, nd.name, ndim, s, e);
    if (id < 0)
        return id;
    g->tensors[id].producer = g->n_nodes;
    nd.out = id;
    g->nodes[g->n_nodes++] = nd;
    return id;
}

/* returns a deep copy of g; caller frees with rt_graph_free; NULL with e set */
struct rt_graph *rt_graph_clone(const struct rt_graph *g, struct err *e)
{
    struct rt_graph *c = rt_graph_init();
    *c = *g;
    c->tensors = NULL;
    c->nodes = NULL;
    c->cap_tensors = g->n_tensors > 0 ? g->n_tensors : 1;
    c->cap_nodes = g->n_nodes > 0 ? g->n_nodes : 1;
    c->n_tensors = 0;
    c->tensors = calloc((size_t)c->cap_tensors, sizeof(*c->tensors));
    c->nodes = calloc((size_t)c->cap_nodes, sizeof(*c->nodes));
    if (c->tensors == NULL || c->nodes == NULL)
        goto oom;
    for (int i = 0; i < g->n_tensors; i++) {
        c->tensors[i] = g->tensors[i];
        c->tensors[i].data = NULL;
        c->n_tensors = i + 1;
        if (g->tensors[i].data != NULL) {
            size_t n = (size_t)rt_tensor_nelem(&g->tensors[i]) * sizeof(float);
            c->tensors[i].data = malloc(n);
            if (c->tensors[i].data == NULL)
                goto oom;
            memcpy(c->tensors[i].data, g->tensors[i].data, n);
        }
    }
    if (g->n_nodes > 0)
        memcpy(c->nodes, g->nodes, (size_t)g->n_nodes * sizeof(*c->nodes));
    return c;
oom:
    rt_graph_free(c);
    err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not copy graph");
    return NULL;
}

/* re-infers every node's output in node order after the inputs changed;
 * a RESHAPE target whose dim 0 is the old batch follows the new one */
static int reinfer(struct rt_graph *g, int64_t old_batch, int64_t batch, struct err *e)
{
    for (int n = 0; n < g->n_nodes; n++) {
        struct rt_node *nd = &g->nodes[n];
        if (nd->op == RT_OP_RESHAPE && nd->a.ndim > 0 && nd->a.shape[0] == old_batch)
            nd->a.shape[0] = batch;
        int ndim = 0;
        int64_t s[RT_MAX_DIMS] = {0};
        int rc = infer(g, nd, &ndim, s, e);
        if (rc < 0)
            return rc;
        rc = shape_check(g->tensors[nd->out].name, ndim, s, e);
        if (rc < 0)
            return rc;
        struct rt_tensor *t = &g->tensors[nd->out];
        t->ndim = ndim;
        memset(t->shape, 0, sizeof(t->shape));
        for (int i = 0; i < ndim; i++)
            t->shape[i] = s[i];
    }
    return 0;
}

/* sets the batch of every input and re-infers all shapes; 0 or <0 with e set */
int rt_graph_batch_set(struct rt_graph *g, int64_t batch, struct err *e)
{
    if (batch < 1 || batch > 4096)
        return BAD("invalid batch size: %lld", (long long)batch);
    if (g->n_inputs == 0)
        return 0;
    int64_t old = g->tensors[g->inputs[0]].shape[0];
    for (int i = 0; i < g->n_inputs; i++) {
        struct rt_tensor *t = &g->tensors[g->inputs[i]];
        if (t->ndim < 1)
            return BAD("input %s has no batch dim", t->name);
        t->shape[0] = batch;
        int rc = shape_check(t->name, t->ndim, t->shape, e);
        if (rc < 0)
            return rc;
    }
    return reinfer(g, old, batch, e);
}

/* sets every input's dims (ranks unchanged) and re-infers; 0 or <0 with e set */
int rt_graph_inputs_set(struct rt_graph *g, const int64_t (*shapes)[RT_MAX_DIMS], struct err *e)
{
    if (g->n_inputs == 0)
        return 0;
    int64_t old = g->tensors[g->inputs[0]].ndim > 0 ? g->tensors[g->inputs[0]].shape[0] : 0;
    for (int i = 0; i < g->n_inputs; i++) {
        struct rt_tensor *t = &g->tensors[g->inputs[i]];
        for (int d = 0; d < t->ndim; d++)
            t->shape[d] = shapes[i][d];
        int rc = shape_check(t->name, t->ndim, t->shape, e);
        if (rc < 0)
            return rc;
    }
    int64_t batch = g->tensors[g->inputs[0]].ndim > 0 ? shapes[0][0] : 0;
    return reinfer(g, old, batch, e);
}

/* fp32 -> IEEE half, round to nearest even; cannot fail */
uint16_t rt_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ex = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (ex == 0xff)
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    int e16 = (int)ex - 127 + 15;
    if (e16 >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e16 <= 0) {
        if (e16 < -10)
            return (uint16_t)sign;
        man |= 0x800000u;
        int shift = 14 - e16;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e16 << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* may carry into the exponent, which is right (up to inf) */
    return (uint16_t)(sign | h);
}

/* IEEE half -> fp32; cannot fail */
float rt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, ex = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t x;
    if (ex == 0) {
        if (man == 0) {
            x = sign;
        } else {
            int sh = 0;
            while (!(man & 0x400u)) {
                man <<= 1;
                sh++;
            }
            man &= 0x3ffu;
            x = sign | ((uint32_t)(127 - 15 + 1 - sh) << 23) | (man << 13);
        }
    } else if (ex == 31) {
        x = sign | 0x7f800000u | (man << 13);
    } else {
        x = sign | ((ex - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* int8 per-output-channel scales (last dim); cannot fail */
void rt_quant_scales(const float *w, int64_t n, int64_t cout, float *scale)
{
    for (int64_t c = 0; c < cout; c++)
        scale[c] = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = w[i] < 0 ? -w[i] : w[i];
        int64_t c = i % cout;
        if (a > scale[c])
            scale[c] = a;
    }
    for (int64_t c = 0; c < cout; c++)
        scale[c] = scale[c] > 0.0f ? scale[c] / 127.0f : 1.0f;
}
