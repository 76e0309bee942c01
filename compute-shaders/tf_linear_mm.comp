#version 450
// vkv-variant: tf_linear_mm_tx_f32 WTYPE=0,TEXEL=1
// vkv-variant: tf_linear_mm_tx_f16 WTYPE=1,TEXEL=1
// vkv-variant: tf_linear_mm_tx_i8 WTYPE=2,TEXEL=1
// vkv-variant: tf_linear_mm_tx_q4 WTYPE=3,TEXEL=1
// vkv-variant: tf_linear_mm_f32 WTYPE=0
// vkv-variant: tf_linear_mm_f16 WTYPE=1
// vkv-variant: tf_linear_mm_i8 WTYPE=2
// vkv-variant: tf_linear_mm_q4 WTYPE=3
/*
 * tf_linear_mm.comp: y[m, n] = act(sum_k x[m, k] * W[n, k] * rs[n] + bias[n]) (+ y[m, n]
 * when ACC) for many rows (prefill, vision).  Each invocation computes a
 * register tile of 4 rows x 4 columns; x rows and W rows are both
 * contiguous along K, so one step loads 8 floats of 4 x rows and 8 weights of
 * 4 W rows for 128 FMAs.  Invocation x = column block, y = row block;
 * trip count K/8.  Weight storage: include/tf_weights.glsl.
 * Bindings: 0 x, 1 W, 2 bias, 3 y, 4 scales, 5 zeros.  Push: struct rt_tf_push_linear.
 * Spec: 0 ACT, 1 ACC, 7 GSHIFT.  K % 16 == 0, ldx % 4 == 0.  TEXEL=1: x and W
 * as uniform texel buffers (see tf_linear_mv.comp).
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int ACC = 0;
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

void main()
{
    uint cb = gl_GlobalInvocationID.x, rb = gl_WorkGroupID.y;
    uint n0 = cb * 4u, m0 = rb * 4u;
    if (n0 >= p.n)
        return;
    uint xr[4], wr[4];
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        xr[i] = (min(m0 + i, p.m - 1u) * p.ldx) >> 2;
        wr[i] = min(n0 + i, p.n - 1u) * p.k;
    }
    vec4 acc[4]; /* acc[row][col] */
    [[unroll]] for (uint i = 0u; i < 4u; i++)
        acc[i] = vec4(0.0);
    for (uint k0 = 0u; k0 < p.k; k0 += 16u) {
        vec4 w[4][4];
        [[unroll]] for (uint j = 0u; j < 4u; j++)
            wload16(wr[j] + k0, w[j]);
        [[unroll]] for (uint i = 0u; i < 4u; i++) {
            uint xi = xr[i] + (k0 >> 2);
            vec4 a = XL(xi), b = XL(xi + 1u), c = XL(xi + 2u), d = XL(xi + 3u);
            vec4 s;
            [[unroll]] for (uint j = 0u; j < 4u; j++)
                s[j] = dot(a, w[j][0]) + dot(b, w[j][1]) + dot(c, w[j][2]) + dot(d, w[j][3]);
            acc[i] += s;
        }
    }
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        uint m = m0 + i;
        if (m >= p.m)
            break;
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            uint n = n0 + j;
            if (n < p.n) {
                float s = acc[i][j];
#if WTYPE == 2
                s *= wsc[n];
#endif
                s = tf_act(ACT, s + bias[n]);
                uint yi = m * p.ldy + p.ycol0 + n;
                if (ACC != 0)
                    s += y[yi];
                y[yi] = s;
            }
        }
    }
}
