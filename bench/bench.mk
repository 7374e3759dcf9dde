# Benchmarks (bench/README.md).  Included by the main Makefile; not part of `make test`.
#   make bench                        the full run (about 20 min): one table, build/bench.json, build/bench.png
#   make bench BENCH_ARGS=--quick     small suite, few rounds (development)
#   make bench BENCH_LIB=/abs/libtestmon_shim.so   benchmark another copy of the library
#   make bench-readme                 copy the last table and chart into docs/performance.md / bench/bench.png
BENCH_PYTHON ?= python3
BENCH_LIB    ?= $(BUILD)/libtestmon_shim.so
BENCH_ARGS   ?=

.PHONY: bench bench-deps bench-readme

$(BUILD)/bench/micro: bench/micro.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -Werror -o $@ $< -lsqlite3 -ldl
# the same program as a sqlite3 module (PyInit__sqlite3 exported), named as a pytest process for -t
$(BUILD)/bench/pytest-micro-module: bench/micro.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -Werror -DSQLITE3_MODULE -rdynamic -o $@ $< -lsqlite3 -ldl

# valgrind (callgrind instruction counts) is the benchmarks' only extra Debian package.
bench-deps:
	@command -v valgrind >/dev/null || { apt-get update -q && apt-get install -y -q valgrind; } \
	    || echo "bench: valgrind missing; the instruction counts will be skipped" >&2

bench: bench-deps $(BENCH_LIB) $(BUILD)/bench/micro $(BUILD)/bench/pytest-micro-module
	$(BENCH_PYTHON) bench/run.py --lib '$(abspath $(BENCH_LIB))' --micro '$(abspath $(BUILD)/bench/micro)' \
		--out '$(abspath $(BUILD))' $(BENCH_ARGS)

bench-readme:
	$(BENCH_PYTHON) bench/readme.py '$(BUILD)/bench.md' '$(BUILD)/bench.png'
