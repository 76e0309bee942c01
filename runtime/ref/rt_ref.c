/*
 * rt_ref.c: the CPU reference of every op in rt_ir.h (fp32, NHWC, plain
 * loops, no cleverness) and a whole-graph executor.
 *
 * This is the ground truth the Vulkan kernels are tested against
 * (tests/runtime/rt_conform.c), the constant folder's engine (rt_pass.c)
 * and the importers' bring-up executor.  Clarity beats speed here; every
 * index is computed in int64_t.  See runtime/README.md "Op contract".
 */
#include "runtime/ref/rt_ref.h"
#include "runtime/rt.h"
#include "common/cm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* applies activation act to x; cannot fail */
float rt_ref_act(enum rt_act act, float alpha, float beta, float x)
{
    switch (act) {
    case RT_ACT_NONE:
        return x;
    case RT_ACT_RELU:
        return x > 0 ? x : 0;
    case RT_ACT_RELU6:
        return x < 0 ? 0 : (x > 6 ? 6 : x);
    case RT_ACT_SIGMOID:
        return 1.0f / (1.0f + expf(-x));
    case RT_ACT_TANH:
        return tanhf(x);
    case RT_ACT_HARDSWISH: {
        float r = x + 3;
        r = r < 0 ? 0 : (r > 6 ? 6 : r);
        return x * r / 6.0f;
    }
    case RT_ACT_HARDSIGMOID: {
        float r = alpha * x + beta;
        return r < 0 ? 0 : (r > 1 ? 1 : r);
    }
    case RT_ACT_LEAKY:
        return x < 0 ? alpha * x : x;
    case RT_ACT_ELU:
        return x < 0 ? alpha * (expf(x) - 1) : x;
    case RT_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case RT_ACT_CLIP:
        return x < alpha ? alpha : (x > beta ? beta : x);
    case RT_ACT_SQRT:
        return sqrtf(x);
    }
    return x;
}

/* right-aligns a shape into 4 dims with leading 1s */
static void dims4(const struct rt_tensor *t, int64_t *d)
{
    int off = 4 - t->ndim;
    for (int i = 0; i < 4; i++)
        d[i] = i < off ? 1 : t->shape[i - off];
}

/* row-major strides of 4 dims; broadcast dims (size 1 where out is not) get 0 */
static void strides4(const int64_t *d, const int64_t *od, int64_t *s)
{
    int64_t acc = 1;
    for (int i = 3; i >= 0; i--) {
        s[i] = (d[i] == 1 && od[i] != 1) ? 0 : acc;
        acc *= d[i];
    }
}

/* channels of CONV2D/DENSE's residual (4th input): the output's (co), or
   fewer when a channel zero-pad was folded in (the rest read 0) */
static int64_t resid_channels(const struct rt_graph *g, const struct rt_node *nd, int64_t co)
{
    if (nd->n_in <= 3)
        return co;
    const struct rt_tensor *r = &g->tensors[nd->in[3]];
    return r->shape[r->ndim - 1];
}

static void conv2d(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                   float *out)
{
    const struct rt_tensor *x = &g->tensors[nd->in[0]], *w = &g->tensors[nd->in[1]];
    const struct rt_tensor *y = &g->tensors[nd->out];
    const struct rt_conv_attrs *c = &nd->a.conv;
    int64_t N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    int64_t KH = w->shape[0], KW = w->shape[1], CG = w->shape[2], CO = w->shape[3];
    int64_t OH = y->shape[1], OW = y->shape[2];
    int64_t COG = CO / c->groups;
    const float *bias = nd->n_in > 2 ? in[2] : NULL;
    int64_t RC = resid_channels(g, nd, CO);
    for (int64_t n = 0; n < N; n++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++)
                for (int64_t co = 0; co < CO; co++) {
                    int64_t gi = co / COG;
                    float acc = bias ? bias[co] : 0.0f;
                    for (int64_t ky = 0; ky < KH; ky++) {
                        int64_t iy = oy * c->stride_h - c->pad_t + ky * c->dil_h;
                        if (iy < 0 || iy >= H)
                            continue;
                        for (int64_t kx = 0; kx < KW; kx++) {
                            int64_t ix = ox * c->stride_w - c->pad_l + kx * c->dil_w;
                            if (ix < 0 || ix >= W)
                                continue;
                            const float *xp = in[0] + ((n * H + iy) * W + ix) * C + gi * CG;
                            const float *wp = in[1] + ((ky * KW + kx) * CG) * CO + co;
                            for (int64_t ci = 0; ci < CG; ci++)
                                acc += xp[ci] * wp[ci * CO];
                        }
                    }
                    int64_t pix = (n * OH + oy) * OW + ox, oi = pix * CO + co;
                    if (nd->n_in > 3 && co < RC)
                        acc += in[3][pix * RC + co];
                    out[oi] = rt_ref_act(nd->a.act, nd->a.alpha, nd->a.beta, acc);
                }
}

static void dense(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                  float *out)
{
    const struct rt_tensor *w = &g->tensors[nd->in[1]];
    int64_t K = w->shape[0], M = w->shape[1];
    int64_t rows = rt_tensor_nelem(&g->tensors[nd->in[0]]) / K;
    const float *bias = nd->n_in > 2 ? in[2] : NULL;
    int64_t RC = resid_channels(g, nd, M);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t m = 0; m < M; m++) {
            float acc = bias ? bias[m] : 0.0f;
            for (int64_t k = 0; k < K; k++)
                acc += in[0][r * K + k] * in[1][k * M + m];
            if (nd->n_in > 3 && m < RC)
                acc += in[3][r * RC + m];
            out[r * M + m] = rt_ref_act(nd->a.act, nd->a.alpha, nd->a.beta, acc);
        }
}

static void matmul(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                   float *out)
{
    const struct rt_tensor *a = &g->tensors[nd->in[0]], *b = &g->tensors[nd->in[1]];
    const struct rt_tensor *y = &g->tensors[nd->out];
    int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], N = b->shape[b->ndim - 1];
    /* batch dims right-aligned in 2 slots (rank <= 4) */
    int64_t ab[2] = {1, 1}, bb[2] = {1, 1}, yb[2] = {1, 1};
    for (int i = 0; i < a->ndim - 2; i++)
        ab[2 - (a->ndim - 2) + i] = a->shape[i];
    for (int i = 0; i < b->ndim - 2; i++)
        bb[2 - (b->ndim - 2) + i] = b->shape[i];
    for (int i = 0; i < y->ndim - 2; i++)
        yb[2 - (y->ndim - 2) + i] = y->shape[i];
    for (int64_t b0 = 0; b0 < yb[0]; b0++)
        for (int64_t b1 = 0; b1 < yb[1]; b1++) {
            int64_t ai = ((ab[0] == 1 ? 0 : b0) * ab[1] + (ab[1] == 1 ? 0 : b1)) * M * K;
            int64_t bi = ((bb[0] == 1 ? 0 : b0) * bb[1] + (bb[1] == 1 ? 0 : b1)) * K * N;
            int64_t yi = (b0 * yb[1] + b1) * M * N;
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    float acc = 0;
                    for (int64_t k = 0; k < K; k++)
                        acc += in[0][ai + m * K + k] * in[1][bi + k * N + n];
                    out[yi + m * N + n] = rt_ref_act(nd->a.act, nd->a.alpha, nd->a.beta, acc);
                }
        }
}

/* binary op on two floats; cannot fail */
float rt_ref_binary(enum rt_op op, float a, float b)
{
    switch (op) {
    case RT_OP_ADD:
        return a + b;
    case RT_OP_SUB:
        return a - b;
    case RT_OP_MUL:
        return a * b;
    case RT_OP_DIV:
        return a / b;
    case RT_OP_MAX:
        return a > b ? a : b;
    case RT_OP_MIN:
        return a < b ? a : b;
    default:
        return 0;
    }
}

static void binary(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                   float *out)
{
    int64_t da[4], db[4], dy[4], sa[4], sb[4];
    dims4(&g->tensors[nd->in[0]], da);
    dims4(&g->tensors[nd->in[1]], db);
    dims4(&g->tensors[nd->out], dy);
    strides4(da, dy, sa);
    strides4(db, dy, sb);
    int64_t o = 0;
    for (int64_t i0 = 0; i0 < dy[0]; i0++)
        for (int64_t i1 = 0; i1 < dy[1]; i1++)
            for (int64_t i2 = 0; i2 < dy[2]; i2++)
                for (int64_t i3 = 0; i3 < dy[3]; i3++) {
                    float a = in[0][i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3]];
                    float b = in[1][i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3]];
                    out[o++] =
                        rt_ref_act(nd->a.act, nd->a.alpha, nd->a.beta, rt_ref_binary(nd->op, a, b));
                }
}

static void pool(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                 float *out)
{
    const struct rt_tensor *x = &g->tensors[nd->in[0]], *y = &g->tensors[nd->out];
    const struct rt_pool_attrs *p = &nd->a.pool;
    int64_t N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    int64_t OH = y->shape[1], OW = y->shape[2];
    int is_max = nd->op == RT_OP_POOL_MAX;
    for (int64_t n = 0; n < N; n++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++)
                for (int64_t c = 0; c < C; c++) {
                    float acc = is_max ? -INFINITY : 0.0f;
                    int64_t cnt = 0;
                    for (int64_t ky = 0; ky < p->kh; ky++) {
                        int64_t iy = oy * p->stride_h - p->pad_t + ky;
                        if (iy < 0 || iy >= H)
                            continue;
                        for (int64_t kx = 0; kx < p->kw; kx++) {
                            int64_t ix = ox * p->stride_w - p->pad_l + kx;
                            if (ix < 0 || ix >= W)
                                continue;
                            float v = in[0][((n * H + iy) * W + ix) * C + c];
                            if (is_max)
                                acc = v > acc ? v : acc;
                            else
                                acc += v;
                            cnt++;
                        }
                    }
                    if (!is_max)
                        acc /= (float)(p->count_pad ? (int64_t)p->kh * p->kw : cnt);
                    out[((n * OH + oy) * OW + ox) * C + c] = acc;
                }
}

static void global_avg(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                       float *out)
{
    const struct rt_tensor *x = &g->tensors[nd->in[0]];
    int64_t N = x->shape[0], HW = x->shape[1] * x->shape[2], C = x->shape[3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float acc = 0;
            for (int64_t i = 0; i < HW; i++)
                acc += in[0][(n * HW + i) * C + c];
            out[n * C + c] = acc / (float)HW;
        }
}

/*
 * The generic 4-D copy used by PAD, CONCAT, SLICE, TRANSPOSE: for every
 * output coordinate o of region `dims`, out[ooff + o.ostr] =
 * in[ioff + (o - ibeg).istr] when every (o - ibeg) lies in [0, ilim), else
 * fill.  Mirrors compute-shaders/copy4d.comp.
 */
void rt_ref_copy4d(const float *in, float *out, const int64_t *dims, const int64_t *ostr,
                   int64_t ooff, const int64_t *istr, int64_t ioff, const int64_t *ibeg,
                   const int64_t *ilim, float fill)
{
    for (int64_t a = 0; a < dims[0]; a++)
        for (int64_t b = 0; b < dims[1]; b++)
            for (int64_t c = 0; c < dims[2]; c++)
                for (int64_t d = 0; d < dims[3]; d++) {
                    int64_t o[4] = {a, b, c, d}, src = ioff;
                    int inside = 1;
                    for (int k = 0; k < 4; k++) {
                        int64_t s = o[k] - ibeg[k];
                        if (s < 0 || s >= ilim[k])
                            inside = 0;
                        src += s * istr[k];
                    }
                    out[ooff + a * ostr[0] + b * ostr[1] + c * ostr[2] + d * ostr[3]] =
                        inside ? in[src] : fill;
                }
}

static void contig4(const int64_t *d, int64_t *s)
{
    s[3] = 1;
    for (int i = 2; i >= 0; i--)
        s[i] = s[i + 1] * d[i + 1];
}

static void pad(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                float *out)
{
    const struct rt_tensor *x = &g->tensors[nd->in[0]], *y = &g->tensors[nd->out];
    int64_t dx[4], dy[4], sx[4], sy[4], beg[4] = {0, 0, 0, 0};
    dims4(x, dx);
    dims4(y, dy);
    contig4(dx, sx);
    contig4(dy, sy);
    int off = 4 - x->ndim;
    for (int i = 0; i < x->ndim; i++)
        beg[off + i] = nd->a.pad_before[i];
    rt_ref_copy4d(in[0], out, dy, sy, 0, sx, 0, beg, dx, nd->a.pad_value);
}

static void concat(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                   float *out)
{
    const struct rt_tensor *y = &g->tensors[nd->out];
    int64_t dy[4], sy[4], beg[4] = {0, 0, 0, 0};
    dims4(y, dy);
    contig4(dy, sy);
    int ax = 4 - y->ndim + nd->a.axis;
    int64_t at = 0;
    for (int i = 0; i < nd->n_in; i++) {
        int64_t dx[4], sx[4];
        dims4(&g->tensors[nd->in[i]], dx);
        contig4(dx, sx);
        rt_ref_copy4d(in[i], out, dx, sy, at * sy[ax], sx, 0, beg, dx, 0);
        at += dx[ax];
    }
}

static void slice(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                  float *out)
{
    const struct rt_tensor *x = &g->tensors[nd->in[0]], *y = &g->tensors[nd->out];
    int64_t dx[4], dy[4], sx[4], sy[4], beg[4] = {0, 0, 0, 0}, ioff = 0;
    dims4(x, dx);
    dims4(y, dy);
    contig4(dx, sx);
    contig4(dy, sy);
    int off = 4 - x->ndim;
    for (int i = 0; i < x->ndim; i++)
        ioff += nd->a.slice_start[i] * sx[off + i];
    rt_ref_copy4d(in[0], out, dy, sy, 0, sx, ioff, beg, dy, 0);
}

static void transpose(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                      float *out)
{
    const struct rt_tensor *x = &g->tensors[nd->in[0]], *y = &g->tensors[nd->out];
    int64_t dx[4], dy[4], sx[4], sy[4], pstr[4], beg[4] = {0, 0, 0, 0};
    dims4(x, dx);
    dims4(y, dy);
    contig4(dx, sx);
    contig4(dy, sy);
    int off = 4 - x->ndim;
    for (int i = 0; i < 4; i++)
        pstr[i] = i < off ? 0 : sx[off + nd->a.perm[i - off]];
    rt_ref_copy4d(in[0], out, dy, sy, 0, pstr, 0, beg, dy, 0);
}

/* outer x axis x inner decomposition of a tensor around axis */
static void split_axis(const struct rt_tensor *t, int axis, int64_t *outer, int64_t *len,
                       int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < axis; i++)
        *outer *= t->shape[i];
    *len = t->shape[axis];
    for (int i = axis + 1; i < t->ndim; i++)
        *inner *= t->shape[i];
}

static void softmax(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                    float *out)
{
    int64_t outer, len, inner;
    split_axis(&g->tensors[nd->in[0]], nd->a.axis, &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *x = in[0] + o * len * inner + i;
            float *y = out + o * len * inner + i;
            float m = -INFINITY, s = 0;
            for (int64_t k = 0; k < len; k++)
                m = x[k * inner] > m ? x[k * inner] : m;
            for (int64_t k = 0; k < len; k++)
                s += expf(x[k * inner] - m);
            for (int64_t k = 0; k < len; k++)
                y[k * inner] = expf(x[k * inner] - m) / s;
        }
}

static void reduce_mean(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                        float *out)
{
    int64_t outer, len, inner;
    split_axis(&g->tensors[nd->in[0]], nd->a.axis, &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            float s = 0;
            for (int64_t k = 0; k < len; k++)
                s += in[0][(o * len + k) * inner + i];
            out[o * inner + i] = s / (float)len;
        }
}

/*
 * Source coordinate of output coordinate d for a resize from in to out
 * (mirrors compute-shaders/include/resize.glsl).
 */
float rt_ref_resize_src(int d, int in, int out, int align_corners, int half_pixel)
{
    if (align_corners)
        return out > 1 ? (float)d * (float)(in - 1) / (float)(out - 1) : 0.0f;
    float scale = (float)in / (float)out;
    if (half_pixel) {
        float s = ((float)d + 0.5f) * scale - 0.5f;
        return s < 0 ? 0 : s;
    }
    return (float)d * scale;
}

/* nearest source index (mirrors resize.glsl); cannot fail */
int rt_ref_resize_nearest(int d, int in, int out, int align_corners, int half_pixel)
{
    float s;
    if (align_corners)
        s = floorf(rt_ref_resize_src(d, in, out, 1, 0) + 0.5f);
    else if (half_pixel)
        s = floorf(((float)d + 0.5f) * (float)in / (float)out);
    else
        s = floorf((float)d * (float)in / (float)out);
    int i = (int)s;
    return i < 0 ? 0 : (i >= in ? in - 1 : i);
}

static void resize(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                   float *out)
{
    const struct rt_tensor *x = &g->tensors[nd->in[0]];
    const struct rt_resize_attrs *r = &nd->a.resize;
    int64_t N = x->shape[0], C = x->shape[3];
    int H = (int)x->shape[1], W = (int)x->shape[2];
    for (int64_t n = 0; n < N; n++)
        for (int oy = 0; oy < r->out_h; oy++)
            for (int ox = 0; ox < r->out_w; ox++) {
                float *yp = out + ((n * r->out_h + oy) * r->out_w + ox) * C;
                if (r->mode == 0) {
                    int sy =
                        rt_ref_resize_nearest(oy, H, r->out_h, r->align_corners, r->half_pixel);
                    int sx =
                        rt_ref_resize_nearest(ox, W, r->out_w, r->align_corners, r->half_pixel);
                    memcpy(yp, in[0] + ((n * H + sy) * W + sx) * C, (size_t)C * sizeof(float));
                    continue;
                }
                float fy = rt_ref_resize_src(oy, H, r->out_h, r->align_corners, r->half_pixel);
                float fx = rt_ref_resize_src(ox, W, r->out_w, r->align_corners, r->half_pixel);
                int y0 = (int)fy, x0 = (int)fx;
                y0 = y0 > H - 1 ? H - 1 : y0;
                x0 = x0 > W - 1 ? W - 1 : x0;
                int y1 = y0 + 1 < H ? y0 + 1 : H - 1, x1 = x0 + 1 < W ? x0 + 1 : W - 1;
                float ly = fy - (float)y0, lx = fx - (float)x0;
                for (int64_t c = 0; c < C; c++) {
                    float a = in[0][((n * H + y0) * W + x0) * C + c];
                    float b = in[0][((n * H + y0) * W + x1) * C + c];
                    float cc = in[0][((n * H + y1) * W + x0) * C + c];
                    float d = in[0][((n * H + y1) * W + x1) * C + c];
                    float top = a + (b - a) * lx, bot = cc + (d - cc) * lx;
                    yp[c] = top + (bot - top) * ly;
                }
            }
}

/* runs one node on the CPU; in[i] are its input tensors' data; 0 or <0 */
int rt_ref_node(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                float *out, struct err *e)
{
    const struct rt_tensor *y = &g->tensors[nd->out];
    int64_t n = rt_tensor_nelem(y);
    switch (nd->op) {
    case RT_OP_CONV2D:
        conv2d(g, nd, in, out);
        break;
    case RT_OP_DENSE:
        dense(g, nd, in, out);
        break;
    case RT_OP_MATMUL:
        matmul(g, nd, in, out);
        break;
    case RT_OP_BATCHNORM: {
        int64_t C = y->ndim ? y->shape[y->ndim - 1] : 1;
        for (int64_t i = 0; i < n; i++)
            out[i] = rt_ref_act(nd->a.act, nd->a.alpha, nd->a.beta,
                                in[0][i] * in[1][i % C] + in[2][i % C]);
        break;
    }
    case RT_OP_ADD:
    case RT_OP_SUB:
    case RT_OP_MUL:
    case RT_OP_DIV:
    case RT_OP_MAX:
    case RT_OP_MIN:
        binary(g, nd, in, out);
        break;
    case RT_OP_ACT:
        for (int64_t i = 0; i < n; i++)
            out[i] = rt_ref_act(nd->a.act, nd->a.alpha, nd->a.beta, in[0][i]);
        break;
    case RT_OP_POOL_MAX:
    case RT_OP_POOL_AVG:
        pool(g, nd, in, out);
        break;
    case RT_OP_GLOBAL_AVG:
        global_avg(g, nd, in, out);
        break;
    case RT_OP_PAD:
        pad(g, nd, in, out);
        break;
    case RT_OP_CONCAT:
        concat(g, nd, in, out);
        break;
    case RT_OP_RESHAPE:
        memcpy(out, in[0], (size_t)n * sizeof(float));
        break;
    case RT_OP_TRANSPOSE:
        transpose(g, nd, in, out);
        break;
    case RT_OP_SOFTMAX:
        softmax(g, nd, in, out);
        break;
    case RT_OP_RESIZE:
        resize(g, nd, in, out);
        break;
    case RT_OP_SLICE:
        slice(g, nd, in, out);
        break;
    case RT_OP_REDUCE_MEAN:
        reduce_mean(g, nd, in, out);
        break;
    default:
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_op", "reference has no op %d",
                       (int)nd->op);
    }
    return 0;
}

/* runs the whole graph on the CPU; see rt.h */
int rt_ref_run(const struct rt_graph *g, const float *const *inputs, float **outputs, struct err *e)
{
    float **buf = calloc((size_t)g->n_tensors + 1, sizeof(*buf));
    const float **view = calloc((size_t)g->n_tensors + 1, sizeof(*view));
    int rc = 0;
    if (buf == NULL || view == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                     "could not allocate reference state");
        goto out;
    }
    for (int i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].is_const)
            view[i] = g->tensors[i].data;
    for (int i = 0; i < g->n_inputs; i++)
        view[g->inputs[i]] = inputs[i];
    for (int k = 0; k < g->n_nodes; k++) {
        const struct rt_node *nd = &g->nodes[k];
        const float *in[RT_MAX_INPUTS];
        for (int i = 0; i < nd->n_in; i++) {
            in[i] = view[nd->in[i]];
            if (in[i] == NULL) {
                rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                             "node %s reads tensor %d before it is computed", nd->name, nd->in[i]);
                goto out;
            }
        }
        int64_t n = rt_tensor_nelem(&g->tensors[nd->out]);
        buf[nd->out] = malloc((size_t)n * sizeof(float));
        if (buf[nd->out] == NULL) {
            rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                         "could not allocate %lld floats", (long long)n);
            goto out;
        }
        rc = rt_ref_node(g, nd, in, buf[nd->out], e);
        if (rc < 0)
            goto out;
        view[nd->out] = buf[nd->out];
    }
    for (int i = 0; i < g->n_outputs; i++) {
        const struct rt_tensor *t = &g->tensors[g->outputs[i]];
        if (view[g->outputs[i]] == NULL) {
            rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                         "output %s is never computed", t->name);
            goto out;
        }
        memcpy(outputs[i], view[g->outputs[i]], (size_t)rt_tensor_nelem(t) * sizeof(float));
    }
out:
    if (buf != NULL)
        for (int i = 0; i < g->n_tensors; i++)
            free(buf[i]);
    free(buf);
    free(view);
    return rc;
}
