/*
 * vkv_cli_md.h: `vkv md caption|query|detect|point MODEL_DIR IMAGE ...`,
 * Moondream 2 on a model directory (vlm/md_task.h), printing the result
 * JSON with the generated token ids.
 */
#ifndef VKV_CLI_MD_H
#define VKV_CLI_MD_H

/* argv[0] = "md", argv[1] = the task; returns 0, 1 (failure) or 2 (usage) */
int vkv_cli_md(int argc, char **argv);

#endif
