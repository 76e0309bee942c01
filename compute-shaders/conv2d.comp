#version 450
// vkv-variant: conv2d_f32 WTYPE=0
// vkv-variant: conv2d_f16 WTYPE=1
// vkv-variant: conv2d_i8 WTYPE=2
// vkv-variant: conv2d_tx_f32 WTYPE=0,TEXEL=1
// vkv-variant: conv2d_tx_f16 WTYPE=1,TEXEL=1
// vkv-variant: conv2d_tx_i8 WTYPE=2,TEXEL=1
/*
 * conv2d.comp: direct convolution, any stride/dilation/padding/groups.
 * Grid x = output channel (quads with VEC4), y = output column,
 * z = n * OH + oy.  VEC4 (output channels per group % 4 == 0) computes 4
 * output channels x 4 columns per invocation (one vec4 weight load feeds 4
 * columns).  Trip count per invocation: KH*KW*(CG+1) (host keeps < 60000).
 * Bindings: 0 x[N,H,W,C] f32, 1 w[KH,KW,CG,CO] (WTYPE), 2 bias[CO] f32,
 * 3 scale[CO] f32 (int8 only), 4 y[N,OH,OW,CO] f32, 5 residual (RES).
 * Spec 2, 3: KH, KW (unrolled taps); 4: RES; 5: CQ, output channel quads
 * per invocation on the VEC4 path (host: (CO per group / 4) % CQ == 0): a
 * small reduction (the first layer's 3 input channels) then feeds 4*CQ
 * channels from each x load instead of 4.
 * Spec 6: RESC, the residual's channel count when it is narrower than CO
 * (its missing channels read 0; include/residual.glsl), 0 = CO.
 * Spec 7: SWR, the column stride on the CQ > 1 path without dilation
 * (0 = off): the input row segment under the OXB columns is loaded once per
 * (row, input channel) and shared by the KW taps (BlazeFace's 5x5 stride 2:
 * 11 loads instead of 20).
 * TEXEL variants (conv2d_tx_*, VEC4 only) read x (R32F) and w as texel buffers.
 * Push: struct rt_push_conv.  Spec: 0 ACT, 1 VEC4.  Workgroup 8x8.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 8, local_size_y = 8) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int VEC4 = 0;
/* kernel size as spec constants so the driver unrolls the tap loops */
layout(constant_id = 2) const uint KH = 1;
layout(constant_id = 3) const uint KW = 1;
layout(constant_id = 4) const int RES = 0;
layout(constant_id = 5) const uint CQ = 1;
layout(constant_id = 6) const uint RESC = 0;
layout(constant_id = 7) const uint SWR = 0;
#define RES_NARROW 1
#include "common.glsl"
#include "weights.glsl"
#include "residual.glsl"
#if TEXEL
/* x as an R32F uniform texel buffer (TEXEL variants, VEC4 only; see gemm.comp) */
layout(binding = 0) uniform samplerBuffer xtex;
float xload(uint i) { return texelFetch(xtex, int(i)).x; }
#else
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
float xload(uint i) { return x[i]; }
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

const uint OXB = 4u; /* output columns per invocation (VEC4 path) */

vec4 act4(vec4 v)
{
    return vec4(apply_act(ACT, v.x, p.alpha, p.beta), apply_act(ACT, v.y, p.alpha, p.beta),
                apply_act(ACT, v.z, p.alpha, p.beta), apply_act(ACT, v.w, p.alpha, p.beta));
}

void main()
{
    uint z = gl_GlobalInvocationID.z;
    uint oy = z % p.oh, n = z / p.oh;
    if (VEC4 != 0) {
        /* 4*CQ output channels x OXB columns: one vec4 weight load feeds OXB
           columns, one x load 4*CQ channels */
        /* CQ > 1: few channel blocks, so the SIMD lanes (x) take the columns */
        uvec2 gi = CQ > 1u ? gl_GlobalInvocationID.yx : gl_GlobalInvocationID.xy;
        uint oc = gi.x * 4u * CQ, ox0 = gi.y * OXB;
        if (oc >= p.co || ox0 >= p.ow)
            return;
        uint g = oc / p.cog;
        vec4 acc[OXB * CQ];
        for (uint o = 0u; o < OXB * CQ; o++)
            acc[o] = vec4(0.0);
        if (SWR != 0u) {
            const uint SPAN = (OXB - 1u) * SWR + KW;
            int ix0 = int(ox0 * SWR) - p.pl;
            for (uint ky = 0u; ky < KH; ky++) {
                int iy = int(oy * p.sh + ky * p.dh) - p.pt;
                if (iy < 0 || iy >= int(p.h))
                    continue;
                uint rb = (n * p.h + uint(iy)) * p.w, wb = ky * KW * p.cg * p.co + oc;
                for (uint ci = 0u; ci < p.cg; ci++) {
                    float row[SPAN];
                    [[unroll]] for (uint j = 0u; j < SPAN; j++) {
                        int ix = ix0 + int(j);
                        row[j] = ix >= 0 && ix < int(p.w)
                                     ? xload((rb + uint(ix)) * p.c + g * p.cg + ci)
                                     : 0.0;
                    }
                    [[unroll]] for (uint kx = 0u; kx < KW; kx++)
                        [[unroll]] for (uint q = 0u; q < CQ; q++) {
                            vec4 wv = wraw4(wb + (kx * p.cg + ci) * p.co + 4u * q);
                            [[unroll]] for (uint o = 0u; o < OXB; o++)
                                acc[q * OXB + o] += row[o * SWR + kx] * wv;
                        }
                }
            }
        }
        for (uint ky = 0u; SWR == 0u && ky < KH; ky++) {
            int iy = int(oy * p.sh + ky * p.dh) - p.pt;
            if (iy < 0 || iy >= int(p.h))
                continue;
            uint rb = (n * p.h + uint(iy)) * p.w;
            for (uint kx = 0u; kx < KW; kx++) {
                uint xb[OXB];
                bool ok[OXB];
                for (uint o = 0u; o < OXB; o++) {
                    int ix = int((ox0 + o) * p.sw + kx * p.dw) - p.pl;
                    ok[o] = ix >= 0 && ix < int(p.w) && ox0 + o < p.ow;
                    xb[o] = ok[o] ? (rb + uint(ix)) * p.c + g * p.cg : 0u;
                }
                uint wb = (ky * KW + kx) * p.cg * p.co + oc;
                for (uint ci = 0u; ci < p.cg; ci++) {
                    float xv[OXB];
                    [[unroll]] for (uint o = 0u; o < OXB; o++)
                        xv[o] = ok[o] ? xload(xb[o] + ci) : 0.0;
                    /* forced: with CQ > 1 the body passes the driver's
                       unrolling limit, and a dynamically indexed acc[]
                       would live in memory */
                    [[unroll]] for (uint q = 0u; q < CQ; q++) {
                        vec4 wv = wraw4(wb + ci * p.co + 4u * q);
                        [[unroll]] for (uint o = 0u; o < OXB; o++)
                            acc[q * OXB + o] += xv[o] * wv;
                    }
                }
            }
        }
        for (uint q = 0u; q < CQ; q++) {
            vec4 s = wscale4(oc + 4u * q), b = bias4[(oc >> 2) + q];
            for (uint o = 0u; o < OXB; o++)
                if (ox0 + o < p.ow) {
                    uint pix = (n * p.oh + oy) * p.ow + ox0 + o;
                    uint i4 = ((pix * p.co + oc) >> 2) + q;
                    vec4 r = RESC != 0u ? resid4n(pix, oc + 4u * q) : resid4(i4);
                    y4[i4] = act4(acc[q * OXB + o] * s + b + r);
                }
        }
        return;
    }
#if !TEXEL
    uint ox = gl_GlobalInvocationID.y, oc = gl_GlobalInvocationID.x;
    if (oc >= p.co || ox >= p.ow)
        return;
    uint g = oc / p.cog;
    float acc = 0.0;
    for (uint ky = 0u; ky < KH; ky++) {
        int iy = int(oy * p.sh + ky * p.dh) - p.pt;
        if (iy < 0 || iy >= int(p.h))
            continue;
        for (uint kx = 0u; kx < KW; kx++) {
            int ix = int(ox * p.sw + kx * p.dw) - p.pl;
            if (ix < 0 || ix >= int(p.w))
                continue;
            uint xb = ((n * p.h + uint(iy)) * p.w + uint(ix)) * p.c + g * p.cg;
            uint wb = (ky * KW + kx) * p.cg * p.co + oc;
            for (uint ci = 0u; ci < p.cg; ci++)
                acc += x[xb + ci] * wraw(wb + ci * p.co);
        }
    }
    uint pix = (n * p.oh + oy) * p.ow + ox, yi = pix * p.co + oc;
    float r = RESC != 0u ? residn(pix, oc) : resid(yi);
    y[yi] = apply_act(ACT, acc * wscale(oc) + bias[oc] + r, p.alpha, p.beta);
#endif
}
