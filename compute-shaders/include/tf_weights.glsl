/*
 * tf_weights.glsl: rows of a linear weight W[N][K] (PyTorch orientation)
 * stored as WTYPE 0 fp32, 1 fp16 (two per uint), 2 int8 (four per uint,
 * symmetric, fp32 scale per row in binding 4, applied by the caller once per
 * output) or 3 q4 (eight nibbles per uint, low nibble first, groups of 32
 * along K with fp32 scale (binding 4) and zero point (binding 5):
 * w = (q - zero) * scale).  wload8(i) returns elements i..i+7 (i % 8 == 0)
 * dequantised except for the int8 row scale; wload16(i, w) elements
 * i..i+15 (i % 16 == 0).  With TEXEL=1 the weights are a uniform texel
 * buffer of RGBA32UI (16 bytes per fetch; llvmpipe gathers a texel fetch as
 * a vector instead of its lane-by-lane storage-buffer loop) and only
 * wload16 exists.  Layouts: runtime/tfm/README.md.
 */
#ifndef WTYPE
#define WTYPE 0
#endif
layout(std430, binding = 4) readonly buffer SBuf { float wsc[]; };
#ifndef TEXEL
#define TEXEL 0
#endif
vec4 i8x4(uint u)
{
    int s = int(u);
    return vec4(bitfieldExtract(s, 0, 8), bitfieldExtract(s, 8, 8), bitfieldExtract(s, 16, 8),
                bitfieldExtract(s, 24, 8));
}
#if WTYPE == 3
layout(std430, binding = 5) readonly buffer ZBuf { float zp[]; };
layout(constant_id = 7) const uint GSHIFT = 5;
void q4x16(uvec2 u, uint g, out vec4 w[4])
{
    float s = wsc[g], z = zp[g];
    w[0] = (vec4(u.x & 15u, (u.x >> 4) & 15u, (u.x >> 8) & 15u, (u.x >> 12) & 15u) - z) * s;
    w[1] = (vec4((u.x >> 16) & 15u, (u.x >> 20) & 15u, (u.x >> 24) & 15u, u.x >> 28) - z) * s;
    w[2] = (vec4(u.y & 15u, (u.y >> 4) & 15u, (u.y >> 8) & 15u, (u.y >> 12) & 15u) - z) * s;
    w[3] = (vec4((u.y >> 16) & 15u, (u.y >> 20) & 15u, (u.y >> 24) & 15u, u.y >> 28) - z) * s;
}
#endif
#if TEXEL
layout(binding = 1) uniform usamplerBuffer wtex;
void wload16(uint i, out vec4 w[4])
{
#if WTYPE == 0
    uint t = i >> 2;
    [[unroll]] for (uint j = 0u; j < 4u; j++)
        w[j] = uintBitsToFloat(texelFetch(wtex, int(t + j)));
#elif WTYPE == 1
    uvec4 u = texelFetch(wtex, int(i >> 3)), v = texelFetch(wtex, int((i >> 3) + 1u));
    w[0] = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
    w[1] = vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w));
    w[2] = vec4(unpackHalf2x16(v.x), unpackHalf2x16(v.y));
    w[3] = vec4(unpackHalf2x16(v.z), unpackHalf2x16(v.w));
#elif WTYPE == 2
    uvec4 u = texelFetch(wtex, int(i >> 4));
    w[0] = i8x4(u.x);
    w[1] = i8x4(u.y);
    w[2] = i8x4(u.z);
    w[3] = i8x4(u.w);
#else
    uvec4 u = texelFetch(wtex, int(i >> 5));
    q4x16((i & 16u) == 0u ? u.xy : u.zw, i >> GSHIFT, w);
#endif
}
#elif WTYPE == 0
layout(std430, binding = 1) readonly buffer WBuf { vec4 w4[]; };
void wload8(uint i, out vec4 a, out vec4 b)
{
    a = w4[i >> 2];
    b = w4[(i >> 2) + 1u];
}
#elif WTYPE == 1
layout(std430, binding = 1) readonly buffer WBuf { uvec4 w4[]; };
void wload8(uint i, out vec4 a, out vec4 b)
{
    uvec4 u = w4[i >> 3];
    a = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
    b = vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w));
}
#elif WTYPE == 2
layout(std430, binding = 1) readonly buffer WBuf { uvec2 w2[]; };
void wload8(uint i, out vec4 a, out vec4 b)
{
    uvec2 u = w2[i >> 3];
    a = i8x4(u.x);
    b = i8x4(u.y);
}
#else
layout(std430, binding = 1) readonly buffer WBuf { uint w1[]; };
void wload8(uint i, out vec4 a, out vec4 b)
{
    uint u = w1[i >> 3];
    uint g = i >> GSHIFT;
    float s = wsc[g], z = zp[g];
    a = (vec4(u & 15u, (u >> 4) & 15u, (u >> 8) & 15u, (u >> 12) & 15u) - z) * s;
    b = (vec4((u >> 16) & 15u, (u >> 20) & 15u, (u >> 24) & 15u, u >> 28) - z) * s;
}
#endif

/* elements i .. i+15 (i % 16 == 0) in one or two wide loads */
#if TEXEL
#elif WTYPE == 0
void wload16(uint i, out vec4 w[4])
{
    uint b = i >> 2;
    w[0] = w4[b];
    w[1] = w4[b + 1u];
    w[2] = w4[b + 2u];
    w[3] = w4[b + 3u];
}
#elif WTYPE == 1
void wload16(uint i, out vec4 w[4])
{
    uvec4 u = w4[i >> 3], v = w4[(i >> 3) + 1u];
    w[0] = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
    w[1] = vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w));
    w[2] = vec4(unpackHalf2x16(v.x), unpackHalf2x16(v.y));
    w[3] = vec4(unpackHalf2x16(v.z), unpackHalf2x16(v.w));
}
#elif WTYPE == 2
layout(std430, binding = 1) readonly buffer WBuf16 { uvec4 w16[]; };
void wload16(uint i, out vec4 w[4])
{
    uvec4 u = w16[i >> 4];
    w[0] = i8x4(u.x);
    w[1] = i8x4(u.y);
    w[2] = i8x4(u.z);
    w[3] = i8x4(u.w);
}
#else
layout(std430, binding = 1) readonly buffer WBuf16 { uvec2 w16[]; };
void wload16(uint i, out vec4 w[4])
{
    q4x16(w16[i >> 4], i >> GSHIFT, w);
}
#endif
