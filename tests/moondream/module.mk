# tests/moondream: unit tests of the Moondream API pieces that need no
# server: the CenterNet CPU decode + mask outline (tasks/rt_task_detect.c)
# and the object-name matching (fcgi/handlers/md_objects.c).  Run by
# tests/suites/60-moondream.sh; the node client test lives beside them.
MD_TEST_DECODE := $(BIN)/test_md_decode
MD_TEST_OBJECTS := $(BIN)/test_md_objects
TEST_BINS += $(MD_TEST_DECODE) $(MD_TEST_OBJECTS)

$(MD_TEST_DECODE): $(O)/tests/moondream/test_md_decode.o $(O)/tasks/rt_task_detect.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)

$(MD_TEST_OBJECTS): $(O)/tests/moondream/test_md_objects.o $(O)/fcgi/handlers/md_objects.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)

# decodes an image like the worker and writes a PPM for the tfjs reference
MD_PPM := $(BIN)/md_ppm
ifneq ($(wildcard common/img.c),)
TEST_BINS += $(MD_PPM)
endif
$(MD_PPM): $(O)/tests/moondream/md_ppm.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)
