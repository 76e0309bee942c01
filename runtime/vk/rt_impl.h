/*
 * rt_impl.h: internals of the Vulkan backend shared by rt_device.c,
 * rt_buffer.c, rt_pipeline.c and rt_plan.c.  Never included outside
 * runtime/ (ops/ sees the device only through ops/rt_ops.h).  See runtime/README.md for lifetimes
 * and invariants.
 */
#ifndef VKV_RT_IMPL_H
#define VKV_RT_IMPL_H

#include "runtime/rt.h"
#include "runtime/ir/rt_ir.h"
#include "runtime/ops/rt_ops.h"
#include "rt_shaders.h"

#include <vulkan/vulkan.h>

/* ---- Vulkan error mapping ------------------------------------------------ */

/* maps a VkResult to an rt_status and fills e; cannot fail */
int rt_vk_fail(VkResult r, const char *call, const char *file, int line, struct err *e);
const char *rt_vk_result_str(VkResult r);

/* evaluates a Vulkan call; on failure logs it and returns the mapped status
 * from the enclosing function (which must have `struct err *e` in scope) */
#define RT_VK_TRY(call)                                                                            \
    do {                                                                                           \
        VkResult rt_vk_r_ = (call);                                                                \
        if (rt_vk_r_ != VK_SUCCESS)                                                                \
            return rt_vk_fail(rt_vk_r_, #call, __FILE__, __LINE__, e);                             \
    } while (0)

/* ---- device -------------------------------------------------------------- */

#define RT_PIPE_MAX 512

struct rt_pipe {
    enum rt_shader_id shader;
    uint32_t spec[8];
    int n_spec;
    VkPipeline pipe;
};

/* descriptor-set + pipeline layout for bindings with some uniform texel buffers */
struct rt_layout {
    uint32_t n_bind, texel_mask;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout pl;
};
#define RT_LAYOUT_MAX 32

struct rt_device {
    VkInstance inst;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool cmd_pool;
    VkPhysicalDeviceMemoryProperties mem;
    struct rt_caps caps;
    int use_fp16, use_int8, use_gemm; /* after env switches */
    uint32_t gemm_rb, gemm_cb;        /* GEMM register tile: rows, vec4 column blocks */
    int has_budget_ext;
    /* pipelines: one layout per binding count, cache, dedup table */
    VkDescriptorSetLayout dsl[RT_MAX_BINDINGS + 1]; /* storage buffers only, by count */
    VkPipelineLayout layout[RT_MAX_BINDINGS + 1];
    struct rt_layout tlayouts[RT_LAYOUT_MAX]; /* with texel buffers */
    int n_tlayouts;
    int use_texel; /* uniform texel buffers for GEMM operands (VKV_NO_TEXEL=0) */
    VkShaderModule modules[RT_SHADER_COUNT + 1];
    VkPipelineCache cache;
    char cache_path[512];
    struct rt_pipe pipes[RT_PIPE_MAX];
    int n_pipes;
    int validation;
    int n_val_errors, n_val_warnings;
    uint64_t timeout_ns;
};

/* ---- buffers ------------------------------------------------------------- */

enum rt_mem_kind {
    RT_MEM_DEVICE = 0, /* device-local */
    RT_MEM_HOST,       /* host-visible, coherent, mapped (staging) */
    RT_MEM_UMA,        /* device-local AND host-visible, mapped (UMA devices, lavapipe) */
};

/* one VkBuffer bound to its own VkDeviceMemory block (a few per plan) */
struct rt_buffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map; /* host-visible buffers are persistently mapped */
};

/* creates a buffer of size bytes; 0 or <0 (RT_ERR_OOM on exhaustion) */
int rt_buffer_create(struct rt_device *d, VkDeviceSize size, enum rt_mem_kind kind,
                     struct rt_buffer *b, struct err *e);
/* destroys b (zeroed struct ok) */
void rt_buffer_destroy(struct rt_device *d, struct rt_buffer *b);

/* ---- pipelines ----------------------------------------------------------- */

/* returns the pipeline for (shader, spec) creating it on first use; NULL with e set.
 * texel_mask: bit i set when binding i is a uniform texel buffer */
VkPipeline rt_pipeline_get(struct rt_device *d, enum rt_shader_id sh, const uint32_t *spec,
                           int n_spec, int n_bind, uint32_t texel_mask, struct err *e);
/* the layouts for n_bind bindings with texel_mask; 0 or <0 with e set */
int rt_layout_get(struct rt_device *d, int n_bind, uint32_t texel_mask, VkDescriptorSetLayout *dsl,
                  VkPipelineLayout *pl, struct err *e);
/* creates descriptor layouts, pipeline layouts, loads the pipeline cache */
int rt_pipeline_init(struct rt_device *d, struct err *e);
/* saves the cache and destroys everything pipeline-related */
void rt_pipeline_fini(struct rt_device *d);
/* writes the pipeline cache file now; 0 or <0 (failures only logged) */
int rt_pipeline_cache_save(struct rt_device *d);

#endif
