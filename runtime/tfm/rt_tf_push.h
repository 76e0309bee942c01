/*
 * rt_tf_push.h: push-constant blocks of the transformer kernels
 * (compute-shaders/tf_*.comp mirror them field by field; 32-bit scalars
 * only, so C and std430 layouts agree; each <= 128 bytes).
 */
#ifndef VKV_RT_TF_PUSH_H
#define VKV_RT_TF_PUSH_H

#include <stdint.h>

struct rt_tf_push_linear { /* tf_linear_mv.comp, tf_linear_mm.comp */
    uint32_t m, n, k, ldx, ldy, ycol0;
};
struct rt_tf_push_ln { /* tf_layernorm.comp */
    uint32_t rows, dim, ldx, ldy;
    float eps;
};
struct rt_tf_push_elt { /* tf_eltwise.comp */
    uint32_t n, nb;
};
struct rt_tf_push_softmax { /* tf_softmax.comp */
    uint32_t rows, len, ld, t, pos0, prefix, causal;
    float scale;
};
struct rt_tf_push_attn { /* tf_attn.comp, tf_attn_dec.comp */
    uint32_t t, st, prefix, causal;
    uint32_t qoff, qld, qbs, koff, kld, kbs, voff, vld, vbs, ooff, old, obs;
    float scale;
};
struct rt_tf_push_rope { /* tf_rope.comp */
    uint32_t t, d, hd, rot, ld, st, max_pos, qld, kld;
};
struct rt_tf_push_embed { /* tf_embed.comp */
    uint32_t t, d, row0, rows, ld, idoff;
};
struct rt_tf_push_pool { /* tf_pool.comp */
    uint32_t n, h, w, c, oh, ow;
};
struct rt_tf_push_copy { /* tf_copy.comp */
    uint32_t dims[4], ss[4], ds[4];
    uint32_t soff, doff, total;
};
struct rt_tf_push_fourier { /* tf_fourier.comp */
    uint32_t m, i, f;
};
struct rt_tf_push_argmax { /* tf_argmax.comp */
    uint32_t rows, len, ld, ooff;
};

_Static_assert(sizeof(struct rt_tf_push_attn) <= 128, "push attn");
_Static_assert(sizeof(struct rt_tf_push_copy) <= 128, "push copy");

#endif
