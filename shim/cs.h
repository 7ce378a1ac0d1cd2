/* Critical sections: the steps a fatal signal must not cut in half.
 *
 * A thread is *inside* while it creates a file and lists it, or removes one and forgets it, or
 * changes what the end of the process reads (a fork's heir slot).  The invariant, kept by this file
 * alone:
 *
 *   the end of the process walks the registry only when no other thread is inside, and no thread
 *   enters after the end has begun (it parks instead).
 *
 *   - A fatal signal that arrives on a thread that is inside is deferred (tg_cs_defer) and raised
 *     again when that thread leaves.  This costs no system call, unlike blocking signals around
 *     every create (a pair of sigprocmask calls measured 0.34 us here).
 *   - A thread entering announces itself (tg_inflight), then looks at tg_dying; the ending thread
 *     sets tg_dying, then waits for tg_inflight to drain (tg_cs_begin_end).  Both sequentially
 *     consistent: one of the two always sees the other (Dekker's pattern).
 *
 * Both waits are bounded (PARK_MS, DRAIN_MS below), so that a thread stuck elsewhere cannot turn
 * the end of the process into a deadlock. */
#ifndef TG_CS_H
#define TG_CS_H

#include <stdatomic.h>

struct tg_tls {
    int in;      /* nesting depth */
    int pending; /* a fatal signal deferred while inside */
    int ending;  /* this thread is running the process's end */
    int vfork;   /* this thread is the child of vfork, running in its parent's memory: the shim
                  * changes nothing there (set and cleared by the vfork wrapper, wrappers.c) */
};
/* Where the vfork wrapper, in assembly, finds the field. */
#define TG_TLS_VFORK_OFFSET 12
extern __thread struct tg_tls tg_tls __attribute__((tls_model("initial-exec")));
extern _Atomic int tg_inflight;
extern _Atomic int tg_dying;

/* Waits, outside, until the process has ended (bounded), then enters again. */
void tg_cs_park(void);

static inline void tg_enter(void)
{
    tg_tls.in++;
    atomic_fetch_add(&tg_inflight, 1);
    if (__builtin_expect(atomic_load(&tg_dying), 0) && !tg_tls.ending)
        tg_cs_park();
}
/* Inside, without waiting for an ending process: for bookkeeping the ending needs to see (a fork's
 * child named as heir), which the ender waits for like any create in flight. */
static inline void tg_enter_nopark(void)
{
    tg_tls.in++;
    atomic_fetch_add(&tg_inflight, 1);
}
/* Leaves; a fatal signal deferred while inside is raised now. */
void tg_cs_raise_deferred(void);
static inline void tg_leave(void)
{
    atomic_fetch_sub(&tg_inflight, 1);
    if (--tg_tls.in == 0 && __builtin_expect(tg_tls.pending, 0))
        tg_cs_raise_deferred();
}

/* From a fatal signal's handler: whether the signal must wait for this thread to leave (it is
 * inside, and the signal is not a fault of the instruction being executed).  Then it is noted and
 * raised again by tg_leave. */
int tg_cs_defer(int sig);

/* The process's end begins on this thread: others park from now on, and those inside are waited
 * for (bounded).  Returns at once if this thread already began it. */
void tg_cs_begin_end(void);

/* In a forked child (single-threaded): nobody is inside, nothing is ending. */
void tg_cs_after_fork_child(void);

#endif
