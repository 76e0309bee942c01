/*
 * weights.glsl: reading conv/dense weights stored as WTYPE 0 fp32, 1 fp16
 * (two per uint) or 2 int8 (four per uint, symmetric, per-output-channel
 * scale in binding 3).  wraw() returns one stored value (int8 unscaled),
 * wraw4(i) four consecutive ones (i a multiple of 4, tensor start 16-byte
 * aligned); wscale(co) is the factor applied once to the accumulator.  No
 * 8/16-bit storage feature is needed: portable on every Vulkan 1.1 device.
 * Expects WTYPE defined and bindings 1 (weights) and 3 (scales).
 */
#ifndef WTYPE
#define WTYPE 0
#endif
#ifndef TEXEL
#define TEXEL 0
#endif
#if TEXEL
/* weights as a uniform texel buffer: RGBA32F / RGBA16F / RGBA8I, the format
   conversion done by the sampler; only 4-aligned groups are read */
#if WTYPE == 2
layout(binding = 1) uniform isamplerBuffer wtex;
vec4 wraw4(uint i) { return vec4(texelFetch(wtex, int(i >> 2))); }
#else
layout(binding = 1) uniform samplerBuffer wtex;
vec4 wraw4(uint i) { return texelFetch(wtex, int(i >> 2)); }
#endif
float wraw(uint i) { return wraw4(i & ~3u)[i & 3u]; }
#elif WTYPE == 0
layout(std430, binding = 1) readonly buffer WBuf { float wdata[]; };
layout(std430, binding = 1) readonly buffer WBuf4 { vec4 wdata4[]; };
float wraw(uint i) { return wdata[i]; }
vec4 wraw4(uint i) { return wdata4[i >> 2]; }
#elif WTYPE == 1
layout(std430, binding = 1) readonly buffer WBuf { uint wdata[]; };
layout(std430, binding = 1) readonly buffer WBuf4 { uvec2 wdata4[]; };
float wraw(uint i)
{
    vec2 v = unpackHalf2x16(wdata[i >> 1]);
    return (i & 1u) == 0u ? v.x : v.y;
}
vec4 wraw4(uint i)
{
    uvec2 u = wdata4[i >> 2];
    return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
}
#else
layout(std430, binding = 1) readonly buffer WBuf { uint wdata[]; };
float wraw(uint i)
{
    return float(bitfieldExtract(int(wdata[i >> 2]), int((i & 3u) * 8u), 8));
}
vec4 wraw4(uint i)
{
    int u = int(wdata[i >> 2]);
    return vec4(bitfieldExtract(u, 0, 8), bitfieldExtract(u, 8, 8), bitfieldExtract(u, 16, 8),
                bitfieldExtract(u, 24, 8));
}
#endif
layout(std430, binding = 3) readonly buffer SBuf { float sdata[]; };
layout(std430, binding = 3) readonly buffer SBuf4 { vec4 sdata4[]; };
float wscale(uint co)
{
#if WTYPE == 2
    return sdata[co];
#else
    return 1.0;
#endif
}
vec4 wscale4(uint co)
{
#if WTYPE == 2
    return sdata4[co >> 2];
#else
    return vec4(1.0);
#endif
}
