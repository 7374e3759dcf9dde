# testmon-shim.  `make` builds build/libtestmon_shim.so; `make test` runs what CI runs.
CC      ?= cc
BUILD   ?= build
VERSION  = 0.1.0
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE
CJSON_CFLAGS := $(shell pkg-config --cflags libcjson 2>/dev/null || echo -I/usr/include/cjson)
CJSON_LIBS   := $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson)
SHIM_CFLAGS  = $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
               $(CJSON_CFLAGS) -DTESTMON_SHIM_VERSION='"$(VERSION)"'
# Never -lsqlite3: the real functions are found at run time from the caller's library.
SHIM_LDFLAGS = -shared -Wl,--version-script=shim/libtestmon_shim.map -Wl,-z,defs
SHIM_SRCS := $(wildcard shim/*.c)
SHIM_OBJS := $(SHIM_SRCS:shim/%.c=$(BUILD)/shim/%.o)

.PHONY: all deps test check demo e2e compat-table clean
all: $(BUILD)/.deps $(BUILD)/libtestmon_shim.so $(BUILD)/testmon-shim

# Debian packages the build and the tests need (scripts/install-deps.sh), checked once per tree.
$(BUILD)/.deps: scripts/install-deps.sh
	@mkdir -p $(@D)
	@scripts/install-deps.sh
	@touch $@
deps:
	scripts/install-deps.sh

$(BUILD)/shim/%.o: shim/%.c $(wildcard shim/*.h) Makefile | $(BUILD)/.deps
	@mkdir -p $(@D)
	$(CC) $(SHIM_CFLAGS) -c -o $@ $<

$(BUILD)/libtestmon_shim.so: $(SHIM_OBJS) shim/libtestmon_shim.map
	$(CC) $(CFLAGS) -o $@ $(SHIM_OBJS) $(SHIM_LDFLAGS) $(CJSON_LIBS) -ldl -lpthread

# Everything CI runs; the last line of output is `N passed, N failed`.
test check: all
	tests/run.sh

# A sample project that breaks under pytest -n 2 --testmon with testmon 2.1.3, and passes with the shim.
demo: all
	examples/demo.sh

# README's compatibility table, from the last `make e2e` (build/e2e-results.json).
compat-table:
	scripts/compat-table.py

clean:
	rm -rf $(BUILD)

include tools/tools.mk
include tests/unit/unit.mk
include tests/e2e/e2e.mk
include tests/check.mk
include bench/bench.mk
