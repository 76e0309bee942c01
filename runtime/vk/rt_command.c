/*
 * rt_command.c: command buffers, fences, barriers and submission (see
 * rt_command.h).
 */
#include "runtime/vk/rt_command.h"

int rt_command_alloc(struct rt_gpu *g, VkCommandBuffer *out, struct err *e)
{
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = g->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkResult r = vkAllocateCommandBuffers(g->dev, &ai, out);
    if (r != VK_SUCCESS) {
        *out = VK_NULL_HANDLE;
        return rt_vk_fail(r, "vkAllocateCommandBuffers", __FILE__, __LINE__, e);
    }
    return 0;
}

void rt_command_free(struct rt_gpu *g, VkCommandBuffer cmd)
{
    if (cmd != VK_NULL_HANDLE)
        vkFreeCommandBuffers(g->dev, g->cmd_pool, 1, &cmd);
}

int rt_command_fence(struct rt_gpu *g, VkFence *out, struct err *e)
{
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkResult r = vkCreateFence(g->dev, &fci, NULL, out);
    if (r != VK_SUCCESS) {
        *out = VK_NULL_HANDLE;
        return rt_vk_fail(r, "vkCreateFence", __FILE__, __LINE__, e);
    }
    return 0;
}

int rt_command_submit_wait(struct rt_gpu *g, VkCommandBuffer cmd, VkFence fence, struct err *e)
{
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &cmd,
    };
    RT_VK_TRY(vkQueueSubmit(g->queue, 1, &si, fence));
    VkResult r = vkWaitForFences(g->dev, 1, &fence, VK_TRUE, g->timeout_ns);
    if (r == VK_TIMEOUT)
        return err_set(e, RT_ERR_TIMEOUT, ERR_UNAVAILABLE, "device_timeout",
                       "inference did not finish within %llu ms",
                       (unsigned long long)(g->timeout_ns / 1000000));
    if (r != VK_SUCCESS)
        return rt_vk_fail(r, "vkWaitForFences", __FILE__, __LINE__, e);
    RT_VK_TRY(vkResetFences(g->dev, 1, &fence));
    return 0;
}

void rt_command_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags sa,
                        VkPipelineStageFlags dst, VkAccessFlags da)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = sa,
        .dstAccessMask = da,
    };
    vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

int rt_command_copy(struct rt_gpu *g, VkFence fence, VkBuffer src, uint64_t so, VkBuffer dst,
                    uint64_t dof, uint64_t n, struct err *e)
{
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    int rc = rt_command_alloc(g, &cmd, e);
    if (rc < 0)
        return rc;
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VkResult r = vkBeginCommandBuffer(cmd, &bi);
    if (r == VK_SUCCESS) {
        VkBufferCopy cp = {so, dof, n};
        vkCmdCopyBuffer(cmd, src, dst, 1, &cp);
        r = vkEndCommandBuffer(cmd);
    }
    if (r != VK_SUCCESS)
        rc = rt_vk_fail(r, "vkBegin/EndCommandBuffer", __FILE__, __LINE__, e);
    else
        rc = rt_command_submit_wait(g, cmd, fence, e);
    rt_command_free(g, cmd);
    return rc;
}
