#version 450
/*
 * tf_layernorm.comp: y = (x - mean) / sqrt(var + eps) * w + b per row
 * (biased variance, two passes over the row for accuracy).  One
 * workgroup of 64 per row; sums by subgroupAdd plus one shared step.
 * Bindings: 0 x, 1 w, 2 b, 3 y.  Push: struct rt_tf_push_ln.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 64) in;
#include "tf_common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) readonly buffer WBuf { float w[]; };
layout(std430, binding = 2) readonly buffer BBuf { float b[]; };
layout(std430, binding = 3) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint rows, dim, ldx, ldy; float eps; } p;
shared float part[2][64];

float wg_sum(float v, uint slot)
{
    float s = subgroupAdd(v);
    if (subgroupElect())
        part[slot][gl_SubgroupID] = s;
    barrier();
    float t = 0.0;
    for (uint g = 0u; g < gl_NumSubgroups; g++)
        t += part[slot][g];
    return t;
}

void main()
{
    uint row = tf_group();
    if (row >= p.rows)
        return;
    uint tid = gl_LocalInvocationID.x, xo = row * p.ldx, yo = row * p.ldy;
    float s = 0.0;
    for (uint i = tid; i < p.dim; i += 64u)
        s += x[xo + i];
    float mean = wg_sum(s, 0u) / float(p.dim);
    float q = 0.0;
    for (uint i = tid; i < p.dim; i += 64u) {
        float d = x[xo + i] - mean;
        q += d * d;
    }
    float inv = inversesqrt(wg_sum(q, 1u) / float(p.dim) + p.eps);
    for (uint i = tid; i < p.dim; i += 64u)
        y[yo + i] = (x[xo + i] - mean) * inv * w[i] + b[i];
}
