/* tg-bench-mkstemp N DIR: N times mkstemp in DIR, close, unlink; prints the seconds taken.
 *
 * Under the shim each round is listed in the registry and forgotten again: the whole cost of a
 * temp file that its program cleans up itself. */
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
    struct bench_tmpl t;
    long n = bench_args_n_dir(argc, argv, &t, "bench");
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        int fd = bench_tmpl_make(&t);
        if (fd < 0)
            return 1;
        close(fd);
        if (unlink(t.name) < 0) {
            perror(t.name);
            return 1;
        }
    }
    double t1 = bench_now();
    printf("%.9f\n", t1 - t0);
    return 0;
}
