#include "elfsym.h"

#include <elf.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "sys.h"

/* A file larger than this is not mapped to look for a name: no program or library is. */
#define ELF_MAX_BYTES (1ull << 31)

/* Whether [OFF, OFF + LEN) lies inside a file of SIZE bytes, without overflow. */
static int within(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

/* In the symbol table SYMS (a section of kind SHT_SYMTAB or SHT_DYNSYM) of the file mapped at BASE
 * (SIZE bytes): the function holding VADDR.  Each field read is checked against the file first: the
 * file is whatever is at that path now. */
static int lookup(const char *base, uint64_t size, const Elf64_Ehdr *eh, const Elf64_Shdr *syms, uint64_t vaddr,
                  char *out, size_t cap)
{
    if (syms->sh_link >= eh->e_shnum || syms->sh_entsize != sizeof(Elf64_Sym) ||
        !within(syms->sh_offset, syms->sh_size, size))
        return 0;
    const Elf64_Shdr *strs = (const Elf64_Shdr *)(base + eh->e_shoff) + syms->sh_link;
    if (strs->sh_type != SHT_STRTAB || !within(strs->sh_offset, strs->sh_size, size))
        return 0;
    const Elf64_Sym *s = (const Elf64_Sym *)(base + syms->sh_offset);
    uint64_t n = syms->sh_size / sizeof *s;
    const Elf64_Sym *best = NULL;
    for (uint64_t i = 0; i < n; i++) {
        int type = ELF64_ST_TYPE(s[i].st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s[i].st_shndx == SHN_UNDEF)
            continue;
        uint64_t len = s[i].st_size ? s[i].st_size : 1;
        if (vaddr < s[i].st_value || vaddr - s[i].st_value >= len)
            continue;
        /* Of aliases and nested ranges, the narrowest; of equals, the global name. */
        if (!best || len < (best->st_size ? best->st_size : 1) ||
            (len == (best->st_size ? best->st_size : 1) && ELF64_ST_BIND(s[i].st_info) == STB_GLOBAL))
            best = &s[i];
    }
    if (!best || best->st_name >= strs->sh_size)
        return 0;
    const char *name = base + strs->sh_offset + best->st_name;
    size_t room = (size_t)(strs->sh_size - best->st_name), len = strnlen(name, room);
    if (len == room || len == 0 || cap == 0)
        return 0; /* no NUL inside the table, or no name */
    if (len >= cap)
        len = cap - 1;
    memcpy(out, name, len);
    out[len] = '\0';
    return 1;
}

int tg_elf_function(const char *file, uint64_t vaddr, char *out, size_t cap)
{
    int fd = tg_openat(AT_FDCWD, file, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
    if (fd < 0)
        return 0;
    struct stat st;
    int found = 0;
    if (tg_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof(Elf64_Ehdr) ||
        (uint64_t)st.st_size > ELF_MAX_BYTES) {
        tg_close(fd);
        return 0;
    }
    uint64_t size = (uint64_t)st.st_size;
    const char *base = tg_mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    tg_close(fd);
    if (base == MAP_FAILED)
        return 0;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
        eh->e_shentsize == sizeof(Elf64_Shdr) && eh->e_shnum &&
        within(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), size)) {
        const Elf64_Shdr *sh = (const Elf64_Shdr *)(base + eh->e_shoff);
        /* The full table first: it has the static functions too. */
        for (int want = SHT_SYMTAB; !found && want; want = want == SHT_SYMTAB ? SHT_DYNSYM : 0)
            for (unsigned i = 0; !found && i < eh->e_shnum; i++)
                if (sh[i].sh_type == (unsigned)want)
                    found = lookup(base, size, eh, &sh[i], vaddr, out, cap);
    }
    tg_munmap((void *)base, size);
    return found;
}
