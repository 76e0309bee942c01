#version 450
/*
 * tf_linear_mv.comp: y[m, n] = act(sum_k x[m, k] * W[n, k] * rs[n] + bias[n]) (+ y[m, n]
 * when ACC), for m <= 4 rows (decode: one row).  One workgroup of 64
 * computes NR = 4 outputs; its invocations split K in runs of 8 (coalesced
 * reads of each weight row), then reduce with subgroupAdd and one shared
 * step (one barrier).  Every loop has a build-time bound so the 4 x 4
 * accumulators stay in registers; rows past m are skipped by uniform
 * branches.  Weight storage: include/tf_weights.glsl.
 * Bindings: 0 x, 1 W, 2 bias, 3 y, 4 scales, 5 zeros.  Push: struct rt_tf_push_linear.
 * Spec: 0 ACT (0 none, 1 gelu tanh, 2 gelu erf), 1 ACC, 7 GSHIFT (q4).
 * K % 8 == 0, ldx % 4 == 0.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int ACC = 0;
#define MR 4
#define NR 4
#include "tf_common.glsl"
#include "tf_weights.glsl"
layout(std430, binding = 0) readonly buffer XBuf { vec4 x4[]; };
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 3) buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint m, n, k, ldx, ldy, ycol0; } p;
shared float part[MR * NR][64];

void main()
{
    uint tid = gl_LocalInvocationID.x;
    uint n0 = tf_group() * NR;
    uint wr[NR];
    [[unroll]] for (uint j = 0u; j < NR; j++)
        wr[j] = min(n0 + j, p.n - 1u) * p.k;
    vec4 acc[MR]; /* acc[row][output j] */
    [[unroll]] for (uint r = 0u; r < MR; r++)
        acc[r] = vec4(0.0);
    for (uint k0 = tid * 8u; k0 < p.k; k0 += 512u) {
        vec4 wa[NR], wb[NR];
        [[unroll]] for (uint j = 0u; j < NR; j++)
            wload8(wr[j] + k0, wa[j], wb[j]);
        [[unroll]] for (uint r = 0u; r < MR; r++) {
            if (r < p.m) {
                uint xi = (r * p.ldx + k0) >> 2;
                vec4 a = x4[xi], b = x4[xi + 1u];
                acc[r] += vec4(dot(a, wa[0]) + dot(b, wb[0]), dot(a, wa[1]) + dot(b, wb[1]),
                               dot(a, wa[2]) + dot(b, wb[2]), dot(a, wa[3]) + dot(b, wb[3]));
            }
        }
    }
    [[unroll]] for (uint r = 0u; r < MR; r++) {
        if (r < p.m) {
            vec4 s = subgroupAdd(acc[r]);
            if (subgroupElect())
                [[unroll]] for (uint j = 0u; j < NR; j++)
                    part[r * NR + j][gl_SubgroupID] = s[j];
        }
    }
    barrier();
    if (tid < MR * NR) {
        uint r = tid / NR, j = tid % NR, n = n0 + j;
        if (r < p.m && n < p.n) {
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
