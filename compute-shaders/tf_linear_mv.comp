#version 450
// vkv-variant: tf_linear_mv_f32 WTYPE=0
// vkv-variant: tf_linear_mv_f16 WTYPE=1
// vkv-variant: tf_linear_mv_i8 WTYPE=2
// vkv-variant: tf_linear_mv_q4 WTYPE=3
// vkv-variant: tf_linear_mv_tx_f32 WTYPE=0,TEXEL=1
// vkv-variant: tf_linear_mv_tx_f16 WTYPE=1,TEXEL=1
// vkv-variant: tf_linear_mv_tx_i8 WTYPE=2,TEXEL=1
// vkv-variant: tf_linear_mv_tx_q4 WTYPE=3,TEXEL=1
/*
 * tf_linear_mv.comp: y[m, n] = act(sum_k x[m, k] * W[n, k] * rs[n] + bias[n]) (+ y[m, n]
 * when ACC), for m <= 4 rows (decode: one row).  One workgroup of 64
 * computes NR = 4 outputs; its invocations split K in runs of 16 (coalesced
 * reads of each weight row), then reduce with subgroupAdd and one shared
 * step (one barrier).  Every loop has a build-time bound so the 4 x 4
 * accumulators stay in registers; rows past m are skipped by uniform
 * branches.  Weight storage: include/tf_weights.glsl.
 * Bindings: 0 x, 1 W, 2 bias, 3 y, 4 scales, 5 zeros (TEXEL=1: x an RGBA32F and W an
 * RGBA32UI uniform texel buffer).  Push: struct rt_tf_push_linear.
 * Spec: 0 ACT (0 none, 1 gelu tanh, 2 gelu erf), 1 ACC, 7 GSHIFT (q4).
 * K % 16 == 0, ldx % 4 == 0.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int ACC = 0;
#define MR 4
#define NR 4
#include "tf_common.glsl"
#include "tf_weights.glsl"
#if TEXEL
layout(binding = 0) uniform samplerBuffer xtex; /* RGBA32F */
#define XL(i) texelFetch(xtex, int(i))
#else
layout(std430, binding = 0) readonly buffer XBuf { vec4 x4[]; };
#define XL(i) x4[i]
#endif
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
    for (uint k0 = tid * 16u; k0 < p.k; k0 += 1024u) {
        vec4 w[NR][4];
        [[unroll]] for (uint j = 0u; j < NR; j++)
            wload16(wr[j] + k0, w[j]);
        [[unroll]] for (uint r = 0u; r < MR; r++) {
            if (r < p.m) {
                uint xi = (r * p.ldx + k0) >> 2;
                vec4 a = XL(xi), b = XL(xi + 1u), c = XL(xi + 2u), d = XL(xi + 3u);
                vec4 s;
                [[unroll]] for (uint j = 0u; j < NR; j++)
                    s[j] = dot(a, w[j][0]) + dot(b, w[j][1]) + dot(c, w[j][2]) + dot(d, w[j][3]);
                acc[r] += s;
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
