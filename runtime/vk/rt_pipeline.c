/*
 * rt_pipeline.c: the shader registry (SPIR-V embedded at build time in
 * rt_shaders.c), descriptor-set and pipeline layouts per binding count
 * (all storage buffers, one 128-byte push-constant range), compute
 * pipelines deduplicated by (shader, specialisation constants) and created
 * on first use or, for a whole plan, up front on several threads
 * (rt_pipeline_prepare), and the VkPipelineCache persisted to
 *   <cache_dir>/pipelines-<device uuid>.bin
 * so later loads skip the driver's compile (llvmpipe's LLVM JIT).  The
 * caller chooses cache_dir (rt_device.c; none: not persisted).  See
 * runtime/README.md.
 */
#include "runtime/vk/rt_pipeline.h"
#include "common/cm.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAX_BYTES (64u << 20)

static void cache_path_set(struct rt_pipes *ps, const char *dir)
{
    if (dir == NULL || !dir[0])
        return;
    snprintf(ps->cache_path, sizeof(ps->cache_path), "%.400s/pipelines-%s.bin", dir,
             ps->gpu->caps.uuid);
}

/* reads the cache file if it exists and its header matches this device */
static void *cache_read(struct rt_pipes *ps, size_t *len)
{
    struct rt_gpu *g = ps->gpu;
    *len = 0;
    if (!ps->cache_path[0])
        return NULL;
    FILE *f = fopen(ps->cache_path, "rb");
    if (f == NULL)
        return NULL;
    void *buf = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size >= 32 && st.st_size <= CACHE_MAX_BYTES) {
        buf = malloc((size_t)st.st_size);
        if (buf != NULL && fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
            /* VkPipelineCacheHeaderVersionOne: length, version, vendor, device, uuid */
            uint32_t h[4];
            memcpy(h, buf, sizeof(h));
            VkPhysicalDeviceProperties pr;
            vkGetPhysicalDeviceProperties(g->phys, &pr);
            if (h[0] >= 32 && h[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE && h[2] == pr.vendorID &&
                h[3] == pr.deviceID &&
                memcmp((char *)buf + 16, pr.pipelineCacheUUID, VK_UUID_SIZE) == 0)
                *len = (size_t)st.st_size;
        }
    }
    fclose(f);
    if (*len == 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void mkdir_p(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
}

/* writes the cache file atomically (tmp + rename); failures are only logged */
int rt_pipeline_cache_save(struct rt_pipes *ps)
{
    struct rt_gpu *g = ps->gpu;
    if (!ps->cache_path[0] || ps->cache == VK_NULL_HANDLE)
        return 0;
    size_t n = 0;
    if (vkGetPipelineCacheData(g->dev, ps->cache, &n, NULL) != VK_SUCCESS || n == 0 ||
        n > CACHE_MAX_BYTES)
        return -1;
    void *buf = malloc(n);
    if (buf == NULL)
        return -1;
    int rc = -1;
    if (vkGetPipelineCacheData(g->dev, ps->cache, &n, buf) == VK_SUCCESS) {
        mkdir_p(ps->cache_path);
        char tmp[600];
        snprintf(tmp, sizeof(tmp), "%s.%d.tmp", ps->cache_path, (int)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f != NULL) {
            int ok = fwrite(buf, 1, n, f) == n;
            ok &= fclose(f) == 0;
            if (ok && rename(tmp, ps->cache_path) == 0)
                rc = 0;
            else
                remove(tmp);
        }
        if (rc < 0)
            log_warn("msg=\"could not write pipeline cache\" path=\"%s\" err=\"%s\"",
                     ps->cache_path, strerror(errno));
    }
    free(buf);
    return rc;
}

/* layouts for 1..RT_MAX_BINDINGS storage buffers and the pipeline cache */
int rt_pipeline_init(struct rt_pipes *ps, struct rt_gpu *g, const char *cache_dir, struct err *e)
{
    ps->gpu = g;
    VkDescriptorSetLayoutBinding b[RT_MAX_BINDINGS];
    for (int i = 0; i < RT_MAX_BINDINGS; i++)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    uint32_t push = g->caps.max_push_constants < 128 ? g->caps.max_push_constants : 128;
    for (int n = 1; n <= RT_MAX_BINDINGS; n++) {
        VkDescriptorSetLayoutCreateInfo ci = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .bindingCount = (uint32_t)n,
            .pBindings = b,
        };
        RT_VK_TRY(vkCreateDescriptorSetLayout(g->dev, &ci, NULL, &ps->dsl[n]));
        VkPushConstantRange pr = {
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
            .offset = 0,
            .size = push,
        };
        VkPipelineLayoutCreateInfo pl = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
            .setLayoutCount = 1,
            .pSetLayouts = &ps->dsl[n],
            .pushConstantRangeCount = 1,
            .pPushConstantRanges = &pr,
        };
        RT_VK_TRY(vkCreatePipelineLayout(g->dev, &pl, NULL, &ps->layout[n]));
    }
    cache_path_set(ps, cache_dir);
    size_t len = 0;
    void *data = cache_read(ps, &len);
    VkPipelineCacheCreateInfo cci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
        .initialDataSize = len,
        .pInitialData = data,
    };
    VkResult r = vkCreatePipelineCache(g->dev, &cci, NULL, &ps->cache);
    if (r != VK_SUCCESS && len > 0) {
        cci.initialDataSize = 0;
        cci.pInitialData = NULL;
        r = vkCreatePipelineCache(g->dev, &cci, NULL, &ps->cache);
    }
    free(data);
    if (r != VK_SUCCESS)
        return rt_vk_fail(r, "vkCreatePipelineCache", __FILE__, __LINE__, e);
    return 0;
}

/* layouts for n_bind bindings, bit i of texel_mask = uniform texel buffer */
int rt_pipeline_layout(struct rt_pipes *ps, int n_bind, uint32_t texel_mask,
                       VkDescriptorSetLayout *dsl, VkPipelineLayout *pl, struct err *e)
{
    struct rt_gpu *g = ps->gpu;
    if (texel_mask == 0) {
        *dsl = ps->dsl[n_bind];
        *pl = ps->layout[n_bind];
        return 0;
    }
    for (int i = 0; i < ps->n_tlayouts; i++)
        if (ps->tlayouts[i].n_bind == (uint32_t)n_bind &&
            ps->tlayouts[i].texel_mask == texel_mask) {
            *dsl = ps->tlayouts[i].dsl;
            *pl = ps->tlayouts[i].pl;
            return 0;
        }
    if (ps->n_tlayouts >= RT_LAYOUT_MAX)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_INTERNAL, "internal",
                       "too many descriptor layouts");
    VkDescriptorSetLayoutBinding b[RT_MAX_BINDINGS];
    for (int i = 0; i < n_bind; i++)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = (texel_mask >> i) & 1 ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                                    : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    struct rt_layout *L = &ps->tlayouts[ps->n_tlayouts];
    VkDescriptorSetLayoutCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = (uint32_t)n_bind,
        .pBindings = b,
    };
    RT_VK_TRY(vkCreateDescriptorSetLayout(g->dev, &ci, NULL, &L->dsl));
    uint32_t push = g->caps.max_push_constants < 128 ? g->caps.max_push_constants : 128;
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = push};
    VkPipelineLayoutCreateInfo plc = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &L->dsl,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pr,
    };
    VkResult r = vkCreatePipelineLayout(g->dev, &plc, NULL, &L->pl);
    if (r != VK_SUCCESS) {
        vkDestroyDescriptorSetLayout(g->dev, L->dsl, NULL);
        return rt_vk_fail(r, "vkCreatePipelineLayout", __FILE__, __LINE__, e);
    }
    L->n_bind = (uint32_t)n_bind;
    L->texel_mask = texel_mask;
    ps->n_tlayouts++;
    *dsl = L->dsl;
    *pl = L->pl;
    return 0;
}

/* saves the cache, destroys pipelines, modules and layouts */
void rt_pipeline_fini(struct rt_pipes *ps)
{
    struct rt_gpu *g = ps->gpu;
    if (g == NULL)
        return;
    if (ps->n_pipes > 0)
        rt_pipeline_cache_save(ps);
    for (int i = 0; i < ps->n_pipes; i++)
        vkDestroyPipeline(g->dev, ps->pipes[i].pipe, NULL);
    ps->n_pipes = 0;
    for (int i = 0; i < RT_SHADER_COUNT; i++)
        if (ps->modules[i] != VK_NULL_HANDLE)
            vkDestroyShaderModule(g->dev, ps->modules[i], NULL);
    if (ps->cache != VK_NULL_HANDLE)
        vkDestroyPipelineCache(g->dev, ps->cache, NULL);
    for (int i = 0; i < ps->n_tlayouts; i++) {
        vkDestroyPipelineLayout(g->dev, ps->tlayouts[i].pl, NULL);
        vkDestroyDescriptorSetLayout(g->dev, ps->tlayouts[i].dsl, NULL);
    }
    ps->n_tlayouts = 0;
    for (int n = 1; n <= RT_MAX_BINDINGS; n++) {
        if (ps->layout[n] != VK_NULL_HANDLE)
            vkDestroyPipelineLayout(g->dev, ps->layout[n], NULL);
        if (ps->dsl[n] != VK_NULL_HANDLE)
            vkDestroyDescriptorSetLayout(g->dev, ps->dsl[n], NULL);
    }
}

/* one pipeline to create: its create info points into the struct itself */
struct pipe_job {
    enum rt_shader_id sh;
    uint32_t spec[RT_MAX_SPEC];
    int n_spec;
    VkSpecializationMapEntry map[RT_MAX_SPEC];
    VkSpecializationInfo si;
    VkComputePipelineCreateInfo ci;
    VkPipeline pipe;
    VkResult r;
};

static int pipe_find(const struct rt_pipes *ps, enum rt_shader_id sh, const uint32_t *spec,
                     int n_spec)
{
    for (int i = 0; i < ps->n_pipes; i++) {
        const struct rt_pipe *p = &ps->pipes[i];
        if (p->shader == sh && p->n_spec == n_spec &&
            (n_spec == 0 || memcmp(p->spec, spec, (size_t)n_spec * sizeof(uint32_t)) == 0))
            return i;
    }
    return -1;
}

/* fills j (module and layout created now if missing); 0 or <0 with e set */
static int pipe_job_init(struct rt_pipes *ps, struct pipe_job *j, enum rt_shader_id sh,
                         const uint32_t *spec, int n_spec, int n_bind, uint32_t texel_mask,
                         struct err *e)
{
    struct rt_gpu *g = ps->gpu;
    if ((int)sh < 0 || sh >= RT_SHADER_COUNT || n_bind < 1 || n_bind > RT_MAX_BINDINGS ||
        n_spec < 0 || n_spec > RT_MAX_SPEC)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal",
                       "invalid pipeline request %d/%d", (int)sh, n_bind);
    if (ps->modules[sh] == VK_NULL_HANDLE) {
        VkShaderModuleCreateInfo mci = {
            .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
            .codeSize = rt_shaders[sh].size,
            .pCode = rt_shaders[sh].words,
        };
        VkResult r = vkCreateShaderModule(g->dev, &mci, NULL, &ps->modules[sh]);
        if (r != VK_SUCCESS) {
            ps->modules[sh] = VK_NULL_HANDLE;
            return rt_vk_fail(r, "vkCreateShaderModule", __FILE__, __LINE__, e);
        }
    }
    VkDescriptorSetLayout dsl;
    VkPipelineLayout pl;
    if (rt_pipeline_layout(ps, n_bind, texel_mask, &dsl, &pl, e) < 0)
        return e->status;
    memset(j, 0, sizeof(*j));
    j->sh = sh;
    j->n_spec = n_spec;
    if (n_spec) /* spec may be NULL then: memcpy's arguments must not be */
        memcpy(j->spec, spec, (size_t)n_spec * sizeof(uint32_t));
    for (int i = 0; i < n_spec; i++)
        j->map[i] = (VkSpecializationMapEntry){
            .constantID = (uint32_t)i,
            .offset = (uint32_t)(i * 4),
            .size = 4,
        };
    j->si = (VkSpecializationInfo){
        .mapEntryCount = (uint32_t)n_spec,
        .pMapEntries = j->map,
        .dataSize = (size_t)n_spec * 4,
        .pData = j->spec,
    };
    j->ci = (VkComputePipelineCreateInfo){
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = ps->modules[sh],
                .pName = "main",
                .pSpecializationInfo = n_spec ? &j->si : NULL,
            },
        .layout = pl,
    };
    return 0;
}

static void pipe_job_run(struct rt_pipes *ps, struct pipe_job *j)
{
    j->r = vkCreateComputePipelines(ps->gpu->dev, ps->cache, 1, &j->ci, NULL, &j->pipe);
}

/* appends a created job to the registry (the caller checked the room) */
static VkPipeline pipe_add(struct rt_pipes *ps, const struct pipe_job *j)
{
    struct rt_pipe *p = &ps->pipes[ps->n_pipes++];
    p->shader = j->sh;
    p->n_spec = j->n_spec;
    memset(p->spec, 0, sizeof(p->spec));
    memcpy(p->spec, j->spec, sizeof(j->spec));
    p->pipe = j->pipe;
    return p->pipe;
}

/* the pipeline for (shader, spec), created on first use; NULL with e set */
VkPipeline rt_pipeline_get(struct rt_pipes *ps, enum rt_shader_id sh, const uint32_t *spec,
                           int n_spec, int n_bind, uint32_t texel_mask, struct err *e)
{
    int i = pipe_find(ps, sh, spec, n_spec);
    if (i >= 0)
        return ps->pipes[i].pipe;
    if (ps->n_pipes >= RT_PIPE_MAX) {
        err_set(e, RT_ERR_TOO_LARGE, ERR_INTERNAL, "too_many_pipelines",
                "too many distinct pipelines (limit %d)", RT_PIPE_MAX);
        return VK_NULL_HANDLE;
    }
    struct pipe_job j;
    if (pipe_job_init(ps, &j, sh, spec, n_spec, n_bind, texel_mask, e) < 0)
        return VK_NULL_HANDLE;
    pipe_job_run(ps, &j);
    if (j.r != VK_SUCCESS) {
        rt_vk_fail(j.r, "vkCreateComputePipelines", __FILE__, __LINE__, e);
        return VK_NULL_HANDLE;
    }
    return pipe_add(ps, &j);
}

/* the compile threads of rt_pipeline_prepare: each takes the next job */
struct pipe_pool {
    struct rt_pipes *ps;
    struct pipe_job *jobs;
    int n;
    atomic_int next;
};

static void *pipe_worker(void *arg)
{
    struct pipe_pool *pp = arg;
    for (int i; (i = atomic_fetch_add(&pp->next, 1)) < pp->n;)
        pipe_job_run(pp->ps, &pp->jobs[i]);
    return NULL;
}

/*
 * Creates the missing pipelines of a plan before it is recorded, on up to
 * RT_PIPE_THREADS threads: vkCreateComputePipelines is where llvmpipe
 * compiles (LLVM JIT), which took nearly all of a model's load time
 * (runtime/README.md), and the Vulkan spec lets several threads create
 * pipelines at once (the cache is internally synchronised).
 */
int rt_pipeline_prepare(struct rt_pipes *ps, const struct rt_pipe_req *rq, int n, struct err *e)
{
    struct pipe_job *jobs = calloc((size_t)(n > 0 ? n : 1), sizeof(*jobs));
    if (jobs == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate pipeline jobs");
    int nj = 0, rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (pipe_find(ps, rq[i].sh, rq[i].spec, rq[i].n_spec) >= 0)
            continue;
        int dup = 0;
        for (int k = 0; k < nj && !dup; k++)
            dup = jobs[k].sh == rq[i].sh && jobs[k].n_spec == rq[i].n_spec &&
                  (rq[i].n_spec == 0 ||
                   memcmp(jobs[k].spec, rq[i].spec, (size_t)rq[i].n_spec * 4) == 0);
        if (dup)
            continue;
        if (ps->n_pipes + nj >= RT_PIPE_MAX)
            rc = err_set(e, RT_ERR_TOO_LARGE, ERR_INTERNAL, "too_many_pipelines",
                         "too many distinct pipelines (limit %d)", RT_PIPE_MAX);
        else if (pipe_job_init(ps, &jobs[nj], rq[i].sh, rq[i].spec, rq[i].n_spec, rq[i].n_bind,
                               rq[i].texel_mask, e) == 0)
            nj++;
        else
            rc = e->status;
    }
    if (rc == 0 && nj > 0) {
        struct pipe_pool pp = {.ps = ps, .jobs = jobs, .n = nj};
        atomic_init(&pp.next, 0);
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int nt = cpus < 1 ? 1 : (cpus > RT_PIPE_THREADS ? RT_PIPE_THREADS : (int)cpus);
        nt = nt > nj ? nj : nt;
        pthread_t th[RT_PIPE_THREADS];
        int started = 0;
        for (int t = 1; t < nt; t++) /* a thread that cannot start leaves its share here */
            if (pthread_create(&th[started], NULL, pipe_worker, &pp) == 0)
                started++;
        pipe_worker(&pp);
        for (int t = 0; t < started; t++)
            pthread_join(th[t], NULL);
        for (int k = 0; k < nj; k++) {
            if (jobs[k].r == VK_SUCCESS)
                pipe_add(ps, &jobs[k]);
            else if (rc == 0)
                rc = rt_vk_fail(jobs[k].r, "vkCreateComputePipelines", __FILE__, __LINE__, e);
        }
    }
    free(jobs);
    return rc;
}
