/* tg-bench-mkstemp N DIR: N times mkstemp in DIR, close, unlink; prints the seconds taken.
 *
 * Under the shim each round is listed in the registry and forgotten again: the whole cost of a
 * temp file that its program cleans up itself. */
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s N DIR\n", argv[0]);
        return 2;
    }
    long n = bench_count(argv[1], argv[0]);
    char tmpl[4096];
    int len = snprintf(tmpl, sizeof tmpl, "%s/bench.XXXXXX", argv[2]);
    if (len < 0 || (size_t)len >= sizeof tmpl) {
        fprintf(stderr, "%s: directory name too long\n", argv[0]);
        return 2;
    }
    char name[sizeof tmpl];
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        /* mkstemp rewrites the X's: each round starts from a fresh template. */
        memcpy(name, tmpl, (size_t)len + 1);
        int fd = mkstemp(name);
        if (fd < 0) {
            perror("mkstemp");
            return 1;
        }
        close(fd);
        if (unlink(name) < 0) {
            perror(name);
            return 1;
        }
    }
    double t1 = bench_now();
    printf("%.9f\n", t1 - t0);
    return 0;
}
