#version 450
/*
 * global_avg.comp: [N,H,W,C] -> [N,1,1,C].  One workgroup of 64 per
 * (n, c): each invocation sums hw/64 pixels, then a shared-memory tree.
 * Bindings: 0 x, 1 y.  Push: struct rt_push_gavg.  Grid: n*c groups (2-D folded).
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint n, hw, c; } p;
shared float part[64];

void main()
{
    uint gid = flat_group();
    uint t = gl_LocalInvocationID.x;
    bool live = gid < p.n * p.c;
    uint n = gid / p.c, c = gid % p.c;
    float s = 0.0;
    if (live)
        for (uint i = t; i < p.hw; i += 64u)
            s += x[(n * p.hw + i) * p.c + c];
    part[t] = s;
    barrier();
    for (uint w = 32u; w > 0u; w >>= 1) {
        if (t < w)
            part[t] += part[t + w];
        barrier();
    }
    if (t == 0u && live)
        y[gid] = part[0] / float(p.hw);
}
