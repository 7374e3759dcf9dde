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

/* The two slots through which an object may import one function.  Both may exist (an object
 * that calls a function and also takes its address): both are rewritten, or some calls would
 * still go the old way. */
struct shim_got_import {
    void **plt; /* JUMP_SLOT: the PLT's calls jump through it (bound lazily, or at load) */
    void **ptr; /* GLOB_DAT: read as the function's address, and by calls built with -fno-plt;
                 * always bound at load */
};

/* The slots through which the loaded object whose load bias is `bias` imports each function of
 * names[0..n-1] (matched by name, whatever its symbol version; a NULL name is skipped), read
 * from the object's dynamic section at `dynamic` (its PT_DYNAMIC, relocated): imports[i] has
 * NULL slots for a function it does not import.  Returns how many names have a slot, or -1 with
 * why set (relocations of a kind this architecture does not use). */
int shim_got_find(unsigned long bias, const void *dynamic, const char *const names[], int n,
                  struct shim_got_import imports[], char *why, size_t whysz);

/* The same for the loaded object that holds `addr`.  The object's first PT_DYNAMIC is used; -1
 * with why set if no object holds addr or it has no dynamic section. */
int shim_got_find_at(const void *addr, const char *const names[], int n,
                     struct shim_got_import imports[], char *why, size_t whysz);

/* Store values[i] into *slots[i] for every i whose slot is not NULL, each atomically, making a
 * read-only page writable for the store and restoring its protection after.  0, or -1 with a
 * one-line reason in why; the slots written before a failure keep their new value and are
 * counted in *written; at most SHIM_GOT_MAX (the caller decides whether to put them back). */
#define SHIM_GOT_MAX 128 /* slots written at once */
int shim_got_write(void **const slots[], void *const values[], int n, int *written, char *why,
                   size_t whysz);
#endif
