# tests/runtime: runtime tests, linked with libvkv.
#   rt_test_ir    IR shape inference/validation, passes, fp16/int8 helpers,
#                 CPU reference ops against hand-computed values (no GPU)
#   rt_conform    op conformance: Vulkan kernels vs the CPU reference
RT_TEST_BINS := $(patsubst tests/runtime/%.c,$(BIN)/%,$(wildcard tests/runtime/rt_*.c))
TEST_BINS += $(RT_TEST_BINS)

$(BIN)/rt_%: $(O)/tests/runtime/rt_%.o $(RT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(RT_LDLIBS) $(LDLIBS_BASE)

# the transformer-kernel conformance test includes runtime/tfm/rt_tf.h (generated shader ids)
$(O)/tests/runtime/rt_tf_conform.o: $(B)/gen/rt_shaders.h
$(O)/tests/runtime/rt_dec_test.o: $(B)/gen/rt_shaders.h

# rt_dec_torch also reads safetensors (import/)
$(O)/tests/runtime/rt_dec_torch.o: $(B)/gen/rt_shaders.h
$(BIN)/rt_dec_torch: $(O)/tests/runtime/rt_dec_torch.o $(IMPORT_LIB) $(RT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(RT_LDLIBS) $(LDLIBS_BASE)

# rt_test_ir checks the op table (runtime/ops/rt_ops.h includes the generated shader ids)
$(O)/tests/runtime/rt_test_ir.o: $(B)/gen/rt_shaders.h
