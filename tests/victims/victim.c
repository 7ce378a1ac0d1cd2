/* A victim program for the tests: runs a small script given on its command line, word by word,
 * and reports what it created on stdout ("created PATH").  "@" stands for the last path created.
 *
 *   victim create API DIR        create with API (mkstemp, open, fopen, mkdir, ...) inside DIR
 *   victim fill DIR              put a file and a sub-directory with a file inside DIR
 *   victim unlink P | rename A B | symlink T L | chdir D | write P TEXT
 *   victim replace P | swap-symlink P TARGET   (behind the shim's back, with raw system calls)
 *   victim fork-child API DIR    the child creates with API and exits 3 through exit()
 *   victim exec ARGS... ;        exec this program again with ARGS (up to ";")
 *   victim ready                 write "ready\n" and wait for a signal
 *   victim many N DIR            N mkstemp files in DIR; only the last is reported
 *   victim check P               exit 99 at once if P does not exist
 *   victim note ARG              nothing: ARG is just on the command line
 *   victim daemon-check P OUT    fork; the child waits 1 s, writes "ok"/"missing" for P into OUT
 *   victim hold GATE             fork; the child waits (20 s at most) for the file GATE, then exits
 *   victim sigview SIG           print "sigview DFL|IGN|handler"
 *   victim errno-check DIR       print the errno of calls that must fail, for comparison
 *   victim closefrom N           close every descriptor from N up, behind the shim's back (close_range)
 *   victim datafile P TEXT       open P (truncated) on descriptors 3 to 7 and write TEXT through them
 *   victim fork-write            fork; the child appends "child\n" through descriptors 3 to 7
 *   victim fdnums                print "fds A B C D E": the numbers five dup(0) calls return
 *   victim vfork-create DIR      vfork; the child creates DIR/vforked with open(O_CREAT) and _exits
 *   victim setuid-child UID      fork; the child becomes UID, fails to exec, and _exits 0
 *   endings: exit N | return N | _exit N | _Exit N | abort | segv | raise SIG |
 *            handler-exit SIG N (own handler calls exit(N), then raise SIG) |
 *            reraise SIG (own handler, then SIG_DFL restored and SIG raised again)
 * Without an ending it returns 0 from main. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char last[4096];
static char **g_argv;

static void say(const char *what, const char *path)
{
    char line[4200];
    int n = snprintf(line, sizeof line, "%s %s\n", what, path);
    if (write(1, line, (size_t)n) != n)
        _exit(120);
}

static void die(const char *what)
{
    char line[256];
    int n = snprintf(line, sizeof line, "victim: %s: %s\n", what, strerror(errno));
    if (write(2, line, (size_t)n) < 0)
        _exit(121);
    _exit(122);
}

static const char *arg(const char *a) { return strcmp(a, "@") == 0 ? last : a; }

static void created(const char *p)
{
    snprintf(last, sizeof last, "%s", p);
    say("created", p);
}

static void create(const char *api, const char *dir)
{
    char p[4096];
    int fd = -1;
    FILE *f = NULL;
    if (strncmp(api, "mk", 2) == 0 && strstr(api, "stemp")) {
        int suffix = strstr(api, "stemps") != NULL;
        snprintf(p, sizeof p, "%s/%s-XXXXXX%s", dir, api, suffix ? ".sfx" : "");
        if (!strcmp(api, "mkstemp")) fd = mkstemp(p);
        else if (!strcmp(api, "mkstemp64")) fd = mkstemp64(p);
        else if (!strcmp(api, "mkostemp")) fd = mkostemp(p, O_CLOEXEC);
        else if (!strcmp(api, "mkostemp64")) fd = mkostemp64(p, O_CLOEXEC);
        else if (!strcmp(api, "mkstemps")) fd = mkstemps(p, 4);
        else if (!strcmp(api, "mkstemps64")) fd = mkstemps64(p, 4);
        else if (!strcmp(api, "mkostemps")) fd = mkostemps(p, 4, O_CLOEXEC);
        else if (!strcmp(api, "mkostemps64")) fd = mkostemps64(p, 4, O_CLOEXEC);
        if (fd < 0)
            die(api);
        close(fd);
        created(p);
        return;
    }
    if (!strcmp(api, "mkdtemp")) {
        snprintf(p, sizeof p, "%s/mkdtemp-XXXXXX", dir);
        if (!mkdtemp(p))
            die(api);
        created(p);
        return;
    }
    if (!strcmp(api, "tmpfile") || !strcmp(api, "tmpfile64")) {
        f = !strcmp(api, "tmpfile") ? tmpfile() : tmpfile64();
        if (!f || fputs("scratch", f) < 0 || fflush(f) != 0)
            die(api);
        rewind(f);
        char buf[16] = {0};
        if (!fgets(buf, sizeof buf, f) || strcmp(buf, "scratch") != 0)
            die("tmpfile read back");
        say("tmpfile-ok", api);
        return; /* left open on purpose: the end of the process closes it */
    }
    snprintf(p, sizeof p, "%s/%s.out", dir, api);
    if (!strcmp(api, "open")) fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    else if (!strcmp(api, "open64")) fd = open64(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    else if (!strcmp(api, "excl")) fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
    else if (!strcmp(api, "excl64")) fd = open64(p, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    else if (!strcmp(api, "creat")) fd = creat(p, 0644);
    else if (!strcmp(api, "creat64")) fd = creat64(p, 0644);
    else if (!strcmp(api, "openat") || !strcmp(api, "openat64")) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        snprintf(p, sizeof p, "%s.out", api);
        fd = !strcmp(api, "openat") ? openat(dfd, p, O_WRONLY | O_CREAT, 0644)
                                    : openat64(dfd, p, O_WRONLY | O_CREAT, 0644);
        close(dfd);
        snprintf(p, sizeof p, "%s/%s.out", dir, api);
    } else if (!strcmp(api, "fopen")) f = fopen(p, "w");
    else if (!strcmp(api, "fopen64")) f = fopen64(p, "w+");
    else if (!strcmp(api, "freopen") || !strcmp(api, "freopen64")) {
        FILE *s = fopen("/dev/null", "r");
        f = !strcmp(api, "freopen") ? freopen(p, "w", s) : freopen64(p, "a", s);
    } else if (!strcmp(api, "mkdir")) fd = mkdir(p, 0755) == 0 ? 0 : -1;
    else if (!strcmp(api, "mkdirat")) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        fd = mkdirat(dfd, "mkdirat.out", 0700) == 0 ? 0 : -1;
        close(dfd);
    } else {
        errno = EINVAL;
        die(api);
    }
    if (f) {
        fputs("output", f);
        fclose(f);
    } else if (fd < 0) {
        die(api);
    } else if (fd > 0) {
        if (write(fd, "output", 6) != 6)
            die("write");
        close(fd);
    }
    created(p);
}

static void fill(const char *dir)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/inner", dir);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        die("fill");
    close(fd);
    snprintf(p, sizeof p, "%s/sub", dir);
    if (mkdir(p, 0755) < 0)
        die("fill mkdir");
    snprintf(p, sizeof p, "%s/sub/deep", dir);
    fd = open(p, O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        die("fill deep");
    close(fd);
}

#ifndef __GLIBC__
/* musl has no strerrorname_np: the names errno_check can meet. */
static const char *strerrorname_np(int e)
{
    switch (e) {
    case EEXIST: return "EEXIST";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    default: return "E?";
    }
}
#endif

static void report_errno(const char *what, int failed)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%s %s\n", what, failed ? strerrorname_np(errno) : "succeeded");
    if (write(1, line, (size_t)n) != n)
        _exit(120);
}

static void errno_check(const char *dir)
{
    char p[8192], q[8192];
    snprintf(p, sizeof p, "%s/existing", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0)
        close(fd);
    errno = 0;
    report_errno("open-excl-existing", open(p, O_RDWR | O_CREAT | O_EXCL, 0600) < 0);
    report_errno("fopen-x-existing", fopen(p, "wx") == NULL);
    snprintf(q, sizeof q, "%s/missing", dir);
    report_errno("unlink-missing", unlink(q) < 0);
    report_errno("rename-missing", rename(q, p) < 0);
    report_errno("rmdir-file", rmdir(p) < 0);
    char bad[] = "bad";
    report_errno("mkstemp-bad", mkstemp(bad) < 0);
    report_errno("mkdtemp-bad", mkdtemp(bad) == NULL);
    snprintf(q, sizeof q, "%s/no/such/dir/f", dir);
    report_errno("open-creat-enoent", open(q, O_WRONLY | O_CREAT, 0644) < 0);
    report_errno("mkdir-existing", mkdir(dir, 0755) < 0);
    /* errno must also be left alone when the call succeeds */
    errno = 12345;
    snprintf(q, sizeof q, "%s/made-XXXXXX", dir);
    fd = mkstemp(q);
    report_errno(errno == 12345 ? "mkstemp-keeps-errno" : "mkstemp-clobbers-errno", fd < 0);
    errno = 12345;
    int r = unlink(q);
    report_errno(errno == 12345 ? "unlink-keeps-errno" : "unlink-clobbers-errno", r < 0);
    unlink(p);
}

static int exit_code = 0;
static void handler_exit(int sig)
{
    (void)sig;
    exit(exit_code);
}
static void handler_reraise(int sig)
{
    signal(sig, SIG_DFL);
    raise(sig);
}
static void on_usr(int sig) { (void)sig; }

static int signum(const char *s)
{
    static const struct { const char *n; int s; } t[] = {
        {"TERM", SIGTERM}, {"INT", SIGINT}, {"HUP", SIGHUP}, {"QUIT", SIGQUIT}, {"ABRT", SIGABRT},
        {"SEGV", SIGSEGV}, {"KILL", SIGKILL}, {"PIPE", SIGPIPE}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"ALRM", SIGALRM}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(s, t[i].n))
            return t[i].s;
    return atoi(s);
}

int main(int argc, char **argv)
{
    g_argv = argv;
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        const char *a1 = i + 1 < argc ? arg(argv[i + 1]) : "";
        const char *a2 = i + 2 < argc ? arg(argv[i + 2]) : "";
        if (!strcmp(w, "create")) { create(a1, a2); i += 2; }
        else if (!strcmp(w, "fill")) { fill(a1); i += 1; }
        else if (!strcmp(w, "unlink")) { if (unlink(a1) < 0) die("unlink"); i += 1; }
        else if (!strcmp(w, "rename")) { if (rename(a1, a2) < 0) die("rename"); i += 2; }
        else if (!strcmp(w, "symlink")) { if (symlink(a1, a2) < 0) die("symlink"); i += 2; }
        else if (!strcmp(w, "chdir")) { if (chdir(a1) < 0) die("chdir"); i += 1; }
        else if (!strcmp(w, "replace") || !strcmp(w, "swap-symlink")) {
            /* Another object at the same path, put there behind the shim's back (raw system
             * calls), as another program would: the shim must notice by device and inode. */
            if (syscall(SYS_unlinkat, AT_FDCWD, a1, 0) < 0 &&
                syscall(SYS_unlinkat, AT_FDCWD, a1, AT_REMOVEDIR) < 0)
                die("raw unlink");
            if (!strcmp(w, "replace")) {
                int fd = (int)syscall(SYS_openat, AT_FDCWD, a1, O_WRONLY | O_CREAT | O_EXCL, 0600);
                if (fd < 0 || write(fd, "precious", 8) != 8) die("raw create");
                close(fd);
                i += 1;
            } else {
                if (symlink(a2, a1) < 0) die("symlink");
                i += 2;
            }
        }
        else if (!strcmp(w, "write")) {
            FILE *f = fopen(a1, "w");
            if (!f || fputs(a2, f) < 0 || fclose(f) != 0) die("write");
            i += 2;
        }
        else if (!strcmp(w, "fork-child")) {
            pid_t p = fork();
            if (p < 0) die("fork");
            if (p == 0) { create(a1, a2); exit(3); }
            int st;
            if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 3) die("child");
            i += 2;
        }
        else if (!strcmp(w, "exec")) {
            char *nargv[64];
            int n = 0;
            nargv[n++] = argv[0];
            for (i++; i < argc && strcmp(argv[i], ";") != 0 && n < 62; i++)
                nargv[n++] = (char *)arg(argv[i]);
            nargv[n] = NULL;
            execv("/proc/self/exe", nargv);
            die("exec");
        }
        else if (!strcmp(w, "ready")) {
            signal(SIGUSR2, on_usr);
            say("ready", "-");
            for (;;) pause();
        }
        else if (!strcmp(w, "many")) {
            int n = atoi(a1);
            for (int k = 0; k < n; k++) {
                char p[8192];
                snprintf(p, sizeof p, "%s/many-XXXXXX", a2);
                int fd = mkstemp(p);
                if (fd < 0) die("many");
                close(fd);
                memcpy(last, p, strlen(p) + 1 < sizeof last ? strlen(p) + 1 : sizeof last);
                last[sizeof last - 1] = '\0';
            }
            say("created", last);
            i += 2;
        }
        else if (!strcmp(w, "check")) { if (access(a1, F_OK) != 0) _exit(99); i += 1; }
        else if (!strcmp(w, "note")) { i += 1; }
        else if (!strcmp(w, "daemon-check")) {
            pid_t p = fork();
            if (p < 0) die("fork");
            if (p == 0) {
                /* the parent goes on to its ending at once; this child outlives it */
                sleep(1);
                const char *res = access(a1, F_OK) == 0 ? "ok" : "missing";
                int fd = (int)syscall(SYS_openat, AT_FDCWD, a2, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd >= 0 && write(fd, res, strlen(res)) < 0) _exit(1);
                _exit(0);
            }
            i += 2;
        }
        else if (!strcmp(w, "hold")) {
            pid_t p = fork();
            if (p < 0) die("fork");
            if (p == 0) {
                /* a daemon lets go of its parent's output (the harness waits for it to close) */
                int nul = open("/dev/null", O_RDWR);
                dup2(nul, 1);
                dup2(nul, 2);
                for (int k = 0; k < 2000 && access(a1, F_OK) != 0; k++)
                    usleep(10000);
                _exit(0);
            }
            i += 1;
        }
        else if (!strcmp(w, "sigview")) {
            struct sigaction sa;
            if (sigaction(signum(a1), NULL, &sa) < 0) die("sigaction");
            say("sigview", sa.sa_handler == SIG_DFL ? "DFL" : sa.sa_handler == SIG_IGN ? "IGN" : "handler");
            i += 1;
        }
        else if (!strcmp(w, "errno-check")) { errno_check(a1); i += 1; }
        else if (!strcmp(w, "closefrom")) {
            /* as closefrom(3) and daemons do: the kernel closes them, no close() is seen */
            if (syscall(SYS_close_range, (unsigned)atoi(a1), ~0u, 0) < 0) die("close_range");
            i += 1;
        }
        else if (!strcmp(w, "datafile")) {
            int fd = open(a1, O_RDWR | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) die("datafile");
            for (int k = 3; k <= 7; k++)
                if (fd != k && dup2(fd, k) != k) die("dup2");
            if (fd > 7) close(fd);
            if (write(7, a2, strlen(a2)) != (ssize_t)strlen(a2)) die("datafile write");
            i += 2;
        }
        else if (!strcmp(w, "fork-write")) {
            pid_t p = fork();
            if (p < 0) die("fork");
            if (p == 0) {
                for (int k = 3; k <= 7; k++)
                    if (fcntl(k, F_GETFD) < 0) _exit(1);
                _exit(write(5, "child\n", 6) == 6 ? 0 : 1);
            }
            int st;
            if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("child could not write");
        }
        else if (!strcmp(w, "fdnums")) {
            int n[5];
            for (int k = 0; k < 5; k++) n[k] = dup(0);
            printf("fds %d %d %d %d %d\n", n[0], n[1], n[2], n[3], n[4]);
            fflush(stdout);
            for (int k = 0; k < 5; k++) close(n[k]);
        }
        else if (!strcmp(w, "vfork-create")) {
            char p[4000];
            snprintf(p, sizeof p, "%.3990s/vforked", a1);
            pid_t c = vfork();
            if (c < 0) die("vfork");
            if (c == 0) {
                /* the child of vfork: another process, in this one's memory */
                int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
                _exit(fd >= 0 ? 0 : 1);
            }
            int st;
            if (waitpid(c, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("vfork child");
            created(p);
            i += 1;
        }
        else if (!strcmp(w, "setuid-child")) {
            pid_t c = fork();
            if (c < 0) die("fork");
            if (c == 0) {
                uid_t u = (uid_t)atoi(a1);
                if (setresuid(u, u, u) < 0) _exit(2);
                execl("/nonexistent/program", "program", (char *)NULL);
                _exit(0);
            }
            int st;
            if (waitpid(c, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("setuid child");
            i += 1;
        }
        else if (!strcmp(w, "exit")) exit(atoi(a1));
        else if (!strcmp(w, "return")) return atoi(a1);
        else if (!strcmp(w, "_exit")) _exit(atoi(a1));
        else if (!strcmp(w, "_Exit")) _Exit(atoi(a1));
        else if (!strcmp(w, "abort")) abort();
        else if (!strcmp(w, "segv")) { volatile int *np = NULL; *np = 1; }
        else if (!strcmp(w, "raise")) { raise(signum(a1)); i += 1; }
        else if (!strcmp(w, "handler-exit")) {
            exit_code = atoi(a2);
            signal(signum(a1), handler_exit);
            raise(signum(a1));
            i += 2;
        }
        else if (!strcmp(w, "reraise")) {
            signal(signum(a1), handler_reraise);
            raise(signum(a1));
            i += 1;
        }
        else { fprintf(stderr, "victim: unknown word %s\n", w); return 125; }
    }
    return 0;
}
