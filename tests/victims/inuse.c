/* inuse MODE ROOT SECONDS: a long-running process that leaves one scratch file idle on purpose (the
 * control) and uses another object in the way MODE says, while it churns other temp files (each
 * churn is a creating call: a reclaiming sweep may run).  After SECONDS it says what became of both:
 *   "control gone|there" and "used kept|LOST", and exits 0.
 *
 *   open     a mkstemp file held open the whole time
 *   mmap     a mkstemp file mapped, its descriptor closed
 *   child    a mkstemp file a child process holds open by name (the child opens it itself)
 *   rewrite  a mkstemp file rewritten by name (open O_TRUNC, write, close) every 200 ms
 *   reread   a mkstemp file read by name (open, read, close) every 300 ms
 *   output   a plain create (O_CREAT|O_WRONLY): an output, never reclaimed while the process runs
 *   tree     a mkdtemp directory whose inner file is held open
 *   threads  8 threads, each creating files, holding each open for a while (checking through the
 *            descriptor that its name still stands), releasing it; some kept by name, idle
 *   fork     the parent's mkstemp file, idle, while a forked child churns (and sweeps) for SECONDS:
 *            a child's sweep never takes its parent's files
 *   exec     a mkstemp file made, left idle for SECONDS, then the process execs itself ("adopted
 *            PATH"), which churns for half a second: the file's age is kept across exec, so the new
 *            image's first sweeps take it at once ("control gone" is then about that file)
 *
 * A used object that vanishes is "LOST": tmpguard took a file in use. */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *root;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int make(char *p, size_t n, const char *name)
{
    snprintf(p, n, "%s/%s-XXXXXX", root, name);
    int fd = mkstemp(p);
    if (fd < 0) {
        perror("mkstemp");
        exit(120);
    }
    if (write(fd, "data\n", 5) != 5)
        exit(121);
    return fd;
}

static char churn_dir[4096];

/* One churn: a temp file made and removed, as a request would. */
static void churn(void)
{
    char p[4200 + 32];
    if (churn_dir[0]) { /* after exec, in the directory of the adopted file */
        snprintf(p, sizeof p, "%s/churn-XXXXXX", churn_dir);
        int fd = mkstemp(p);
        if (fd >= 0) {
            close(fd);
            unlink(p);
        }
        return;
    }
    int fd = make(p, sizeof p, "churn");
    close(fd);
    unlink(p);
}

static int there(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* ---- threads ---------------------------------------------------------------------------------- */

static _Atomic int lost, stop;

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        char p[4200];
        int fd = make(p, sizeof p, "held");
        /* Held for 0-300 ms, as a request holds its file. */
        sleep_ms(rand_r(&seed) % 300);
        struct stat st, named;
        if (fstat(fd, &st) < 0 || lstat(p, &named) < 0 || named.st_ino != st.st_ino) {
            fprintf(stderr, "inuse: %s taken while held\n", p);
            atomic_fetch_add(&lost, 1);
        }
        close(fd);
        if (rand_r(&seed) % 4)
            unlink(p); /* else left behind: a leak for the sweeps to take */
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: inuse MODE ROOT SECONDS\n");
        return 2;
    }
    const char *mode = argv[1];
    root = argv[2];
    double seconds = atof(argv[3]);
    char control[4200], used[4200], inner[4300];
    if (strcmp(mode, "adopted")) {
        int cfd = make(control, sizeof control, "control");
        close(cfd);
    }
    int fd = -1;
    pid_t child = -1;
    void *map = NULL;
    pthread_t th[8];
    used[0] = '\0';
    if (!strcmp(mode, "open") || !strcmp(mode, "rewrite") || !strcmp(mode, "reread")) {
        fd = make(used, sizeof used, mode);
        if (strcmp(mode, "open"))
            close(fd);
    } else if (!strcmp(mode, "mmap")) {
        fd = make(used, sizeof used, mode);
        map = mmap(NULL, 5, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
            return 122;
        close(fd);
    } else if (!strcmp(mode, "child")) {
        fd = make(used, sizeof used, mode);
        close(fd);
        int gate[2];
        if (pipe(gate) < 0)
            return 123;
        child = fork();
        if (child == 0) {
            int own = open(used, O_RDONLY);
            if (write(gate[1], own >= 0 ? "y" : "n", 1) != 1)
                _exit(1);
            pause();
            _exit(0);
        }
        char c;
        if (read(gate[0], &c, 1) != 1 || c != 'y')
            return 124;
    } else if (!strcmp(mode, "output")) {
        snprintf(used, sizeof used, "%s/output.txt", root);
        fd = open(used, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0 || write(fd, "out\n", 4) != 4)
            return 125;
        close(fd);
    } else if (!strcmp(mode, "tree")) {
        snprintf(used, sizeof used, "%s/tree-XXXXXX", root);
        if (!mkdtemp(used))
            return 126;
        snprintf(inner, sizeof inner, "%s/inner", used);
        fd = open(inner, O_CREAT | O_RDWR, 0600);
        if (fd < 0)
            return 127;
    } else if (!strcmp(mode, "fork")) {
        fd = make(used, sizeof used, mode);
        close(fd);
        child = fork();
        if (child == 0) {
            double stop_at = now_s() + seconds;
            while (now_s() < stop_at) {
                churn();
                sleep_ms(50);
            }
            _exit(0);
        }
        int st;
        waitpid(child, &st, 0);
        child = -1;
        seconds = 0;
    } else if (!strcmp(mode, "exec")) {
        fd = make(used, sizeof used, mode);
        close(fd);
        sleep_ms((long)(seconds * 1000));
        execl("/proc/self/exe", "inuse", "adopted", used, "0.5", (char *)NULL);
        return 128;
    } else if (!strcmp(mode, "adopted")) {
        /* after exec: ROOT is the file the previous image made */
        snprintf(control, sizeof control, "%s", root);
        snprintf(churn_dir, sizeof churn_dir, "%s", root);
        *strrchr(churn_dir, '/') = '\0';
    } else if (!strcmp(mode, "threads")) {
        for (int i = 0; i < 8; i++)
            pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    } else if (strcmp(mode, "none")) {
        fprintf(stderr, "inuse: unknown mode %s\n", mode);
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    double end = now_s() + seconds, next_rewrite = 0, next_read = 0;
    int ok = 1;
    while (now_s() < end) {
        churn();
        double t = now_s();
        if (!strcmp(mode, "rewrite") && t >= next_rewrite) {
            int w = open(used, O_WRONLY | O_TRUNC);
            ok &= w >= 0 && write(w, "data\n", 5) == 5;
            if (w >= 0)
                close(w);
            next_rewrite = t + 0.2;
        }
        if (!strcmp(mode, "reread") && t >= next_read) {
            char buf[8];
            int r = open(used, O_RDONLY);
            ok &= r >= 0 && read(r, buf, sizeof buf) == 5;
            if (r >= 0)
                close(r);
            next_read = t + 0.3;
        }
        sleep_ms(50);
    }
    if (!strcmp(mode, "threads")) {
        atomic_store(&stop, 1);
        for (int i = 0; i < 8; i++)
            pthread_join(th[i], NULL);
        ok = !atomic_load(&lost);
    }
    if (used[0])
        ok &= there(used) && (strcmp(mode, "tree") || there(inner));
    printf("control %s\nused %s\n", there(control) ? "there" : "gone", ok ? "kept" : "LOST");
    fflush(stdout);
    if (child > 0) {
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
    }
    if (map)
        munmap(map, 5);
    if (fd >= 0)
        close(fd);
    return 0;
}
