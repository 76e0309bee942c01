#version 450
/*
 * tf_rope.comp: splits fused QKV rows, applies rotary position embedding to
 * the first `rot` dims of each q and k head and writes q to `qo` and k, v
 * into the KV cache rows pos0 + t (pos0 = state[st]).  Rotation as in the
 * published Phi/Moondream code: with r = x[0 : rot/2] and m = x[rot/2 : rot]
 * of a head, the rotated dims are interleaved: out[2i] = r_i cos - m_i sin,
 * out[2i + 1] = r_i sin + m_i cos, with (cos, sin) of position * freq_i from
 * the host table cs[pos][i] (vec2).  Dims rot .. hd - 1 pass through.
 * One invocation per (t, column of D).
 * Bindings: 0 qkv, 1 cs, 2 state, 3 qo, 4 kcache, 5 vcache.  Push: struct rt_tf_push_rope.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "tf_common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) readonly buffer CBuf { vec2 cs[]; };
layout(std430, binding = 2) readonly buffer SBuf { uint state[]; };
layout(std430, binding = 3) writeonly buffer QBuf { float qo[]; };
layout(std430, binding = 4) writeonly buffer KBuf { float kc[]; };
layout(std430, binding = 5) writeonly buffer VBuf { float vc[]; };
layout(push_constant) uniform P { uint t, d, hd, rot, ld, st, max_pos, qld, kld; } p;

float rotated(uint base, uint dd, vec2 c)
{
    uint i = dd >> 1, half_ = p.rot >> 1;
    float r = x[base + i], m = x[base + half_ + i];
    return (dd & 1u) == 0u ? r * c.x - m * c.y : r * c.y + m * c.x;
}

void main()
{
    uint idx = tf_index();
    if (idx >= p.t * p.d)
        return;
    uint t = idx / p.d, col = idx % p.d;
    uint h = col / p.hd, dd = col % p.hd;
    uint pos = min(state[p.st] + t, p.max_pos - 1u);
    uint row = t * p.ld;
    float qv, kv;
    if (dd < p.rot) {
        vec2 c = cs[pos * (p.rot >> 1) + (dd >> 1)];
        qv = rotated(row + h * p.hd, dd, c);
        kv = rotated(row + p.d + h * p.hd, dd, c);
    } else {
        qv = x[row + col];
        kv = x[row + p.d + col];
    }
    qo[t * p.qld + col] = qv;
    kc[pos * p.kld + col] = kv;
    vc[pos * p.kld + col] = x[row + 2u * p.d + col];
}
