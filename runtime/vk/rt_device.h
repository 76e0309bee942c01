/*
 * rt_device.h: struct rt_device, the handle rt.h hands out (its public
 * functions rt_device_* are declared in rt.h): an opened GPU (rt_gpu.h),
 * its pipelines (rt_pipeline.h) and the kernel-choice switches the plans
 * read.  Internal to runtime/ (plans, tfm/); ops/ sees the device only as
 * struct rt_op_target.
 *
 * May include: rt_gpu.h, rt_pipeline.h.
 */
#ifndef VKV_RT_DEVICE_H
#define VKV_RT_DEVICE_H

#include "runtime/vk/rt_gpu.h"
#include "runtime/vk/rt_pipeline.h"

struct rt_device {
    struct rt_device_opts opts; /* as created (selector not kept); tfm/ and plans read it */
    struct rt_gpu gpu;
    struct rt_pipes pipes;
    int use_fp16, use_int8, use_gemm; /* after the switches */
    int use_texel;                    /* uniform texel buffers for GEMM operands */
    int use_dw3;                      /* depthwise 3x3 on dwconv3.comp (VKV_NO_DW3) */
    int use_dwpw;                     /* depthwise 3x3 + 1x1 fused (VKV_NO_DWPW) */
    uint32_t gemm_rb, gemm_cb;        /* forced GEMM register tile: rows, vec4 column blocks */
    int gpu_kernels;                  /* GPU kernel family (VKV_RT_KERNELS, device type) */
    int fp16_math;                    /* VKV_RT_FP16_MATH (only with shaderFloat16) */
};

#endif
