/* Cleanup rate of another tool on files a killed process left behind.
 *
 *   tg-bench-clean [-s LIB] [-a AGE] [-w MS] N DIR CMD [ARG...]
 *
 * A child (this program again, `make` mode) creates N files with mkstemp in DIR, which must not
 * exist yet, and dies by SIGKILL: a process that left all its temp files behind.  With -s the child
 * runs with LD_PRELOAD=LIB, so that a tmpguard record is left too; with -a the files' access and
 * modification times are set AGE seconds into the past, so that an age-based cleaner takes them.
 * After MS more milliseconds (-w: for a cleaner that also looks at the change time, which cannot
 * be set), CMD runs with its output thrown away; the figure printed is the seconds from its spawn
 * to its waitpid.  Fails (status 1) unless CMD succeeds and DIR is empty or gone afterwards: a rate
 * for a removal that did not happen would be meaningless.  DIR itself is removed at the end. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static int make(long n, const char *dir, long age, const char *prog)
{
    struct bench_tmpl t;
    bench_tmpl_init(&t, dir, "f", prog);
    struct timespec past[2];
    clock_gettime(CLOCK_REALTIME, &past[0]);
    past[0].tv_sec -= age;
    past[1] = past[0];
    if (bench_make_files(&t, n, age > 0 ? past : NULL) < 0)
        return 2;
    /* Die as the OOM killer kills: nothing runs, everything stays. */
    raise(SIGKILL);
    return 2;
}

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s [-s LIB] [-a AGE] [-w MS] N DIR CMD [ARG...]\n", prog);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "make") == 0)
        return make(bench_count(argv[2], argv[0]), argv[3], strtol(argv[4], NULL, 10), argv[0]);

    const char *lib = NULL;
    long age = 0, settle_ms = 0;
    int c;
    while ((c = getopt(argc, argv, "+s:a:w:")) != -1) {
        switch (c) {
        case 's': lib = optarg; break;
        case 'a': age = bench_count(optarg, argv[0]); break;
        case 'w': settle_ms = bench_count(optarg, argv[0]); break;
        default: usage(argv[0]);
        }
    }
    if (argc - optind < 3)
        usage(argv[0]);
    const char *count_arg = argv[optind], *dir = argv[optind + 1];
    long n = bench_count(count_arg, argv[0]);
    char **cmd = argv + optind + 2;

    if (mkdir(dir, 0700) < 0) {
        perror(dir);
        return 1;
    }
    char age_arg[32];
    snprintf(age_arg, sizeof age_arg, "%ld", age);
    char *make_argv[] = {"/proc/self/exe", "make", (char *)count_arg, (char *)dir, age_arg, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, make_argv[0], NULL, NULL, make_argv, bench_child_env(lib));
    if (rc != 0) {
        fprintf(stderr, "%s: cannot run the file maker: %s\n", argv[0], strerror(rc));
        return 1;
    }
    int status = bench_wait(pid);
    long made = bench_count_entries(dir);
    if (status == -1 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL || made != n) {
        fprintf(stderr, "%s: the file maker failed (status %#x, %ld of %ld files)\n", argv[0], (unsigned)status, made, n);
        return 1;
    }
    if (settle_ms > 0)
        bench_sleep_ms(settle_ms);

    double secs;
    if (bench_run_quiet(cmd, argv[0], &secs) != 0)
        return 1;
    long left = bench_count_entries(dir);
    if (left != 0) {
        fprintf(stderr, "%s: %s left %ld of %ld files in %s\n", argv[0], cmd[0], left, n, dir);
        return 1;
    }
    if (rmdir(dir) < 0 && errno != ENOENT) {
        perror(dir);
        return 1;
    }
    printf("%.9f\n", secs);
    return 0;
}
