#version 450
/*
 * tf_peak.comp: the device's peak multiply-add rate for the benches: each
 * invocation runs `iters` rounds of 8 independent vec4 FMA chains (32
 * FMAs per round, no memory traffic) and writes one value so nothing is
 * optimised away.  Bindings: 0 out.  Push: iters, seed.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 64) in;
#include "tf_common.glsl"
layout(std430, binding = 0) writeonly buffer OBuf { float o[]; };
layout(push_constant) uniform P { uint iters; float seed; } p;

void main()
{
    vec4 a[8];
    [[unroll]] for (int i = 0; i < 8; i++)
        a[i] = vec4(p.seed * float(i + 1), p.seed, 1.0 - p.seed, float(gl_LocalInvocationID.x));
    vec4 m = vec4(0.999), c = vec4(1e-3);
    for (uint k = 0u; k < p.iters; k++)
        [[unroll]] for (int i = 0; i < 8; i++)
            a[i] = fma(a[i], m, c);
    vec4 s = vec4(0.0);
    [[unroll]] for (int i = 0; i < 8; i++)
        s += a[i];
    o[tf_index()] = s.x + s.y + s.z + s.w;
}
