# common/: code shared by fcgi/, worker/ and the vkv CLI. Built as one
# static library; each program links only what it uses.
COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(O)/%.o)
COMMON_LIB  := $(O)/libvkvcommon.a
COMMON_PKGS := jansson libpq libsodium libjpeg libpng libwebp libexif
CFLAGS_common := $(call PKGS_CFLAGS,$(COMMON_PKGS))
COMMON_LDLIBS := $(call PKGS_LIBS,$(COMMON_PKGS))

$(COMMON_LIB): $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^
