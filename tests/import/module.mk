# tests/import: unit tests of the import/ readers (safetensors, tokenizer),
# one binary per module, test_<module>.c, linked with libvkvimport and
# libvkvcommon (no GPU).  Run by suite 10-unit; the tokenizer comparison
# with @huggingface/tokenizers is suite 12-tokenizer.
IMPORT_TEST_SRCS := $(wildcard tests/import/test_*.c)
IMPORT_TEST_BINS := $(IMPORT_TEST_SRCS:tests/import/%.c=$(BIN)/%)
TEST_BINS += $(IMPORT_TEST_BINS)

$(IMPORT_TEST_BINS): $(BIN)/test_%: $(O)/tests/import/test_%.o $(IMPORT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)
