/* elf.h: a small reader of an ELF64 object's dynamic symbols and DT_NEEDED entries, enough to
 * tell whether an extension module calls SQLite through the dynamic linker (interposable) or
 * carries its own copy (not interposable). */
#ifndef TOOL_ELF_H
#define TOOL_ELF_H
#include <stddef.h>

enum tool_elf_sym { TOOL_ELF_ABSENT = 0, TOOL_ELF_UNDEFINED, TOOL_ELF_DEFINED };

struct tool_elf {
    const unsigned char *map;
    size_t size;
    const void *dynsym; size_t nsyms;      /* Elf64_Sym[] */
    const char *dynstr; size_t dynstr_size;
    const void *dynamic; size_t ndyn;      /* Elf64_Dyn[] */
    const char *dynamic_str; size_t dynamic_str_size;
};

/* Map path and locate its dynamic tables.  0, or -1 with a reason in why (not ELF, not ELF64
 * little-endian, truncated, no dynamic symbol table). */
int tool_elf_open(const char *path, struct tool_elf *e, char *why, size_t whysz);
void tool_elf_close(struct tool_elf *e);
/* Is name in the dynamic symbol table, and defined there or left to the dynamic linker? */
enum tool_elf_sym tool_elf_symbol(const struct tool_elf *e, const char *name);
/* The i-th DT_NEEDED entry, or NULL past the last. */
const char *tool_elf_needed(const struct tool_elf *e, size_t i);
#endif
