/*
 * fuzz_onnx.c: the ONNX importer (import/rt_import_onnx.c over the
 * bounds-checked protobuf reader import/rt_pb.c) on arbitrary bytes.
 *
 * Checks, besides "no crash": a failure leaves no graph and fills the
 * error message; a success gives a graph with inputs and outputs whose
 * tensor ids are in range.  Constants made from small descriptions are
 * capped at 1 Mi elements (max_const_elems) to keep memory bounded.  See
 * tests/fuzz/README.md and models/README.md.
 */
#include "tests/fuzz/fuzz.h"

#include "common/cm.h"
#include "import/rt_import.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rt_import_opts o;
    struct rt_graph *g = (struct rt_graph *)1;
    struct err e;
    memset(&o, 0, sizeof(o));
    memset(&e, 0, sizeof(e));
    o.in_h = o.in_w = 32;
    o.max_const_elems = 1 << 20;
    int rc = rt_import_onnx_mem(data, size, &o, &g, &e);
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
