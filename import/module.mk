# import/: readers of model files from outside (safetensors, tokenizer.json).
# Built as one static library; its modules depend on common/ only.
#
# Consumers link:  $(IMPORT_LIB) $(COMMON_LIB) $(COMMON_LDLIBS)
IMPORT_SRCS := $(wildcard import/st*.c import/tok*.c)
IMPORT_OBJS := $(IMPORT_SRCS:%.c=$(O)/%.o)
IMPORT_LIB  := $(O)/libvkvimport.a
CFLAGS_import := $(call PKGS_CFLAGS,$(COMMON_PKGS))

$(IMPORT_LIB): $(IMPORT_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

# libFuzzer targets (tests/fuzz/README.md)
FUZZ_TARGETS          += safetensors
FUZZ_SRCS_safetensors := import/st.c
FUZZ_LIBS_safetensors := $(IMPORT_LIB)
FUZZ_TARGETS          += tokenizer tok_encode
FUZZ_SRCS_tokenizer   := import/tok.c
FUZZ_LIBS_tokenizer   := $(IMPORT_LIB)
FUZZ_SRCS_tok_encode  := import/tok.c
FUZZ_LIBS_tok_encode  := $(IMPORT_LIB)
