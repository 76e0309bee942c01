#version 450
/*
 * binary.comp: ADD/SUB/MUL/DIV/MAX/MIN with numpy broadcasting over 4
 * right-aligned dims, with a fused activation.
 * Bindings: 0 a f32, 1 b f32, 2 y f32.  Push: struct rt_push_binary.
 * Spec: 0 ACT, 1 OP (0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min).  Workgroup 64.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int OP = 0;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer ABuf { float a[]; };
layout(std430, binding = 1) readonly buffer BBuf { float b[]; };
layout(std430, binding = 2) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P {
    uint total;
    uint od[4], as[4], bs[4];
    float alpha, beta;
} p;

void main()
{
    uint idx = flat_index();
    if (idx >= p.total)
        return;
    uint r = idx, ia = 0u, ib = 0u;
    for (int d = 3; d >= 0; d--) {
        uint c = r % p.od[d];
        r /= p.od[d];
        ia += c * p.as[d];
        ib += c * p.bs[d];
    }
    float u = a[ia], v = b[ib], o;
    if (OP == 0) o = u + v;
    else if (OP == 1) o = u - v;
    else if (OP == 2) o = u * v;
    else if (OP == 3) o = u / v;
    else if (OP == 4) o = max(u, v);
    else o = min(u, v);
    y[idx] = apply_act(ACT, o, p.alpha, p.beta);
}
