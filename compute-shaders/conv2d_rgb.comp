#version 450
// vkv-variant: conv2d_rgb_f32 WTYPE=0,TEXEL=1
// vkv-variant: conv2d_rgb_f16 WTYPE=1,TEXEL=1
// vkv-variant: conv2d_rgb_i8 WTYPE=2,TEXEL=1
/*
 * conv2d_rgb.comp: direct convolution of an RGB-like input layer on CPU
 * devices (groups 1, at most 4 input channels, undilated):
 * every output channel of OXB columns per invocation.  Kernel size,
 * stride and channel counts are spec constants and every loop is unrolled,
 * so each weight's texel index is a compile-time constant: llvmpipe's
 * per-lane gather of a texel then has eight equal addresses and LLVM folds
 * it into one load and a broadcast.  Measured on lavapipe (BlazeFace's
 * 3->24 5x5 stride 2): 1.37 ms against 3.36-3.41 ms for conv2d_tx's CQ
 * path, whose weight index depends on the invocation; the same kernel with
 * the weights in a uniform buffer at the same constant offsets was no
 * faster than conv2d_tx (3.0 ms): this driver gathers those per lane.
 * The input row segment under the OXB columns is loaded once per (row,
 * input channel) and shared by the KW taps, as in conv2d's SWR path.
 * Bindings: 0 x[N,H,W,C] as an R32F uniform texel buffer, 1 w[KH,KW,CG,CO]
 * as an RGBA32F / RGBA16F / RGBA8I uniform texel buffer (WTYPE, see
 * include/weights.glsl), 2 bias[CO] f32, 3 scale[CO] f32 (int8 only),
 * 4 y[N,OH,OW,CO] f32, 5 residual (RES, the output's shape).  Push: struct rt_push_conv (n, h, w, c, oh, ow, sh, pt, pl, alpha,
 * beta used).  Spec: 0 ACT, 1 KH, 2 KW, 3 SW (column stride), 4 Q (CO / 4),
 * 5 CG (input channels), 6 RES, 7 unused, 8 OXB (output columns per
 * invocation, 1..4; the host keeps Q * OXB <= 24 vec4 accumulators).
 * Grid: x = column blocks (8 per workgroup row), y = n * OH + oy (8 per
 * workgroup); workgroup 8x8.  Trip count: none (fully unrolled).
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 8, local_size_y = 8) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const uint KH = 1;
layout(constant_id = 2) const uint KW = 1;
layout(constant_id = 3) const uint SW = 1;
layout(constant_id = 4) const uint Q = 1;
layout(constant_id = 5) const uint CG = 1;
layout(constant_id = 6) const int RES = 0;
layout(constant_id = 8) const uint OXB = 4;
#include "common.glsl"
#include "weights.glsl"
#include "residual.glsl"
layout(binding = 0) uniform samplerBuffer xtex;
layout(std430, binding = 2) readonly buffer BBuf4 { vec4 bias4[]; };
layout(std430, binding = 4) writeonly buffer YBuf4 { vec4 y4[]; };
layout(push_constant) uniform P {
    uint n, h, w, c, oh, ow, co, kh, kw, cg, cog, sh, sw, dh, dw;
    int pt, pl;
    float alpha, beta;
} p;

vec4 act4(vec4 v)
{
    return vec4(apply_act(ACT, v.x, p.alpha, p.beta), apply_act(ACT, v.y, p.alpha, p.beta),
                apply_act(ACT, v.z, p.alpha, p.beta), apply_act(ACT, v.w, p.alpha, p.beta));
}

void main()
{
    uint z = gl_GlobalInvocationID.y;
    uint ox0 = gl_GlobalInvocationID.x * OXB;
    if (z >= p.n * p.oh || ox0 >= p.ow)
        return;
    uint oy = z % p.oh, n = z / p.oh;
    const uint SPAN = (OXB - 1u) * SW + KW;
    vec4 acc[OXB * Q];
    [[unroll]] for (uint o = 0u; o < OXB * Q; o++)
        acc[o] = vec4(0.0);
    int ix0 = int(ox0 * SW) - p.pl;
    [[unroll]] for (uint ky = 0u; ky < KH; ky++) {
        int iy = int(oy * p.sh + ky) - p.pt;
        if (iy < 0 || iy >= int(p.h))
            continue;
        uint rb = (n * p.h + uint(iy)) * p.w;
        [[unroll]] for (uint ci = 0u; ci < CG; ci++) {
            float row[SPAN];
            [[unroll]] for (uint j = 0u; j < SPAN; j++) {
                int ix = ix0 + int(j);
                row[j] = ix >= 0 && ix < int(p.w) ? texelFetch(xtex, int((rb + uint(ix)) * p.c + ci)).x
                                                 : 0.0;
            }
            [[unroll]] for (uint kx = 0u; kx < KW; kx++)
                [[unroll]] for (uint q = 0u; q < Q; q++) {
                    /* a constant offset: one load per SIMD row, broadcast */
                    vec4 wv = wraw4((((ky * KW + kx) * CG + ci) * Q + q) * 4u);
                    [[unroll]] for (uint o = 0u; o < OXB; o++)
                        acc[q * OXB + o] += row[o * SW + kx] * wv;
                }
        }
    }
    [[unroll]] for (uint q = 0u; q < Q; q++) {
        vec4 s = wscale4(4u * q), b = bias4[q];
        [[unroll]] for (uint o = 0u; o < OXB; o++)
            if (ox0 + o < p.ow) {
                uint i4 = ((n * p.oh + oy) * p.ow + ox0 + o) * Q + q;
                y4[i4] = act4(acc[q * OXB + o] * s + b + resid4(i4));
            }
    }
}
