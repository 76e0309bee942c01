#version 450
/*
 * copy4d.comp: strided 4-D copy with fill, used for PAD, CONCAT, SLICE,
 * TRANSPOSE (mirrors rt_ref_copy4d): for output coordinate o in dims,
 * y[ooff + o.ostr] = inside ? x[ioff + (o - ibeg).istr] : fill.
 * Bindings: 0 x, 1 y.  Push: struct rt_push_copy4d.  Spec: 0 VEC4 (the last
 * dim whole, contiguous on both sides, 4 | dims[3], every offset and
 * stride a multiple of 4: 4 elements per invocation with vec4 loads and
 * stores, so the index divisions and a CPU driver's per-lane load loops
 * are paid once per 4 elements; total counts elements either way).
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int VEC4 = 0;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 0) readonly buffer XBuf4 { vec4 x4[]; };
layout(std430, binding = 1) buffer YBuf { float y[]; };
layout(std430, binding = 1) buffer YBuf4 { vec4 y4[]; };
layout(push_constant) uniform P {
    uint dims[4], ostr[4], istr[4];
    int ibeg[4], ilim[4];
    uint ooff, ioff, total;
    float fill;
} p;

void main()
{
    uint idx = flat_index();
    if (VEC4 != 0) {
        if (idx >= p.total >> 2)
            return;
        uint q = p.dims[3] >> 2;
        uint r = idx / q, o = p.ooff + (idx % q) * 4u;
        int src = int(p.ioff) + int((idx % q) * 4u);
        bool inside = true;
        for (int d = 2; d >= 0; d--) {
            uint c = r % p.dims[d];
            r /= p.dims[d];
            o += c * p.ostr[d];
            int s = int(c) - p.ibeg[d];
            inside = inside && s >= 0 && s < p.ilim[d];
            src += s * int(p.istr[d]);
        }
        y4[o >> 2] = inside ? x4[uint(src) >> 2] : vec4(p.fill);
        return;
    }
    if (idx >= p.total)
        return;
    uint r = idx, o = p.ooff;
    int src = int(p.ioff);
    bool inside = true;
    for (int d = 3; d >= 0; d--) {
        uint c = r % p.dims[d];
        r /= p.dims[d];
        o += c * p.ostr[d];
        int s = int(c) - p.ibeg[d];
        inside = inside && s >= 0 && s < p.ilim[d];
        src += s * int(p.istr[d]);
    }
    y[o] = inside ? x[uint(src)] : p.fill;
}
