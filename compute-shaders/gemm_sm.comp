#version 450
// vkv-variant: gemm_sm_f32 WTYPE=0
// vkv-variant: gemm_sm_f16 WTYPE=1
// vkv-variant: gemm_sm_i8 WTYPE=2
// vkv-variant: gemm_sm_h_f32 WTYPE=0,HALF=1
// vkv-variant: gemm_sm_h_f16 WTYPE=1,HALF=1
// vkv-variant: gemm_sm_h_i8 WTYPE=2,HALF=1
/*
 * gemm_sm.comp: the GPU family's GEMM, y[M,N] = act(x[M,K] w[K,N] * scale[N]
 * + bias[N] + residual) for 1x1 convolutions and dense layers (same op and
 * bindings as gemm.comp, which stays the CPU-device kernel).
 *
 * Shared-memory tiles: a workgroup of S x S invocations computes a block of
 * BM = S*TM rows by BN = S*TN*4 columns; per step of BK = 16 along K it
 * stages the x block (transposed, BK x BM) and the w block (BK x BN, as
 * vec4) in shared memory with coalesced loads (adjacent invocations read
 * adjacent addresses), then each invocation accumulates a register tile of
 * TM rows x TN vec4 columns from shared memory.  Rows of an invocation are
 * ly + S*i and columns lx + S*j (strided, so neighbouring invocations read
 * neighbouring shared words: no bank conflicts on the w tile, one broadcast
 * word on the x tile).  Everything past M, N or K is staged as zero and not
 * stored, so any shape runs (VEC4: vector loads/stores when K % 4 == 0 and
 * N % 4 == 0, else scalar loads with per-element bounds).
 *
 * HALF variants (gemm_sm_h_*, need shaderFloat16): the tiles are stored and
 * multiplied in fp16 (half the shared memory and twice the arithmetic rate
 * on GPUs with packed fp16); each BK step's 16 products are summed in fp16,
 * then added to an fp32 accumulator, so rounding grows with 16 terms, not
 * with K.  int8 weights are scaled before they are converted, so the fp16
 * products stay in range.
 *
 * Bindings: 0 x f32, 1 w (WTYPE), 2 bias, 3 scale, 4 y, 5 residual (RES).
 * Push: struct rt_push_gemm.  Spec: 0 ACT, 1 VEC4, 2 TM (rows per
 * invocation), 3 TN (vec4 column blocks per invocation), 4 RES, 5 S and
 * 6 S again (workgroup size x and y), 7 RESC (a residual with RESC < N
 * channels: channel c of row r is res[r * RESC + c], zero past RESC; 0 =
 * the residual has the output's shape).  Shared memory 4*BK*(BM+BN) bytes
 * (half that for HALF); the host keeps it under the device limit.
 * Grid: (ceil(N / BN), ceil(M / BM)).  Loop trips per invocation: K.
 */
#extension GL_GOOGLE_include_directive : require
#if HALF
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int VEC4 = 0;
layout(constant_id = 2) const uint TM = 4;
layout(constant_id = 3) const uint TN = 1;
layout(constant_id = 4) const int RES = 0;
layout(constant_id = 5) const uint S = 16;
layout(constant_id = 7) const uint RESC = 0; /* residual channels when fewer than N, else 0 */
layout(local_size_x_id = 5, local_size_y_id = 6) in;
#include "common.glsl"
#include "weights.glsl"
#include "residual.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 0) readonly buffer XBuf4 { vec4 x4[]; };
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 4) writeonly buffer YBuf { float y[]; };
layout(std430, binding = 4) writeonly buffer YBuf4 { vec4 y4[]; };
layout(push_constant) uniform P {
    uint m, k, n;
    float alpha, beta;
} p;

const uint BK = 16u;
const uint BM = S * TM;  /* rows per workgroup */
const uint BN4 = S * TN; /* vec4 column blocks per workgroup */
const uint NT = S * S;   /* invocations per workgroup */
#if HALF
#define SCAL float16_t
#define VEC f16vec4
#else
#define SCAL float
#define VEC vec4
#endif
shared SCAL xs[BK * BM];
shared VEC ws[BK * BN4];

/* four weights of row kk, columns c..c+3 (zero past N); HALF: scaled */
vec4 wload(uint kk, uint c)
{
    vec4 v = vec4(0.0);
    if (VEC4 != 0) {
        if (c < p.n) {
            v = wraw4(kk * p.n + c);
#if HALF
            v *= wscale4(c);
#endif
        }
        return v;
    }
    for (uint q = 0u; q < 4u; q++)
        if (c + q < p.n) {
            v[q] = wraw(kk * p.n + c + q);
#if HALF
            v[q] *= wscale(c + q);
#endif
        }
    return v;
}

vec4 act4(vec4 v)
{
    return vec4(apply_act(ACT, v.x, p.alpha, p.beta), apply_act(ACT, v.y, p.alpha, p.beta),
                apply_act(ACT, v.z, p.alpha, p.beta), apply_act(ACT, v.w, p.alpha, p.beta));
}

void main()
{
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y, lid = ly * S + lx;
    uint rbase = gl_WorkGroupID.y * BM, cbase = gl_WorkGroupID.x * BN4 * 4u;
    vec4 acc[TM * TN];
    for (uint i = 0u; i < TM * TN; i++)
        acc[i] = vec4(0.0);
    for (uint k0 = 0u; k0 < p.k; k0 += BK) {
        /* x block, transposed into xs[kk * BM + r] */
        if (VEC4 != 0) {
            for (uint e = lid; e < BM * (BK / 4u); e += NT) {
                uint r = e / (BK / 4u), q = e % (BK / 4u), gr = rbase + r, gk = k0 + q * 4u;
                vec4 v = gr < p.m && gk < p.k ? x4[(gr * p.k + gk) >> 2] : vec4(0.0);
                for (uint t = 0u; t < 4u; t++)
                    xs[(q * 4u + t) * BM + r] = SCAL(v[t]);
            }
        } else {
            for (uint e = lid; e < BM * BK; e += NT) {
                uint r = e / BK, kk = e % BK, gr = rbase + r, gk = k0 + kk;
                xs[kk * BM + r] = SCAL(gr < p.m && gk < p.k ? x[gr * p.k + gk] : 0.0);
            }
        }
        /* w block: ws[kk * BN4 + j] = w[k0 + kk][cbase + 4j .. +3] */
        for (uint e = lid; e < BK * BN4; e += NT) {
            uint kk = e / BN4, j = e % BN4, gk = k0 + kk;
            ws[e] = VEC(gk < p.k ? wload(gk, cbase + 4u * j) : vec4(0.0));
        }
        barrier();
#if HALF
        VEC hacc[TM * TN];
        for (uint i = 0u; i < TM * TN; i++)
            hacc[i] = VEC(0.0);
#endif
        for (uint kk = 0u; kk < BK; kk++) {
            VEC wv[TN];
            for (uint j = 0u; j < TN; j++)
                wv[j] = ws[kk * BN4 + lx + S * j];
            for (uint i = 0u; i < TM; i++) {
                SCAL a = xs[kk * BM + ly + S * i];
                for (uint j = 0u; j < TN; j++)
#if HALF
                    hacc[i * TN + j] += a * wv[j];
#else
                    acc[i * TN + j] += a * wv[j];
#endif
            }
        }
#if HALF
        for (uint i = 0u; i < TM * TN; i++)
            acc[i] += vec4(hacc[i]);
#endif
        barrier();
    }
    for (uint j = 0u; j < TN; j++) {
        uint c = cbase + 4u * (lx + S * j);
        if (c >= p.n)
            continue;
        for (uint i = 0u; i < TM; i++) {
            uint r = rbase + ly + S * i;
            if (r >= p.m)
                continue;
            vec4 v = acc[i * TN + j];
            if (VEC4 != 0 && RESC == 0u) {
#if HALF
                vec4 s = vec4(1.0);
#else
                vec4 s = wscale4(c);
#endif
                vec4 b = vec4(bias[c], bias[c + 1u], bias[c + 2u], bias[c + 3u]);
                uint o4 = (r * p.n + c) >> 2;
                y4[o4] = act4(v * s + b + resid4(o4));
            } else {
                for (uint q = 0u; q < 4u; q++) {
                    uint cq = c + q, o = r * p.n + cq;
                    if (cq >= p.n)
                        break;
#if HALF
                    float s = 1.0;
#else
                    float s = wscale(cq);
#endif
                    float res = RESC == 0u ? resid(o)
                                : (RES != 0 && cq < RESC ? rdata[r * RESC + cq] : 0.0);
                    y[o] = apply_act(ACT, v[q] * s + bias[cq] + res, p.alpha, p.beta);
                }
            }
        }
    }
}
