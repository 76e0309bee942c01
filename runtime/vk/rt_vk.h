/*
 * rt_vk.h: the VkResult -> enum rt_status mapping every vk/ module uses
 * (prefix rt_vk_), and RT_VK_TRY.  The bottom of the Vulkan backend: it
 * includes only rt.h and the Vulkan loader header.
 */
#ifndef VKV_RT_VK_H
#define VKV_RT_VK_H

#include "runtime/rt.h"

#include <vulkan/vulkan.h>

/* maps a failed VkResult to an rt_status (OOM and device loss to their
 * statuses), logs the call once and fills e; returns the status; cannot fail */
int rt_vk_fail(VkResult r, const char *call, const char *file, int line, struct err *e);
/* the enum name of r (static string); cannot fail */
const char *rt_vk_result_str(VkResult r);

/* evaluates a Vulkan call; on failure logs it and returns the mapped status
 * from the enclosing function (which must have `struct err *e` in scope) */
#define RT_VK_TRY(call)                                                                            \
    do {                                                                                           \
        VkResult rt_vk_r_ = (call);                                                                \
        if (rt_vk_r_ != VK_SUCCESS)                                                                \
            return rt_vk_fail(rt_vk_r_, #call, __FILE__, __LINE__, e);                             \
    } while (0)

#endif
