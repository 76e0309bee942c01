# tests/sql: the queue's semantics against a real PostgreSQL, through the
# jq_ client (suite 20-sql; the cluster comes from tests/lib/pg_tmp.sh).
SQLTEST_BINS := $(BIN)/sqltest_queue
TEST_BINS += $(SQLTEST_BINS)

$(BIN)/sqltest_queue: $(O)/tests/sql/test_queue.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)

# the queue benchmark driver (bench/queue.sh)
TEST_BINS += $(BIN)/bench_queue
$(BIN)/bench_queue: $(O)/tests/sql/bench_queue.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)
