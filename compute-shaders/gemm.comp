#version 450
/*
 * gemm.comp: y[M,N] = act(x[M,K] w[K,N] * scale[N] + bias[N]) for 1x1
 * convolutions and dense layers.  Workgroup 16x16 computes a 64x64 tile,
 * each invocation a 4x4 block (rows ty+16i, cols tx+16j); K in steps of 16
 * through shared memory (8 KiB, fits lavapipe's 32 KiB).  Trip count per
 * invocation ~ K/16 * 24.
 * Bindings: 0 x f32, 1 w (WTYPE), 2 bias, 3 scale, 4 y.
 * Push: struct rt_push_gemm.  Spec: 0 ACT.  Grid: (ceil(N/64), ceil(M/64)).
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 16, local_size_y = 16) in;
layout(constant_id = 0) const int ACT = 0;
#include "common.glsl"
#include "weights.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 4) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P {
    uint m, k, n;
    float alpha, beta;
} p;

shared float As[16][64];
shared float Bs[16][64];

void main()
{
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * 16u + tx;
    uint row0 = gl_WorkGroupID.y * 64u, col0 = gl_WorkGroupID.x * 64u;
    float acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            acc[i][j] = 0.0;
    for (uint k0 = 0u; k0 < p.k; k0 += 16u) {
        /* A tile 64 rows x 16 k: thread loads k = tid % 16, rows tid/16 + 16*i */
        for (uint i = 0u; i < 4u; i++) {
            uint r = tid / 16u + 16u * i, kk = tid % 16u;
            uint gr = row0 + r, gk = k0 + kk;
            As[kk][r] = (gr < p.m && gk < p.k) ? x[gr * p.k + gk] : 0.0;
        }
        /* B tile 16 k x 64 cols: thread loads col = tid % 64, k = tid/64 + 4*i */
        for (uint i = 0u; i < 4u; i++) {
            uint kk = tid / 64u + 4u * i, c = tid % 64u;
            uint gk = k0 + kk, gc = col0 + c;
            Bs[kk][c] = (gk < p.k && gc < p.n) ? wraw(gk * p.n + gc) : 0.0;
        }
        barrier();
        for (uint kk = 0u; kk < 16u; kk++) {
            float a0 = As[kk][ty], a1 = As[kk][ty + 16u], a2 = As[kk][ty + 32u], a3 = As[kk][ty + 48u];
            float b0 = Bs[kk][tx], b1 = Bs[kk][tx + 16u], b2 = Bs[kk][tx + 32u], b3 = Bs[kk][tx + 48u];
            acc[0][0] += a0 * b0; acc[0][1] += a0 * b1; acc[0][2] += a0 * b2; acc[0][3] += a0 * b3;
            acc[1][0] += a1 * b0; acc[1][1] += a1 * b1; acc[1][2] += a1 * b2; acc[1][3] += a1 * b3;
            acc[2][0] += a2 * b0; acc[2][1] += a2 * b1; acc[2][2] += a2 * b2; acc[2][3] += a2 * b3;
            acc[3][0] += a3 * b0; acc[3][1] += a3 * b1; acc[3][2] += a3 * b2; acc[3][3] += a3 * b3;
        }
        barrier();
    }
    for (uint j = 0u; j < 4u; j++) {
        uint c = col0 + tx + 16u * j;
        if (c >= p.n)
            continue;
        float s = wscale(c), b = bias[c];
        for (uint i = 0u; i < 4u; i++) {
            uint r = row0 + ty + 16u * i;
            if (r < p.m)
                y[r * p.n + c] = apply_act(ACT, acc[i][j] * s + b, p.alpha, p.beta);
        }
    }
}
