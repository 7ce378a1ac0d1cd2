/* Fatal signals, the mechanism: a handler that runs a cleanup before the default action, and the
 * program's view of its dispositions.  What the cleanup does is not this file's business: it is
 * handed over as a callback (lifecycle.c gives the end of the process). */
#ifndef TG_SIGNALS_H
#define TG_SIGNALS_H

#include <signal.h>

typedef int tg_sigaction_fn(int, const struct sigaction *, struct sigaction *);

/* libc's sigaction, which every change of disposition goes through (found by wrappers.c before the
 * first handler can be installed: the signal path never looks a symbol up). */
void tg_signals_use(tg_sigaction_fn *real);
/* What a fatal signal runs before the default action: CLEANUP(sig), async-signal-safe. */
void tg_signals_on_fatal(void (*cleanup)(int sig));

/* Installs the cleanup handler for every catchable fatal signal whose disposition is the default.
 * Called when the first entry is tracked: processes that track nothing keep the kernel's own
 * dispositions untouched. */
void tg_signals_arm(void);

/* The program's sigaction(), as the shim answers it once armed. */
int tg_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* A signal handler as signal() takes it (glibc calls the type __sighandler_t, musl sighandler_t). */
typedef void (*tg_handler_t)(int);

/* The signal/bsd_signal/sysv_signal/sigset family, built on tg_sigaction. */
tg_handler_t tg_signal_like(int sig, tg_handler_t handler, int flags, int mask_self);

/* Whether the cleanup handler has been installed; until then the wrappers pass straight through. */
extern _Atomic int tg_signals_armed;

/* In a forked child: the lock is made fresh, the tables are this process's. */
void tg_signals_after_fork_child(void);

#endif
