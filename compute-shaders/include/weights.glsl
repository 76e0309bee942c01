/*
 * weights.glsl: reading conv/dense weights stored as WTYPE 0 fp32, 1 fp16
 * (two per uint) or 2 int8 (four per uint, symmetric, per-output-channel
 * scale in binding 3).  wraw() returns the stored value (int8 unscaled);
 * wscale(co) is the factor applied once to the accumulator.  No 8/16-bit
 * storage feature is needed: portable on every Vulkan 1.1 device.
 * Expects WTYPE defined and bindings 1 (weights) and 3 (scales).
 */
#ifndef WTYPE
#define WTYPE 0
#endif
#if WTYPE == 0
layout(std430, binding = 1) readonly buffer WBuf { float wdata[]; };
float wraw(uint i) { return wdata[i]; }
#elif WTYPE == 1
layout(std430, binding = 1) readonly buffer WBuf { uint wdata[]; };
float wraw(uint i)
{
    vec2 v = unpackHalf2x16(wdata[i >> 1]);
    return (i & 1u) == 0u ? v.x : v.y;
}
#else
layout(std430, binding = 1) readonly buffer WBuf { uint wdata[]; };
float wraw(uint i)
{
    return float(bitfieldExtract(int(wdata[i >> 2]), int((i & 3u) * 8u), 8));
}
#endif
layout(std430, binding = 3) readonly buffer SBuf { float sdata[]; };
float wscale(uint co)
{
#if WTYPE == 2
    return sdata[co];
#else
    return 1.0;
#endif
}
