#version 450
/*
 * batchnorm.comp: y = act(x * s[c] + t[c]), c = index % C (last dim).
 * Bindings: 0 x, 1 s[C], 2 t[C], 3 y.  Push: struct rt_push_unary.  Spec: 0 ACT.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int ACT = 0;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) readonly buffer SBuf { float s[]; };
layout(std430, binding = 2) readonly buffer TBuf { float t[]; };
layout(std430, binding = 3) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint total, c; float alpha, beta; } p;

void main()
{
    uint idx = flat_index();
    if (idx >= p.total)
        return;
    uint c = idx % p.c;
    y[idx] = apply_act(ACT, x[idx] * s[c] + t[c], p.alpha, p.beta);
}
