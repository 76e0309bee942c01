#version 450
/*
 * dwconv.comp: depthwise convolution (groups == C, CO = C * mult).  Grid
 * x = output channel (quads with VEC4), y = output column, z = n * OH + oy,
 * so no per-invocation division by shapes.  VEC4 (mult == 1, C % 4 == 0)
 * processes 4 channels per invocation with vec4 loads.  Trip count KH*KW.
 * Bindings: 0 x, 1 w[KH,KW,1,CO] (WTYPE), 2 bias, 3 scale, 4 y.
 * Push: struct rt_push_conv (cog = mult).  Spec: 0 ACT, 1 VEC4.  Workgroup 8x8.
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
layout(std430, binding = 2) readonly buffer BBuf4 { vec4 bias4[]; };
layout(std430, binding = 4) writeonly buffer YBuf { float y[]; };
layout(std430, binding = 4) writeonly buffer YBuf4 { vec4 y4[]; };
layout(push_constant) uniform P {
    uint n, h, w, c, oh, ow, co, kh, kw, cg, cog, sh, sw, dh, dw;
    int pt, pl;
    float alpha, beta;
} p;

void main()
{
    uint ox = gl_GlobalInvocationID.y, z = gl_GlobalInvocationID.z;
    uint oy = z % p.oh, n = z / p.oh;
    int iy0 = int(oy * p.sh) - p.pt, ix0 = int(ox * p.sw) - p.pl;
    if (VEC4 != 0) {
        uint c4 = gl_GlobalInvocationID.x;
        if (c4 * 4u >= p.co || ox >= p.ow)
            return;
        vec4 acc = vec4(0.0);
        uint cq = p.c >> 2;
        for (uint ky = 0u; ky < p.kh; ky++) {
            int iy = iy0 + int(ky * p.dh);
            for (uint kx = 0u; kx < p.kw; kx++) {
                int ix = ix0 + int(kx * p.dw);
                if (iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w))
                    acc += x4[((n * p.h + uint(iy)) * p.w + uint(ix)) * cq + c4] *
                           wraw4((ky * p.kw + kx) * p.co + c4 * 4u);
            }
        }
        vec4 v = acc * wscale4(c4 * 4u) + bias4[c4];
        y4[((n * p.oh + oy) * p.ow + ox) * cq + c4] =
            vec4(apply_act(ACT, v.x, p.alpha, p.beta), apply_act(ACT, v.y, p.alpha, p.beta),
                 apply_act(ACT, v.z, p.alpha, p.beta), apply_act(ACT, v.w, p.alpha, p.beta));
        return;
    }
    uint oc = gl_GlobalInvocationID.x;
    if (oc >= p.co || ox >= p.ow)
        return;
    uint ci = oc / p.cog;
    float acc = 0.0;
    for (uint ky = 0u; ky < p.kh; ky++) {
        int iy = iy0 + int(ky * p.dh);
        for (uint kx = 0u; kx < p.kw; kx++) {
            int ix = ix0 + int(kx * p.dw);
            if (iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w))
                acc += x[((n * p.h + uint(iy)) * p.w + uint(ix)) * p.c + ci] *
                       wraw((ky * p.kw + kx) * p.co + oc);
        }
    }
    y[((n * p.oh + oy) * p.ow + ox) * p.co + oc] =
        apply_act(ACT, acc * wscale(oc) + bias[oc], p.alpha, p.beta);
}
