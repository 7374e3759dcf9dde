/* maps.h: the protection of mapped pages, as /proc/self/maps shows it.
 *
 * To write where the loader left a page read-only (an import slot under RELRO, got.h; an entry
 * point's code, hook.h), the shim makes the page writable for the write and then gives it back
 * the protection it had.  That protection is read here, not assumed: a page of code is not
 * always r-x (an object with text relocations, a JIT's rwx page), and an import slot's page is
 * r-- or rw- depending on how the object was linked. */
#ifndef SHIM_MAPS_H
#define SHIM_MAPS_H
#include <stdint.h>

/* prot[i]: the PROT_READ/WRITE/EXEC bits of the mapping that holds addrs[i], or -1 where none
 * does or /proc/self/maps cannot be read.  One pass over the file for all n addresses. */
void shim_maps_prot(const uintptr_t addrs[], int n, int prot[]);
#endif
