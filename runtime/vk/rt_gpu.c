/*
 * rt_gpu.c: Vulkan instance, physical-device enumeration and choice,
 * capabilities (struct rt_caps), the logical device with one compute
 * queue and its command pool, and the validation-layer message counter.
 *
 * Each rt_gpu owns its own VkInstance, so devices are independent (one
 * worker per GPU).  The only optional device feature enabled is
 * shaderFloat16, where the device has it, for the GPU family's fp16-arithmetic
 * GEMM (gemm_sm_h_*); every other shader is written against core Vulkan 1.1
 * + storage buffers (fp16 and int8 weights are unpacked from 32-bit words),
 * so the portable path is the only path needed for correctness; caps drive
 * kernel choice.  See runtime/README.md.
 */
#include "runtime/vk/rt_gpu.h"
#include "common/cm.h"
#include "common/log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int val_errors_total; /* across devices, incl. messages during destroy */

/* validation errors counted by every device so far (RT_VALIDATE=1); cannot fail */
int rt_validation_errors_total(void)
{
    return val_errors_total;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_cb(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                               VkDebugUtilsMessageTypeFlagsEXT type,
                                               const VkDebugUtilsMessengerCallbackDataEXT *data,
                                               void *user)
{
    (void)type;
    struct rt_gpu *d = user;
    if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        d->n_val_errors++;
        val_errors_total++;
        fprintf(stderr, "vulkan validation error: %s\n", data->pMessage);
    } else if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        d->n_val_warnings++;
        fprintf(stderr, "vulkan validation warning: %s\n", data->pMessage);
    }
    return VK_FALSE;
}

static int has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
        return 0;
    VkLayerProperties *p = cm_xcalloc(n, sizeof(*p));
    int found = 0;
    if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

/* creates an instance (with validation when d != NULL and validate) */
static int instance_create(struct rt_gpu *d, int validate, VkInstance *out, struct err *e)
{
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vkvision",
        .pEngineName = "libvkv",
        .apiVersion = VK_API_VERSION_1_2,
    };
    const char *layers[1], *exts[1];
    uint32_t n_layers = 0, n_exts = 0;
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = debug_cb,
        .pUserData = d,
    };
    if (d != NULL && validate) {
        if (!has_layer("VK_LAYER_KHRONOS_validation"))
            return err_set(e, RT_ERR_VULKAN, ERR_INTERNAL, "vulkan_error",
                           "validation requested (RT_VALIDATE=1) but VK_LAYER_KHRONOS_validation "
                           "is not installed");
        layers[n_layers++] = "VK_LAYER_KHRONOS_validation";
        exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        d->validation = 1;
    }
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = n_exts ? &dbg : NULL,
        .pApplicationInfo = &app,
        .enabledLayerCount = n_layers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r != VK_SUCCESS)
        return err_set(e, RT_ERR_VULKAN, ERR_UNAVAILABLE, "no_vulkan",
                       "could not create a Vulkan instance: %s (is a Vulkan driver installed?)",
                       rt_vk_result_str(r));
    if (d != NULL && d->validation) {
        PFN_vkCreateDebugUtilsMessengerEXT f =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                *out, "vkCreateDebugUtilsMessengerEXT");
        if (f == NULL || f(*out, &dbg, NULL, &d->messenger) != VK_SUCCESS) {
            vkDestroyInstance(*out, NULL);
            *out = VK_NULL_HANDLE;
            return err_set(e, RT_ERR_VULKAN, ERR_INTERNAL, "vulkan_error",
                           "could not create the validation messenger");
        }
    }
    return 0;
}

/* lists physical devices; returns a new array (caller frees) and count, or <0 */
static int phys_list(VkInstance inst, VkPhysicalDevice **out, uint32_t *n, struct err *e)
{
    *n = 0;
    RT_VK_TRY(vkEnumeratePhysicalDevices(inst, n, NULL));
    *out = cm_xcalloc(*n ? *n : 1, sizeof(**out));
    RT_VK_TRY(vkEnumeratePhysicalDevices(inst, n, *out));
    return 0;
}

static int has_dev_ext(VkPhysicalDevice p, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(p, NULL, &n, NULL) != VK_SUCCESS || n == 0)
        return 0;
    VkExtensionProperties *x = cm_xcalloc(n, sizeof(*x));
    int found = 0;
    if (vkEnumerateDeviceExtensionProperties(p, NULL, &n, x) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= strcmp(x[i].extensionName, name) == 0;
    free(x);
    return found;
}

static void budget_fill(VkPhysicalDevice p, struct rt_caps *c)
{
    if (!c->has_budget)
        return;
    VkPhysicalDeviceMemoryBudgetPropertiesEXT b = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT,
    };
    VkPhysicalDeviceMemoryProperties2 m = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
        .pNext = &b,
    };
    vkGetPhysicalDeviceMemoryProperties2(p, &m);
    c->budget_bytes = c->usage_bytes = 0;
    for (uint32_t i = 0; i < m.memoryProperties.memoryHeapCount; i++)
        if (m.memoryProperties.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) {
            c->budget_bytes += b.heapBudget[i];
            c->usage_bytes += b.heapUsage[i];
        }
}

const VkFormat rt_gpu_texel_format[RT_GPU_TEXEL_FORMATS] = {VK_FORMAT_UNDEFINED,
                                                            VK_FORMAT_R32G32B32A32_SFLOAT,
                                                            VK_FORMAT_R16G16B16A16_SFLOAT,
                                                            VK_FORMAT_R8G8B8A8_SINT,
                                                            VK_FORMAT_R32_SFLOAT,
                                                            VK_FORMAT_R16_SFLOAT,
                                                            VK_FORMAT_R8_SINT,
                                                            VK_FORMAT_R32_UINT};
const uint32_t rt_gpu_texel_bytes[RT_GPU_TEXEL_FORMATS] = {1, 16, 8, 4, 4, 2, 1, 4};

static void caps_fill(VkPhysicalDevice p, int index, struct rt_caps *c)
{
    memset(c, 0, sizeof(*c));
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
    };
    VkPhysicalDeviceIDProperties idp = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES,
        .pNext = &sg,
    };
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
        .pNext = &idp,
    };
    VkPhysicalDeviceProperties2 pr = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
        .pNext = &drv,
    };
    vkGetPhysicalDeviceProperties2(p, &pr);
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
    };
    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .pNext = &f12,
    };
    VkPhysicalDeviceFeatures2 ft = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = &s16,
    };
    int is12 = VK_API_VERSION_MINOR(pr.properties.apiVersion) >= 2 ||
               VK_API_VERSION_MAJOR(pr.properties.apiVersion) > 1;
    if (!is12)
        s16.pNext = NULL;
    vkGetPhysicalDeviceFeatures2(p, &ft);
    const VkPhysicalDeviceProperties *P = &pr.properties;
    snprintf(c->name, sizeof(c->name), "%s", P->deviceName);
    snprintf(c->driver, sizeof(c->driver), "%.120s: %.120s", drv.driverName, drv.driverInfo);
    const uint8_t *u = idp.deviceUUID;
    snprintf(c->uuid, sizeof(c->uuid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    static const char *const types[] = {"other", "integrated", "discrete", "virtual", "cpu"};
    snprintf(c->type, sizeof(c->type), "%s",
             (unsigned)P->deviceType < 5 ? types[P->deviceType] : "other");
    c->vendor_id = P->vendorID;
    c->device_id = P->deviceID;
    c->api_version = P->apiVersion;
    c->driver_version = P->driverVersion;
    c->index = index;
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(p, &mp);
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            c->vram_bytes += mp.memoryHeaps[i].size;
    c->uma = 1;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags fl = mp.memoryTypes[i].propertyFlags;
        if ((fl & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
            !(fl & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
            c->uma = 0;
    }
    c->has_budget = has_dev_ext(p, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    budget_fill(p, c);
    c->fp16 = is12 && f12.shaderFloat16;
    c->int8 = is12 && f12.shaderInt8;
    c->storage16 = s16.storageBuffer16BitAccess;
    c->storage8 = is12 && f12.storageBuffer8BitAccess;
    c->int_dot = has_dev_ext(p, "VK_KHR_shader_integer_dot_product");
    c->coopmat = has_dev_ext(p, "VK_KHR_cooperative_matrix");
    c->subgroup_size = (int)sg.subgroupSize;
    c->subgroup_arith = (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                        (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT);
    c->shared_mem = P->limits.maxComputeSharedMemorySize;
    c->max_storage_range = P->limits.maxStorageBufferRange;
    c->max_alloc = 1ull << 30;
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
    };
    VkPhysicalDeviceProperties2 pr2 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
        .pNext = &m3,
    };
    vkGetPhysicalDeviceProperties2(p, &pr2);
    if (m3.maxMemoryAllocationSize > 0)
        c->max_alloc = m3.maxMemoryAllocationSize;
    for (int i = 0; i < 3; i++)
        c->max_wg_count[i] = P->limits.maxComputeWorkGroupCount[i];
    c->max_wg_invocations = P->limits.maxComputeWorkGroupInvocations;
    c->max_push_constants = P->limits.maxPushConstantsSize;
    c->min_storage_align = (uint32_t)P->limits.minStorageBufferOffsetAlignment;
    c->max_texel_elements = P->limits.maxTexelBufferElements;
    c->texel_formats = P->limits.minTexelBufferOffsetAlignment <= 256;
    for (size_t i = 1; i < RT_GPU_TEXEL_FORMATS; i++) {
        VkFormatProperties fp;
        vkGetPhysicalDeviceFormatProperties(p, rt_gpu_texel_format[i], &fp);
        if (!(fp.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT))
            c->texel_formats = 0;
    }
}

/* number of physical devices; <0 with e set when Vulkan is unusable */
int rt_gpu_count(struct err *e)
{
    VkInstance inst;
    int rc = instance_create(NULL, 0, &inst, e);
    if (rc < 0)
        return rc;
    VkPhysicalDevice *p = NULL;
    uint32_t n = 0;
    rc = phys_list(inst, &p, &n, e);
    free(p);
    vkDestroyInstance(inst, NULL);
    return rc < 0 ? rc : (int)n;
}

/* caps of device index without a logical device; 0 or <0 */
int rt_gpu_caps_get(int index, struct rt_caps *caps, struct err *e)
{
    VkInstance inst;
    int rc = instance_create(NULL, 0, &inst, e);
    if (rc < 0)
        return rc;
    VkPhysicalDevice *p = NULL;
    uint32_t n = 0;
    rc = phys_list(inst, &p, &n, e);
    if (rc == 0 && (index < 0 || (uint32_t)index >= n))
        rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_device",
                     "invalid device index: %d (%u devices)", index, n);
    if (rc == 0)
        caps_fill(p[index], index, caps);
    free(p);
    vkDestroyInstance(inst, NULL);
    return rc;
}

static int icase_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return n == 0;
}

/* matches selector against the devices; returns the index or <0 */
static int select_device(VkPhysicalDevice *p, uint32_t n, const char *sel, struct err *e)
{
    if (n == 0)
        return err_set(e, RT_ERR_VULKAN, ERR_UNAVAILABLE, "no_device", "no Vulkan device found");
    if (sel == NULL || sel[0] == '\0')
        return 0;
    int digits = 1;
    for (const char *s = sel; *s; s++)
        digits &= isdigit((unsigned char)*s) != 0;
    if (digits && strlen(sel) < 6) {
        int i = atoi(sel);
        if ((uint32_t)i >= n)
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_device",
                           "invalid device index: %s (%u devices)", sel, n);
        return i;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct rt_caps c;
        caps_fill(p[i], (int)i, &c);
        if (strcasecmp(c.uuid, sel) == 0)
            return (int)i;
    }
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties pr;
        vkGetPhysicalDeviceProperties(p[i], &pr);
        if (icase_contains(pr.deviceName, sel))
            return (int)i;
    }
    return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_device", "no device matches \"%.80s\"",
                   sel);
}

/* opens the device matching selector into g; see rt_gpu.h */
int rt_gpu_open(struct rt_gpu *d, const char *selector, int validate, uint64_t timeout_ms,
                struct err *e)
{
    VkPhysicalDevice *list = NULL;
    uint32_t n = 0;
    int rc = instance_create(d, validate, &d->inst, e);
    if (rc < 0)
        goto fail;
    rc = phys_list(d->inst, &list, &n, e);
    if (rc < 0)
        goto fail;
    int idx = select_device(list, n, selector, e);
    if (idx < 0) {
        rc = idx;
        goto fail;
    }
    d->phys = list[idx];
    caps_fill(d->phys, idx, &d->caps);
    d->has_budget_ext = d->caps.has_budget;
    vkGetPhysicalDeviceMemoryProperties(d->phys, &d->mem);
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(d->phys, &nq, NULL);
    VkQueueFamilyProperties *qf = cm_xcalloc(nq ? nq : 1, sizeof(*qf));
    vkGetPhysicalDeviceQueueFamilyProperties(d->phys, &nq, qf);
    d->queue_family = UINT32_MAX;
    /* prefer a compute queue without graphics (async compute), else any */
    for (uint32_t i = 0; i < nq && d->queue_family == UINT32_MAX; i++)
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) &&
            !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
            d->queue_family = i;
    for (uint32_t i = 0; i < nq && d->queue_family == UINT32_MAX; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
            d->queue_family = i;
    free(qf);
    if (d->queue_family == UINT32_MAX) {
        rc = err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_device",
                     "device %s has no compute queue", d->caps.name);
        goto fail;
    }
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = d->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    const char *exts[2];
    uint32_t n_exts = 0;
    if (d->has_budget_ext)
        exts[n_exts++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .shaderFloat16 = VK_TRUE,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = d->caps.fp16 ? &f12 : NULL, /* caps.fp16 implies Vulkan 1.2 */
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    VkResult vr = vkCreateDevice(d->phys, &dci, NULL, &d->dev);
    if (vr != VK_SUCCESS) {
        rc = rt_vk_fail(vr, "vkCreateDevice", __FILE__, __LINE__, e);
        goto fail;
    }
    vkGetDeviceQueue(d->dev, d->queue_family, 0, &d->queue);
    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = d->queue_family,
    };
    vr = vkCreateCommandPool(d->dev, &pci, NULL, &d->cmd_pool);
    if (vr != VK_SUCCESS) {
        rc = rt_vk_fail(vr, "vkCreateCommandPool", __FILE__, __LINE__, e);
        goto fail;
    }
    d->timeout_ns = (timeout_ms > 0 ? timeout_ms : 60000) * 1000000ull;
    free(list);
    return 0;
fail:
    free(list);
    rt_gpu_close(d);
    return rc;
}

/* destroys what rt_gpu_open made; see rt_gpu.h */
void rt_gpu_close(struct rt_gpu *d)
{
    if (d->dev != VK_NULL_HANDLE) {
        vkDeviceWaitIdle(d->dev);
        if (d->cmd_pool != VK_NULL_HANDLE)
            vkDestroyCommandPool(d->dev, d->cmd_pool, NULL);
        vkDestroyDevice(d->dev, NULL);
    }
    if (d->messenger != VK_NULL_HANDLE) {
        PFN_vkDestroyDebugUtilsMessengerEXT f =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                d->inst, "vkDestroyDebugUtilsMessengerEXT");
        if (f != NULL)
            f(d->inst, d->messenger, NULL);
    }
    if (d->inst != VK_NULL_HANDLE)
        vkDestroyInstance(d->inst, NULL);
    memset(d, 0, sizeof(*d));
}

void rt_gpu_budget_refresh(struct rt_gpu *d)
{
    budget_fill(d->phys, &d->caps);
}
