#version 450
// vkv-variant: tf_attn_dec_h64 HD=64
// vkv-variant: tf_attn_dec_h72 HD=72
// vkv-variant: tf_attn_dec_h64_kvh HD=64,KVH=1
// vkv-variant: tf_attn_dec_h72_kvh HD=72,KVH=1
/*
 * tf_attn_dec.comp: attention of one query per head against a KV cache
 * (decode): keys and values 0 .. n-1 with n = state[st] + 1, all visible.
 * One workgroup of 256 per head: scores into shared memory (n <= 4096),
 * max and sum by subgroup ops plus a shared step, then 256 invocations
 * split (vec4 of the head, key residue class) to sum p * v, and a shared
 * reduction over the classes.  Layout as tf_attn.comp (b = 0).
 * KVH=1: k and v are IEEE halves (fp16 KV cache; offsets and strides still in elements).
 * Bindings: 0 q, 1 k, 2 v, 3 o, 4 state.  Push: struct rt_tf_push_attn (t = 1).
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 256) in;
#ifndef HD
#define HD 64
#endif
#define HD4 (HD / 4)
#define MAXN 4096
layout(std430, binding = 0) readonly buffer QBuf { vec4 q4[]; };
#ifndef KVH
#define KVH 0
#endif
#if KVH /* keys and values stored as IEEE halves (an fp16 KV cache) */
layout(std430, binding = 1) readonly buffer KBuf { uvec2 k2[]; };
layout(std430, binding = 2) readonly buffer VBuf { uvec2 v2[]; };
#define KL(i) vec4(unpackHalf2x16(k2[i].x), unpackHalf2x16(k2[i].y))
#define VL(i) vec4(unpackHalf2x16(v2[i].x), unpackHalf2x16(v2[i].y))
#else
layout(std430, binding = 1) readonly buffer KBuf { vec4 k4[]; };
layout(std430, binding = 2) readonly buffer VBuf { vec4 v4[]; };
#define KL(i) k4[i]
#define VL(i) v4[i]
#endif
layout(std430, binding = 3) writeonly buffer OBuf { vec4 o4[]; };
layout(std430, binding = 4) readonly buffer SBuf { uint state[]; };
layout(push_constant) uniform P {
    uint t, st, prefix, causal;
    uint qoff, qld, qbs, koff, kld, kbs, voff, vld, vbs, ooff, old, obs;
    float scale;
} p;
shared float sc[MAXN];
shared vec4 qs[HD4];
shared float red[2][256];
shared vec4 part[256];

void main()
{
    uint tid = gl_LocalInvocationID.x, h = gl_WorkGroupID.y;
    uint n = min(state[p.st] + 1u, uint(MAXN));
    if (tid < HD4)
        qs[tid] = q4[((p.qoff + h * HD) >> 2) + tid] * p.scale;
    barrier();
    uint kb = (p.koff + h * HD) >> 2, vb = (p.voff + h * HD) >> 2;
    float m = -3.402823466e38;
    for (uint j = tid; j < n; j += 256u) {
        uint ki = kb + ((j * p.kld) >> 2);
        float s = 0.0;
        for (uint i = 0u; i < HD4; i++)
            s += dot(qs[i], KL(ki + i));
        sc[j] = s;
        m = max(m, s);
    }
    m = subgroupMax(m);
    if (subgroupElect())
        red[0][gl_SubgroupID] = m;
    barrier();
    for (uint g = 0u; g < gl_NumSubgroups; g++)
        m = max(m, red[0][g]);
    float l = 0.0;
    for (uint j = tid; j < n; j += 256u) {
        float e = exp(sc[j] - m);
        sc[j] = e;
        l += e;
    }
    l = subgroupAdd(l);
    if (subgroupElect())
        red[1][gl_SubgroupID] = l;
    barrier();
    l = 0.0;
    for (uint g = 0u; g < gl_NumSubgroups; g++)
        l += red[1][g];
    uint classes = 256u / HD4, c = tid % HD4, cls = tid / HD4;
    vec4 a = vec4(0.0);
    if (cls < classes)
        for (uint j = cls; j < n; j += classes)
            a += sc[j] * VL(vb + ((j * p.vld) >> 2) + c);
    part[tid] = a;
    barrier();
    if (tid < HD4) {
        vec4 s = vec4(0.0);
        for (uint k = 0u; k < classes; k++)
            s += part[k * HD4 + tid];
        o4[((p.ooff + h * HD) >> 2) + tid] = s / l;
    }
}
