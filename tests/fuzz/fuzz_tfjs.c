/*
 * fuzz_tfjs.c: the tfjs importer (layers and graph models,
 * import/rt_import_tfjs.c) on arbitrary input.  The input is split: the
 * first two bytes (little endian) give the length of model.json, the rest
 * after it is the concatenated weight shards.
 *
 * Checks: a failure leaves no graph and fills the error message; a success
 * gives a graph with inputs and in-range outputs.  See tests/fuzz/README.md.
 */
#include "tests/fuzz/fuzz.h"

#include "common/cm.h"
#include "import/rt_import.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t jl = (size_t)data[0] | (size_t)data[1] << 8;
    if (jl > size - 2)
        jl = size - 2;
    struct rt_import_opts o;
    struct rt_graph *g = (struct rt_graph *)1;
    struct err e;
    memset(&o, 0, sizeof(o));
    memset(&e, 0, sizeof(e));
    o.in_h = o.in_w = 32;
    int rc =
        rt_import_tfjs_mem((const char *)data + 2, jl, data + 2 + jl, size - 2 - jl, &o, &g, &e);
    if (rc < 0) {
        CM_ASSERT(g == NULL && e.msg[0] != '\0');
        return 0;
    }
    CM_ASSERT(g != NULL && g->n_inputs > 0 && g->n_outputs > 0);
    for (int i = 0; i < g->n_outputs; i++)
        CM_ASSERT(g->outputs[i] >= 0 && g->outputs[i] < g->n_tensors);
    rt_graph_free(g);
    return 0;
}
