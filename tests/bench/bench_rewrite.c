/* tg-bench-rewrite N FILE SIZE: N times rewrite FILE whole in place (open O_WRONLY|O_CREAT|O_TRUNC,
 * SIZE bytes in one write, close), the way a program saves its state file; prints the seconds taken.
 *
 * Under TMPGUARD_ATOMIC covering FILE each rewrite is staged beside it and renamed over it at the
 * close: what that costs (a staging file, a rename, and the fsyncs unless TMPGUARD_ATOMIC_SYNC=0).
 * With patterns that do not cover FILE: what the test on every open costs. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s N FILE SIZE\n", argv[0]);
        return 2;
    }
    long n = bench_count(argv[1], argv[0]);
    const char *path = argv[2];
    long size = bench_count(argv[3], argv[0]);
    char *buf = malloc((size_t)size);
    if (!buf)
        return 1;
    memset(buf, 's', (size_t)size);
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        if (write(fd, buf, (size_t)size) != (ssize_t)size) {
            perror("write");
            return 1;
        }
        if (close(fd) != 0) {
            perror("close");
            return 1;
        }
    }
    double t1 = bench_now();
    printf("%.9f\n", t1 - t0);
    free(buf);
    return 0;
}
