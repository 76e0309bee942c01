#version 450
/*
 * resize.comp: nearest / bilinear NHWC resize with align_corners or
 * half-pixel centres.  Bindings: 0 x, 1 y.  Push: struct rt_push_resize.
 * Spec: 0 VEC4 (c % 4 == 0: 4 channels per invocation, vec4 loads and
 * stores; the index arithmetic and a CPU driver's per-lane load loops are
 * shared by 4 channels).
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int VEC4 = 0;
#include "common.glsl"
#include "resize.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 0) readonly buffer XBuf4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer YBuf { float y[]; };
layout(std430, binding = 1) writeonly buffer YBuf4 { vec4 y4[]; };
layout(push_constant) uniform P { uint n, h, w, c, oh, ow, mode, align_corners, half_pixel; } p;

void main4()
{
    uint idx = flat_index(), cq = p.c >> 2;
    if (idx >= p.n * p.oh * p.ow * cq)
        return;
    uint c4 = idx % cq;
    uint r = idx / cq;
    uint ox = r % p.ow;
    r /= p.ow;
    uint oy = r % p.oh;
    uint n = r / p.oh;
    if (p.mode == 0u) {
        uint sy = resize_nearest(oy, p.h, p.oh, p.align_corners, p.half_pixel);
        uint sx = resize_nearest(ox, p.w, p.ow, p.align_corners, p.half_pixel);
        y4[idx] = x4[((n * p.h + sy) * p.w + sx) * cq + c4];
        return;
    }
    float fy = resize_src(oy, p.h, p.oh, p.align_corners, p.half_pixel);
    float fx = resize_src(ox, p.w, p.ow, p.align_corners, p.half_pixel);
    uint y0 = min(uint(fy), p.h - 1u), x0 = min(uint(fx), p.w - 1u);
    uint y1 = min(y0 + 1u, p.h - 1u), x1 = min(x0 + 1u, p.w - 1u);
    float ly = fy - float(y0), lx = fx - float(x0);
    vec4 a = x4[((n * p.h + y0) * p.w + x0) * cq + c4];
    vec4 b = x4[((n * p.h + y0) * p.w + x1) * cq + c4];
    vec4 cc = x4[((n * p.h + y1) * p.w + x0) * cq + c4];
    vec4 d = x4[((n * p.h + y1) * p.w + x1) * cq + c4];
    vec4 top = a + (b - a) * lx, bot = cc + (d - cc) * lx;
    y4[idx] = top + (bot - top) * ly;
}

void main()
{
    if (VEC4 != 0) {
        main4();
        return;
    }
    uint idx = flat_index();
    if (idx >= p.n * p.oh * p.ow * p.c)
        return;
    uint c = idx % p.c;
    uint r = idx / p.c;
    uint ox = r % p.ow;
    r /= p.ow;
    uint oy = r % p.oh;
    uint n = r / p.oh;
    if (p.mode == 0u) {
        uint sy = resize_nearest(oy, p.h, p.oh, p.align_corners, p.half_pixel);
        uint sx = resize_nearest(ox, p.w, p.ow, p.align_corners, p.half_pixel);
        y[idx] = x[((n * p.h + sy) * p.w + sx) * p.c + c];
        return;
    }
    float fy = resize_src(oy, p.h, p.oh, p.align_corners, p.half_pixel);
    float fx = resize_src(ox, p.w, p.ow, p.align_corners, p.half_pixel);
    uint y0 = min(uint(fy), p.h - 1u), x0 = min(uint(fx), p.w - 1u);
    uint y1 = min(y0 + 1u, p.h - 1u), x1 = min(x0 + 1u, p.w - 1u);
    float ly = fy - float(y0), lx = fx - float(x0);
    float a = x[((n * p.h + y0) * p.w + x0) * p.c + c];
    float b = x[((n * p.h + y0) * p.w + x1) * p.c + c];
    float cc = x[((n * p.h + y1) * p.w + x0) * p.c + c];
    float d = x[((n * p.h + y1) * p.w + x1) * p.c + c];
    float top = a + (b - a) * lx, bot = cc + (d - cc) * lx;
    y[idx] = top + (bot - top) * ly;
}
