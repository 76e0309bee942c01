/*
 * rt_kv.c: the device KV cache and its snapshots (see rt_kv.h).
 */
#include "runtime/tfm/rt_kv.h"

#include <stdlib.h>

uint64_t rt_kv_bytes_for(uint32_t n_layers, uint32_t dim, uint32_t cap, int f16)
{
    return (uint64_t)n_layers * 2 * cap * dim * (f16 ? 2 : 4);
}

int rt_kv_init(struct rt_device *d, uint32_t n_layers, uint32_t dim, uint32_t cap, int f16,
               uint64_t budget, struct rt_kv **out, struct err *e)
{
    uint64_t bytes = rt_kv_bytes_for(n_layers, dim, cap, f16);
    if (n_layers == 0 || dim == 0 || cap == 0)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "empty KV cache");
    if (budget != 0 && bytes > budget)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "vram_budget",
                       "KV cache of %llu bytes (%u positions) exceeds the budget of %llu",
                       (unsigned long long)bytes, cap, (unsigned long long)budget);
    if ((uint64_t)cap * dim * (f16 ? 2 : 4) > d->gpu.caps.max_storage_range)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "KV cache layer of %u positions over maxStorageBufferRange", cap);
    struct rt_kv *kv = calloc(1, sizeof(*kv));
    if (kv == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate a KV cache");
    int rc = rt_tf_buf_init(d, bytes, 0, &kv->buf, e);
    if (rc < 0) {
        free(kv);
        return rc;
    }
    kv->dev = d;
    kv->n_layers = n_layers;
    kv->dim = dim;
    kv->cap = cap;
    kv->f16 = f16 != 0;
    *out = kv;
    return 0;
}

void rt_kv_free(struct rt_kv *kv)
{
    if (kv == NULL)
        return;
    rt_tf_buf_free(kv->dev, kv->buf);
    free(kv);
}

struct rt_tf_ref rt_kv_ref(const struct rt_kv *kv, uint32_t l, int which)
{
    uint64_t layer = (uint64_t)kv->cap * kv->dim * (kv->f16 ? 2 : 4);
    return rt_tf_sub(rt_tf_whole(kv->buf), (2 * (uint64_t)l + (uint64_t)which) * layer, layer);
}

/* copies len rows of every K/V between the cache and a packed snapshot */
static int copy_rows(struct rt_kv *kv, struct rt_tf_buf *snap, uint32_t len, int to_snap,
                     struct err *e)
{
    if (len == 0)
        return 0;
    struct rt_tf_seq *s = NULL;
    int rc = rt_tf_seq_init(kv->dev, &s, e);
    uint64_t rows = (uint64_t)len * kv->dim * (kv->f16 ? 2 : 4);
    for (uint32_t i = 0; rc == 0 && i < 2 * kv->n_layers; i++) {
        struct rt_tf_ref c = rt_tf_sub(rt_kv_ref(kv, i / 2, (int)(i % 2)), 0, rows);
        struct rt_tf_ref p = rt_tf_sub(rt_tf_whole(snap), i * rows, rows);
        rc = to_snap ? rt_tf_seq_copy(s, c, p, e) : rt_tf_seq_copy(s, p, c, e);
    }
    if (rc == 0)
        rc = rt_tf_seq_end(s, e);
    if (rc == 0)
        rc = rt_tf_seq_submit(s, e);
    rt_tf_seq_free(s);
    return rc;
}

int rt_kv_snapshot(struct rt_kv *kv, struct rt_kv_snap **out, struct err *e)
{
    struct rt_kv_snap *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate a snapshot");
    uint64_t bytes = rt_kv_bytes_for(kv->n_layers, kv->dim, kv->len ? kv->len : 1, kv->f16);
    int rc = rt_tf_buf_init(kv->dev, bytes, 0, &s->buf, e);
    if (rc == 0)
        rc = copy_rows(kv, s->buf, kv->len, 1, e);
    if (rc < 0) {
        rt_kv_snap_free(kv->dev, s);
        return rc;
    }
    s->n_layers = kv->n_layers;
    s->dim = kv->dim;
    s->len = kv->len;
    s->f16 = kv->f16;
    *out = s;
    return 0;
}

int rt_kv_restore(struct rt_kv *kv, const struct rt_kv_snap *s, struct err *e)
{
    if (s->n_layers != kv->n_layers || s->dim != kv->dim || s->f16 != kv->f16 || s->len > kv->cap)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal",
                       "snapshot of %u layers x %u (%u positions) does not fit the cache",
                       s->n_layers, s->dim, s->len);
    int rc = copy_rows(kv, s->buf, s->len, 0, e);
    if (rc == 0)
        kv->len = s->len;
    return rc;
}

void rt_kv_snap_free(struct rt_device *d, struct rt_kv_snap *s)
{
    if (s == NULL)
        return;
    rt_tf_buf_free(d, s->buf);
    free(s);
}
