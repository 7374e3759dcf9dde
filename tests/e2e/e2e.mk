# End-to-end compatibility suite (tests/e2e/).  Included by the main Makefile.
#   make e2e                      whole matrix, xdist runs with the shim preloaded
#   make e2e TESTMON=2.1.3        one release (comma-separated list allowed)
#   make e2e PYTHON=3.8           one interpreter (X.Y, or a path to an interpreter)
#   make e2e SHIM=off             negative control: xdist without the shim
#   make e2e JOBS=1 STEPS=fresh,rerun E2E_VERBOSE=1
#   make e2e SHIM_PRELOAD_FIRST=LIB[:LIB]   preloaded before the shim in the xdist runs: a
#                                 sanitized shim's runtime must come first in LD_PRELOAD (make
#                                 check-asan's e2e cell; run.py --preload-first)
#   make e2e-selftest             unit tests of the oracle (no venvs, no network)
E2E_PYTHON ?= python3
TESTMON    ?=
PYTHON     ?=
SHIM       ?= on
JOBS       ?=
STEPS      ?=
E2E_ARGS   ?=
SHIM_PRELOAD_FIRST ?=

E2E_RUN = TESTMON='$(TESTMON)' PYTHON='$(PYTHON)' SHIM='$(SHIM)' JOBS='$(JOBS)' STEPS='$(STEPS)' \
	BUILD='$(BUILD)' SHIM_PRELOAD_FIRST='$(SHIM_PRELOAD_FIRST)' \
	$(E2E_PYTHON) tests/e2e/run.py $(E2E_ARGS)

.PHONY: e2e e2e-selftest e2e-noshim

ifeq ($(SHIM),off)
e2e: e2e-selftest
	$(E2E_RUN)
else
e2e: e2e-selftest $(BUILD)/libtestmon_shim.so
	SHIM_LIB='$(abspath $(BUILD)/libtestmon_shim.so)' $(E2E_RUN)
endif

e2e-noshim:
	$(MAKE) e2e SHIM=off

e2e-selftest:
	$(E2E_PYTHON) -m unittest discover -s tests/e2e -p 'test_*.py' -t tests/e2e
