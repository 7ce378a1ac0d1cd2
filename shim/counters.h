/* The counters of a state directory: what tmpguard removed there, by cause, and the records the
 * reaper refused, kept past the processes that did it, for `tmpguard stats` (node figures).
 *
 * STATE_DIR/counters, mode 0600, owned by the state directory's owner: a header cell, then one
 * 64-byte cell per cause (files and bytes) and one for refused records.  Writers map it shared and
 * add with atomic adds: no lock, so a process that dies in the middle of an add holds nothing
 * anyone waits for, and no daemon.  Each cause has its own cell: processes ending by different
 * causes at once do not bounce one cache line between them.
 *
 * Who adds: a process at its end (exit, signal: lifecycle.c), a sweep while it runs (max-age:
 * reclaim.c), a reap (reap.c: the reaper, the launcher, an heir taking over), the reaper for the
 * records it refused (scripts/reaper.c).  Only something that removed something opens the file:
 * a process that removed nothing pays nothing.  Async-signal-safe: raw system calls, no
 * allocation. */
#ifndef TG_COUNTERS_H
#define TG_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"

#define TG_CNT_NAME "counters"
#define TG_CNT_MAGIC "TMPGCNT1"
#define TG_CNT_VERSION 1u
/* The causes counted: TG_CAUSE_EXIT, _SIGNAL, _MAX_AGE, _REAP (report.h; audit removes nothing). */
#define TG_CNT_CAUSES 4

struct tg_cnt_file {
    char magic[8];
    uint32_t version;
    uint32_t size; /* sizeof(struct tg_cnt_file): a reader of another layout refuses it */
    char pad0[48];
    struct {
        uint64_t files; /* entries removed (a mkdtemp tree counts once) */
        uint64_t bytes; /* their bytes, as removed */
        char pad[48];
    } cause[TG_CNT_CAUSES];
    uint64_t refused; /* records the reaper refused (each refusal counts) */
    char pad1[56];
};
_Static_assert(sizeof(struct tg_cnt_file) == (size_t)64 * (2 + TG_CNT_CAUSES), "one cell each");

/* What one remover adds (or what a reader read). */
struct tg_counts {
    uint64_t files[TG_CNT_CAUSES], bytes[TG_CNT_CAUSES], refused;
};

/* What one remover has removed so far, for one cause: counted as it goes, added once at the end. */
struct tg_tally {
    uint64_t files, bytes;
};
static inline void tg_tally_removed(struct tg_tally *t, uint64_t bytes)
{
    t->files++;
    t->bytes += bytes;
}

/* Adds C to the counters in the state directory DFD (or, DFD < 0, the one at path DIR), making the
 * file if it is missing.  The file is used only if it is a regular file of the directory's owner
 * with this layout; otherwise nothing is added (tmpguard stats says why).  Made by another user
 * than the directory's (root counting a refusal in a user's directory), it is given to the owner. */
void tg_counters_add(int dfd, const char *dir, const struct tg_counts *c);
/* The same for one cause. */
void tg_counters_add_removed(int dfd, const char *dir, enum tg_cause cause, uint64_t files, uint64_t bytes);

/* Reads the counters of the state directory DFD into C.  Returns 1 when read, 0 when there is no
 * such file (nothing was ever counted: all zero), -1 when it is refused (WHY says why). */
int tg_counters_read(int dfd, struct tg_counts *c, const char **why);

#endif
