#version 450
/*
 * resize.comp: nearest / bilinear NHWC resize with align_corners or
 * half-pixel centres.  Bindings: 0 x, 1 y.  Push: struct rt_push_resize.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"
#include "resize.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint n, h, w, c, oh, ow, mode, align_corners, half_pixel; } p;

void main()
{
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
