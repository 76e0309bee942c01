/*
 * rt_util.c: status names and small helpers shared by the runtime.
 * See runtime/README.md.
 */
#include "runtime/rt.h"

/* readable name of an rt_status; cannot fail */
const char *rt_status_str(int status)
{
    switch (status) {
    case RT_OK:
        return "ok";
    case RT_ERR_INVALID:
        return "invalid";
    case RT_ERR_OOM:
        return "out of memory";
    case RT_ERR_DEVICE_LOST:
        return "device lost";
    case RT_UNSUPPORTED:
        return "unsupported";
    case RT_ERR_TOO_LARGE:
        return "too large";
    case RT_ERR_IO:
        return "i/o error";
    case RT_ERR_VULKAN:
        return "vulkan error";
    case RT_ERR_TIMEOUT:
        return "timeout";
    default:
        return "unknown status";
    }
}
