#version 450
// vkv-variant: tf_rope_kvh KVH=1
// vkv-variant: tf_rope
/*
 * tf_rope.comp: splits fused QKV rows, applies rotary position embedding to
 * the first `rot` dims of each q and k head and writes q to `qo` and k, v
 * into the KV cache rows pos0 + t (pos0 = state[st]).  Rotation as in the
 * published Phi/Moondream code: with r = x[0 : rot/2] and m = x[rot/2 : rot]
 * of a head, the rotated dims are interleaved: out[2i] = r_i cos - m_i sin,
 * out[2i + 1] = r_i sin + m_i cos, with (cos, sin) of position * freq_i from
 * the host table cs[pos][i] (vec2).  Dims rot .. hd - 1 pass through.
 * One invocation per (t, pair of columns): a rotated pair shares its
 * (r_i, m_i).  KVH=1: the cache holds IEEE halves (two per uint).
 * Bindings: 0 qkv, 1 cs, 2 state, 3 qo, 4 kcache, 5 vcache.  Push: struct rt_tf_push_rope.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "tf_common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) readonly buffer CBuf { vec2 cs[]; };
layout(std430, binding = 2) readonly buffer SBuf { uint state[]; };
layout(std430, binding = 3) writeonly buffer QBuf { float qo[]; };
#ifndef KVH
#define KVH 0
#endif
#if KVH
layout(std430, binding = 4) writeonly buffer KBuf { uint kc[]; };
layout(std430, binding = 5) writeonly buffer VBuf { uint vc[]; };
#else
layout(std430, binding = 4) writeonly buffer KBuf { vec2 kc[]; };
layout(std430, binding = 5) writeonly buffer VBuf { vec2 vc[]; };
#endif
layout(push_constant) uniform P { uint t, d, hd, rot, ld, st, max_pos, qld, kld; } p;

/* the pair (2i, 2i + 1) of a rotated head at base */
vec2 rotated(uint base, uint i, vec2 c)
{
    float r = x[base + i], m = x[base + (p.rot >> 1) + i];
    return vec2(r * c.x - m * c.y, r * c.y + m * c.x);
}

void main()
{
    uint idx = tf_index(), half_d = p.d >> 1;
    if (idx >= p.t * half_d)
        return;
    uint t = idx / half_d, col = (idx % half_d) * 2u;
    uint h = col / p.hd, dd = col % p.hd;
    uint pos = min(state[p.st] + t, p.max_pos - 1u);
    uint row = t * p.ld;
    vec2 qv, kv;
    if (dd < p.rot) {
        vec2 c = cs[pos * (p.rot >> 1) + (dd >> 1)];
        qv = rotated(row + h * p.hd, dd >> 1, c);
        kv = rotated(row + p.d + h * p.hd, dd >> 1, c);
    } else {
        qv = vec2(x[row + col], x[row + col + 1u]);
        kv = vec2(x[row + p.d + col], x[row + p.d + col + 1u]);
    }
    vec2 vv = vec2(x[row + 2u * p.d + col], x[row + 2u * p.d + col + 1u]);
    qo[t * p.qld + col] = qv.x;
    qo[t * p.qld + col + 1u] = qv.y;
    uint ci = (pos * p.kld + col) >> 1;
#if KVH
    kc[ci] = packHalf2x16(kv);
    vc[ci] = packHalf2x16(vv);
#else
    kc[ci] = kv;
    vc[ci] = vv;
#endif
}
