#include "signals.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "cs.h"
#include "sys.h"

static tg_sigaction_fn *real_sigaction;
static void (*cleanup)(int sig);
_Atomic int tg_signals_armed;

void tg_signals_use(tg_sigaction_fn *fn) { __atomic_store_n(&real_sigaction, fn, __ATOMIC_RELEASE); }
static tg_sigaction_fn *real(void) { return __atomic_load_n(&real_sigaction, __ATOMIC_ACQUIRE); }
void tg_signals_on_fatal(void (*fn)(int sig)) { cleanup = fn; }

/* What the program believes each signal's disposition is, for the signals where the kernel holds
 * the shim's handler instead (ours[sig]).  Everywhere else the kernel's answer is the truth. */
static struct sigaction prog_act[NSIG];
static unsigned char ours[NSIG];
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
/* The process these tables describe.  A child that shares this memory without a fork handler
 * having run (vfork, clone with CLONE_VM) has its own dispositions in the kernel: its calls pass
 * straight through and leave the tables alone.  (Python's subprocess restores SIGPIPE to SIG_DFL in
 * a vfork child: written here, that would make the parent's tables claim a handler the parent's
 * kernel state does not have, and its later SIG_DFL would be swallowed.) */
static int tables_pid;

/* Signals whose default action terminates the process.  SIGKILL and SIGSTOP cannot be caught;
 * glibc keeps the first two real-time signals for itself and refuses them. */
static int default_is_fatal(int sig)
{
    switch (sig) {
    case SIGHUP: case SIGINT: case SIGQUIT: case SIGILL: case SIGTRAP: case SIGABRT: case SIGBUS:
    case SIGFPE: case SIGUSR1: case SIGSEGV: case SIGUSR2: case SIGPIPE: case SIGALRM: case SIGTERM:
    case SIGSTKFLT: case SIGXCPU: case SIGXFSZ: case SIGVTALRM: case SIGPROF: case SIGIO: case SIGPWR:
    case SIGSYS:
        return 1;
    default:
        return sig >= SIGRTMIN && sig <= SIGRTMAX;
    }
}

/* Faults raised by the kernel for the instruction being executed: they cannot be deferred, and
 * returning from the handler re-executes the instruction under the default action. */
static int is_fault(int sig, const siginfo_t *si)
{
    return (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP ||
            sig == SIGSYS) && si && si->si_code > 0;
}

static void on_fatal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    int saved = errno;
    int fault = is_fault(sig, si);
    /* A thread between creating a file and listing it (or removing and forgetting) finishes that
     * first; tg_leave() raises the signal again. */
    if (!fault && tg_cs_defer(sig)) {
        errno = saved;
        return;
    }
    if (cleanup)
        cleanup(sig);

    /* Die exactly as without the shim: default action, same signal, so the exit status, the core
     * dump and the parent's WTERMSIG are unchanged. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    real()(sig, &dfl, NULL);
    if (!fault) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        (void)raise(sig); /* pending: blocked while this handler runs (raise returns; cppcheck thinks not) */
        // cppcheck-suppress unreachableCode
        sigprocmask(SIG_UNBLOCK, &set, NULL); /* delivered here, under SIG_DFL */
    }
    errno = saved; /* a fault returns and re-executes the faulting instruction */
}

static void our_action(struct sigaction *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sa_sigaction = on_fatal;
    /* Block every other signal during cleanup; restart interrupted calls when deferring. */
    sa->sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa->sa_mask);
}

static int is_default(const struct sigaction *act)
{
    return !(act->sa_flags & SA_SIGINFO) && act->sa_handler == SIG_DFL;
}

/* Holding sig_lock with every signal blocked: a program handler that calls sigaction() can never
 * interrupt this thread while it holds the lock. */
static void lock_all(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, old);
    pthread_mutex_lock(&sig_lock);
}

static void unlock_all(const sigset_t *old)
{
    pthread_mutex_unlock(&sig_lock);
    sigprocmask(SIG_SETMASK, old, NULL);
}

void tg_signals_arm(void)
{
    if (atomic_load(&tg_signals_armed))
        return;
    sigset_t old;
    lock_all(&old);
    struct sigaction mine, cur;
    our_action(&mine);
    for (int sig = 1; sig < NSIG; sig++) {
        if (!default_is_fatal(sig) || real()(sig, NULL, &cur) != 0)
            continue;
        /* A signal the program ignores (or handles) stays as it is. */
        if (is_default(&cur) && real()(sig, &mine, NULL) == 0) {
            prog_act[sig] = cur;
            ours[sig] = 1;
        }
    }
    tables_pid = tg_getpid();
    atomic_store(&tg_signals_armed, 1);
    unlock_all(&old);
}

int tg_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!atomic_load(&tg_signals_armed) || sig <= 0 || sig >= NSIG || !default_is_fatal(sig))
        return real()(sig, act, old);
    if (tg_getpid() != tables_pid) {
        /* Another process in this memory: its own kernel state changes, the tables do not; it is
         * answered from them all the same where they hold the program's view. */
        struct sigaction kern;
        int r = real()(sig, act, &kern);
        if (r == 0 && old)
            *old = ours[sig] ? prog_act[sig] : kern;
        return r;
    }
    sigset_t mask;
    struct sigaction view, mine;
    int rc = 0, err = 0;
    lock_all(&mask);
    if (!ours[sig]) {
        if (act && is_default(act)) {
            /* The program restores the default: the kernel gets the cleanup handler instead. */
            our_action(&mine);
            rc = real()(sig, &mine, &view);
            if (rc == 0) {
                prog_act[sig] = *act;
                ours[sig] = 1;
                if (old)
                    *old = view;
            }
        } else {
            rc = real()(sig, act, old);
        }
    } else {
        view = prog_act[sig];
        if (act && is_default(act)) {
            prog_act[sig] = *act;
        } else if (act) {
            rc = real()(sig, act, NULL);
            if (rc == 0)
                ours[sig] = 0;
        }
        if (rc == 0 && old)
            *old = view;
    }
    err = errno;
    unlock_all(&mask);
    errno = err;
    return rc;
}

tg_handler_t tg_signal_like(int sig, tg_handler_t handler, int flags, int mask_self)
{
    struct sigaction act, old;
    if (handler == SIG_ERR || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    if (mask_self)
        sigaddset(&act.sa_mask, sig);
    act.sa_flags = flags;
    if (tg_sigaction(sig, &act, &old) < 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* After fork the child keeps the parent's handlers (and view): only the lock must be fresh. */
void tg_signals_after_fork_child(void)
{
    pthread_mutex_init(&sig_lock, NULL);
    tables_pid = tg_getpid();
}
