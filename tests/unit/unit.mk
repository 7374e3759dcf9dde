# C unit tests of the shim's modules (tests/unit/).  Meant to be included by the main Makefile.
#   make unit                          build build/tests/unit/test_* and run them all
#   make unit BUILD=build-asan CFLAGS='-O1 -g -fsanitize=address,undefined'
#                                      the same against shim objects built another way
#   UNIT_CFLAGS / UNIT_LDFLAGS         extra flags for the test programs only
#   UNIT_RUN='valgrind -q'             a prefix for each test program
#   OBJCOPY                            the target's objcopy (a cross build: aarch64-linux-gnu-objcopy;
#                                      tests/aarch64/unit.sh)
# Each program links all of the shim's objects (they define no sqlite3_* symbol) and the real
# libsqlite3; test_real_dl deliberately links no libsqlite3.
UNIT_BUILD   ?= $(BUILD)/tests/unit
UNIT_CFLAGS  ?=
UNIT_LDFLAGS ?=
UNIT_RUN     ?=
OBJCOPY      ?= objcopy
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
# test_x86_ref checks the x86-64 decoder against the host's Zydis, on x86-64 builds only (a cross
# build for aarch64 has neither the library nor the decoder's use)
ifeq ($(findstring x86_64,$(shell $(CC) -dumpmachine)),)
UNIT_SRCS  := $(filter-out tests/unit/test_x86_ref.c,$(UNIT_SRCS))
endif
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(UNIT_BUILD)/%)
UNIT_OBJS   = $(SHIM_OBJS)
UNIT_LIBS   = -lsqlite3 $(CJSON_LIBS) -ldl -lpthread

.PHONY: unit
unit: $(UNIT_BINS)
	@sh tests/unit/run.sh '$(UNIT_RUN)' $(UNIT_BINS)

$(UNIT_BUILD)/test_real_dl: UNIT_LIBS = $(CJSON_LIBS) -ldl -lpthread
# test_session defines CPython's entry points itself; the shim finds them in the global scope
$(UNIT_BUILD)/test_session: UNIT_LDFLAGS += -rdynamic

# test_hook reads the .symtab of a shared library (SQLite inside libpython: older
# python-build-standalone) and of a copy stripped with --strip-all.
$(UNIT_BUILD)/libhidden.so: tests/unit/fixtures/hidden.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<
$(UNIT_BUILD)/libhidden-stripped.so: $(UNIT_BUILD)/libhidden.so
	$(OBJCOPY) --strip-all $< $@
$(UNIT_BUILD)/test_hook: $(UNIT_BUILD)/libhidden.so $(UNIT_BUILD)/libhidden-stripped.so
# test_x86_ref checks the hook's decoder against Zydis (libzydis-dev: install-deps.sh check); it
# fails, saying so, where the library is missing.  It reads the emulated static interpreter
# under the repository's .cache when it is built.
ZYDIS_H := $(wildcard /usr/include/Zydis/Zydis.h)
$(UNIT_BUILD)/test_x86_ref: UNIT_CFLAGS += -DREPO_DIR='"$(abspath .)"' $(if $(ZYDIS_H),,-DNO_ZYDIS)
$(UNIT_BUILD)/test_x86_ref: UNIT_LIBS += $(if $(ZYDIS_H),-lZydis)

# test_real_dl resolves from an SQLite that lacks what the shim needs
$(UNIT_BUILD)/liboldsqlite.so: tests/unit/fixtures/oldsqlite.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<
$(UNIT_BUILD)/test_real_dl: $(UNIT_BUILD)/liboldsqlite.so
$(UNIT_BUILD)/test_real_dl: UNIT_CFLAGS += -DUNIT_BUILD_DIR='"$(abspath $(UNIT_BUILD))"'
$(UNIT_BUILD)/test_hook: UNIT_CFLAGS += -DUNIT_BUILD_DIR='"$(abspath $(UNIT_BUILD))"'

# test_got and test_pymod rewrite the import slots of objects that call SQLite as _sqlite3 does
# (fixtures/gotlib.c): lazily bound with partial RELRO, and with -z now (every slot read-only);
# test_pymod's sqlite3 modules are named _sqlite3* as CPython's extension is.  (An absolute
# rpath: valgrind reports glibc's own over-read while it expands $ORIGIN.)
$(UNIT_BUILD)/libgot.so: tests/unit/fixtures/gotlib.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC -Wl,-z,lazy -o $@ $< $(UNIT_LIBS)
$(UNIT_BUILD)/libgot-now.so: tests/unit/fixtures/gotlib.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC -Wl,-z,relro,-z,now -o $@ $< $(UNIT_LIBS)
$(UNIT_BUILD)/_sqlite3_fixture.so: tests/unit/fixtures/gotlib.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DSQLITE3_MODULE -shared -fPIC -o $@ $< $(UNIT_LIBS)
$(UNIT_BUILD)/_sqlite3_hidden.so: tests/unit/fixtures/nomod.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<
$(UNIT_BUILD)/_sqlite3_other.so: tests/unit/fixtures/othermod.c $(UNIT_BUILD)/liboldsqlite.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $< -L$(UNIT_BUILD) -l:liboldsqlite.so \
		-Wl,-rpath,$(abspath $(UNIT_BUILD))
$(UNIT_BUILD)/test_got: $(UNIT_BUILD)/libgot.so $(UNIT_BUILD)/libgot-now.so
$(UNIT_BUILD)/test_got: UNIT_CFLAGS += -DUNIT_BUILD_DIR='"$(abspath $(UNIT_BUILD))"'
$(UNIT_BUILD)/test_pymod: $(UNIT_BUILD)/_sqlite3_fixture.so $(UNIT_BUILD)/_sqlite3_hidden.so \
	$(UNIT_BUILD)/_sqlite3_other.so
$(UNIT_BUILD)/test_pymod: UNIT_CFLAGS += -DUNIT_BUILD_DIR='"$(abspath $(UNIT_BUILD))"'
# test_pymod is a Python in the library's eyes (Py_Initialize, PyInit__sqlite3 exported)
$(UNIT_BUILD)/test_pymod: UNIT_LDFLAGS += -rdynamic

$(UNIT_BUILD)/%: tests/unit/%.c tests/unit/unit.h tests/unit/runfile.h tests/common/testdb.h $(UNIT_OBJS) $(wildcard shim/*.h) tests/unit/unit.mk
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(UNIT_CFLAGS) $(if $(findstring --coverage,$(CFLAGS)),-DUNIT_COVERAGE) \
		$(CJSON_CFLAGS) -Ishim -o $@ $< $(UNIT_OBJS) \
		$(UNIT_LDFLAGS) $(UNIT_LIBS)
