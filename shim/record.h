/* The live process's own record (the format: recfmt.h): made on the first tracked file, grown,
 * adopted by an exec'd image, removed at the end.  The registry (registry.c) is its only writer of
 * entries. */
#ifndef TG_RECORD_H
#define TG_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "recfmt.h"

/* Makes the state directory if it is missing; 1 when it is a directory of this user with mode 0700
 * (anything else could let another user read or plant records), else 0 with one warning. */
int tg_rec_state_dir_ok(void);
/* The process to name as the first heir when the record is made (a hand-off program's caller). */
void tg_rec_name_heir(const struct tg_proc_id *heir);
/* Creates this process's record (file in the state directory, or anonymous memory when the
 * state directory is unusable).  Returns 0, or -1 when no memory could be had at all. */
int tg_rec_open(void);
/* Looks for a record left by this process's previous image (before exec) and maps it.
 * Returns 1 when one was adopted. */
int tg_rec_adopt(void);
/* Pointer to the block at CELL, which must lie in a mapped chunk.  Chunk K starts at cell
 * C*(2^K - 1), C being the cells of the first: K = floor(log2(CELL/C + 1)). */
extern char *tg_rec_chunks[TG_MAX_CHUNKS]; /* written by record.c only */
static inline struct tg_rec_entry *tg_rec_at(uint32_t cell)
{
    int k = 31 - __builtin_clz(cell / (TG_CHUNK0 / TG_CELL) + 1);
    return (struct tg_rec_entry *)(tg_rec_chunks[k] + (size_t)(cell - tg_chunk_start(k)) * TG_CELL);
}
/* Makes sure cells [0, END) are mapped; returns 0 or -1. */
int tg_rec_reserve(uint32_t end);
/* The cell where the chunk that holds CELL ends. */
uint32_t tg_rec_chunk_end(uint32_t cell);
static inline struct tg_rec_header *tg_rec_header(void) { return (struct tg_rec_header *)tg_rec_chunks[0]; }
/* Whether the record is a file (durable), not anonymous memory. */
int tg_rec_is_file(void);
/* Removes the record file if it is still this process's; async-signal-safe. */
void tg_rec_unlink(void);
/* In a forked child: drop the parent's record without touching it. */
void tg_rec_drop(void);

#endif
