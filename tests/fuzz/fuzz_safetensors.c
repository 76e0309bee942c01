/*
 * fuzz_safetensors.c: the safetensors reader (import/st.c).
 *
 * Opens the bytes with st_open_mem; on success every tensor lies inside the
 * input (so converting it reads only the input) and is converted to fp32,
 * fp16, int8 and, when its rows allow, 4-bit.  Memory stays bounded by the
 * input size: tensor bytes are checked against the buffer before use.
 */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>

#include "common/cm.h"
#include "import/st.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err e;
    struct st_file *f = NULL;
    struct st_limits lim = {.max_header = 1 << 16, .max_tensors = 256, .max_elems = 1 << 20};
    if (st_open_mem(&f, data, size, &lim, &e) != 0) {
        CM_ASSERT(f == NULL && e.msg[0] != '\0');
        return 0;
    }
    for (size_t i = 0; i < st_count(f); i++) {
        const struct st_tensor *t = st_at(f, i);
        CM_ASSERT(t->end <= size && t->rows * t->cols == t->nelem);
        CM_ASSERT(st_find(f, t->name) == t);
        float *x = cm_xmalloc((t->nelem + 1) * sizeof(float));
        uint16_t *h = cm_xmalloc((t->nelem + 1) * 2);
        int8_t *q = cm_xmalloc(t->nelem + 1);
        float *s = cm_xmalloc((t->rows + 1) * sizeof(float));
        CM_ASSERT(st_rows_f32(f, t, 0, t->rows, x, &e) == 0);
        CM_ASSERT(st_to_f16(f, t, h, &e) == 0);
        CM_ASSERT(st_to_i8(f, t, q, s, &e) == 0);
        if (t->cols % 32 == 0) {
            float *s4 = cm_xmalloc((t->nelem / 32 + 1) * sizeof(float));
            CM_ASSERT(st_to_q4(f, t, 32, (uint8_t *)q, s4, &e) == 0);
            free(s4);
        }
        free(x);
        free(h);
        free(q);
        free(s);
    }
    st_close(f);
    return 0;
}
