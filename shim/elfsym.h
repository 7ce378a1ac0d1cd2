/* Function names from an ELF file's own symbol tables, for the call sites of leak reports: the
 * static functions of an unstripped program (not in the dynamic symbols, so dladdr cannot name
 * them) as well as the exported ones.  Read from the file with system calls only; no allocation. */
#ifndef TG_ELFSYM_H
#define TG_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

/* The function of FILE (an ELF object) whose code holds VADDR, an address as the object's own
 * headers count it (the address in the process minus the object's load bias): its name into OUT
 * (CAP bytes, cut if longer).  .symtab when the file has one, else .dynsym.  Returns 1 when found,
 * 0 when not (no such file, not ELF64, stripped of both, or no function there). */
int tg_elf_function(const char *file, uint64_t vaddr, char *out, size_t cap);

#endif
