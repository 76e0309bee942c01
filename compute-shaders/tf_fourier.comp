#version 450
/*
 * tf_fourier.comp: Fourier features as in Moondream's region head:
 * f = 2*pi * x[m, :] . w[:, j]; y[m, j] = cos f, y[m, F + j] = sin f, for
 * x [M][I] and w [I][F].  One invocation per (m, j).
 * Bindings: 0 x, 1 w, 2 y.  Push: struct rt_tf_push_fourier.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "tf_common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) readonly buffer WBuf { float w[]; };
layout(std430, binding = 2) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint m, i, f; } p;

void main()
{
    uint idx = tf_index();
    if (idx >= p.m * p.f)
        return;
    uint m = idx / p.f, j = idx % p.f;
    float s = 0.0;
    for (uint k = 0u; k < p.i; k++)
        s += x[m * p.i + k] * w[k * p.f + j];
    s *= 6.283185307179586;
    y[m * 2u * p.f + j] = cos(s);
    y[m * 2u * p.f + p.f + j] = sin(s);
}
