/*
 * rt_op_conv.c: CONV2D and DENSE -> one of three kernels, chosen per node:
 *   dwconv3 depthwise 3x3, stride 1 / 2 (CPU devices, texel operands)
 *   dwpw    depthwise 3x3 + the 1x1 after it, when the plan fused them
 *           (rt_op_dwpw.c)
 *   dwconv  other depthwise (groups == C, one input channel per group)
 *   gemm    1x1 stride-1 unpadded conv, and dense (register-blocked GEMM)
 *   conv2d  everything else (direct)
 * each in a weight variant (fp32 / fp16 / int8) from the tensor's qtype.
 * The op contract (runtime/README.md): build appends dispatches with
 * bindings (regions) and push constants; it never touches the GPU.
 */
#include "runtime/ops/rt_ops.h"
#include "common/cm.h"

#include <string.h>

#define TRIP_MAX 60000   /* llvmpipe cuts loops after 65535 iterations per invocation */
#define CW_BODY_MAX 1152 /* gemm_cw: unrolled vec4 FMA statements (K/4 x N/4 x RB) */
#define NS_MAX 23        /* gemm_cw's NS path: columns (N % 4 != 0) */
#define NS_ACC_MAX 64    /* gemm_cw's NS path: scalar accumulators (RB x N) */

/* 0 f32, 1 f16, 2 i8 (matches the shader variant order) */
int rt_wtype_of(const struct rt_tensor *t)
{
    return t->qtype == RT_DTYPE_F16 ? 1 : (t->qtype == RT_DTYPE_I8 ? 2 : 0);
}

static void bind_weights(struct rt_build *b, struct rt_dispatch *d, const struct rt_node *nd)
{
    int w = nd->in[1];
    struct rt_region bias = nd->n_in > 2 ? b->reg[nd->in[2]] : b->zero_bias[0];
    rt_dispatch_bind(d, b->reg[w], 0);
    rt_dispatch_bind(d, bias, 0);
    rt_dispatch_bind(d, b->wscale[w].size ? b->wscale[w] : bias, 0);
}

/* binding 5: the residual (4th input) or, unused, the bias region */
static void bind_residual(struct rt_build *b, struct rt_dispatch *d, const struct rt_node *nd)
{
    if (nd->n_in > 3)
        rt_dispatch_bind(d, b->reg[nd->in[3]], 0);
    else
        rt_dispatch_bind(d, nd->n_in > 2 ? b->reg[nd->in[2]] : b->zero_bias[0], 0);
}

/* the bindings every convolution kernel shares: input 0, weights (and bias),
 * output 1, the residual if the node has one */
static void bind_conv_io(struct rt_build *b, struct rt_dispatch *d, const struct rt_node *nd)
{
    rt_dispatch_bind(d, b->reg[nd->in[0]], 0);
    bind_weights(b, d, nd);
    rt_dispatch_bind(d, b->reg[nd->out], 1);
    bind_residual(b, d, nd);
}

/* a convolution's workgroup counts, refused past the device's limits */
static int conv_groups(struct rt_build *b, struct rt_dispatch *d, const struct rt_node *nd,
                       const struct rt_push_conv *pc, uint64_t gx, uint64_t gy, uint64_t gz,
                       struct err *e)
{
    const uint32_t *lim = b->t->caps.max_wg_count;
    if (gx > lim[0] || gy > lim[1] || gz > lim[2])
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "node %s: conv output %ux%ux%u too large for one dispatch", nd->name,
                       pc->n * pc->oh, pc->ow, pc->co);
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = (uint32_t)gy;
    d->groups[2] = (uint32_t)gz;
    return 0;
}

/*
 * The residual's channel count when it is narrower than the output (a
 * channel zero-pad folded into the residual by the graph passes: the
 * missing channels read 0), else 0 (the kernels' spec RESC).
 */
static uint32_t resid_narrow(const struct rt_build *b, const struct rt_node *nd)
{
    if (nd->n_in <= 3)
        return 0;
    const struct rt_tensor *r = &b->g->tensors[nd->in[3]], *y = &b->g->tensors[nd->out];
    int64_t rc = r->shape[r->ndim - 1], yc = y->shape[y->ndim - 1];
    return rc < yc ? (uint32_t)rc : 0;
}

static void act_spec(struct rt_dispatch *d, const struct rt_node *nd)
{
    d->spec[0] = (uint32_t)nd->a.act;
    d->n_spec = 1;
}

/*
 * CPU devices run 8 consecutive invocations of a workgroup row as one SIMD
 * vector: with 6 or 12 channel quads (24 / 48 channels, BlazeFace) the 8x8
 * grid of gemm/dwconv left a quarter of the lanes idle.  Quad counts that
 * are not a multiple of 8 go through the kernels' flat mapping (FLATC /
 * FLATQ: one run over (block, quad) per workgroup).  Measured on lavapipe,
 * BlazeFace f32, 4 alternated rounds each, device time against the other
 * (unchanged) kernel of the same run: gemm -12 %, dwconv -10 %.  GPUs keep
 * the 2-D grid (not measured there).
 */
static int flat_ok(const struct rt_build *b, uint32_t quads, uint64_t groups)
{
    return !b->t->gpu_kernels && quads % 8 != 0 && groups <= b->t->caps.max_wg_count[0];
}

/* gemm_cw.comp's bindings (x and the weights as texel buffers), push
   constants and grid, the same for its vector and NS paths; the caller
   sets binding 5's view */
static void gemm_cw_io(struct rt_build *b, struct rt_dispatch *d, const struct rt_node *nd, int wt,
                       uint32_t m, uint32_t kk, uint32_t n, uint64_t gx)
{
    bind_conv_io(b, d, nd);
    static const int wfmt[] = {RT_TEXEL_RGBA32F, RT_TEXEL_RGBA16F, RT_TEXEL_RGBA8I};
    d->bind[0].texel = RT_TEXEL_RGBA32F;
    d->bind[1].texel = wfmt[wt];
    d->flops = 2.0 * m * kk * n;
    struct rt_push_gemm pc = {m, kk, n, nd->a.alpha, nd->a.beta};
    memcpy(d->push, &pc, sizeof(pc));
    d->push_size = sizeof(pc);
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = 1;
    d->groups[2] = 1;
}

/*
 * A narrow GEMM (N <= 24) on a CPU device through gemm_cw.comp: RB rows x
 * all N columns per invocation with K and N spec constants, so every
 * weight's texel index is a constant (one load and a broadcast on
 * llvmpipe instead of a per-lane gather).  texel: the caller's gemm_tx
 * checks passed (operands and residual fit texel buffers).  Returns 1 when
 * built, 0 when the layer does not qualify, <0 on error.
 */
static int gemm_cw(struct rt_build *b, int k, uint32_t m, uint32_t kk, uint32_t n, int texel,
                   uint32_t rnarrow, struct err *e)
{
    const struct rt_node *nd = &b->g->nodes[k];
    /* 36 vec4 accumulators (6 rows at N = 24): measured on lavapipe, BlazeFace's
       24->24 layers at 128x128, gemm/dwconv device-time ratio 0.69-0.79 with 6 rows,
       0.78-0.81 with 8, 0.78-0.91 with 12, 0.83-0.96 with 4, gemm_tx 0.96-1.09 */
    uint32_t k4 = kk / 4, n4 = n / 4, rb = n4 ? 36 / n4 : 0;
    rb = rb > 8 ? 8 : rb;
    uint64_t per = (uint64_t)(rb ? rb : 1) * 64, gx = ((uint64_t)m + per - 1) / per;
    if (!texel || b->t->gpu_kernels || b->t->gemm_rb || n > 24 || rb == 0 ||
        (uint64_t)k4 * n4 * rb > CW_BODY_MAX || gx > b->t->caps.max_wg_count[0])
        return 0;
    int wt = rt_wtype_of(&b->g->tensors[nd->in[1]]);
    struct rt_dispatch *d = rt_build_add(b, (enum rt_shader_id)(RT_SHADER_GEMM_CW_F32 + wt), k, e);
    if (d == NULL)
        return e->status;
    act_spec(d, nd);
    d->spec[1] = k4;
    d->spec[2] = n4;
    d->spec[3] = rb;
    d->spec[4] = nd->n_in > 3;
    d->spec[5] = rnarrow;
    d->spec[6] = 0;  /* NS: off */
    d->spec[7] = 64; /* LX */
    d->n_spec = 8;
    gemm_cw_io(b, d, nd, wt, m, kk, n, gx);
    d->bind[5].texel = RT_TEXEL_RGBA32F;
    return 1;
}

/*
 * A narrow GEMM whose N is not a multiple of 4 (BlazeFace's detection
 * heads, N = 2 and 6) on a CPU device: gemm_cw.comp's NS path (scalar
 * columns, constant weight indices).  gemm.comp's scalar path put the
 * columns along the SIMD lanes, 7 of 8 idle at N = 2: the two heads took
 * 250 + 130 us for 0.17 MFLOP.  Rows per invocation and the workgroup size
 * keep two workgroups or more (llvmpipe runs one per thread) where M
 * allows.  No residual; K % 4 == 0 (x and the weights as texel buffers).
 * Returns 1 when built, 0 when the layer does not qualify, <0 on error.
 */
static int gemm_ns(struct rt_build *b, int k, uint32_t m, uint32_t kk, uint32_t n, struct err *e)
{
    const struct rt_node *nd = &b->g->nodes[k];
    uint64_t maxt = b->t->caps.max_texel_elements;
    uint32_t k4 = kk / 4, rb = 8, lx = 64;
    while (rb > 1 &&
           ((uint64_t)k4 * n * rb > CW_BODY_MAX || rb * n > NS_ACC_MAX || (uint64_t)rb * 128 > m))
        rb--;
    if ((uint64_t)m <= (uint64_t)rb * 64)
        lx = 32;
    uint64_t gx = ((uint64_t)m + (uint64_t)rb * lx - 1) / ((uint64_t)rb * lx);
    if (b->t->gpu_kernels || b->t->gemm_rb || !b->t->use_texel || n % 4 == 0 || n > NS_MAX ||
        kk % 4 != 0 || nd->n_in > 3 || (uint64_t)k4 * n * rb > CW_BODY_MAX ||
        b->reg[nd->in[0]].size / 16 > maxt || b->reg[nd->in[1]].size / 4 > maxt ||
        gx > b->t->caps.max_wg_count[0])
        return 0;
    int wt = rt_wtype_of(&b->g->tensors[nd->in[1]]);
    struct rt_dispatch *d = rt_build_add(b, (enum rt_shader_id)(RT_SHADER_GEMM_CW_F32 + wt), k, e);
    if (d == NULL)
        return e->status;
    act_spec(d, nd);
    d->spec[1] = k4;
    d->spec[2] = 1; /* N4: unused by the NS path */
    d->spec[3] = rb;
    d->spec[4] = 0;
    d->spec[5] = 0;
    d->spec[6] = n;
    d->spec[7] = lx;
    d->n_spec = 8;
    gemm_cw_io(b, d, nd, wt, m, kk, n, gx);
    /* binding 5 (the residual, unread at RES 0) must be a texel view: the
       bias of N floats may hold less than one RGBA32F texel, x does not */
    d->bind[5] = d->bind[0];
    return 1;
}

static int gemm(struct rt_build *b, int k, uint32_t m, uint32_t kk, uint32_t n, struct err *e)
{
    const struct rt_node *nd = &b->g->nodes[k];
    /* shared-memory tiles (rt_op_gemm_gpu.c; narrower residuals too) */
    if (b->t->gpu_kernels)
        return rt_op_gemm_gpu(b, k, m, kk, n, e);
    int wt = rt_wtype_of(&b->g->tensors[nd->in[1]]);
    int vec4 = kk % 4 == 0 && n % 4 == 0;
    /* texel-buffer operands where the formats and sizes allow (see gemm.comp) */
    uint64_t maxt = b->t->caps.max_texel_elements;
    int texel = vec4 && b->t->use_texel && b->reg[nd->in[0]].size / 16 <= maxt &&
                b->reg[nd->in[1]].size / 4 <= maxt;
    /* the TEXEL variants read the residual as whole RGBA32F texels */
    uint32_t rnarrow = resid_narrow(b, nd);
    if (texel && nd->n_in > 3 && (rnarrow % 4 != 0 || b->reg[nd->in[3]].size / 16 > maxt))
        texel = 0;
    int rc = gemm_cw(b, k, m, kk, n, texel, rnarrow, e);
    if (rc == 0)
        rc = gemm_ns(b, k, m, kk, n, e);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    enum rt_shader_id sh =
        (enum rt_shader_id)((texel ? RT_SHADER_GEMM_TX_F32 : RT_SHADER_GEMM_F32) + wt);
    struct rt_dispatch *d = rt_build_add(b, sh, k, e);
    if (d == NULL)
        return e->status;
    act_spec(d, nd);
    uint32_t rb = 4, cb = 1;
    if (vec4) {
        /* 8 rows; columns by width (measured on lavapipe: wide layers load
           less per FMA with 16 columns; narrow ones with 12 (N a multiple of
           12: BlazeFace's 24/48/96, gemm time -7 % against 8) or 8 (N a
           multiple of 8), now that the flat order (flat_ok) keeps their
           lanes busy) */
        rb = 8;
        cb = n >= 512 ? 4 : (n >= 128 ? 2 : (n % 12 == 0 ? 3 : (n % 8 == 0 ? 2 : 1)));
        if (b->t->gpu_kernels) {
            /* GPUs: smaller tiles give the parallelism batch-1 layers lack
               (not measured on a GPU yet; VKV_GEMM_TILE overrides) */
            rb = 4;
            cb = 1;
        }
        /* a layer of one workgroup (64 invocations: BlazeFace's 8x8 maps,
           M = 64) would run on one llvmpipe thread: 4 rows give two */
        if (!b->t->gpu_kernels &&
            (uint64_t)((n + 4 * cb - 1) / (4 * cb)) * ((m + rb - 1) / rb) <= 64)
            rb = 4;
        if (b->t->gemm_rb) {
            rb = b->t->gemm_rb;
            cb = b->t->gemm_cb;
        }
    }
    d->spec[1] = (uint32_t)vec4;
    d->spec[2] = rb;
    d->spec[3] = cb;
    d->spec[4] = nd->n_in > 3;
    d->spec[5] = 0;
    d->spec[6] = rnarrow;
    d->n_spec = 7;
    uint32_t ncb = (n + 4 * cb - 1) / (4 * cb), nrb = (m + rb - 1) / rb;
    uint64_t flat_groups = ((uint64_t)ncb * nrb + 63) / 64;
    if (vec4 && flat_ok(b, ncb, flat_groups))
        d->spec[5] = ncb; /* gemm.comp FLATC */
    bind_conv_io(b, d, nd);
    if (texel) {
        static const int wfmt[] = {RT_TEXEL_RGBA32F, RT_TEXEL_RGBA16F, RT_TEXEL_RGBA8I};
        d->bind[0].texel = RT_TEXEL_RGBA32F;
        d->bind[1].texel = wfmt[wt];
        /* the residual, or (RES 0, never read) the bias: N % 4 == 0 floats */
        d->bind[5].texel = RT_TEXEL_RGBA32F;
    }
    d->flops = 2.0 * m * kk * n;
    struct rt_push_gemm pc = {m, kk, n, nd->a.alpha, nd->a.beta};
    memcpy(d->push, &pc, sizeof(pc));
    d->push_size = sizeof(pc);
    uint32_t gx = (ncb + 7) / 8, gy = (nrb + 7) / 8;
    if (d->spec[5]) {
        gx = (uint32_t)flat_groups;
        gy = 1;
    }
    if (gy > b->t->caps.max_wg_count[1] || gx > b->t->caps.max_wg_count[0])
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "node %s: gemm of %u rows is too large for one dispatch", nd->name, m);
    d->groups[0] = gx;
    d->groups[1] = gy;
    d->groups[2] = 1;
    return 0;
}

/*
 * An RGB-like input layer (groups 1, <= 4 input channels, undilated,
 * full-width residual or none) on a CPU device through
 * conv2d_rgb.comp: every output channel per invocation and every loop
 * unrolled, so each weight's texel index is a constant and llvmpipe loads
 * it once and broadcasts it instead of gathering it per lane (BlazeFace's
 * first layer 3.4 -> 1.4 ms).  Returns 1 when it built the dispatch, 0 when
 * the layer does not qualify (the caller builds conv2d), <0 on error.
 */
static int first_rgb(struct rt_build *b, int k, const struct rt_push_conv *pc, struct err *e)
{
    const struct rt_node *nd = &b->g->nodes[k];
    const struct rt_caps *cp = &b->t->caps;
    uint32_t q = pc->co / 4, oxb = 4;
    while (oxb > 1 && q * oxb > 24) /* accumulators past 24 vec4 spill on llvmpipe */
        oxb--;
    uint64_t gx = ((pc->ow + oxb - 1) / oxb + 7) / 8, gy = ((uint64_t)pc->n * pc->oh + 7) / 8;
    if (b->t->gpu_kernels || pc->cog != pc->co || pc->co % 4 != 0 || pc->cg > 4 || pc->dh != 1 ||
        pc->dw != 1 || pc->sw > 4 || pc->kh * pc->kw > 49 || q * oxb > 24 || !b->t->use_texel ||
        b->reg[nd->in[0]].size / 4 > cp->max_texel_elements ||
        b->reg[nd->in[1]].size / 4 > cp->max_texel_elements || resid_narrow(b, nd) != 0 ||
        gx > cp->max_wg_count[0] || gy > cp->max_wg_count[1])
        return 0;
    int wt = rt_wtype_of(&b->g->tensors[nd->in[1]]);
    struct rt_dispatch *d =
        rt_build_add(b, (enum rt_shader_id)(RT_SHADER_CONV2D_RGB_F32 + wt), k, e);
    if (d == NULL)
        return e->status;
    d->spec[0] = (uint32_t)nd->a.act;
    d->spec[1] = pc->kh;
    d->spec[2] = pc->kw;
    d->spec[3] = pc->sw;
    d->spec[4] = q;
    d->spec[5] = pc->cg;
    d->spec[6] = nd->n_in > 3;
    d->spec[7] = 0;
    d->spec[8] = oxb;
    d->n_spec = 9;
    bind_conv_io(b, d, nd);
    d->bind[0].texel = RT_TEXEL_R32F;
    static const int wfmt[] = {RT_TEXEL_RGBA32F, RT_TEXEL_RGBA16F, RT_TEXEL_RGBA8I};
    d->bind[1].texel = wfmt[wt];
    memcpy(d->push, pc, sizeof(*pc));
    d->push_size = sizeof(*pc);
    d->flops = 2.0 * pc->n * pc->oh * pc->ow * pc->co * pc->kh * pc->kw * pc->cg;
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = (uint32_t)gy;
    d->groups[2] = 1;
    return 1;
}

/*
 * Depthwise 3x3, stride 1 or 2, undilated, texel operands (dwconv3.comp):
 * one channel per SIMD lane and a tile of output pixels per invocation
 * (4 x 8 at stride 1, 4 x 4 at stride 2), so the tile's accumulators and
 * weights stay in registers; (tile, channel group) pairs run flat along x,
 * one per workgroup row (one pipeline per stride, activation and residual,
 * whatever the map size).  Measured on lavapipe against
 * dwconv.comp (compute-shaders/README.md).  CPU family only: GPUs keep dwconv.comp (not measured
 * there).
 */
static int dw3_ok(const struct rt_build *b, const struct rt_node *nd, const struct rt_push_conv *pc)
{
    uint64_t maxt = b->t->caps.max_texel_elements;
    /* dwconv3.comp's float-based divisions are exact below 2^22 (tile,
       channel group) pairs */
    uint32_t oyb = pc->sw == 1 ? 8 : 4;
    uint64_t pairs =
        (uint64_t)pc->n * ((pc->oh + oyb - 1) / oyb) * ((pc->ow + 3) / 4) * ((pc->c + 7) / 8);
    return pairs < (1u << 22) && pc->kh == 3 && pc->kw == 3 && pc->sh == pc->sw &&
           (pc->sw == 1 || pc->sw == 2) && pc->dh == 1 && pc->dw == 1 && pc->cog == 1 &&
           b->t->use_texel && !b->t->gpu_kernels && b->t->dw3 && !resid_narrow(b, nd) &&
           b->reg[nd->in[0]].size / 4 <= maxt && b->reg[nd->in[1]].size <= maxt;
}

static int dw3(struct rt_build *b, int k, const struct rt_push_conv *pc, struct err *e)
{
    const struct rt_node *nd = &b->g->nodes[k];
    int wt = rt_wtype_of(&b->g->tensors[nd->in[1]]);
    uint32_t oxb = 4, oyb = pc->sw == 1 ? 8 : 4; /* the variants' OXB, OYB */
    enum rt_shader_id sh = (enum rt_shader_id)(
        (pc->sw == 1 ? RT_SHADER_DWCONV3_S1_F32 : RT_SHADER_DWCONV3_S2_F32) + wt);
    struct rt_dispatch *d = rt_build_add(b, sh, k, e);
    if (d == NULL)
        return e->status;
    uint64_t tx = (pc->ow + oxb - 1) / oxb, ty = (pc->oh + oyb - 1) / oyb;
    d->spec[0] = (uint32_t)nd->a.act;
    d->spec[1] = nd->n_in > 3;
    d->n_spec = 2;
    bind_conv_io(b, d, nd);
    static const int wfmt[] = {RT_TEXEL_R32F, RT_TEXEL_R16F, RT_TEXEL_R8I};
    d->bind[0].texel = RT_TEXEL_R32F;
    d->bind[1].texel = wfmt[wt];
    memcpy(d->push, pc, sizeof(*pc));
    d->push_size = sizeof(*pc);
    d->flops = 2.0 * pc->n * pc->oh * pc->ow * pc->co * 9;
    /* (tile, channel group) pairs, 8 per workgroup (dwconv3.comp) */
    uint64_t gx = (pc->n * ty * tx * ((pc->c + 7) / 8) + 7) / 8;
    return conv_groups(b, d, nd, pc, gx, 1, 1, e);
}

static int direct(struct rt_build *b, int k, const struct rt_push_conv *pc, int depthwise,
                  struct err *e)
{
    const struct rt_node *nd = &b->g->nodes[k];
    uint64_t trip = (uint64_t)pc->kh * pc->kw * (depthwise ? 1 : pc->cg + 1);
    if (trip > TRIP_MAX)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "node %s: conv reduction of %llu steps exceeds the per-invocation "
                       "limit %d",
                       nd->name, (unsigned long long)trip, TRIP_MAX);
    if (depthwise && dw3_ok(b, nd, pc))
        return dw3(b, k, pc, e);
    if (!depthwise) {
        int rc = first_rgb(b, k, pc, e);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
    int wt = rt_wtype_of(&b->g->tensors[nd->in[1]]);
    int vec4 = depthwise ? (pc->cog == 1 && pc->c % 4 == 0) : (pc->cog % 4 == 0);
    uint64_t maxt = b->t->caps.max_texel_elements;
    int texel = vec4 && b->t->use_texel && b->reg[nd->in[0]].size / 4 <= maxt &&
                b->reg[nd->in[1]].size / 4 <= maxt;
    enum rt_shader_id sh;
    if (depthwise)
        sh = (enum rt_shader_id)((texel ? RT_SHADER_DWCONV_TX_F32 : RT_SHADER_DWCONV_F32) + wt);
    else
        sh = (enum rt_shader_id)((texel ? RT_SHADER_CONV2D_TX_F32 : RT_SHADER_CONV2D_F32) + wt);
    struct rt_dispatch *d = rt_build_add(b, sh, k, e);
    if (d == NULL)
        return e->status;
    act_spec(d, nd);
    d->spec[1] = (uint32_t)vec4;
    d->spec[2] = pc->kh;
    d->spec[3] = pc->kw;
    d->spec[4] = nd->n_in > 3;
    d->spec[5] = 1;
    d->spec[6] = resid_narrow(b, nd);
    d->n_spec = 7;
    if (!depthwise && vec4 && pc->cg <= 4 && !b->t->gpu_kernels) {
        /* a small reduction (an RGB input layer): 4 channel quads per
           invocation, lanes along the columns (conv2d.comp); measured on
           lavapipe, first layer device time: MobileNetV2 3->32 2.55 -> 2.00 ms,
           BlazeFace 3->24 (3 quads) 8.2 -> 4.1 ms; GPUs keep one quad (not
           measured there) */
        uint32_t cq = 4;
        while (cq > 1 && (pc->cog / 4) % cq != 0)
            cq--;
        d->spec[5] = cq;
        /* undilated: one load of the input row segment feeds the KW taps
           (conv2d.comp SWR); lavapipe, BlazeFace 5x5 stride 2: about -25 %
           against the unchanged gemm of the same runs, MobileNetV2's first
           layer the same */
        if (cq > 1 && pc->dw == 1 && pc->sw <= 4) {
            d->spec[7] = pc->sw;
            d->n_spec = 8;
        }
    }
    if (depthwise) {
        if (d->spec[6]) /* dwconv.comp has no RESC; the passes never fold a pad into it */
            return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_op",
                           "node %s: depthwise convolution with a narrower residual", nd->name);
        d->spec[4] = pc->sw;
        d->spec[5] = pc->dw;
        d->spec[6] = nd->n_in > 3;
        d->spec[7] = 0;
        d->n_spec = 8;
        uint64_t cols = (pc->ow + 3) / 4; /* OXB 4 columns per invocation */
        if (vec4 && flat_ok(b, pc->co / 4, ((uint64_t)(pc->co / 4) * cols + 63) / 64))
            d->spec[7] = pc->co / 4; /* dwconv.comp FLATQ */
    }
    bind_conv_io(b, d, nd);
    if (texel) {
        static const int wfmt[] = {RT_TEXEL_RGBA32F, RT_TEXEL_RGBA16F, RT_TEXEL_RGBA8I};
        d->bind[0].texel = depthwise ? RT_TEXEL_RGBA32F : RT_TEXEL_R32F;
        d->bind[1].texel = wfmt[wt];
    }
    memcpy(d->push, pc, sizeof(*pc));
    d->push_size = sizeof(*pc);
    d->flops = 2.0 * pc->n * pc->oh * pc->ow * pc->co * pc->kh * pc->kw * pc->cg;
    uint32_t oxb = vec4 ? 4 : 1;                                /* output columns per invocation */
    uint32_t ocb = vec4 ? 4 * (depthwise ? 1 : d->spec[5]) : 1; /* output channels per invocation */
    uint64_t gx = ((pc->co + ocb - 1) / ocb + 7) / 8;
    uint64_t gy = ((pc->ow + oxb - 1) / oxb + 7) / 8;
    uint64_t gz = (uint64_t)pc->n * pc->oh;
    if (!depthwise && vec4 && d->spec[5] > 1) { /* conv2d.comp: x = columns with CQ > 1 */
        uint64_t t = gx;
        gx = gy;
        gy = t;
    }
    if (depthwise && d->spec[7]) {
        gx = ((uint64_t)(pc->co / 4) * ((pc->ow + oxb - 1) / oxb) + 63) / 64;
        gy = 1;
    }
    return conv_groups(b, d, nd, pc, gx, gy, gz, e);
}

/* builds CONV2D / DENSE node k */
int rt_op_conv_build(struct rt_build *b, int k, struct err *e)
{
    const struct rt_graph *g = b->g;
    const struct rt_node *nd = &g->nodes[k];
    const struct rt_tensor *x = &g->tensors[nd->in[0]], *w = &g->tensors[nd->in[1]];
    const struct rt_tensor *y = &g->tensors[nd->out];
    if (b->fuse != NULL) { /* the plan's depthwise + 1x1 pairs (rt_op_dwpw.c) */
        if (b->fuse[k] >= 0)
            return 0; /* built by its 1x1 */
        int j = x->producer;
        if (j >= 0 && b->fuse[j] == k)
            return rt_op_dwpw_build(b, k, e);
    }
    if (!w->is_const)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_op",
                       "node %s: %s with non-constant weights", nd->name, rt_op_name(nd->op));
    struct rt_push_conv pc;
    memset(&pc, 0, sizeof(pc));
    pc.alpha = nd->a.alpha;
    pc.beta = nd->a.beta;
    if (nd->op == RT_OP_DENSE) {
        uint32_t kk = (uint32_t)w->shape[0], n = (uint32_t)w->shape[1];
        uint32_t rows = (uint32_t)(rt_tensor_nelem(x) / kk);
        if (b->t->use_gemm)
            return gemm(b, k, rows, kk, n, e);
        pc.n = rows;
        pc.h = pc.w = pc.oh = pc.ow = 1;
        pc.c = pc.cg = kk;
        pc.co = pc.cog = n;
        pc.kh = pc.kw = pc.sh = pc.sw = pc.dh = pc.dw = 1;
        return direct(b, k, &pc, 0, e);
    }
    const struct rt_conv_attrs *c = &nd->a.conv;
    pc.n = (uint32_t)x->shape[0];
    pc.h = (uint32_t)x->shape[1];
    pc.w = (uint32_t)x->shape[2];
    pc.c = (uint32_t)x->shape[3];
    pc.oh = (uint32_t)y->shape[1];
    pc.ow = (uint32_t)y->shape[2];
    pc.co = (uint32_t)y->shape[3];
    pc.kh = (uint32_t)w->shape[0];
    pc.kw = (uint32_t)w->shape[1];
    pc.cg = (uint32_t)w->shape[2];
    pc.cog = pc.co / (uint32_t)c->groups;
    pc.sh = (uint32_t)c->stride_h;
    pc.sw = (uint32_t)c->stride_w;
    pc.dh = (uint32_t)c->dil_h;
    pc.dw = (uint32_t)c->dil_w;
    pc.pt = c->pad_t;
    pc.pl = c->pad_l;
    if (c->groups == (int)pc.c && pc.cg == 1 && c->groups > 1)
        return direct(b, k, &pc, 1, e);
    uint64_t m = (uint64_t)pc.n * pc.h * pc.w;
    if (b->t->use_gemm && c->groups == 1 && pc.kh == 1 && pc.kw == 1 && pc.sh == 1 && pc.sw == 1 &&
        c->pad_t == 0 && c->pad_l == 0 && c->pad_b == 0 && c->pad_r == 0)
        return gemm(b, k, (uint32_t)m, pc.c, pc.co, e);
    return direct(b, k, &pc, 0, e);
}
