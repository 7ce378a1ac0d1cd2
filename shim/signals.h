/* Fatal signals: cleanup before the default action, and the program's view of its dispositions. */
#ifndef TG_SIGNALS_H
#define TG_SIGNALS_H

#include <signal.h>

/* Resolved at load time (wrappers.c) so that the signal path never calls dlsym. */
extern int (*tg_real_sigaction)(int, const struct sigaction *, struct sigaction *);

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

#endif
