# admin/: vkv-admin, the operator CLI (migrations, tenants, keys, tiers,
# retention).  Links libvkvcommon only.  admin/ sorts before common/, so
# the library is named by its path in the prerequisites ($(COMMON_LIB) is
# not defined yet when this file is read; recipes expand later).
ADMIN_OBJS := $(O)/admin/vkv_admin.o
CFLAGS_admin = $(CFLAGS_common)
BINS += $(BIN)/vkv-admin

$(BIN)/vkv-admin: $(ADMIN_OBJS) $(O)/libvkvcommon.a
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(LDLIBS_BASE)
