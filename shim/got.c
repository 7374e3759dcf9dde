/* got.c: see got.h. */
#include "got.h"
#include "maps.h"
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#define R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define R_GLOB_DAT R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define R_GLOB_DAT R_AARCH64_GLOB_DAT
#endif

/* glibc relocates the address-valued entries of a writable dynamic section in place; where the
 * section is read-only (and on other C libraries) they stay offsets from the load bias.  An
 * offset is smaller than the bias of any object loaded at a non-zero address, which tells the
 * two apart (plthook's rule); the program of a non-PIE executable has bias 0 and absolute ones. */
static uintptr_t dyn_ptr(unsigned long bias, ElfW(Addr) p)
{
    return p < bias ? bias + p : p;
}

struct dyn {
    const ElfW(Sym) *symtab;
    const char *strtab;
    size_t strsz;
    const ElfW(Rela) *jmprel, *rela;
    size_t jmprelsz, relasz;
    long pltrel;
    int has_rel;
};

static void read_dynamic(unsigned long bias, const ElfW(Dyn) *d, struct dyn *out)
{
    memset(out, 0, sizeof *out);
    for (; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: out->symtab = (const ElfW(Sym) *)dyn_ptr(bias, d->d_un.d_ptr); break;
        case DT_STRTAB: out->strtab = (const char *)dyn_ptr(bias, d->d_un.d_ptr); break;
        case DT_STRSZ: out->strsz = d->d_un.d_val; break;
        case DT_JMPREL: out->jmprel = (const ElfW(Rela) *)dyn_ptr(bias, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: out->jmprelsz = d->d_un.d_val; break;
        case DT_PLTREL: out->pltrel = (long)d->d_un.d_val; break;
        case DT_RELA: out->rela = (const ElfW(Rela) *)dyn_ptr(bias, d->d_un.d_ptr); break;
        case DT_RELASZ: out->relasz = d->d_un.d_val; break;
        case DT_REL: out->has_rel = 1; break;
        default: break;
        }
    }
}

/* Look through one relocation table for the import slots of names[]. */
static void scan(unsigned long bias, const struct dyn *dy, const ElfW(Rela) *r, size_t bytes,
                 const char *const names[], int n, struct shim_got_import imports[])
{
    for (size_t k = 0; r && k < bytes / sizeof *r; k++) {
        unsigned type = ELF64_R_TYPE(r[k].r_info);
        if ((type != R_JUMP_SLOT && type != R_GLOB_DAT) || ELF64_R_SYM(r[k].r_info) == 0)
            continue;
        ElfW(Word) name_off = dy->symtab[ELF64_R_SYM(r[k].r_info)].st_name;
        if (name_off >= dy->strsz)
            continue;
        const char *name = dy->strtab + name_off;
        for (int i = 0; i < n; i++) {
            if (!names[i] || strcmp(name, names[i]) != 0)
                continue;
            void **slot = (void **)(bias + r[k].r_offset);
            if (type == R_JUMP_SLOT)
                imports[i].plt = slot;
            else
                imports[i].ptr = slot;
        }
    }
}

int shim_got_find(unsigned long bias, const void *dynamic, const char *const names[], int n,
                  struct shim_got_import imports[], char *why, size_t whysz)
{
    for (int i = 0; i < n; i++)
        imports[i] = (struct shim_got_import){NULL, NULL};
#if !defined(R_JUMP_SLOT)
    (void)bias, (void)dynamic, (void)names;
    snprintf(why, whysz, "import slots are rewritten on x86-64 and aarch64 only");
    return -1;
#else
    struct dyn dy;
    read_dynamic(bias, dynamic, &dy);
    if (dy.has_rel || (dy.jmprel && dy.pltrel != DT_RELA)) {
        snprintf(why, whysz, "it has REL relocations, which x86-64 and aarch64 do not use");
        return -1;
    }
    if (!dy.symtab || !dy.strtab)
        return 0;
    /* DT_JMPREL holds the JUMP_SLOTs, DT_RELA the GLOB_DATs (and, in some links, both) */
    scan(bias, &dy, dy.jmprel, dy.jmprelsz, names, n, imports);
    scan(bias, &dy, dy.rela, dy.relasz, names, n, imports);
    int found = 0;
    for (int i = 0; i < n; i++)
        found += imports[i].plt || imports[i].ptr;
    return found;
#endif
}

struct at_search {
    uintptr_t addr;
    unsigned long bias;
    const void *dynamic;
    int found;
};

static int find_dynamic(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct at_search *s = arg;
    const void *dynamic = NULL;
    int hit = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD)
            hit |= s->addr >= start && s->addr < start + ph->p_memsz;
        else if (ph->p_type == PT_DYNAMIC && !dynamic)
            dynamic = (const void *)start;
    }
    if (!hit)
        return 0;
    s->bias = info->dlpi_addr;
    s->dynamic = dynamic;
    s->found = 1;
    return 1;
}

int shim_got_find_at(const void *addr, const char *const names[], int n,
                     struct shim_got_import imports[], char *why, size_t whysz)
{
    struct at_search s = {(uintptr_t)addr, 0, NULL, 0};
    for (int i = 0; i < n; i++)
        imports[i] = (struct shim_got_import){NULL, NULL};
    if (!addr || !dl_iterate_phdr(find_dynamic, &s) || !s.found) {
        snprintf(why, whysz, "no loaded object holds %p", addr);
        return -1;
    }
    if (!s.dynamic) {
        snprintf(why, whysz, "it has no dynamic section");
        return -1;
    }
    return shim_got_find(s.bias, s.dynamic, names, n, imports, why, whysz);
}

/* --- writing --- */

int shim_got_write(void **const slots[], void *const values[], int n, int *written, char *why,
                   size_t whysz)
{
    *written = 0;
    int saved = errno;
    uintptr_t pagesz = (uintptr_t)sysconf(_SC_PAGESIZE);
    int prot[SHIM_GOT_MAX];
    if (n > SHIM_GOT_MAX) {
        snprintf(why, whysz, "more than %d slots at once", SHIM_GOT_MAX);
        return -1;
    }
    uintptr_t at[SHIM_GOT_MAX];
    for (int i = 0; i < n; i++)
        at[i] = (uintptr_t)slots[i];
    shim_maps_prot(at, n, prot); /* -1 for a NULL slot: none is written */
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (!slots[i])
            continue;
        void *page = (void *)((uintptr_t)slots[i] & ~(pagesz - 1));
        /* Unknown protection (no /proc): a GOT page is readable, and RELRO made it read-only. */
        int before = prot[i] >= 0 ? prot[i] : PROT_READ;
        if (!(before & PROT_WRITE) && mprotect(page, pagesz, before | PROT_WRITE) != 0) {
            snprintf(why, whysz, "the import slot at %p is read-only and mprotect refused to "
                     "open it for writing (%s)",
                     (void *)slots[i], strerror(errno));
            rc = -1;
            break;
        }
        __atomic_store_n(slots[i], values[i], __ATOMIC_RELEASE);
        (*written)++;
        if (!(before & PROT_WRITE) && mprotect(page, pagesz, before) != 0) {
            snprintf(why, whysz, "cannot restore the protection of the import slot at %p "
                     "(mprotect: %s)", (void *)slots[i], strerror(errno));
            rc = -1;
        }
    }
    errno = saved;
    return rc;
}
