/* Threads creating, removing and publishing temp files as fast as they can, until a fatal signal
 * arrives from outside.  Usage: threads NTHREADS ROOT PUBDIR
 * Prints "ready" once every thread has gone round its loop a few times.  Published files are
 * PUBDIR/pub-THREAD-SEQ with SEQ counting from 0 without gaps, so a removed one shows. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *root, *pubdir;
static atomic_int laps;

static void *worker(void *arg)
{
    int t = (int)(long)arg, seq = 0;
    char p[4096], q[4096];
    for (unsigned i = 0;; i++) {
        /* Counted whatever this lap's create does: a create that fails on the lap that counts
         * (the `continue` below) must not keep "ready" from ever being printed. */
        if (i == 8)
            atomic_fetch_add(&laps, 1);
        snprintf(p, sizeof p, "%s/t%d-XXXXXX", root, t);
        int fd = mkstemp(p);
        if (fd < 0)
            continue;
        if (write(fd, p, strlen(p)) < 0)
            abort();
        close(fd);
        switch (i % 4) {
        case 0: /* left behind: the shim's to remove */
            break;
        case 1:
            unlink(p);
            break;
        case 2:
            snprintf(q, sizeof q, "%s/pub-%d-%d", pubdir, t, seq);
            if (rename(p, q) == 0)
                seq++;
            break;
        default:
            snprintf(q, sizeof q, "%s/e%d-%u", root, t, i);
            fd = open(q, O_RDWR | O_CREAT | O_EXCL, 0600);
            if (fd >= 0) {
                close(fd);
                unlink(q);
            }
            unlink(p);
            break;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int n = atoi(argv[1]);
    root = argv[2];
    pubdir = argv[3];
    for (int t = 0; t < n; t++) {
        pthread_t th;
        if (pthread_create(&th, NULL, worker, (void *)(long)t) != 0)
            return 3;
    }
    while (atomic_load(&laps) < n)
        usleep(1000);
    if (write(1, "ready\n", 6) != 6)
        return 4;
    for (;;)
        pause();
}
