/*
 * rt_tf.h: transformer kernels on one Vulkan device (prefix rt_tf_):
 * device buffers, a recorder of dispatches with hazard-tracked barriers
 * (struct rt_tf_seq: record once, submit many times), quantised linear
 * weights, and one recording function per op.  Used by the decoder
 * (rt_dec.c), the conformance test and the benches; internal to runtime/.
 *
 *   struct rt_tf_seq *s;  rt_tf_seq_init(dev, &s, &e);
 *   rt_tf_layernorm(s, ...);  rt_tf_linear(s, ...);  ...
 *   rt_tf_seq_end(s, &e);  rt_tf_seq_submit(s, &e);  (again: replays)
 *   rt_tf_seq_free(s);
 *
 * Shapes travel in push constants recorded once; what changes per decode
 * step (positions, token ids) is read by the kernels from device buffers
 * (the "state" and "ids" refs), so a recorded step is replayed unchanged.
 * Every op checks its refs cover what the kernel reads and writes
 * (RT_ERR_INVALID otherwise) and refuses shapes its kernel cannot run
 * (RT_UNSUPPORTED).  Kernels and layouts: runtime/tfm/README.md.
 */
#ifndef VKV_RT_TF_H
#define VKV_RT_TF_H

#include "runtime/vk/rt_buffer.h"
#include "runtime/vk/rt_command.h"
#include "runtime/vk/rt_device.h"

#include <stdint.h>

/* ---- buffers ------------------------------------------------------------ */

struct rt_tf_buf {
    struct rt_buffer b;
    int host; /* 1: host-visible (mapped; b.map) */
};

/* a byte range of a buffer */
struct rt_tf_ref {
    struct rt_tf_buf *buf;
    uint64_t off, size;
};

/* creates a buffer of size bytes: host = 1 host-visible and mapped (inputs,
 * outputs, step state), 0 device-local (mapped too on UMA devices).
 * Returns 0 and a new buffer in *out (caller frees with rt_tf_buf_free), or
 * <0 with e set (RT_ERR_OOM). */
int rt_tf_buf_init(struct rt_device *d, uint64_t size, int host, struct rt_tf_buf **out,
                   struct err *e);
/* frees b and its memory (no work may be pending on it); NULL ok */
void rt_tf_buf_free(struct rt_device *d, struct rt_tf_buf *b);
/* the whole buffer / a sub-range (bytes); cannot fail */
struct rt_tf_ref rt_tf_whole(struct rt_tf_buf *b);
struct rt_tf_ref rt_tf_sub(struct rt_tf_ref r, uint64_t off, uint64_t size);
/* copies n bytes host -> buffer / buffer -> host at off (through a temporary
 * staging buffer when b is not mapped).  0 or <0 with e set. */
int rt_tf_buf_write(struct rt_device *d, struct rt_tf_buf *b, uint64_t off, const void *src,
                    uint64_t n, struct err *e);
int rt_tf_buf_read(struct rt_device *d, struct rt_tf_buf *b, uint64_t off, void *dst, uint64_t n,
                   struct err *e);

/* ---- recorded sequences -------------------------------------------------- */

struct rt_tf_seq;

/* starts recording a command buffer.  Returns 0 and a new sequence in *out
 * (caller frees with rt_tf_seq_free), or <0 with e set. */
int rt_tf_seq_init(struct rt_device *d, struct rt_tf_seq **out, struct err *e);
/* ends recording (adds the barrier that makes results host-visible) */
int rt_tf_seq_end(struct rt_tf_seq *s, struct err *e);
/* submits the recorded sequence and waits for it (VKV_RT_TIMEOUT_MS);
 * may be called any number of times.  0 or <0 (RT_ERR_TIMEOUT,
 * RT_ERR_DEVICE_LOST fatal) */
int rt_tf_seq_submit(struct rt_tf_seq *s, struct err *e);
/* the two halves of rt_tf_seq_submit: submit without waiting, then wait
 * for that submission (exactly one wait per kick) */
int rt_tf_seq_kick(struct rt_tf_seq *s, struct err *e);
int rt_tf_seq_wait(struct rt_tf_seq *s, struct err *e);
/* frees the sequence (not running); NULL ok */
void rt_tf_seq_free(struct rt_tf_seq *s);
/* dispatches / barriers recorded so far; cannot fail */
int rt_tf_seq_dispatches(const struct rt_tf_seq *s);
int rt_tf_seq_barriers(const struct rt_tf_seq *s);
/* records a buffer copy of src.size bytes into dst (dst.size >= src.size) */
int rt_tf_seq_copy(struct rt_tf_seq *s, struct rt_tf_ref src, struct rt_tf_ref dst, struct err *e);

enum rt_tf_texel {
    RT_TF_TEXEL_NONE = 0, /* storage buffer */
    RT_TF_TEXEL_U32X4,    /* uniform texel buffer, RGBA32UI */
    RT_TF_TEXEL_F32X4,    /* uniform texel buffer, RGBA32F */
};

struct rt_tf_bind {
    struct rt_tf_ref r;
    int write;
    int texel; /* enum rt_tf_texel (read-only bindings) */
};

/* 1 when r can be bound as a uniform texel buffer of 16-byte texels on this
 * device (a device buffer, format supported, offset aligned, size a multiple
 * of 16, under maxTexelBufferElements); cannot fail */
int rt_tf_seq_texel_ok(const struct rt_tf_seq *s, struct rt_tf_ref r);
/* records one dispatch of shader sh; a barrier first only on a hazard
 * (reads or writes bytes written since the last barrier, or writes bytes
 * read since then).  Bindings are storage buffers 0..nb-1. */
int rt_tf_seq_dispatch(struct rt_tf_seq *s, enum rt_shader_id sh, const uint32_t *spec, int n_spec,
                       const struct rt_tf_bind *b, int nb, const void *push, uint32_t push_size,
                       uint32_t gx, uint32_t gy, uint32_t gz, struct err *e);

/* ---- weights ------------------------------------------------------------- */

enum rt_tf_wtype { RT_TF_F32 = 0, RT_TF_F16, RT_TF_I8, RT_TF_Q4 };
#define RT_TF_Q4_GROUP 32 /* group of rt_tf_weight_upload's own q4 quantiser */
#define RT_TF_MAX_PARTS 16

/* a linear weight W[n][k] (PyTorch orientation) + fp32 bias[n], on the
 * device in one buffer, split by rows into parts under maxStorageBufferRange */
struct rt_tf_weight {
    int type; /* enum rt_tf_wtype */
    uint32_t n, k;
    uint32_t group; /* q4: elements per scale/zero group along k (32, 64, 128) */
    int n_parts;
    uint32_t part_rows; /* rows per part (the last may hold fewer) */
    struct rt_tf_ref data[RT_TF_MAX_PARTS], scale[RT_TF_MAX_PARTS], zero[RT_TF_MAX_PARTS];
    struct rt_tf_ref bias;
    struct rt_tf_buf *buf; /* owned */
    uint64_t bytes;        /* device bytes */
};

/* readable name of a weight type ("f32", "f16", "i8", "q4"); cannot fail */
const char *rt_tf_wtype_name(int type);
/* parses a name of rt_tf_wtype_name; <0 when unknown */
int rt_tf_wtype_parse(const char *s);

/*
 * Quantises w (n*k floats, borrowed for the call; no copy is kept) into
 * type on the device, with bias (n floats, or NULL for zeros).  k must be a
 * multiple of 32 (q4) or 8.  Returns 0 and fills *out (free with
 * rt_tf_weight_free), or <0 with e set.
 */
int rt_tf_weight_upload(struct rt_device *d, int type, uint32_t n, uint32_t k, const float *w,
                        const float *bias, struct rt_tf_weight *out, struct err *e);
/*
 * As rt_tf_weight_upload from already quantised data (the safetensors
 * converters' output; layouts in runtime/tfm/README.md), copied as is:
 * f32/f16: q holds n*k floats / halves; i8: q holds n*k int8 and scale n
 * floats; q4: q holds n*k/2 bytes of nibbles, scale and zero n*k/group floats
 * (zero NULL: symmetric, every zero point 8).  group 32, 64 or 128 (q4).
 */
int rt_tf_weight_upload_raw(struct rt_device *d, int type, uint32_t n, uint32_t k, uint32_t group,
                            const void *q, const float *scale, const float *zero, const float *bias,
                            struct rt_tf_weight *out, struct err *e);
/* frees the weight's device memory; a zeroed struct is fine */
void rt_tf_weight_free(struct rt_device *d, struct rt_tf_weight *w);

/* ---- ops (each records one or more dispatches into s) ------------------- */

enum rt_tf_act { RT_TF_ACT_NONE = 0, RT_TF_ACT_GELU_TANH = 1, RT_TF_ACT_GELU_ERF = 2 };

/* y[r, :] = layernorm(x[r, :]) * w + b for rows of dim (row strides ldx, ldy) */
int rt_tf_layernorm(struct rt_tf_seq *s, struct rt_tf_ref x, uint32_t ldx, struct rt_tf_ref w,
                    struct rt_tf_ref b, struct rt_tf_ref y, uint32_t ldy, uint32_t rows,
                    uint32_t dim, float eps, struct err *e);

enum rt_tf_elt { RT_TF_ADD = 0, RT_TF_GELU_TANH = 1, RT_TF_GELU_ERF = 2 };
/* n elements: ADD y = a + b[i % nb]; GELU_* y = gelu(a) (b ignored) */
int rt_tf_eltwise(struct rt_tf_seq *s, int op, struct rt_tf_ref a, struct rt_tf_ref b, uint32_t nb,
                  struct rt_tf_ref y, uint32_t n, struct err *e);

/* masked row softmax of x*scale (see tf_softmax.comp): rows of len, stride ld;
 * row r is query pos0 + r % t; keys j < pos0 + t; causal: j < prefix or j <= query */
int rt_tf_softmax(struct rt_tf_seq *s, struct rt_tf_ref x, struct rt_tf_ref y, uint32_t rows,
                  uint32_t len, uint32_t ld, uint32_t t, uint32_t pos0, uint32_t prefix, int causal,
                  float scale, struct err *e);

/*
 * y[m, :] = act(x[m, :] W^T + bias) (+ y when acc), m rows; row strides
 * ldx, ldy (floats; ldx % 4 == 0; k % 16 == 0).  m <= 4 uses the one-row
 * kernel (VKV_TF_LINEAR=mm|mv forces one, for benches).  On CPU devices
 * (lavapipe) x and W are read through uniform texel buffers when they can
 * be (VKV_TF_TEXEL=0|1 overrides the choice).
 */
int rt_tf_linear(struct rt_tf_seq *s, const struct rt_tf_weight *w, struct rt_tf_ref x,
                 uint32_t ldx, struct rt_tf_ref y, uint32_t ldy, uint32_t m, int act, int acc,
                 struct err *e);

/* one tensor of the attention: element (b, row, head, d) at
 * off + b*bs + row*ld + head*hd + d (floats) of ref */
struct rt_tf_view {
    struct rt_tf_ref r;
    uint32_t off, ld, bs;
};
struct rt_tf_attn {
    struct rt_tf_view q, k, v, o;
    struct rt_tf_ref state; /* uint32; pos0 = state[st] */
    uint32_t st;
    uint32_t t, batch, heads, hd; /* queries per sequence; hd 64 or 72 */
    uint32_t prefix;              /* causal: keys < prefix seen by all */
    int causal;
    float scale; /* usually 1/sqrt(hd) */
    int kv_f16;  /* k and v hold IEEE halves (an fp16 KV cache); q and o fp32 */
};
/* o = softmax(q k^T * scale + mask) v; keys 0 .. pos0 + t - 1 (t == 1 and batch == 1:
 * the decode kernel, context <= 4096) */
int rt_tf_attention(struct rt_tf_seq *s, const struct rt_tf_attn *a, struct err *e);

/* rotary embedding + KV write (tf_rope.comp): qkv rows [t][ld] (q, k, v of d
 * each), cs = table of rt_tfr_rope_table (max_pos x rot/2 (cos, sin)); q -> qo
 * rows (qld), k and v -> kc / vc rows pos0 + t (kld; fp32, or IEEE halves with
 * kv_f16); pos0 = state[st]; d, hd, rot and kld even */
int rt_tf_rope(struct rt_tf_seq *s, struct rt_tf_ref qkv, uint32_t ld, struct rt_tf_ref cs,
               struct rt_tf_ref state, uint32_t st, struct rt_tf_ref qo, uint32_t qld,
               struct rt_tf_ref kc, struct rt_tf_ref vc, uint32_t kld, uint32_t t, uint32_t d,
               uint32_t hd, uint32_t rot, uint32_t max_pos, int kv_f16, struct err *e);

/* x[i, :] = table[ids[idoff + i], :] for i < t (table: a weight of n rows x k
 * columns, f32/f16/i8; its bias unused); row stride ldx */
int rt_tf_embed(struct rt_tf_seq *s, const struct rt_tf_weight *table, struct rt_tf_ref ids,
                uint32_t idoff, uint32_t t, struct rt_tf_ref x, uint32_t ldx, struct err *e);

/* adaptive average pooling [n][h][w][c] -> [n][oh][ow][c] (PyTorch bins) */
int rt_tf_pool(struct rt_tf_seq *s, struct rt_tf_ref x, struct rt_tf_ref y, uint32_t n, uint32_t h,
               uint32_t w, uint32_t c, uint32_t oh, uint32_t ow, struct err *e);

/* strided 4-D copy (element strides/offsets) */
int rt_tf_copy(struct rt_tf_seq *s, struct rt_tf_ref x, struct rt_tf_ref y, const uint32_t dims[4],
               const uint32_t ss[4], const uint32_t ds[4], uint32_t soff, uint32_t doff,
               struct err *e);

/* Fourier features: x [m][i], w [i][f] -> y [m][2f] = cos, sin of 2 pi x w */
int rt_tf_fourier(struct rt_tf_seq *s, struct rt_tf_ref x, struct rt_tf_ref w, struct rt_tf_ref y,
                  uint32_t m, uint32_t i, uint32_t f, struct err *e);

/* out[ooff + r] = argmax of row r (uint32; first on ties) */
int rt_tf_argmax(struct rt_tf_seq *s, struct rt_tf_ref x, struct rt_tf_ref out, uint32_t rows,
                 uint32_t len, uint32_t ld, uint32_t ooff, struct err *e);

/* benches: `groups` workgroups of 64 invocations, each 32 * iters FMAs
 * (tf_peak.comp), one float per invocation into out */
int rt_tf_peak(struct rt_tf_seq *s, struct rt_tf_ref out, uint32_t groups, uint32_t iters,
               struct err *e);

#endif
