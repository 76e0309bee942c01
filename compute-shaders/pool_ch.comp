#version 450
// vkv-variant: pool_ch
/*
 * pool_ch.comp: max / average pooling NHWC on CPU devices, square window
 * K and stride S as spec constants (every tap unrolled), one channel per
 * SIMD lane (8 consecutive channels per workgroup row) and OXB output
 * columns of one row per invocation, so no invocation divides by a shape
 * (pool.comp's flat index costs three integer divisions per invocation,
 * which llvmpipe does lane by lane) and each tap is one R32F gather for
 * the 8 lanes.  Padding: taps outside the input are skipped for max and
 * count for avg only with count_pad.
 * Bindings: 0 x (R32F uniform texel buffer), 1 y f32.
 * Push: struct rt_push_pool (kh, kw, sh, sw unused: K, S).
 * Spec: 0 MAXPOOL (1 max, 0 avg), 1 K, 2 S.
 * Grid: x = channel groups of 8, y = column tiles in groups of 8, z = n * oh
 * (the workgroup's z: one division per workgroup row, the same in every lane).
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 8, local_size_y = 8) in;
layout(constant_id = 0) const int MAXPOOL = 1;
layout(constant_id = 1) const uint K = 2;
layout(constant_id = 2) const uint S = 2;
const uint OXB = 4u;
layout(binding = 0) uniform samplerBuffer xtex;
layout(std430, binding = 1) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P {
    uint n, h, w, c, oh, ow, kh, kw, sh, sw;
    int pt, pl;
    uint count_pad;
} p;

void main()
{
    uint ch = gl_GlobalInvocationID.x;
    uint ox0 = gl_GlobalInvocationID.y * OXB;
    uint z = gl_WorkGroupID.z, n = z / p.oh, oy = z - n * p.oh;
    if (ch >= p.c || ox0 >= p.ow)
        return;
    float acc[OXB];
    float cnt[OXB];
    [[unroll]] for (uint o = 0u; o < OXB; o++) {
        acc[o] = MAXPOOL == 1 ? -3.402823466e38 : 0.0;
        cnt[o] = 0.0;
    }
    int iy0 = int(oy * S) - p.pt, ix0 = int(ox0 * S) - p.pl;
    [[unroll]] for (uint ky = 0u; ky < K; ky++) {
        int iy = iy0 + int(ky);
        bool rin = iy >= 0 && iy < int(p.h);
        int rb = ((int(n * p.h) + iy) * int(p.w)) * int(p.c) + int(ch);
        [[unroll]] for (uint o = 0u; o < OXB; o++) {
            [[unroll]] for (uint kx = 0u; kx < K; kx++) {
                int ix = ix0 + int(o * S + kx);
                bool inb = rin && ix >= 0 && ix < int(p.w);
                /* an index inside the buffer even for the padding */
                float v = texelFetch(xtex, inb ? rb + ix * int(p.c) : 0).x;
                if (MAXPOOL == 1)
                    acc[o] = inb ? max(acc[o], v) : acc[o];
                else
                    acc[o] += inb ? v : 0.0;
                cnt[o] += inb ? 1.0 : 0.0;
            }
        }
    }
    uint row = ((n * p.oh + oy) * p.ow + ox0) * p.c + ch;
    [[unroll]] for (uint o = 0u; o < OXB; o++)
        if (ox0 + o < p.ow) {
            float v = acc[o];
            if (MAXPOOL == 0)
                v /= p.count_pad != 0u ? float(K * K) : cnt[o];
            y[row + o * p.c] = v;
        }
}
