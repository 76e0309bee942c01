#version 450
/*
 * unary.comp: ACT (activation) elementwise; also RESHAPE copies (ACT none).
 * Bindings: 0 x f32, 1 y f32.  Push: struct rt_push_unary.  Spec: 0 ACT.
 * Grid-stride loop (see common.glsl).
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
layout(constant_id = 0) const int ACT = 0;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint total, c; float alpha, beta; } p;

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * 256u;
    for (uint idx = flat_index(); idx < p.total; idx += stride)
        y[idx] = apply_act(ACT, x[idx], p.alpha, p.beta);
}
