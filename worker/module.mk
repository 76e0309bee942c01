# worker/: vkv-worker, one process per Vulkan device (worker/README.md).
# WK_CORE is the part that needs neither PostgreSQL nor Vulkan (residency
# and the batch runner); tests/integration/worker_unit.c links only it.
WK_CORE_SRCS := worker/wk_res.c worker/wk_batch.c worker/wk_analyze.c
WK_CORE_OBJS := $(WK_CORE_SRCS:%.c=$(O)/%.o)
CFLAGS_worker := $(call PKGS_CFLAGS,jansson libpq vulkan)
$(O)/worker/wk_eng_md.o: $(B)/gen/rt_shaders.h

TEST_BINS += $(BIN)/wk_unit
$(BIN)/wk_unit: $(O)/tests/integration/worker_unit.o $(WK_CORE_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)

# the Vulkan engine runs models through the task layer (tasks/)
WK_ENG_SRC := worker/wk_eng_rt.c worker/wk_eng_md.c worker/wk_eng_up.c
WK_ENG_LIBS := $(VLM_LIB) $(TASK_LIB) $(IMPORT_LIB) $(RT_LIB)
WK_ENG_LDLIBS := $(RT_LDLIBS)
WK_SRCS := worker/wk_main.c worker/wk_eng_test.c $(WK_ENG_SRC)
WK_OBJS := $(WK_SRCS:%.c=$(O)/%.o) $(WK_CORE_OBJS)

BINS += $(BIN)/vkv-worker

$(BIN)/vkv-worker: $(WK_OBJS) $(WK_ENG_LIBS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $(WK_OBJS) $(WK_ENG_LIBS) $(COMMON_LIB) $(WK_ENG_LDLIBS) $(COMMON_LDLIBS) $(LDLIBS_BASE)
