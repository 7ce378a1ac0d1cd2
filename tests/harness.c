#include "harness.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/internal/ordered-set.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void);

/* What a victim may take to print a line or to end, on a quiet machine (see tg_limit_ms). */
#define TIMEOUT_MS 20000

/* ---- time limits that scale with the machine ------------------------------------------------
 *
 * Every wait of the suites is bounded, and every bound is tg_limit_ms(BASE).  BASE is what the
 * wait needs on a quiet machine without instrumentation, with room to spare (the numbers the suites
 * used before); the bound is BASE * LOAD * INSTR:
 *
 *   LOAD   how much slower than the reference machine this process runs now: a fixed CPU loop is
 *          timed a few times; LOAD = (wall time of the loop) / (its CPU time on the reference, a
 *          quiet 2-core x86-64, REF_LOOP_NS).  It grows with a slower CPU and with every process
 *          that competes for the cores (on a busy 2-core machine, 3 to 6).  At least 1, at most
 *          MAX_LOAD.  Measured once by the Criterion runner before the first test and handed to
 *          the test processes in TG_LOAD_FACTOR; set TG_LOAD_FACTOR yourself to impose a value.
 *   INSTR  the instrumentation's slowdown: 3 under ThreadSanitizer (TSAN_OPTIONS is set, or TG_LIB
 *          is a -tsan build), 2 under the sanitize setup's ASan and UBSan (TG_PRELOAD), 10 under
 *          valgrind (TG_VALGRIND=1); 1 otherwise.
 *
 * Criterion's .timeout of every suite and test is scaled the same way by the runner (a PRE_ALL
 * hook, below), so it stays above the waits inside the test; meson's own timeout is scaled by
 * scripts/test (--timeout-multiplier from tg-limit, tests/limit.c).  A wait for a process that may
 * be stuck also looks at its progress (tg_progress_sample): output or CPU time seen extends it, up
 * to PROGRESS_CAP (a torture round) or PROGRESS_CAP_VICTIM (a victim's line or end) times the
 * limit. */
#define REF_LOOP_NS 4000000.0 /* the loop's CPU time on the reference machine */
#define MAX_LOAD 16.0

static unsigned loop_sink;

/* The fixed work: about 4 ms of one reference core. */
static void fixed_loop(void)
{
    unsigned x = 2463534242u;
    for (int i = 0; i < 1 << 21; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
    }
    __atomic_store_n(&loop_sink, x, __ATOMIC_RELAXED);
}

static double ns_of(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double tg_measure_load(void)
{
    double wall = 0;
    enum { REPS = 5 };
    fixed_loop(); /* warm */
    for (int i = 0; i < REPS; i++) {
        double w0 = ns_of(CLOCK_MONOTONIC);
        fixed_loop();
        wall += ns_of(CLOCK_MONOTONIC) - w0;
        usleep(1000); /* spread over a little time: the load comes and goes */
    }
    double load = wall / REPS / REF_LOOP_NS;
    return load < 1 ? 1 : load > MAX_LOAD ? MAX_LOAD : load;
}

static double load_factor(void)
{
    static double load;
    if (load == 0) {
        const char *v = getenv("TG_LOAD_FACTOR");
        double forced = v && *v ? strtod(v, NULL) : 0;
        load = forced > 0 ? forced : tg_measure_load();
    }
    return load;
}

double tg_instr_factor(void)
{
    const char *tsan = getenv("TSAN_OPTIONS"), *lib = getenv("TG_LIB"), *pre = getenv("TG_PRELOAD"),
               *vg = getenv("TG_VALGRIND");
    if (vg && strcmp(vg, "1") == 0)
        return 10;
    if ((tsan && *tsan) || (lib && strstr(lib, "-tsan")))
        return 3;
    if (pre && *pre)
        return 2;
    return 1;
}

double tg_time_factor(void) { return load_factor() * tg_instr_factor(); }

long tg_limit_ms(long base_ms) { return (long)((double)base_ms * tg_time_factor() + 0.5); }

int shim_enabled(void)
{
    const char *v = getenv("TG_NO_SHIM");
    return !(v && strcmp(v, "1") == 0);
}

static const char *env_or_die(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        cr_assert_fail("%s is not set: run the tests with meson test", name);
    return v;
}

const char *victim_path(void) { return env_or_die("TG_VICTIM"); }

void skip_under_musl(const char *programs)
{
    const char *v = getenv("TG_MUSL");
    if (v && strcmp(v, "1") == 0)
        cr_skip_test("runs %s under the shim: a glibc program cannot load the musl library", programs);
}

const char *src_path(const char *rel)
{
    static char buf[4][4096];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", env_or_die("TG_SRC"), rel);
    return b;
}

/* The Criterion runner of this test process (the parent of the test processes it starts). */
static long runner_pid(void)
{
    const char *v = getenv("TG_RUNNER_PID");
    long pid = v && *v ? strtol(v, NULL, 10) : 0;
    return pid > 0 ? pid : (long)getppid();
}

/* tmpfs when there is one: fast, and what the benchmarks use too. */
static const char *const fixture_places[] = {"/dev/shm", "/tmp"};

void fx_setup(struct fx *f)
{
    const char *where = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    /* tgtest.RUNNER.TEST.XXXXXX: the runner removes it once this process is gone, whatever ended
     * it (sweep_fixtures, below). */
    snprintf(f->base, sizeof f->base, "%s/tgtest.%ld.%ld.XXXXXX", where, runner_pid(), (long)getpid());
    cr_assert(mkdtemp(f->base), "mkdtemp: %s", strerror(errno));
    snprintf(f->root, sizeof f->root, "%s/root", f->base);
    snprintf(f->out, sizeof f->out, "%s/elsewhere", f->base);
    snprintf(f->state, sizeof f->state, "%s/state", f->base);
    cr_assert(mkdir(f->root, 0755) == 0 && mkdir(f->out, 0755) == 0 && mkdir(f->state, 0700) == 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

void rm_rf(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* TG_KEEP_FIXTURES=1 keeps every test's directory, to look into afterwards (scripts/test then
 * names them as left behind). */
static int keep_fixtures(void)
{
    const char *v = getenv("TG_KEEP_FIXTURES");
    return v && strcmp(v, "1") == 0;
}

void fx_teardown(struct fx *f)
{
    if (!keep_fixtures())
        rm_rf(f->base);
}

/* Whether PID's working directory is BASE or below (a process that proc_start has not yet turned
 * into the victim is already there). */
static int cwd_below(long pid, const char *base)
{
    char link[64], cwd[4096];
    snprintf(link, sizeof link, "/proc/%ld/cwd", pid);
    ssize_t n = readlink(link, cwd, sizeof cwd - 1);
    size_t bl = strlen(base);
    if (n <= 0)
        return 0;
    cwd[n] = '\0';
    return strncmp(cwd, base, bl) == 0 && (cwd[bl] == '\0' || cwd[bl] == '/');
}

/* SIGKILLs every process (but this one) whose environment holds HOME=BASE or
 * TMPGUARD_STATE_DIR=BASE/state, as proc_start gives them, or that works in BASE; returns how
 * many. */
static int kill_started_in(const char *base)
{
    char home[400], state[400];
    int hl = snprintf(home, sizeof home, "HOME=%s", base) + 1; /* with the NUL */
    int sl = snprintf(state, sizeof state, "TMPGUARD_STATE_DIR=%s/state", base) + 1;
    int killed = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *de; d && (de = readdir(d));) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1 || pid == getpid())
            continue;
        char file[64];
        static char env[32769];
        if (cwd_below(pid, base)) {
            killed += kill((pid_t)pid, SIGKILL) == 0;
            continue;
        }
        snprintf(file, sizeof file, "/proc/%ld/environ", pid);
        int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, env, sizeof env - 1);
        close(fd);
        if (n <= 0)
            continue;
        env[n] = '\0';
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(env + i) + 1)
            if ((i + hl <= n && memcmp(env + i, home, (size_t)hl) == 0) ||
                (i + sl <= n && memcmp(env + i, state, (size_t)sl) == 0)) {
                killed += kill((pid_t)pid, SIGKILL) == 0;
                break;
            }
    }
    if (d)
        closedir(d);
    return killed;
}

void kill_leftovers(const struct fx *f) { kill_started_in(f->base); }

/* Ends what was started in the fixture directory BASE and removes it.  Killed processes can still
 * have a system call to finish: they are looked for again until none is found (2 s at most). */
static void clear_fixture(const char *base)
{
    for (int i = 0, quiet = 0; i < 100 && quiet < 2; i++) {
        quiet = kill_started_in(base) ? 0 : quiet + 1;
        usleep(20000);
    }
    if (!keep_fixtures())
        rm_rf(base);
    fprintf(stderr, "removed %s, left by a test process that has ended\n", base);
}

/* Removes the fixture directories of this runner's test processes that have ended (ALL: every
 * one), and those of runners that are gone.  Runs in the runner, after each test and after all:
 * a test process that a failed assertion, a timeout or a crash ended cannot clean up itself. */
static void sweep_fixtures(int all)
{
    if (runner_pid() != (long)getpid())
        return;
    for (size_t k = 0; k < sizeof fixture_places / sizeof *fixture_places; k++) {
        DIR *d = opendir(fixture_places[k]);
        for (struct dirent *e; d && (e = readdir(d));) {
            long runner, test;
            int at = 0;
            if (sscanf(e->d_name, "tgtest.%ld.%ld.%n", &runner, &test, &at) != 2 || !at)
                continue;
            int ours = runner == (long)getpid();
            if ((ours && (all || pid_dead((pid_t)test))) || (!ours && pid_dead((pid_t)runner))) {
                char base[600];
                snprintf(base, sizeof base, "%s/%s", fixture_places[k], e->d_name);
                clear_fixture(base);
            }
        }
        if (d)
            closedir(d);
    }
}

/* In the runner, before the first test: the time scale, measured once and handed to the test
 * processes; Criterion's timeouts scaled by it; the runner named for the fixtures. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    char v[64];
    snprintf(v, sizeof v, "%ld", (long)getpid());
    setenv("TG_RUNNER_PID", v, 1);
    double load = load_factor(), k = load * tg_instr_factor();
    snprintf(v, sizeof v, "%.3f", load);
    setenv("TG_LOAD_FACTOR", v, 1);
    fprintf(stderr, "time limits x%.2f (machine %.2f, instrumentation %.0f)\n", k, load, tg_instr_factor());
    for (struct criterion_ordered_set_node *ns = set->suites->first; ns; ns = ns->next) {
        struct criterion_suite_set *ss = (void *)(ns + 1);
        if (ss->suite.data && ss->suite.data->timeout > 0)
            ss->suite.data->timeout *= k;
        for (struct criterion_ordered_set_node *nt = ss->tests ? ss->tests->first : NULL; nt; nt = nt->next) {
            struct criterion_test *t = (void *)(nt + 1);
            if (t->data && t->data->timeout > 0)
                t->data->timeout *= k;
        }
    }
    sweep_fixtures(0);
}

ReportHook(POST_TEST)(struct criterion_test_stats *stats)
{
    (void)stats;
    sweep_fixtures(0);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    sweep_fixtures(1);
}

int pid_dead(pid_t pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(p, "r");
    if (!fp)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return !rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X';
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long tg_now_ms(void) { return now_ms(); }

/* ---- progress of the processes below this one ----------------------------------------------- */

/* A wait that sees progress all along still ends at this many times its window: 10 for the torture
 * rounds (tg_watch_start), 3 for a victim's line or end (proc_wait_line, proc_finish: a victim that
 * spins without getting anywhere must not hold a suite for long). */
#define PROGRESS_CAP 10
#define PROGRESS_CAP_VICTIM 3
#define SAMPLE_MS 250

int tg_progress_sample(struct tg_progress *last, size_t bytes)
{
    static pid_t pid[32768], ppid[32768];
    static unsigned long long ticks[32768];
    static char state[32768];
    int n = 0;
    unsigned long long self_children = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d)) && n < 32768;) {
        char path[300], buf[1024];
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
        char *rp = strrchr(buf, ')'), st;
        int pp;
        unsigned long ut, stime;
        long cut, cst;
        if (!rp || sscanf(rp + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &st, &pp, &ut,
                          &stime, &cut, &cst) != 6)
            continue;
        pid[n] = atoi(e->d_name);
        if (pid[n] == getpid()) {
            /* what this process has collected from its children: their time stays counted */
            self_children = (unsigned long long)(cut + cst);
            continue;
        }
        ppid[n] = pp;
        state[n] = st;
        ticks[n++] = ut + stime + (unsigned long long)(cut + cst);
    }
    if (d)
        closedir(d);
    struct tg_progress now = {.cpu = self_children, .pids = 0, .n = 0, .bytes = bytes};
    static pid_t below[32768];
    int found = 0;
    below[found++] = getpid();
    for (int i = 0; i < found; i++) /* breadth first from this process */
        for (int j = 0; j < n && found < 32768; j++)
            if (ppid[j] == below[i]) {
                below[found++] = pid[j];
                now.cpu += ticks[j];
                if (state[j] != 'Z' && state[j] != 'X') {
                    now.pids += (unsigned long long)pid[j] * 0x9e3779b97f4a7c15ull;
                    now.n++;
                }
            }
    int moved = now.cpu != last->cpu || now.pids != last->pids || now.n != last->n || now.bytes != last->bytes;
    *last = now;
    return moved;
}

void tg_watch_start(struct tg_watch *w, long base_ms)
{
    memset(w, 0, sizeof *w);
    w->start = w->last_progress = now_ms();
    w->window = tg_limit_ms(base_ms);
    w->cap = PROGRESS_CAP * w->window;
    tg_progress_sample(&w->prog, 0);
    w->next_sample = w->start + SAMPLE_MS;
}

int tg_watch_expired(struct tg_watch *w, size_t bytes)
{
    long t = now_ms();
    if (t >= w->next_sample || t - w->last_progress > w->window) {
        if (tg_progress_sample(&w->prog, bytes))
            w->last_progress = t;
        w->next_sample = t + SAMPLE_MS;
    }
    if (t - w->start > w->cap)
        return TG_WATCH_CAP;
    if (t - w->last_progress > w->window)
        return TG_WATCH_STUCK;
    return 0;
}

const char *tg_watch_why(const struct tg_watch *w, int how)
{
    static char buf[2][300];
    static int next;
    char *b = buf[next++ % 2];
    long t = now_ms();
    if (how == TG_WATCH_CAP)
        snprintf(b, sizeof buf[0], "still busy %ld ms after the start, the most this wait gets (%ld ms)",
                 t - w->start, w->cap);
    else
        snprintf(b, sizeof buf[0],
                 "no progress (output, CPU time, processes starting or ending) for %ld ms, %ld ms after the start",
                 t - w->last_progress, t - w->start);
    return b;
}

void proc_start(struct proc *p, struct fx *f, int shim, const char *cwd, const char *const env[],
                struct run *r, const char *const argv[])
{
    int out[2], err[2];
    memset(r, 0, sizeof *r);
    memset(p, 0, sizeof *p);
    /* A victim run in a fixture that lost its root or state directory would test nothing (and
     * may spin on failing creates): say so at once. */
    struct stat st;
    cr_assert(stat(f->root, &st) == 0 && stat(f->state, &st) == 0,
              "the test's directories %s and %s are not both there (%s): removed by whom?", f->root, f->state,
              strerror(errno));
    p->r = r;
    cr_assert(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t parent = getpid(), pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        static char e[64][4200];
        char *envp[72];
        int n = 0;
        const char *path = getenv("PATH");
        snprintf(e[n], sizeof e[0], "PATH=%s", path ? path : "/usr/bin:/bin");
        envp[n] = e[n], n++;
        snprintf(e[n], sizeof e[0], "HOME=%s", f->base);
        envp[n] = e[n], n++;
        snprintf(e[n], sizeof e[0], "TMPGUARD_ROOTS=%s", f->root);
        envp[n] = e[n], n++;
        snprintf(e[n], sizeof e[0], "TMPDIR=%s", f->root);
        envp[n] = e[n], n++;
        snprintf(e[n], sizeof e[0], "TMPGUARD_STATE_DIR=%s", f->state);
        envp[n] = e[n], n++;
        if (shim && shim_enabled()) {
            /* TG_PRELOAD (the sanitize setup: ASan's runtime, then the sanitized library) wins. */
            const char *pre = getenv("TG_PRELOAD");
            snprintf(e[n], sizeof e[0], "LD_PRELOAD=%s", pre && *pre ? pre : env_or_die("TG_LIB"));
            envp[n] = e[n], n++;
        }
        for (const char *keep[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONPATH", NULL}, **k = keep; *k; k++)
            if (getenv(*k) && n < 60) {
                snprintf(e[n], sizeof e[0], "%s=%s", *k, getenv(*k));
                envp[n] = e[n], n++;
            }
        for (int i = 0; env && env[i] && n < 70; i++) {
            /* a later K=V replaces an earlier one */
            const char *eq = strchr(env[i], '=');
            size_t kl = eq ? (size_t)(eq - env[i]) + 1 : strlen(env[i]);
            int j;
            for (j = 0; j < n && strncmp(envp[j], env[i], kl) != 0; j++)
                ;
            envp[j] = (char *)env[i];
            if (j == n)
                n++;
        }
        envp[n] = NULL;
        /* Dies with the test process, whatever ends it (a crash, Criterion's timeout): a victim
         * does not outlive its test.  (What the victim forks does not inherit this; the runner's
         * sweep ends those, sweep_fixtures.) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(125);
        /* The victim starts with every signal at its default and none blocked, however this
         * test was started: a background job of a shell without job control inherits SIGINT and
         * SIGQUIT ignored, nohup SIGHUP, and a victim that ignores the signal a test sends it
         * would never end. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) {
            struct sigaction cur;
            if (sigaction(sig, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN)
                sigaction(sig, &dfl, NULL);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore);
        dup2(out[1], 1);
        dup2(err[1], 2);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        if (chdir(cwd ? cwd : f->out) < 0)
            _exit(126);
        execvpe(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    p->pid = pid;
    p->outfd = out[0];
    p->errfd = err[0];
}

/* Reads what is available from both pipes, waiting up to MS; returns 0 when both are at EOF. */
static int pump(struct proc *p, int ms)
{
    struct pollfd pf[2] = {{p->outfd, POLLIN, 0}, {p->errfd, POLLIN, 0}};
    int open_fds = (p->outfd >= 0) + (p->errfd >= 0);
    if (!open_fds)
        return 0;
    if (poll(pf, 2, ms) <= 0)
        return 1;
    for (int i = 0; i < 2; i++) {
        int *fd = i ? &p->errfd : &p->outfd;
        if (*fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char *buf = i ? p->r->err : p->r->out;
        size_t cap = (i ? sizeof p->r->err : sizeof p->r->out) - 1;
        size_t *len = i ? &p->errlen : &p->outlen;
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
    return 1;
}

void proc_wait_line(struct proc *p, const char *prefix)
{
    struct tg_watch w;
    tg_watch_start(&w, TIMEOUT_MS);
    w.cap = PROGRESS_CAP_VICTIM * w.window;
    size_t pl = strlen(prefix);
    for (;;) {
        for (char *l = p->r->out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            if (strncmp(l, prefix, pl) == 0 && strchr(l, '\n'))
                return;
        int how = 0;
        if (!pump(p, 100) || (how = tg_watch_expired(&w, p->outlen + p->errlen))) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            cr_assert_fail("no line '%s' from the victim (%s); out: %s err: %s", prefix,
                           how ? tg_watch_why(&w, how) : "its output ended", p->r->out, p->r->err);
        }
    }
}

static void parse_created(struct run *r)
{
    r->ncreated = 0;
    for (char *l = r->out; *l;) {
        char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        if (len > 8 && strncmp(l, "created ", 8) == 0 && r->ncreated < MAX_CREATED && len - 8 < 512) {
            memcpy(r->created[r->ncreated], l + 8, len - 8);
            r->created[r->ncreated++][len - 8] = '\0';
        }
        l = nl ? nl + 1 : l + len;
    }
}

void proc_finish(struct proc *p)
{
    struct tg_watch w;
    tg_watch_start(&w, TIMEOUT_MS);
    w.cap = PROGRESS_CAP_VICTIM * w.window;
    int how;
    while (pump(p, 100)) {
        if ((how = tg_watch_expired(&w, p->outlen + p->errlen))) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            cr_assert_fail("victim did not finish: %s; out: %s", tg_watch_why(&w, how), p->r->out);
        }
    }
    int st;
    for (;;) {
        pid_t wp = waitpid(p->pid, &st, WNOHANG);
        if (wp == p->pid)
            break;
        if ((how = tg_watch_expired(&w, p->outlen + p->errlen))) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            cr_assert_fail("victim did not exit: %s", tg_watch_why(&w, how));
        }
        usleep(2000);
    }
    p->r->status = st;
    parse_created(p->r);
}

void run_argv(struct fx *f, int shim, const char *cwd, const char *const env[], struct run *r,
              const char *const argv[])
{
    struct proc p;
    proc_start(&p, f, shim, cwd, env, r, argv);
    proc_finish(&p);
}

static int counted;
static int count_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)p, (void)st, (void)flag;
    if (ftw->level > 0)
        counted++;
    return 0;
}

int count_below(const char *dir)
{
    counted = 0;
    nftw(dir, count_one, 16, FTW_PHYS);
    return counted;
}

int count_state(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "counters");
    if (d)
        closedir(d);
    return n;
}

int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

int exited_with(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
int killed_by(int status, int sig) { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }

const char *describe(int status)
{
    static char buf[4][64];
    static int next;
    char *b = buf[next++ % 4];
    if (WIFEXITED(status))
        snprintf(b, sizeof buf[0], "exited %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(b, sizeof buf[0], "killed by signal %d", WTERMSIG(status));
    else
        snprintf(b, sizeof buf[0], "status 0x%x", status);
    return b;
}
