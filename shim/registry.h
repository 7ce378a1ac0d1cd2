/* The registry: what this process created and still owns.
 *
 * Entries live in the record (record.h); this adds the owner's private index (by last path
 * component, for the unlink/rename wrappers) and the critical sections that keep a signal handler
 * from seeing a file that exists but is not listed yet. */
#ifndef TG_REGISTRY_H
#define TG_REGISTRY_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/stat.h>

#include "record.h"

/* A thread is "inside" while it creates-and-registers or removes-and-forgets.  A catchable fatal
 * signal that arrives on that thread is deferred until it leaves (signals.c), and a handler
 * running on another thread waits for `tg_inflight` to drain before it walks the registry.
 * This costs no system call, unlike blocking signals around every create. */
struct tg_tls {
    int in;      /* nesting depth */
    int pending; /* a fatal signal deferred while inside */
    int ending;  /* this thread is running the process's cleanup */
};
extern __thread struct tg_tls tg_tls __attribute__((tls_model("initial-exec")));
extern _Atomic int tg_inflight;
/* Set once the process's cleanup has begun.  Other threads that try to create or remove then
 * wait (bounded) for the end instead of making files the cleanup has already walked past. */
extern _Atomic int tg_dying;
void tg_park(void);

static inline void tg_enter(void)
{
    tg_tls.in++;
    /* Announce first, then look: the ender sets tg_dying first, then waits for tg_inflight to
     * drain, so one of the two always sees the other. */
    atomic_fetch_add(&tg_inflight, 1);
    if (__builtin_expect(atomic_load(&tg_dying), 0) && !tg_tls.ending)
        tg_park();
}
void tg_leave(void);
/* Inside, without waiting for an ending process: for bookkeeping the ending needs to see (a fork's
 * child named as heir), which the ender waits for like any create in flight. */
static inline void tg_enter_nopark(void)
{
    tg_tls.in++;
    atomic_fetch_add(&tg_inflight, 1);
}

/* Live entries of this process; 0 lets the removal wrappers skip all work. */
extern _Atomic size_t tg_live;
static inline int tg_reg_nonempty(void) { return atomic_load_explicit(&tg_live, memory_order_relaxed) != 0; }

/* Registers ABS (normalised, absolute, LEN bytes) described by ST.  Call inside.  On any failure
 * the entry is simply not tracked (one warning). */
void tg_reg_add(const char *abs, size_t len, const struct stat *st, enum tg_kind kind, enum tg_when when);
/* Forgets the live entry for ABS (LEN bytes), if any.  Call inside. */
void tg_reg_forget(const char *abs, size_t len);
/* Cheap test before resolving a path: could PATH (as given) name a tracked entry? */
int tg_reg_may_hold(const char *path);
/* The live entry for ABS, without the lock: only while nothing can change the index (the
 * process's cleanup, once other threads are parked).  Async-signal-safe. */
struct tg_rec_entry *tg_reg_find_quiet(const char *abs, size_t len);
/* Rebuilds the index from an adopted record (after exec). */
void tg_reg_adopted(void);
/* In a forked child: the child owns nothing yet. */
void tg_reg_after_fork_child(void);

/* Forks made by this process, for the daemon rule (lifecycle.c). */
extern _Atomic uint32_t tg_fork_count;

/* The process's pid as the registry knows it (0 before the first entry). */
extern int tg_reg_pid;

#endif
