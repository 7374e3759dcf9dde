# End-to-end compatibility suite (tests/e2e/).  Included by the main Makefile.
#   make e2e                      whole matrix, xdist runs with the shim preloaded
#   make e2e TESTMON=2.1.3        one release (comma-separated list allowed)
#   make e2e PYTHON=3.8           one interpreter (X.Y, or a path to an interpreter)
#   make e2e SHIM=off             negative control: xdist without the shim
#   make e2e-off                  the negative control of 2.0.2-2.1.4, first nine steps, each cell
#                                 must show the upstream bug where pinned, documented upstream
#                                 races tolerated elsewhere (make test runs it)
#   make e2e-static-off           the same, narrowed to the static-3.11 cells
#   make e2e JOBS=1 STEPS=fresh,rerun E2E_VERBOSE=1
#   make e2e LAUNCHERS=only       only the launcher cells (pytest.main() from a script,
#                                 _jb_pytest_runner.py, python -c; launchers.json); none: without them
#   make e2e COMPANIONS=only      only the companion cells (a wheel's own SQLite in every test
#                                 process, pysqlite3 as sqlite3; companions.json); none: without them
#   make e2e SHIM_PRELOAD_FIRST=LIB[:LIB]   preloaded before the shim in the xdist runs: a
#                                 sanitized shim's runtime must come first in LD_PRELOAD (make
#                                 check-asan's e2e cell; run.py --preload-first)
#   make e2e-selftest             unit tests of the oracle (no venvs, no network)
#   make e2e-real                 real projects' releases (real.json) under every testmon release,
#                                 serial against -n 2 with the shim, on Python 3.11 (real.py)
#   make e2e-real TESTMON=2.1.3 PROJECTS=toolz JOBS=1 E2E_VERBOSE=1   narrower
#   make e2e-real SHIM=off        negative control: what upstream does on real projects
#   make e2e-real PROJECTS=six    the held-out project (PROJECTS=all: every project of real.json)
E2E_PYTHON ?= python3
TESTMON    ?=
PYTHON     ?=
SHIM       ?= on
JOBS       ?=
STEPS      ?=
LAUNCHERS  ?=
COMPANIONS ?=
E2E_ARGS   ?=
SHIM_PRELOAD_FIRST ?=
PROJECTS   ?=
NOISE      ?=

E2E_RUN = TESTMON='$(TESTMON)' PYTHON='$(PYTHON)' SHIM='$(SHIM)' JOBS='$(JOBS)' STEPS='$(STEPS)' \
	LAUNCHERS='$(LAUNCHERS)' COMPANIONS='$(COMPANIONS)' \
	BUILD='$(BUILD)' SHIM_PRELOAD_FIRST='$(SHIM_PRELOAD_FIRST)' \
	$(E2E_PYTHON) tests/e2e/run.py $(E2E_ARGS)

E2E_REAL_RUN = TESTMON='$(TESTMON)' PROJECTS='$(PROJECTS)' SHIM='$(SHIM)' JOBS='$(JOBS)' \
	NOISE='$(NOISE)' BUILD='$(BUILD)' SHIM_PRELOAD_FIRST='$(SHIM_PRELOAD_FIRST)' \
	$(E2E_PYTHON) tests/e2e/real.py $(E2E_ARGS)

.PHONY: e2e e2e-selftest e2e-noshim e2e-real

ifeq ($(SHIM),off)
e2e: e2e-selftest
	$(E2E_RUN)
else
e2e: e2e-selftest $(BUILD)/libtestmon_shim.so
	SHIM_LIB='$(abspath $(BUILD)/libtestmon_shim.so)' $(E2E_RUN)
endif

ifeq ($(SHIM),off)
e2e-real: e2e-selftest
	$(E2E_REAL_RUN)
else
e2e-real: e2e-selftest $(BUILD)/libtestmon_shim.so
	SHIM_LIB='$(abspath $(BUILD)/libtestmon_shim.so)' $(E2E_REAL_RUN)
endif

e2e-noshim:
	$(MAKE) e2e SHIM=off

# The negative control of the whole matrix (make test and CI run it): without the shim, every
# cell of the releases whose upstream bug shows in the matrix's first nine steps (2.0.2 to
# 2.1.4, every interpreter of each, the emulated python-build-standalone one included) must show
# it where pins.json records it (--expect-bug; any of its faces: oracle.cell_verdict), and every
# other step must agree or show exactly the face of one of the release's documented upstream
# races (pins.json upstream_races: 2.0.2, 2.0.13 and 2.1.0-2.1.4 may lose the late worker's
# selection race at any step, fresh included), which is reported and not counted as a failure.  The
# steps are the first nine, so the state each step starts from is the full run's: 2.0.15 fails
# from the fresh database on, 2.0.2-2.1.3 after a dependency is added, 2.1.4 after one is
# downgraded or removed.  (1.3.7's and 1.4.5's failures there are races, 2.2.0's only one is at
# -k, where the shim does not change upstream; the later steps' failures are shown by
# `make e2e SHIM=off`.)  TESTMON= and PYTHON= narrow it.  Results in $(BUILD)/e2e-off/.
E2E_OFF_STEPS = rerun,edit_body,edit_test,dep_add_late,dep_add_early,dep_upgrade,dep_downgrade,dep_remove
E2E_OFF_RELEASES = 2.0.2,2.0.13,2.0.15,2.1.0,2.1.1,2.1.3,2.1.4
e2e-off: e2e-selftest
	$(E2E_PYTHON) tests/e2e/run.py --shim off --launchers none --companions none \
		--testmon '$(or $(TESTMON),$(E2E_OFF_RELEASES))' $(if $(PYTHON),--python '$(PYTHON)') \
		--steps $(E2E_OFF_STEPS) --expect-bug --build '$(abspath $(BUILD))/e2e-off'
# the static-3.11 cells only
e2e-static-off:
	$(MAKE) e2e-off PYTHON=static-3.11 TESTMON=2.0.15,2.1.3,2.1.4
.PHONY: e2e-off e2e-static-off

e2e-selftest:
	$(E2E_PYTHON) -m unittest discover -s tests/e2e -p 'test_*.py' -t tests/e2e
