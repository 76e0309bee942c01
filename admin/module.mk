# admin/: vkv-admin, the operator CLI (migrations, tenants, keys, tiers,
# retention, model install).  Links libvkvcommon, the safetensors and
# tokenizer readers of import/ (no Vulkan), vlm/md_rev.o (the Moondream 2
# revision rule the loader uses) and libcurl (model fetch).  admin/ sorts
# before common/, so libraries are named by their paths in the
# prerequisites ($(COMMON_LIB) is not defined yet when this file is read;
# recipes expand later).
ADMIN_OBJS := $(O)/admin/vkv_admin.o $(O)/admin/adm_model.o $(O)/admin/adm_hub.o \
              $(O)/vlm/md_rev.o $(O)/import/st.o $(O)/import/tok.o
CFLAGS_admin = $(CFLAGS_common) $(shell pkg-config --cflags libcurl)
BINS += $(BIN)/vkv-admin

# the Moondream 2 manifest template, embedded from its one source
$(B)/gen/md_manifest.h: vlm/moondream2.json
	@mkdir -p $(dir $@)
	$(Q){ echo 'static const char adm_md_manifest[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $<; echo ';'; } >$@
$(O)/admin/adm_model.o: $(B)/gen/md_manifest.h

$(BIN)/vkv-admin: $(ADMIN_OBJS) $(O)/libvkvcommon.a
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COMMON_LDLIBS) $(shell pkg-config --libs libcurl) $(LDLIBS_BASE)
