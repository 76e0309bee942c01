/*
 * rt_kv.h: a KV cache on the device (prefix rt_kv_), one per request:
 * for each layer K and V of [cap positions][dim] fp32 or IEEE halves (row =
 * position, keys after rotary), in one buffer sized from the model config and the
 * request's maximum length, refused with RT_ERR_OOM above a byte budget.
 * A snapshot copies the first len positions of every layer to a separate
 * device buffer; restoring it into a cache of the same shape sets len back,
 * so a second question about the same image reuses its prefix.
 */
#ifndef VKV_RT_KV_H
#define VKV_RT_KV_H

#include "runtime/tfm/rt_tf.h"

struct rt_kv {
    struct rt_device *dev;
    struct rt_tf_buf *buf; /* owned */
    uint32_t n_layers, dim, cap, len;
    int f16; /* elements are IEEE halves */
};

struct rt_kv_snap {
    struct rt_tf_buf *buf; /* owned */
    uint32_t n_layers, dim, len;
    int f16;
};

/* bytes a cache of these sizes takes; cannot fail */
uint64_t rt_kv_bytes_for(uint32_t n_layers, uint32_t dim, uint32_t cap, int f16);

/* allocates a cache for cap positions; budget 0 = no limit, else RT_ERR_OOM
 * (transient) when rt_kv_bytes_for exceeds it.  Returns 0 and a new cache in
 * *out (caller frees with rt_kv_free), or <0 with e set. */
int rt_kv_init(struct rt_device *d, uint32_t n_layers, uint32_t dim, uint32_t cap, int f16,
               uint64_t budget, struct rt_kv **out, struct err *e);
void rt_kv_free(struct rt_kv *kv);

/* K or V (which 0/1) of layer l: cap rows of dim elements; cannot fail */
struct rt_tf_ref rt_kv_ref(const struct rt_kv *kv, uint32_t l, int which);

/* copies positions [0, kv->len) of every layer into a new snapshot (caller
 * frees with rt_kv_snap_free).  0 or <0 with e set. */
int rt_kv_snapshot(struct rt_kv *kv, struct rt_kv_snap **out, struct err *e);
/* copies a snapshot back (same n_layers, dim and element type, len <= cap)
 * and sets len */
int rt_kv_restore(struct rt_kv *kv, const struct rt_kv_snap *s, struct err *e);
void rt_kv_snap_free(struct rt_device *d, struct rt_kv_snap *s);

#endif
