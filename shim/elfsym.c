/* elfsym.c: see elfsym.h.  The file is mapped read-only and its symbol table walked once. */
#include "elfsym.h"
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Does the section [off, off + size) lie inside a file of `len` bytes? */
static int inside(size_t len, uint64_t off, uint64_t size)
{
    return off <= len && size <= len - off;
}

static int walk(const unsigned char *map, size_t len, const char *const *names, int n,
                struct shim_elfsym *out)
{
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)map;
    if (len < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
        eh->e_shentsize != sizeof(ElfW(Shdr)) ||
        !inside(len, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr))))
        return SHIM_ELFSYM_UNREADABLE;
    const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(map + eh->e_shoff);
    const ElfW(Shdr) *symtab = NULL;
    for (int i = 0; i < eh->e_shnum && !symtab; i++)
        if (sh[i].sh_type == SHT_SYMTAB)
            symtab = &sh[i];
    if (!symtab)
        return SHIM_ELFSYM_STRIPPED;
    if (symtab->sh_link >= eh->e_shnum || !inside(len, symtab->sh_offset, symtab->sh_size))
        return SHIM_ELFSYM_UNREADABLE;
    const ElfW(Shdr) *strtab = &sh[symtab->sh_link];
    if (!inside(len, strtab->sh_offset, strtab->sh_size) || strtab->sh_size == 0)
        return SHIM_ELFSYM_UNREADABLE;
    const char *str = (const char *)map + strtab->sh_offset;
    size_t strsz = strtab->sh_size;
    const ElfW(Sym) *sym = (const ElfW(Sym) *)(map + symtab->sh_offset);
    size_t nsym = symtab->sh_size / sizeof *sym;
    /* Most symbols are rejected by the prefix every wanted name shares ("sqlite3_"), the rest
     * by length before any comparison: a Python executable holds some 20,000 symbols. */
    char ambiguous[n > 0 ? n : 1];
    size_t lens[n > 0 ? n : 1], common = n > 0 ? strlen(names[0]) : 0;
    for (int i = 0; i < n; i++) {
        lens[i] = strlen(names[i]);
        size_t c = 0;
        while (c < common && c < lens[i] && names[i][c] == names[0][c])
            c++;
        common = c;
        ambiguous[i] = 0;
    }
    for (size_t s = 0; s < nsym; s++) {
        if (ELF64_ST_TYPE(sym[s].st_info) != STT_FUNC || sym[s].st_shndx == SHN_UNDEF ||
            sym[s].st_name >= strsz)
            continue;
        const char *name = str + sym[s].st_name;
        size_t room = strsz - sym[s].st_name; /* the name must end inside the table */
        if (room <= common || memcmp(name, names[0], common) != 0)
            continue;
        size_t len = strnlen(name, room);
        if (len == room)
            continue;
        for (int i = 0; i < n; i++) {
            if (lens[i] != len || memcmp(name, names[i], len) != 0)
                continue;
            if (out[i].value && out[i].value != sym[s].st_value)
                ambiguous[i] = 1;
            out[i].value = sym[s].st_value;
            out[i].size = sym[s].st_size;
        }
    }
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (ambiguous[i])
            out[i].value = 0, out[i].size = 0;
        found += out[i].value != 0;
    }
    return found;
}

int shim_elfsym_lookup(const char *path, const char *const *names, int n,
                       struct shim_elfsym *out)
{
    memset(out, 0, sizeof *out * (size_t)n);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
        if (fd >= 0)
            close(fd);
        return SHIM_ELFSYM_UNREADABLE;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return SHIM_ELFSYM_UNREADABLE;
    int rc = walk(map, (size_t)st.st_size, names, n, out);
    munmap(map, (size_t)st.st_size);
    return rc;
}
