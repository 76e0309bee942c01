# bench/: benchmark programs (the scripts are bench/*.sh, run by make bench).
#   vkv-tf-bench   transformer kernels and the decoder on the device
#                  (bench/transformer.sh)
TF_BENCH := $(BIN)/vkv-tf-bench

$(O)/bench/tf_bench.o: $(B)/gen/rt_shaders.h

$(TF_BENCH): $(O)/bench/tf_bench.o $(RT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(RT_LDLIBS) $(LDLIBS_BASE)

BINS += $(TF_BENCH)
