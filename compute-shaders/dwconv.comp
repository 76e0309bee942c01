#version 450
// vkv-variant: dwconv_f32 WTYPE=0
// vkv-variant: dwconv_f16 WTYPE=1
// vkv-variant: dwconv_i8 WTYPE=2
// vkv-variant: dwconv_tx_f32 WTYPE=0,TEXEL=1
// vkv-variant: dwconv_tx_f16 WTYPE=1,TEXEL=1
// vkv-variant: dwconv_tx_i8 WTYPE=2,TEXEL=1
/*
 * dwconv.comp: depthwise convolution (groups == C, CO = C * mult).  Grid
 * x = output channel (quads with VEC4), y = output column (blocks of OXB
 * with VEC4), z = n * OH + oy, so no per-invocation division by shapes.
 * VEC4 (mult == 1, C % 4 == 0) processes 4 channels x OXB columns per
 * invocation: each input row segment is loaded once into registers and
 * reused by the OXB outputs and KW taps (loads, not FMAs, are what cost on
 * CPU drivers).  Trip count (KH*KW or KH*SPAN) is tiny; KH, KW, SW, DW are
 * spec constants so the driver unrolls everything.
 * Bindings: 0 x, 1 w[KH,KW,1,CO] (WTYPE), 2 bias, 3 scale, 4 y, 5 residual (RES).
 * TEXEL variants (dwconv_tx_*, VEC4 only) read x and w as texel buffers.
 * Push: struct rt_push_conv (cog = mult).
 * Spec: 0 ACT, 1 VEC4, 2 KH, 3 KW, 4 SW, 5 DW, 6 RES, 7 FLATQ.  Workgroup 8x8.
 * FLATQ (VEC4 only, the channel quad count, 0 = off): the 64 invocations of
 * a workgroup are one flat run over (column block, channel quad), quads
 * fastest, with grid (ceil(quads * blocks / 64), 1, n * OH).  llvmpipe runs
 * 8 consecutive invocations as one SIMD vector, so with 6 or 12 quads (24
 * or 48 channels) the 8x8 grid left a quarter of the lanes idle; the flat
 * run fills them.  FLATQ is a spec constant so the division is by a constant.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 8, local_size_y = 8) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int VEC4 = 0;
layout(constant_id = 2) const uint KH = 1;
layout(constant_id = 3) const uint KW = 1;
layout(constant_id = 4) const uint SW = 1;
layout(constant_id = 5) const uint DW = 1;
layout(constant_id = 6) const int RES = 0;
layout(constant_id = 7) const uint FLATQ = 0;
const uint OXB = 4u;
const uint SPAN = (OXB - 1u) * SW + (KW - 1u) * DW + 1u;
#include "common.glsl"
#include "weights.glsl"
#include "residual.glsl"
#if TEXEL
/* x as an RGBA32F uniform texel buffer (TEXEL variants, VEC4 only; see gemm.comp) */
layout(binding = 0) uniform samplerBuffer xtex;
vec4 xload4(uint i4) { return texelFetch(xtex, int(i4)); }
#else
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 0) readonly buffer XBuf4 { vec4 x4[]; };
vec4 xload4(uint i4) { return x4[i4]; }
#endif
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 2) readonly buffer BBuf4 { vec4 bias4[]; };
layout(std430, binding = 4) writeonly buffer YBuf { float y[]; };
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
    uint z = gl_GlobalInvocationID.z;
    uint oy = z % p.oh, n = z / p.oh;
    int iy0 = int(oy * p.sh) - p.pt;
    if (VEC4 != 0) {
        uint c4 = gl_GlobalInvocationID.x, ox0 = gl_GlobalInvocationID.y * OXB;
        if (FLATQ != 0u) {
            uint f = gl_WorkGroupID.x * 64u + gl_LocalInvocationIndex;
            c4 = f % FLATQ;
            ox0 = (f / FLATQ) * OXB;
        }
        if (c4 * 4u >= p.co || ox0 >= p.ow)
            return;
        uint cq = p.c >> 2;
        int ix0 = int(ox0 * SW) - p.pl;
        vec4 acc[OXB];
        for (uint o = 0u; o < OXB; o++)
            acc[o] = vec4(0.0);
        for (uint ky = 0u; ky < KH; ky++) {
            int iy = iy0 + int(ky * p.dh);
            if (iy < 0 || iy >= int(p.h))
                continue;
            uint rb = (n * p.h + uint(iy)) * p.w;
            vec4 row[SPAN];
            for (uint j = 0u; j < SPAN; j++) {
                int ix = ix0 + int(j);
                row[j] = (ix >= 0 && ix < int(p.w)) ? xload4((rb + uint(ix)) * cq + c4) : vec4(0.0);
            }
            for (uint kx = 0u; kx < KW; kx++) {
                vec4 wv = wraw4((ky * KW + kx) * p.co + c4 * 4u);
                for (uint o = 0u; o < OXB; o++)
                    acc[o] += row[o * SW + kx * DW] * wv;
            }
        }
        vec4 s = wscale4(c4 * 4u), b = bias4[c4];
        for (uint o = 0u; o < OXB; o++)
            if (ox0 + o < p.ow)
            {
                uint i4 = ((n * p.oh + oy) * p.ow + ox0 + o) * cq + c4;
                y4[i4] = act4(acc[o] * s + b + resid4(i4));
            }
        return;
    }
#if !TEXEL
    uint ox = gl_GlobalInvocationID.y, oc = gl_GlobalInvocationID.x;
    if (oc >= p.co || ox >= p.ow)
        return;
    int ix0 = int(ox * p.sw) - p.pl;
    uint ci = oc / p.cog;
    float acc = 0.0;
    for (uint ky = 0u; ky < KH; ky++) {
        int iy = iy0 + int(ky * p.dh);
        for (uint kx = 0u; kx < KW; kx++) {
            int ix = ix0 + int(kx * p.dw);
            if (iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w))
                acc += x[((n * p.h + uint(iy)) * p.w + uint(ix)) * p.c + ci] *
                       wraw((ky * KW + kx) * p.co + oc);
        }
    }
    uint yi = ((n * p.oh + oy) * p.ow + ox) * p.co + oc;
    y[yi] = apply_act(ACT, acc * wscale(oc) + bias[oc] + resid(yi), p.alpha, p.beta);
#endif
}
