#include "heirs.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "config.h"
#include "cs.h"
#include "fmt.h"
#include "proc.h"
#include "reap.h"
#include "record.h"
#include "registry.h"
#include "sys.h"

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

/* Forks made by this process since load (or its own fork): entries record the count. */
_Atomic uint32_t tg_heirs_fork_count;
#define fork_count tg_heirs_fork_count
/* This process started a program without fork() (vfork, posix_spawn): a hand-off program among them
 * may have named it as its heir (mark_caller). */
static _Atomic int spawned;
/* This process may be named as an heir in another record: a child of a process that tracked
 * files, or a process that took entries over and passed them on to its children. */
static int maybe_heir;
/* This process's pid as of load or its fork: a vfork child, which shares the parent's memory and
 * ran no fork handler, has another pid and must not act on the parent's forks. */
static int self_pid;
/* A hand-off program (mktemp) whose caller runs the shim: its files go to the caller. */
static struct tg_proc_id handoff_caller;
/* A forked child: the parent (pid and start time) and the fork's gen, whose slot in the parent's
 * record the child signs off in at its end even if the parent has not filled it in yet.  An exec'd
 * image gets it back through the environment (tg_heirs_exec_note).  pid 0: not a child of a process
 * with a record. */
static struct tg_proc_id born_of;
/* The fork in progress on this thread: its gen, and the heirs' slot reserved for its child (-1:
 * none).  Set by tg_heirs_fork_prepare, read on both sides of the fork. */
static __thread struct {
    uint32_t gen;
    int slot;
} forking __attribute__((tls_model("initial-exec")));

/* Taken when first needed, not at load (no system call at start-up).  A vfork child never takes it:
 * its own pid would land in its parent's memory (cs.h). */
int tg_heirs_self(void)
{
    int pid = __atomic_load_n(&self_pid, __ATOMIC_RELAXED);
    if (!pid && !tg_tls.vfork) {
        pid = tg_getpid();
        __atomic_store_n(&self_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

static uint64_t pid_gen(int32_t pid, uint32_t gen)
{
    struct tg_proc_id id = {.pid = pid, .gen = gen, .start_ticks = 0};
    return id.pid_gen;
}

/* STATE_DIR/PID.heir: a hand-off program named PID, its caller, as its heir (mark_caller). */
static void heir_marker(char *buf, size_t size, int pid)
{
    struct tg_buf b;
    tg_buf_init(&b, buf, size - 1);
    tg_buf_str(&b, tg_cfg.state_dir);
    tg_buf_str(&b, "/");
    tg_buf_u64(&b, (unsigned)pid);
    tg_buf_str(&b, ".heir");
    buf[b.cut ? 0 : b.len] = '\0';
}

/* A hand-off program's caller may have started it without fork() (dash runs `mktemp >/dev/null`
 * through vfork, system() and posix_spawn clone): then nothing tells the caller at its end that a
 * record names it.  An empty marker does (read_marker); one that exists already (the caller is a
 * forked child, and says whose) stays as it is. */
static void mark_caller(pid_t parent)
{
    char marker[TG_PATH_MAX + 32];
    heir_marker(marker, sizeof marker, parent);
    if (!marker[0] || !tg_rec_state_dir_ok())
        return;
    int fd = tg_openat(AT_FDCWD, marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0)
        tg_close(fd);
}

void tg_heirs_handoff_to(pid_t caller)
{
    handoff_caller.pid = caller;
    handoff_caller.gen = UINT32_MAX;
    handoff_caller.start_ticks = tg_proc_start_ticks(caller);
    tg_rec_name_heir(&handoff_caller);
    mark_caller(caller);
}

/* fork_prepare, under the registry's lock: the fork's gen, and a slot for the child among the
 * heirs in the record, reserved before the child exists.  The child may reach its end before
 * fork() has returned in the parent; it finds the slot by its gen and signs off in it. */
void tg_heirs_fork_prepare(void)
{
    int pid = tg_getpid();
    forking.slot = -1;
    forking.gen = 0;
    /* A vfork child that forks is not this process: its child is not ours to count. */
    if (pid != tg_heirs_self())
        return;
    forking.gen = atomic_fetch_add(&fork_count, 1) + 1;
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

void tg_heirs_forked(pid_t child)
{
    uint32_t gen = forking.gen;
    int i = forking.slot;
    forking.gen = 0;
    if (!gen)
        return; /* no fork handlers: the shim does nothing in this process */
    ring_put(child, gen, tg_realtime_ns());
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

uint32_t tg_heirs_keep_below(void)
{
    if (handoff_caller.pid && tg_proc_alive(&handoff_caller))
        return UINT32_MAX;
    uint32_t count = atomic_load(&fork_count), keep = 0;
    if (count > RING)
        keep = count - RING; /* children that fell out of the ring: assume alive */
    for (uint32_t i = 0; i < RING && i < count; i++) {
        struct forked c = ring_get(i);
        if (c.gen > keep && c.pid > 0 && tg_pid_alive(c.pid) && !signed_off(c.pid, c.gen))
            keep = c.gen;
    }
    return keep;
}

void tg_heirs_mark_ended(void)
{
    /* Set before the children's sign-offs are read again, both sequentially consistent
     * (recfmt.h): a child that ends now either has signed off already, and is seen gone, or sees
     * ENDED and takes the entries itself. */
    __atomic_fetch_or(&tg_rec_header()->flags, TG_REC_ENDED, __ATOMIC_SEQ_CST);
}

/* An inherited entry stays while a child of this process, forked after the entry was made, is
 * alive: `f=$(mktemp); daemon --config "$f" &; exit` must not pull the file from under the daemon. */
static int child_may_use(const struct tg_rec_entry *e, void *arg)
{
    (void)arg;
    uint32_t count = atomic_load(&fork_count);
    for (uint32_t i = 0; i < RING && i < count; i++) {
        struct forked c = ring_get(i);
        if (c.pid > 0 && c.when_ns >= e->ctime_ns && tg_pid_alive(c.pid))
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
    uint32_t count = atomic_load(&fork_count);
    for (uint32_t i = 0; i < RING && i < count; i++) {
        struct forked c = ring_get(i);
        if (c.pid <= 0 || !tg_pid_alive(c.pid))
            continue;
        struct tg_proc_id *slot = &h->heirs[__atomic_fetch_add(&h->nheirs, 1, __ATOMIC_SEQ_CST) % TG_MAX_HEIRS];
        /* The pid last: a reader that sees the slot half written sees pid 0, no process. */
        __atomic_store_n(&slot->pid_gen, pid_gen(0, UINT32_MAX), __ATOMIC_SEQ_CST);
        __atomic_store_n(&slot->start_ticks, tg_proc_start_ticks(c.pid), __ATOMIC_SEQ_CST);
        __atomic_store_n(&slot->pid_gen, pid_gen(c.pid, UINT32_MAX), __ATOMIC_SEQ_CST);
    }
}

/* Records left by processes that named this one as their heir (a daemon's parent, mktemp for its
 * shell): this process's end is theirs too.  Their leaks are reported as reaped, under their own
 * pid and program. */
static struct tg_report inherit_report;
static void take_over(void)
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
                                .report = NULL, .arg = NULL, .keep = child_may_use,
                                .leaks = tg_cfg.report != TG_REPORT_OFF ? &inherit_report : NULL};
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

/* Reads this process's marker, if there is one (a hand-off program named it: see mark_caller), and
 * notes that this process may be an heir.  Returns 1 when there was one. */
static int read_marker(const char *marker)
{
    /* A look first: nearly every process has no marker, and an fstatat is all that costs it. */
    struct stat st;
    if (tg_fstatat(AT_FDCWD, marker, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    maybe_heir = 1;
    return 1;
}

void tg_heirs_before_uid_change(void)
{
    char marker[TG_PATH_MAX + 32];
    int now = tg_getpid();
    if (now != tg_heirs_self() || !tg_cfg.state_dir[0] || tg_cfg.mode == TG_MODE_OFF)
        return;
    heir_marker(marker, sizeof marker, now);
    /* Once the process is another user it may no longer remove the marker from this user's state
     * directory: what it says is kept in memory instead, and the file goes now. */
    if (marker[0] && read_marker(marker))
        tg_unlinkat(AT_FDCWD, marker, 0);
}

void tg_heirs_spawned(void) { atomic_store_explicit(&spawned, 1, memory_order_relaxed); }

int tg_heirs_inherit(void)
{
    char marker[TG_PATH_MAX + 32];
    /* A process that started nobody and is no child of a process with a record cannot be named in
     * any record: it ends without a look (no system call). */
    if (!maybe_heir && !atomic_load(&fork_count) && !atomic_load_explicit(&spawned, memory_order_relaxed))
        return 0;
    int now = tg_getpid();
    if (now != tg_heirs_self() || !tg_cfg.state_dir[0] || tg_cfg.mode == TG_MODE_OFF)
        return 0; /* a vfork child sharing the parent's memory, or nowhere to look */
    heir_marker(marker, sizeof marker, now);
    /* A process that started a hand-off program without fork() (vfork, posix_spawn) knows it may
     * be an heir only from the marker that program left (mark_caller). */
    int marked = marker[0] && read_marker(marker);
    if (!maybe_heir && !marked && !atomic_load(&fork_count))
        return 0; /* it only spawned, and nobody marked it */
    take_over();
    if (marked || (maybe_heir && marker[0]))
        tg_unlinkat(AT_FDCWD, marker, 0);
    return 1;
}

void tg_heirs_exec_note(struct tg_buf *b)
{
    if (!maybe_heir && !born_of.pid)
        return;
    tg_buf_str(b, TG_HEIR_VAR "=");
    tg_buf_u64(b, (unsigned)tg_heirs_self());
    tg_buf_str(b, ":");
    tg_buf_u64(b, (unsigned)(born_of.pid > 0 ? born_of.pid : 0));
    tg_buf_str(b, ":");
    tg_buf_u64(b, born_of.start_ticks);
    tg_buf_str(b, ":");
    tg_buf_u64(b, born_of.gen);
}

void tg_heirs_from_exec(void)
{
    const struct tg_heir_note *n = &tg_cfg.heir_note;
    /* Only the very process it was written for: a program that is not shimmed (a static binary)
     * passes the variable on to its own children, which are not heirs of anything. */
    if (!n->self || n->self != tg_heirs_self())
        return;
    maybe_heir = 1;
    born_of = n->parent;
}

void tg_heirs_fork_child(void)
{
    __atomic_store_n(&self_pid, tg_getpid(), __ATOMIC_RELAXED);
    if (forking.slot >= 0 && tg_rec_is_file()) {
        born_of.pid = tg_rec_header()->pid;
        born_of.start_ticks = tg_rec_header()->start_ticks;
        born_of.gen = forking.gen;
    } else {
        born_of.pid = 0;
    }
    forking.gen = 0;
    maybe_heir = maybe_heir || tg_reg_pid != 0;
    handoff_caller.pid = 0;
    atomic_store(&fork_count, 0);
    atomic_store(&spawned, 0);
    memset(ring, 0, sizeof ring);
}

