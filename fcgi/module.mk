# fcgi/: vkv-api, the FastCGI server behind nginx (see fcgi/README.md).
# API_PARSE_OBJS are the FCGX-free request parser and response writer, also
# linked into the fuzz harness tests/fuzz/fuzz_request.c.
API_SRCS := $(wildcard fcgi/*.c) $(wildcard fcgi/handlers/*.c)
API_OBJS := $(API_SRCS:%.c=$(O)/%.o)
API_PARSE_OBJS := $(O)/fcgi/api_req.o $(O)/fcgi/api_resp.o $(O)/fcgi/api_route.o
CFLAGS_fcgi := $(call PKGS_CFLAGS,jansson libpq)
API_LDLIBS := -lfcgi $(COMMON_LDLIBS)

# the one manifest reader (tasks/rt_manifest.c: JSON and files only, no runtime)
API_OBJS += $(O)/tasks/rt_manifest.o

BINS += $(BIN)/vkv-api

$(BIN)/vkv-api: $(API_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $(API_OBJS) $(COMMON_LIB) $(API_LDLIBS) $(LDLIBS_BASE)

# libFuzzer harness of the request parser (tests/fuzz/README.md)
FUZZ_TARGETS += request
FUZZ_LIBS_request := $(API_PARSE_OBJS)
FUZZ_SRCS_request := fcgi/api_req.c fcgi/api_resp.c fcgi/api_route.c
FUZZ_LDLIBS_request :=
# the JSON body parser against plain jansson
FUZZ_TARGETS += json
FUZZ_LIBS_json := $(API_PARSE_OBJS)
FUZZ_SRCS_json := fcgi/api_req.c
FUZZ_LDLIBS_json :=

# the dashboard's handlers run named statements of schema/queries/dash.sql
$(O)/fcgi/handlers/h_dash.o: $(B)/gen/sql_queries.h
$(O)/fcgi/api_job.o: $(B)/gen/sql_queries.h
