/* dur_hog DIR MB: makes a mkstemp file in DIR ("created PATH"), fills MB megabytes of memory, says
 * "pgid N" (its process group) and "ready", then waits to be killed.  A process that big takes a
 * while to die after SIGKILL: the kernel frees its memory first (what the OOM killer meets). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: dur_hog DIR MB\n");
        return 125;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/dur-hog-XXXXXX", argv[1]);
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("dur_hog: mkstemp");
        return 122;
    }
    close(fd);
    size_t size = (size_t)atol(argv[2]) << 20;
    char *mem = malloc(size);
    if (!mem) {
        perror("dur_hog: malloc");
        return 122;
    }
    /* Every page touched, and read back so that the compiler keeps the stores. */
    memset(mem, 1, size);
    long sum = 0;
    for (size_t i = 0; i < size; i += 4096)
        sum += mem[i];
    printf("created %s\npgid %d\npages %ld\nready\n", path, (int)getpgrp(), sum);
    fflush(stdout);
    for (;;)
        pause();
}
