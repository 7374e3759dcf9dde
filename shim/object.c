/* object.c: see object.h. */
#include "object.h"
#include <link.h>
#include <stdio.h>
#include <string.h>

struct search {
    uintptr_t addr;
    struct shim_object *o;
    int found;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct search *s = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    int hit = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
        lo = start < lo ? start : lo;
        hi = end > hi ? end : hi;
        hit |= s->addr >= start && s->addr < end;
    }
    if (!hit)
        return 0;
    s->o->bias = info->dlpi_addr;
    s->o->lo = lo;
    s->o->hi = hi;
    snprintf(s->o->name, sizeof s->o->name, "%s", info->dlpi_name ? info->dlpi_name : "");
    s->found = 1;
    return 1;
}

int shim_object_of(const void *addr, struct shim_object *o)
{
    struct search s = {(uintptr_t)addr, o, 0};
    memset(o, 0, sizeof *o);
    return addr && dl_iterate_phdr(find_object, &s) && s.found;
}

const char *shim_object_path(const struct shim_object *o)
{
    return o->name[0] ? o->name : "/proc/self/exe";
}
