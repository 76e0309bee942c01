# tests/integration: helper programs of the API suite (tests/suites/40-api.sh).
#   api_fcgi_call    raw FastCGI client (vkv-api without nginx)
#   api_test_worker  claims/completes jobs through the jq_ client
TEST_BINS += $(BIN)/api_fcgi_call

$(BIN)/api_fcgi_call: $(O)/tests/integration/fcgi_call.o
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(LDLIBS_BASE)

ifeq ($(words $(wildcard common/jq.c common/pgx.c)),2)
TEST_BINS += $(BIN)/api_test_worker
endif

$(BIN)/api_test_worker: $(O)/tests/integration/api_worker.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)
