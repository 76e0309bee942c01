#version 450
/*
 * tf_copy.comp: strided 4-D copy y[doff + sum i_k * ds_k] = x[soff + sum i_k * ss_k]
 * for i < dims (element strides; concatenation = one copy per part into
 * offset destinations; crop reassembly = copies of row ranges).  One
 * invocation per element, dims[3] fastest.
 * Bindings: 0 x, 1 y.  Push: struct rt_tf_push_copy.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "tf_common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint dims[4], ss[4], ds[4]; uint soff, doff, total; } p;

void main()
{
    uint idx = tf_index();
    if (idx >= p.total)
        return;
    uint r = idx, si = p.soff, di = p.doff;
    for (int k = 3; k >= 0; k--) {
        uint i = r % p.dims[k];
        r /= p.dims[k];
        si += i * p.ss[k];
        di += i * p.ds[k];
    }
    y[di] = x[si];
}
