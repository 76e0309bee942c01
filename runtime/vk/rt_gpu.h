/*
 * rt_gpu.h: one Vulkan physical device opened for compute (prefix rt_gpu_):
 * its own VkInstance, the logical device with one compute queue and a
 * command pool, the capabilities (struct rt_caps), and the validation-layer
 * message counter.  Like ncnn's gpu.h, the bottom of the backend: it knows
 * nothing of buffers, commands, pipelines or plans.
 *
 * May include: rt_vk.h (and through it rt.h, the Vulkan loader).
 */
#ifndef VKV_RT_GPU_H
#define VKV_RT_GPU_H

#include "runtime/vk/rt_vk.h"

#include <stdint.h>

struct rt_gpu {
    VkInstance inst;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool cmd_pool;
    VkPhysicalDeviceMemoryProperties mem;
    struct rt_caps caps;
    int has_budget_ext;
    int validation; /* the validation layer is enabled */
    int n_val_errors, n_val_warnings;
    uint64_t timeout_ns; /* fence wait per submission */
};

/* the texel-buffer formats the kernels read, indexed by enum rt_texel
 * (runtime/ops/rt_ops.h; entry 0 is RT_TEXEL_NONE), and their bytes per
 * texel: the caps require every one, plan recording makes views of them */
#define RT_GPU_TEXEL_FORMATS 8
extern const VkFormat rt_gpu_texel_format[RT_GPU_TEXEL_FORMATS];
extern const uint32_t rt_gpu_texel_bytes[RT_GPU_TEXEL_FORMATS];

/* number of physical devices; <0 with e set when Vulkan is unusable */
int rt_gpu_count(struct err *e);
/* caps of device index without a logical device; 0 or <0 with e set */
int rt_gpu_caps_get(int index, struct rt_caps *caps, struct err *e);
/*
 * Opens the device matching selector (see rt_device_create) into g, which
 * must be zeroed and stay at the same address until rt_gpu_close (the
 * validation callback holds it).  validate: enable the validation layer
 * (fails when it is not installed); timeout_ms: fence wait per submission.
 * Returns 0, or <0 with e set (g is closed again then).
 */
int rt_gpu_open(struct rt_gpu *g, const char *selector, int validate, uint64_t timeout_ms,
                struct err *e);
/* waits for the device and destroys what rt_gpu_open made; a zeroed g ok */
void rt_gpu_close(struct rt_gpu *g);
/* refreshes caps.budget_bytes / usage_bytes (VK_EXT_memory_budget); cannot fail */
void rt_gpu_budget_refresh(struct rt_gpu *g);

#endif
