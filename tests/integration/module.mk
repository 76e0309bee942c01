# tests/integration: helper programs of the API suite (tests/suites/40-api.sh).
#   api_fcgi_call    raw FastCGI client (vkv-api without nginx)
#   api_test_worker  claims/completes jobs through the jq_ client
#   api_jget         prints one field of a JSON file
TEST_BINS += $(BIN)/api_fcgi_call $(BIN)/api_jget

$(BIN)/api_jget: $(O)/tests/integration/jget.o
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(call PKGS_LIBS,jansson) $(LDLIBS_BASE)

$(BIN)/api_fcgi_call: $(O)/tests/integration/fcgi_call.o
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(LDLIBS_BASE)

TEST_BINS += $(BIN)/api_test_worker

$(BIN)/api_test_worker: $(O)/tests/integration/api_worker.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)
