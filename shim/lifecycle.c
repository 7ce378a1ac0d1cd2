#include "lifecycle.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "policy.h"
#include "record.h"
#include "registry.h"
#include "remover.h"
#include "signals.h"
#include "sys.h"

void tg_resolve_all(void);                /* wrappers.c */
void tg_signals_after_fork_child(void);   /* signals.c */
void tg_reg_lock_for_fork(void);          /* registry.c */
void tg_reg_unlock_after_fork(void);

/* The most recent forked children and the fork generation each was born in.  A process that ends
 * while such a child lives leaves the entries created before that fork in place: daemons fork and
 * let the parent exit while the child goes on using the files. */
#define RING 256
static struct {
    pid_t pid;
    uint32_t gen;
} ring[RING];

void tg_forked(pid_t child)
{
    uint32_t gen = atomic_fetch_add(&tg_fork_count, 1) + 1;
    ring[(gen - 1) % RING].pid = child;
    ring[(gen - 1) % RING].gen = gen;
}

/* Alive and not a zombie.  A pid that was reused counts as alive: keeping is the safe mistake. */
static int child_alive(pid_t pid)
{
    int r = tg_kill(pid, 0);
    if (r < 0 && r != -EPERM)
        return 0;
    char path[40], num[21], buf[512];
    char *p = path;
    for (const char *s = "/proc/"; *s;)
        *p++ = *s++;
    for (const char *s = tg_fmt_u64(num, (unsigned)pid); *s;)
        *p++ = *s++;
    for (const char *s = "/stat"; *s;)
        *p++ = *s++;
    *p = '\0';
    int fd = tg_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return 1;
    long n = tg_read(fd, buf, sizeof buf - 1);
    tg_close(fd);
    if (n <= 0)
        return 1;
    buf[n] = '\0';
    char *close = NULL;
    for (char *q = buf; *q; q++)
        if (*q == ')')
            close = q;
    return !(close && close[1] == ' ' && close[2] == 'Z');
}

static unsigned keep_below(void)
{
    uint32_t count = atomic_load(&tg_fork_count), keep = 0;
    if (count > RING)
        keep = count - RING; /* children that fell out of the ring: assume alive */
    for (uint32_t i = 0; i < RING && i < count; i++)
        if (ring[i].gen > keep && ring[i].pid > 0 && child_alive(ring[i].pid))
            keep = ring[i].gen;
    return keep;
}

void tg_end(enum tg_end_how how, int code)
{
    if (!tg_reg_pid || tg_getpid() != tg_reg_pid)
        return; /* nothing tracked, or a vfork child sharing the parent's memory */
    int failed = how == TG_END_SIGNAL || (code & 0xff) != 0;
    tg_tls.ending = 1;
    atomic_store(&tg_dying, 1);
    /* Let other threads finish a create-and-list in progress, so that what they made is seen.
     * Bounded: a thread stuck in a slow filesystem must not hold the process's end hostage. */
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 2000 && atomic_load(&tg_inflight) > tg_tls.in; i++)
        nanosleep(&ms, NULL);
    tg_remove_owned(failed, keep_below());
    tg_rec_unlink();
}

static void at_exit(int status, void *arg)
{
    (void)arg;
    tg_end(TG_END_EXIT, status);
}

static void fork_prepare(void)
{
    tg_enter();
    tg_reg_lock_for_fork();
}

static void fork_parent(void)
{
    tg_reg_unlock_after_fork();
    tg_leave();
}

static void fork_child(void)
{
    tg_tls.in = 0;
    tg_tls.pending = 0;
    tg_signals_after_fork_child();
    tg_reg_after_fork_child();
}

/* glibc passes (argc, argv, envp) to initialisers of shared objects. */
__attribute__((constructor)) static void tg_load(int argc, char **argv, char **envp)
{
    (void)envp;
    tg_resolve_all();
    if (getauxval(AT_SECURE))
        return; /* set-user-ID or capability-elevated: do nothing at all */
    tg_config_load(argc > 0 && argv ? argv[0] : NULL);
    if (tg_cfg.mode == TG_MODE_OFF)
        return;
    if (tg_policy_init(argc, argv) < 0) {
        tg_log(TG_LOG_WARN, "starting directory unknown; temp files are not tracked", NULL);
        return;
    }
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    /* Registered before main: runs after every atexit handler the program registers. */
    on_exit(at_exit, NULL);
    if (tg_rec_adopt())
        tg_reg_adopted();
    tg_tracking = !tg_cfg.handoff;
}
