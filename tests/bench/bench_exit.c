/* Exit cleanup of many outstanding temp files, against rm -rf on the same set.
 *
 *   tg-bench-exit make N DIR       creates N files in DIR with mkstemp, writes the time on stdout
 *                                  and exits with status 1, leaving every file in place (with
 *                                  BENCH_KILL set it kills itself with SIGKILL instead)
 *   tg-bench-exit shim N DIR LIB   runs `make` with LD_PRELOAD=LIB; prints the seconds from the
 *                                  child's time stamp until waitpid returns: the shim's removal
 *                                  at exit and the process teardown
 *   tg-bench-exit rm N DIR         runs `make` without the shim, then prints the seconds that
 *                                  `rm -rf DIR` takes from spawn to waitpid
 *
 * Both parents fail (status 1) when the files are not all gone afterwards: a rate for a removal
 * that did not happen would be meaningless. */
#include <signal.h>
#include <stdlib.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static int make(long n, const char *dir, const char *prog)
{
    struct bench_tmpl t;
    bench_tmpl_init(&t, dir, "f", prog);
    if (bench_make_files(&t, n, NULL) < 0)
        return 2;
    char line[64];
    /* write(2), not stdio: nothing may be left to flush between the stamp and the exit. */
    int m = snprintf(line, sizeof line, "%.9f\n", bench_now());
    if (write(1, line, (size_t)m) != m)
        return 2;
    /* BENCH_KILL: die as the OOM killer kills, leaving the files and the record to the reaper. */
    if (getenv("BENCH_KILL"))
        raise(SIGKILL);
    /* Status 1: a failed run, whose temp files the shim removes whatever the policy for outputs. */
    exit(1);
}

/* Runs ARGV with ENV and stdout on a pipe; reads the first line into LINE (may be left empty);
 * returns the wait status, or -1. */
static int run(char *const argv[], char **env, char *line, size_t size, int search)
{
    pid_t pid;
    int fd = bench_spawn_piped(&pid, argv, env, search);
    if (fd < 0)
        return -1;
    /* Only up to the newline: reading to EOF would wait for the child's teardown as well. */
    size_t got = 0;
    while (got + 1 < size && (got == 0 || line[got - 1] != '\n')) {
        ssize_t r = read(fd, line + got, size - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    line[got] = '\0';
    int status = bench_wait(pid);
    close(fd);
    return status;
}

static int made_ok(int status)
{
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int want = strcmp(mode, "shim") == 0 ? 5 : 4;
    if (argc != want || (strcmp(mode, "make") != 0 && strcmp(mode, "shim") != 0 && strcmp(mode, "rm") != 0)) {
        fprintf(stderr, "usage: %s make N DIR | shim N DIR LIB | rm N DIR\n", argv[0]);
        return 2;
    }
    long n = bench_count(argv[2], argv[0]);
    const char *dir = argv[3];
    if (strcmp(mode, "make") == 0)
        return make(n, dir, argv[0]);

    if (mkdir(dir, 0700) < 0) {
        perror(dir);
        return 1;
    }
    char *make_argv[] = {"/proc/self/exe", "make", argv[2], argv[3], NULL};
    char line[64];
    if (strcmp(mode, "shim") == 0) {
        int status = run(make_argv, bench_child_env(argv[4]), line, sizeof line, 0);
        double end = bench_now();
        if (!made_ok(status) || line[0] == '\0') {
            fprintf(stderr, "%s: the file-making child failed (status %#x)\n", argv[0], (unsigned)status);
            return 1;
        }
        long left = bench_count_entries(dir);
        if (left != 0) {
            fprintf(stderr, "%s: %ld of %ld files left in %s after exit under the shim\n", argv[0], left, n, dir);
            return 1;
        }
        rmdir(dir);
        printf("%.9f\n", end - strtod(line, NULL));
        return 0;
    }

    int status = run(make_argv, bench_child_env(NULL), line, sizeof line, 0);
    long made = bench_count_entries(dir);
    if (!made_ok(status) || made != n) {
        fprintf(stderr, "%s: the file-making child failed (status %#x, %ld files)\n", argv[0], (unsigned)status, made);
        return 1;
    }
    char *rm_argv[] = {"rm", "-rf", (char *)dir, NULL};
    double start = bench_now();
    status = run(rm_argv, bench_child_env(NULL), line, sizeof line, 1);
    double end = bench_now();
    if (status != 0 || bench_count_entries(dir) != 0) {
        fprintf(stderr, "%s: rm -rf %s failed (status %#x)\n", argv[0], dir, (unsigned)status);
        return 1;
    }
    printf("%.9f\n", end - start);
    return 0;
}
