#version 450
// vkv-variant: gemm_cw_f32 WTYPE=0,TEXEL=1
// vkv-variant: gemm_cw_f16 WTYPE=1,TEXEL=1
// vkv-variant: gemm_cw_i8 WTYPE=2,TEXEL=1
/*
 * gemm_cw.comp: y[M,N] = act(x[M,K] w[K,N] * scale[N] + bias[N] + residual)
 * for narrow 1x1 convolutions on CPU devices: each invocation computes RB
 * rows x all N columns, with K and N spec constants and every loop
 * unrolled, so each weight's texel index is a compile-time constant:
 * llvmpipe's per-lane texel gather then has eight equal addresses and LLVM
 * folds it into one load and a broadcast (see conv2d_rgb.comp), and the
 * only per-lane gathers left are the RB rows of x.  SIMD lanes run along
 * the rows.  The host keeps RB * N / 4 <= 24 vec4 accumulators and the
 * unrolled body small (K / 4 * N / 4 * RB bounded in rt_op_conv.c).
 * Bindings: 0 x as an RGBA32F uniform texel buffer, 1 w[K,N] (WTYPE texel
 * buffer, include/weights.glsl), 2 bias[N] f32, 3 scale[N] (int8 only),
 * 4 y f32, 5 residual as an RGBA32F texel buffer (RES; the bias when RES
 * is 0).  Push: struct rt_push_gemm.  Spec: 0 ACT, 1 K4 (K / 4), 2 N4
 * (N / 4), 3 RB, 4 RES, 5 RESC (the residual's channel count when it is
 * narrower than N, a multiple of 4; 0 = N).
 * NS (spec 6, 0 = off): N is not a multiple of 4 (detection heads: 2 or
 * 6 columns); the N columns are NS scalar accumulators per row, weights
 * read one by one at constant indices, y and bias as floats; RES is 0.
 * LX (spec 7): the workgroup size, below 64 where a small M would leave
 * one workgroup (one llvmpipe thread) for the whole layer.
 * Grid: (ceil(M / RB / LX), 1), workgroup LX.  Trip count: none.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 7) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const uint K4 = 1;
layout(constant_id = 2) const uint N4 = 1;
layout(constant_id = 3) const uint RB = 1;
layout(constant_id = 4) const int RES = 0;
layout(constant_id = 5) const uint RESC = 0;
layout(constant_id = 6) const uint NS = 0;
layout(constant_id = 7) const uint LX = 64;
#define RES_NARROW 1
#define RES_TEXEL 1
#include "common.glsl"
#include "weights.glsl"
#include "residual.glsl"
layout(binding = 0) uniform samplerBuffer xtex;
layout(std430, binding = 2) readonly buffer BBuf4 { vec4 bias4[]; };
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 4) writeonly buffer YBuf4 { vec4 y4[]; };
layout(std430, binding = 4) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P {
    uint m, k, n;
    float alpha, beta;
} p;

vec4 act4(vec4 v)
{
    return vec4(apply_act(ACT, v.x, p.alpha, p.beta), apply_act(ACT, v.y, p.alpha, p.beta),
                apply_act(ACT, v.z, p.alpha, p.beta), apply_act(ACT, v.w, p.alpha, p.beta));
}

/* the NS path: RB rows x NS (N % 4 != 0) scalar columns */
void main_ns(uint r0)
{
    uint xr[RB];
    [[unroll]] for (uint i = 0u; i < RB; i++)
        xr[i] = min(r0 + i, p.m - 1u) * K4;
    float acc[RB * NS + 1u]; /* + 1: a valid size when NS is 0 (path unused) */
    [[unroll]] for (uint i = 0u; i < RB * NS; i++)
        acc[i] = 0.0;
    [[unroll]] for (uint kk = 0u; kk < K4; kk++) {
        vec4 xv[RB];
        [[unroll]] for (uint i = 0u; i < RB; i++)
            xv[i] = texelFetch(xtex, int(xr[i] + kk));
        [[unroll]] for (uint j = 0u; j < NS; j++) {
            vec4 w = vec4(wraw((kk * 4u) * NS + j), wraw((kk * 4u + 1u) * NS + j),
                          wraw((kk * 4u + 2u) * NS + j), wraw((kk * 4u + 3u) * NS + j));
            [[unroll]] for (uint i = 0u; i < RB; i++)
                acc[i * NS + j] += dot(xv[i], w);
        }
    }
    [[unroll]] for (uint j = 0u; j < NS; j++) {
        float s = wscale(j), b = bias[j];
        [[unroll]] for (uint i = 0u; i < RB; i++)
            if (r0 + i < p.m)
                y[(r0 + i) * NS + j] = apply_act(ACT, acc[i * NS + j] * s + b, p.alpha, p.beta);
    }
}

void main()
{
    uint r0 = gl_GlobalInvocationID.x * RB;
    if (r0 >= p.m)
        return;
    if (NS != 0u) {
        main_ns(r0);
        return;
    }
    /* rows past M repeat the last row (loads stay in range, stores are skipped) */
    uint xr[RB];
    [[unroll]] for (uint i = 0u; i < RB; i++)
        xr[i] = min(r0 + i, p.m - 1u) * K4;
    vec4 acc[RB * N4];
    [[unroll]] for (uint i = 0u; i < RB * N4; i++)
        acc[i] = vec4(0.0);
    [[unroll]] for (uint kk = 0u; kk < K4; kk++) {
        vec4 xv[RB];
        [[unroll]] for (uint i = 0u; i < RB; i++)
            xv[i] = texelFetch(xtex, int(xr[i] + kk));
        [[unroll]] for (uint j = 0u; j < N4; j++) {
            /* constant indices: one load per SIMD row, broadcast */
            vec4 w0 = wraw4((kk * 4u) * N4 * 4u + 4u * j);
            vec4 w1 = wraw4((kk * 4u + 1u) * N4 * 4u + 4u * j);
            vec4 w2 = wraw4((kk * 4u + 2u) * N4 * 4u + 4u * j);
            vec4 w3 = wraw4((kk * 4u + 3u) * N4 * 4u + 4u * j);
            [[unroll]] for (uint i = 0u; i < RB; i++)
                acc[i * N4 + j] += xv[i].x * w0 + xv[i].y * w1 + xv[i].z * w2 + xv[i].w * w3;
        }
    }
    [[unroll]] for (uint j = 0u; j < N4; j++) {
        vec4 s = wscale4(4u * j), b = bias4[j];
        [[unroll]] for (uint i = 0u; i < RB; i++)
            if (r0 + i < p.m) {
                uint i4 = (r0 + i) * N4 + j;
                vec4 r = RESC != 0u ? resid4n(r0 + i, 4u * j) : resid4(i4);
                y4[i4] = act4(acc[i * N4 + j] * s + b + r);
            }
    }
}
