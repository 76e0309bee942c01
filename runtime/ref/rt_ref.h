/*
 * rt_ref.h: the CPU reference executor (runtime/ref/).  Internal to
 * runtime/ and its tests; rt_ref_run is also exported by rt.h.
 */
#ifndef VKV_RT_REF_H
#define VKV_RT_REF_H

#include "runtime/ir/rt_ir.h"

/*
 * Runs g on the CPU reference ops.  inputs[i] (borrowed) holds the data of
 * graph input i, outputs[j] (caller-allocated, rt_tensor_nelem floats)
 * receives graph output j.  Allocates intermediate tensors on the heap and
 * frees them before returning.  Returns 0 or <0 with e set.
 */
int rt_ref_run(const struct rt_graph *g, const float *const *inputs, float **outputs,
               struct err *e);

/* computes one node; in[i] = its inputs' data (borrowed); out holds the
 * output's element count; returns 0 or <0 (RT_UNSUPPORTED) */
int rt_ref_node(const struct rt_graph *g, const struct rt_node *nd, const float *const *in,
                float *out, struct err *e);

/* activation, binary op, resize coordinate helpers shared with tests; cannot fail */
float rt_ref_act(enum rt_act act, float alpha, float beta, float x);
float rt_ref_binary(enum rt_op op, float a, float b);
float rt_ref_resize_src(int d, int in, int out, int align_corners, int half_pixel);
int rt_ref_resize_nearest(int d, int in, int out, int align_corners, int half_pixel);

/* the generic strided 4-D copy with fill (PAD/CONCAT/SLICE/TRANSPOSE) */
void rt_ref_copy4d(const float *in, float *out, const int64_t *dims, const int64_t *ostr,
                   int64_t ooff, const int64_t *istr, int64_t ioff, const int64_t *ibeg,
                   const int64_t *ilim, float fill);

#endif
