/*
 * rt_run.h: the executor of graph plans (prefix rt_run_): writes a run's
 * inputs (floats, or RGB8 pixels with their per-image params) into the
 * staging buffer, submits a recording and waits for it, reads the outputs
 * back, and with profiling prints per-shader device time.
 *
 * May include: rt_record.h (and what it includes).
 */
#ifndef VKV_RT_RUN_H
#define VKV_RT_RUN_H

#include "runtime/vk/rt_record.h"

#include <stddef.h>

/* copies n_in inputs of in_bytes[i] bytes each into staging at m's input
 * offsets; cannot fail */
void rt_run_stage_floats(const struct rt_memplan *m, struct rt_buffer *stage, int n_in,
                         const float *const *inputs, const size_t *in_bytes);
/* writes batch RGB8 images and their params into staging; 0, or
 * RT_ERR_TOO_LARGE with e set for an image over max_w x max_h or over the
 * pixel staging */
int rt_run_stage_rgb8(const struct rt_memplan *m, struct rt_buffer *stage,
                      const struct rt_preprocess *pre, int batch, const struct rt_image *imgs,
                      struct err *e);
/* submits rec and waits (fence: the plan's); with rec->qp prints the
 * per-shader time to stderr; 0 or <0 with e set */
int rt_run_submit(struct rt_gpu *gpu, VkFence fence, const struct rt_rec *rec, struct err *e);
/* copies n_out outputs of out_bytes[i] bytes each from staging; cannot fail */
void rt_run_read_outputs(const struct rt_memplan *m, const struct rt_buffer *stage, int n_out,
                         float **outputs, const size_t *out_bytes);

#endif
