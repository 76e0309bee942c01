/*
 * tf_weights.glsl: rows of a linear weight W[N][K] (PyTorch orientation)
 * stored as WTYPE 0 fp32, 1 fp16 (two per uint), 2 int8 (four per uint,
 * symmetric, fp32 scale per row in binding 4, applied by the caller once per
 * output) or 3 q4 (eight nibbles per uint, low nibble first, groups of 32
 * along K with fp32 scale (binding 4) and zero point (binding 5):
 * w = (q - zero) * scale).  wload8(i) returns elements i..i+7 (i % 8 == 0)
 * dequantised except for the int8 row scale.  Layouts: runtime/tfm/README.md.
 */
#ifndef WTYPE
#define WTYPE 0
#endif
layout(std430, binding = 4) readonly buffer SBuf { float wsc[]; };
#if WTYPE == 0
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
vec4 i8x4(uint u)
{
    int s = int(u);
    return vec4(bitfieldExtract(s, 0, 8), bitfieldExtract(s, 8, 8), bitfieldExtract(s, 16, 8),
                bitfieldExtract(s, 24, 8));
}
void wload8(uint i, out vec4 a, out vec4 b)
{
    uvec2 u = w2[i >> 3];
    a = i8x4(u.x);
    b = i8x4(u.y);
}
#else
layout(std430, binding = 1) readonly buffer WBuf { uint w1[]; };
layout(std430, binding = 5) readonly buffer ZBuf { float zp[]; };
layout(constant_id = 7) const uint GSHIFT = 5;
void wload8(uint i, out vec4 a, out vec4 b)
{
    uint u = w1[i >> 3];
    uint g = i >> GSHIFT;
    float s = wsc[g], z = zp[g];
    a = (vec4(u & 15u, (u >> 4) & 15u, (u >> 8) & 15u, (u >> 12) & 15u) - z) * s;
    b = (vec4((u >> 16) & 15u, (u >> 20) & 15u, (u >> 24) & 15u, u >> 28) - z) * s;
}
#endif
