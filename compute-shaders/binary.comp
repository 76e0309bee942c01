#version 450
/*
 * binary.comp: ADD/SUB/MUL/DIV/MAX/MIN with numpy broadcasting over 4
 * right-aligned dims, with a fused activation.
 * Bindings: 0 a f32, 1 b f32, 2 y f32.  Push: struct rt_push_binary.
 * Spec: 0 ACT, 1 OP (0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min), 2 MA and
 * 3 MB, how each operand is indexed (0 any broadcast: four divisions per
 * element, 1 the output's own shape, 2 one value, 3 the last dim only, of
 * od[3] values), 4 VEC4 (4 elements per invocation with vec4 loads and
 * stores: total % 4 == 0, no operand of mode 0, od[3] % 4 == 0 for mode 3).
 * The modes spare a CPU driver the per-lane integer divisions (most of an
 * elementwise op's time there) and VEC4 its per-lane load loops.
 * Workgroup 64.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int OP = 0;
layout(constant_id = 2) const int MA = 0;
layout(constant_id = 3) const int MB = 0;
layout(constant_id = 4) const int VEC4 = 0;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer ABuf { float a[]; };
layout(std430, binding = 0) readonly buffer ABuf4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer BBuf { float b[]; };
layout(std430, binding = 1) readonly buffer BBuf4 { vec4 b4[]; };
layout(std430, binding = 2) writeonly buffer YBuf { float y[]; };
layout(std430, binding = 2) writeonly buffer YBuf4 { vec4 y4[]; };
layout(push_constant) uniform P {
    uint total;
    uint od[4], as[4], bs[4];
    float alpha, beta;
} p;

float op(float u, float v)
{
    if (OP == 0) return u + v;
    if (OP == 1) return u - v;
    if (OP == 2) return u * v;
    if (OP == 3) return u / v;
    if (OP == 4) return max(u, v);
    return min(u, v);
}

vec4 op4(vec4 u, vec4 v)
{
    if (OP == 0) return u + v;
    if (OP == 1) return u - v;
    if (OP == 2) return u * v;
    if (OP == 3) return u / v;
    if (OP == 4) return max(u, v);
    return min(u, v);
}

vec4 act4(vec4 x)
{
    return vec4(apply_act(ACT, x.x, p.alpha, p.beta), apply_act(ACT, x.y, p.alpha, p.beta),
                apply_act(ACT, x.z, p.alpha, p.beta), apply_act(ACT, x.w, p.alpha, p.beta));
}

void main()
{
    uint idx = flat_index();
    if (VEC4 != 0) {
        if (idx >= p.total >> 2)
            return;
        uint cq = p.od[3] >> 2;
        vec4 u = MA == 1 ? a4[idx] : (MA == 2 ? vec4(a[0]) : a4[idx % cq]);
        vec4 v = MB == 1 ? b4[idx] : (MB == 2 ? vec4(b[0]) : b4[idx % cq]);
        y4[idx] = act4(op4(u, v));
        return;
    }
    if (idx >= p.total)
        return;
    uint ia = idx, ib = idx;
    if (MA == 0 || MB == 0) {
        uint r = idx;
        ia = 0u;
        ib = 0u;
        for (int d = 3; d >= 0; d--) {
            uint c = r % p.od[d];
            r /= p.od[d];
            ia += c * p.as[d];
            ib += c * p.bs[d];
        }
    }
    if (MA == 2) ia = 0u;
    else if (MA == 3) ia = idx % p.od[3];
    if (MB == 2) ib = 0u;
    else if (MB == 3) ib = idx % p.od[3];
    y[idx] = apply_act(ACT, op(a[ia], b[ib]), p.alpha, p.beta);
}
