# tests/models: hostile model files for the importers (run by suite
# 35-models) and the libFuzzer targets of the model parsers (onnx, tfjs;
# tests/fuzz/README.md).  See models/README.md.
MODELS_TEST_BIN := $(BIN)/test_models_hostile
TEST_BINS += $(MODELS_TEST_BIN)

$(MODELS_TEST_BIN): $(O)/tests/models/test_models_hostile.o $(RT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(RT_LDLIBS) $(LDLIBS_BASE)

FUZZ_TARGETS       += onnx tfjs
FUZZ_SRCS_onnx     := runtime/rt_import_onnx.c runtime/rt_pb.c runtime/rt_ir.c
FUZZ_LIBS_onnx     := $(RT_LIB)
FUZZ_LDLIBS_onnx   := $(RT_LDLIBS)
FUZZ_SRCS_tfjs     := runtime/rt_import_tfjs.c runtime/rt_ir.c
FUZZ_LIBS_tfjs     := $(RT_LIB)
FUZZ_LDLIBS_tfjs   := $(RT_LDLIBS)
