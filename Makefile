# testmon-shim.  `make` only builds build/libtestmon_shim.so and build/testmon-shim (it needs a C
# compiler, the SQLite headers and cJSON: `make deps` installs them on Debian); `make test` runs
# what CI runs, `make check` its fast tier, `make demo` the demo: each installs what it needs first.
# Honoured: CC, CPPFLAGS, CFLAGS, LDFLAGS, BUILD.  WERROR=-Werror turns warnings into errors
# (make test and CI set it; a user's build does not).
CC      ?= cc
BUILD   ?= build
VERSION := $(shell cat VERSION)
CFLAGS  ?= -O2 -g
WERROR  ?=
WARN     = -std=c11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE
CJSON_CFLAGS := $(shell pkg-config --cflags libcjson 2>/dev/null || echo -I/usr/include/cjson)
CJSON_LIBS   := $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson)
SHIM_CFLAGS  = $(WARN) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
               $(CJSON_CFLAGS) -DTESTMON_SHIM_VERSION='"$(VERSION)"' -MMD -MP
# Never -lsqlite3: the real functions are found at run time from the caller's library.
SHIM_MAP     = $(BUILD)/libtestmon_shim.map
SHIM_LDFLAGS = -shared -Wl,--version-script=$(SHIM_MAP) -Wl,-z,defs
SHIM_SRCS := $(wildcard shim/*.c)
SHIM_OBJS := $(SHIM_SRCS:shim/%.c=$(BUILD)/shim/%.o)

# Objects are rebuilt when the compiler or its flags change (WERROR included), not only when a
# source or header does (-MMD).
FLAGS_STAMP = $(BUILD)/.flags
FLAGS_NOW  := $(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(VERSION)
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = '$(FLAGS_NOW)' ] || \
	printf '%s\n' '$(FLAGS_NOW)' > $(FLAGS_STAMP); })

.PHONY: all deps test check demo first-run e2e compat-table clean
all: $(BUILD)/libtestmon_shim.so $(BUILD)/testmon-shim

# The Debian packages that the goals asked for need and the machine lacks (scripts/install-deps.sh
# lists them per target; apt-get, sudo when not root; nothing when none is missing).  Run by
# `make deps` (the build's: compiler, make, pkg-config, SQLite and cJSON headers), `make test`,
# `make check`, `make demo`, `make first-run` and `make wheel` (through wheel-sources,
# tools/wheel.mk), each for its own target: `make wheel` installs no test tool.
DEPS_FOR = $(sort $(patsubst first-run,check demo,$(patsubst wheel-%,wheel,\
	$(filter test check demo first-run wheel wheel-%,$(MAKECMDGOALS)))))
deps:
	scripts/install-deps.sh $(or $(DEPS_FOR),build)

$(BUILD)/shim/%.o: shim/%.c Makefile $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(SHIM_CFLAGS) -c -o $@ $<

# The version script (through the preprocessor: its comments go, -P drops line markers).
$(SHIM_MAP): shim/libtestmon_shim.map.in
	@mkdir -p $(@D)
	$(CC) -E -P -x c -Ishim $< -o $@

$(BUILD)/libtestmon_shim.so: $(SHIM_OBJS) $(SHIM_MAP)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(SHIM_OBJS) $(SHIM_LDFLAGS) $(CJSON_LIBS) -ldl -lpthread

-include $(SHIM_OBJS:.o=.d)

# Everything CI runs, warnings as errors; the last line of output is `N passed, N failed`.
test: deps
	WERROR=-Werror tests/run.sh

# The fast tier, for the edit-compile-test loop (under 2 minutes on 2 cores): the unit tests, the
# bats tests four at a time, one e2e cell through a few steps; the same closing line.
check: deps
	WERROR=-Werror SUITES=unit,bats,e2e-quick BATS_JOBS=4 tests/run.sh

# A sample project that breaks under pytest -n 2 --testmon with testmon 2.1.3 and, with the wheel
# installed, runs the same tests as serial pytest --testmon (examples/demo.sh; builds the wheel
# when the sources changed since its last one).
demo: deps
	@BUILD='$(BUILD)' examples/demo.sh

# A new user's first minutes, as tests (tests/first-run; a suite of make test): README's quick
# start run as written in a fresh venv, then make demo, its counts, and a clean git status.
first-run: deps
	bats tests/first-run

# docs/compatibility.md's tables, from the last `make e2e` and `make e2e-real` (build/e2e-*results.json).
compat-table:
	scripts/compat-table.py

clean:
	rm -rf $(BUILD)

include tools/tools.mk
include tests/unit/unit.mk
include tests/e2e/e2e.mk
include tests/check.mk
include bench/bench.mk
include tools/wheel.mk
# the aarch64 suite; optional: the sdist (MANIFEST.in) carries only what `make native` needs
-include tests/aarch64/aarch64.mk
