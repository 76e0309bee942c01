#version 450
/*
 * tf_eltwise.comp: elementwise ops on n floats: OP 0 y = a + b[i % nb]
 * (residual, position embedding broadcast over a batch), OP 1 y = gelu_tanh(a),
 * OP 2 y = gelu_erf(a).  Bindings: 0 a, 1 b, 2 y.  Push: struct rt_tf_push_elt.
 * Spec: 0 OP.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int OP = 0;
#include "tf_common.glsl"
layout(std430, binding = 0) readonly buffer ABuf { float a[]; };
layout(std430, binding = 1) readonly buffer BBuf { float b[]; };
layout(std430, binding = 2) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint n, nb; } p;

void main()
{
    uint i = tf_index();
    if (i >= p.n)
        return;
    if (OP == 0)
        y[i] = a[i] + b[i % p.nb];
    else
        y[i] = tf_act(OP, a[i]);
}
