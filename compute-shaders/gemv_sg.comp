#version 450
// vkv-variant: gemv_sg_f32 WTYPE=0
// vkv-variant: gemv_sg_f16 WTYPE=1
// vkv-variant: gemv_sg_i8 WTYPE=2
/*
 * gemv_sg.comp: the GPU family's GEMM for a few rows (M <= 4: dense layers
 * and 1x1 convolutions at batch 1 on a 1x1 map), y[M,N] = act(x[M,K] w[K,N]
 * * scale[N] + bias[N] + residual).  A tiled GEMM would leave most of its
 * rows idle; here one subgroup owns a block of 8 output columns and its
 * lanes split K (lane l takes k = l, l + SG, ...): each lane reads 8
 * consecutive weights of its row (32 bytes, a whole memory sector), the
 * x values of its k, and keeps 8 x M partial sums; subgroupAdd reduces
 * them and one lane applies the epilogue.  Works for any subgroup size
 * (blocks are visited in a grid-stride loop over the workgroup's
 * subgroups, so the host's guess of the size only shapes the grid).
 * Needs subgroup arithmetic in compute shaders (caps.subgroup_arith).
 *
 * Bindings: 0 x f32, 1 w (WTYPE), 2 bias, 3 scale, 4 y, 5 residual (RES).
 * Push: struct rt_push_gemm.  Spec: 0 ACT, 1 VEC4 (K % 4 == 0 and
 * N % 4 == 0: weights read as vec4), 2 RM (rows, 1..4), 4 RES, 7 RESC (as
 * gemm_sm.comp).  Workgroup 64.  Grid: (enough workgroups for
 * ceil(N / 8) blocks at the device's default subgroup size, 1).
 * Loop trips per invocation: K / SG per block.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 64) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int VEC4 = 0;
layout(constant_id = 2) const uint RM = 1;
layout(constant_id = 4) const int RES = 0;
layout(constant_id = 7) const uint RESC = 0;
#include "common.glsl"
#include "weights.glsl"
#include "residual.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 2) readonly buffer BBuf { float bias[]; };
layout(std430, binding = 4) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P {
    uint m, k, n;
    float alpha, beta;
} p;

/* weights k, columns c..c+3 (zero past N) */
vec4 wload(uint k, uint c)
{
    if (VEC4 != 0)
        return c < p.n ? wraw4(k * p.n + c) : vec4(0.0);
    vec4 v = vec4(0.0);
    for (uint q = 0u; q < 4u; q++)
        if (c + q < p.n)
            v[q] = wraw(k * p.n + c + q);
    return v;
}

void main()
{
    uint nblk = (p.n + 7u) / 8u, rows = min(RM, p.m);
    uint stride = gl_NumWorkGroups.x * gl_NumSubgroups;
    for (uint blk = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; blk < nblk; blk += stride) {
        uint c0 = blk * 8u;
        vec4 acc[2u * RM];
        for (uint i = 0u; i < 2u * RM; i++)
            acc[i] = vec4(0.0);
        for (uint k = gl_SubgroupInvocationID; k < p.k; k += gl_SubgroupSize) {
            vec4 wa = wload(k, c0), wb = wload(k, c0 + 4u);
            for (uint r = 0u; r < rows; r++) {
                float xv = x[r * p.k + k];
                acc[2u * r] += xv * wa;
                acc[2u * r + 1u] += xv * wb;
            }
        }
        for (uint i = 0u; i < 2u * RM; i++)
            acc[i] = subgroupAdd(acc[i]);
        if (subgroupElect()) {
            for (uint r = 0u; r < rows; r++)
                for (uint q = 0u; q < 8u; q++) {
                    uint c = c0 + q, o = r * p.n + c;
                    if (c >= p.n)
                        break;
                    float res = RESC == 0u ? resid(o)
                                : (RES != 0 && c < RESC ? rdata[r * RESC + c] : 0.0);
                    float v = acc[2u * r + q / 4u][q % 4u];
                    y[o] = apply_act(ACT, v * wscale(c) + bias[c] + res, p.alpha, p.beta);
                }
        }
    }
}
