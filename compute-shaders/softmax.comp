#version 450
/*
 * softmax.comp: softmax over rows of `len` elements `inner` apart, one
 * row per invocation (trip count 3*len; host keeps len <= 16384).
 * Bindings: 0 x, 1 y.  Push: struct rt_push_rows.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint outer, len, inner; } p;

void main()
{
    uint row = flat_index();
    if (row >= p.outer * p.inner)
        return;
    uint base = (row / p.inner) * p.len * p.inner + row % p.inner;
    float m = -3.402823466e38;
    for (uint k = 0u; k < p.len; k++)
        m = max(m, x[base + k * p.inner]);
    float s = 0.0;
    for (uint k = 0u; k < p.len; k++)
        s += exp(x[base + k * p.inner] - m);
    float inv = 1.0 / s;
    for (uint k = 0u; k < p.len; k++)
        y[base + k * p.inner] = exp(x[base + k * p.inner] - m) * inv;
}
