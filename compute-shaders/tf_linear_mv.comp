#version 450
/*
 * tf_linear_mv.comp: y[m, n] = act(sum_k x[m, k] * W[n, k] * rs[n] + bias[n]) (+ y[m, n]
 * when ACC), for m < 4 rows (decode: one row).  One workgroup of 64
 * computes NR outputs; its invocations split K in runs of 8 (coalesced
 * reads of each weight row), then reduce with subgroupAdd and one shared
 * step (one barrier).  Weight storage: include/tf_weights.glsl.
 * Bindings: 0 x, 1 W, 2 bias, 3 y, 4 scales, 5 zeros.  Push: struct rt_tf_push_linear.
 * Spec: 0 ACT (0 none, 1 gelu tanh, 2 gelu erf), 1 ACC, 2 NR (<= 8), 3 MR (= m, <= 4).  K % 8 == 0, ldx % 4 == 0.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int ACC = 0;
layout(constant_id = 2) const uint NR = 4;
layout(constant_id = 3) const uint MR = 1; /* rows of x (== push m) */
#define MAXM 4
#define NRMAX 8
#include "tf_common.glsl"
#include "tf_weights.glsl"
layout(std430, binding = 0) readonly buffer XBuf { vec4 x4[]; };
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 3) buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint m, n, k, ldx, ldy, ycol0; } p;
shared float part[MAXM * NRMAX][64];

void main()
{
    uint tid = gl_LocalInvocationID.x;
    uint n0 = tf_group() * NR;
    float acc[MAXM * NRMAX];
    for (uint i = 0u; i < MAXM * NRMAX; i++)
        acc[i] = 0.0;
    for (uint k0 = tid * 8u; k0 < p.k; k0 += 512u) {
        vec4 xa[MAXM], xb[MAXM];
        for (uint r = 0u; r < MR; r++) {
            uint rr = r;
            xa[r] = x4[(rr * p.ldx + k0) >> 2];
            xb[r] = x4[((rr * p.ldx + k0) >> 2) + 1u];
        }
        for (uint j = 0u; j < NR; j++) {
            uint n = min(n0 + j, p.n - 1u);
            vec4 a, b;
            wload8(n * p.k + k0, a, b);
            for (uint r = 0u; r < MR; r++)
                acc[r * NRMAX + j] += dot(xa[r], a) + dot(xb[r], b);
        }
    }
    for (uint i = 0u; i < MAXM * NRMAX; i++) {
        float s = subgroupAdd(acc[i]);
        if (subgroupElect())
            part[i][gl_SubgroupID] = s;
    }
    barrier();
    if (tid < MAXM * NRMAX) {
        uint r = tid / NRMAX, j = tid % NRMAX, n = n0 + j;
        if (r < p.m && j < NR && n < p.n) {
            float s = 0.0;
            for (uint g = 0u; g < gl_NumSubgroups; g++)
                s += part[tid][g];
#if WTYPE == 2
            s *= wsc[n];
#endif
            s = tf_act(ACT, s + bias[n]);
            uint yi = r * p.ldy + p.ycol0 + n;
            if (ACC != 0)
                s += y[yi];
            y[yi] = s;
        }
    }
}
