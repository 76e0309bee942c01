# tests/fuzz: libFuzzer harnesses, one per parser (tests/fuzz/README.md).
#
# A target <name> is tests/fuzz/fuzz_<name>.c defining LLVMFuzzerTestOneInput.
# Any module.mk registers it (only listed targets are built, so a harness
# whose code does not build yet breaks nothing):
#
#   FUZZ_TARGETS       += <name>
#   FUZZ_SRCS_<name>   := runtime/ir/rt_pack.c  the code under test: compiled
#                                      again with clang + instrumentation
#   FUZZ_LIBS_<name>   := $(RT_LIB)    archives/objects for the replay link;
#                                      its archives (.a) also end the
#                                      libFuzzer link
#   FUZZ_LDLIBS_<name> := $(RT_LDLIBS) -l flags for both links
#
# $(COMMON_LIB) and $(COMMON_LDLIBS) are always linked.  Two binaries:
#   $(BIN)/fuzz_<name>_replay   $(CC) (+ SANITIZE), replays files/dirs;
#                               built by `make` (part of `all`)
#   $(FUZZ_BIN)/fuzz_<name>     clang -fsanitize=fuzzer,address,undefined;
#                               built by `make` when clang exists, and by
#                               `make fuzzers` (run.sh does it)

FUZZ_TARGETS += image durl
FUZZ_SRCS_image := common/img.c
FUZZ_SRCS_durl  := common/durl.c

FUZZ_CC     ?= clang
FUZZ_O      := $(B)/fuzz/obj
FUZZ_BIN    := $(B)/fuzz/bin
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g \
               $(WARN) -I. -I$(B)/gen -MMD -MP -fsanitize=fuzzer-no-link \
               $(FUZZ_SAN) -DVKV_FUZZING=1

# instrumented objects of a target: the harness and FUZZ_SRCS_<name>
fuzz_objs = $(patsubst %.c,$(FUZZ_O)/%.o,$(sort $(FUZZ_SRCS_$(1)) tests/fuzz/fuzz_$(1).c))
# libraries of the libFuzzer link: only archives (an archive member is pulled
# in only for a symbol the instrumented objects do not define)
fuzz_libs = $(filter %.a,$(FUZZ_LIBS_$(1))) $(COMMON_LIB)

# prerequisites name FUZZ_TARGETS and FUZZ_*_<name> lazily, so module.mk
# files included after this one (worker/) may still register targets
.SECONDEXPANSION:

# instrumented objects wait (order-only) for the normal libraries, whose
# rules generate the headers they may include ($(B)/gen/*.h) on a fresh tree
$(FUZZ_O)/%.o: %.c | fuzz-prereqs
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(CFLAGS_$(firstword $(subst /, ,$<))) -c $< -o $@

fuzz-prereqs: $$(COMMON_LIB) $$(foreach t,$$(fuzz_active),$$(FUZZ_LIBS_$$(t)))

$(FUZZ_BIN)/fuzz_%: $$(call fuzz_objs,$$*) $$(call fuzz_libs,$$*)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $(call fuzz_objs,$*) \
	    $(call fuzz_libs,$*) $(FUZZ_LDLIBS_$*) $(COMMON_LDLIBS) $(LDLIBS_BASE)

$(BIN)/fuzz_%_replay: $(O)/tests/fuzz/fuzz_%.o $(O)/tests/fuzz/replay.o \
                      $$(FUZZ_LIBS_$$*) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(FUZZ_LDLIBS_$*) $(COMMON_LDLIBS) $(LDLIBS_BASE)

# registered targets whose harness file exists (a module may register its
# target before committing the harness; that must not break `make`)
fuzz_active = $(foreach t,$(sort $(FUZZ_TARGETS)),$(if $(wildcard tests/fuzz/fuzz_$(t).c),$(t)))
fuzz_missing = $(filter-out $(fuzz_active),$(sort $(FUZZ_TARGETS)))

.PHONY: fuzz-replay fuzzers fuzz-list fuzz-missing fuzz-prereqs
all: fuzz-replay
# the libFuzzer binaries too when clang is there, so suite 15-fuzz spends
# its time fuzzing, not compiling (run.sh builds them itself otherwise)
ifneq ($(shell command -v $(FUZZ_CC) 2>/dev/null),)
all: fuzzers
endif
fuzz-replay: $$(foreach t,$$(fuzz_active),$$(BIN)/fuzz_$$(t)_replay)
fuzzers: $$(foreach t,$$(fuzz_active),$$(FUZZ_BIN)/fuzz_$$(t))
# prints the active targets, one per line (run.sh uses it)
fuzz-list:
	@printf '%s\n' $(fuzz_active)
# prints registered targets without a harness file yet
fuzz-missing:
	@printf '%s\n' $(fuzz_missing)

-include $(shell find $(FUZZ_O) -name '*.d' 2>/dev/null)
