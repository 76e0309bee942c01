#version 450
/*
 * tf_softmax.comp: y = softmax(x * scale) over rows of `len`, with the
 * attention mask of a prefix-LM: row r is query position pos0 + r % t;
 * column j is kept when j < kv (kv = pos0 + t) and, if causal, when
 * j < prefix or j <= the query position.  Masked entries become 0 (a row
 * with none kept is all 0).  scale = 1/temperature for sampling.  One
 * workgroup of 64 per row.  Bindings: 0 x, 1 y.  Push: struct rt_tf_push_softmax.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 64) in;
#include "tf_common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint rows, len, ld, t, pos0, prefix, causal; float scale; } p;
shared float part[2][64];

bool keep(uint j, uint q)
{
    return j < p.pos0 + p.t && (p.causal == 0u || j < p.prefix || j <= q);
}

void main()
{
    uint row = tf_group();
    if (row >= p.rows)
        return;
    uint tid = gl_LocalInvocationID.x, o = row * p.ld, q = p.pos0 + row % p.t;
    float m = -3.402823466e38;
    for (uint j = tid; j < p.len; j += 64u)
        if (keep(j, q))
            m = max(m, x[o + j] * p.scale);
    m = subgroupMax(m);
    if (subgroupElect())
        part[0][gl_SubgroupID] = m;
    barrier();
    for (uint g = 0u; g < gl_NumSubgroups; g++)
        m = max(m, part[0][g]);
    float s = 0.0;
    for (uint j = tid; j < p.len; j += 64u)
        if (keep(j, q))
            s += exp(x[o + j] * p.scale - m);
    s = subgroupAdd(s);
    if (subgroupElect())
        part[1][gl_SubgroupID] = s;
    barrier();
    s = 0.0;
    for (uint g = 0u; g < gl_NumSubgroups; g++)
        s += part[1][g];
    float inv = s > 0.0 ? 1.0 / s : 0.0;
    for (uint j = tid; j < p.len; j += 64u)
        y[o + j] = keep(j, q) ? exp(x[o + j] * p.scale - m) * inv : 0.0;
}
