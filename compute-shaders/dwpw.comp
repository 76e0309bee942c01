#version 450
// vkv-variant: dwpw_s1_f32 S=1,WTYPE=0
// vkv-variant: dwpw_s1_f16 S=1,WTYPE=1
// vkv-variant: dwpw_s1_i8 S=1,WTYPE=2
// vkv-variant: dwpw_s2_f32 S=2,WTYPE=0
// vkv-variant: dwpw_s2_f16 S=2,WTYPE=1
// vkv-variant: dwpw_s2_i8 S=2,WTYPE=2
// vkv-variant: dwpwr_s1_f32 S=1,WTYPE=0,ROLL=1
// vkv-variant: dwpwr_s1_f16 S=1,WTYPE=1,ROLL=1
// vkv-variant: dwpwr_s1_i8 S=1,WTYPE=2,ROLL=1
// vkv-variant: dwpwr_s2_f32 S=2,WTYPE=0,ROLL=1
// vkv-variant: dwpwr_s2_f16 S=2,WTYPE=1,ROLL=1
// vkv-variant: dwpwr_s2_i8 S=2,WTYPE=2,ROLL=1
/*
 * dwpw.comp: a depthwise 3x3 convolution (stride S, undilated, C channels)
 * and the 1x1 convolution that reads it (C -> N) in one kernel, for CPU
 * devices: y = act(pw(dact(dw(x) + dbias)) + bias + residual), the depthwise
 * output kept in registers, never stored (llvmpipe stores lane by lane: the
 * stores were ~40 % of dwconv3's time, ~22 % of gemm's).
 * SIMD lanes run along the output pixels; each invocation computes PX
 * consecutive pixels of one output row x all N channels.  The channel loop
 * is rolled (one channel quad per iteration) and everything inside it
 * unrolled: the PX x N/4 accumulators and the PX depthwise values are
 * constant-indexed (registers or spill slots, never per-lane indexed
 * memory), and the pipeline's size does not grow with C (figures in
 * rt_op_dwpw.c and runtime/ops/README.md).  Per channel quad the
 * depthwise values of the PX pixels are computed, then added into the PX x
 * N accumulators; the weight fetches of one iteration are shared by PX
 * pixels x 8 lanes.
 * Bindings: 0 x[N,H,W,C] RGBA32F texel buffer, 1 pointwise w[C,N] (WTYPE
 * texel buffer, include/weights.glsl), 2 pointwise bias[N] RGBA32F texel
 * buffer, 3 pointwise int8 scales (weights.glsl; unused otherwise), 4 y f32,
 * 5 residual as an RGBA32F texel buffer (RES; RESC its channel count when
 * narrower than N; with RESP the map whose 2x2 stride-2 max-pool is the
 * residual, include/residual.glsl resid4p), 6 depthwise w[3,3,1,C] (WTYPE texel buffer), 7
 * depthwise bias[C] RGBA32F texel buffer, 8 depthwise int8 scales[C]
 * (RGBA32F texel buffer; unused otherwise).  int8 weights are unscaled
 * integers: each convolution's sum is scaled per channel before its bias.
 * ROLL 0 (dwpw_*): the channel loop unrolled too, every weight index a
 * constant, workgroup 64 (spec 7 unused): kept for the pairs whose whole
 * unrolled body is small (rt_op_dwpw.c), where it measured faster than
 * the rolled dwpwr_* (BlazeFace's 128x128 24 -> 24 stage 5.1-5.8 against
 * 6.1-6.6 ms).
 * Push: struct rt_push_dwpw.  Spec: 0 ACT, 1 DACT (the depthwise's
 * activation), 2 C4 (C / 4), 3 N4 (N / 4), 4 PX, 5 RES, 6 RESC, 7 the
 * workgroup size WG (8..64: a small grid gets small workgroups, so that
 * llvmpipe's threads all get one), 10 RESP.
 * Grid: (ceil(n * oh * ceil(ow / PX) / WG), 1, 1).
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#if ROLL
layout(local_size_x = 64, local_size_x_id = 7) in;
#else
layout(local_size_x = 64) in;
#endif
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int DACT = 0;
layout(constant_id = 2) const uint C4 = 1;
layout(constant_id = 3) const uint N4 = 1;
layout(constant_id = 4) const uint PX = 1;
layout(constant_id = 5) const int RES = 0;
layout(constant_id = 6) const uint RESC = 0;
layout(constant_id = 10) const int RESP = 0;
#define TEXEL 1
#define RES_NARROW 1
#define RES_TEXEL 1
#define RES_POOL 1
#include "common.glsl"
#include "weights.glsl"
#include "residual.glsl"
layout(binding = 0) uniform samplerBuffer xtex;
layout(binding = 2) uniform samplerBuffer btex;
layout(std430, binding = 4) writeonly buffer YBuf4 { vec4 y4[]; };
#if WTYPE == 2
layout(binding = 6) uniform isamplerBuffer dwtex;
layout(binding = 8) uniform samplerBuffer dstex;
vec4 dw4(int i) { return vec4(texelFetch(dwtex, i)); }
#else
layout(binding = 6) uniform samplerBuffer dwtex;
vec4 dw4(int i) { return texelFetch(dwtex, i); }
#endif
layout(binding = 7) uniform samplerBuffer dbtex;
layout(push_constant) uniform P {
    uint n, h, w, oh, ow;
    int pt, pl;
    float alpha, beta, dalpha, dbeta;
} p;

const uint SPAN = (PX - 1u) * S + 3u; /* input columns under PX outputs */

vec4 act4(int a, vec4 v, float al, float be)
{
    return vec4(apply_act(a, v.x, al, be), apply_act(a, v.y, al, be), apply_act(a, v.z, al, be),
                apply_act(a, v.w, al, be));
}

void main()
{
    uint tx = (p.ow + PX - 1u) / PX;
    uint inv = gl_GlobalInvocationID.x;
    uint row = inv / tx; /* n * oh + oy */
    if (row >= p.n * p.oh)
        return;
    uint ox0 = (inv - row * tx) * PX;
    uint n = row / p.oh, oy = row - n * p.oh;
    int iy0 = int(oy * S) - p.pt, ix0 = int(ox0 * S) - p.pl;
    /* texel index of each window row / column (channel quad 0); outside
       the input reads texel 0 and is zeroed */
    int rb[3];
    bool rin[3];
    [[unroll]] for (uint r = 0u; r < 3u; r++) {
        int iy = iy0 + int(r);
        rin[r] = iy >= 0 && iy < int(p.h);
        rb[r] = (int(n * p.h) + iy) * int(p.w);
    }
    int cb[SPAN];
    bool cin[SPAN];
    [[unroll]] for (uint j = 0u; j < SPAN; j++) {
        int ix = ix0 + int(j);
        cin[j] = ix >= 0 && ix < int(p.w);
        cb[j] = ix;
    }
    vec4 acc[PX * N4];
    [[unroll]] for (uint i = 0u; i < PX * N4; i++)
        acc[i] = vec4(0.0);
#if ROLL
    [[dont_unroll]] for (uint c4 = 0u; c4 < C4; c4++) {
#else
    [[unroll]] for (uint c4 = 0u; c4 < C4; c4++) {
#endif
        vec4 d[PX];
        vec4 db = texelFetch(dbtex, int(c4));
#if WTYPE == 2
        vec4 dsc = texelFetch(dstex, int(c4));
        [[unroll]] for (uint o = 0u; o < PX; o++)
            d[o] = vec4(0.0);
#else
        [[unroll]] for (uint o = 0u; o < PX; o++)
            d[o] = db;
#endif
        [[unroll]] for (uint r = 0u; r < 3u; r++) {
            [[unroll]] for (uint j = 0u; j < SPAN; j++) {
                bool inb = rin[r] && cin[j];
                vec4 v = texelFetch(xtex, inb ? (rb[r] + cb[j]) * int(C4) + int(c4) : 0);
                v = inb ? v : vec4(0.0);
                [[unroll]] for (uint o = 0u; o < PX; o++) {
                    int kx = int(j) - int(o * S);
                    if (kx >= 0 && kx < 3)
                        d[o] += v * dw4(int((r * 3u + uint(kx)) * C4 + c4));
                }
            }
        }
#if WTYPE == 2
        [[unroll]] for (uint o = 0u; o < PX; o++)
            d[o] = d[o] * dsc + db;
#endif
        [[unroll]] for (uint o = 0u; o < PX; o++)
            d[o] = act4(DACT, d[o], p.dalpha, p.dbeta);
        [[unroll]] for (uint j = 0u; j < N4; j++) {
            vec4 w0 = wraw4((c4 * 4u) * N4 * 4u + 4u * j);
            vec4 w1 = wraw4((c4 * 4u + 1u) * N4 * 4u + 4u * j);
            vec4 w2 = wraw4((c4 * 4u + 2u) * N4 * 4u + 4u * j);
            vec4 w3 = wraw4((c4 * 4u + 3u) * N4 * 4u + 4u * j);
            [[unroll]] for (uint o = 0u; o < PX; o++)
                acc[o * N4 + j] += d[o].x * w0 + d[o].y * w1 + d[o].z * w2 + d[o].w * w3;
        }
    }
    [[unroll]] for (uint j = 0u; j < N4; j++) {
        vec4 b = texelFetch(btex, int(j)), sc = wscale4(4u * j);
        [[unroll]] for (uint o = 0u; o < PX; o++)
            if (ox0 + o < p.ow) {
                uint pix = row * p.ow + ox0 + o;
                uint i4 = pix * N4 + j;
                vec4 r = RESP != 0 ? resid4p(row, ox0 + o, p.ow, RESC != 0u ? RESC : 4u * N4, 4u * j)
                         : (RESC != 0u ? resid4n(pix, 4u * j) : resid4(i4));
                y4[i4] = act4(ACT, acc[o * N4 + j] * sc + b + r, p.alpha, p.beta);
            }
    }
}
