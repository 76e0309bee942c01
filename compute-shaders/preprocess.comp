#version 450
// vkv-variant: preprocess TEXEL=0
// vkv-variant: preprocess_tx TEXEL=1
/*
 * preprocess.comp: RGB8 images -> NHWC float input: resize (nearest or
 * bilinear, align_corners / half-pixel) and y = (v*scale - mean[c]) *
 * inv_std[c].  The host uploads only raw pixels.
 * Each invocation writes OXB = 4 output pixels (all 3 channels) of one row:
 * the grid is (column quads, rows, images), so no division by shapes; the
 * row's source coordinates are computed once; a source pixel (3 bytes) is
 * read as the 32-bit words that hold it and, for bilinear, its right-hand
 * neighbour (6 bytes: at most 3 words) instead of one word per channel
 * and tap (llvmpipe loads a storage buffer lane by lane: loads are what
 * cost there).  Same arithmetic as the reference (resize.glsl mirrors
 * rt_ref_resize_*): the results do not change.
 * Bindings: 0 params: per image uvec4 {w, h, byte offset in binding 1, 0};
 * 1 pixels (bytes packed 4 per uint; preprocess_tx: an R32UI uniform
 * texel buffer, a vector gather on llvmpipe); 2 y[N,OH,OW,3] f32.
 * Push: struct rt_push_pre (c == 3).  Grid: (ceil(OW/4/64), OH, N).
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 64) in;
#include "common.glsl"
#include "resize.glsl"
layout(std430, binding = 0) readonly buffer Params { uvec4 img[]; };
#if TEXEL
layout(binding = 1) uniform usamplerBuffer pixt;
uint pixw(uint i) { return texelFetch(pixt, int(i)).x; }
#else
layout(std430, binding = 1) readonly buffer Pix { uint pix[]; };
uint pixw(uint i) { return pix[i]; }
#endif
layout(std430, binding = 2) writeonly buffer YBuf { float y[]; };
layout(std430, binding = 2) writeonly buffer YBuf4 { vec4 y4[]; };
layout(push_constant) uniform P {
    uint n, oh, ow, c, bilinear, align_corners, half_pixel;
    float scale;
    float mean[3], inv_std[3];
} p;

const uint OXB = 4u;

/* byte `rel` (0..11) of the three words u */
float byte_at(uvec3 u, uint rel)
{
    uint wi = rel >> 2u;
    uint v = wi == 0u ? u.x : (wi == 1u ? u.y : u.z);
    return float((v >> ((rel & 3u) * 8u)) & 255u);
}

/* the words holding bytes o .. o+5, clamped to the image's last word (a
   clamped word only holds bytes past the image, which are never used) */
uvec3 words(uint o, uint last)
{
    uint wb = o >> 2u;
    return uvec3(pixw(min(wb, last)), pixw(min(wb + 1u, last)), pixw(min(wb + 2u, last)));
}

void main()
{
    uint ox0 = gl_GlobalInvocationID.x * OXB, oy = gl_GlobalInvocationID.y,
         n = gl_GlobalInvocationID.z;
    if (ox0 >= p.ow || oy >= p.oh || n >= p.n)
        return;
    uvec4 im = img[n];
    uint w = im.x, h = im.y, base = im.z;
    uint last = (base + w * h * 3u - 1u) >> 2u;
    uint yo = ((n * p.oh + oy) * p.ow + ox0) * 3u;
    if (p.bilinear == 0u) {
        uint sy = resize_nearest(oy, h, p.oh, p.align_corners, p.half_pixel);
        for (uint o = 0u; o < OXB; o++) {
            if (ox0 + o >= p.ow)
                break;
            uint sx = resize_nearest(ox0 + o, w, p.ow, p.align_corners, p.half_pixel);
            uint q = base + (sy * w + sx) * 3u;
            uvec3 u = words(q, last);
            for (uint c = 0u; c < 3u; c++)
                y[yo + o * 3u + c] =
                    (byte_at(u, (q & 3u) + c) * p.scale - p.mean[c]) * p.inv_std[c];
        }
        return;
    }
    float fy = resize_src(oy, h, p.oh, p.align_corners, p.half_pixel);
    uint y0 = min(uint(fy), h - 1u);
    uint y1 = min(y0 + 1u, h - 1u);
    float ly = fy - float(y0);
    float v[OXB * 3u]; /* unrolled: registers, not a stack array */
    [[unroll]] for (uint o = 0u; o < OXB; o++) {
        /* past the row's end (OW % 4 != 0): computed from clamped taps, not stored */
        float fx = resize_src(ox0 + o, w, p.ow, p.align_corners, p.half_pixel);
        uint x0 = min(uint(fx), w - 1u);
        uint x1 = min(x0 + 1u, w - 1u);
        float lx = fx - float(x0);
        uint q0 = base + (y0 * w + x0) * 3u, q1 = base + (y1 * w + x0) * 3u;
        uint dx = (x1 - x0) * 3u; /* the right-hand tap: 3 bytes on, or the same pixel */
        uvec3 u0 = words(q0, last), u1 = words(q1, last);
        uint r0 = q0 & 3u, r1 = q1 & 3u;
        [[unroll]] for (uint c = 0u; c < 3u; c++) {
            float a = byte_at(u0, r0 + c), b = byte_at(u0, r0 + dx + c);
            float cc = byte_at(u1, r1 + c), d = byte_at(u1, r1 + dx + c);
            float top = a + (b - a) * lx, bot = cc + (d - cc) * lx;
            v[o * 3u + c] = ((top + (bot - top) * ly) * p.scale - p.mean[c]) * p.inv_std[c];
        }
    }
    /* OW % 4 == 0: the 12 values are 3 aligned vec4 (llvmpipe stores lane
       by lane: 3 stores per lane instead of 12) */
    if ((p.ow & 3u) == 0u) {
        uint q = yo >> 2u;
        y4[q] = vec4(v[0], v[1], v[2], v[3]);
        y4[q + 1u] = vec4(v[4], v[5], v[6], v[7]);
        y4[q + 2u] = vec4(v[8], v[9], v[10], v[11]);
        return;
    }
    for (uint i = 0u; i < OXB * 3u; i++)
        if (ox0 + i / 3u < p.ow)
            y[yo + i] = v[i];
}
