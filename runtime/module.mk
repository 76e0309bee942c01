# runtime/: libvkv (rt_), the compute engine: the Vulkan backend (vk/), the
# graph IR with its passes and packed files (ir/), the op families (ops/)
# and the CPU reference (ref/).  Sources are found by wildcard: a new file in
# one of these folders needs no edit here.
#
# Consumers link:  $(RT_LIB) $(COMMON_LIB) $(RT_LDLIBS)
# Shaders: compute-shaders/*.comp are compiled by glslc at BUILD time into
# $(B)/shaders/<variant>.spv and embedded as uint32_t arrays in
# $(B)/gen/rt_shaders.{c,h} (compute-shaders/embed.sh).  Nothing compiles
# GLSL at run time.  See runtime/README.md and compute-shaders/README.md.

RT_PKGS    := vulkan
RT_SRCS    := $(wildcard runtime/*.c runtime/*/*.c)
RT_OBJS    := $(RT_SRCS:%.c=$(O)/%.o) $(O)/gen/rt_shaders.o
RT_LIB     := $(O)/libvkv.a
RT_LDLIBS  := $(call PKGS_LIBS,$(RT_PKGS)) $(COMMON_LDLIBS) -lm -ldl
CFLAGS_runtime := $(call PKGS_CFLAGS,$(RT_PKGS) $(COMMON_PKGS))

GLSLC       ?= glslc
GLSLC_FLAGS := --target-env=vulkan1.2 -O -Werror -Icompute-shaders/include
SHADER_OUT  := $(B)/shaders

# glslc feature tests (Debian 12's glslc lacks some extensions); the result
# is a define in rt_shaders.h, and variants needing it are built only if 1
glslc_has = $(shell printf '\#version 450\n\#extension $(1) : require\nlayout(local_size_x=1) in;\nvoid main(){}\n' | $(GLSLC) -fshader-stage=compute --target-env=vulkan1.3 -o /dev/null - >/dev/null 2>&1 && echo 1 || echo 0)
RT_GLSLC_COOPMAT := $(call glslc_has,GL_KHR_cooperative_matrix)
RT_GLSLC_INTDOT  := $(call glslc_has,GL_EXT_integer_dot_product)

# the variant table, one "<spv name>:<source>:<defines separated by ,>" word
# per variant, comes from the shaders' own "// vkv-variant:" lines
# (compute-shaders/variants.sh): a new kernel or variant needs no edit here
RT_SHADER_VARIANTS := $(shell bash compute-shaders/variants.sh)


rt_v_name = $(word 1,$(subst :, ,$(1)))
rt_v_src  = $(word 2,$(subst :, ,$(1)))
rt_v_defs = $(addprefix -D,$(subst $(comma), ,$(word 3,$(subst :, ,$(1)))))
comma := ,

define RT_SHADER_RULE
$(SHADER_OUT)/$(call rt_v_name,$(1)).spv: compute-shaders/$(call rt_v_src,$(1)).comp
	@mkdir -p $$(dir $$@)
	$$(if $$(Q),@echo "  GLSLC   $$@")
	$$(Q)$$(GLSLC) $$(GLSLC_FLAGS) $(call rt_v_defs,$(1)) -MD -MF $$@.d -o $$@ $$<
endef
$(foreach v,$(RT_SHADER_VARIANTS),$(eval $(call RT_SHADER_RULE,$(v))))
RT_SPVS := $(foreach v,$(RT_SHADER_VARIANTS),$(SHADER_OUT)/$(call rt_v_name,$(v)).spv)
-include $(wildcard $(SHADER_OUT)/*.spv.d)

$(B)/gen/rt_shaders.c: $(RT_SPVS) compute-shaders/embed.sh $(wildcard compute-shaders/*.comp)
	@mkdir -p $(dir $@)
	$(Q)bash compute-shaders/embed.sh $(B)/gen/rt_shaders $(RT_GLSLC_COOPMAT) $(RT_GLSLC_INTDOT) $(RT_SPVS)
# a recipe (not an empty rule) so make re-reads the header's time after
# embed.sh rewrote it: with no recipe, objects kept stale shader ids when a
# variant was added (pool_tx after pool shifted every later id)
$(B)/gen/rt_shaders.h: $(B)/gen/rt_shaders.c
	$(Q)touch $@

$(O)/gen/rt_shaders.o: $(B)/gen/rt_shaders.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) -c $< -o $@

# every runtime object may include the generated header
$(RT_SRCS:%.c=$(O)/%.o): $(B)/gen/rt_shaders.h

$(RT_LIB): $(RT_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

# libFuzzer target for the packed-model loader (tests/fuzz/README.md)
FUZZ_TARGETS     += pack
FUZZ_SRCS_pack   := runtime/ir/rt_pack.c runtime/ir/rt_ir.c
FUZZ_LIBS_pack   := $(RT_LIB)
FUZZ_LDLIBS_pack := $(RT_LDLIBS)
