# vlm/: vision-language models on the transformer runtime (Moondream 2):
# image crops, the model (vision encoder, projection, text decoder, region
# head) loaded from safetensors, and its tasks.  One static library.
#
# Consumers link:  $(VLM_LIB) $(IMPORT_LIB) $(RT_LIB) $(COMMON_LIB) $(RT_LDLIBS)
VLM_SRCS := $(wildcard vlm/*.c)
VLM_OBJS := $(VLM_SRCS:%.c=$(O)/%.o)
VLM_LIB  := $(O)/libvkvvlm.a
CFLAGS_vlm := $(call PKGS_CFLAGS,vulkan $(COMMON_PKGS))

$(VLM_OBJS): $(B)/gen/rt_shaders.h

$(VLM_LIB): $(VLM_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

# tests/vlm: md_*_test.c, linked with everything above
VLM_TEST_BINS := $(patsubst tests/vlm/%.c,$(BIN)/%,$(wildcard tests/vlm/md_*_test.c))
TEST_BINS += $(VLM_TEST_BINS)
$(VLM_TEST_BINS:$(BIN)/%=$(O)/tests/vlm/%.o): $(B)/gen/rt_shaders.h
$(VLM_TEST_BINS): $(BIN)/%: $(O)/tests/vlm/%.o $(VLM_LIB) $(IMPORT_LIB) $(RT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(RT_LDLIBS) $(LDLIBS_BASE)
