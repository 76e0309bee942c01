# schema/: the SQL of the queue.  schema/gen_sql.sh embeds every named
# statement of schema/queries/*.sql and every migration file into
# $(B)/gen/sql_queries.{c,h} (STYLE.md 19); the object joins libvkvcommon.
SQL_SRCS  := $(sort $(wildcard schema/queries/*.sql schema/migrations/*.sql))
SQL_GEN_C := $(B)/gen/sql_queries.c
SQL_GEN_H := $(B)/gen/sql_queries.h
SQL_GEN_O := $(O)/gen/sql_queries.o
SQL_STAMP := $(B)/gen/sql_queries.stamp

# the script rewrites an output only when it changed, so the empty recipe
# below makes make look at the real timestamps afterwards
$(SQL_STAMP): schema/gen_sql.sh $(SQL_SRCS)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  GEN     sql_queries")
	$(Q)bash schema/gen_sql.sh $(abspath $(B)/gen) && touch $@
$(SQL_GEN_C) $(SQL_GEN_H): $(SQL_STAMP) ;

$(SQL_GEN_O): $(SQL_GEN_C) $(SQL_GEN_H)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_BASE) -c $< -o $@

$(COMMON_LIB): $(SQL_GEN_O)
# order-only for every common/ object: a new file that includes the
# generated header has no .d file yet on its first build (-j2 raced)
$(patsubst %.c,$(O)/%.o,$(wildcard common/*.c)): | $(SQL_GEN_H)

.PHONY: gen
gen: $(SQL_GEN_C) $(SQL_GEN_H)
