#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 20000

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

void fx_setup(struct fx *f)
{
    /* tmpfs when there is one: fast, and what the benchmarks use too. */
    const char *where = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(f->base, sizeof f->base, "%s/tgtest.XXXXXX", where);
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

void fx_teardown(struct fx *f) { rm_rf(f->base); }

void kill_leftovers(const struct fx *f)
{
    char want[400];
    int wl = snprintf(want, sizeof want, "TMPGUARD_STATE_DIR=%s", f->state) + 1; /* with the NUL */
    DIR *d = opendir("/proc");
    for (struct dirent *de; d && (de = readdir(d));) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1 || pid == getpid())
            continue;
        char file[64], env[32769];
        snprintf(file, sizeof file, "/proc/%ld/environ", pid);
        int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, env, sizeof env - 1);
        close(fd);
        if (n <= 0)
            continue;
        env[n] = '\0';
        for (ssize_t i = 0; i + wl <= n; i += (ssize_t)strlen(env + i) + 1)
            if (memcmp(env + i, want, (size_t)wl) == 0) {
                kill((pid_t)pid, SIGKILL);
                break;
            }
    }
    if (d)
        closedir(d);
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

void proc_start(struct proc *p, struct fx *f, int shim, const char *cwd, const char *const env[],
                struct run *r, const char *const argv[])
{
    int out[2], err[2];
    memset(r, 0, sizeof *r);
    memset(p, 0, sizeof *p);
    p->r = r;
    cr_assert(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
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
    long deadline = now_ms() + TIMEOUT_MS;
    size_t pl = strlen(prefix);
    for (;;) {
        for (char *l = p->r->out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            if (strncmp(l, prefix, pl) == 0 && strchr(l, '\n'))
                return;
        if (now_ms() > deadline || !pump(p, 100) ) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            cr_assert_fail("no line '%s' from the victim; out: %s err: %s", prefix, p->r->out, p->r->err);
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
    long deadline = now_ms() + TIMEOUT_MS;
    while (pump(p, 100)) {
        if (now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            cr_assert_fail("victim did not finish in %d ms; out: %s", TIMEOUT_MS, p->r->out);
        }
    }
    int st;
    for (;;) {
        pid_t w = waitpid(p->pid, &st, WNOHANG);
        if (w == p->pid)
            break;
        if (now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            cr_assert_fail("victim did not exit in %d ms", TIMEOUT_MS);
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
