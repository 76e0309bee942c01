#version 450
// vkv-variant: gemm_f32 WTYPE=0
// vkv-variant: gemm_f16 WTYPE=1
// vkv-variant: gemm_i8 WTYPE=2
// vkv-variant: gemm_tx_f32 WTYPE=0,TEXEL=1
// vkv-variant: gemm_tx_f16 WTYPE=1,TEXEL=1
// vkv-variant: gemm_tx_i8 WTYPE=2,TEXEL=1
/*
 * gemm.comp: y[M,N] = act(x[M,K] w[K,N] * scale[N] + bias[N]) for 1x1
 * convolutions and dense layers.  Register-blocked, no shared memory: each
 * invocation computes 4 rows x 4 columns; with VEC4 (K % 4 == 0 and
 * N % 4 == 0) it reads x and w as vec4 (8 loads per 64 FMAs), which is what
 * matters on CPU drivers (llvmpipe gathers every load per lane).  Adjacent
 * invocations take adjacent column blocks so weight reads coalesce.
 * Trip count per invocation: K/4 (VEC4) or K.
 * Bindings: 0 x f32, 1 w (WTYPE), 2 bias, 3 scale, 4 y, 5 residual (RES;
 * RGBA32F texel buffer in the TEXEL variants, even when RES is 0).
 * Push: struct rt_push_gemm.  Spec: 0 ACT, 1 VEC4, 2 RBS, 3 CBS, 4 RES,
 * 5 FLATC (VEC4 only, the column block count, 0 = off): the 64 invocations
 * of a workgroup are one flat run over (row block, column block), column
 * blocks fastest, grid (ceil(blocks / 64), 1): llvmpipe runs 8 consecutive
 * invocations as one SIMD vector, so with 6 or 12 column blocks (24 or 48
 * channels) the 8x8 grid left a quarter of the lanes idle.
 * 6 RESC: the residual's channel count when it is narrower than N (its
 * missing channels read 0; include/residual.glsl), 0 = N.
 * TEXEL variants (gemm_tx_*) read x, w and the residual through uniform
 * texel buffers (VEC4 only; the residual's channel count a multiple of 4):
 * on llvmpipe a texel fetch is a vector gather while an SSBO load is a
 * per-lane scalar loop; on GPUs it goes through the texture cache.
 * Grid: (ceil(N/(4*CB)/8), ceil(M/RB/8)), workgroup 8x8.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 8, local_size_y = 8) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int VEC4 = 0;
layout(constant_id = 2) const uint RBS = 4;
layout(constant_id = 3) const uint CBS = 1;
layout(constant_id = 4) const int RES = 0;
layout(constant_id = 5) const uint FLATC = 0;
layout(constant_id = 6) const uint RESC = 0;
#define RES_NARROW 1
#if TEXEL
#define RES_TEXEL 1
#endif
#include "common.glsl"
#include "weights.glsl"
#include "residual.glsl"
#if TEXEL
/* x as an RGBA32F uniform texel buffer (TEXEL variants, VEC4 only) */
layout(binding = 0) uniform samplerBuffer xtex;
vec4 xload4(uint i4) { return texelFetch(xtex, int(i4)); }
#else
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 0) readonly buffer XBuf4 { vec4 x4[]; };
vec4 xload4(uint i4) { return x4[i4]; }
#endif
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 4) writeonly buffer YBuf { float y[]; };
layout(std430, binding = 4) writeonly buffer YBuf4 { vec4 y4[]; };
layout(push_constant) uniform P {
    uint m, k, n;
    float alpha, beta;
} p;

const uint RB = RBS;   /* rows per invocation */
const uint CB = CBS;   /* vec4 column blocks per invocation (VEC4 path) */

vec4 act4(vec4 v)
{
    return vec4(apply_act(ACT, v.x, p.alpha, p.beta), apply_act(ACT, v.y, p.alpha, p.beta),
                apply_act(ACT, v.z, p.alpha, p.beta), apply_act(ACT, v.w, p.alpha, p.beta));
}

void main()
{
    if (VEC4 != 0) {
        uint c0 = gl_GlobalInvocationID.x * 4u * CB, r0 = gl_GlobalInvocationID.y * RB;
        if (FLATC != 0u) {
            uint f = gl_WorkGroupID.x * 64u + gl_LocalInvocationIndex;
            c0 = (f % FLATC) * 4u * CB;
            r0 = (f / FLATC) * RB;
        }
        if (c0 >= p.n || r0 >= p.m)
            return;
        uint k4 = p.k >> 2, n4 = p.n >> 2;
        /* rows past M repeat the last row (loads stay in range, stores are skipped);
           column blocks past N repeat the last block */
        uint xr[RB];
        for (uint i = 0u; i < RB; i++)
            xr[i] = min(r0 + i, p.m - 1u) * k4;
        uint cb[CB];
        for (uint j = 0u; j < CB; j++)
            cb[j] = min(c0 + 4u * j, p.n - 4u);
        vec4 acc[RB * CB];
        for (uint i = 0u; i < RB * CB; i++)
            acc[i] = vec4(0.0);
        for (uint kk = 0u; kk < k4; kk++) {
            vec4 w[4 * CB];
            for (uint j = 0u; j < CB; j++)
                for (uint q = 0u; q < 4u; q++)
                    w[j * 4u + q] = wraw4((kk * 4u + q) * p.n + cb[j]);
            for (uint i = 0u; i < RB; i++) {
                vec4 v = xload4(xr[i] + kk);
                for (uint j = 0u; j < CB; j++)
                    acc[i * CB + j] += v.x * w[j * 4u] + v.y * w[j * 4u + 1u] +
                                       v.z * w[j * 4u + 2u] + v.w * w[j * 4u + 3u];
            }
        }
        for (uint j = 0u; j < CB; j++) {
            uint c = c0 + 4u * j;
            if (c >= p.n)
                break;
            vec4 s = wscale4(c), b = vec4(bias[c], bias[c + 1u], bias[c + 2u], bias[c + 3u]);
            for (uint i = 0u; i < RB; i++)
                if (r0 + i < p.m) {
                    uint i4 = (r0 + i) * n4 + (c >> 2);
                    vec4 r = RESC != 0u ? resid4n(r0 + i, c) : resid4(i4);
                    y4[i4] = act4(acc[i * CB + j] * s + b + r);
                }
        }
        return;
    }
#if !TEXEL
    uint c0 = gl_GlobalInvocationID.x * 4u, r0 = gl_GlobalInvocationID.y * 4u;
    if (c0 >= p.n || r0 >= p.m)
        return;
    uint r1 = min(r0 + 1u, p.m - 1u), r2 = min(r0 + 2u, p.m - 1u), r3 = min(r0 + 3u, p.m - 1u);
    uint c1 = min(c0 + 1u, p.n - 1u), c2 = min(c0 + 2u, p.n - 1u), c3 = min(c0 + 3u, p.n - 1u);
    vec4 a0 = vec4(0.0), a1 = vec4(0.0), a2 = vec4(0.0), a3 = vec4(0.0);
    for (uint kk = 0u; kk < p.k; kk++) {
        uint wb = kk * p.n;
        vec4 w = vec4(wraw(wb + c0), wraw(wb + c1), wraw(wb + c2), wraw(wb + c3));
        a0 += x[r0 * p.k + kk] * w;
        a1 += x[r1 * p.k + kk] * w;
        a2 += x[r2 * p.k + kk] * w;
        a3 += x[r3 * p.k + kk] * w;
    }
    vec4 acc[4] = vec4[4](a0, a1, a2, a3);
    for (uint j = 0u; j < 4u; j++) {
        uint c = c0 + j;
        if (c >= p.n)
            break;
        float s = wscale(c), b = bias[c];
        for (uint i = 0u; i < 4u; i++) {
            uint r = r0 + i;
            if (r < p.m)
                y[r * p.n + c] = apply_act(
                    ACT, acc[i][j] * s + b + (RESC != 0u ? residn(r, c) : resid(r * p.n + c)),
                    p.alpha, p.beta);
        }
    }
#endif
}
