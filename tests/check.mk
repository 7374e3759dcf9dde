# Robustness checks (tests/check.mk), included by the main Makefile.
#   make check-asan     unit tests + bats process tests + one e2e cell, ASan+UBSan build (build-asan)
#   make check-ubsan    unit tests + bats process tests, UBSan build (build-ubsan)
#   make check-tsan     unit tests + bats + the fork/threads stress, TSan build (build-tsan)
#   make check-valgrind unit tests under valgrind memcheck (build-vg)
#   make check-static   one e2e cell on the older python-build-standalone layout (SQLite inside
#                       libpython3.11.so; tests/static/build-python.sh)
#   make coverage       line coverage of shim/ and tools/ (each >= 90 %) from the unit, bats and
#                       robust tests (build-cov)
#   make fuzz           libFuzzer targets (build-fuzz): FUZZ_TIME seconds each, FUZZ_RUNS max
#   make fuzz-replay    replay tests/fuzz/corpus-* with the sanitizer build
#   make check-slow     all of the above but fuzz, two at a time (CHECK_JOBS), the longest first;
#                       ends with `N passed, N failed`; the suite `slow`
#                       of make test (tests/run.sh), so CI runs it
# Each uses its own BUILD directory: build/libtestmon_shim.so is never touched.
FUZZ_CC    ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60
FUZZ_RUNS  ?= -1
FUZZ_ARGS  ?=
E2E_CELL   ?= 1
SAN_COMMON  = -O1 -g -fno-omit-frame-pointer
ASAN_CFLAGS  = $(SAN_COMMON) -fsanitize=address,undefined -fno-sanitize-recover=undefined
UBSAN_CFLAGS = $(SAN_COMMON) -fsanitize=undefined -fno-sanitize-recover=all
TSAN_CFLAGS  = $(SAN_COMMON) -fsanitize=thread
COV_CFLAGS   = -O1 -g --coverage
FUZZ_FLAGS   = $(SAN_COMMON) -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS = runfile journal prepare classify
FUZZ_OBJS    = $(SHIM_SRCS:shim/%.c=$(FUZZ_BUILD)/shim/%.o)
FUZZ_BINS    = $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
CHECKS       = MAKE='$(MAKE)' tests/robust/checks.sh

.PHONY: check-asan check-ubsan check-tsan check-valgrind coverage fuzz fuzz-build fuzz-replay \
	check-slow check-static

$(FUZZ_BUILD)/shim/%.o: shim/%.c $(wildcard shim/*.h) tests/check.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -fPIC $(CJSON_CFLAGS) \
		-DTESTMON_SHIM_VERSION='"$(VERSION)"' -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer $(CJSON_CFLAGS) -Ishim -o $@ $< \
		$(FUZZ_OBJS) -lsqlite3 $(CJSON_LIBS) -ldl -lpthread

.SECONDARY: $(FUZZ_OBJS)
fuzz-build: $(FUZZ_BINS)

# Fuzz each target for FUZZ_TIME seconds (new inputs go to $(FUZZ_BUILD)/corpus-*, crashers to
# tests/fuzz/corpus-*/); see tests/fuzz/README.md for the long runs.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus-$$t; \
		echo "== fuzz_$$t: $(FUZZ_TIME) s"; \
		$(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -runs=$(FUZZ_RUNS) -close_fd_mask=3 \
			-dict=tests/fuzz/fuzz_$$t.dict -artifact_prefix=tests/fuzz/corpus-$$t/crash- \
			$(FUZZ_ARGS) $(FUZZ_BUILD)/corpus-$$t tests/fuzz/corpus-$$t || exit 1; \
	done

fuzz-replay: fuzz-build
	@$(CHECKS) fuzz-replay

check-asan:
	@$(CHECKS) asan
check-ubsan:
	@$(CHECKS) ubsan
check-tsan:
	@$(CHECKS) tsan
check-valgrind:
	@$(CHECKS) valgrind
coverage:
	@$(CHECKS) coverage
check-static:
	@$(CHECKS) static
check-slow:
	@$(CHECKS) coverage asan valgrind tsan ubsan static fuzz-replay
