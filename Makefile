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

.PHONY: all test check e2e clean
all: $(BUILD)/libtestmon_shim.so

$(BUILD)/shim/%.o: shim/%.c $(wildcard shim/*.h) Makefile
	@mkdir -p $(@D)
	$(CC) $(SHIM_CFLAGS) -c -o $@ $<

$(BUILD)/libtestmon_shim.so: $(SHIM_OBJS) shim/libtestmon_shim.map
	$(CC) $(CFLAGS) -o $@ $(SHIM_OBJS) $(SHIM_LDFLAGS) $(CJSON_LIBS) -ldl -lpthread

clean:
	rm -rf $(BUILD)

include tests/e2e/e2e.mk
