/* The leak reports' native victim: a resize step that leaks three scratch files from the static
 * function leaky_resize (in this executable's .symtab only: built -O2, without -rdynamic, not
 * stripped), one from thumb_render in a shared library, and one file made and removed properly.
 * Then it exits 1, as a failed request would.
 *   leaky DIR [hold]   hold: print "ready" and wait (a minute at most) to be killed, with its
 *                      leaks outstanding (for the reaper's report)
 *   leaky DIR threads N PER   N threads at once each leak PER files with long names (200 bytes)
 *                      from thread_leak, then exit 0 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int thumb_render(const char *dir);

static char dir[4000];

/* 1000 bytes into DIR/upload.XXXXXX.jpg; the caller "forgets" the name.  noinline: the call site
 * must be this function, as it is in a real program's unoptimised frame of thought. */
static __attribute__((noinline)) int leaky_resize(int i)
{
    char path[4096], buf[1000];
    snprintf(path, sizeof path, "%s/upload.XXXXXX.jpg", dir);
    int fd = mkstemps(path, 4);
    if (fd < 0)
        return -1;
    memset(buf, 'a' + i, sizeof buf);
    ssize_t w = write(fd, buf, sizeof buf);
    close(fd);
    return w == (ssize_t)sizeof buf ? 0 : -1;
}

/* Made and removed: the program's own cleanup works here. */
static __attribute__((noinline)) int tidy(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tidy.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return unlink(path);
}

static int per_thread;
static pthread_barrier_t go;

static __attribute__((noinline)) void *thread_leak(void *arg)
{
    char path[4096], name[200];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    pthread_barrier_wait(&go); /* all at once */
    for (int i = 0; i < per_thread; i++) {
        int n = snprintf(path, sizeof path, "%s/t%ld-%s-XXXXXX", dir, (long)(intptr_t)arg, name);
        if (n < 0 || (size_t)n >= sizeof path)
            return (void *)1;
        int fd = mkstemp(path);
        if (fd < 0)
            return (void *)1;
        close(fd);
    }
    return NULL;
}

static int threads(int n, int per)
{
    pthread_t t[64];
    if (n < 1 || n > 64)
        return 2;
    per_thread = per;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (long i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, thread_leak, (void *)(intptr_t)i) != 0)
            return 3;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    return bad ? 3 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strlen(argv[1]) >= sizeof dir)
        return 2;
    strcpy(dir, argv[1]);
    if (argc > 4 && strcmp(argv[2], "threads") == 0)
        return threads(atoi(argv[3]), atoi(argv[4]));
    for (int i = 0; i < 3; i++)
        if (leaky_resize(i) < 0)
            return 3;
    if (thumb_render(dir) < 0 || tidy() < 0)
        return 3;
    if (argc > 2 && strcmp(argv[2], "hold") == 0) {
        printf("ready\n");
        fflush(stdout);
        for (int i = 0; i < 600; i++)
            usleep(100000);
    }
    return 1;
}
