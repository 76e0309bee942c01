/*
 * rt_upload.h: weight upload (prefix rt_upload_): writes every constant
 * of a graph into its weight region in the storage the quantisation pass
 * chose (fp32, IEEE half, or int8 with per-output-channel fp32 scales),
 * in place when the weight buffer is mapped (UMA), else through a
 * temporary staging buffer and one device copy.
 *
 * May include: rt_buffer.h, rt_command.h, rt_memplan.h.
 */
#ifndef VKV_RT_UPLOAD_H
#define VKV_RT_UPLOAD_H

#include "runtime/vk/rt_buffer.h"
#include "runtime/vk/rt_command.h"
#include "runtime/vk/rt_memplan.h"

/* uploads g's constants to wbuf (sized m->size[RT_REG_WEIGHT]) at m's
 * regions; fence: an unsignalled fence of the caller; everything is
 * borrowed.  Returns 0 or <0 with e set (RT_ERR_OOM for the staging). */
int rt_upload_weights(struct rt_gpu *gpu, const struct rt_graph *g, const struct rt_memplan *m,
                      struct rt_buffer *wbuf, VkFence fence, struct err *e);

#endif
