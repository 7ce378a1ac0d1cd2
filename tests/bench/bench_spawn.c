/* tg-bench-spawn N PRELOAD PROG [ARG...]: runs PROG N times, one after the other, with
 * posix_spawn and waitpid; prints the seconds taken.  PRELOAD is put in the child's LD_PRELOAD, or
 * nothing when it is empty.
 *
 * The loop is a C program and not a shell loop so that the figure is the child's start and end,
 * not the shell's fork and bookkeeping around it. */
#include <spawn.h>
#include <sys/wait.h>

#include "bench.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s N PRELOAD PROG [ARG...]\n", argv[0]);
        return 2;
    }
    long n = bench_count(argv[1], argv[0]);
    char **env = bench_child_env(argv[2][0] ? argv[2] : NULL);
    char **child_argv = argv + 3;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        pid_t pid;
        int rc = posix_spawn(&pid, child_argv[0], NULL, NULL, child_argv, env);
        if (rc != 0) {
            fprintf(stderr, "%s: cannot run %s: %s\n", argv[0], child_argv[0], strerror(rc));
            return 1;
        }
        int status;
        if (waitpid(pid, &status, 0) < 0) {
            perror("waitpid");
            return 1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "%s: %s failed (status %#x)\n", argv[0], child_argv[0], (unsigned)status);
            return 1;
        }
    }
    double t1 = bench_now();
    printf("%.9f\n", t1 - t0);
    return 0;
}
