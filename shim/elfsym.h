/* elfsym.h: find functions in an ELF file's full symbol table (.symtab).
 *
 * An interpreter with SQLite linked in (python-build-standalone, as uv installs it) keeps
 * SQLite's functions only as local symbols: hidden from the dynamic linker (.dynsym, dlsym), but
 * listed in .symtab unless the file was stripped with --strip-all.  This reads .symtab from the
 * file on disk; nothing is loaded or resolved.  (.dynsym can be walked too: the hook's tests read
 * every function of a stripped library that way.) */
#ifndef SHIM_ELFSYM_H
#define SHIM_ELFSYM_H
#include <stddef.h>
#include <stdint.h>

enum {
    SHIM_ELFSYM_UNREADABLE = -1, /* cannot open or map the file, or it is not a native ELF */
    SHIM_ELFSYM_STRIPPED = -2,   /* no .symtab (stripped with --strip-all) */
};

struct shim_elfsym {
    uintptr_t value; /* st_value: add the object's load bias for the run-time address */
    size_t size;     /* st_size, 0 if unknown */
};

/* Look up the defined functions `names[0..n)` (STT_FUNC, any binding) in the .symtab of `path`.
 * out[i].value is 0 for a name not found.  Returns how many were found, or an enum above.  A
 * name defined twice at different addresses counts as not found (ambiguous). */
int shim_elfsym_lookup(const char *path, const char *const *names, int n,
                       struct shim_elfsym *out);

/* Call fn(arg, name, sym) for every defined function (STT_FUNC) of the .symtab of `path`, or of
 * its .dynsym when `dynamic` is set, in table order, until fn returns non-zero.  Returns 0, or an
 * enum above (STRIPPED: the file has no such table). */
typedef int (*shim_elfsym_fn)(void *arg, const char *name, const struct shim_elfsym *sym);
int shim_elfsym_each(const char *path, int dynamic, shim_elfsym_fn fn, void *arg);
#endif
