/*
 * rt_buffer.c: device and host-visible buffers, each on its own
 * VkDeviceMemory block (see rt_buffer.h and runtime/README.md "Plans").
 */
#include "runtime/vk/rt_buffer.h"

#include <string.h>

static int mem_type(const struct rt_gpu *d, uint32_t bits, VkMemoryPropertyFlags want,
                    VkMemoryPropertyFlags nice)
{
    int best = -1;
    for (uint32_t i = 0; i < d->mem.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = d->mem.memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (f & want) != want)
            continue;
        if ((f & nice) == nice)
            return (int)i;
        if (best < 0)
            best = (int)i;
    }
    return best;
}

/* creates a buffer and its memory; 0 or <0 with e set (RT_ERR_OOM on exhaustion) */
int rt_buffer_create(struct rt_gpu *d, VkDeviceSize size, enum rt_mem_kind kind,
                     struct rt_buffer *b, struct err *e)
{
    memset(b, 0, sizeof(*b));
    if (size < 256)
        size = 256;
    if (size > d->caps.max_alloc)
        return err_set(e, RT_ERR_OOM, ERR_RESOURCE, "device_out_of_memory",
                       "buffer of %llu bytes exceeds maxMemoryAllocationSize %llu",
                       (unsigned long long)size, (unsigned long long)d->caps.max_alloc);
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    RT_VK_TRY(vkCreateBuffer(d->dev, &bci, NULL, &b->buf));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(d->dev, b->buf, &req);
    int t;
    if (kind == RT_MEM_UMA)
        t = mem_type(d, req.memoryTypeBits,
                     VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                         VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                     0);
    else if (kind == RT_MEM_DEVICE)
        t = mem_type(d, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    else
        t = mem_type(d, req.memoryTypeBits,
                     VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                     VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (t < 0 && kind == RT_MEM_DEVICE)
        t = mem_type(d, req.memoryTypeBits, 0, 0);
    if (t < 0) {
        rt_buffer_destroy(d, b);
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_device",
                       "no suitable memory type for a %s buffer",
                       kind == RT_MEM_HOST ? "staging" : "device");
    }
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)t,
    };
    VkResult r = vkAllocateMemory(d->dev, &ai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        b->mem = VK_NULL_HANDLE;
        rt_buffer_destroy(d, b);
        return rt_vk_fail(r, "vkAllocateMemory", __FILE__, __LINE__, e);
    }
    r = vkBindBufferMemory(d->dev, b->buf, b->mem, 0);
    if (r == VK_SUCCESS && kind != RT_MEM_DEVICE)
        r = vkMapMemory(d->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
    if (r != VK_SUCCESS) {
        rt_buffer_destroy(d, b);
        return rt_vk_fail(r, "vkBindBufferMemory/vkMapMemory", __FILE__, __LINE__, e);
    }
    b->size = size;
    return 0;
}

/* destroys b; a zeroed struct is fine */
void rt_buffer_destroy(struct rt_gpu *d, struct rt_buffer *b)
{
    if (b->map != NULL)
        vkUnmapMemory(d->dev, b->mem);
    if (b->buf != VK_NULL_HANDLE)
        vkDestroyBuffer(d->dev, b->buf, NULL);
    if (b->mem != VK_NULL_HANDLE)
        vkFreeMemory(d->dev, b->mem, NULL);
    memset(b, 0, sizeof(*b));
}
