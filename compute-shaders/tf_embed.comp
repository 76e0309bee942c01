#version 450
// vkv-variant: tf_embed_f32 WTYPE=0
// vkv-variant: tf_embed_f16 WTYPE=1
// vkv-variant: tf_embed_i8 WTYPE=2
/*
 * tf_embed.comp: x[t, c] = table[ids[t], c] (embedding lookup) for the
 * rows row0 .. row0 + rows - 1 held by this table part (a large table is
 * split into parts under maxStorageBufferRange; other ids are left alone).
 * Table rows as linear weights (tf_weights.glsl, WTYPE 0..2; int8 scaled
 * per row).  One invocation per 8 columns.  ids are read from the device
 * (the decode step writes them there), so a recorded step can be replayed.
 * Bindings: 0 ids (uint), 1 table, 2 unused, 3 x, 4 scales.  Push: struct rt_tf_push_embed.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "tf_common.glsl"
#include "tf_weights.glsl"
layout(std430, binding = 0) readonly buffer IBuf { uint ids[]; };
layout(std430, binding = 3) writeonly buffer XBuf { vec4 x4[]; };
layout(push_constant) uniform P { uint t, d, row0, rows, ld, idoff; } p;

void main()
{
    uint idx = tf_index(), d8 = p.d >> 3;
    if (idx >= p.t * d8)
        return;
    uint t = idx / d8, c = (idx % d8) * 8u;
    uint id = ids[p.idoff + t];
    if (id < p.row0 || id - p.row0 >= p.rows)
        return;
    uint r = id - p.row0;
    vec4 a, b;
    wload8(r * p.d + c, a, b);
#if WTYPE == 2
    a *= wsc[r];
    b *= wsc[r];
#endif
    x4[(t * p.ld + c) >> 2] = a;
    x4[((t * p.ld + c) >> 2) + 1u] = b;
}
