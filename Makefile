# vkvision: one non-recursive GNU make (see STYLE.md "Build").
# Each folder adds its own rules in <folder>/module.mk; this file holds the
# shared settings and the top-level targets.
#
#   make                 build everything quietly into build/
#   make test            install deps, fetch models and test data, run every suite
#   make run             start PostgreSQL, API, workers and nginx on 127.0.0.1:8080
#   make bench           run every benchmark under bench/
#   make SANITIZE=address,undefined test
#   make fuzz FUZZ_TIME=60

.DEFAULT_GOAL := all
SHELL := /bin/bash

CC       ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
OPT      ?= -O2
SANITIZE ?=
V        ?= 0
B        := build
Q        := $(if $(filter 1,$(V)),,@)

WARN   := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) -g $(WARN) \
               -I. -I$(B)/gen -MMD -MP -fPIC
LDLIBS_BASE := -lm -lpthread
ifneq ($(SANITIZE),)
CFLAGS_BASE += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS_BASE += -fsanitize=$(SANITIZE)
endif
# a build with other flags must not reuse objects: stamp the flags
FLAGS_ID := $(shell echo '$(CC) $(CFLAGS_BASE) $(SANITIZE)' | md5sum | cut -c1-8)
O := $(B)/obj-$(FLAGS_ID)
# binaries live beside their objects; build/bin points at the latest build
BIN := $(O)/bin

PKGS_CFLAGS = $(shell pkg-config --cflags $(1) 2>/dev/null)
PKGS_LIBS   = $(shell pkg-config --libs $(1) 2>/dev/null)

BINS :=
TEST_BINS :=
FUZZ_TARGETS :=
CLEAN_EXTRA :=

# generic compile rule: objects mirror the source tree under $(O)
$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(CFLAGS_$(firstword $(subst /, ,$<))) -c $< -o $@

# libraries first, in dependency order (a module.mk names the libraries it
# links in its rules, which make expands as it reads them), then the rest
MODULES_LIB := common runtime import tasks
include $(MODULES_LIB:%=%/module.mk)
include $(sort $(filter-out $(MODULES_LIB:%=%/module.mk),$(wildcard */module.mk)) \
               $(wildcard tests/*/module.mk))

.SECONDARY:
.PHONY: all deps test bench run fuzz clean format check-config models testdata
all: $(BINS) $(TEST_BINS)
	@ln -sfn $(notdir $(O))/bin $(B)/bin

deps:
	$(Q)bash scripts/install-deps.sh

models: deps
	$(Q)bash scripts/fetch-models.sh

testdata: deps
	$(Q)bash scripts/fetch-testdata.sh

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory models testdata
	$(Q)B=$(B) O=$(O) BIN=$(BIN) SANITIZE=$(SANITIZE) bash tests/run.sh $(SUITES)

bench: deps
	$(Q)$(MAKE) --no-print-directory all models testdata
	$(Q)B=$(B) BIN=$(BIN) bash bench/run.sh

run: deps
	$(Q)$(MAKE) --no-print-directory all models
	$(Q)B=$(B) BIN=$(BIN) bash scripts/run.sh

fuzz:
	$(Q)B=$(B) BIN=$(BIN) FUZZ_TIME=$(or $(FUZZ_TIME),60) bash tests/fuzz/run.sh fuzz

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(B) $(CLEAN_EXTRA)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
