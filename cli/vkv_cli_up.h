/*
 * vkv_cli_up.h: `vkv upscale MODEL IMAGE OUT [--cpu] [--device SEL]
 * [--quality Q]`: an upscale model (tasks/rt_task_upscale.h) over one
 * image, written as PNG, WebP (by OUT's extension) or binary PPM (.ppm,
 * exact RGB for the tests).
 */
#ifndef VKV_CLI_UP_H
#define VKV_CLI_UP_H

/* the subcommand; 0 on success, 1 on failure (message on stderr), 2 usage */
int vkv_cli_upscale(int argc, char **argv);

#endif
