#include "lifecycle.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "atomic.h"
#include "config.h"
#include "counters.h"
#include "cs.h"
#include "fmt.h"
#include "heirs.h"
#include "log.h"
#include "policy.h"
#include "proc.h"
#include "record.h"
#include "registry.h"
#include "report.h"
#include "signals.h"
#include "site.h"
#include "sweep.h"
#include "sys.h"

int tg_tracking;
static void (*resolve_eager)(void);

/* ---- a tracked create -------------------------------------------------------------------- */

/* The first entry arms the fatal-signal handlers: a process that tracks nothing keeps the kernel's
 * dispositions untouched. */
void tg_track_first(void)
{
    if (!tg_reg_pid)
        return; /* the entry could not be listed */
    int saved = errno; /* dlsym and sigaction may set it: the program's stays */
    resolve_eager();
    tg_signals_arm();
    errno = saved;
}

/* A staged write (atomic.c) is scratch until it is committed. */
static void track_staged(const char *abs, size_t len, const struct stat *st, const struct tg_call *call)
{
    tg_track(abs, len, st, TG_K_STAGED, TG_WHEN_ENDS, call);
}

/* ---- the end: removing what this process owns -------------------------------------------- */

/* This process's own entries, as the sweep's source (sweep.h): every LIVE entry it made that is
 * due now, claimed before it is removed so that each goes once however many threads end at the
 * same time. */
struct own {
    int failed;
    uint32_t keep_below;
    uint32_t cursor;
};

static int due(const struct tg_rec_entry *e, const struct own *o)
{
    return e->when == TG_WHEN_ENDS || (e->when == TG_WHEN_FAILS && o->failed);
}

static int own_rewind(void *self)
{
    ((struct own *)self)->cursor = 0;
    return 0;
}

static int own_next(void *self, struct tg_rec_entry **e)
{
    *e = tg_reg_next_live(&((struct own *)self)->cursor);
    return *e != NULL;
}

static int own_take(void *self, struct tg_rec_entry *e)
{
    const struct own *o = self;
    return due(e, o) && e->fork_gen >= o->keep_below && tg_reg_claim(e);
}

static void own_put_back(void *self, struct tg_rec_entry *e)
{
    (void)self;
    tg_reg_unclaim(e);
}

/* The leak report of the end (report.h); one end per process. */
static struct tg_report end_report;
static struct tg_tally end_tally; /* what the end removed, for the state directory's counters */

static void own_report(void *self, const struct tg_rec_entry *e, enum tg_outcome o, uint64_t bytes)
{
    (void)self;
    if (o == TG_REMOVED) {
        tg_reg_count_reclaimed(bytes);
        tg_tally_removed(&end_tally, bytes);
    }
    /* (In audit mode, an entry a sweep has reported already is not reported twice.) */
    if (o == TG_REMOVED || (o == TG_WOULD && !(e->flags & TG_E_AUDITED)))
        tg_report_leak(&end_report, e, bytes, o == TG_REMOVED, tg_reg_site_at(tg_rec_entry_site(e)));
    if (o == TG_WOULD)
        tg_say("audit: would remove ", e->path);
    else if (o == TG_REMOVED)
        tg_log(TG_LOG_INFO, "removed ", e->path);
    else if (o == TG_LEFT)
        tg_log(TG_LOG_INFO, "left ", e->path, ": no longer the object that was created, or not removable");
}

/* The index may be read only if this thread was not interrupted while changing it. */
static struct tg_rec_entry *own_find(void *self, const char *abs, size_t len)
{
    (void)self;
    return tg_tls.in ? NULL : tg_reg_find_quiet(abs, len);
}

/* Due entries left for living children (made before their fork): they stay. */
static int for_heirs(const struct own *o)
{
    int n = 0;
    uint32_t cursor = 0;
    for (struct tg_rec_entry *e; (e = tg_reg_next_live(&cursor)) != NULL;)
        n += due(e, o) && e->fork_gen < o->keep_below;
    return n;
}

/* Removes (or in audit mode reports) what is due.  Returns how many due entries stay for living
 * children. */
static int remove_owned(struct own *o)
{
    /* With reports on, each file is looked at on its own: a report gives its size. */
    struct tg_sweep_src src = {own_rewind, own_next, own_take, own_put_back, own_report,
                               tg_cfg.report == TG_REPORT_OFF ? own_find : NULL, o};
    struct tg_sweep_opts so = {.dry = tg_cfg.mode == TG_MODE_AUDIT, .guard = NULL, .phase = TG_SWEEP_ALL,
                               .stride = 0, .offset = 0, .report_kept_dirs = 0};
    tg_sweep(&src, &so);
    return for_heirs(o);
}

/* Leaves the record to the heirs: only what is due stays LIVE in it. */
static void hand_over(const struct own *o)
{
    uint32_t cursor = 0;
    for (struct tg_rec_entry *e; (e = tg_reg_next_live(&cursor)) != NULL;)
        if (!due(e, o))
            tg_reg_give_up(e);
    tg_heirs_mark_ended();
}

void tg_end(enum tg_end_how how, int code)
{
    /* A vfork child runs in its parent's memory: nothing here is its business. */
    if (tg_tls.vfork)
        return;
    /* Staged writes of a process that succeeded are complete: committed before the end parks the
     * other threads (never in a signal handler: a signal is no success). */
    if (how != TG_END_SIGNAL && (code & 0xff) == 0 && tg_reg_pid && tg_getpid() == tg_reg_pid)
        tg_atomic_end(1, how == TG_END_EXIT);
    if (tg_reg_pid && tg_getpid() == tg_reg_pid) {
        struct own o = {.failed = how == TG_END_SIGNAL || (code & 0xff) != 0, .keep_below = 0, .cursor = 0};
        tg_cs_begin_end();
        tg_report_begin(&end_report, tg_reg_pid, tg_rec_header()->program,
                        tg_cfg.mode == TG_MODE_AUDIT ? TG_CAUSE_AUDIT
                        : how == TG_END_SIGNAL       ? TG_CAUSE_SIGNAL
                                                     : TG_CAUSE_EXIT);
        o.keep_below = tg_heirs_keep_below();
        if (remove_owned(&o) && tg_rec_is_file() && tg_cfg.mode != TG_MODE_AUDIT) {
            hand_over(&o);
            /* A child that ended while this process was removing found it still running and left
             * the entries alone: look at the children once more, now that the record says ENDED
             * (an heir that ends from now on takes them over itself). */
            o.keep_below = tg_heirs_keep_below();
            if (!remove_owned(&o))
                tg_rec_unlink();
        } else {
            tg_rec_unlink();
        }
        /* Counted where the record was (its directory was this user's then); nothing removed, no look. */
        if (tg_rec_is_file())
            tg_counters_add_removed(-1, tg_cfg.state_dir, how == TG_END_SIGNAL ? TG_CAUSE_SIGNAL : TG_CAUSE_EXIT,
                                    end_tally.files, end_tally.bytes);
        /* (The record's file may be gone; its mapping is still this process's.) */
        tg_report_summary(&end_report, tg_rec_header(), 0, 0);
        tg_report_end(&end_report);
    }
    tg_heirs_inherit();
}

static void end_by_signal(int sig) { tg_end(TG_END_SIGNAL, sig); }

#ifdef __GLIBC__
static void at_exit(int status, void *arg)
{
    (void)arg;
    tg_end(TG_END_EXIT, status);
}
#else
/* musl has no on_exit.  Success until exit() or main's return says otherwise: a process whose
 * status was not seen keeps its outputs, the safe side. */
static int exit_status;
void tg_exit_status(int status) { exit_status = status; }
static void at_exit(void) { tg_end(TG_END_EXIT, exit_status); }

static int main_argc;
static char **main_argv;
void tg_main_args(int argc, char **argv)
{
    main_argc = argc;
    main_argv = argv;
}

/* A program that did not start through __libc_start_main: its arguments as /proc/self/cmdline
 * holds them, in static buffers unless they are long.  NULL when they cannot be read. */
static char **cmdline_args(int *argc)
{
    static char small[8192];
    static char *small_argv[128];
    char *buf = small, **v;
    size_t cap = sizeof small, len = 0;
    long n;
    int fd = tg_openat(AT_FDCWD, "/proc/self/cmdline", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    while ((n = tg_read(fd, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
        if (len + 1 == cap) {
            char *more = malloc(cap * 2);
            if (more)
                memcpy(more, buf, len);
            if (buf != small)
                free(buf);
            if (!more)
                break;
            buf = more;
            cap *= 2;
        }
    }
    tg_close(fd);
    if (n != 0)
        return NULL; /* a read error, or no memory (the buffer is gone then) */
    buf[len] = '\0';
    int count = len && buf[len - 1] != '\0'; /* a last argument the program rewrote without NUL */
    for (size_t i = 0; i < len; i++)
        count += buf[i] == '\0';
    v = (size_t)count < sizeof small_argv / sizeof *v ? small_argv : malloc(((size_t)count + 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t at = 0;
    for (int k = 0; k < count; k++) {
        v[k] = buf + at;
        at += strlen(buf + at) + 1;
    }
    v[count] = NULL;
    *argc = count;
    return v;
}
#endif

/* ---- fork -------------------------------------------------------------------------------- */

/* The shim's locks are taken before fork and released on both sides, so that no child inherits one
 * held by a thread it does not have.  The policy's lock first: a thread that holds it never waits
 * for the registry's, and the other way round. */
static void fork_prepare(void)
{
    /* A fork's child may call a wrapper first thing, when another thread of this process could
     * have held the dynamic linker's lock across the fork: nothing is looked up there. */
    resolve_eager();
    tg_enter();
    tg_policy_lock_for_fork();
    tg_reg_lock_for_fork();
    tg_heirs_fork_prepare();
}

static void fork_parent(void)
{
    tg_reg_unlock_after_fork();
    tg_policy_unlock_after_fork();
    tg_leave();
}

static void fork_child(void)
{
    tg_policy_unlock_after_fork();
    tg_cs_after_fork_child();
    tg_heirs_fork_child();
    tg_signals_after_fork_child();
    tg_reg_after_fork_child();
    tg_site_after_fork_child();
    tg_atomic_after_fork_child();
    tg_reclaim_after_fork_child();
}

void tg_forked(pid_t child) { tg_heirs_forked(child); }

void tg_spawning(void) { tg_heirs_spawned(); }

/* ---- exec -------------------------------------------------------------------------------- */

char *const *tg_exec_env(char *const envp[], struct tg_exec_env *x)
{
    x->mapped = NULL;
    x->mapped_len = 0;
    if (tg_tls.vfork || !tg_tracking)
        return envp;
    /* What the new image must know: its record (the entries this process made stay its own), and
     * whether it may be an heir (a forked child's image still signs off at its end). */
    int pid = tg_getpid();
    struct tg_buf adopt, heir;
    tg_buf_init(&adopt, x->adopt, sizeof x->adopt - 1);
    tg_buf_init(&heir, x->heir, sizeof x->heir - 1);
    if (tg_reg_pid && tg_rec_is_file() && pid == tg_reg_pid) {
        tg_buf_str(&adopt, TG_ADOPT_VAR "=");
        tg_buf_u64(&adopt, (unsigned)pid);
    }
    if (pid == tg_heirs_self())
        tg_heirs_exec_note(&heir);
    x->adopt[adopt.len] = '\0';
    x->heir[heir.len] = '\0';
    if (!adopt.len && !heir.len)
        return envp;
    size_t n = 0, out = 0;
    while (envp && envp[n])
        n++;
    char **arr = x->mem;
    if (n + 3 > sizeof x->mem / sizeof x->mem[0]) {
        x->mapped_len = (n + 3) * sizeof *arr;
        void *p = tg_mmap(NULL, x->mapped_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return envp; /* the new image will not find the record: the reaper will */
        arr = x->mapped = p;
    }
    /* Notes an earlier exec left in the program's own array are not passed on twice. */
    for (size_t i = 0; i < n; i++)
        if (strncmp(envp[i], TG_ADOPT_VAR "=", sizeof TG_ADOPT_VAR) != 0 &&
            strncmp(envp[i], TG_HEIR_VAR "=", sizeof TG_HEIR_VAR) != 0)
            arr[out++] = envp[i];
    if (adopt.len)
        arr[out++] = x->adopt;
    if (heir.len)
        arr[out++] = x->heir;
    arr[out] = NULL;
    return arr;
}

void tg_exec_env_done(struct tg_exec_env *x)
{
    if (x->mapped)
        tg_munmap(x->mapped, x->mapped_len);
    x->mapped = NULL;
}

void tg_before_uid_change(void) { tg_heirs_before_uid_change(); }

/* ---- load -------------------------------------------------------------------------------- */

void tg_load(int argc, char **argv, void (*resolve)(void))
{
    int saved = errno;
    resolve_eager = resolve;
#ifndef __GLIBC__
    argc = main_argc;
    argv = main_argv ? main_argv : cmdline_args(&argc);
#endif
    if (getauxval(AT_SECURE))
        goto out; /* set-user-ID or capability-elevated: do nothing at all */
    tg_config_load(argc > 0 && argv ? argv[0] : NULL);
    if (tg_cfg.mode == TG_MODE_OFF)
        goto out;
#ifndef __GLIBC__
    if (!argv) { /* the command-line rule cannot be kept */
        tg_log(TG_LOG_WARN, "command line unknown; temp files are not tracked");
        goto out;
    }
#endif
    if (tg_policy_init(argc, argv) < 0) {
        tg_log(TG_LOG_WARN, "no memory for the command line; temp files are not tracked");
        goto out;
    }
    tg_signals_on_fatal(end_by_signal);
    tg_reclaim_init();
    tg_site_init();
    tg_atomic_init(track_staged);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    /* Registered before main: runs after every atexit handler the program registers. */
#ifdef __GLIBC__
    on_exit(at_exit, NULL);
#else
    (void)atexit(at_exit); /* as on_exit: if it fails, the end through exit() goes unseen */
#endif
    tg_tracking = 1;
    /* This process's previous image had a record (it exec'd, and told this one through the
     * environment): adopted now, and the handlers armed, so that a signal takes those files too. */
    if (tg_cfg.adopt_pid && tg_getpid() == tg_cfg.adopt_pid && tg_reg_adopt()) {
        resolve_eager();
        tg_signals_arm();
        tg_atomic_adopted(); /* staged writes of the previous image (a shell's redirection) */
    }
    if (tg_cfg.heir_note.self)
        tg_heirs_from_exec();
    if (tg_cfg.handoff) {
        /* mktemp and friends make files for their caller: when the caller runs the shim too, the
         * files are tracked and handed to it at the end; otherwise they are not tracked at all. */
        pid_t pp = getppid();
        if (pp > 1 && tg_proc_maps_have(pp, "libtmpguard"))
            tg_heirs_handoff_to(pp);
        else
            tg_tracking = 0;
    }
out:
    errno = saved;
}
