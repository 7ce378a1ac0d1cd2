/* tg-bench-open N FILE: N times open(FILE, O_RDONLY) and close; prints the seconds taken.
 *
 * The call every program makes, and the one the shim must pass through without a cost: with no
 * O_CREAT it has nothing to track. */
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s N FILE\n", argv[0]);
        return 2;
    }
    long n = bench_count(argv[1], argv[0]);
    const char *path = argv[2];
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        close(fd);
    }
    double t1 = bench_now();
    printf("%.9f\n", t1 - t0);
    return 0;
}
