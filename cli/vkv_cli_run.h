/*
 * vkv_cli_run.h: the `vkv run` and `vkv bench` subcommands (models
 * engineer); the dispatch table in cli/vkv_cli.c calls these with
 * argv[0] = the subcommand name.  Each returns the process exit status:
 * 0 ok, 1 runtime failure, 2 usage error.
 */
#ifndef VKV_CLI_RUN_H
#define VKV_CLI_RUN_H

/* vkv run MODEL IMAGE... [--weights f32|f16|i8] [--cpu] [--device SEL] [--dump-rgb F.ppm|DIR]
 *         [--ocr-dump DIR] [--ocr-det-map F.f32] [--ocr-inputs-only] (ocr models, one image) */
int vkv_cli_run(int argc, char **argv);
/* vkv bench MODEL [--batch N] [--iters N] [--weights W] [--cpu] [--device SEL] [--image F] */
int vkv_cli_bench(int argc, char **argv);

#endif
