/* Reclaiming while the process runs.
 *
 * A long-running service that catches an error and serves on leaks a scratch file per failed
 * request; tmpguard would remove them only when the service ends, which may be months away.  With
 * TMPGUARD_MAX_AGE, an entry that goes whenever its owner ends (scratch: the mkstemp family,
 * mkdtemp and hand-off directories, an exclusive private create in a temp root) is removed while the
 * owner still runs, once it is idle for longer than the age.  Idle means all of:
 *
 *   - no descriptor of the owner refers to it (a directory tree: to it or to anything inside);
 *   - no memory mapping of the owner refers to it (ImageMagick maps its pixel cache, then closes);
 *   - no living descendant of the owner has it open or mapped, nor a tree as its directory;
 *   - it was not created, written (mtime, ctime: also a rename into place), or opened again by name
 *     by the owner (noted by the open wrappers, tg_reclaim_note_open) within the age;
 *
 * and where the /proc of the owner or of a descendant cannot be read, nothing is idle: unknown
 * means in use.  TMPGUARD_MAX_FILES and TMPGUARD_MAX_BYTES make the oldest idle entries go first,
 * even before the age, while the owner holds more scratch than that; never one in use.
 *
 * No thread and no timer: the sweep runs inside the owner's own creating calls, at most once a
 * second, and its work is bounded per call (SCAN_BLOCKS, CANDIDATES below), so a service holding
 * 100,000 files never stalls a request for a full scan: a round over the record is spread over
 * many sweeps.  A process that stops creating has stopped leaking too, and what it holds goes when
 * it ends.  Removal is the verified one of the end (sweep.c, remover.c); the entry is forgotten;
 * in audit mode it is reported once and kept.  At TMPGUARD_LOG=debug every decision is logged
 * with its reason. */
#include "reclaim.h"

#include <dirent.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "counters.h"
#include "cs.h"
#include "fmt.h"
#include "log.h"
#include "path.h"
#include "proc.h"
#include "record.h"
#include "registry.h"
#include "report.h"
#include "sweep.h"
#include "sys.h"

int tg_reclaim_on;

/* "At most once per second": a sweep costs a read of /proc/self/fd and /proc/self/maps when there
 * are candidates; once a second keeps that far below any request's own work. */
#define SWEEP_EVERY_MS 1000
/* Blocks of the record looked at per sweep, in memory only (about 10 ns each): a round over
 * 100,000 entries takes 25 sweeps, and no sweep looks at more than this. */
#define SCAN_BLOCKS 4096
/* Entries that are old enough, looked at closely per sweep (an fstatat each, and one read of the
 * owner's and its descendants' /proc for all of them together). */
#define CANDIDATES 64
/* Descendants whose /proc is read; a tree larger than this is unknown: everything is in use. */
#define MAX_DESCENDANTS 256
/* A directory tree is looked into for its newest change, down to this many entries; a larger one
 * counts as in use (its files are written too often to be idle, or it is too big to tell). */
#define TREE_ENTRIES 2048

static _Atomic long long next_sweep_ms; /* CLOCK_MONOTONIC */
static _Atomic int sweeping;            /* a sweep is under way: its state below is in use */
static uint32_t cursor;                 /* where the round over the record is; the sweeper's own */

void tg_reclaim_init(void) { tg_reclaim_on = tg_cfg.max_age_ms || tg_cfg.max_files || tg_cfg.max_bytes; }

static long long clock_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts); /* the vDSO: no system call */
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tg_reclaim_note_open(const char *path)
{
    size_t len = strlen(path);
    const char *slash = memrchr(path, '/', len), *name = slash ? slash + 1 : path;
    size_t n = len - (size_t)(name - path);
    if (!n || (name[0] == '.' && (n == 1 || (n == 2 && name[1] == '.'))))
        return;
    uint32_t h = tg_reg_hash(name, n);
    if (tg_reg_may_hold_h(h))
        tg_reg_note_use(name, n, h, (uint32_t)(clock_ms(CLOCK_REALTIME_COARSE) / 1000));
}

/* When E was last opened by name, rounded up to the end of its second (it is kept in seconds): a
 * file read every 300 ms is never older than that. */
static long long used_ms(struct tg_rec_entry *e)
{
    uint32_t s = atomic_load(&e->used_s);
    return s ? ((long long)s + 1) * 1000 : 0;
}

/* ---- one sweep ------------------------------------------------------------------------------- */

struct cand {
    struct tg_rec_entry *e;
    int tree;             /* a directory that goes with its contents */
    long long last_ms;    /* the newest of its creation, change, write, and open by name */
    uint64_t bytes;
    const char *why;      /* why it stays (NULL: idle) */
    int chosen;           /* over the limits: one of the oldest, which go */
    int settled;          /* given back to the registry (released, or dropped) */
    uint32_t site;        /* its call site's block, read when it was picked (under the lock) */
};

struct sweep {
    struct cand c[CANDIDATES];
    int n;
    int trees;            /* candidates that are trees: paths of descriptors are needed */
    const char *why_all;  /* set when nothing can be decided (unreadable /proc) */
    int next;             /* the removal's position (the sweep's source) */
};

/* Whether PATH (LEN bytes, as /proc gives it) lies inside the tree at E's path. */
static int inside(const struct tg_rec_entry *e, const char *path, size_t len)
{
    return len > e->pathlen && path[e->pathlen] == '/' && memcmp(path, e->path, e->pathlen) == 0;
}

/* What a process holds (tg_proc_each_fd, tg_proc_each_map): the candidates it refers to are in
 * use.  WHY says how. */
struct held {
    struct sweep *s;
    const char *why;
};

static int held(void *arg, int fd, uint64_t dev, uint64_t ino, const char *path, size_t len)
{
    (void)fd;
    struct held *h = arg;
    for (int i = 0; i < h->s->n; i++) {
        struct cand *c = &h->s->c[i];
        if (c->why)
            continue;
        /* The object itself (device and inode; a mapping of a deleted file still names its
         * inode), or for a tree anything below its path. */
        if ((c->e->dev == dev && c->e->ino == ino) ||
            (len >= c->e->pathlen && memcmp(path, c->e->path, c->e->pathlen) == 0 &&
             (len == c->e->pathlen || path[c->e->pathlen] == ' ')) ||
            (c->tree && inside(c->e, path, len)))
            c->why = h->why;
    }
    return 0;
}

/* The descriptors, mappings and (for trees) current directory of PID (0: this process).  -1 when
 * any of them cannot be read. */
static int look_at(struct sweep *s, int pid, int self)
{
    struct held fd = {s, self ? "open by the process" : "open by a descendant"};
    struct held map = {s, self ? "mapped by the process" : "mapped by a descendant"};
    if (tg_proc_each_fd(pid, s->trees, held, &fd) < 0 || tg_proc_each_map(pid, held, &map) < 0)
        return -1;
    if (s->trees) {
        char cwd[TG_PATH_MAX];
        struct held here = {s, self ? "the process's directory" : "a descendant's directory"};
        if (tg_proc_cwd(pid, cwd, sizeof cwd) < 0)
            return -1;
        (void)held(&here, -1, 0, 0, cwd, strlen(cwd));
    }
    return 0;
}

struct family {
    int pid[MAX_DESCENDANTS];
    int n, overflow;
};

static void add_child(void *arg, int pid)
{
    struct family *f = arg;
    if (f->n < MAX_DESCENDANTS)
        f->pid[f->n++] = pid;
    else
        f->overflow = 1;
}

static int remaining(const struct sweep *s)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += !s->c[i].why;
    return n;
}

/* Whether a descendant holds a candidate: read only while some candidate is still idle. */
static int look_at_descendants(struct sweep *s)
{
    struct family f = {.n = 0, .overflow = 0};
    if (tg_proc_children(0, add_child, &f) < 0)
        return -1;
    for (int i = 0; i < f.n && remaining(s); i++) {
        if (tg_proc_children(f.pid[i], add_child, &f) < 0 || f.overflow)
            return -1;
        if (look_at(s, f.pid[i], 0) < 0 && tg_pid_alive(f.pid[i]))
            return -1; /* a descendant that exists but cannot be read */
    }
    return f.overflow ? -1 : 0;
}

/* The newest change below the tree at DFD (bounded): -1 when it cannot be told. */
static long long newest_in(int dfd, int depth, int *budget)
{
    char dents[4096];
    long long newest = 0;
    long n;
    while ((n = tg_getdents64(dfd, dents, sizeof dents)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(dents + off);
            off += d->d_reclen;
            if (d->d_name[0] == '.' && (!d->d_name[1] || (d->d_name[1] == '.' && !d->d_name[2])))
                continue;
            struct stat st;
            if (--*budget < 0 || depth > 16)
                return -1;
            if (tg_fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;
            long long t = (long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
            long long c = (long long)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000;
            newest = t > newest ? t : newest;
            newest = c > newest ? c : newest;
            if (S_ISDIR(st.st_mode)) {
                int sub = tg_openat(dfd, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
                long long inner = sub >= 0 ? newest_in(sub, depth + 1, budget) : -1;
                if (sub >= 0)
                    tg_close(sub);
                if (inner < 0)
                    return -1;
                newest = inner > newest ? inner : newest;
            }
        }
    }
    return n < 0 ? -1 : newest;
}

/* ---- the removal, as the sweep's source ------------------------------------------------------ */

static int chosen_rewind(void *self)
{
    ((struct sweep *)self)->next = 0;
    return 0;
}

static int chosen_next(void *self, struct tg_rec_entry **e)
{
    struct sweep *s = self;
    while (s->next < s->n && s->c[s->next].why)
        s->next++;
    if (s->next >= s->n)
        return 0;
    *e = s->c[s->next++].e;
    return 1;
}

static struct cand *cand_of(struct sweep *s, const struct tg_rec_entry *e)
{
    for (int i = 0; i < s->n; i++)
        if (s->c[i].e == e)
            return &s->c[i];
    return NULL;
}

/* A candidate given back to its owner (FLAGS added), once. */
static void settle(struct cand *c, uint8_t flags)
{
    if (c && !c->settled) {
        c->settled = 1;
        tg_reg_release(c->e, flags);
    }
}

/* The open-by-name mark read again, just before the removal: an open of the name that the program
 * made after the look above (tg_reg_note_use stores before the program's open) keeps the entry. */
static int chosen_take(void *self, struct tg_rec_entry *e)
{
    struct cand *c = cand_of(self, e);
    if (!c || c->settled)
        return 0;
    if (used_ms(e) > c->last_ms) {
        tg_log(TG_LOG_DEBUG, "reclaim: kept ", e->path, ": opened by name just now");
        settle(c, 0);
        return 0;
    }
    return 1;
}

static void chosen_put_back(void *self, struct tg_rec_entry *e) { settle(cand_of(self, e), 0); }

/* The leak report of one sweep (report.h): one sweeper at a time. */
static struct tg_report sweep_report;
static struct tg_tally swept; /* what one sweep removed, for the state directory's counters */

static void chosen_report(void *self, const struct tg_rec_entry *ce, enum tg_outcome o, uint64_t bytes)
{
    struct tg_rec_entry *e = (struct tg_rec_entry *)ce; /* the registry's own block */
    struct cand *c = cand_of(self, e);
    if (o == TG_REMOVED) {
        tg_reg_count_reclaimed(bytes);
        tg_tally_removed(&swept, bytes);
    }
    if (o == TG_REMOVED || o == TG_WOULD)
        tg_report_leak(&sweep_report, e, bytes, o == TG_REMOVED, c ? tg_reg_site_at(c->site) : NULL);
    if (o == TG_WOULD) {
        tg_say("audit: would reclaim ", e->path, " (idle; the process runs on)");
        settle(c, TG_E_AUDITED);
    } else if (o == TG_NOT_EMPTY) {
        tg_log(TG_LOG_DEBUG, "reclaim: kept ", e->path, ": a directory that is not empty");
        settle(c, 0);
    } else if (c && !c->settled) {
        tg_log(o == TG_REMOVED ? TG_LOG_INFO : TG_LOG_DEBUG, o == TG_REMOVED ? "reclaimed " : "reclaim: forgot ",
               e->path, o == TG_REMOVED ? " (idle, the process runs on)" : ": gone or replaced");
        c->settled = 1;
        tg_reg_drop(e);
    }
}

/* ---- the sweep ------------------------------------------------------------------------------- */

static int over_limits(void)
{
    return (tg_cfg.max_files && atomic_load(&tg_reg_scratch) > tg_cfg.max_files) ||
           (tg_cfg.max_bytes && atomic_load(&tg_reg_scratch_kb) * 1024 > tg_cfg.max_bytes);
}

static void kept(struct cand *c, const char *why)
{
    tg_log(TG_LOG_DEBUG, "reclaim: kept ", c->e->path, ": ", why);
    settle(c, 0);
}

/* Which entries a sweep looks at closely: scratch old enough by what the registry knows (under
 * the registry's lock: every field is stable). */
struct want {
    long long now_ms, age;
    int over, audit;
    uint32_t site; /* of the entry last looked at */
};
static long long last_use_ms(const struct tg_rec_entry *e)
{
    long long made = e->ctime_ns / 1000000, used = used_ms((struct tg_rec_entry *)e);
    return made > used ? made : used;
}
static int wanted(const struct tg_rec_entry *e, void *arg)
{
    struct want *w = arg;
    w->site = tg_rec_entry_site(e);
    /* (A staged write waiting for its commit is the program's file, not a leak: atomic.c.) */
    return e->when == TG_WHEN_ENDS && e->kind != TG_K_STAGED && !(w->audit && (e->flags & TG_E_AUDITED)) &&
           (w->over || (w->age && w->now_ms - last_use_ms(e) >= w->age));
}

/* Over TMPGUARD_MAX_FILES or TMPGUARD_MAX_BYTES: the idle candidates beyond what brings the
 * process back under the limits keep their place, the oldest go. */
static void only_oldest(struct sweep *s)
{
    uint64_t files = atomic_load(&tg_reg_scratch), kb = atomic_load(&tg_reg_scratch_kb);
    for (;;) {
        int oldest = -1;
        for (int i = 0; i < s->n; i++)
            if (!s->c[i].why && !s->c[i].chosen && (oldest < 0 || s->c[i].last_ms < s->c[oldest].last_ms))
                oldest = i;
        if (oldest < 0)
            break;
        if ((tg_cfg.max_files && files > tg_cfg.max_files) || (tg_cfg.max_bytes && kb * 1024 > tg_cfg.max_bytes)) {
            files--;
            kb -= kb > s->c[oldest].bytes / 1024 ? s->c[oldest].bytes / 1024 : kb;
            s->c[oldest].chosen = 1;
        } else {
            s->c[oldest].why = "younger than the age, and the limits are kept without it";
        }
    }
}

static void sweep(long long now_ms)
{
    static struct sweep s; /* one sweeper at a time (sweeping), and 3 KiB off the stack */
    long long age = (long long)tg_cfg.max_age_ms;
    int over = over_limits(), audit = tg_cfg.mode == TG_MODE_AUDIT;
    uint32_t budget = SCAN_BLOCKS;
    struct tg_rec_entry *e;
    struct want w = {now_ms, age, over, audit, 0};
    s.n = s.trees = 0;
    s.why_all = NULL;
    /* Memory only: scratch entries that are old enough by what the registry knows, each claimed
     * (the sweep's until it gives it back: never freed and made again under it). */
    while (s.n < CANDIDATES && (e = tg_reg_pick(&cursor, &budget, wanted, &w)) != NULL) {
        struct cand *c = &s.c[s.n++];
        c->e = e;
        c->tree = S_ISDIR(e->mode) && e->kind == TG_K_MKDTEMP;
        c->last_ms = last_use_ms(e);
        c->bytes = 0;
        c->why = NULL;
        c->chosen = 0;
        c->settled = 0;
        c->site = w.site;
        s.trees += c->tree;
    }
    if (!s.n)
        return;
    /* Each one as it is now: still the object that was made, and not changed within the age. */
    for (int i = 0; i < s.n; i++) {
        struct cand *c = &s.c[i];
        struct stat st;
        if (tg_fstatat(AT_FDCWD, c->e->path, &st, AT_SYMLINK_NOFOLLOW) < 0 || (uint64_t)st.st_dev != c->e->dev ||
            (uint64_t)st.st_ino != c->e->ino) {
            c->why = "gone or replaced (left to the end)";
            continue;
        }
        long long t = (long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        long long ch = (long long)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000;
        c->last_ms = t > c->last_ms ? t : c->last_ms;
        c->last_ms = ch > c->last_ms ? ch : c->last_ms;
        c->bytes = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        tg_reg_set_size(c->e, (uint32_t)((c->bytes + 1023) / 1024));
        if (c->tree) {
            int budget_tree = TREE_ENTRIES;
            int dfd = tg_openat(AT_FDCWD, c->e->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
            long long inner = dfd >= 0 ? newest_in(dfd, 0, &budget_tree) : -1;
            if (dfd >= 0)
                tg_close(dfd);
            if (inner < 0) {
                c->why = "a tree too large or unreadable to tell";
                continue;
            }
            c->last_ms = inner > c->last_ms ? inner : c->last_ms;
        }
        if (!over && now_ms - c->last_ms < age)
            c->why = "written or changed within the age";
    }
    /* What the process and its descendants hold: once for all candidates. */
    if (remaining(&s) && look_at(&s, 0, 1) < 0)
        s.why_all = "this process's /proc cannot be read";
    if (!s.why_all && remaining(&s) && look_at_descendants(&s) < 0)
        s.why_all = "a descendant's /proc cannot be read";
    for (int i = 0; i < s.n; i++)
        if (!s.c[i].why && s.why_all)
            s.c[i].why = s.why_all;
    if (over)
        only_oldest(&s);
    for (int i = 0; i < s.n; i++)
        if (s.c[i].why)
            kept(&s.c[i], s.c[i].why);
    if (!remaining(&s))
        return;
    struct tg_sweep_src src = {chosen_rewind, chosen_next, chosen_take, chosen_put_back, chosen_report, NULL, &s};
    struct tg_sweep_opts so = {.dry = audit, .guard = NULL, .phase = TG_SWEEP_ALL, .stride = 0, .offset = 0,
                               .report_kept_dirs = 0};
    tg_report_begin(&sweep_report, tg_reg_pid, tg_rec_header()->program, audit ? TG_CAUSE_AUDIT : TG_CAUSE_MAX_AGE);
    swept = (struct tg_tally){0, 0};
    tg_sweep(&src, &so);
    tg_report_end(&sweep_report);
    if (tg_rec_is_file())
        tg_counters_add_removed(-1, tg_cfg.state_dir, TG_CAUSE_MAX_AGE, swept.files, swept.bytes);
    /* Whatever the removal did not come to is its owner's again. */
    for (int i = 0; i < s.n; i++)
        settle(&s.c[i], 0);
}

void tg_reclaim_after_fork_child(void)
{
    /* A sweep under way on another thread of the parent is not the child's: the child owns nothing
     * yet, and sweeps its own from its first create on. */
    atomic_store(&sweeping, 0);
    atomic_store(&next_sweep_ms, 0);
    cursor = 0;
}

void tg_reclaim_tick(void)
{
    if (!tg_reclaim_on || !tg_reg_pid)
        return;
    long long now = clock_ms(CLOCK_MONOTONIC_COARSE), due = atomic_load_explicit(&next_sweep_ms, memory_order_relaxed);
    /* One thread sweeps: whoever moves the next time on, unless a sweep is still under way (one
     * that took longer than the interval: a slow /proc, a loaded machine). */
    if (now < due || !atomic_compare_exchange_strong(&next_sweep_ms, &due, now + SWEEP_EVERY_MS) ||
        atomic_exchange(&sweeping, 1))
        return;
    sweep(clock_ms(CLOCK_REALTIME_COARSE));
    atomic_store(&sweeping, 0);
}
