/* tg-bench-reclaim N DIR: keeps 10,000 temp files in DIR (made first, never touched again), then N
 * times mkstemp in DIR, close, unlink; prints the seconds the N rounds took and, second, the 99.9th
 * percentile of one mkstemp call in microseconds.
 *
 * Under the shim with TMPGUARD_MAX_AGE set (and longer than the run), every creating call may run a
 * reclaiming sweep over the 10,000 young entries: the per-call figure shows whether a sweep stalls
 * a request. */
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

#define KEPT 10000

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct bench_tmpl t;
    long n = bench_args_n_dir(argc, argv, &t, "bench");
    for (long i = 0; i < KEPT; i++) {
        int fd = bench_tmpl_make(&t);
        if (fd < 0)
            return 1;
        close(fd);
    }
    double *each = malloc((size_t)n * sizeof *each);
    if (!each)
        return 1;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        double a = bench_now();
        int fd = bench_tmpl_make(&t);
        each[i] = bench_now() - a;
        if (fd < 0)
            return 1;
        close(fd);
        if (unlink(t.name) < 0) {
            perror(t.name);
            return 1;
        }
    }
    double t1 = bench_now();
    qsort(each, (size_t)n, sizeof *each, by_value);
    printf("%.9f\n%.1f\n", t1 - t0, each[(size_t)((double)n * 0.999)] * 1e6);
    free(each);
    return 0;
}
