#version 450
// vkv-variant: tf_attn_h64 HD=64
// vkv-variant: tf_attn_h72 HD=72
// vkv-variant: tf_attn_h64_kvh HD=64,KVH=1
// vkv-variant: tf_attn_h72_kvh HD=72,KVH=1
/*
 * tf_attn.comp: multi-head attention for many queries (prefill, vision):
 * o = softmax(q k^T * scale + mask) v per (sequence, head), with the
 * softmax computed online (running max and sum) so no score matrix is
 * stored.  One invocation per query row; the 64 queries of a workgroup
 * share key/value tiles of 32 positions in shared memory.  Head size HD is
 * a build-time define (variants tf_attn_h64, tf_attn_h72) so the per-key
 * dot products unroll: the trip count per invocation is about one per key,
 * under llvmpipe's loop limit for any context up to 32k.
 * Mask: queries are positions pos0 + t (pos0 = state[st]); keys j < pos0 + t_len;
 * with causal != 0 key j is seen when j < prefix or j <= query position
 * (a prefix attended both ways, then causal).  Element (b, row, head h, d)
 * of q/k/v/o is at off + b * bs + row * ld + h * HD + d.
 * KVH=1: k and v are IEEE halves (fp16 KV cache; offsets and strides still in elements).
 * Bindings: 0 q, 1 k, 2 v, 3 o, 4 state (uint).  Push: struct rt_tf_push_attn.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 64) in;
#ifndef HD
#define HD 64
#endif
#define HD4 (HD / 4)
#define TILE 32
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
shared vec4 ks[TILE * HD4], vs[TILE * HD4];

void main()
{
    uint tid = gl_LocalInvocationID.x, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    uint row = gl_WorkGroupID.x * 64u + tid;
    uint pos0 = state[p.st], kv = pos0 + p.t;
    uint qpos = pos0 + min(row, p.t - 1u);
    /* keys any query of this workgroup may see (uniform: barriers below) */
    uint last = pos0 + min(gl_WorkGroupID.x * 64u + 63u, p.t - 1u);
    uint end = p.causal != 0u ? min(kv, max(p.prefix, last + 1u)) : kv;
    vec4 q[HD4], acc[HD4];
    uint qi = (p.qoff + b * p.qbs + min(row, p.t - 1u) * p.qld + h * HD) >> 2;
    [[unroll]] for (uint i = 0u; i < HD4; i++) {
        q[i] = q4[qi + i] * p.scale;
        acc[i] = vec4(0.0);
    }
    float m = -3.402823466e38, l = 0.0;
    uint kb = (p.koff + b * p.kbs + h * HD) >> 2, vb = (p.voff + b * p.vbs + h * HD) >> 2;
    for (uint j0 = 0u; j0 < end; j0 += TILE) {
        barrier();
        for (uint i = tid; i < TILE * HD4; i += 64u) {
            uint j = j0 + i / HD4, c = i % HD4;
            bool in_ = j < end;
            ks[i] = in_ ? KL(kb + ((j * p.kld) >> 2) + c) : vec4(0.0);
            vs[i] = in_ ? VL(vb + ((j * p.vld) >> 2) + c) : vec4(0.0);
        }
        barrier();
        uint n = min(uint(TILE), end - j0);
        for (uint jj = 0u; jj < n; jj++) {
            uint j = j0 + jj;
            if (p.causal != 0u && j >= p.prefix && j > qpos)
                continue;
            float s = 0.0;
            [[unroll]] for (uint i = 0u; i < HD4; i++)
                s += dot(q[i], ks[jj * HD4 + i]);
            float mn = max(m, s);
            float c = exp(m - mn), e = exp(s - mn);
            l = l * c + e;
            [[unroll]] for (uint i = 0u; i < HD4; i++)
                acc[i] = acc[i] * c + e * vs[jj * HD4 + i];
            m = mn;
        }
    }
    if (row >= p.t)
        return;
    float inv = l > 0.0 ? 1.0 / l : 0.0;
    uint oi = (p.ooff + b * p.obs + row * p.old + h * HD) >> 2;
    [[unroll]] for (uint i = 0u; i < HD4; i++)
        o4[oi + i] = acc[i] * inv;
}
