/* Precision of a cleanup method: what it removes after a mixed workload, leaked and in use.
 *
 *   tg-bench-mixed LIB DIR IDLE_MS CMD [ARG...]
 *
 * In DIR (which must exist), with LD_PRELOAD=LIB in every workload process:
 *   - 2 keepers, long-lived and well behaved: each creates 20 files with mkstemp and holds them
 *     open until the end.  The first 10 are in active use (rewritten and read back every half
 *     second); the other 10 are open but idle (a lock file, a socket's companion, a cache read
 *     once at start): written once, then untouched.
 *   - 3 leakers, started together once the keepers are ready: each creates 100 files with
 *     mkstemp, removes every other one, and dies by SIGKILL, leaving 50: 150 leaked files.
 * Then the workload idles IDLE_MS milliseconds (the keepers keep working), CMD runs (output
 * thrown away; it must succeed), and the program prints one line:
 *   leaked REMOVED TOTAL active REMOVED TOTAL idle REMOVED TOTAL
 * counting by name which files are gone.  The keepers are ended with SIGTERM afterwards.
 *
 * An age-based cleaner sees only times: an idle file that is in use looks exactly like a leaked
 * one.  tmpguard sees owners: a leaked file's owner is gone, an in-use file's owner is alive. */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define KEEPERS 2
#define KEEP_FILES 20
#define KEEP_ACTIVE 10
#define LEAKERS 3
#define LEAK_FILES 100 /* of which every other one is removed */
#define PATH_LEN 4096

static int make_file(const char *dir, char *name, size_t size)
{
    int len = snprintf(name, size, "%s/work.XXXXXX", dir);
    if (len < 0 || (size_t)len >= size)
        return -1;
    int fd = mkstemp(name);
    if (fd < 0) {
        perror("mkstemp");
        return -1;
    }
    static const char line[] = "scratch data\n";
    if (write(fd, line, sizeof line - 1) != (ssize_t)(sizeof line - 1)) {
        perror("write");
        close(fd);
        return -1;
    }
    return fd;
}

/* keep DIR: holds its files until SIGTERM (or its parent's death). */
static int keeper(const char *dir)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    static char names[KEEP_FILES][PATH_LEN];
    int fds[KEEP_FILES];
    for (int i = 0; i < KEEP_FILES; i++) {
        fds[i] = make_file(dir, names[i], sizeof names[i]);
        if (fds[i] < 0)
            return 2;
        printf("%c %s\n", i < KEEP_ACTIVE ? 'A' : 'I', names[i]);
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        struct timespec half = {0, 500 * 1000 * 1000};
        nanosleep(&half, NULL);
        for (int i = 0; i < KEEP_ACTIVE; i++) {
            char c = 'x';
            if (pwrite(fds[i], &c, 1, 0) != 1 || pread(fds[i], &c, 1, 0) != 1)
                return 2;
        }
    }
}

/* leak DIR: leaves half its files and dies as the OOM killer kills. */
static int leaker(const char *dir)
{
    char name[PATH_LEN];
    for (int i = 0; i < LEAK_FILES; i++) {
        int fd = make_file(dir, name, sizeof name);
        if (fd < 0)
            return 2;
        close(fd);
        if (i % 2 == 0) {
            if (unlink(name) < 0) {
                perror(name);
                return 2;
            }
        } else {
            printf("L %s\n", name);
        }
    }
    printf("done\n");
    fflush(stdout);
    raise(SIGKILL);
    return 2;
}

struct child {
    pid_t pid;
    FILE *out;
};

static int start(struct child *c, char *const argv[], char **env)
{
    int fd = bench_spawn_piped(&c->pid, argv, env, 0);
    if (fd < 0)
        return -1;
    c->out = fdopen(fd, "r");
    return c->out ? 0 : -1;
}

struct list {
    char (*path)[PATH_LEN];
    int n, cap;
};

static int add(struct list *l, const char *path)
{
    size_t len = strlen(path);
    if (l->n == l->cap || len >= PATH_LEN)
        return -1;
    memcpy(l->path[l->n++], path, len + 1);
    return 0;
}

/* Reads "X PATH" lines from C into the lists until a line without a path (ready, done) or EOF.
 * Returns the terminating word's first letter, or 0 at EOF. */
static int read_names(struct child *c, struct list *active, struct list *idle, struct list *leaked)
{
    char line[PATH_LEN + 8];
    while (fgets(line, sizeof line, c->out)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0' || line[1] != ' ')
            return line[0];
        struct list *l = line[0] == 'A' ? active : line[0] == 'I' ? idle : line[0] == 'L' ? leaked : NULL;
        if (!l || add(l, line + 2) < 0) {
            fprintf(stderr, "tg-bench-mixed: unexpected line from a worker: %s\n", line);
            return -1;
        }
    }
    return 0;
}

static int gone(const struct list *l)
{
    int n = 0;
    struct stat st;
    for (int i = 0; i < l->n; i++)
        if (lstat(l->path[i], &st) < 0 && errno == ENOENT)
            n++;
    return n;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "keep") == 0)
        return keeper(argv[2]);
    if (argc == 3 && strcmp(argv[1], "leak") == 0)
        return leaker(argv[2]);
    if (argc < 5) {
        fprintf(stderr, "usage: %s LIB DIR IDLE_MS CMD [ARG...]\n", argv[0]);
        return 2;
    }
    const char *lib = argv[1];
    char *dir = argv[2];
    long idle_ms = bench_count(argv[3], argv[0]);
    char **cmd = argv + 4;
    char **env = bench_child_env(lib);

    static char active_buf[KEEPERS * KEEP_ACTIVE][PATH_LEN], idle_buf[KEEPERS * (KEEP_FILES - KEEP_ACTIVE)][PATH_LEN],
        leaked_buf[LEAKERS * LEAK_FILES][PATH_LEN];
    struct list active = {active_buf, 0, KEEPERS * KEEP_ACTIVE};
    struct list idle = {idle_buf, 0, KEEPERS * (KEEP_FILES - KEEP_ACTIVE)};
    struct list leaked = {leaked_buf, 0, LEAKERS * LEAK_FILES};

    struct child keepers[KEEPERS], leakers[LEAKERS];
    char *keep_argv[] = {"/proc/self/exe", "keep", dir, NULL};
    char *leak_argv[] = {"/proc/self/exe", "leak", dir, NULL};
    int ok = 1, started = 0;
    while (ok && started < KEEPERS) {
        if (start(&keepers[started], keep_argv, env) < 0) {
            ok = 0;
            break;
        }
        if (read_names(&keepers[started++], &active, &idle, &leaked) != 'r') {
            fprintf(stderr, "%s: a keeper did not get ready\n", argv[0]);
            ok = 0;
        }
    }
    /* The leakers run at the same time as each other (and as the keepers). */
    int nleak = 0;
    while (ok && nleak < LEAKERS) {
        if (start(&leakers[nleak], leak_argv, env) < 0)
            ok = 0;
        else
            nleak++;
    }
    for (int i = 0; i < nleak; i++) {
        if (ok && read_names(&leakers[i], &active, &idle, &leaked) != 'd') {
            fprintf(stderr, "%s: a leaker did not finish\n", argv[0]);
            ok = 0;
        }
        fclose(leakers[i].out);
        int status = bench_wait(leakers[i].pid);
        if (status == -1 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            fprintf(stderr, "%s: a leaker did not die by SIGKILL (status %#x)\n", argv[0], (unsigned)status);
            ok = 0;
        }
    }
    if (ok && (gone(&active) || gone(&idle) || gone(&leaked))) {
        fprintf(stderr, "%s: files went missing before the cleanup ran\n", argv[0]);
        ok = 0;
    }

    if (ok) {
        bench_sleep_ms(idle_ms);
        ok = bench_run_quiet(cmd, argv[0], NULL) == 0;
    }
    if (ok)
        printf("leaked %d %d active %d %d idle %d %d\n", gone(&leaked), leaked.n, gone(&active), active.n, gone(&idle),
               idle.n);
    fflush(stdout);

    for (int i = 0; i < started; i++) {
        kill(keepers[i].pid, SIGTERM);
        fclose(keepers[i].out);
        bench_wait(keepers[i].pid);
    }
    return ok ? 0 : 1;
}
