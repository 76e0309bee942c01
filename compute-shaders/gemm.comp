#version 450
/*
 * gemm.comp: y[M,N] = act(x[M,K] w[K,N] * scale[N] + bias[N]) for 1x1
 * convolutions and dense layers.  Register-blocked, no shared memory: each
 * invocation computes 4 rows x 4 columns; with VEC4 (K % 4 == 0 and
 * N % 4 == 0) it reads x and w as vec4 (8 loads per 64 FMAs), which is what
 * matters on CPU drivers (llvmpipe gathers every load per lane).  Adjacent
 * invocations take adjacent column blocks so weight reads coalesce.
 * Trip count per invocation: K/4 (VEC4) or K.
 * Bindings: 0 x f32, 1 w (WTYPE), 2 bias, 3 scale, 4 y.
 * Push: struct rt_push_gemm.  Spec: 0 ACT, 1 VEC4.
 * Grid: (ceil(N/4/8), ceil(M/4/8)), workgroup 8x8.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 8, local_size_y = 8) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int VEC4 = 0;
#include "common.glsl"
#include "weights.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 0) readonly buffer XBuf4 { vec4 x4[]; };
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 4) writeonly buffer YBuf { float y[]; };
layout(std430, binding = 4) writeonly buffer YBuf4 { vec4 y4[]; };
layout(push_constant) uniform P {
    uint m, k, n;
    float alpha, beta;
} p;

void main()
{
    uint c0 = gl_GlobalInvocationID.x * 4u, r0 = gl_GlobalInvocationID.y * 4u;
    if (c0 >= p.n || r0 >= p.m)
        return;
    /* rows past M repeat the last row (loads stay in range, stores are skipped) */
    uint r1 = min(r0 + 1u, p.m - 1u), r2 = min(r0 + 2u, p.m - 1u), r3 = min(r0 + 3u, p.m - 1u);
    vec4 a0 = vec4(0.0), a1 = vec4(0.0), a2 = vec4(0.0), a3 = vec4(0.0);
    if (VEC4 != 0) {
        uint k4 = p.k >> 2;
        uint x0 = r0 * k4, x1 = r1 * k4, x2 = r2 * k4, x3 = r3 * k4;
        for (uint kk = 0u; kk < k4; kk++) {
            uint wb = kk * 4u * p.n + c0;
            vec4 w0 = wraw4(wb), w1 = wraw4(wb + p.n), w2 = wraw4(wb + 2u * p.n),
                 w3 = wraw4(wb + 3u * p.n);
            vec4 v0 = x4[x0 + kk], v1 = x4[x1 + kk], v2 = x4[x2 + kk], v3 = x4[x3 + kk];
            a0 += v0.x * w0 + v0.y * w1 + v0.z * w2 + v0.w * w3;
            a1 += v1.x * w0 + v1.y * w1 + v1.z * w2 + v1.w * w3;
            a2 += v2.x * w0 + v2.y * w1 + v2.z * w2 + v2.w * w3;
            a3 += v3.x * w0 + v3.y * w1 + v3.z * w2 + v3.w * w3;
        }
    } else {
        uint c1 = min(c0 + 1u, p.n - 1u), c2 = min(c0 + 2u, p.n - 1u), c3 = min(c0 + 3u, p.n - 1u);
        for (uint kk = 0u; kk < p.k; kk++) {
            uint wb = kk * p.n;
            vec4 w = vec4(wraw(wb + c0), wraw(wb + c1), wraw(wb + c2), wraw(wb + c3));
            a0 += x[r0 * p.k + kk] * w;
            a1 += x[r1 * p.k + kk] * w;
            a2 += x[r2 * p.k + kk] * w;
            a3 += x[r3 * p.k + kk] * w;
        }
    }
    vec4 acc[4] = vec4[4](a0, a1, a2, a3);
    if (VEC4 != 0) {
        vec4 s = wscale4(c0), b = vec4(bias[c0], bias[c0 + 1u], bias[c0 + 2u], bias[c0 + 3u]);
        for (uint i = 0u; i < 4u; i++) {
            uint r = r0 + i;
            if (r < p.m) {
                vec4 v = acc[i] * s + b;
                y4[(r * p.n + c0) >> 2] = vec4(apply_act(ACT, v.x, p.alpha, p.beta),
                                               apply_act(ACT, v.y, p.alpha, p.beta),
                                               apply_act(ACT, v.z, p.alpha, p.beta),
                                               apply_act(ACT, v.w, p.alpha, p.beta));
            }
        }
        return;
    }
    for (uint j = 0u; j < 4u; j++) {
        uint c = c0 + j;
        if (c >= p.n)
            break;
        float s = wscale(c), b = bias[c];
        for (uint i = 0u; i < 4u; i++) {
            uint r = r0 + i;
            if (r < p.m)
                y[r * p.n + c] = apply_act(ACT, acc[i][j] * s + b, p.alpha, p.beta);
        }
    }
}
