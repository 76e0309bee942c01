/*
 * vkv_cli_dev.h: the device every `vkv` subcommand opens.  The CLI has no
 * config table: the runtime's device settings (rt_device_opt_names:
 * RT_VALIDATE, VKV_NO_TEXEL, VKV_RT_TIMEOUT_MS, ...) come from the
 * environment, parsed by rt_device_opts_read.
 */
#ifndef VKV_CLI_DEV_H
#define VKV_CLI_DEV_H

#include "runtime/rt.h"

/* opens the device selector names (NULL: device 0) with the environment's
 * settings; 0 and *dev (caller frees with rt_device_destroy), or <0 with e
 * set (an invalid setting is named) */
int vkv_cli_device_create(const char *selector, struct rt_device **dev, struct err *e);

#endif
