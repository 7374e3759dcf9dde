/* got.h: one loaded object's import slots, found and rewritten (the plthook way).
 *
 * An object that calls a function of another object does so through a slot of its own global
 * offset table that the dynamic linker filled: a PLT call jumps through a JUMP_SLOT, a call built
 * with -fno-plt (or a function pointer taken) loads a GLOB_DAT.  Rewriting that slot redirects
 * that object's calls, and only its own: every other object in the process, a second SQLite
 * bundled in a wheel included, keeps calling what it called before.
 *
 * Each slot is one aligned pointer, so a store is atomic on every ELF architecture: a thread that
 * calls through the slot while it is written gets either the old or the new function, never half
 * of one.  Slots under RELRO (always for GLOB_DAT; for JUMP_SLOT too with -z now) are read-only
 * after relocation: their page is made writable for the store and given back exactly the
 * protection /proc/self/maps showed before. */
#ifndef SHIM_GOT_H
#define SHIM_GOT_H
#include <stddef.h>

/* The slots through which the loaded object whose load bias is `bias` calls each function of
 * names[0..n-1] (matched by name, whatever its symbol version), read from the object's dynamic
 * section at `dynamic` (its PT_DYNAMIC, relocated): slots[i] is NULL for a function it does not
 * import.  A function imported through both a JUMP_SLOT and a GLOB_DAT gets the GLOB_DAT (the
 * one a function pointer would read; calls through the PLT are the other).  Returns how many
 * were found, or -1 with why set (relocations of a kind this architecture does not use). */
int shim_got_find(unsigned long bias, const void *dynamic, const char *const names[], int n,
                  void **slots[], char *why, size_t whysz);

/* Find the slots of names[] in the loaded object that holds `addr` (object.h), as above.
 * The object's first PT_DYNAMIC is used; -1 with why set if it has none. */
int shim_got_find_at(const void *addr, const char *const names[], int n, void **slots[],
                     char *why, size_t whysz);

/* Store values[i] into *slots[i] for every i whose slot is not NULL, each atomically, making a
 * read-only page writable for the store and restoring its protection after.  0, or -1 with a
 * one-line reason in why; the slots written before a failure keep their new value and are
 * counted in *written; at most SHIM_GOT_MAX (the caller decides whether to put them back). */
#define SHIM_GOT_MAX 64 /* slots written at once */
int shim_got_write(void **const slots[], void *const values[], int n, int *written, char *why,
                   size_t whysz);
#endif
