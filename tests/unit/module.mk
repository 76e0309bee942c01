# tests/unit: one binary per common module, test_<module>.c, linked with
# libvkvcommon only (no network, GPU or database).
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BIN)/%)
CFLAGS_tests := $(call PKGS_CFLAGS,$(COMMON_PKGS))
TEST_BINS += $(UNIT_BINS)

$(BIN)/test_%: $(O)/tests/unit/test_%.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(call PKGS_LIBS,zlib) $(LDLIBS_BASE)
