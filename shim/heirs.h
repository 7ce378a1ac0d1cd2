/* Heirs: who may still use this process's files after it is gone, and who takes over what another
 * process left.  The protocol (recfmt.h has the fields):
 *
 *   - A fork reserves its child's slot among the heirs in this process's record before the child
 *     exists (pid 0 and the fork's number, "gen"); the parent fills the pid and start time in once
 *     fork() has returned.  An entry whose fork_gen is below the gen of a living heir stays.
 *   - A forked child of a process with a record knows whose child it is (its parent's pid, start
 *     time and the fork's gen); an image it execs is told through the environment (config.h,
 *     TG_HEIR_VAR), so that it still knows, at its end, that it may be an heir and of whom.  A
 *     hand-off program (mktemp) names its caller as its heir, and marks the caller
 *     (STATE_DIR/PID.heir, empty) in case the caller started it without fork().
 *   - An heir that reaches its end first signs off: in every slot that names it (or its reserved
 *     slot, not yet filled in), a compare-and-swap in a shared mapping of the record negates its
 *     pid; only then does it read the record.  An owner that ends first marks its record ENDED,
 *     then reads its children's slots.  Both sequentially consistent: of two processes ending at
 *     once, at least one sees the other gone and takes the entries (no wait for the next reap).
 *   - At its end a process reads the records that name it (tg_heirs_inherit) and removes what no
 *     other living heir, and no child of its own forked after the entry was made, may still use;
 *     entries it keeps for its own children make those children heirs of that record.
 *
 * This file owns the ring of recent children, the fork count, the heirs' slots and ENDED flag of
 * this process's record, and the markers. */
#ifndef TG_HEIRS_H
#define TG_HEIRS_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "recfmt.h"

/* The process as of load or its last fork: a vfork child has another pid and must not act on the
 * parent's state. */
int tg_heirs_self(void);

/* For a hand-off program whose caller runs the shim: the caller is named its heir (in the record,
 * when there is one) and marked. */
void tg_heirs_handoff_to(pid_t caller);

/* Forks made so far (an entry records it: children forked after it may use it).  Written by heirs.c
 * only. */
extern _Atomic uint32_t tg_heirs_fork_count;
static inline uint32_t tg_heirs_forks(void) { return atomic_load(&tg_heirs_fork_count); }
/* The fork handlers' part: before the fork, under the registry's lock; in the parent after it;
 * in the child. */
void tg_heirs_fork_prepare(void);
void tg_heirs_forked(pid_t child);
void tg_heirs_fork_child(void);

/* Entries made before fork number N, for N below the result, may still be used by a living child
 * (or the hand-off caller): they stay.  Async-signal-safe. */
uint32_t tg_heirs_keep_below(void);
/* The end of the owner: its record says ENDED from now on (what is LIVE in it is for the heirs). */
void tg_heirs_mark_ended(void);

/* This process starts a program without fork() (vfork, posix_spawn). */
void tg_heirs_spawned(void);

/* The process ends: it takes over what records that name it hold.  Returns 1 when this process may
 * be an heir at all (then it looked), 0 when it looked nowhere.  Async-signal-safe. */
int tg_heirs_inherit(void);

/* The process is about to change its user ID: its marker, which it may not be able to remove
 * afterwards, is taken into memory and removed now. */
void tg_heirs_before_uid_change(void);

/* An exec replaces this process's image: what the new image must know of this process's heirship,
 * as TG_HEIR_VAR=... appended to B (nothing when there is none). */
struct tg_buf;
void tg_heirs_exec_note(struct tg_buf *b);
/* At load: what the previous image said (config.c read it). */
void tg_heirs_from_exec(void);

#endif
