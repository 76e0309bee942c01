# import/: readers of model files made elsewhere: the graph importers
# (rt_import_*: tfjs, ONNX over the protobuf reader rt_pb) that turn a model
# file into the graph IR of runtime/ir/rt_ir.h, and the readers of
# transformer weights and vocabularies (st_: safetensors, tok_: tokenizer).
# Built as one static library; sources are found by wildcard, so a new
# reader is a new file here and no edit to this file.  See import/README.md.
#
# Consumers link:  $(IMPORT_LIB) $(RT_LIB) $(COMMON_LIB) $(RT_LDLIBS)
# (st_ and tok_ need only $(COMMON_LIB) $(COMMON_LDLIBS): archive members
# are pulled in per symbol)
IMPORT_SRCS := $(wildcard import/*.c)
IMPORT_OBJS := $(IMPORT_SRCS:%.c=$(O)/%.o)
IMPORT_LIB  := $(O)/libvkvimport.a
CFLAGS_import := $(call PKGS_CFLAGS,$(COMMON_PKGS))

$(IMPORT_LIB): $(IMPORT_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

# libFuzzer targets of the parsers (tests/fuzz/README.md); the hostile model
# files of the graph importers are in tests/models/
FUZZ_TARGETS          += safetensors onnx tfjs
FUZZ_SRCS_safetensors := import/st.c
FUZZ_LIBS_safetensors := $(IMPORT_LIB)
FUZZ_TARGETS          += tokenizer tok_encode
FUZZ_SRCS_tokenizer   := import/tok.c
FUZZ_LIBS_tokenizer   := $(IMPORT_LIB)
FUZZ_SRCS_tok_encode  := import/tok.c
FUZZ_LIBS_tok_encode  := $(IMPORT_LIB)
FUZZ_SRCS_onnx        := import/rt_import_onnx.c import/rt_pb.c runtime/ir/rt_ir.c
FUZZ_LIBS_onnx        := $(IMPORT_LIB) $(RT_LIB)
FUZZ_LDLIBS_onnx      := $(RT_LDLIBS)
FUZZ_SRCS_tfjs        := import/rt_import_tfjs.c runtime/ir/rt_ir.c
FUZZ_LIBS_tfjs        := $(IMPORT_LIB) $(RT_LIB)
FUZZ_LDLIBS_tfjs      := $(RT_LDLIBS)
