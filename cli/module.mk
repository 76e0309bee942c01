# cli/: the `vkv` command-line tool (devices, bench-ops, run, bench, md, ...); a
# table of subcommands in vkv_cli.c.  Sources are found by wildcard.  See
# cli/README.md.
VKV_CLI_SRCS := $(wildcard cli/*.c)
VKV_CLI_OBJS := $(VKV_CLI_SRCS:%.c=$(O)/%.o)
VKV_CLI_BIN  := $(BIN)/vkv
CFLAGS_cli   := $(call PKGS_CFLAGS,$(COMMON_PKGS))

# vlm/ sorts after cli/: its library is named by path ($(VLM_LIB) is not yet defined)
$(VKV_CLI_BIN): $(VKV_CLI_OBJS) $(TASK_LIB) $(O)/libvkvvlm.a $(IMPORT_LIB) $(RT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(RT_LDLIBS) $(LDLIBS_BASE)

# decode includes runtime/tfm/ headers, which include the generated shader ids
$(VKV_CLI_OBJS): $(B)/gen/rt_shaders.h

BINS += $(VKV_CLI_BIN)
