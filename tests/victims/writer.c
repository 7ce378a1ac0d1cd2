/* The atomic writes' C victim: rewrites a file the ways programs do.
 *   writer fopen PATH SIZE [hold|exit1|close-exit1]
 *       fopen("w"), SIZE bytes of 'n', then: hold: print "ready" and wait to be killed (a minute at
 *       most); exit1: exit 1 with the file still open; close-exit1: fclose, then exit 1; otherwise
 *       fclose and exit 0
 *   writer readback PATH      open O_WRONLY|O_TRUNC, write "new", read PATH back by name before the
 *                             close: prints what it read
 *   writer append PATH        open O_WRONLY|O_APPEND, write "+appended"
 *   writer update PATH        open O_RDWR (no O_TRUNC), overwrite the first bytes with "UPD"
 *   writer fill PATH SIZE     open O_WRONLY|O_CREAT|O_TRUNC, SIZE bytes in 64 KiB writes; a failed
 *                             write prints "write failed: ERRNO-NAME", closes and exits 1
 *   writer create PATH        open O_WRONLY|O_CREAT|O_TRUNC: prints "ok" or "errno N"
 *   writer freopen PATH [exit1]  freopen(PATH, "w", stdout), print "fresh", then fclose and exit 0, or
 *                             (exit1) _exit 1 with the stream open
 *   writer dirswap PATH       open O_WRONLY|O_TRUNC, write "new", then replace PATH by a directory
 *                             before the close (nothing can be renamed over it): prints "close: 0" or
 *                             "close: -1 ERRNO-NAME" */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int put(int fd, const char *s)
{
    size_t n = strlen(s);
    return write(fd, s, n) == (ssize_t)n ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *mode = argv[1], *path = argv[2];
    if (!strcmp(mode, "fopen") && argc > 3) {
        long size = atol(argv[3]);
        FILE *f = fopen(path, "w");
        if (!f) {
            printf("errno %d\n", errno);
            return 3;
        }
        for (long i = 0; i < size; i++)
            putc('n', f);
        const char *then = argc > 4 ? argv[4] : "";
        if (!strcmp(then, "hold")) {
            fflush(f);
            printf("ready\n");
            fflush(stdout);
            for (int i = 0; i < 600; i++)
                usleep(100000);
            return 4;
        }
        if (!strcmp(then, "exit1")) {
            fflush(f);
            _exit(1); /* the file is still open: the process failed while writing it */
        }
        if (fclose(f) != 0)
            return 3;
        return !strcmp(then, "close-exit1") ? 1 : 0;
    }
    if (!strcmp(mode, "readback")) {
        int fd = open(path, O_WRONLY | O_TRUNC);
        if (fd < 0 || put(fd, "new") < 0)
            return 3;
        char buf[64] = {0};
        int rd = open(path, O_RDONLY);
        ssize_t n = rd >= 0 ? read(rd, buf, sizeof buf - 1) : -1;
        printf("read back: %s\n", n >= 0 ? buf : "(error)");
        if (rd >= 0)
            close(rd);
        return close(fd) == 0 ? 0 : 3;
    }
    if (!strcmp(mode, "append") || !strcmp(mode, "update")) {
        int ap = !strcmp(mode, "append");
        int fd = open(path, ap ? O_WRONLY | O_APPEND : O_RDWR);
        if (fd < 0 || put(fd, ap ? "+appended" : "UPD") < 0)
            return 3;
        return close(fd) == 0 ? 0 : 3;
    }
    if (!strcmp(mode, "fill") && argc > 3) {
        long size = atol(argv[3]);
        static char chunk[65536];
        memset(chunk, 'f', sizeof chunk);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            return 3;
        for (long done = 0; done < size;) {
            size_t n = size - done < (long)sizeof chunk ? (size_t)(size - done) : sizeof chunk;
            ssize_t w = write(fd, chunk, n);
            if (w < 0) {
                printf("write failed: %s\n", errno == ENOSPC ? "ENOSPC" : strerror(errno));
                close(fd);
                return 1;
            }
            done += w;
        }
        return close(fd) == 0 ? 0 : 3;
    }
    if (!strcmp(mode, "create")) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            printf("errno %d\n", errno);
        else
            printf("ok\n");
        return fd < 0 ? 1 : (close(fd) == 0 ? 0 : 3);
    }
    if (!strcmp(mode, "freopen")) {
        if (!freopen(path, "w", stdout))
            return 3;
        fputs("fresh\n", stdout);
        fflush(stdout);
        if (argc > 3 && !strcmp(argv[3], "exit1"))
            _exit(1);
        return fclose(stdout) == 0 ? 0 : 3;
    }
    if (!strcmp(mode, "dirswap")) {
        int fd = open(path, O_WRONLY | O_TRUNC);
        if (fd < 0 || put(fd, "new") < 0 || unlink(path) != 0 || mkdir(path, 0755) != 0)
            return 3;
        int c = close(fd);
        printf("close: %d%s%s\n", c, c ? " " : "", c ? (errno == EISDIR ? "EISDIR" : strerror(errno)) : "");
        return 0;
    }
    return 2;
}
