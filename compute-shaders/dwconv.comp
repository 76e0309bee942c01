#version 450
/*
 * dwconv.comp: depthwise convolution (groups == C, CO = C * mult), one
 * output element per invocation; trip count KH*KW.
 * Bindings: 0 x, 1 w[KH,KW,1,CO] (WTYPE), 2 bias, 3 scale, 4 y.
 * Push: struct rt_push_conv (cog = mult).  Spec: 0 ACT.  Workgroup 64.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int ACT = 0;
#include "common.glsl"
#include "weights.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 4) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P {
    uint n, h, w, c, oh, ow, co, kh, kw, cg, cog, sh, sw, dh, dw;
    int pt, pl;
    float alpha, beta;
} p;

void main()
{
    uint idx = flat_index();
    if (idx >= p.n * p.oh * p.ow * p.co)
        return;
    uint oc = idx % p.co;
    uint r = idx / p.co;
    uint ox = r % p.ow;
    r /= p.ow;
    uint oy = r % p.oh;
    uint n = r / p.oh;
    uint ci = oc / p.cog;
    float acc = 0.0;
    int iy0 = int(oy * p.sh) - p.pt, ix0 = int(ox * p.sw) - p.pl;
    for (uint ky = 0u; ky < p.kh; ky++) {
        int iy = iy0 + int(ky * p.dh);
        for (uint kx = 0u; kx < p.kw; kx++) {
            int ix = ix0 + int(kx * p.dw);
            if (iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w))
                acc += x[((n * p.h + uint(iy)) * p.w + uint(ix)) * p.c + ci] *
                       wraw((ky * p.kw + kx) * p.co + oc);
        }
    }
    y[idx] = apply_act(ACT, acc * wscale(oc) + bias[oc], p.alpha, p.beta);
}
