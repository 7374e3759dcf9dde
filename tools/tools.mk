# The testmon-shim command (tools/), its man page, and install/uninstall.  Included by the
# Makefile after its own variables (CC, BUILD, VERSION, WARN, CFLAGS, CJSON_*):
#   make $(BUILD)/testmon-shim      the command, next to the library in $(BUILD)
#   make install PREFIX=/usr/local DESTDIR=
#                                    $(PREFIX)/lib/libtestmon_shim.so, $(PREFIX)/bin/testmon-shim,
#                                    $(PREFIX)/share/man/man1/testmon-shim.1 (the command finds
#                                    the library at <bindir>/../lib)
#   make uninstall PREFIX=... DESTDIR=...
PREFIX  ?= /usr/local
DESTDIR ?=
TOOL_BINDIR  = $(PREFIX)/bin
TOOL_LIBDIR  = $(PREFIX)/lib
TOOL_MANDIR  = $(PREFIX)/share/man/man1
TOOL_SRCS   := $(wildcard tools/*.c)
TOOL_OBJS   := $(TOOL_SRCS:tools/%.c=$(BUILD)/tools/%.o)
TOOL_CFLAGS  = $(WARN) $(CPPFLAGS) $(CFLAGS) $(CJSON_CFLAGS) \
               -DTESTMON_SHIM_VERSION='"$(VERSION)"' -MMD -MP

$(BUILD)/tools/%.o: tools/%.c tools/tools.mk $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(TOOL_CFLAGS) -c -o $@ $<

-include $(TOOL_OBJS:.o=.d)

# shim/safefile.c: the library's own reader of coordination files, so both refuse alike;
# shim/elfsym.c: its reader of symbol tables, so doctor judges an interpreter as the library will;
# shim/envvars.c: the grammar of its settings, so doctor warns about exactly what it would ignore;
# shim/runid.c and pidstat.c: its names of a run's files and its judgement of a run's controller,
# so status and clean read and keep what the library would.
TOOL_SHIM_OBJS = $(BUILD)/shim/safefile.o $(BUILD)/shim/elfsym.o $(BUILD)/shim/envvars.o \
                 $(BUILD)/shim/runid.o $(BUILD)/shim/pidstat.o
$(BUILD)/testmon-shim: $(TOOL_OBJS) $(TOOL_SHIM_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(TOOL_OBJS) $(TOOL_SHIM_OBJS) $(CJSON_LIBS)

# Unit tests of the command's pure functions: tests/unit/test_tool_*.c link the command's
# objects (not the shim's).  The shorter stem makes this rule win over unit.mk's.
UNIT_BUILD ?= $(BUILD)/tests/unit
TOOL_UNIT_OBJS = $(addprefix $(BUILD)/tools/,elf.o libpath.o runfiles.o spawn.o) \
                 $(TOOL_SHIM_OBJS)
$(UNIT_BUILD)/test_tool_%: tests/unit/test_tool_%.c tests/unit/unit.h $(TOOL_UNIT_OBJS) \
		$(wildcard tools/*.h) tools/tools.mk
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(CJSON_CFLAGS) -Itools -Ishim -o $@ $< $(TOOL_UNIT_OBJS) \
		-lsqlite3 $(CJSON_LIBS)

.PHONY: tools install uninstall
tools: $(BUILD)/testmon-shim

install: $(BUILD)/libtestmon_shim.so $(BUILD)/testmon-shim tools/testmon-shim.1
	install -d '$(DESTDIR)$(TOOL_LIBDIR)' '$(DESTDIR)$(TOOL_BINDIR)' '$(DESTDIR)$(TOOL_MANDIR)'
	install -m 0644 $(BUILD)/libtestmon_shim.so '$(DESTDIR)$(TOOL_LIBDIR)/libtestmon_shim.so'
	install -m 0755 $(BUILD)/testmon-shim '$(DESTDIR)$(TOOL_BINDIR)/testmon-shim'
	install -m 0644 tools/testmon-shim.1 '$(DESTDIR)$(TOOL_MANDIR)/testmon-shim.1'

uninstall:
	rm -f '$(DESTDIR)$(TOOL_LIBDIR)/libtestmon_shim.so' '$(DESTDIR)$(TOOL_BINDIR)/testmon-shim' \
	      '$(DESTDIR)$(TOOL_MANDIR)/testmon-shim.1'
