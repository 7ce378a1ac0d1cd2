#include "lifecycle.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "policy.h"
#include "reap.h"
#include "record.h"
#include "recread.h"
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
 * let the parent exit while the child goes on using the files.  The record's header keeps the
 * last TG_MAX_HEIRS with their start times, for whoever reaps it later. */
#define RING 256
struct forked {
    pid_t pid;
    uint32_t gen;
    int64_t when_ns; /* CLOCK_REALTIME at the fork, to compare with an inherited entry's ctime */
};
static struct forked ring[RING];

/* Written by the thread that forked, read by whichever thread (or signal handler) ends the
 * process: through atomics, the pid last, so that a reader sees a slot whole or as no child. */
static void ring_put(pid_t pid, uint32_t gen, int64_t when_ns)
{
    struct forked *r = &ring[(gen - 1) % RING];
    __atomic_store_n(&r->pid, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&r->gen, gen, __ATOMIC_RELAXED);
    __atomic_store_n(&r->when_ns, when_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&r->pid, pid, __ATOMIC_RELEASE);
}

static struct forked ring_get(uint32_t i)
{
    struct forked f;
    f.pid = __atomic_load_n(&ring[i].pid, __ATOMIC_ACQUIRE);
    f.gen = __atomic_load_n(&ring[i].gen, __ATOMIC_RELAXED);
    f.when_ns = __atomic_load_n(&ring[i].when_ns, __ATOMIC_RELAXED);
    return f;
}

/* This process may be named as an heir in another record: a child of a process that tracked files,
 * or a parent of hand-off programs (anything that forked). */
static int maybe_heir;
/* This process's pid as of load or its fork: a vfork child, which shares the parent's memory and
 * ran no fork handler, has another pid and must not act on the parent's forks. */
static int self_pid;
/* A hand-off program (mktemp) whose parent runs the shim: its files go to the parent. */
static struct tg_proc_id handoff_parent;
/* A forked child: the parent (pid and start time) and the fork's gen, whose slot in the parent's
 * record the child signs off in at its end even if the parent has not filled it in yet.  An
 * exec'd image reads it back from its marker.  pid 0: not a child of a process with a record. */
static struct tg_proc_id born_of;
/* The fork in progress on this thread: its gen, and the heirs' slot reserved for its child (-1:
 * none).  Set by fork_prepare, read on both sides of the fork. */
static __thread struct {
    uint32_t gen;
    int slot;
} forking __attribute__((tls_model("initial-exec")));

static uint64_t pid_gen(int32_t pid, uint32_t gen)
{
    struct tg_proc_id id = {.pid = pid, .gen = gen, .start_ticks = 0};
    return id.pid_gen;
}

/* STATE_DIR/PID.heir: PID was forked by a process that tracked files.  If that child execs, its
 * new image has lost the memory of being an heir; the marker tells it at its end. */
static void heir_marker(char *buf, size_t size, int pid)
{
    char num[21];
    size_t dl = strlen(tg_cfg.state_dir);
    const char *n = tg_fmt_u64(num, (unsigned)pid);
    if (dl + strlen(n) + 8 > size) {
        buf[0] = '\0';
        return;
    }
    char *p = stpcpy(buf, tg_cfg.state_dir);
    *p++ = '/';
    strcpy(stpcpy(p, n), ".heir");
}

/* fork_prepare, under the registry's lock: the fork's gen, and a slot for the child among the
 * heirs in the record, reserved before the child exists.  The child may reach its end before
 * fork() has returned in the parent; it finds the slot by its gen and signs off in it. */
static void reserve_heir(void)
{
    int pid = tg_getpid();
    forking.slot = -1;
    forking.gen = 0;
    /* A vfork child that forks is not this process: its child is not ours to count. */
    if (pid != self_pid)
        return;
    forking.gen = atomic_fetch_add(&tg_fork_count, 1) + 1;
    if (!tg_reg_pid || tg_reg_pid != pid || !tg_rec_is_file())
        return;
    struct tg_rec_header *h = tg_rec_header();
    /* As in pass_on: heirs of an ended owner add theirs to the same ring. */
    uint32_t i = __atomic_fetch_add(&h->nheirs, 1, __ATOMIC_SEQ_CST) % TG_MAX_HEIRS;
    /* The pid first: a reader sees the slot's previous child gone, never a mix of two. */
    __atomic_store_n(&h->heirs[i].pid_gen, pid_gen(0, forking.gen), __ATOMIC_SEQ_CST);
    __atomic_store_n(&h->heirs[i].start_ticks, 0, __ATOMIC_SEQ_CST);
    forking.slot = (int)i;
}

void tg_forked(pid_t child)
{
    uint32_t gen = forking.gen;
    int i = forking.slot;
    forking.gen = 0;
    if (!gen)
        return; /* no fork handlers: the shim does nothing in this process */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ring_put(child, gen, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
    if (i >= 0 && tg_reg_pid && tg_reg_pid == tg_getpid()) {
        struct tg_proc_id *slot = &tg_rec_header()->heirs[i];
        uint64_t start = tg_proc_start_ticks(child), unfilled = pid_gen(0, gen);
        tg_enter_nopark();
        /* Under the lock that reservations take: the slot cannot be given to a later fork
         * between the look and the writes.  A child that signed off already keeps its mark. */
        tg_reg_lock_for_fork();
        if (__atomic_load_n(&slot->pid_gen, __ATOMIC_SEQ_CST) == unfilled) {
            __atomic_store_n(&slot->start_ticks, start, __ATOMIC_SEQ_CST);
            __atomic_compare_exchange_n(&slot->pid_gen, &unfilled, pid_gen(child, gen), 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST);
        }
        tg_reg_unlock_after_fork();
        tg_leave();
    }
}

/* Alive and not a zombie.  A pid that was reused counts as alive: keeping is the safe mistake. */
static int child_alive(pid_t pid)
{
    int r = tg_kill(pid, 0);
    if (r < 0 && r != -EPERM)
        return 0;
    char state = '?';
    return tg_proc_stat(pid, NULL, &state) < 0 || state != 'Z';
}

/* Whether the child of fork GEN has signed off in this process's record: it has reached its own
 * end and will not use the files again (record.h).  Not found (a ring that moved on, no record
 * file): it has not, the safe answer. */
static int signed_off(pid_t pid, uint32_t gen)
{
    struct tg_rec_header *h = tg_rec_is_file() ? tg_rec_header() : NULL;
    for (int i = 0; h && i < TG_MAX_HEIRS; i++)
        if (__atomic_load_n(&h->heirs[i].pid_gen, __ATOMIC_SEQ_CST) == pid_gen(-pid, gen))
            return 1;
    return 0;
}

static unsigned keep_below(void)
{
    if (handoff_parent.pid && tg_proc_alive(&handoff_parent))
        return UINT32_MAX;
    uint32_t count = atomic_load(&tg_fork_count), keep = 0;
    if (count > RING)
        keep = count - RING; /* children that fell out of the ring: assume alive */
    for (uint32_t i = 0; i < RING && i < count; i++) {
        struct forked c = ring_get(i);
        if (c.gen > keep && c.pid > 0 && child_alive(c.pid) && !signed_off(c.pid, c.gen))
            keep = c.gen;
    }
    return keep;
}

/* ---- removing what this process owns ----------------------------------------------------- */

struct owned {
    int failed;
    unsigned keep_below;
};

static int due(const struct tg_rec_entry *e, const struct owned *o)
{
    return e->owner == tg_reg_pid && (e->when == TG_WHEN_ENDS || (e->when == TG_WHEN_FAILS && o->failed));
}

static struct tg_rec_entry *find_owned(const char *abs, size_t len, void *arg)
{
    (void)arg;
    return tg_reg_find_quiet(abs, len);
}

static int take_owned(struct tg_rec_entry *e, void *arg)
{
    const struct owned *o = arg;
    uint32_t expect = TG_LIVE;
    return due(e, o) && e->fork_gen >= o->keep_below &&
           atomic_compare_exchange_strong(&e->state, &expect, TG_CLAIMED);
}

/* Removes (or in audit mode reports) what is due.  Returns how many due entries were left for
 * living children. */
static int remove_owned(const struct owned *o)
{
    struct tg_rec_header *h = tg_rec_header();
    if (!h)
        return 0;
    int audit = tg_cfg.mode == TG_MODE_AUDIT, more_dirs = 0, for_heirs = 0;
    struct tg_parent pc;
    tg_parent_init(&pc);
    uint32_t hw = atomic_load_explicit(&h->hw_cells, memory_order_acquire);
    /* Files and mkdtemp trees first; directories made by mkdir wait for the passes after. */
    for (uint32_t c = h->header_cells; c < hw;) {
        struct tg_rec_entry *e = tg_rec_at(c);
        if (e->cells == 0)
            break;
        c += e->cells;
        if (atomic_load_explicit(&e->state, memory_order_acquire) != TG_LIVE || !due(e, o))
            continue;
        if (e->fork_gen < o->keep_below) {
            for_heirs++;
            continue;
        }
        if (S_ISDIR(e->mode) && e->kind != TG_K_MKDTEMP) {
            more_dirs = 1;
            continue;
        }
        uint32_t expect = TG_LIVE;
        /* Claiming makes every entry removed once, however many threads end at the same time. */
        if (!atomic_compare_exchange_strong(&e->state, &expect, TG_CLAIMED))
            continue;
        if (tg_remove_entry(e, &pc, 0, audit, NULL, NULL) == TG_WOULD)
            tg_say("audit: would remove ", e->path);
        /* The index may be read only if this thread was not interrupted while changing it. */
        if (!audit && pc.fd >= 0 && pc.run == TG_BULK_AFTER && !tg_tls.in)
            tg_remove_bulk(&pc, find_owned, take_owned, (void *)o);
    }
    /* Directories: only empty ones go; repeat while a pass makes progress (children first). */
    for (int pass = 0; more_dirs && pass < 64; pass++) {
        int progress = 0;
        for (uint32_t c = h->header_cells; c < hw;) {
            struct tg_rec_entry *e = tg_rec_at(c);
            if (e->cells == 0)
                break;
            c += e->cells;
            if (atomic_load(&e->state) != TG_LIVE || !S_ISDIR(e->mode) || e->kind == TG_K_MKDTEMP || !due(e, o) ||
                e->fork_gen < o->keep_below)
                continue;
            uint32_t expect = TG_LIVE;
            if (!atomic_compare_exchange_strong(&e->state, &expect, TG_CLAIMED))
                continue;
            enum tg_outcome out = tg_remove_entry(e, &pc, 1, audit, NULL, NULL);
            if (out == TG_WOULD)
                tg_say("audit: would remove ", e->path);
            else if (out == TG_REMOVED)
                progress = 1;
            else if (out == TG_NOT_EMPTY)
                atomic_store(&e->state, TG_LIVE); /* maybe emptier next pass */
        }
        if (!progress)
            break;
    }
    tg_parent_close(&pc);
    return for_heirs;
}

/* Leaves the record to the heirs: only what is due stays LIVE in it. */
static void hand_over(const struct owned *o)
{
    struct tg_rec_header *h = tg_rec_header();
    uint32_t hw = atomic_load(&h->hw_cells);
    for (uint32_t c = h->header_cells; c < hw;) {
        struct tg_rec_entry *e = tg_rec_at(c);
        if (e->cells == 0)
            break;
        c += e->cells;
        uint32_t expect = TG_LIVE;
        if (!due(e, o))
            atomic_compare_exchange_strong(&e->state, &expect, TG_FREE);
    }
    /* Set before the children's sign-offs are read again, both sequentially consistent
     * (record.h): a child that ends now either has signed off already, and is seen gone, or sees
     * ENDED and takes the entries itself. */
    __atomic_fetch_or(&h->flags, TG_REC_ENDED, __ATOMIC_SEQ_CST);
}

/* An inherited entry stays while a child of this process, forked after the entry was made, is
 * alive: `f=$(mktemp); daemon --config "$f" &; exit` must not pull the file from under the daemon. */
static int child_may_use(const struct tg_rec_entry *e, void *arg)
{
    (void)arg;
    uint32_t count = atomic_load(&tg_fork_count);
    for (uint32_t i = 0; i < RING && i < count; i++) {
        struct forked c = ring_get(i);
        if (c.pid > 0 && c.when_ns >= e->ctime_ns && child_alive(c.pid))
            return 1;
    }
    return 0;
}

/* The header of another process's record, mapped shared so that heirs can update it in place
 * while others read it, or NULL.  A record this process may not write it may not reap either. */
static struct tg_rec_header *map_header(int dfd, const char *name)
{
    int fd = tg_openat(dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *p = (void *)-1;
    /* Records only grow, so the first chunk stays there while it is mapped. */
    if (tg_fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)TG_CHUNK0)
        p = tg_mmap(NULL, sizeof(struct tg_rec_header), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    tg_close(fd);
    if (p == (void *)-1)
        return NULL;
    struct tg_rec_header *h = p;
    if (memcmp(h->magic, TG_REC_MAGIC, 8) != 0 || h->version != TG_REC_VERSION) {
        tg_munmap(p, sizeof *h);
        return NULL;
    }
    return h;
}

/* This process has reached its end: every slot of H that names it says so (record.h), and so
 * does the slot reserved for it in its parent's record if the parent has not filled it in yet.
 * Done before the record is read (from the file, next), and ordered before that read: the
 * sequentially consistent load after the swaps keeps every later read after them, as a fence
 * would (a fence the thread sanitizer cannot follow).  Returns how many slots name it: none, and
 * the record is not this process's business. */
static int sign_off(struct tg_rec_header *h, const struct tg_proc_id *me)
{
    int parents = born_of.pid && h->pid == born_of.pid && h->start_ticks == born_of.start_ticks, named = 0;
    for (int i = 0; i < TG_MAX_HEIRS; i++) {
        struct tg_proc_id *slot = &h->heirs[i], cur;
        cur.pid_gen = __atomic_load_n(&slot->pid_gen, __ATOMIC_SEQ_CST);
        uint32_t gen = cur.gen;
        /* The slot its parent reserved for this fork: by the gen, filled in or not. */
        int reserved = parents && gen == born_of.gen;
        if (!((cur.pid == me->pid || cur.pid == -me->pid) &&
              __atomic_load_n(&slot->start_ticks, __ATOMIC_SEQ_CST) == me->start_ticks) &&
            !(reserved && (cur.pid == 0 || cur.pid == -me->pid)))
            continue;
        named++;
        /* A swap on the unfilled slot fails if the parent fills it in meanwhile: then again. */
        while (cur.gen == gen && (cur.pid == me->pid || (cur.pid == 0 && reserved)) &&
               !__atomic_compare_exchange_n(&slot->pid_gen, &cur.pid_gen, pid_gen(-me->pid, gen), 0,
                                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            ;
    }
    (void)__atomic_load_n(&h->flags, __ATOMIC_SEQ_CST);
    return named;
}

/* Entries kept for this process's children: the children become heirs of that record, so that it
 * is reaped when they are gone and not before. */
static void pass_on(struct tg_rec_header *h)
{
    uint32_t count = atomic_load(&tg_fork_count);
    for (uint32_t i = 0; i < RING && i < count; i++) {
        struct forked c = ring_get(i);
        if (c.pid <= 0 || !child_alive(c.pid))
            continue;
        struct tg_proc_id *slot = &h->heirs[__atomic_fetch_add(&h->nheirs, 1, __ATOMIC_SEQ_CST) % TG_MAX_HEIRS];
        /* The pid last: a reader that sees the slot half written sees pid 0, no process. */
        __atomic_store_n(&slot->pid_gen, pid_gen(0, UINT32_MAX), __ATOMIC_SEQ_CST);
        __atomic_store_n(&slot->start_ticks, tg_proc_start_ticks(c.pid), __ATOMIC_SEQ_CST);
        __atomic_store_n(&slot->pid_gen, pid_gen(c.pid, UINT32_MAX), __ATOMIC_SEQ_CST);
    }
}

/* Records left by processes that named this one as their heir (a daemon's parent, mktemp for its
 * shell): this process's end is theirs too. */
static void inherit(void)
{
    struct tg_proc_id me = {.pid = tg_getpid(), .gen = 0, .start_ticks = 0};
    me.start_ticks = tg_proc_start_ticks(me.pid);
    int dfd = tg_openat(AT_FDCWD, tg_cfg.state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (dfd < 0 || !me.start_ticks) {
        if (dfd >= 0)
            tg_close(dfd);
        return;
    }
    char dents[2048], buf[8192];
    struct tg_rec_reader r;
    struct tg_reap_opts opts = {.dry = tg_cfg.mode == TG_MODE_AUDIT, .ending = &me, .guard = NULL,
                                .report = NULL, .arg = NULL, .keep = child_may_use};
    long n;
    while ((n = tg_getdents64(dfd, dents, sizeof dents)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(dents + off);
            off += d->d_reclen;
            size_t l = strlen(d->d_name);
            if (l < 5 || memcmp(d->d_name + l - 4, ".rec", 4) != 0)
                continue;
            /* A record this process cannot map it can still be named in: the reader says. */
            struct tg_rec_header *h = opts.dry ? NULL : map_header(dfd, d->d_name);
            if ((!h || sign_off(h, &me)) &&
                tg_reap_record(dfd, d->d_name, &opts, &r, buf, sizeof buf) == TG_REAP_KEPT && h)
                pass_on(h);
            if (h)
                tg_munmap(h, sizeof *h);
        }
    }
    tg_close(dfd);
}

/* Reads this process's marker, if there is one, into born_of (a forked child's image after exec:
 * whose child it is) and notes that this process may be an heir.  Returns 1 when there was one. */
static int read_marker(const char *marker)
{
    /* A look first: nearly every process has no marker, and an fstatat is all that costs it. */
    struct stat st;
    if (tg_fstatat(AT_FDCWD, marker, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    int fd = tg_openat(AT_FDCWD, marker, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct tg_proc_id b;
    if (!born_of.pid && tg_read(fd, &b, sizeof b) == (long)sizeof b && b.pid > 0)
        born_of = b;
    tg_close(fd);
    maybe_heir = 1;
    return 1;
}

void tg_before_uid_change(void)
{
    char marker[TG_PATH_MAX + 32];
    int now = tg_getpid();
    if (now != self_pid || !tg_cfg.state_dir[0] || tg_cfg.mode == TG_MODE_OFF)
        return;
    heir_marker(marker, sizeof marker, now);
    /* Once the process is another user it may no longer remove the marker from this user's state
     * directory (Python's subprocess as root: fork, setreuid, exec fails, _exit): what it says is
     * kept in memory instead, and the file goes now. */
    if (marker[0] && read_marker(marker))
        tg_unlinkat(AT_FDCWD, marker, 0);
}

void tg_end(enum tg_end_how how, int code)
{
    int now = tg_getpid();
    int mine = tg_reg_pid && now == tg_reg_pid;
    int usable = now == self_pid && tg_cfg.state_dir[0] && tg_cfg.mode != TG_MODE_OFF;
    char marker[TG_PATH_MAX + 32];
    marker[0] = '\0';
    if (usable)
        heir_marker(marker, sizeof marker, now);
    /* An exec'd image of a forked child knows it may be an heir only from the marker, which also
     * says whose child it is (fork_child); so does a process that started a hand-off program
     * without fork() (vfork, posix_spawn), which that program marks (tg_load). */
    int marked = usable && marker[0] && read_marker(marker);
    int heir = usable && (maybe_heir || marked || atomic_load(&tg_fork_count));
    if (!mine && !heir)
        return; /* nothing tracked, or a vfork child sharing the parent's memory */
    struct owned o = {.failed = how == TG_END_SIGNAL || (code & 0xff) != 0, .keep_below = 0};
    if (mine) {
        tg_tls.ending = 1;
        atomic_store(&tg_dying, 1);
        /* Let other threads finish a create-and-list in progress, so that what they made is seen.
         * Bounded: a thread stuck in a slow filesystem must not hold the process's end hostage. */
        struct timespec ms = {0, 1000000};
        for (int i = 0; i < 2000 && atomic_load(&tg_inflight) > tg_tls.in; i++)
            nanosleep(&ms, NULL);
        o.keep_below = keep_below();
        if (remove_owned(&o) && tg_rec_is_file() && tg_cfg.mode != TG_MODE_AUDIT) {
            hand_over(&o);
            /* A child that ended while this process was removing found it still running and left
             * the entries alone: look at the children once more, now that the record says ENDED
             * (an heir that ends from now on takes them over itself). */
            o.keep_below = keep_below();
            if (!remove_owned(&o))
                tg_rec_unlink();
        } else {
            tg_rec_unlink();
        }
    }
    if (heir)
        inherit();
    if (marked || (maybe_heir && marker[0]))
        tg_unlinkat(AT_FDCWD, marker, 0);
}

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

/* The shim's locks are taken before fork and released on both sides, so that no child inherits one
 * held by a thread it does not have.  The policy's lock first: a thread that holds it never waits
 * for the registry's, and the other way round. */
static void fork_prepare(void)
{
    tg_enter();
    tg_policy_lock_for_fork();
    tg_reg_lock_for_fork();
    reserve_heir();
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
    tg_tls.in = 0;
    tg_tls.pending = 0;
    self_pid = tg_getpid();
    if (forking.slot >= 0 && tg_rec_is_file()) {
        born_of.pid = tg_rec_header()->pid;
        born_of.start_ticks = tg_rec_header()->start_ticks;
        born_of.gen = forking.gen;
        /* The child marks itself (before it can end or exec): an exec'd image finds the mark,
         * and in it where to sign off. */
        char marker[TG_PATH_MAX + 32];
        heir_marker(marker, sizeof marker, self_pid);
        int fd = marker[0] ? tg_openat(AT_FDCWD, marker, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)
                           : -1;
        if (fd >= 0) {
            tg_write(fd, &born_of, sizeof born_of);
            tg_close(fd);
        }
    } else {
        born_of.pid = 0;
    }
    forking.gen = 0;
    maybe_heir = maybe_heir || tg_reg_pid != 0;
    handoff_parent.pid = 0;
    memset(ring, 0, sizeof ring);
    tg_signals_after_fork_child();
    tg_reg_after_fork_child();
}

/* Does the process PID have the shim loaded?  Asked only by hand-off programs, of their parent. */
static int runs_shim(pid_t pid)
{
    char path[64], buf[8192], num[21];
    strcpy(path, "/proc/");
    strcat(path, tg_fmt_u64(num, (unsigned)pid));
    strcat(path, "/maps");
    int fd = tg_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int found = 0;
    size_t keep = 0;
    long n;
    /* Read in pieces, carrying the tail over so that a name split between reads is still seen. */
    while (!found && (n = tg_read(fd, buf + keep, sizeof buf - 1 - keep)) > 0) {
        size_t len = keep + (size_t)n;
        buf[len] = '\0';
        found = strstr(buf, "libtmpguard") != NULL;
        keep = len > 32 ? 32 : len;
        memmove(buf, buf + len - keep, keep);
    }
    tg_close(fd);
    return found;
}

/* A hand-off program's caller may have started it without fork() (dash runs `mktemp >/dev/null`
 * through vfork, system() and posix_spawn clone): then nothing tells the caller at its end that a
 * record names it.  An empty marker does (read_marker); one that exists already (the caller is a
 * forked child, and says whose) stays as it is. */
static void mark_parent(pid_t parent)
{
    char marker[TG_PATH_MAX + 32];
    heir_marker(marker, sizeof marker, parent);
    if (!marker[0] || !tg_rec_state_dir_ok())
        return;
    int fd = tg_openat(AT_FDCWD, marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0)
        tg_close(fd);
}

const struct tg_proc_id *tg_handoff_parent(void) { return handoff_parent.pid ? &handoff_parent : NULL; }

/* glibc passes (argc, argv, envp) to initialisers of shared objects; musl passes nothing (the
 * registers hold whatever they held), and the __libc_start_main wrapper has reported them. */
__attribute__((constructor)) static void tg_load(int argc, char **argv, char **envp)
{
    (void)envp;
#ifndef __GLIBC__
    argc = main_argc;
    argv = main_argv ? main_argv : cmdline_args(&argc);
#endif
    tg_resolve_all();
    if (getauxval(AT_SECURE))
        return; /* set-user-ID or capability-elevated: do nothing at all */
    tg_config_load(argc > 0 && argv ? argv[0] : NULL);
    if (tg_cfg.mode == TG_MODE_OFF)
        return;
#ifndef __GLIBC__
    if (!argv) { /* the command-line rule cannot be kept */
        tg_log(TG_LOG_WARN, "command line unknown; temp files are not tracked");
        return;
    }
#endif
    if (tg_policy_init(argc, argv) < 0) {
        tg_log(TG_LOG_WARN, "starting directory unknown; temp files are not tracked");
        return;
    }
    self_pid = tg_getpid();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    /* Registered before main: runs after every atexit handler the program registers. */
#ifdef __GLIBC__
    on_exit(at_exit, NULL);
#else
    (void)atexit(at_exit); /* as on_exit: if it fails, the end through exit() goes unseen */
#endif
    if (tg_rec_adopt())
        tg_reg_adopted();
    tg_tracking = 1;
    if (tg_cfg.handoff) {
        /* mktemp and friends make files for their caller: when the caller runs the shim too, the
         * files are tracked and handed to it at the end; otherwise they are not tracked at all. */
        pid_t pp = getppid();
        if (pp > 1 && runs_shim(pp)) {
            handoff_parent.pid = pp;
            handoff_parent.gen = UINT32_MAX;
            handoff_parent.start_ticks = tg_proc_start_ticks(pp);
            mark_parent(pp);
        } else {
            tg_tracking = 0;
        }
    }
}
