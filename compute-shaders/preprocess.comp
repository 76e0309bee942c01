#version 450
/*
 * preprocess.comp: RGB8 images -> NHWC float input: resize (nearest or
 * bilinear, align_corners / half-pixel) and y = (v*scale - mean[c]) *
 * inv_std[c].  The host uploads only raw pixels.
 * Bindings: 0 params: per image uvec4 {w, h, byte offset in binding 1, 0};
 * 1 pixels (bytes packed 4 per uint); 2 y[N,OH,OW,C] f32.
 * Push: struct rt_push_pre.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"
#include "resize.glsl"
layout(std430, binding = 0) readonly buffer Params { uvec4 img[]; };
layout(std430, binding = 1) readonly buffer Pix { uint pix[]; };
layout(std430, binding = 2) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P {
    uint n, oh, ow, c, bilinear, align_corners, half_pixel;
    float scale;
    float mean[3], inv_std[3];
} p;

float px(uint base, uint w, uint yy, uint xx, uint c)
{
    uint o = base + (yy * w + xx) * 3u + c;
    return float((pix[o >> 2] >> ((o & 3u) * 8u)) & 255u);
}

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
    uvec4 im = img[n];
    uint w = im.x, h = im.y, base = im.z;
    float v;
    if (p.bilinear == 0u) {
        uint sy = resize_nearest(oy, h, p.oh, p.align_corners, p.half_pixel);
        uint sx = resize_nearest(ox, w, p.ow, p.align_corners, p.half_pixel);
        v = px(base, w, sy, sx, c);
    } else {
        float fy = resize_src(oy, h, p.oh, p.align_corners, p.half_pixel);
        float fx = resize_src(ox, w, p.ow, p.align_corners, p.half_pixel);
        uint y0 = min(uint(fy), h - 1u), x0 = min(uint(fx), w - 1u);
        uint y1 = min(y0 + 1u, h - 1u), x1 = min(x0 + 1u, w - 1u);
        float ly = fy - float(y0), lx = fx - float(x0);
        float a = px(base, w, y0, x0, c), b = px(base, w, y0, x1, c);
        float cc = px(base, w, y1, x0, c), d = px(base, w, y1, x1, c);
        float top = a + (b - a) * lx, bot = cc + (d - cc) * lx;
        v = top + (bot - top) * ly;
    }
    y[idx] = (v * p.scale - p.mean[c]) * p.inv_std[c];
}
