/*
 * rt_vk.c: VkResult names and their mapping to enum rt_status (see rt_vk.h).
 */
#include "runtime/vk/rt_vk.h"
#include "common/log.h"

#include <string.h>

const char *rt_vk_result_str(VkResult r)
{
    switch (r) {
    case VK_SUCCESS:
        return "VK_SUCCESS";
    case VK_NOT_READY:
        return "VK_NOT_READY";
    case VK_TIMEOUT:
        return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
        return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
        return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED:
        return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT:
        return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
        return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
        return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
        return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
        return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FRAGMENTED_POOL:
        return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY:
        return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default:
        return "VK_ERROR_UNKNOWN";
    }
}

/* maps a failed VkResult to an rt_status, logs the call once; cannot fail */
int rt_vk_fail(VkResult r, const char *call, const char *file, int line, struct err *e)
{
    int st;
    const char *code;
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY:
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_POOL_MEMORY:
    case VK_ERROR_TOO_MANY_OBJECTS:
        st = RT_ERR_OOM;
        code = "device_out_of_memory";
        break;
    case VK_ERROR_DEVICE_LOST:
        st = RT_ERR_DEVICE_LOST;
        code = "device_lost";
        break;
    case VK_TIMEOUT:
        st = RT_ERR_TIMEOUT;
        code = "device_timeout";
        break;
    default:
        st = RT_ERR_VULKAN;
        code = "vulkan_error";
        break;
    }
    const char *base = strrchr(file, '/');
    log_warn("msg=\"vulkan call failed\" call=\"%.80s\" result=%s at=%s:%d", call,
             rt_vk_result_str(r), base ? base + 1 : file, line);
    if (st == RT_ERR_OOM)
        return err_set_transient(e, st, code, "could not allocate device memory: %s",
                                 rt_vk_result_str(r));
    return err_set(e, st, ERR_INTERNAL, code, "vulkan call failed: %s (%s)", rt_vk_result_str(r),
                   call);
}
