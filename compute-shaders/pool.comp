#version 450
// vkv-variant: pool
// vkv-variant: pool_tx TEXEL=1
/*
 * pool.comp: max / average pooling NHWC, one output per invocation; padding
 * is skipped for max, and for avg divides by kh*kw (count_pad) or by the
 * valid pixels.  Bindings: 0 x, 1 y.  Push: struct rt_push_pool.
 * Spec: 0 MAXPOOL (1 max, 0 avg), 1 VEC4 (C % 4 == 0: 4 channels per
 * invocation, vec4 loads and stores; the index arithmetic and the loads'
 * per-lane loops on CPU drivers are shared by 4 channels).  Trip count kh*kw.
 * pool_tx (TEXEL, VEC4 only): x is an RGBA32F uniform texel buffer, one
 * vector gather per tap on llvmpipe instead of a per-lane loop.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int MAXPOOL = 1;
layout(constant_id = 1) const int VEC4 = 0;
#include "common.glsl"
#if TEXEL
layout(binding = 0) uniform samplerBuffer xtex;
vec4 xload4(uint i4) { return texelFetch(xtex, int(i4)); }
#else
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 0) readonly buffer XBuf4 { vec4 x4[]; };
vec4 xload4(uint i4) { return x4[i4]; }
#endif
layout(std430, binding = 1) writeonly buffer YBuf { float y[]; };
layout(std430, binding = 1) writeonly buffer YBuf4 { vec4 y4[]; };
layout(push_constant) uniform P {
    uint n, h, w, c, oh, ow, kh, kw, sh, sw;
    int pt, pl;
    uint count_pad;
} p;

void main()
{
    if (VEC4 != 0) {
        uint idx = flat_index(), cq = p.c >> 2;
        if (idx >= p.n * p.oh * p.ow * cq)
            return;
        uint c4 = idx % cq;
        uint r = idx / cq;
        uint ox = r % p.ow;
        r /= p.ow;
        uint oy = r % p.oh;
        uint n = r / p.oh;
        vec4 acc = vec4(MAXPOOL == 1 ? -3.402823466e38 : 0.0);
        uint cnt = 0u;
        int iy0 = int(oy * p.sh) - p.pt, ix0 = int(ox * p.sw) - p.pl;
        for (uint ky = 0u; ky < p.kh; ky++) {
            int iy = iy0 + int(ky);
            for (uint kx = 0u; kx < p.kw; kx++) {
                int ix = ix0 + int(kx);
                if (iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w)) {
                    vec4 v = xload4(((n * p.h + uint(iy)) * p.w + uint(ix)) * cq + c4);
                    acc = MAXPOOL == 1 ? max(acc, v) : acc + v;
                    cnt++;
                }
            }
        }
        if (MAXPOOL == 0)
            acc /= float(p.count_pad != 0u ? p.kh * p.kw : cnt);
        y4[idx] = acc;
        return;
    }
#if !TEXEL
    uint idx = flat_index();
    if (idx >= p.n * p.oh * p.ow * p.c)
        return;
    uint c = idx % p.c;
    uint r = idx / p.c;
    uint ox = r % p.ow;
    r /= p.ow;
    uint oy = r % p.oh;
    uint n = r / p.oh;
    float acc = MAXPOOL == 1 ? -3.402823466e38 : 0.0;
    uint cnt = 0u;
    int iy0 = int(oy * p.sh) - p.pt, ix0 = int(ox * p.sw) - p.pl;
    for (uint ky = 0u; ky < p.kh; ky++) {
        int iy = iy0 + int(ky);
        for (uint kx = 0u; kx < p.kw; kx++) {
            int ix = ix0 + int(kx);
            if (iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w)) {
                float v = x[((n * p.h + uint(iy)) * p.w + uint(ix)) * p.c + c];
                acc = MAXPOOL == 1 ? max(acc, v) : acc + v;
                cnt++;
            }
        }
    }
    if (MAXPOOL == 0)
        acc /= float(p.count_pad != 0u ? p.kh * p.kw : cnt);
    y[idx] = acc;
#endif
}
