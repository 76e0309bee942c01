/*
 * rt_upload.c: weight upload (see rt_upload.h).
 */
#include "runtime/vk/rt_upload.h"

#include <string.h>

int rt_upload_weights(struct rt_gpu *gpu, const struct rt_graph *g, const struct rt_memplan *m,
                      struct rt_buffer *wbuf, VkFence fence, struct err *e)
{
    struct rt_buffer st;
    memset(&st, 0, sizeof(st));
    uint64_t size = m->size[RT_REG_WEIGHT];
    /* a mapped weight buffer (UMA) is written in place; else through staging */
    int direct = wbuf->map != NULL, rc = 0;
    if (!direct && (rc = rt_buffer_create(gpu, size, RT_MEM_HOST, &st, e)) < 0)
        return rc;
    uint8_t *base = direct ? wbuf->map : st.map;
    memset(base, 0, size);
    for (int t = 0; t < g->n_tensors; t++) {
        const struct rt_tensor *T = &g->tensors[t];
        if (!T->is_const || m->reg[t].kind != RT_REG_WEIGHT || m->reg[t].size == 0)
            continue;
        int64_t n = rt_tensor_nelem(T);
        uint8_t *dst = base + m->reg[t].off;
        if (T->qtype == RT_DTYPE_F16) {
            uint16_t *h = (uint16_t *)dst;
            for (int64_t i = 0; i < n; i++)
                h[i] = rt_f32_to_f16(T->data[i]);
        } else if (T->qtype == RT_DTYPE_I8) {
            int64_t cout = T->shape[T->ndim - 1];
            float *sc = (float *)(base + m->wscale[t].off);
            rt_quant_scales(T->data, n, cout, sc);
            int8_t *q = (int8_t *)dst;
            for (int64_t i = 0; i < n; i++) {
                float v = T->data[i] / sc[i % cout];
                v = v < -127 ? -127 : (v > 127 ? 127 : v);
                q[i] = (int8_t)(v < 0 ? v - 0.5f : v + 0.5f);
            }
        } else {
            memcpy(dst, T->data, (size_t)n * 4);
        }
    }
    if (direct)
        return 0; /* coherent memory; the first submit makes it visible */
    rc = rt_command_copy(gpu, fence, st.buf, 0, wbuf->buf, 0, size, e);
    rt_buffer_destroy(gpu, &st);
    return rc;
}
