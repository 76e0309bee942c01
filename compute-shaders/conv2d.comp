#version 450
/*
 * conv2d.comp: direct convolution, any stride/dilation/padding/groups, one
 * output element per invocation (adjacent invocations = adjacent output
 * channels, so weight reads coalesce).  Also runs small pointwise/dense.
 * Bindings: 0 x[N,H,W,C] f32, 1 w[KH,KW,CG,CO] (WTYPE), 2 bias[CO] f32,
 * 3 scale[CO] f32 (int8 only), 4 y[N,OH,OW,CO] f32.
 * Push: struct rt_push_conv.  Spec: 0 ACT.  Workgroup 64.
 * Loop trip count per invocation: KH*KW*(CG+1) (host keeps it < 60000).
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
    uint g = oc / p.cog;
    float acc = 0.0;
    for (uint ky = 0u; ky < p.kh; ky++) {
        int iy = int(oy * p.sh + ky * p.dh) - p.pt;
        if (iy < 0 || iy >= int(p.h))
            continue;
        for (uint kx = 0u; kx < p.kw; kx++) {
            int ix = int(ox * p.sw + kx * p.dw) - p.pl;
            if (ix < 0 || ix >= int(p.w))
                continue;
            uint xb = ((n * p.h + uint(iy)) * p.w + uint(ix)) * p.c + g * p.cg;
            uint wb = (ky * p.kw + kx) * p.cg * p.co + oc;
            for (uint ci = 0u; ci < p.cg; ci++)
                acc += x[xb + ci] * wraw(wb + ci * p.co);
        }
    }
    y[idx] = apply_act(ACT, acc * wscale(oc) + bias[oc], p.alpha, p.beta);
}
