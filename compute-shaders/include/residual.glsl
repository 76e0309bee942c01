/*
 * residual.glsl: the optional residual of CONV2D/DENSE (binding 5, spec
 * RES): y = act(conv + bias + residual[same index]).  When RES is 0 the
 * host binds any valid region and nothing is read.
 * A kernel that declares the spec constant RESC (the residual's channel
 * count, 0 = the output's) before including this file may read a residual
 * with fewer channels than the output, the channels past RESC reading 0:
 * a channel zero-pad followed by ADD (BlazeFace's stride-2 blocks) folded
 * into the convolution by the graph passes, so no padded copy is written.
 * resid4n / residn take the output pixel (row) and channel for that case.
 * A kernel that defines RES_TEXEL reads the residual through an RGBA32F
 * uniform texel buffer instead (a vector gather on llvmpipe, where a
 * storage-buffer load is a per-lane loop; measured: the SSBO read was 15 %
 * of BlazeFace's gemm time); its host binds one only when the residual's
 * channel count is a multiple of 4, so every read is a whole texel.
 * A kernel that defines RES_POOL (with RES_TEXEL) may read a residual that
 * is the 2x2 stride-2 max-pool of the bound map (resid4p): the pool folded
 * into the read, so it is never stored (BlazeFace's stride-2 blocks).
 */
#ifdef RES_TEXEL
layout(binding = 5) uniform samplerBuffer rtex;
float resid(uint i) { return RES != 0 ? texelFetch(rtex, int(i >> 2))[i & 3u] : 0.0; }
vec4 resid4(uint i4) { return RES != 0 ? texelFetch(rtex, int(i4)) : vec4(0.0); }
#else
layout(std430, binding = 5) readonly buffer RBuf { float rdata[]; };
layout(std430, binding = 5) readonly buffer RBuf4 { vec4 rdata4[]; };
float resid(uint i) { return RES != 0 ? rdata[i] : 0.0; }
vec4 resid4(uint i4) { return RES != 0 ? rdata4[i4] : vec4(0.0); }
#endif
#ifdef RES_NARROW
/* channel c of pixel pix in a residual of RESC channels (c < RESC reads it) */
float residn(uint pix, uint c) { return (RES != 0 && c < RESC) ? resid(pix * RESC + c) : 0.0; }
/* channels c..c+3 (c % 4 == 0) of pixel pix */
vec4 resid4n(uint pix, uint c)
{
    if (RES == 0 || c >= RESC)
        return vec4(0.0);
    if (RESC % 4u == 0u)
        return resid4((pix * RESC + c) >> 2);
    return vec4(residn(pix, c), residn(pix, c + 1u), residn(pix, c + 2u), residn(pix, c + 3u));
}
#endif
#ifdef RES_POOL
/*
 * Channels c..c+3 (c % 4 == 0) of output pixel (row = n * oh + oy, ox) of a
 * residual that is the 2x2 stride-2 max-pool of the bound map (2 oh x 2 ow
 * pixels of rc channels, rc % 4 == 0); channels from rc on read 0.
 */
vec4 resid4p(uint row, uint ox, uint ow, uint rc, uint c)
{
    if (RES == 0 || c >= rc)
        return vec4(0.0);
    uint q = rc >> 2, up = 2u * ow * q; /* texels per input pixel / row */
    uint i = (2u * row * 2u * ow + 2u * ox) * q + (c >> 2);
    return max(max(resid4(i), resid4(i + q)), max(resid4(i + up), resid4(i + up + q)));
}
#endif
