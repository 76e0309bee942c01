# tasks/: model tasks (rt_task_*): manifest reading, model loading through
# the importers, pre- and post-processing per task (classify, detect,
# segment, ...) and the result JSON.  Built as one static library; sources
# are found by wildcard.  See tasks/README.md.
#
# Consumers link:  $(TASK_LIB) $(IMPORT_LIB) $(RT_LIB) $(COMMON_LIB) $(RT_LDLIBS)
TASK_SRCS := $(wildcard tasks/*.c)
TASK_OBJS := $(TASK_SRCS:%.c=$(O)/%.o)
TASK_LIB  := $(O)/libvkvtasks.a
CFLAGS_tasks := $(call PKGS_CFLAGS,$(COMMON_PKGS))

$(TASK_LIB): $(TASK_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

# the OCR character list parser (tests/fuzz/fuzz_ocr_keys.c)
FUZZ_TARGETS         += ocr_keys
FUZZ_SRCS_ocr_keys   := tasks/rt_task_ocr.c
FUZZ_LIBS_ocr_keys   := $(TASK_LIB) $(IMPORT_LIB) $(RT_LIB)
FUZZ_LDLIBS_ocr_keys := $(RT_LDLIBS)

# libFuzzer target of the tagger's tag table (tests/fuzz/README.md)
FUZZ_TARGETS   += tags
FUZZ_SRCS_tags := tasks/rt_tags.c
FUZZ_LIBS_tags := $(TASK_LIB)
