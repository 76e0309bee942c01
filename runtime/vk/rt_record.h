/*
 * rt_record.h: the command recorder of graph plans (prefix rt_record_):
 * asks the op families (ops/rt_ops.h) for the dispatches of a graph at one
 * shape, then records them once into a command buffer that is replayed by
 * every run at that shape: input copies (staging -> activations), the
 * optional RGB8 preprocessing dispatch, descriptor sets written at record
 * time, hazard-tracked barriers, output copies (activations -> staging),
 * and with profiling a timestamp after each dispatch.
 *
 * Barriers: a compute barrier is recorded before a dispatch only when it
 * reads or writes bytes written, or writes bytes read, since the last one;
 * weights never cause one.
 *
 * May include: rt_device.h, rt_command.h, rt_buffer.h, rt_memplan.h,
 * ops/rt_ops.h.
 */
#ifndef VKV_RT_RECORD_H
#define VKV_RT_RECORD_H

#include "runtime/vk/rt_buffer.h"
#include "runtime/vk/rt_command.h"
#include "runtime/vk/rt_device.h"
#include "runtime/vk/rt_memplan.h"

/* one recorded command buffer and what it owns */
struct rt_rec {
    VkCommandBuffer cmd;
    VkDescriptorPool pool;
    int n_dispatch, n_barrier;
    VkQueryPool qp;      /* profiling: a timestamp after each dispatch */
    VkBufferView *views; /* texel-buffer views of this recording */
    int n_views;
    enum rt_shader_id *qsh;      /* shader of each timed dispatch */
    double *qflop;               /* its floating-point operations (0: not counted) */
    char (*qlabel)[RT_NAME_LEN]; /* profile 2: its graph node's name ("" for preprocessing) */
    uint32_t (*qgrid)[3];        /* profile 2: its workgroup counts */
};

/* what every recording of one plan shares (all borrowed) */
struct rt_record_ctx {
    struct rt_device *dev;
    const struct rt_op_target *tgt;
    const struct rt_memplan *mp;
    const struct rt_buffer *buf; /* [RT_REG_KINDS] */
    const struct rt_preprocess *pre;
    int max_batch;   /* the preprocessing params region holds max_batch entries */
    int profile;     /* 1: timestamps (rt_rec.qp); 2: also rt_rec.qlabel, qgrid */
    const int *fuse; /* per node: rt_op_dwpw_plan's pairs, or NULL */
};

/*
 * Records g (the plan's graph re-inferred at the run's shape, borrowed for
 * the call) into *rec, which must be zeroed; rgb: input 0 comes from the
 * RGB8 staging through the preprocessing shader.  Returns 0 (rec owned by
 * the caller, freed with rt_record_free) or <0 with e set (rec left
 * zeroed): RT_UNSUPPORTED from an op family for a shape it cannot run.
 */
int rt_record_build(const struct rt_record_ctx *c, const struct rt_graph *g, int rgb,
                    struct rt_rec *rec, struct err *e);
/* frees what rec holds and zeroes it (no submission may be pending) */
void rt_record_free(struct rt_gpu *gpu, struct rt_rec *rec);

#endif
