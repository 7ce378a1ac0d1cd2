/* Shared by the programs that scripts/bench runs.  Each program times only the work it is named
 * for, so that loading the shim (or not) and the program's own start-up stay out of the figure. */
#ifndef TG_BENCH_H
#define TG_BENCH_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC: the one clock that two processes can compare (bench_exit relies on that). */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline long bench_count(const char *arg, const char *prog)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || n <= 0) {
        fprintf(stderr, "%s: not a positive count: %s\n", prog, arg);
        exit(2);
    }
    return n;
}

/* The caller's environment with any LD_PRELOAD taken out and, if PRELOAD is not NULL,
 * LD_PRELOAD=PRELOAD put in.  A child started with it differs from its no-shim twin in that one
 * variable only. */
static inline char **bench_child_env(const char *preload)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env) {
        perror("calloc");
        exit(2);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
            env[k++] = environ[i];
    if (preload) {
        size_t len = strlen(preload) + sizeof "LD_PRELOAD=";
        char *var = malloc(len);
        if (!var) {
            perror("malloc");
            exit(2);
        }
        snprintf(var, len, "LD_PRELOAD=%s", preload);
        env[k++] = var;
    }
    env[k] = NULL;
    return env;
}

/* Entries in DIR other than . and .., or -1 if DIR cannot be read (ENOENT: 0). */
static inline long bench_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* MS milliseconds, resumed after a signal. */
static inline void bench_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A mkstemp template, DIR/BASE.XXXXXX, and the buffer each file's name is made in. */
struct bench_tmpl {
    char tmpl[4096];
    char name[4096];
    size_t len;
};

/* Sets T up for files in DIR; exits with status 2 when DIR's name is too long for it. */
static inline void bench_tmpl_init(struct bench_tmpl *t, const char *dir, const char *base, const char *prog)
{
    int len = snprintf(t->tmpl, sizeof t->tmpl, "%s/%s.XXXXXX", dir, base);
    if (len < 0 || (size_t)len >= sizeof t->tmpl) {
        fprintf(stderr, "%s: directory name too long\n", prog);
        exit(2);
    }
    t->len = (size_t)len;
}

/* The command line N DIR of a program that makes N files in DIR: returns N, with T set up for
 * files named DIR/BASE.XXXXXX; exits with status 2, saying why, when it is not that. */
static inline long bench_args_n_dir(int argc, char **argv, struct bench_tmpl *t, const char *base)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s N DIR\n", argv[0]);
        exit(2);
    }
    long n = bench_count(argv[1], argv[0]);
    bench_tmpl_init(t, argv[2], base, argv[0]);
    return n;
}

/* The next file of T, named in t->name: its descriptor, or -1 after saying why. */
static inline int bench_tmpl_make(struct bench_tmpl *t)
{
    /* mkstemp rewrites the X's: each round starts from a fresh template. */
    memcpy(t->name, t->tmpl, t->len + 1);
    int fd = mkstemp(t->name);
    if (fd < 0)
        perror("mkstemp");
    return fd;
}

/* N files of T, each closed at once and none removed: what a process that leaves its temp files
 * behind makes.  With TIMES, each file's access and modification times are set to them, so that an
 * age-based cleaner takes it.  0, or -1 after saying why. */
static inline int bench_make_files(struct bench_tmpl *t, long n, const struct timespec times[2])
{
    for (long i = 0; i < n; i++) {
        int fd = bench_tmpl_make(t);
        if (fd < 0)
            return -1;
        if (times && futimens(fd, times) < 0) {
            perror("futimens");
            close(fd);
            return -1;
        }
        close(fd);
    }
    return 0;
}

/* waitpid through EINTR: the wait status, or -1 after saying why. */
static inline int bench_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("waitpid");
            return -1;
        }
    }
    return status;
}

/* Starts ARGV with ENV (looking it up in PATH when SEARCH), its stdout on a pipe: returns the
 * pipe's reading end and sets *PID, or -1 after saying why. */
static inline int bench_spawn_piped(pid_t *pid, char *const argv[], char **env, int search)
{
    int fds[2];
    if (pipe(fds) < 0) {
        perror("pipe");
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    int rc = search ? posix_spawnp(pid, argv[0], &fa, NULL, argv, env)
                    : posix_spawn(pid, argv[0], &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(rc));
        close(fds[0]);
        return -1;
    }
    return fds[0];
}

/* Runs the cleanup command CMD (looked up in PATH, without LD_PRELOAD, its output thrown away) and
 * waits for it: its wait status, or -1; anything but 0 is said on stderr after "PROG: ".  *SECS,
 * when SECS is not NULL: the seconds from its spawn to its waitpid. */
static inline int bench_run_quiet(char *const cmd[], const char *prog, double *secs)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    double start = bench_now();
    pid_t pid;
    int rc = posix_spawnp(&pid, cmd[0], &fa, NULL, cmd, bench_child_env(NULL));
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot run %s: %s\n", prog, cmd[0], strerror(rc));
        return -1;
    }
    int status = bench_wait(pid);
    if (secs)
        *secs = bench_now() - start;
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "%s: %s failed (status %#x)\n", prog, cmd[0], (unsigned)status);
    return status;
}
#endif
