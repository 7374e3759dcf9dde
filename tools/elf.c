/* elf.c: bounds-checked reading of .dynsym/.dynstr, .dynamic and the dynamic relocations from an
 * ELF64 file. */
#include "elf.h"
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int in_file(const struct tool_elf *e, unsigned long long off, unsigned long long len)
{
    return off <= e->size && len <= e->size - off;
}

int tool_elf_open(const char *path, struct tool_elf *e, char *why, size_t whysz)
{
    memset(e, 0, sizeof *e);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whysz, "%s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        snprintf(why, whysz, "not an ELF file");
        close(fd);
        return -1;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        snprintf(why, whysz, "cannot map: %s", strerror(errno));
        return -1;
    }
    e->map = m;
    e->size = (size_t)st.st_size;
    const Elf64_Ehdr *eh = m;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
        snprintf(why, whysz, "not an ELF file");
        goto fail;
    }
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB) {
        snprintf(why, whysz, "not a little-endian ELF64 object (this check reads only those)");
        goto fail;
    }
    if (eh->e_shentsize != sizeof(Elf64_Shdr) ||
        !in_file(e, eh->e_shoff, (unsigned long long)eh->e_shnum * sizeof(Elf64_Shdr))) {
        snprintf(why, whysz, "no readable section headers");
        goto fail;
    }
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(e->map + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type == SHT_RELA && in_file(e, sh[i].sh_offset, sh[i].sh_size) &&
            e->nrela < TOOL_ELF_MAX_RELA) {
            e->rela[e->nrela] = e->map + sh[i].sh_offset;
            e->rela_count[e->nrela++] = sh[i].sh_size / sizeof(Elf64_Rela);
        }
        if (sh[i].sh_type != SHT_DYNSYM && sh[i].sh_type != SHT_DYNAMIC)
            continue;
        if (!in_file(e, sh[i].sh_offset, sh[i].sh_size) || sh[i].sh_link >= eh->e_shnum)
            continue;
        const Elf64_Shdr *str = &sh[sh[i].sh_link];
        if (str->sh_type != SHT_STRTAB || !in_file(e, str->sh_offset, str->sh_size))
            continue;
        if (sh[i].sh_type == SHT_DYNSYM) {
            e->dynsym = e->map + sh[i].sh_offset;
            e->nsyms = sh[i].sh_size / sizeof(Elf64_Sym);
            e->dynstr = (const char *)e->map + str->sh_offset;
            e->dynstr_size = str->sh_size;
        } else {
            e->dynamic = e->map + sh[i].sh_offset;
            e->ndyn = sh[i].sh_size / sizeof(Elf64_Dyn);
            e->dynamic_str = (const char *)e->map + str->sh_offset;
            e->dynamic_str_size = str->sh_size;
        }
    }
    if (!e->dynsym) {
        snprintf(why, whysz, "no dynamic symbol table (a static object?)");
        goto fail;
    }
    return 0;
fail:
    tool_elf_close(e);
    return -1;
}

void tool_elf_close(struct tool_elf *e)
{
    if (e->map)
        munmap((void *)e->map, e->size);
    memset(e, 0, sizeof *e);
}

/* A NUL-terminated string at off inside a string table, or NULL. */
static const char *str_at(const char *tab, size_t size, size_t off)
{
    if (off >= size || !memchr(tab + off, 0, size - off))
        return NULL;
    return tab + off;
}

enum tool_elf_sym tool_elf_symbol(const struct tool_elf *e, const char *name)
{
    const Elf64_Sym *syms = e->dynsym;
    enum tool_elf_sym best = TOOL_ELF_ABSENT;
    for (size_t i = 1; i < e->nsyms; i++) {
        const char *s = str_at(e->dynstr, e->dynstr_size, syms[i].st_name);
        if (!s || strcmp(s, name) != 0)
            continue;
        if (syms[i].st_shndx != SHN_UNDEF)
            return TOOL_ELF_DEFINED;
        best = TOOL_ELF_UNDEFINED;
    }
    return best;
}

const char *tool_elf_needed(const struct tool_elf *e, size_t i)
{
    const Elf64_Dyn *d = e->dynamic;
    for (size_t k = 0; k < e->ndyn && d[k].d_tag != DT_NULL; k++)
        if (d[k].d_tag == DT_NEEDED && i-- == 0)
            return str_at(e->dynamic_str, e->dynamic_str_size, d[k].d_un.d_val);
    return NULL;
}

/* The relocation types through which a module calls a function of another object. */
static int is_import(const struct tool_elf *e, unsigned type)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)e->map;
    switch (eh->e_machine) {
    case EM_X86_64:
        return type == R_X86_64_JUMP_SLOT || type == R_X86_64_GLOB_DAT;
    case EM_AARCH64:
        return type == R_AARCH64_JUMP_SLOT || type == R_AARCH64_GLOB_DAT;
    default:
        return 0;
    }
}

int tool_elf_imports(const struct tool_elf *e, const char *name)
{
    const Elf64_Sym *syms = e->dynsym;
    for (size_t t = 0; t < e->nrela; t++) {
        const Elf64_Rela *r = e->rela[t];
        for (size_t k = 0; k < e->rela_count[t]; k++) {
            size_t sym = ELF64_R_SYM(r[k].r_info);
            if (!sym || sym >= e->nsyms || !is_import(e, ELF64_R_TYPE(r[k].r_info)))
                continue;
            const char *s = str_at(e->dynstr, e->dynstr_size, syms[sym].st_name);
            if (s && strcmp(s, name) == 0)
                return 1;
        }
    }
    return 0;
}
