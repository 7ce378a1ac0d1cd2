/* dur_exec DIR PROGRAM [ARGS...]: makes a mkstemp file in DIR, reports it ("created PATH"), then
 * replaces itself with PROGRAM (which keeps the pid and may lie beyond the shim's reach: a static
 * binary). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: dur_exec DIR PROGRAM [ARGS...]\n");
        return 125;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/dur-exec-XXXXXX", argv[1]);
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, "scratch", 7) != 7) {
        perror("dur_exec: mkstemp");
        return 122;
    }
    close(fd);
    printf("created %s\n", path);
    fflush(stdout);
    execv(argv[2], argv + 2);
    perror("dur_exec: execv");
    return 127;
}
