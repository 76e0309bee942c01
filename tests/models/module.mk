# tests/models: hostile model files for the importers (run by suite
# 35-models); the libFuzzer targets of the model parsers (onnx, tfjs) are
# registered in import/module.mk.  See models/README.md.
MODELS_TEST_BIN := $(BIN)/test_models_hostile
TEST_BINS += $(MODELS_TEST_BIN)

$(MODELS_TEST_BIN): $(O)/tests/models/test_models_hostile.o $(IMPORT_LIB) $(RT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(RT_LDLIBS) $(LDLIBS_BASE)

# the tagger's tag table (tasks/rt_tags.c), run by suite 38-tagger
TAGS_TEST_BIN := $(BIN)/test_tags
TEST_BINS += $(TAGS_TEST_BIN)

$(TAGS_TEST_BIN): $(O)/tests/models/test_tags.o $(TASK_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)
