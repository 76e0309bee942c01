# tests/import: unit tests of the import/ readers (safetensors, tokenizer),
# one binary per module, test_<module>.c, linked with libvkvimport and
# libvkvcommon (no GPU).  Run by suite 10-unit; the tokenizer comparison
# with @huggingface/tokenizers is suite 12-import.
IMPORT_TEST_SRCS := $(wildcard tests/import/test_*.c)
IMPORT_TEST_BINS := $(IMPORT_TEST_SRCS:tests/import/%.c=$(BIN)/%)
TEST_BINS += $(IMPORT_TEST_BINS)

$(IMPORT_TEST_BINS): $(BIN)/test_%: $(O)/tests/import/test_%.o $(IMPORT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)

# st_upload: the converters' output through the device's matmul kernels
# (needs Vulkan; run by suite 32-decoder)
ST_UPLOAD_BIN := $(BIN)/st_upload
TEST_BINS += $(ST_UPLOAD_BIN)
$(O)/tests/import/st_upload.o: $(B)/gen/rt_shaders.h
$(ST_UPLOAD_BIN): $(O)/tests/import/st_upload.o $(IMPORT_LIB) $(RT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(RT_LDLIBS) $(LDLIBS_BASE)
