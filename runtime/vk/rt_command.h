/*
 * rt_command.h: command recording and submission (prefix rt_command_):
 * primary command buffers from the device's pool, fences, memory barriers,
 * submit-and-wait with the device's timeout, and a one-shot buffer copy.
 * What is recorded (dispatches, descriptor sets) is the recorder's
 * business (rt_record.h); this module only moves command buffers through
 * the queue.
 *
 * May include: rt_gpu.h.
 */
#ifndef VKV_RT_COMMAND_H
#define VKV_RT_COMMAND_H

#include "runtime/vk/rt_gpu.h"

#include <stdint.h>

/* allocates a primary command buffer into *out (caller frees with
 * rt_command_free); 0 or <0 with e set */
int rt_command_alloc(struct rt_gpu *g, VkCommandBuffer *out, struct err *e);
/* frees cmd (VK_NULL_HANDLE ok) */
void rt_command_free(struct rt_gpu *g, VkCommandBuffer cmd);
/* creates an unsignalled fence into *out (caller destroys with
 * vkDestroyFence); 0 or <0 with e set */
int rt_command_fence(struct rt_gpu *g, VkFence *out, struct err *e);
/* submits cmd, waits for fence up to the device's timeout (RT_ERR_TIMEOUT
 * past it) and resets the fence; 0 or <0 with e set */
int rt_command_submit_wait(struct rt_gpu *g, VkCommandBuffer cmd, VkFence fence, struct err *e);
/* records a global memory barrier; cannot fail */
void rt_command_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags sa,
                        VkPipelineStageFlags dst, VkAccessFlags da);
/* copies n bytes src+so -> dst+dof on the device and waits (fence: a
 * caller's unsignalled fence); 0 or <0 with e set */
int rt_command_copy(struct rt_gpu *g, VkFence fence, VkBuffer src, uint64_t so, VkBuffer dst,
                    uint64_t dof, uint64_t n, struct err *e);

#endif
