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

# transformer kernels (runtime/tfm/): weight type WTYPE 0 f32, 1 f16, 2 i8, 3 q4; head size HD
RT_TF_SHADER_VARIANTS := \
  tf_linear_mv_f32:tf_linear_mv:WTYPE=0 tf_linear_mv_f16:tf_linear_mv:WTYPE=1 \
  tf_linear_mv_i8:tf_linear_mv:WTYPE=2  tf_linear_mv_q4:tf_linear_mv:WTYPE=3 \
  tf_linear_mv_tx_f32:tf_linear_mv:WTYPE=0,TEXEL=1 tf_linear_mv_tx_f16:tf_linear_mv:WTYPE=1,TEXEL=1 \
  tf_linear_mv_tx_i8:tf_linear_mv:WTYPE=2,TEXEL=1  tf_linear_mv_tx_q4:tf_linear_mv:WTYPE=3,TEXEL=1 \
  tf_linear_mm_tx_f32:tf_linear_mm:WTYPE=0,TEXEL=1 tf_linear_mm_tx_f16:tf_linear_mm:WTYPE=1,TEXEL=1 \
  tf_linear_mm_tx_i8:tf_linear_mm:WTYPE=2,TEXEL=1  tf_linear_mm_tx_q4:tf_linear_mm:WTYPE=3,TEXEL=1 \
  tf_linear_mm_f32:tf_linear_mm:WTYPE=0 tf_linear_mm_f16:tf_linear_mm:WTYPE=1 \
  tf_linear_mm_i8:tf_linear_mm:WTYPE=2  tf_linear_mm_q4:tf_linear_mm:WTYPE=3 \
  tf_embed_f32:tf_embed:WTYPE=0 tf_embed_f16:tf_embed:WTYPE=1 tf_embed_i8:tf_embed:WTYPE=2 \
  tf_attn_h64:tf_attn:HD=64 tf_attn_h72:tf_attn:HD=72 \
  tf_attn_dec_h64:tf_attn_dec:HD=64 tf_attn_dec_h72:tf_attn_dec:HD=72 \
  tf_attn_h64_kvh:tf_attn:HD=64,KVH=1 tf_attn_h72_kvh:tf_attn:HD=72,KVH=1 \
  tf_attn_dec_h64_kvh:tf_attn_dec:HD=64,KVH=1 tf_attn_dec_h72_kvh:tf_attn_dec:HD=72,KVH=1 \
  tf_rope_kvh:tf_rope:KVH=1 \
  tf_layernorm:tf_layernorm: tf_eltwise:tf_eltwise: tf_softmax:tf_softmax: tf_rope:tf_rope: \
  tf_pool:tf_pool: tf_copy:tf_copy: tf_fourier:tf_fourier: tf_argmax:tf_argmax: \
  tf_peak:tf_peak:

# variant table: <spv name>:<source>:<defines separated by ,>
RT_SHADER_VARIANTS := \
  conv2d_f32:conv2d:WTYPE=0  conv2d_f16:conv2d:WTYPE=1  conv2d_i8:conv2d:WTYPE=2 \
  gemm_f32:gemm:WTYPE=0      gemm_f16:gemm:WTYPE=1      gemm_i8:gemm:WTYPE=2 \
  gemm_tx_f32:gemm:WTYPE=0,TEXEL=1 gemm_tx_f16:gemm:WTYPE=1,TEXEL=1 gemm_tx_i8:gemm:WTYPE=2,TEXEL=1 \
  dwconv_f32:dwconv:WTYPE=0  dwconv_f16:dwconv:WTYPE=1  dwconv_i8:dwconv:WTYPE=2 \
  conv2d_tx_f32:conv2d:WTYPE=0,TEXEL=1 conv2d_tx_f16:conv2d:WTYPE=1,TEXEL=1 \
  conv2d_tx_i8:conv2d:WTYPE=2,TEXEL=1 \
  dwconv_tx_f32:dwconv:WTYPE=0,TEXEL=1 dwconv_tx_f16:dwconv:WTYPE=1,TEXEL=1 \
  dwconv_tx_i8:dwconv:WTYPE=2,TEXEL=1 \
  matmul:matmul: binary:binary: unary:unary: batchnorm:batchnorm: pool:pool: \
  global_avg:global_avg: copy4d:copy4d: softmax:softmax: resize:resize: \
  reduce_mean:reduce_mean: preprocess:preprocess: \
  $(RT_TF_SHADER_VARIANTS)


# only variants whose source exists (the list grows with the kernels)
RT_SHADER_VARIANTS := $(foreach v,$(RT_SHADER_VARIANTS),$(if $(wildcard compute-shaders/$(word 2,$(subst :, ,$(v))).comp),$(v)))

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

$(B)/gen/rt_shaders.c: $(RT_SPVS) compute-shaders/embed.sh
	@mkdir -p $(dir $@)
	$(Q)bash compute-shaders/embed.sh $(B)/gen/rt_shaders $(RT_GLSLC_COOPMAT) $(RT_GLSLC_INTDOT) $(RT_SPVS)
$(B)/gen/rt_shaders.h: $(B)/gen/rt_shaders.c

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
