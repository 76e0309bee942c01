/*
 * rt_push.h: the push-constant block of every shader, defined once here and
 * mirrored in compute-shaders/ (each shader's header comment names its
 * struct).  Only 32-bit scalars and arrays of them, so the C layout equals
 * GLSL std430.  Sizes are checked against the 128-byte minimum limit.
 */
#ifndef VKV_RT_PUSH_H
#define VKV_RT_PUSH_H

#include <stdint.h>

/* conv2d.comp, dwconv.comp */
struct rt_push_conv {
    uint32_t n, h, w, c;      /* input NHWC */
    uint32_t oh, ow, co;      /* output */
    uint32_t kh, kw, cg, cog; /* kernel, input channels per group, output channels per group */
    uint32_t sh, sw, dh, dw;  /* stride, dilation */
    int32_t pt, pl;           /* padding top/left */
    float alpha, beta;        /* activation parameters */
};

/* dwpw.comp: depthwise 3x3 (input n,h,w; output oh,ow; padding pt,pl) + 1x1;
 * alpha/beta the 1x1's activation parameters, dalpha/dbeta the depthwise's */
struct rt_push_dwpw {
    uint32_t n, h, w, oh, ow;
    int32_t pt, pl;
    float alpha, beta, dalpha, dbeta;
};

/* gemm.comp: y[M,N] = act(x[M,K] * w[K,N] * scale[N] + bias[N]) */
struct rt_push_gemm {
    uint32_t m, k, n;
    float alpha, beta;
};

/* binary.comp: numpy-broadcast elementwise; strides are 0 on broadcast dims */
struct rt_push_binary {
    uint32_t total;
    uint32_t od[4], as[4], bs[4];
    float alpha, beta;
};

/* unary.comp (activation), batchnorm.comp (y = x*s[c] + t[c], c = idx % c) */
struct rt_push_unary {
    uint32_t total, c;
    float alpha, beta;
};

/* pool.comp */
struct rt_push_pool {
    uint32_t n, h, w, c, oh, ow, kh, kw, sh, sw;
    int32_t pt, pl;
    uint32_t count_pad;
};

/* global_avg.comp: one workgroup per (n, c) */
struct rt_push_gavg {
    uint32_t n, hw, c;
};

/* copy4d.comp: PAD, CONCAT, SLICE, TRANSPOSE, RESHAPE (see rt_ref_copy4d) */
struct rt_push_copy4d {
    uint32_t dims[4], ostr[4], istr[4];
    int32_t ibeg[4], ilim[4];
    uint32_t ooff, ioff, total;
    float fill;
};

/* softmax.comp, reduce_mean.comp: rows of `len` elements `inner` apart */
struct rt_push_rows {
    uint32_t outer, len, inner;
};

/* resize.comp */
struct rt_push_resize {
    uint32_t n, h, w, c, oh, ow, mode, align_corners, half_pixel;
};

/* matmul.comp: batch dims b0,b1 broadcast by strides (in elements) */
struct rt_push_matmul {
    uint32_t m, k, n, b0, b1;
    uint32_t sa0, sa1, sb0, sb1;
    float alpha, beta;
};

/* preprocess.comp: RGB8 -> NHWC float; per-image {w, h, byte offset, 0} in binding 0 */
struct rt_push_pre {
    uint32_t n, oh, ow, c, bilinear, align_corners, half_pixel;
    float scale;
    float mean[3], inv_std[3];
};

_Static_assert(sizeof(struct rt_push_conv) <= 128, "push conv");
_Static_assert(sizeof(struct rt_push_gemm) <= 128, "push gemm");
_Static_assert(sizeof(struct rt_push_binary) <= 128, "push binary");
_Static_assert(sizeof(struct rt_push_unary) <= 128, "push unary");
_Static_assert(sizeof(struct rt_push_pool) <= 128, "push pool");
_Static_assert(sizeof(struct rt_push_gavg) <= 128, "push gavg");
_Static_assert(sizeof(struct rt_push_copy4d) <= 128, "push copy4d");
_Static_assert(sizeof(struct rt_push_rows) <= 128, "push rows");
_Static_assert(sizeof(struct rt_push_resize) <= 128, "push resize");
_Static_assert(sizeof(struct rt_push_matmul) <= 128, "push matmul");
_Static_assert(sizeof(struct rt_push_pre) <= 128, "push pre");

#endif
