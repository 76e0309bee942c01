/*
 * rt_memplan.h: the memory planner (prefix rt_memplan_): places every
 * tensor of an optimised graph into one of a plan's three buffers
 * (weights / activations / staging) as struct rt_region byte ranges.
 * Pure arithmetic over the graph and the device limits: it allocates no
 * device memory and calls no Vulkan function.
 *
 * Weights: every constant a node reads (int8 ones followed by their fp32
 * scales), then one zero bias.  Activations: every non-constant tensor;
 * RESHAPE outputs alias their input; tensors whose lifetimes (producer ..
 * last consumer, in node order) do not overlap share bytes (greedy,
 * largest first).  Staging: inputs, outputs, preprocessing params and
 * pixels.  Sizes are those of the graph handed in (the plan's reserved,
 * worst-case shape); a run at a smaller shape uses a prefix of each region
 * at the same offset.
 *
 * May include: rt.h, ir/rt_ir.h, ops/rt_ops.h (struct rt_region).
 */
#ifndef VKV_RT_MEMPLAN_H
#define VKV_RT_MEMPLAN_H

#include "runtime/rt.h"
#include "runtime/ir/rt_ir.h"
#include "runtime/ops/rt_ops.h"

#include <stddef.h>
#include <stdint.h>

struct rt_memplan {
    struct rt_region *reg;    /* per tensor id; owned */
    struct rt_region *wscale; /* per tensor id: int8 scales (size 0 if none); owned */
    struct rt_region zero_bias;
    uint64_t size[RT_REG_KINDS]; /* bytes of each buffer */
    uint64_t in_off[8], out_off[16];
    uint64_t params_off, pix_off, pix_size; /* RGB8 preprocessing (pre->enabled) */
    size_t weight_bytes;
};

/*
 * Plans g (at its current shapes) for a device with caps c; fuse (borrowed,
 * g->n_nodes entries, may be NULL) is rt_op_dwpw_plan's: a node j with
 * fuse[j] = k runs inside node k, so its inputs live until k; pre (borrowed,
 * may be NULL) adds the RGB8 staging for max_batch images of up to
 * pre->max_w x pre->max_h.  Fills *m (caller frees with rt_memplan_free,
 * also after a failure).  Returns 0, or <0 with e set: RT_UNSUPPORTED for a
 * tensor or the pixel staging over maxStorageBufferRange, RT_ERR_OOM.
 */
int rt_memplan_build(struct rt_memplan *m, const struct rt_graph *g, const int *fuse,
                     const struct rt_caps *c, const struct rt_preprocess *pre, int max_batch,
                     struct err *e);
/* frees what rt_memplan_build allocated; a zeroed m ok */
void rt_memplan_free(struct rt_memplan *m);
/* the buffers' alignment for caps c: max(256, minStorageBufferOffsetAlignment) */
uint64_t rt_memplan_align(const struct rt_caps *c);

#endif
