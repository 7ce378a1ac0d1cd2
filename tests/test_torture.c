/* Concurrency torture: 16 threads creating, removing, renaming and publishing with every API,
 * forking children that work and exit, exec'ing, while a fatal signal of every kind arrives from
 * outside at a random moment (tests/victims/torture.c says what the victim does and leaves).
 *
 * After each round, once every process of the victim's tree has ended: no deadlock (every wait is
 * bounded), death by the very signal sent, nothing left in the root but what is kept on purpose,
 * every published file there and intact, the foreign files untouched, no record left, and no
 * reap needed for any of it.
 *
 * TG_TORTURE_ROUNDS=N sets the number of rounds (default 200, and an eighth of that again with the
 * victim stopped when the signal is sent; 50 with the sanitized library, which is slower).  Each
 * round's seed decides the victim's moves, the signal and the delay: TG_TORTURE_SEED=S starts from
 * seed S (a failure names its round's seed).  At most MAX_FAILED failed rounds are described, then
 * the test gives up.
 *
 * The last two tests are the smallest cases of what the rounds found, on their own. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../shim/record.h"
#include "harness.h"

#define NTHREADS 16
#define NFOREIGN 8
#define NFDIR 2
#define MAXSEQ 100000
/* A round is a deadlock when its processes make no progress (output, CPU time, processes starting
 * or ending) for tg_limit_ms(ROUND_LIMIT_MS), the limit scaled to the machine and the
 * instrumentation; one that is still busy at 10 times that is called stuck all the same. */
#define ROUND_LIMIT_MS 10000
#define MAX_FAILED 3         /* rounds reported before giving up */

static struct fx f;
static char foreign[400];

static void setup(void)
{
    fx_setup(&f);
    /* Children the victim leaves behind when it dies come to this process: a stuck one can be
     * named, and killed, instead of outliving the test. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static void teardown(void) { fx_teardown(&f); }
TestSuite(torture, .init = setup, .fini = teardown, .timeout = 900);

static const char *torture_path(void)
{
    const char *t = getenv("TG_TORTURE");
    cr_assert(t && *t, "TG_TORTURE not set: run the tests with meson test");
    return t;
}

static int rounds_wanted(void)
{
    const char *n = getenv("TG_TORTURE_ROUNDS");
    if (n && *n)
        return atoi(n);
    /* Only the sanitize setup preloads something of its own (ASan's runtime and the sanitized
     * library), and that is several times slower. */
    const char *pre = getenv("TG_PRELOAD");
    return pre && *pre ? 50 : 200;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned long long base_seed(void)
{
    const char *s = getenv("TG_TORTURE_SEED");
    if (s && *s)
        return strtoull(s, NULL, 10);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000) * 1000 +
           (unsigned long long)getpid() % 1000;
}

/* A fresh root (with the foreign files in it), publishing directory and state directory. */
static void fresh_dirs(void)
{
    rm_rf(f.root);
    rm_rf(f.out);
    rm_rf(f.state);
    cr_assert(mkdir(f.root, 0755) == 0 && mkdir(f.out, 0755) == 0 && mkdir(f.state, 0700) == 0);
    snprintf(foreign, sizeof foreign, "%s/foreign", f.root);
    cr_assert(mkdir(foreign, 0755) == 0);
    char p[600], text[64];
    for (int k = 0; k < NFOREIGN; k++) {
        snprintf(p, sizeof p, "%s/foreign-%d", foreign, k);
        snprintf(text, sizeof text, "foreign %d\n", k);
        put(p, text);
    }
    for (int d = 0; d < NFDIR; d++) {
        snprintf(p, sizeof p, "%s/fdir-%d", foreign, d);
        cr_assert(mkdir(p, 0755) == 0);
        snprintf(p, sizeof p, "%s/fdir-%d/inside", foreign, d);
        snprintf(text, sizeof text, "inside %d\n", d);
        put(p, text);
    }
}

/* ---- what went wrong in a round, as one message --------------------------------------------- */

struct verdict {
    char msg[6000];
    size_t len;
    int orphans, wrong;
};

static void note(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct verdict *v, const char *fmt, ...)
{
    va_list ap;
    if (v->len + 400 >= sizeof v->msg)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(v->msg + v->len, sizeof v->msg - v->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        v->len += (size_t)n < sizeof v->msg - v->len ? (size_t)n : sizeof v->msg - v->len - 1;
}

static void orphan(struct verdict *v, const char *where, const char *name, int dir)
{
    if (v->orphans++ < 12)
        note(v, "orphan %s%s%s; ", where, name, dir ? "/" : "");
    else if (v->orphans == 13)
        note(v, "...; ");
}

/* ---- the processes of a round ----------------------------------------------------------------- */

/* Reads both pipes until LINE has arrived on stdout (LINE non-NULL) or both are at EOF (every
 * process holding them is gone), or until the watch W expires (*HOW says how).  Returns 1 when
 * done in time. */
static int drain(struct proc *p, const char *line, struct tg_watch *w, int *how)
{
    size_t ll = line ? strlen(line) : 0;
    for (;;) {
        if (line)
            for (const char *l = p->r->out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, line, ll) == 0 && l[ll] == '\n')
                    return 1;
        if (p->outfd < 0 && p->errfd < 0)
            return line == NULL;
        if ((*how = tg_watch_expired(w, p->outlen + p->errlen)))
            return 0;
        struct pollfd pf[2] = {{p->outfd, POLLIN, 0}, {p->errfd, POLLIN, 0}};
        if (poll(pf, 2, 100) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            int *fd = i ? &p->errfd : &p->outfd;
            if (*fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char *buf = i ? p->r->err : p->r->out;
            size_t cap = (i ? sizeof p->r->err : sizeof p->r->out) - 1, *len = i ? &p->errlen : &p->outlen;
            char scratch[4096];
            ssize_t n = read(*fd, *len < cap ? buf + *len : scratch, *len < cap ? cap - *len : sizeof scratch);
            if (n <= 0) {
                close(*fd);
                *fd = -1;
            } else if (*len < cap) {
                *len += (size_t)n;
                buf[*len] = '\0';
            }
        }
    }
}

static void close_pipes(struct proc *p)
{
    if (p->outfd >= 0)
        close(p->outfd);
    if (p->errfd >= 0)
        close(p->errfd);
    p->outfd = p->errfd = -1;
}

/* The processes below this one (the victim, its children, and what they left to this process). */
static int descendants(pid_t *out, int max)
{
    static pid_t pid[32768], ppid[32768];
    int n = 0, found = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) && n < 32768;) {
        char path[300], buf[600];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        char *rp = strrchr(buf, ')'), state;
        int pp;
        if (rp && sscanf(rp + 1, " %c %d", &state, &pp) == 2) {
            pid[n] = atoi(e->d_name);
            ppid[n++] = pp;
        }
    }
    closedir(d);
    out[found++] = getpid();
    for (int i = 0; i < found; i++) /* breadth first from this process */
        for (int j = 0; j < n && found < max; j++)
            if (ppid[j] == out[i])
                out[found++] = pid[j];
    for (int i = 1; i < found; i++)
        out[i - 1] = out[i];
    return found - 1;
}

static void read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    for (ssize_t i = 0; i + 1 < n; i++)
        if (buf[i] == '\n')
            buf[i] = ' ';
}

/* Where a process blocked in futex() waits: ", on a futex at FILE:0xADDR", ADDR in FILE's own
 * addresses (as nm shows them; .bss lies in the anonymous mapping right after the file's last
 * one), so that a lock inherited locked across fork can be named. */
static void futex_place(pid_t pid, char *out, size_t cap)
{
    char path[64], sc[300], line[700], file[512], last[512] = "";
    unsigned long addr, start, end, off, last_base = 0, last_end = 0;
    long nr;
    out[0] = '\0';
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    read_small(path, sc, sizeof sc);
    if (sscanf(sc, "%ld %lx", &nr, &addr) != 2 || nr != SYS_futex)
        return;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *m = fopen(path, "r");
    while (m && fgets(line, sizeof line, m)) {
        file[0] = '\0';
        if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %511s", &start, &end, &off, file) < 3)
            continue;
        if (addr >= start && addr < end) {
            const char *f = file[0] == '/' ? file : !file[0] && start == last_end && last[0] ? last : NULL;
            unsigned long base = file[0] == '/' ? start - off : last_base;
            if (f)
                snprintf(out, cap, ", on a futex at %s:0x%lx", strrchr(f, '/') + 1, addr - base);
            else
                snprintf(out, cap, ", on a futex in %s", file[0] ? file : "anonymous memory");
            break;
        }
        if (file[0] == '/') {
            snprintf(last, sizeof last, "%s", file);
            last_base = start - off;
        }
        last_end = end;
    }
    if (m)
        fclose(m);
}

/* The other threads of PID, each with its state and where it waits; the signals pending for the
 * process as a whole, and those it blocks (the first thread), ignores and catches. */
static void describe_threads(struct verdict *v, pid_t pid)
{
    char path[100], buf[300], wchan[64], futex[600];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        int tid = atoi(e->d_name);
        if (tid <= 0 || tid == pid)
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, tid);
        read_small(path, buf, sizeof buf);
        const char *rp = strrchr(buf, ')');
        snprintf(path, sizeof path, "/proc/%d/task/%d/wchan", (int)pid, tid);
        read_small(path, wchan, sizeof wchan);
        futex_place(tid, futex, sizeof futex);
        note(v, "; thread %d state %c in %s%s", tid, rp ? rp[2] : '?', wchan[0] ? wchan : "-", futex);
    }
    if (d)
        closedir(d);
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char status[4096];
    ssize_t n = fd >= 0 ? read(fd, status, sizeof status - 1) : -1;
    if (fd >= 0)
        close(fd);
    status[n > 0 ? n : 0] = '\0';
    for (const char *k = "ShdPnd:\0SigBlk:\0SigIgn:\0SigCgt:\0"; *k; k += strlen(k) + 1) {
        const char *at = strstr(status, k);
        if (at)
            note(v, "; %s %.16s", k, at + strlen(k) + 1);
    }
}

/* gdb's path when it is installed (in PATH), else NULL. */
static const char *gdb_path(void)
{
    static char found[4200];
    static int looked;
    if (!looked) {
        looked = 1;
        const char *path = getenv("PATH");
        char dirs[4096];
        snprintf(dirs, sizeof dirs, "%s", path && *path ? path : "/usr/bin:/bin");
        for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            snprintf(found, sizeof found, "%s/gdb", d);
            if (access(found, X_OK) == 0)
                return found;
        }
        found[0] = '\0';
    }
    return found[0] ? found : NULL;
}

/* The stacks of every thread of PID, taken by gdb (when installed) while the process is still
 * stuck, written to this test's stderr (the test log) between two marker lines.  Bounded: gdb that
 * has not finished within LIMIT_MS is killed.  Returns 1 when stacks were written. */
static int gdb_stacks(pid_t pid, const char *who, long limit_ms)
{
    const char *gdb = gdb_path();
    if (!gdb)
        return 0;
    char out[700], pidarg[32];
    snprintf(out, sizeof out, "%s/gdb-%d.txt", f.base, (int)pid);
    snprintf(pidarg, sizeof pidarg, "%d", (int)pid);
    fflush(NULL);
    pid_t g = fork();
    if (g < 0)
        return 0;
    if (g == 0) {
        setpgid(0, 0);
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || null < 0)
            _exit(127);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(gdb, "gdb", "-nx", "-batch", "-p", pidarg, "-ex", "set pagination off", "-ex", "set width 0",
              "-ex", "thread apply all bt", (char *)NULL);
        _exit(127);
    }
    setpgid(g, g);
    long end = now_ms() + limit_ms;
    int st = 0, done = 0;
    while (!(done = waitpid(g, &st, WNOHANG) == g) && now_ms() < end)
        usleep(20000);
    if (!done) {
        kill(-g, SIGKILL);
        kill(g, SIGKILL);
        waitpid(g, &st, 0);
    }
    char *text = slurp(out); /* the first 64 KiB */
    unlink(out);
    /* The frames and thread headers only: gdb's chatter about symbols and threads is dropped. */
    fprintf(stderr, "---- stacks of pid %d (%s) by gdb%s ----\n", (int)pid, who, done ? "" : ", which was killed unfinished");
    int frames = 0;
    for (int pass = 0; pass < 2 && !frames; pass++) {
        int lines = 0;
        for (char *l = text, *nl; l && *l && lines < 60; l = nl ? nl + 1 : NULL) {
            nl = strchr(l, '\n');
            int len = nl ? (int)(nl - l) : (int)strlen(l);
            if (pass == 1) /* no stack at all: what gdb said instead */
                fprintf(stderr, "%.*s\n", len, l), lines++;
            else if (!strncmp(l, "Thread ", 7) || l[0] == '#')
                fprintf(stderr, "%.*s\n", len, l), frames++;
        }
    }
    fprintf(stderr, "---- end of stacks of pid %d ----\n", (int)pid);
    free(text);
    return 1;
}

/* Names every process still there (what it runs, where it waits), takes the stacks of those not
 * already ended (gdb, when installed), then kills them all and collects them. */
static void name_and_kill_stuck(struct verdict *v, pid_t victim)
{
    pid_t all[256];
    int n = descendants(all, 256);
    int stacks = 0;
    for (int i = 0; i < n && stacks < 4; i++)
        if (!pid_dead(all[i]))
            stacks += gdb_stacks(all[i], all[i] == victim ? "the victim" : "a process of its tree", tg_limit_ms(30000));
    if (stacks)
        note(v, "stacks of %d of its processes by gdb in the test's log; ", stacks);
    for (int i = 0; i < n; i++) {
        char path[64], cmd[600] = "", wchan[64], stat[300];
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)all[i]);
        read_small(path, cmd, sizeof cmd); /* argv[0] NUL argv[1] ... */
        snprintf(path, sizeof path, "/proc/%d/wchan", (int)all[i]);
        read_small(path, wchan, sizeof wchan);
        snprintf(path, sizeof path, "/proc/%d/stat", (int)all[i]);
        read_small(path, stat, sizeof stat);
        const char *rp = strrchr(stat, ')'), *base = strrchr(cmd, '/');
        const char *arg1 = cmd + strlen(cmd) + 1;
        char futex[600];
        futex_place(all[i], futex, sizeof futex);
        note(v, "still there: pid %d, %s%s, state %c, waiting in %s%s", (int)all[i],
             all[i] == victim ? "the victim" : base ? base + 1 : cmd,
             all[i] != victim && !strcmp(arg1, "exec-child") ? " exec-child" : all[i] != victim ? " (forked)" : "",
             rp ? rp[2] : '?', wchan[0] ? wchan : "-", futex);
        describe_threads(v, all[i]);
        note(v, "; ");
    }
    /* Afresh: with gdb's time gone by, a pid listed above may have ended and been given to another
     * process since.  Every process below this one is the round's (a subreaper). */
    n = descendants(all, 256);
    for (int i = 0; i < n; i++)
        kill(all[i], SIGKILL);
    for (int i = 0; i < n; i++)
        waitpid(all[i], NULL, 0);
}

/* Waits for the victim until the watch W expires (*HOW says how); 0 when it did not go in time. */
static int reap_victim(pid_t pid, int *status, struct tg_watch *w, int *how)
{
    for (;;) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got == pid)
            return 1;
        if (got < 0 || (*how = tg_watch_expired(w, 0)))
            return 0;
        usleep(2000);
    }
}

/* The verdict on a wait that expired: no progress is a deadlock; progress to the end of the
 * longest wait allowed is a round that does not end (a livelock, or a machine far too slow). */
static void note_stuck(struct verdict *v, const char *what, const struct tg_watch *w, int how)
{
    note(v, "%s: %s %s; ", how == TG_WATCH_CAP ? "NO END" : "DEADLOCK", what, tg_watch_why(w, how));
}

/* Children the victim left to this process, gone by now (their pipes are closed). */
static void reap_adopted(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* ---- what must be on disk after a round ------------------------------------------------------ */

static int is_file_with(const char *path, const char *want, int prefix_ok)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    char *c = slurp(path);
    int ok = c && (prefix_ok ? strncmp(want, c, strlen(c)) == 0 : strcmp(c, want) == 0);
    free(c);
    return ok;
}

static int is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* A series numbered per thread from 0 (NAME-T-S): how many are there, and the highest number. */
struct series {
    int count[NTHREADS];
    long max[NTHREADS];
};

static void series_init(struct series *x)
{
    for (int t = 0; t < NTHREADS; t++) {
        x->count[t] = 0;
        x->max[t] = -1;
    }
}

static int parse_ts(const char *name, const char *prefix, int *t, long *s)
{
    size_t pl = strlen(prefix);
    char tail;
    if (strncmp(name, prefix, pl) != 0 || sscanf(name + pl, "%d-%ld%c", t, s, &tail) != 2)
        return 0;
    return *t >= 0 && *t < NTHREADS && *s >= 0 && *s < MAXSEQ;
}

static void seen(struct series *x, int t, long s)
{
    x->count[t]++;
    if (s > x->max[t])
        x->max[t] = s;
}

/* A gap in a series is a removal: of a published file, or of one the shim never tracked. */
static void check_series(struct verdict *v, const struct series *x, const char *what)
{
    for (int t = 0; t < NTHREADS; t++)
        if (x->count[t] != x->max[t] + 1) {
            v->wrong++;
            note(v, "REMOVED %ld of %s-%d-0..%ld; ", x->max[t] + 1 - x->count[t], what, t, x->max[t]);
        }
}

/* The foreign files exactly as the test made them, and nothing else beside them. */
static void check_foreign(struct verdict *v)
{
    char p[700], text[64];
    for (int k = 0; k < NFOREIGN; k++) {
        snprintf(p, sizeof p, "%s/foreign-%d", foreign, k);
        snprintf(text, sizeof text, "foreign %d\n", k);
        if (!is_file_with(p, text, 0)) {
            v->wrong++;
            note(v, "FOREIGN foreign-%d removed or changed; ", k);
        }
    }
    for (int d = 0; d < NFDIR; d++) {
        snprintf(p, sizeof p, "%s/fdir-%d", foreign, d);
        if (!is_dir(p) || entries(p) != 1) {
            v->wrong++;
            note(v, "FOREIGN fdir-%d removed, or holds %d entries; ", d, entries(p));
        }
        snprintf(p, sizeof p, "%s/fdir-%d/inside", foreign, d);
        snprintf(text, sizeof text, "inside %d\n", d);
        if (!is_file_with(p, text, 0)) {
            v->wrong++;
            note(v, "FOREIGN fdir-%d/inside removed or changed; ", d);
        }
    }
    DIR *dir = opendir(foreign);
    if (!dir)
        return;
    for (struct dirent *e; (e = readdir(dir));) {
        int k;
        char tail;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((sscanf(e->d_name, "foreign-%d%c", &k, &tail) == 1 && k >= 0 && k < NFOREIGN) ||
            (sscanf(e->d_name, "fdir-%d%c", &k, &tail) == 1 && k >= 0 && k < NFDIR))
            continue;
        snprintf(p, sizeof p, "%s/%s", foreign, e->d_name);
        orphan(v, "foreign/", e->d_name, is_dir(p));
    }
    closedir(dir);
}

/* The root holds the foreign directory, the files renamed inside it (ren-T-S) and the outputs of
 * children that succeeded (ok-*); anything else is an orphan. */
static void check_root(struct verdict *v)
{
    struct series ren;
    series_init(&ren);
    DIR *d = opendir(f.root);
    if (!d) {
        v->wrong++;
        note(v, "the root is gone; ");
        return;
    }
    char p[600], text[64];
    for (struct dirent *e; (e = readdir(d));) {
        const char *n = e->d_name;
        int t;
        long s;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "foreign"))
            continue;
        snprintf(p, sizeof p, "%s/%s", f.root, n);
        if (parse_ts(n, "ren-", &t, &s)) {
            snprintf(text, sizeof text, "ren %d %ld\n", t, s);
            if (!is_file_with(p, text, 0)) {
                v->wrong++;
                note(v, "CHANGED %s; ", n);
            }
            seen(&ren, t, s);
        } else if (strncmp(n, "ok-", 3) != 0 || !is_file_with(p, "ok\n", 0)) {
            orphan(v, "", n, is_dir(p));
        }
    }
    closedir(d);
    check_series(v, &ren, "ren");
    if (is_dir(foreign))
        check_foreign(v);
    else {
        v->wrong++;
        note(v, "FOREIGN the foreign directory is gone; ");
    }
}

/* The publishing directory holds what was published (pub-T-S) and what was created outside the
 * roots (keep-T-S); the mkstemp and mkdtemp scratch made there (s-*, d-*) must be gone. */
static void check_pubdir(struct verdict *v)
{
    struct series pub, keep;
    series_init(&pub);
    series_init(&keep);
    DIR *d = opendir(f.out);
    if (!d) {
        v->wrong++;
        note(v, "the publishing directory is gone; ");
        return;
    }
    char p[600], q[700], text[64];
    for (struct dirent *e; (e = readdir(d));) {
        const char *n = e->d_name;
        int t;
        long s;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", f.out, n);
        if (parse_ts(n, "pub-", &t, &s)) {
            snprintf(text, sizeof text, "pub %d %ld\n", t, s);
            snprintf(q, sizeof q, "%s/inner", p);
            if (!is_file_with(p, text, 0) && !(is_dir(p) && entries(p) == 1 && is_file_with(q, text, 0))) {
                v->wrong++;
                note(v, "CHANGED published %s (or its inner file); ", n);
            }
            seen(&pub, t, s);
        } else if (parse_ts(n, "keep-", &t, &s)) {
            snprintf(text, sizeof text, "keep %d %ld\n", t, s);
            if (!is_file_with(p, text, 1) && !(is_dir(p) && entries(p) == 0)) {
                v->wrong++;
                note(v, "CHANGED %s; ", n);
            }
            seen(&keep, t, s);
        } else {
            orphan(v, "outside the roots: ", n, is_dir(p));
        }
    }
    closedir(d);
    check_series(v, &pub, "pub");
    check_series(v, &keep, "keep");
}

/* A record left behind, described: whose, and for which child its entries were kept. */
static void describe_record(struct verdict *v, const char *name, pid_t victim)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", f.state, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= (off_t)TG_CHUNK0 && st.st_size < (64 << 20) &&
        (buf = malloc((size_t)st.st_size)) && read(fd, buf, (size_t)st.st_size) == st.st_size) {
        const struct tg_rec_header *h = (const void *)buf;
        uint32_t hw = h->hw_cells, live = 0, maxlive = 0, minclaimed = UINT32_MAX;
        if ((uint64_t)hw * TG_CELL > (uint64_t)st.st_size)
            hw = (uint32_t)(st.st_size / TG_CELL);
        for (uint32_t c = h->header_cells; c < hw;) {
            const struct tg_rec_entry *e = (const void *)(buf + (size_t)c * TG_CELL);
            if (e->cells == 0)
                break;
            c += e->cells;
            uint32_t s = e->state;
            if (e->owner != h->pid)
                continue;
            if (s == TG_LIVE) {
                live++;
                maxlive = e->fork_gen > maxlive ? e->fork_gen : maxlive;
            } else if (s == TG_CLAIMED && e->fork_gen < minclaimed) {
                minclaimed = e->fork_gen;
            }
        }
        uint32_t nh = h->nheirs < TG_MAX_HEIRS ? h->nheirs : TG_MAX_HEIRS, lo = UINT32_MAX, hi = 0;
        int named = 0, signed_off = 0;
        for (uint32_t i = 0; i < nh; i++) {
            uint32_t g = h->heirs[i].gen;
            lo = g < lo ? g : lo;
            hi = g > hi ? g : hi;
            named |= live && g > maxlive && g <= minclaimed;
            signed_off |= live && g == maxlive + 1 && h->heirs[i].pid < 0;
        }
        note(v, "RECORD %s left by pid %d%s%s: %u entries still listed", name, h->pid,
             h->pid == victim ? " (the victim)" : "", h->flags & TG_REC_ENDED ? ", which ended through the shim" : "",
             live);
        /* Entries made before fork #K were kept for a child alive at the end: K is above every kept
         * entry's fork count and at most the lowest of those removed at the end. */
        if (live && (h->flags & TG_REC_ENDED))
            note(v, ", all made before its fork #%u: kept for the child of fork #%u%s, which the record %s",
                 maxlive + 1, maxlive + 1, minclaimed != UINT32_MAX && minclaimed > maxlive + 1 ? " or later" : "",
                 !named       ? "does NOT name as an heir"
                 : signed_off ? "names as an heir that signed off (that child ended without taking them over)"
                              : "names as an heir that did not sign off");
        if (nh)
            note(v, "; it named %u children, the last %u of forks #%u to #%u", h->nheirs, nh, lo, hi);
        note(v, "; ");
    } else {
        note(v, "RECORD %s left (unreadable); ", name);
    }
    free(buf);
    if (fd >= 0)
        close(fd);
}

static void check_state(struct verdict *v, pid_t victim)
{
    DIR *d = opendir(f.state);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        /* The counters outlive every process by design (tmpguard stats). */
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "counters"))
            continue;
        v->wrong++;
        if (l > 5 && !strcmp(e->d_name + l - 5, ".heir"))
            note(v, "HEIR MARKER %s left; ", e->d_name);
        else
            describe_record(v, e->d_name, victim);
    }
    closedir(d);
}

/* ---- rounds ---------------------------------------------------------------------------------- */

static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM,
                           SIGPIPE, SIGXCPU, SIGVTALRM, SIGPROF, SIGSYS, 0 /* SIGRTMIN + 2 */};
#define NSIGS (sizeof sigs / sizeof sigs[0])

/* Starts ARGV under the shim with the default action for every signal the rounds send: an ignored
 * signal stays ignored under the shim, and a test started as a background job of a shell without
 * job control inherits SIGINT and SIGQUIT ignored. */
static void start_victim_env(struct proc *p, struct run *r, const char *const argv[], const char *const env[])
{
    struct sigaction dfl, old[NSIGS];
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (size_t k = 0; k < NSIGS; k++)
        sigaction(sigs[k] ? sigs[k] : SIGRTMIN + 2, &dfl, &old[k]);
    proc_start(p, &f, 1, NULL, env, r, argv);
    for (size_t k = 0; k < NSIGS; k++)
        sigaction(sigs[k] ? sigs[k] : SIGRTMIN + 2, &old[k], NULL);
}

static void start_victim(struct proc *p, struct run *r, const char *const argv[])
{
    start_victim_env(p, r, argv, NULL);
}

/* Until the victim and every process holding its output are gone (1), or until the watch W
 * expires: then the verdict is noted, the stuck processes named and killed (0). */
static int wait_round_end(struct proc *p, int *status, struct tg_watch *w, struct verdict *v)
{
    int how = 0;
    if (drain(p, NULL, w, &how) && reap_victim(p->pid, status, w, &how))
        return 1;
    note_stuck(v, "not over,", w, how);
    name_and_kill_stuck(v, p->pid);
    close_pipes(p);
    return 0;
}

/* How a round goes beyond its seed. */
enum {
    ROUND_STOPPED = 1, /* the signal is sent while the victim is stopped (SIGSTOP), delivered when it continues */
    ROUND_RECLAIM = 2, /* under TMPGUARD_MAX_AGE, and long enough for sweeps to run among the threads' work */
};

/* A sweep runs at the first create and then at most once a second (shim/reclaim.c): a reclaiming
 * round lets the threads work this much longer, so that two or three sweeps fall among them. */
#define RECLAIM_ROUND_US 2200000

/* One round; returns 0 when everything held, -1 when not. */
static int one_round(int i, unsigned long long seed, int how_round)
{
    int stopped = how_round & ROUND_STOPPED, reclaim = how_round & ROUND_RECLAIM;
    static struct run r;
    struct proc p;
    struct verdict v;
    memset(&v, 0, sizeof v);
    char nt[16], sd[32];
    int sig = sigs[seed % NSIGS] ? sigs[seed % NSIGS] : SIGRTMIN + 2;
    /* 0-30 ms after every thread is under way: anywhere in a create, a removal, a rename, a fork,
     * an exec, the registry's growth. */
    unsigned delay = (unsigned)((seed * 0x9e3779b97f4a7c15ull) >> 40) % 30001;
    if (reclaim)
        delay += RECLAIM_ROUND_US;
    /* 1 ms: whatever a thread has closed and not touched since is idle at the next sweep. */
    static const char *const reclaim_env[] = {"TMPGUARD_MAX_AGE=1ms", NULL};
    snprintf(nt, sizeof nt, "%d", NTHREADS);
    snprintf(sd, sizeof sd, "%llu", seed);
    fresh_dirs();
    long start = now_ms();
    struct tg_watch w;
    tg_watch_start(&w, ROUND_LIMIT_MS);
    start_victim_env(&p, &r, (const char *const[]){torture_path(), nt, f.root, f.out, foreign, sd, NULL},
                     reclaim ? reclaim_env : NULL);
    int status = 0, deadlock = 0, how = 0;
    if (!drain(&p, "ready", &w, &how)) {
        v.wrong++;
        if (p.outfd < 0 && p.errfd < 0 && reap_victim(p.pid, &status, &w, &how)) {
            note(&v, "the victim ended before \"ready\": %s; ", describe(status));
        } else {
            note_stuck(&v, "no \"ready\",", &w, how);
            deadlock = 1;
            name_and_kill_stuck(&v, p.pid);
            close_pipes(&p);
        }
    } else {
        usleep(delay);
        if (stopped) {
            kill(p.pid, SIGSTOP);
            usleep(delay % 3000);
            kill(p.pid, sig);
            usleep(delay % 2000);
            kill(p.pid, SIGCONT);
        } else {
            kill(p.pid, sig);
        }
        /* Until the victim and every process holding its output are gone. */
        if (!wait_round_end(&p, &status, &w, &v)) {
            v.wrong++;
            deadlock = 1;
        } else if (!killed_by(status, sig)) {
            v.wrong++;
            note(&v, "STATUS: %s, not killed by signal %d; ", describe(status), sig);
        }
    }
    reap_adopted();
    if (r.err[0]) {
        v.wrong++;
        note(&v, "stderr: %.600s; ", r.err);
    }
    if (!deadlock) {
        check_root(&v);
        check_pubdir(&v);
        check_state(&v, p.pid);
    } else {
        note(&v, "(what is on disk is not checked after a deadlock)");
    }
    if (v.orphans || v.wrong) {
        cr_log_error("round %d (seed %llu, signal %d, %u us after ready%s%s, %ld ms): %d orphans, %d wrong: %s", i,
                     seed, sig, delay, stopped ? ", stopped" : "", reclaim ? ", reclaiming" : "",
                     now_ms() - start, v.orphans, v.wrong, v.msg);
        cr_expect_fail("round %d (seed %llu, signal %d%s%s): %d orphans, %d wrong", i, seed, sig,
                       stopped ? ", stopped" : "", reclaim ? ", reclaiming" : "", v.orphans, v.wrong);
        return -1;
    }
    return 0;
}

static void rounds(int n, unsigned long long seed, int how_round)
{
    int stopped = how_round & ROUND_STOPPED;
    int failed = 0, i;
    long t0 = now_ms();
    for (i = 0; i < n && failed < MAX_FAILED; i++)
        failed += one_round(i, seed + (unsigned long long)i, how_round) < 0;
    long ms = now_ms() - t0;
    fprintf(stderr, "torture%s: %d rounds from seed %llu in %ld ms (%ld ms a round), %d failed%s\n",
            stopped ? " (stopped)" : "", i, seed, ms, i ? ms / i : 0, failed, i < n ? ", then gave up" : "");
}

/* The signal arrives while the threads run. */
Test(torture, signal_from_outside)
{
    rounds(rounds_wanted(), base_seed(), 0);
}

/* The signal arrives while the victim is stopped, and is delivered when it continues: every thread
 * is frozen at some point of its work, then all run on at once into the signal. */
Test(torture, signal_while_stopped)
{
    int n = rounds_wanted() / 8;
    rounds(n > 0 ? n : 1, base_seed() + 1000000, ROUND_STOPPED);
}

/* Sweeps in the mix: TMPGUARD_MAX_AGE=1ms and rounds long enough for two or three sweeps among
 * the threads' creates, renames, forks and execs, then the signal.  A file a thread holds open or
 * is about to rename must never be taken; nothing may be left. */
Test(torture, signal_while_reclaiming)
{
    int n = rounds_wanted() / 25;
    rounds(n > 2 ? n : 3, base_seed() + 2000000, ROUND_RECLAIM);
}

/* The deadlock verdict itself, on a victim that really hangs: stopped for good once it is under
 * way (its children run on to their end).  The round's wait must call it a deadlock, with the
 * stacks where gdb is installed, and only after a whole window without progress. */
Test(torture, deadlock_verdict_on_a_stopped_victim)
{
    static struct run r;
    struct proc p;
    struct verdict v;
    struct tg_watch w;
    memset(&v, 0, sizeof v);
    fresh_dirs();
    tg_watch_start(&w, ROUND_LIMIT_MS);
    start_victim(&p, &r, (const char *const[]){torture_path(), "4", f.root, f.out, foreign, "1", NULL});
    int how = 0, status = 0;
    cr_assert(drain(&p, "ready", &w, &how), "the victim did not get ready: %s", r.err);
    cr_assert(kill(p.pid, SIGSTOP) == 0);
    long stopped = now_ms();
    tg_watch_start(&w, 1000); /* a short window: the victim will not move again */
    int over = wait_round_end(&p, &status, &w, &v);
    long took = now_ms() - stopped;
    reap_adopted();
    cr_expect(!over, "the round of a stopped victim ended: %s", describe(status));
    cr_expect(strstr(v.msg, "DEADLOCK: not over, no progress") != NULL, "the verdict: %s", v.msg);
    cr_expect(took >= w.window, "called stuck %ld ms after the stop, before a whole window (%ld ms) without progress",
              took, w.window);
    cr_expect(pid_dead(p.pid), "the stuck victim was not killed");
    cr_log_info("the verdict, %ld ms after the stop: %s", took, v.msg);
}

/* ---- what the rounds found, each on its own ------------------------------------------------ */

/* Runs ARGV to its end (bounded) and returns its status; a round-like verdict on what is left. */
static int run_bounded(const char *const argv[], struct run *r, struct verdict *v)
{
    struct proc p;
    struct tg_watch w;
    int status = -1;
    tg_watch_start(&w, ROUND_LIMIT_MS);
    start_victim(&p, r, argv);
    wait_round_end(&p, &status, &w, v);
    reap_adopted();
    return status;
}

/* A fork while another thread makes the process's first temp file: the child, whose first temp
 * file comes next, must not hang.  Swept over the moment of the fork; the long command line makes
 * the shim's work on the first file longer. */
Test(torture, fork_while_first_file_is_made)
{
    enum { PAD = 20000 };
    static const char *argv[PAD + 8];
    static struct run r;
    char delay[16];
    int n = 0;
    argv[n++] = torture_path();
    argv[n++] = "first-create";
    argv[n++] = f.root;
    argv[n++] = delay;
    while (n < PAD)
        argv[n++] = "padding";
    argv[n] = NULL;
    for (int us = 0; us <= 2000; us += 50) {
        struct verdict v;
        memset(&v, 0, sizeof v);
        snprintf(delay, sizeof delay, "%d", us);
        int st = run_bounded(argv, &r, &v);
        int ok = exited_with(st, 0) && !v.len;
        cr_expect(ok, "fork %d us after the first create began: %s, %s%s", us, describe(st),
                  strstr(r.out, "hung") ? "the child hung in its first create (killed after 3 s); " : "", v.msg);
        if (!ok)
            break;
        rm_rf(f.root);
        rm_rf(f.state);
        mkdir(f.root, 0755);
        mkdir(f.state, 0700);
    }
}

static int exists_early(void)
{
    DIR *d = opendir(f.root);
    int found = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        found |= strncmp(e->d_name, "early-", 6) == 0;
    if (d)
        closedir(d);
    return found;
}

/* The child a file was handed to ends while its parent, killed, is still removing its other
 * files: when both are gone, the file and the parent's record must be gone too. */
Test(torture, heir_ends_while_parent_cleans_up)
{
    static struct run r;
    struct verdict v;
    memset(&v, 0, sizeof v);
    int st = run_bounded((const char *const[]){torture_path(), "heir-late", f.root, "5000", NULL}, &r, &v);
    cr_expect(killed_by(st, SIGTERM), "%s %s", describe(st), r.err);
    int left = count_below(f.root);
    check_state(&v, 0);
    cr_expect(left == 0 && !v.len, "%d files left in the root (the file handed to the child among them: %s); %s",
              left, exists_early() ? "yes" : "no", v.msg);
}

/* A parent and its children end at the same moment, the children after the parent has kept the
 * file for them, or while it does, and while each other ends: whoever ends last takes the file,
 * with no reap after them.  Before heirs signed off in the record, each could see the other alive
 * and leave the file to the next reap: two of three runs with two children did. */
Test(torture, heirs_end_at_once)
{
    static struct run r;
    char gate[700], kids[4];
    int bad = 0, runs = 0;
    snprintf(gate, sizeof gate, "%s/gate", f.out);
    for (int n = 1; n <= 4; n *= 2) {
        snprintf(kids, sizeof kids, "%d", n);
        for (int i = 0; i < 60 && bad < 3; i++, runs++) {
            struct verdict v;
            memset(&v, 0, sizeof v);
            unlink(gate);
            int st = run_bounded((const char *const[]){torture_path(), "heirs-at-once", f.root, gate, kids, NULL}, &r,
                                 &v);
            int left = count_below(f.root);
            check_state(&v, 0);
            if (!exited_with(st, 0) || left || v.len) {
                bad++;
                cr_log_error("%d children, run %d: %s, %d files left; %s %s", n, i, describe(st), left, v.msg, r.err);
                rm_rf(f.root);
                rm_rf(f.state);
                mkdir(f.root, 0755);
                mkdir(f.state, 0700);
            }
        }
    }
    cr_expect(bad == 0, "%d of %d runs left files or records for the next reap", bad, runs);
}
