#version 450
/*
 * conv2d.comp: direct convolution, any stride/dilation/padding/groups.
 * Grid x = output channel (quads with VEC4), y = output column,
 * z = n * OH + oy.  VEC4 (output channels per group % 4 == 0) computes 4
 * output channels x 4 columns per invocation (one vec4 weight load feeds 4
 * columns).  Trip count per invocation: KH*KW*(CG+1) (host keeps < 60000).
 * Bindings: 0 x[N,H,W,C] f32, 1 w[KH,KW,CG,CO] (WTYPE), 2 bias[CO] f32,
 * 3 scale[CO] f32 (int8 only), 4 y[N,OH,OW,CO] f32, 5 residual (RES).
 * Spec 2, 3: KH, KW (unrolled taps); 4: RES.
 * TEXEL variants (conv2d_tx_*, VEC4 only) read x (R32F) and w as texel buffers.
 * Push: struct rt_push_conv.  Spec: 0 ACT, 1 VEC4.  Workgroup 8x8.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 8, local_size_y = 8) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int VEC4 = 0;
/* kernel size as spec constants so the driver unrolls the tap loops */
layout(constant_id = 2) const uint KH = 1;
layout(constant_id = 3) const uint KW = 1;
layout(constant_id = 4) const int RES = 0;
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
        /* 4 output channels x OXB columns: one vec4 weight load feeds OXB columns */
        uint oc = gl_GlobalInvocationID.x * 4u, ox0 = gl_GlobalInvocationID.y * OXB;
        if (oc >= p.co || ox0 >= p.ow)
            return;
        uint g = oc / p.cog;
        vec4 acc[OXB];
        for (uint o = 0u; o < OXB; o++)
            acc[o] = vec4(0.0);
        for (uint ky = 0u; ky < KH; ky++) {
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
                    vec4 wv = wraw4(wb + ci * p.co);
                    for (uint o = 0u; o < OXB; o++)
                        if (ok[o])
                            acc[o] += xload(xb[o] + ci) * wv;
                }
            }
        }
        vec4 s = wscale4(oc), b = bias4[oc >> 2];
        for (uint o = 0u; o < OXB; o++)
            if (ox0 + o < p.ow)
            {
                uint i4 = (((n * p.oh + oy) * p.ow + ox0 + o) * p.co + oc) >> 2;
                y4[i4] = act4(acc[o] * s + b + resid4(i4));
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
    uint yi = ((n * p.oh + oy) * p.ow + ox) * p.co + oc;
    y[yi] = apply_act(ACT, acc * wscale(oc) + bias[oc] + resid(yi), p.alpha, p.beta);
#endif
}
