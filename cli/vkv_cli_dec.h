/*
 * vkv_cli_dec.h: the `vkv decode` subcommand (a decoder-only language model
 * from safetensors + config, on ids or text) and `vkv tokenize`; see
 * vkv_cli_dec.c.  Called by the dispatch table in cli/vkv_cli.c with
 * argv[0] = the subcommand name; returns
 * the process exit status: 0 ok, 1 failure, 2 usage error.
 */
#ifndef VKV_CLI_DEC_H
#define VKV_CLI_DEC_H

int vkv_cli_decode(int argc, char **argv);
/* vkv tokenize TOKENIZER.json (--text STR | --ids 1,2,3) [--skip-special] */
int vkv_cli_tokenize(int argc, char **argv);

#endif
