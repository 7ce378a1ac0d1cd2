/* Concurrency torture: threads that create, remove, rename and publish with every API the shim
 * wraps, fork children that do work of their own, and exec, as fast as they can, until a fatal
 * signal arrives from outside.
 *
 *   torture NTHREADS ROOT PUBDIR FOREIGNDIR SEED
 *   torture exec-child ROOT STATUS        (what a forked child execs: makes files, exits STATUS)
 * and two small cases the torture found, for the test to run on their own:
 *   torture first-create ROOT DELAY_US [PADDING...]
 *   torture heir-late ROOT N
 *   torture heirs-at-once ROOT GATE NCHILDREN
 * (see first_create(), heir_late() and heirs_at_once() below).
 *
 * ROOT is the temp root, PUBDIR a directory outside every root, FOREIGNDIR (inside ROOT) holds
 * files the test made before: foreign-0..7 ("foreign K\n") and the directories fdir-0..1, each
 * with "inside" ("inside K\n").  This program opens those, with O_CREAT too, and creates scratch
 * files next to them, but never changes or removes them.
 *
 * What it leaves on purpose, and nothing else (the test checks exactly this after the signal):
 *   ROOT/ren-T-S     renamed inside the root (published there): S from 0 without gaps per thread T,
 *                    content "ren T S\n"
 *   ROOT/ok-*        outputs of children that exit 0 (a child that succeeds keeps them): "ok\n"
 *   PUBDIR/pub-T-S   published by rename from ROOT, S from 0 without gaps: a file "pub T S\n", or
 *                    a directory holding only "inner" with that content
 *   PUBDIR/keep-T-S  created outside the roots (never tracked), S from 0 without gaps: an empty
 *                    directory, or a file whose content is a prefix of "keep T S\n"
 * Everything else it creates is scratch (the mkstemp family, mkdtemp, exclusive private creates in
 * the root: removed whenever a process ends) or an output in the root of a process that fails
 * (this one dies of the signal; children that exit 1): it must all be gone once every process of
 * the tree has ended.  Each thread removes about two thirds of what it makes and leaves the rest,
 * so that the registry holds thousands of entries and its record grows while the signal may arrive.
 * Children are forked within the limits the README gives for handing files over to them (see
 * may_fork()), so that whatever is left at the end is due at some process's end.
 *
 * Prints "ready" once every thread has done a number of operations chosen from SEED (16 to 200).
 * Anything unexpected while alive (one of its own files gone, a foreign file changed, a child's
 * status) is reported on stderr as a line starting with "torture:". */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NFOREIGN 8
#define NFDIR 2
#define OWN_MAX 4096

static const char *root, *pubdir, *foreigndir, *self;
static int rootfd, pubfd, foreignfd;
static uint64_t seed;
static int nthreads, ready_after;
static atomic_int ready_threads;

static void complain(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(line, sizeof line, "torture: ");
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    if (write(2, line, (size_t)n) < 0)
        _exit(120);
}

/* Streams that write go unbuffered: a child forked by another thread while text sits in a
 * stream's buffer would write it a second time when it exits. */
static FILE *unbuffered(FILE *f)
{
    if (f)
        setvbuf(f, NULL, _IONBF, 0);
    return f;
}

static void put_fd(int fd, const char *text)
{
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n)
        complain("write: %s", strerror(errno));
}

/* A file just created through a descriptor FD or a stream F (whichever is set): its own path as
 * content, then closed.  Returns -1 when neither is set (the create failed). */
static int put_path(int fd, FILE *f, const char *p)
{
    if (fd >= 0) {
        put_fd(fd, p);
        close(fd);
    } else if (f) {
        fputs(p, f);
        fclose(f);
    } else {
        return -1;
    }
    return 0;
}

/* Something this thread made and may remove again: a file, or a directory holding INNER files
 * named i0, i1... */
struct own {
    char path[300];
    unsigned char dir, inner;
};

struct thr {
    int t;
    uint64_t rng;
    unsigned n;          /* names made so far, for unique names */
    unsigned pub, ren, keep; /* next sequence numbers */
    unsigned ops;
    int nown;
    struct own own[OWN_MAX];
};

static uint64_t rnd(struct thr *s)
{
    /* splitmix64 */
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned pick(struct thr *s, unsigned n) { return (unsigned)(rnd(s) % n); }

static void remember(struct thr *s, const char *path, int dir, int inner)
{
    if (s->nown >= OWN_MAX)
        return;
    struct own *o = &s->own[s->nown++];
    snprintf(o->path, sizeof o->path, "%s", path);
    o->dir = (unsigned char)dir;
    o->inner = (unsigned char)inner;
}

/* ---- creation: the mkstemp family ------------------------------------------------------------ */

/* A scratch file in DIR by one of the eight mkstemp-family calls; PATH receives its name. */
static int make_temp(struct thr *s, const char *dir, const char *prefix, char *path, size_t cap)
{
    int fd, v = (int)pick(s, 8);
    const char *suffix = v >= 4 ? ".tmp" : "";
    snprintf(path, cap, "%s/%s-%d-XXXXXX%s", dir, prefix, s->t, suffix);
    switch (v) {
    case 0: fd = mkstemp(path); break;
    case 1: fd = mkstemp64(path); break;
    case 2: fd = mkostemp(path, O_CLOEXEC); break;
    case 3: fd = mkostemp64(path, O_APPEND); break;
    case 4: fd = mkstemps(path, 4); break;
    case 5: fd = mkstemps64(path, 4); break;
    case 6: fd = mkostemps(path, 4, O_CLOEXEC); break;
    default: fd = mkostemps64(path, 4, O_SYNC); break;
    }
    if (fd < 0)
        complain("mkstemp variant %d in %s: %s", v, dir, strerror(errno));
    return fd;
}

/* Under TMPGUARD_MAX_AGE (some rounds) a scratch file of the thread's own that stayed idle may have
 * been reclaimed before the thread removes it: that is the point of the setting. */
static int reclaiming;

/* Under it, a directory the thread is about to fill is held open meanwhile, as a program that
 * wants it kept does: in use, never reclaimed.  Before the hold, it may already be gone (idle for
 * longer than the age): then -1 and errno ENOENT, which counts as reclaimed.  Otherwise -2: no hold
 * needed. */
static int hold_dir(const char *dir)
{
    if (!reclaiming)
        return -2;
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}
static void release_dir(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* Files i0.. inside DIR by assorted calls (outputs inside a mkdtemp or mkdir directory). */
static int fill_dir(struct thr *s, const char *dir)
{
    int n = 1 + (int)pick(s, 3);
    char p[300];
    int held = hold_dir(dir);
    if (held == -1 && errno == ENOENT)
        return 0; /* reclaimed before the thread came back to it */
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/i%d", dir, i);
        int fd = -1;
        FILE *f = NULL;
        switch (pick(s, 4)) {
        case 0: fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644); break;
        case 1: fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0600); break;
        case 2: fd = creat(p, 0644); break;
        default: f = unbuffered(fopen(p, "w")); break;
        }
        if (put_path(fd, f, p) < 0) {
            complain("cannot create %s: %s", p, strerror(errno));
            release_dir(held);
            return i;
        }
    }
    release_dir(held);
    return n;
}

/* ---- creation: anything else in the root ----------------------------------------------------- */

/* One new file or directory of this thread in the root, by a random API; remembered. */
static void create_one(struct thr *s)
{
    char p[300], name[64];
    int fd = -1, dir = 0, inner = 0;
    FILE *f = NULL;
    unsigned v = pick(s, 22);
    snprintf(name, sizeof name, "c-%d-%u", s->t, s->n++);
    snprintf(p, sizeof p, "%s/%s", root, name);
    switch (v) {
    case 0: case 1: case 2:
        fd = make_temp(s, root, "m", p, sizeof p);
        break;
    case 3: /* another thread's scratch next to the foreign files */
        fd = make_temp(s, foreigndir, "s", p, sizeof p);
        break;
    case 4: /* outside the roots the mkstemp family goes when the process fails */
        fd = make_temp(s, pubdir, "s", p, sizeof p);
        break;
    case 5: case 6: { /* mkdtemp, with files inside; inside the root or outside */
        snprintf(p, sizeof p, "%s/d-%d-XXXXXX", v == 5 ? root : pubdir, s->t);
        if (!mkdtemp(p)) {
            complain("mkdtemp: %s", strerror(errno));
            return;
        }
        dir = 1;
        inner = fill_dir(s, p);
        break;
    }
    case 7: fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0600); break;         /* exclusive private */
    case 8: fd = openat(rootfd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600); break;
    case 9: fd = open64(p, O_CREAT | O_EXCL | O_RDWR, 0600); break;
    case 10: fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644); break;     /* outputs */
    case 11: fd = open64(p, O_CREAT | O_RDWR, 0666); break;
    case 12: fd = openat64(rootfd, name, O_CREAT | O_WRONLY, 0644); break;
    case 13: fd = creat(p, 0644); break;
    case 14: fd = creat64(p, 0600); break;
    case 15: f = unbuffered(fopen(p, "w")); break;
    case 16: f = unbuffered(fopen64(p, "w+")); break;
    case 17: f = unbuffered(fopen(p, "a")); break;
    case 18: {
        FILE *old = fopen("/dev/null", "r");
        if (!old) {
            complain("fopen /dev/null: %s", strerror(errno));
            return;
        }
        f = unbuffered(freopen(p, "w", old)); /* closes OLD in any case */
        break;
    }
    case 19: case 20: /* plain directories, sometimes with files inside */
        if ((v == 19 ? mkdir(p, 0755) : mkdirat(rootfd, name, 0700)) < 0) {
            complain("mkdir %s: %s", p, strerror(errno));
            return;
        }
        dir = 1;
        inner = pick(s, 2) ? fill_dir(s, p) : 0;
        break;
    default: /* tmpfile: never a name to leave */
        f = tmpfile();
        if (!f)
            complain("tmpfile: %s", strerror(errno));
        else
            fclose(f);
        return;
    }
    if (!dir && put_path(fd, f, p) < 0) {
        if (v >= 7) /* make_temp complained already */
            complain("create %u %s: %s", v, p, strerror(errno));
        return;
    }
    remember(s, p, dir, inner);
}

/* ---- removal of its own ---------------------------------------------------------------------- */

/* unlink-like on a path of this thread that must exist: ENOENT means someone else removed it. */

static void gone(const char *what, const char *p, int r)
{
    if (r < 0 && !(reclaiming && errno == ENOENT))
        complain("%s %s: %s (a file of the program's own, removed behind its back?)", what, p, strerror(errno));
}

static void remove_file(struct thr *s, const char *p)
{
    const char *slash = strrchr(p, '/');
    size_t dl = (size_t)(slash - p);
    switch (pick(s, 4)) {
    case 0: gone("unlink", p, unlink(p)); break;
    case 1: gone("remove", p, remove(p)); break;
    case 2: gone("unlinkat", p, unlinkat(AT_FDCWD, p, 0)); break;
    default:
        if (strlen(root) == dl && strncmp(p, root, dl) == 0)
            gone("unlinkat(rootfd)", p, unlinkat(rootfd, slash + 1, 0));
        else
            gone("unlink", p, unlink(p));
    }
}

static void remove_one(struct thr *s)
{
    if (!s->nown)
        return;
    int i = (int)pick(s, (unsigned)s->nown);
    struct own o = s->own[i];
    s->own[i] = s->own[--s->nown];
    char p[320];
    if (!o.dir) {
        remove_file(s, o.path);
        return;
    }
    for (int k = 0; k < o.inner; k++) {
        snprintf(p, sizeof p, "%s/i%d", o.path, k);
        remove_file(s, p);
    }
    switch (pick(s, 3)) {
    case 0: gone("rmdir", o.path, rmdir(o.path)); break;
    case 1: gone("remove", o.path, remove(o.path)); break;
    default: gone("unlinkat(AT_REMOVEDIR)", o.path, unlinkat(AT_FDCWD, o.path, AT_REMOVEDIR)); break;
    }
}

/* ---- publishing ------------------------------------------------------------------------------ */

/* A file or directory made in the root, then renamed to PUBDIR/pub-T-S: published, never removed. */
static void publish(struct thr *s)
{
    char p[300], q[300], text[64], qname[64], inner[320];
    int fd, held = -2;
    unsigned v = pick(s, 5);
    snprintf(qname, sizeof qname, "pub-%d-%u", s->t, s->pub);
    snprintf(q, sizeof q, "%s/%s", pubdir, qname);
    snprintf(text, sizeof text, "pub %d %u\n", s->t, s->pub);
    if (v <= 2) {
        if (v == 0)
            fd = make_temp(s, root, "p", p, sizeof p);
        else {
            snprintf(p, sizeof p, "%s/p-%d-%u", root, s->t, s->n++);
            fd = v == 1 ? open(p, O_CREAT | O_EXCL | O_RDWR, 0600) : open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        }
        if (fd < 0) {
            complain("create %s: %s", p, strerror(errno));
            return;
        }
        put_fd(fd, text); /* still open when it is renamed: in use, never reclaimed before */
    } else {
        /* a directory with one file: the directory is published, its file with it */
        if (v == 3)
            snprintf(p, sizeof p, "%s/pd-%d-XXXXXX", root, s->t);
        else
            snprintf(p, sizeof p, "%s/pd-%d-%u", root, s->t, s->n++);
        if (v == 3 ? !mkdtemp(p) : mkdir(p, 0700) < 0) {
            complain("mkdir for publishing %s: %s", p, strerror(errno));
            return;
        }
        held = hold_dir(p); /* until it is published */
        if (held == -1 && errno == ENOENT)
            return; /* reclaimed before it was held: nothing to publish */
        snprintf(inner, sizeof inner, "%s/inner", p);
        fd = open(inner, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0) {
            complain("create %s: %s", inner, strerror(errno));
            release_dir(held);
            return;
        }
        put_fd(fd, text);
    }
    int r;
    switch (pick(s, 3)) {
    case 0: r = rename(p, q); break;
    case 1: r = renameat(rootfd, strrchr(p, '/') + 1, pubfd, qname); break;
    default: r = renameat2(AT_FDCWD, p, AT_FDCWD, q, RENAME_NOREPLACE); break;
    }
    close(fd);
    release_dir(held);
    if (r == 0)
        s->pub++;
    else
        complain("rename %s -> %s: %s", p, q, strerror(errno));
}

/* A file made in the root and renamed to ROOT/ren-T-S: published inside the root. */
static void rename_in_root(struct thr *s)
{
    char p[300], qname[64], text[64];
    int fd;
    FILE *f = NULL;
    snprintf(qname, sizeof qname, "ren-%d-%u", s->t, s->ren);
    snprintf(text, sizeof text, "ren %d %u\n", s->t, s->ren);
    /* Each still open when it is renamed: in use, never reclaimed before. */
    fd = -1;
    switch (pick(s, 3)) {
    case 0:
        fd = make_temp(s, root, "r", p, sizeof p);
        if (fd < 0)
            return;
        put_fd(fd, text);
        break;
    case 1:
        snprintf(p, sizeof p, "%s/r-%d-%u", root, s->t, s->n++);
        f = unbuffered(fopen(p, "w"));
        if (!f) {
            complain("fopen %s: %s", p, strerror(errno));
            return;
        }
        fputs(text, f);
        break;
    default:
        snprintf(p, sizeof p, "%s/r-%d-%u", root, s->t, s->n++);
        fd = openat(rootfd, strrchr(p, '/') + 1, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0) {
            complain("openat %s: %s", p, strerror(errno));
            return;
        }
        put_fd(fd, text);
    }
    int r = pick(s, 2) ? renameat(rootfd, strrchr(p, '/') + 1, rootfd, qname) : renameat2(AT_FDCWD, p, rootfd, qname, 0);
    if (fd >= 0)
        close(fd);
    if (f)
        fclose(f);
    if (r == 0)
        s->ren++;
    else
        complain("rename %s -> %s: %s", p, qname, strerror(errno));
}

/* Outside the roots other creations are never tracked: PUBDIR/keep-T-S stay. */
static void keep_outside(struct thr *s)
{
    char p[300], text[64];
    snprintf(p, sizeof p, "%s/keep-%d-%u", pubdir, s->t, s->keep);
    snprintf(text, sizeof text, "keep %d %u\n", s->t, s->keep);
    int fd = -1;
    FILE *f = NULL;
    switch (pick(s, 4)) {
    case 0: fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0600); break; /* private, but not in a root */
    case 1: fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644); break;
    case 2: f = unbuffered(fopen(p, "w")); break;
    default:
        if (mkdir(p, 0700) == 0) {
            s->keep++;
            return;
        }
        break;
    }
    if (fd >= 0) {
        s->keep++;
        put_fd(fd, text);
        close(fd);
    } else if (f) {
        s->keep++;
        fputs(text, f);
        fclose(f);
    } else {
        complain("create %s: %s", p, strerror(errno));
    }
}

/* ---- foreign files: opened, even with O_CREAT, never changed --------------------------------- */

static void touch_foreign(struct thr *s)
{
    char p[300], want[64], got[64];
    unsigned k = pick(s, NFOREIGN);
    snprintf(p, sizeof p, "%s/foreign-%u", foreigndir, k);
    snprintf(want, sizeof want, "foreign %u\n", k);
    int fd = -1;
    FILE *f = NULL;
    switch (pick(s, 8)) {
    case 0: fd = open(p, O_CREAT | O_WRONLY, 0644); break;
    case 1: fd = open(p, O_CREAT | O_RDWR, 0600); break; /* private mode, but no O_EXCL */
    case 2: fd = openat(foreignfd, strrchr(p, '/') + 1, O_CREAT | O_RDONLY, 0600); break;
    case 3:
        fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd >= 0) {
            complain("%s was missing: O_EXCL created it", p);
            close(fd);
        }
        return;
    case 4: f = fopen(p, "a"); break;
    case 5: {
        unsigned d = pick(s, NFDIR);
        snprintf(p, sizeof p, "%s/fdir-%u", foreigndir, d);
        if (mkdir(p, 0700) == 0 || errno != EEXIST)
            complain("mkdir %s: the foreign directory was missing (%s)", p, strerror(errno));
        snprintf(p, sizeof p, "%s/fdir-%u/inside", foreigndir, d);
        snprintf(want, sizeof want, "inside %u\n", d);
        f = fopen(p, "a");
        break;
    }
    default: f = fopen(p, "r"); break;
    }
    if (fd >= 0)
        close(fd);
    else if (f)
        fclose(f);
    else {
        complain("open %s: %s", p, strerror(errno));
        return;
    }
    /* still the test's content */
    fd = open(p, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, got, sizeof got - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n < 0 || (size_t)n != strlen(want) || memcmp(got, want, (size_t)n) != 0)
        complain("foreign file %s changed or unreadable", p);
}

/* ---- children -------------------------------------------------------------------------------- */

/* A child's work: scratch files of its own (removed, or sometimes left for the shim), then its
 * output (kept when it succeeds, removed when it fails). */
static void child_work(struct thr *s, int status)
{
    char p[300];
    int n = 1 + (int)pick(s, 3), leave = (int)pick(s, 3) == 0;
    pid_t me = getpid();
    for (int i = 0; i < n; i++) {
        int fd;
        if (pick(s, 2))
            fd = make_temp(s, root, "k", p, sizeof p);
        else {
            snprintf(p, sizeof p, "%s/k-%d-%d", root, (int)me, i);
            fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0600);
        }
        if (fd < 0)
            _exit(90);
        put_fd(fd, p);
        close(fd);
        if (!(leave && i == 0) && unlink(p) < 0)
            _exit(91);
    }
    snprintf(p, sizeof p, "%s/%s-%d", root, status ? "bad" : "ok", (int)me);
    int fd = pick(s, 2) ? open(p, O_CREAT | O_EXCL | O_WRONLY, 0644) : creat(p, 0644);
    if (fd < 0)
        _exit(92);
    put_fd(fd, status ? "bad\n" : "ok\n");
    close(fd);
}

/* The record names only the last 24 children, and the shim remembers only the last 256 forks
 * (entries older than a forgotten child are kept): files kept at the end for a child outside those
 * are left for the reaper, by design (README).  So that everything is due at some process's end,
 * this program forks at most FORK_BUDGET times, and not while a child it forked FORK_WINDOW forks
 * ago may still run. */
#define FORK_BUDGET 240
#define FORK_WINDOW 16
static pthread_mutex_t fork_gate = PTHREAD_MUTEX_INITIALIZER;
static unsigned forks_begun, live_fork[64]; /* per thread: 1 + number of its running child's fork */

static int may_fork(struct thr *s)
{
    int ok = 1;
    pthread_mutex_lock(&fork_gate);
    for (int t = 0; t < nthreads && ok; t++)
        ok = !live_fork[t] || forks_begun - (live_fork[t] - 1) < FORK_WINDOW - 1;
    ok = ok && forks_begun < FORK_BUDGET;
    if (ok)
        live_fork[s->t] = 1 + forks_begun++;
    pthread_mutex_unlock(&fork_gate);
    return ok;
}

static void child_gone(struct thr *s)
{
    pthread_mutex_lock(&fork_gate);
    live_fork[s->t] = 0;
    pthread_mutex_unlock(&fork_gate);
}

static void run_child(struct thr *s, int do_exec)
{
    int status = (int)pick(s, 2), how = (int)pick(s, 3);
    if (!may_fork(s))
        return;
    pid_t pid = fork();
    if (pid < 0) {
        complain("fork: %s", strerror(errno));
        child_gone(s);
        return;
    }
    if (pid == 0) {
        s->rng ^= (uint64_t)getpid() << 32;
        if (do_exec) {
            char p[300], st[4];
            if (pick(s, 2)) {
                /* made before exec: the exec'd image owns it and removes it when it ends */
                int fd = make_temp(s, root, "e", p, sizeof p);
                if (fd < 0)
                    _exit(93);
                close(fd);
            }
            snprintf(st, sizeof st, "%d", status);
            execl(self, self, "exec-child", root, st, (char *)NULL);
            _exit(94);
        }
        child_work(s, status);
        if (how == 0)
            _exit(status);
        exit(status);
    }
    int st;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    child_gone(s);
    if (w != pid)
        complain("waitpid %d: %s", (int)pid, strerror(errno));
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != status)
        complain("child %d (%s) ended with status 0x%x, not exit %d", (int)pid, do_exec ? "exec" : "fork", st,
                 status);
}

static int exec_child(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    const char *r = argv[2];
    int status = atoi(argv[3]);
    char p[300];
    snprintf(p, sizeof p, "%s/x-%d-XXXXXX", r, (int)getpid());
    int fd = mkstemp(p); /* left for the shim */
    if (fd < 0)
        return 95;
    close(fd);
    snprintf(p, sizeof p, "%s/y-%d", r, (int)getpid());
    fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || unlink(p) < 0)
        return 96;
    close(fd);
    snprintf(p, sizeof p, "%s/%s-%d-x", r, status ? "bad" : "ok", (int)getpid());
    FILE *f = fopen(p, "w");
    if (!f)
        return 97;
    fputs(status ? "bad\n" : "ok\n", f);
    fclose(f);
    exit(status);
}

/* ---- the threads ----------------------------------------------------------------------------- */

static void *worker(void *arg)
{
    struct thr *s = arg;
    for (;;) {
        unsigned v = pick(s, 1000);
        /* Removal less often than creation: the registry keeps growing. */
        if (v < 330)
            remove_one(s);
        else if (v < 800)
            create_one(s);
        else if (v < 850)
            publish(s);
        else if (v < 880)
            rename_in_root(s);
        else if (v < 900)
            keep_outside(s);
        else if (v < 980)
            touch_foreign(s);
        else if (v < 996)
            run_child(s, 0);
        else
            run_child(s, 1);
        if (++s->ops == (unsigned)ready_after)
            atomic_fetch_add(&ready_threads, 1);
    }
    return NULL;
}

/* ---- two cases on their own ------------------------------------------------------------------ */

static void *first_file(void *arg)
{
    char p[300];
    snprintf(p, sizeof p, "%s/a-XXXXXX", (const char *)arg);
    int fd = mkstemp(p);
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* One thread makes the process's first temp file while another forks DELAY_US later; the child
 * makes a temp file of its own and exits.  The shim does some work once, on the first file (a
 * long command line, PADDING, makes it longer): a fork in the middle of it must not leave the
 * child stuck.  Exits 0, or 3 (with "hung" on stdout) when the child did not end within 3 s. */
static int first_create(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    char *r = argv[2];
    pthread_t th;
    if (pthread_create(&th, NULL, first_file, r) != 0)
        return 2;
    usleep((useconds_t)atoi(argv[3]));
    pid_t pid = fork();
    if (pid == 0) {
        char p[300];
        snprintf(p, sizeof p, "%s/b-XXXXXX", r);
        int fd = mkstemp(p);
        _exit(fd >= 0 ? 0 : 1);
    }
    int st = 0;
    for (int i = 0; i < 3000 && waitpid(pid, &st, WNOHANG) == 0; i++)
        usleep(1000);
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        if (write(1, "hung\n", 5) != 5)
            return 4;
        return 3;
    }
    pthread_join(th, NULL);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* A file made before a fork, N outputs made after it, then death by SIGTERM.  The child (forked
 * after the file, so the file is handed to it) ends as soon as its parent's cleanup has begun,
 * that is when ROOT/late-0 is removed: while the parent is still removing the other outputs.
 * When both are gone, so must be the file, and the parent's record. */
static int heir_late(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    const char *r = argv[2];
    int n = atoi(argv[3]);
    char p[300], late0[300];
    snprintf(p, sizeof p, "%s/early-XXXXXX", r);
    int fd = mkstemp(p);
    if (fd < 0)
        return 2;
    close(fd);
    snprintf(late0, sizeof late0, "%s/late-0", r);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 30000 && (i == 0 || access(late0, F_OK) == 0); i++)
            usleep(100);
        exit(0);
    }
    if (pid < 0)
        return 2;
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/late-%d", r, i);
        fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644); /* outputs: they go, as the process fails */
        if (fd < 0)
            return 2;
        close(fd);
    }
    raise(SIGTERM);
    return 5;
}

/* A scratch file, then NCHILDREN children that wait for GATE to exist; the parent makes GATE and
 * exits at once, so that the children end while the parent hands the file over to them, and
 * while each other ends.  Whoever ends last must remove the file. */
static int heirs_at_once(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    char p[300];
    snprintf(p, sizeof p, "%s/early-XXXXXX", argv[2]);
    int fd = mkstemp(p), n = atoi(argv[4]);
    if (fd < 0 || n < 1 || n > 8)
        return 2;
    close(fd);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            /* Bounded: a parent that never opens the gate must not leave children behind. */
            for (long k = 0; k < 20000000 && access(argv[3], F_OK) != 0; k++)
                sched_yield();
            exit(0);
        }
        if (pid < 0)
            return 2;
    }
    fd = open(argv[3], O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return 2;
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
        return exec_child(argc, argv);
    if (argc > 1 && strcmp(argv[1], "first-create") == 0)
        return first_create(argc, argv);
    if (argc > 1 && strcmp(argv[1], "heir-late") == 0)
        return heir_late(argc, argv);
    if (argc > 1 && strcmp(argv[1], "heirs-at-once") == 0)
        return heirs_at_once(argc, argv);
    if (argc != 6)
        return 2;
    reclaiming = getenv("TMPGUARD_MAX_AGE") != NULL;
    nthreads = atoi(argv[1]);
    root = argv[2];
    pubdir = argv[3];
    foreigndir = argv[4];
    seed = strtoull(argv[5], NULL, 10);
    if (nthreads < 1 || nthreads > 64)
        return 2;
    ready_after = 16 + (int)(seed * 2654435761u % 185);
    rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    pubfd = open(pubdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    foreignfd = open(foreigndir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0 || pubfd < 0 || foreignfd < 0)
        return 3;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int t = 0; t < nthreads; t++) {
        struct thr *s = calloc(1, sizeof *s);
        pthread_t th;
        if (!s)
            return 3;
        s->t = t;
        s->rng = seed * 0x2545f4914f6cdd1dull + (uint64_t)t * 0x9e3779b97f4a7c15ull + 1;
        if (pthread_create(&th, &attr, worker, s) != 0)
            return 3;
    }
    while (atomic_load(&ready_threads) < nthreads)
        usleep(500);
    if (write(1, "ready\n", 6) != 6)
        return 4;
    for (;;)
        pause();
}
