#version 450
// vkv-variant: dwconv3_s1_f32 S=1,OYB=8,WTYPE=0
// vkv-variant: dwconv3_s1_f16 S=1,OYB=8,WTYPE=1
// vkv-variant: dwconv3_s1_i8 S=1,OYB=8,WTYPE=2
// vkv-variant: dwconv3_s2_f32 S=2,OYB=4,WTYPE=0
// vkv-variant: dwconv3_s2_f16 S=2,OYB=4,WTYPE=1
// vkv-variant: dwconv3_s2_i8 S=2,OYB=4,WTYPE=2
/*
 * dwconv3.comp: depthwise 3x3 convolution (groups == C == CO, undilated),
 * stride S (1 or 2, a build-time define, as are the tile sizes, so that
 * every loop unrolls into straight code with constant register indices).
 * One channel per invocation, the SIMD lanes along the channels (8
 * consecutive channels per workgroup row: every lane busy when C % 8 == 0),
 * each invocation a tile of OYB rows x OXB columns of output pixels.  The
 * input window under the tile is read one value at a time and added into
 * every accumulator that uses it, so each input value is fetched once per
 * tile and the 9 weights once per tile, and the live registers are the
 * OYB * OXB accumulators plus the 9 weights (one lane per channel instead
 * of a vec4 per lane, which is what lets a 4 x 8 tile fit where dwconv.comp's
 * vec4 lanes spilled with two rows).
 * Bindings: 0 x (R32F uniform texel buffer), 1 w[3,3,1,C] (R32F / R16F /
 * R8I uniform texel buffer by WTYPE; int8 unscaled), 2 bias, 3 scale
 * (per channel, int8 only), 4 y, 5 residual (RES).
 * Push: struct rt_push_conv (kh, kw, cg, cog, sh, dh, dw unused).
 * Spec: 0 ACT, 1 RES.
 * Grid: x = the (tile, channel group) pairs in groups of 8, one pair per
 * workgroup row (the tile = n, row tile, column tile flattened, column
 * fastest; the channel group fastest of all), y = z = 1.  Every workgroup
 * row but the last workgroup's is busy whatever the map size, with one
 * pipeline: a workgroup height per map size made one pipeline per size (each
 * of these unrolled pipelines takes llvmpipe 50-110 ms to compile at model
 * load), and idle rows are not free on llvmpipe (tiles flat along y with
 * the channel groups along x ran MobileNetV2's 7x7 layers, 2 tiles in a
 * row of 8, 2-3x slower).
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 8, local_size_y = 8) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int RES = 0;
#ifndef OXB
#define OXB 4
#endif
#define K 3
const uint SPANX = (OXB - 1) * S + K;
const uint SPANY = (OYB - 1) * S + K;
#include "common.glsl"
#include "residual.glsl"
layout(binding = 0) uniform samplerBuffer xtex;
#if WTYPE == 2
layout(binding = 1) uniform isamplerBuffer wtex;
#else
layout(binding = 1) uniform samplerBuffer wtex;
#endif
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 3) readonly buffer SBuf { float sdata[]; };
layout(std430, binding = 4) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P {
    uint n, h, w, c, oh, ow, co, kh, kw, cg, cog, sh, sw, dh, dw;
    int pt, pl;
    float alpha, beta;
} p;

/*
 * a / b for a < 2^22: llvmpipe has no vector integer division and divides
 * lane by lane (measured: the flat tile index's two divisions made
 * MobileNetV2's stride-1 layers ~17 % slower); a float division is one
 * vector instruction.  Exact for a < 2^22 (the host's bound): the float's
 * error stays under the 0.5 / b margin, so the two corrections change no
 * result there (a mutation removing one fails no case); they are a guard
 * should the bound ever be raised.
 */
uint udiv(uint a, uint b)
{
    uint q = uint((float(a) + 0.5) / float(b));
    q = q * b > a ? q - 1u : q;
    return (q + 1u) * b <= a ? q + 1u : q;
}

void main()
{
    uint cgs = (p.c + 7u) / 8u;
    uint f = gl_WorkGroupID.x * 8u + gl_LocalInvocationID.y;
    uint t = udiv(f, cgs);
    uint ch = (f - t * cgs) * 8u + gl_LocalInvocationID.x;
    uint tx = (p.ow + OXB - 1) / OXB, tiles = (p.oh + OYB - 1) / OYB;
    uint z = udiv(t, tx);
    uint ox0 = (t - z * tx) * OXB;
    uint n = udiv(z, tiles);
    uint oy0 = (z - n * tiles) * OYB;
    if (ch >= p.c || n >= p.n)
        return;
    float wk[K * K];
    [[unroll]] for (uint i = 0; i < K * K; i++)
        wk[i] = float(texelFetch(wtex, int(i * p.c + ch)).x);
    float acc[OYB * OXB];
    [[unroll]] for (uint i = 0; i < OYB * OXB; i++)
        acc[i] = 0.0;
    int iy0 = int(oy0 * S) - p.pt, ix0 = int(ox0 * S) - p.pl;
    [[unroll]] for (uint r = 0; r < SPANY; r++) {
        int iy = iy0 + int(r);
        bool rin = iy >= 0 && iy < int(p.h);
        int rb = ((int(n * p.h) + iy) * int(p.w) + ix0) * int(p.c) + int(ch);
        [[unroll]] for (uint j = 0; j < SPANX; j++) {
            int ix = ix0 + int(j);
            bool inb = rin && ix >= 0 && ix < int(p.w);
            /* an index inside the buffer even for the zero padding */
            float v = texelFetch(xtex, inb ? rb + int(j * p.c) : 0).x;
            v = inb ? v : 0.0;
            [[unroll]] for (uint oy = 0; oy < OYB; oy++) {
                int ky = int(r) - int(oy * S);
                if (ky < 0 || ky >= K)
                    continue;
                [[unroll]] for (uint o = 0; o < OXB; o++) {
                    int kx = int(j) - int(o * S);
                    if (kx >= 0 && kx < K)
                        acc[oy * OXB + o] += v * wk[ky * K + kx];
                }
            }
        }
    }
#if WTYPE == 2
    float s = sdata[ch];
#else
    float s = 1.0;
#endif
    float b = bias[ch];
    [[unroll]] for (uint oy = 0; oy < OYB; oy++) {
        if (oy0 + oy >= p.oh)
            break;
        uint row = ((n * p.oh + oy0 + oy) * p.ow + ox0) * p.c + ch;
        [[unroll]] for (uint o = 0; o < OXB; o++)
            if (ox0 + o < p.ow) {
                uint i = row + o * p.c;
                y[i] = apply_act(ACT, acc[oy * OXB + o] * s + b + resid(i), p.alpha, p.beta);
            }
    }
}
