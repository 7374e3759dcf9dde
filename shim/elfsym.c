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

/* Every defined function of the table of type `type` (SHT_SYMTAB, SHT_DYNSYM) in the file mapped
 * at map whose name starts with `prefix` (of plen bytes), to fn.  The prefix is tested here,
 * before any call: most of a Python executable's 20,000 symbols fail at its first byte. */
static int walk(const unsigned char *map, size_t len, unsigned type, const char *prefix,
                size_t plen, shim_elfsym_fn fn, void *arg)
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
        if (sh[i].sh_type == type)
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
    /* A name must end inside the table: always so when the table ends with a NUL, as ELF says
     * it does; otherwise each name is measured (a Python executable holds some 20,000). */
    int ends = str[strsz - 1] == 0;
    for (size_t s = 0; s < nsym; s++) {
        if (ELF64_ST_TYPE(sym[s].st_info) != STT_FUNC || sym[s].st_shndx == SHN_UNDEF ||
            sym[s].st_name >= strsz)
            continue;
        const char *name = str + sym[s].st_name;
        if (plen && (name[0] != prefix[0] || strncmp(name, prefix, plen) != 0))
            continue;
        if (!ends && strnlen(name, strsz - sym[s].st_name) == strsz - sym[s].st_name)
            continue;
        struct shim_elfsym e = {sym[s].st_value, sym[s].st_size};
        if (fn(arg, name, &e))
            break;
    }
    return 0;
}

/* Map `path` and walk it. */
static int each(const char *path, unsigned type, const char *prefix, size_t plen,
                shim_elfsym_fn fn, void *arg)
{
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
    int rc = walk(map, (size_t)st.st_size, type, prefix, plen, fn, arg);
    munmap(map, (size_t)st.st_size);
    return rc;
}

int shim_elfsym_each(const char *path, int dynamic, shim_elfsym_fn fn, void *arg)
{
    return each(path, dynamic ? SHT_DYNSYM : SHT_SYMTAB, "", 0, fn, arg);
}

/* --- look-up by name --- */

struct wanted {
    const char *const *names;
    int n;
    size_t *lens;
    char *ambiguous;
    struct shim_elfsym *out;
};

/* A symbol with the prefix every wanted name shares ("sqlite3_"): by length, then by name. */
static int match(void *arg, const char *name, const struct shim_elfsym *sym)
{
    struct wanted *w = arg;
    size_t len = strlen(name);
    for (int i = 0; i < w->n; i++) {
        if (w->lens[i] != len || memcmp(name, w->names[i], len) != 0)
            continue;
        if (w->out[i].value && w->out[i].value != sym->value)
            w->ambiguous[i] = 1;
        w->out[i] = *sym;
    }
    return 0;
}

static int stop(void *arg, const char *name, const struct shim_elfsym *sym)
{
    (void)arg, (void)name, (void)sym;
    return 1;
}

int shim_elfsym_lookup(const char *path, const char *const *names, int n,
                       struct shim_elfsym *out)
{
    memset(out, 0, sizeof *out * (size_t)n);
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
    struct wanted w = {names, n, lens, ambiguous, out};
    int rc = each(path, SHT_SYMTAB, n > 0 ? names[0] : "", common, n > 0 ? match : stop, &w);
    if (rc < 0)
        return rc;
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (ambiguous[i])
            out[i].value = 0, out[i].size = 0;
        found += out[i].value != 0;
    }
    return found;
}
