/*
 * vkv_cli_dev.c: the device of `vkv` subcommands, with settings from the
 * environment (see vkv_cli_dev.h).
 */
#include "cli/vkv_cli_dev.h"

#include <stdlib.h>

static const char *env_get(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

int vkv_cli_device_create(const char *selector, struct rt_device **dev, struct err *e)
{
    *dev = NULL;
    struct rt_device_opts o = rt_device_opts_default();
    int rc = rt_device_opts_read(&o, env_get, NULL, e);
    if (rc < 0)
        return rc;
    o.selector = selector;
    return rt_device_create(&o, dev, e);
}
