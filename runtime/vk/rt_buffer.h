/*
 * rt_buffer.h: the allocator (prefix rt_buffer_): one VkBuffer bound to
 * its own VkDeviceMemory block.  A plan makes a handful of big ones and
 * sub-allocates them itself (rt_memplan.h), so the allocation count stays
 * far below maxMemoryAllocationCount and nothing is allocated after plan
 * creation.
 *
 * May include: rt_gpu.h.
 */
#ifndef VKV_RT_BUFFER_H
#define VKV_RT_BUFFER_H

#include "runtime/vk/rt_gpu.h"

enum rt_mem_kind {
    RT_MEM_DEVICE = 0, /* device-local */
    RT_MEM_HOST,       /* host-visible, coherent, mapped (staging) */
    RT_MEM_UMA,        /* device-local AND host-visible, mapped (UMA devices, lavapipe) */
};

struct rt_buffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map; /* host-visible buffers are persistently mapped */
};

/* creates a buffer of size bytes into *b (owned by the caller, freed with
 * rt_buffer_destroy); 0 or <0 with e set (RT_ERR_OOM on exhaustion or over
 * maxMemoryAllocationSize) */
int rt_buffer_create(struct rt_gpu *g, VkDeviceSize size, enum rt_mem_kind kind,
                     struct rt_buffer *b, struct err *e);
/* destroys b; a zeroed struct is fine */
void rt_buffer_destroy(struct rt_gpu *g, struct rt_buffer *b);

#endif
