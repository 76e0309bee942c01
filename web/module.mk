# web/: the operator's dashboard, static files served by nginx under
# /dashboard/ (see web/README.md).  No build step beyond a copy: plain
# HTML, CSS and ES modules, no third-party code.
WEB_SRCS := $(sort $(shell find web/src -type f 2>/dev/null))
WEB_OUT  := $(WEB_SRCS:web/src/%=$(B)/web/%)

all: $(WEB_OUT)

$(B)/web/%: web/src/%
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  WEB     $<")
	$(Q)cp $< $@
