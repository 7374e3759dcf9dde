# The Python package `testmon-shim` (pyproject.toml, setup.py, python/testmon_shim/).  Included by
# the Makefile after its own variables.
#   make wheel        dist/testmon_shim-$(VERSION).tar.gz (the sdist) and one manylinux wheel per
#                     architecture of WHEEL_ARCHS, built from that sdist with zig cc for glibc
#                     $(WHEEL_GLIBC) and checked with auditwheel (tools/wheel/build.py)
#   make wheel-test   the installed-wheel tests (tests/wheel/): fresh venvs with the x86_64 wheel,
#                     a testmon release and xdist, no LD_PRELOAD anywhere
#   make wheel-sources  third_party/ (cJSON's source and the two headers) from Debian's packages
#   make native BUILD=DIR  what setup.py runs: the library and the command, cJSON compiled in
#                     (hidden) from third_party/ (needs only a C compiler and make)
# The PyPI tools (build, setuptools, ziglang, auditwheel) live in a venv under .venvs/, pinned in
# tools/wheel/build.py.
WHEEL_PYTHON ?= python3
WHEEL_ARCHS  ?= x86_64 aarch64
WHEEL_GLIBC  ?= 2.17
WHEEL_TEST_ARGS ?=
THIRD_PARTY  ?= third_party

.PHONY: wheel wheel-test wheel-sources native

wheel-sources: deps
	tools/wheel/sources.sh $(BUILD)

wheel: wheel-sources
	WHEEL_ARCHS='$(WHEEL_ARCHS)' WHEEL_GLIBC='$(WHEEL_GLIBC)' BUILD='$(BUILD)' \
		$(WHEEL_PYTHON) tools/wheel/build.py

wheel-test: wheel
	BUILD='$(BUILD)' $(WHEEL_PYTHON) tests/wheel/run.py $(WHEEL_TEST_ARGS)

# cJSON as the package ships it: inside the library and the command, its symbols hidden.
$(BUILD)/cjson.o: $(THIRD_PARTY)/cjson/cJSON.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=c99 -fPIC -fvisibility=hidden -I$(THIRD_PARTY)/include -c -o $@ $<

native: $(BUILD)/cjson.o
	@test -f $(THIRD_PARTY)/include/sqlite3.h || { echo "native: $(THIRD_PARTY)/include/sqlite3.h is missing: run make wheel-sources (or build from the sdist)" >&2; exit 1; }
	$(MAKE) --no-print-directory BUILD='$(BUILD)' CJSON_CFLAGS='-I$(THIRD_PARTY)/include' \
		CJSON_LIBS='$(BUILD)/cjson.o' '$(BUILD)/libtestmon_shim.so' '$(BUILD)/testmon-shim'
