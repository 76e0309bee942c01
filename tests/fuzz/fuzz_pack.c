/*
 * fuzz_pack.c: the packed model loader (runtime/ir/rt_pack.c).
 *
 * Feeds the bytes to rt_pack_load_mem.  Besides "no crash / leak / read
 * outside the input": a successful load yields a graph with at least one
 * input and output, every node's inputs defined before it, and constant
 * data present for every constant.  Memory stays bounded by the input
 * size (constant payloads must lie inside the file before anything is
 * allocated for them).  See tests/fuzz/README.md.
 */
#include "tests/fuzz/fuzz.h"

#include "common/cm.h"
#include "runtime/rt.h"
#include "runtime/ir/rt_ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err e;
    struct rt_graph *g = NULL;
    if (rt_pack_load_mem(data, size, &g, &e) == 0) {
        CM_ASSERT(g != NULL && g->n_inputs >= 1 && g->n_outputs >= 1);
        for (int k = 0; k < g->n_nodes; k++)
            for (int i = 0; i < g->nodes[k].n_in; i++)
                CM_ASSERT(g->nodes[k].in[i] < g->nodes[k].out);
        for (int t = 0; t < g->n_tensors; t++)
            CM_ASSERT(!g->tensors[t].is_const || g->tensors[t].data != NULL);
        rt_graph_free(g);
    } else {
        CM_ASSERT(g == NULL && e.msg[0] != '\0');
    }
    return 0;
}
