/* The suites' time scale for scripts (tests/harness.c explains it):
 *   tg-limit BASE_MS    prints tg_limit_ms(BASE_MS), a wait of BASE_MS on a quiet machine scaled
 *   tg-limit --factor   prints the scale itself (at least 1), rounded up to a whole number
 *   tg-limit --load     prints the machine's part alone, measured now (for TG_LOAD_FACTOR)
 * The instrumentation is read from the environment as in the suites (TSAN_OPTIONS, TG_PRELOAD,
 * TG_VALGRIND=1); TG_LOAD_FACTOR imposes the machine's part. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--load") == 0) {
        printf("%.3f\n", tg_measure_load());
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--factor") == 0) {
        printf("%.0f\n", ceil(tg_time_factor()));
        return 0;
    }
    char *end;
    long base = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *end || base < 0) {
        fprintf(stderr, "usage: tg-limit BASE_MS | --factor\n");
        return 2;
    }
    printf("%ld\n", tg_limit_ms(base));
    return 0;
}
