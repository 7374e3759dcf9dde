/* object.h: which loaded object (the program or a shared library) holds an address.
 *
 * Found with dl_iterate_phdr, not dladdr: dladdr also looks for the nearest symbol, a scan of the
 * object's whole symbol table (1.8 M instructions in a Python process). */
#ifndef SHIM_OBJECT_H
#define SHIM_OBJECT_H
#include <limits.h>
#include <stdint.h>

struct shim_object {
    uintptr_t bias;      /* load bias: a symbol's run-time address is bias + st_value */
    uintptr_t lo, hi;    /* the span of its PT_LOAD segments */
    char name[PATH_MAX]; /* as the dynamic linker names it; "" for the main program */
};

/* 1 and *o filled if a loaded object holds addr, else 0. */
int shim_object_of(const void *addr, struct shim_object *o);
/* The file the object was loaded from, for reading it ("/proc/self/exe" for the program). */
const char *shim_object_path(const struct shim_object *o);
#endif
