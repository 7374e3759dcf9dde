/* elf.h: a small reader of an ELF64 object's dynamic symbols, DT_NEEDED entries and dynamic
 * relocations, enough to tell whether a sqlite3 extension module calls SQLite through import
 * slots (which the library rewrites: shim/pymod.h), wherever that SQLite lives, or directly. */
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
#define TOOL_ELF_MAX_RELA 8
    const void *rela[TOOL_ELF_MAX_RELA]; size_t rela_count[TOOL_ELF_MAX_RELA]; size_t nrela;
};

/* Map path and locate its dynamic tables.  0, or -1 with a reason in why (not ELF, not ELF64
 * little-endian, truncated, no dynamic symbol table). */
int tool_elf_open(const char *path, struct tool_elf *e, char *why, size_t whysz);
void tool_elf_close(struct tool_elf *e);
/* Is name in the dynamic symbol table, and defined there or left to the dynamic linker? */
enum tool_elf_sym tool_elf_symbol(const struct tool_elf *e, const char *name);
/* Does the object call name through an import slot (a JUMP_SLOT or GLOB_DAT relocation of
 * x86-64 or aarch64), as the dynamic linker fills it? */
int tool_elf_imports(const struct tool_elf *e, const char *name);
/* The i-th DT_NEEDED entry, or NULL past the last. */
const char *tool_elf_needed(const struct tool_elf *e, size_t i);
#endif
