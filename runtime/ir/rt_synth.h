/*
 * rt_synth.h: synthetic graphs (real architectures, random weights) for
 * benchmarks and tests; see runtime/ir/rt_synth.c.
 */
#ifndef VKV_RT_SYNTH_H
#define VKV_RT_SYNTH_H

#include "runtime/ir/rt_ir.h"

/* returns a new MobileNetV2-1.0 graph (caller frees with rt_graph_free), or NULL with e set */
struct rt_graph *rt_synth_mobilenetv2(int64_t batch, int res, int classes, uint32_t seed,
                                      struct err *e);
/* returns a new chain of n sigmoid nodes on [1,8,8,4], or NULL with e set */
struct rt_graph *rt_synth_chain(int n, struct err *e);

#endif
