/*
 * rt_pipeline.h: shaders and pipelines of one device (prefix
 * rt_pipeline_): the embedded SPIR-V registry (rt_shaders.h), descriptor-
 * set and pipeline layouts by binding count and texel mask (one 128-byte
 * push-constant range), compute pipelines deduplicated by (shader,
 * specialisation constants) and created on first use or up front on
 * several threads (rt_pipeline_prepare), and the
 * VkPipelineCache persisted to a file per device UUID.
 *
 * May include: rt_gpu.h, rt_shaders.h (generated), ops/rt_ops.h for
 * RT_MAX_BINDINGS only.
 */
#ifndef VKV_RT_PIPELINE_H
#define VKV_RT_PIPELINE_H

#include "runtime/vk/rt_gpu.h"
#include "runtime/ops/rt_ops.h"
#include "rt_shaders.h"

#define RT_PIPE_MAX 512
#define RT_LAYOUT_MAX 32

struct rt_pipe {
    enum rt_shader_id shader;
    uint32_t spec[RT_MAX_SPEC];
    int n_spec;
    VkPipeline pipe;
};

/* descriptor-set + pipeline layout for bindings with some uniform texel buffers */
struct rt_layout {
    uint32_t n_bind, texel_mask;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout pl;
};

/* the pipeline state of one device; lives beside its rt_gpu */
struct rt_pipes {
    struct rt_gpu *gpu;                             /* borrowed */
    VkDescriptorSetLayout dsl[RT_MAX_BINDINGS + 1]; /* storage buffers only, by count */
    VkPipelineLayout layout[RT_MAX_BINDINGS + 1];
    struct rt_layout tlayouts[RT_LAYOUT_MAX]; /* with texel buffers */
    int n_tlayouts;
    VkShaderModule modules[RT_SHADER_COUNT + 1];
    VkPipelineCache cache;
    char cache_path[512]; /* "" = not persisted */
    struct rt_pipe pipes[RT_PIPE_MAX];
    int n_pipes;
};

/* creates the storage-buffer layouts and the pipeline cache (read from
 * cache_dir/pipelines-<uuid>.bin when it matches the device; cache_dir NULL
 * or "": not persisted) for g, which ps borrows until rt_pipeline_fini;
 * 0 or <0 with e set (rt_pipeline_fini cleans up either way) */
int rt_pipeline_init(struct rt_pipes *ps, struct rt_gpu *g, const char *cache_dir, struct err *e);
/* saves the cache file and destroys every pipeline, module and layout */
void rt_pipeline_fini(struct rt_pipes *ps);
/* the pipeline for (shader, spec), created on first use (borrowed; lives
 * until rt_pipeline_fini); VK_NULL_HANDLE with e set.  texel_mask: bit i
 * set when binding i is a uniform texel buffer */
VkPipeline rt_pipeline_get(struct rt_pipes *ps, enum rt_shader_id sh, const uint32_t *spec,
                           int n_spec, int n_bind, uint32_t texel_mask, struct err *e);
/* one pipeline a plan will use (rt_pipeline_prepare); spec borrowed */
struct rt_pipe_req {
    enum rt_shader_id sh;
    const uint32_t *spec;
    int n_spec, n_bind;
    uint32_t texel_mask;
};

#define RT_PIPE_THREADS 4 /* compile threads of rt_pipeline_prepare, at most the CPUs */

/* creates those of rq[0..n) not created yet (each once), on several
 * threads, so rt_pipeline_get finds them; 0 or <0 with e set (the ones
 * created before the failure are kept) */
int rt_pipeline_prepare(struct rt_pipes *ps, const struct rt_pipe_req *rq, int n, struct err *e);
/* the layouts for n_bind bindings with texel_mask (borrowed); 0 or <0 with e set */
int rt_pipeline_layout(struct rt_pipes *ps, int n_bind, uint32_t texel_mask,
                       VkDescriptorSetLayout *dsl, VkPipelineLayout *pl, struct err *e);
/* writes the pipeline cache file now; 0 or <0 (failures only logged) */
int rt_pipeline_cache_save(struct rt_pipes *ps);

#endif
