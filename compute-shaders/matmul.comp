#version 450
/*
 * matmul.comp: y[b0,b1,M,N] = act(a[.,.,M,K] b[.,.,K,N]) with broadcast
 * batch dims (strides 0), one output per invocation (host keeps K <= 60000).
 * Bindings: 0 a, 1 b, 2 y.  Push: struct rt_push_matmul.  Spec: 0 ACT.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int ACT = 0;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer ABuf { float a[]; };
layout(std430, binding = 1) readonly buffer BBuf { float b[]; };
layout(std430, binding = 2) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P {
    uint m, k, n, b0, b1, sa0, sa1, sb0, sb1;
    float alpha, beta;
} p;

void main()
{
    uint idx = flat_index();
    if (idx >= p.b0 * p.b1 * p.m * p.n)
        return;
    uint col = idx % p.n;
    uint r = idx / p.n;
    uint row = r % p.m;
    r /= p.m;
    uint i1 = r % p.b1, i0 = r / p.b1;
    uint ab = i0 * p.sa0 + i1 * p.sa1 + row * p.k;
    uint bb = i0 * p.sb0 + i1 * p.sb1 + col;
    float acc = 0.0;
    for (uint kk = 0u; kk < p.k; kk++)
        acc += a[ab + kk] * b[bb + kk * p.n];
    y[idx] = apply_act(ACT, acc, p.alpha, p.beta);
}
