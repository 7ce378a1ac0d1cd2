/* The registry: what this process created and still owns.
 *
 * Entries live in the record (recfmt.h, record.c); this file adds the owner's private index (by
 * last path component, for the unlink and rename wrappers) and is the only place where an entry of
 * this process changes state:
 *
 *             tg_reg_add                 tg_reg_claim               (removed at the end: stays)
 *     FREE ---------------> LIVE ---------------------> CLAIMED
 *       ^                   |  ^                          |
 *       |  tg_reg_forget    |  |       tg_reg_unclaim     |
 *       +-------------------+  +--------------------------+
 *       |  tg_reg_give_up   |     (a directory not empty yet; a bulk unlink that failed; in use)
 *       +-------------------+                             |
 *       |                 tg_reg_drop (removed while the process runs: reclaim.c)
 *       +-------------------------------------------------+
 *
 *   add, forget    under the registry's lock, inside a critical section (cs.h);
 *   claim          compare-and-swap LIVE -> CLAIMED, by whoever removes the entry (the end of the
 *                  process, any of its threads): each entry is removed once;
 *   unclaim        the claimer only;
 *   give_up        compare-and-swap LIVE -> FREE at the end, for entries not due (the record is
 *                  then left to heirs with only what they may take);
 *   forget         compare-and-swap LIVE -> FREE: an entry a cleanup has claimed stays the cleanup's;
 *   drop           the claimer, under the lock, once it has removed the entry while the process runs;
 *   pick, release  a sweep while the process runs (reclaim.c) claims its candidates under the lock
 *                  and holds them while it looks at them, so that none is freed and made again under
 *                  it; release gives one back (or frees it, if the program removed it meanwhile:
 *                  forget marks a claimed entry FORGOTTEN instead of freeing it).
 * PAD and ROOTS blocks are written once (carve, record.c) and never change.  After exec, the new
 * image's tg_reg_adopted turns LIVE and CLAIMED entries of this pid back into LIVE and the rest
 * into FREE.  Readers in other processes see LIVE entries only (recread.c). */
#ifndef TG_REGISTRY_H
#define TG_REGISTRY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "recfmt.h"

/* Live entries of this process; 0 lets the removal wrappers skip all work. */
extern _Atomic size_t tg_live;
static inline int tg_reg_nonempty(void) { return atomic_load_explicit(&tg_live, memory_order_relaxed) != 0; }

/* The process's pid as the registry knows it: 0 until it has a record (the first entry, or a record
 * adopted after exec).  Written by this file only. */
extern int tg_reg_pid;

/* Registers ABS (normalised, absolute, LEN bytes) described by ST, made after FORK_GEN forks of
 * this process.  Call inside.  On any failure the entry is simply not tracked (one warning). */
struct tg_made {
    enum tg_kind kind;
    enum tg_when when;
    enum tg_api api;   /* the function that made it */
    uint32_t fork_gen; /* forks of this process before it was made */
    uint32_t site;     /* the SITE block of its call site (tg_reg_add_site), or 0 */
};
void tg_reg_add(const char *abs, size_t len, const struct stat *st, const struct tg_made *m);
/* Forgets the live entry for ABS (LEN bytes), if any: REMOVED, the program removed it (else it
 * published it by a rename).  Call inside. */
void tg_reg_forget(const char *abs, size_t len, int removed);
/* The same when the hash of ABS's last component is known (tg_reg_hash); returns whether there was
 * such an entry. */
int tg_reg_forget_h(const char *abs, size_t len, uint32_t hash, int removed);

/* A call site for entries to name: HEAD (its nframes, lang, pc filled in) and TEXT (LEN bytes),
 * written into a SITE block of the record.  Returns its cell, or 0 (no room: the entries name none). */
uint32_t tg_reg_add_site(const struct tg_rec_site *head, const char *text, size_t len);
/* The SITE block at CELL of this process's record, or NULL when there is none there. */
const struct tg_rec_site *tg_reg_site_at(uint32_t cell);
/* tmpguard removed one of this process's entries (BYTES of it): the record's count for the leak
 * report's summary.  Async-signal-safe. */
void tg_reg_count_reclaimed(uint64_t bytes);
/* The hash of a last path component NAME (N bytes), as the index keys entries by it. */
uint32_t tg_reg_hash(const char *name, size_t n);
/* Whether an entry may have a last component with hash H (the name filter: no lock, one load). */
int tg_reg_may_hold_h(uint32_t h);
/* Cheap test before resolving a path: could PATH (as given) name a tracked entry? */
int tg_reg_may_hold(const char *path);
/* The live entry for ABS, without the lock: only while nothing can change the index (the
 * process's end, once other threads are parked).  Async-signal-safe. */
struct tg_rec_entry *tg_reg_find_quiet(const char *abs, size_t len);

/* Live entries of this process that go whenever it ends (scratch), and their sizes as last seen
 * (KiB, tg_reg_set_size): what TMPGUARD_MAX_FILES and TMPGUARD_MAX_BYTES limit. */
extern _Atomic size_t tg_reg_scratch;
extern _Atomic uint64_t tg_reg_scratch_kb;

/* The program opens a path whose last component is NAME (N bytes, hash H): each live entry with
 * that last component is in use at NOW_S (its used_s; a name shared by chance only keeps an entry
 * longer).  No system call. */
void tg_reg_note_use(const char *name, size_t n, uint32_t h, uint32_t now_s);
/* As tg_reg_next_live, under the lock and looking at no more than *BUDGET blocks (counted down;
 * *CURSOR goes back to the first block after the last, for a sweep spread over many calls): the
 * next entry that WANT accepts (called under the lock, it may read every field), claimed. */
struct tg_rec_entry *tg_reg_pick(uint32_t *cursor, uint32_t *budget, int (*want)(const struct tg_rec_entry *e, void *arg),
                                 void *arg);
/* E, picked, goes back to its owner with FLAGS added (LIVE again), or is freed if the program
 * removed it meanwhile. */
void tg_reg_release(struct tg_rec_entry *e, uint8_t flags);
/* E, claimed, has been removed while the process runs (or found gone): out of the index, FREE for
 * reuse. */
void tg_reg_drop(struct tg_rec_entry *e);
/* E's size as just seen, in KiB. */
void tg_reg_set_size(struct tg_rec_entry *e, uint32_t kb);

/* The next block of this process's record at or after *CURSOR (0: the first) that is LIVE and was
 * made by this process, or NULL; *CURSOR moves past it.  Async-signal-safe. */
struct tg_rec_entry *tg_reg_next_live(uint32_t *cursor);
/* State changes (the diagram above); claim and give_up return whether they happened. */
int tg_reg_claim(struct tg_rec_entry *e);
void tg_reg_unclaim(struct tg_rec_entry *e);
int tg_reg_give_up(struct tg_rec_entry *e);

/* A record left by this process's previous image (exec): adopted, and the index rebuilt from it.
 * Returns 1 when there was one (or the registry has a record already). */
int tg_reg_adopt(void);
/* In a forked child: the child owns nothing yet. */
void tg_reg_after_fork_child(void);
/* fork() must not copy the lock while another thread holds it (lifecycle.c). */
void tg_reg_lock_for_fork(void);
void tg_reg_unlock_after_fork(void);

#endif
