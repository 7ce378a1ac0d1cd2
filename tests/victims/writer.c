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
 *   writer threads DIR N ROUNDS   N threads at once, each rewriting DIR/a or DIR/b (by turns) ROUNDS
 *                             times with 64 KiB of its own letter in 8 writes, by open/write/close,
 *                             fopen/fclose or a descriptor moved by F_DUPFD, while a reader
 *                             process reads both; prints "torn reads N" (a read that was not one
 *                             whole version), or checks each is one letter throughout at the end:
 *                             "whole" or "torn NAME"
 *   writer dirswap PATH       open O_WRONLY|O_TRUNC, write "new", then replace PATH by a directory
 *                             before the close (nothing can be renamed over it): prints "close: 0" or
 *                             "close: -1 ERRNO-NAME" */
#include <errno.h>
#include <pthread.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <stdint.h>
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

#define T_SIZE 65536
static const char *t_dir;
static int t_rounds;

static void *rewriter(void *arg)
{
    long id = (long)(intptr_t)arg;
    char path[4096], buf[T_SIZE / 8];
    memset(buf, 'a' + (int)(id % 26), sizeof buf);
    for (int i = 0; i < t_rounds; i++) {
        snprintf(path, sizeof path, "%s/%c", t_dir, (id + i) % 2 ? 'a' : 'b');
        int how = (int)((id + i) % 3);
        if (how == 1) {
            FILE *f = fopen(path, "w");
            if (!f)
                return (void *)1;
            for (int k = 0; k < 8; k++)
                fwrite(buf, 1, sizeof buf, f);
            if (fclose(f) != 0)
                return (void *)1;
            continue;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            return (void *)1;
        if (how == 2) { /* moved to another number, as a shell's redirection does */
            int to = fcntl(fd, F_DUPFD, 100 + (int)id);
            if (to < 0 || close(fd) != 0)
                return (void *)1;
            fd = to;
        }
        for (int k = 0; k < 8; k++)
            if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
                return (void *)1;
        if (close(fd) != 0)
            return (void *)1;
    }
    return NULL;
}

/* Another process reads both targets over and over while the writers run (a thread of the same
 * process would reach the staged files: it reads its own process's writes, by design), until STOP
 * has no writer left; a read that is not one whole version (short, or two letters) is torn.  Writes
 * the count of torn reads to OUT. */
static void reader(int stop, int out)
{
    static char buf[T_SIZE + 1];
    int torn = 0;
    struct timeval none = {0, 0};
    for (;;) {
        fd_set set;
        FD_ZERO(&set);
        FD_SET(stop, &set);
        if (select(stop + 1, &set, NULL, NULL, &none) != 0)
            break; /* the writers are done (end of file), or select failed */
        for (int k = 0; k < 2; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%c", t_dir, k ? 'a' : 'b');
            int fd = open(path, O_RDONLY);
            if (fd < 0)
                continue;
            ssize_t got = 0, n;
            while (got < (ssize_t)sizeof buf && (n = read(fd, buf + got, sizeof buf - (size_t)got)) > 0)
                got += n;
            close(fd);
            int whole = got == T_SIZE;
            for (ssize_t i = 1; whole && i < got; i++)
                whole = buf[i] == buf[0];
            torn += !whole;
        }
    }
    if (write(out, &torn, sizeof torn) != (ssize_t)sizeof torn)
        _exit(3);
    _exit(0);
}

static int threads_mode(const char *dir, int n, int rounds)
{
    pthread_t t[64];
    t_dir = dir;
    t_rounds = rounds;
    if (n > 64)
        n = 64;
    /* Both targets whole before the reader starts. */
    t_rounds = 1;
    for (long i = 0; i < 2; i++)
        if (rewriter((void *)(intptr_t)i) != NULL)
            return 3;
    t_rounds = rounds;
    int stop[2], count[2];
    if (pipe(stop) != 0 || pipe(count) != 0)
        return 3;
    pid_t rd = fork(); /* before any thread */
    if (rd < 0)
        return 3;
    if (rd == 0) {
        close(stop[1]);
        close(count[0]);
        reader(stop[0], count[1]);
    }
    close(stop[0]);
    close(count[1]);
    for (long i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, rewriter, (void *)(intptr_t)i) != 0)
            return 3;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    close(stop[1]);
    int torn = -1;
    if (read(count[0], &torn, sizeof torn) != (ssize_t)sizeof torn || waitpid(rd, NULL, 0) != rd || bad)
        return 3;
    if (torn) {
        printf("torn reads %d\n", torn);
        return 1;
    }
    for (const char *name = "a"; *name; name = *name == 'a' ? "b" : "") {
        static char buf[T_SIZE + 1];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int fd = open(path, O_RDONLY);
        ssize_t got = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
        if (fd >= 0)
            close(fd);
        int whole = got == T_SIZE;
        for (ssize_t k = 1; whole && k < got; k++)
            whole = buf[k] == buf[0];
        if (!whole) {
            printf("torn %s\n", name);
            return 1;
        }
    }
    printf("whole\n");
    return 0;
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
    if (!strcmp(mode, "threads") && argc > 4)
        return threads_mode(path, atoi(argv[3]), atoi(argv[4]));
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
