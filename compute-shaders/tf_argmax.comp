#version 450
/*
 * tf_argmax.comp: index of the largest value of each row (the first one
 * on ties, NaN never wins), as uint.  One workgroup of 256 per row; pairs
 * reduced by subgroup ops on (value, index) then one shared step.
 * Bindings: 0 x, 1 out (uint).  Push: struct rt_tf_push_argmax.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 256) in;
#include "tf_common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer OBuf { uint o[]; };
layout(push_constant) uniform P { uint rows, len, ld, ooff; } p;
shared float bv[256];
shared uint bi[256];

void main()
{
    uint row = tf_group();
    if (row >= p.rows)
        return;
    uint tid = gl_LocalInvocationID.x;
    float v = -1.0 / 0.0;
    uint best = 0xffffffffu;
    for (uint j = tid; j < p.len; j += 256u) {
        float a = x[row * p.ld + j];
        if (a > v || (best == 0xffffffffu && !isnan(a))) {
            v = a;
            best = j;
        }
    }
    float mv = subgroupMax(best == 0xffffffffu ? -1.0 / 0.0 : v);
    uint mi = subgroupMin(best != 0xffffffffu && v == mv ? best : 0xffffffffu);
    if (subgroupElect()) {
        bv[gl_SubgroupID] = mv;
        bi[gl_SubgroupID] = mi;
    }
    barrier();
    if (tid == 0u) {
        float fv = bv[0];
        uint fi = bi[0];
        for (uint g = 1u; g < gl_NumSubgroups; g++)
            if (bi[g] != 0xffffffffu && (fi == 0xffffffffu || bv[g] > fv || (bv[g] == fv && bi[g] < fi))) {
                fv = bv[g];
                fi = bi[g];
            }
        o[p.ooff + row] = fi == 0xffffffffu ? 0u : fi;
    }
}
