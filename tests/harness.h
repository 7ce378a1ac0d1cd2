/* Test harness: a private temp root per test, victim programs run under the shim, and assertions
 * on what is left on disk afterwards. */
#ifndef TG_HARNESS_H
#define TG_HARNESS_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/wait.h>

struct fx {
    char base[256];  /* private directory holding all below */
    char root[300];  /* the temp root (TMPGUARD_ROOTS, TMPDIR) */
    char out[300];   /* a directory outside every root ("elsewhere") */
    char state[300]; /* the record directory (TMPGUARD_STATE_DIR) */
};

#define MAX_CREATED 64
struct run {
    int status;              /* raw wait status */
    char out[1 << 16];
    char err[1 << 14];
    int ncreated;
    char created[MAX_CREATED][512]; /* the "created PATH" lines of the victim */
};

struct proc {
    pid_t pid;
    int outfd, errfd;
    struct run *r;
    size_t outlen, errlen;
};

void fx_setup(struct fx *f);
void fx_teardown(struct fx *f);
/* SIGKILLs every other process with F's state directory in its environment: the fixture is the
 * test's own, so each such process is one the test started (a victim, a launcher, what they ran),
 * still running when a failed assertion stopped the test before it could end them. */
void kill_leftovers(const struct fx *f);

/* Whether tests run with the shim: TG_NO_SHIM=1 runs the same tests without it, to show that
 * they fail where the shim is the point. */
int shim_enabled(void);
const char *victim_path(void);
/* The suites also run against the musl build of the library and victims (TG_MUSL=1, scripts/test):
 * a test that runs a system program under the shim (sh, mkdir, sort...: glibc programs, which
 * cannot load a musl library) is skipped there. */
void skip_under_musl(const char *programs);
const char *src_path(const char *rel); /* a file of the source tree */

/* Starts ARGV (NULL-terminated) under the shim when SHIM, in CWD (NULL: f->out), with the test
 * environment plus ENV ("K=V" strings, NULL-terminated, may be NULL). */
void proc_start(struct proc *p, struct fx *f, int shim, const char *cwd, const char *const env[],
                struct run *r, const char *const argv[]);
/* Reads output until a line starting with PREFIX arrives (or fails the test after 20 s). */
void proc_wait_line(struct proc *p, const char *prefix);
/* Reads everything until exit and waits (20 s at most, then SIGKILL and a failed test). */
void proc_finish(struct proc *p);

void run_argv(struct fx *f, int shim, const char *cwd, const char *const env[], struct run *r,
              const char *const argv[]);
#define RUN(f, shim, cwd, env, r, ...)                                                              \
    run_argv((f), (shim), (cwd), (env), (r), (const char *const[]){__VA_ARGS__, NULL})
#define VICTIM(f, r, ...) RUN((f), 1, NULL, NULL, (r), victim_path(), __VA_ARGS__)

/* Whether PID is gone or a zombie: what the reaper calls dead. */
int pid_dead(pid_t pid);

/* Files and directories below DIR (not counting DIR), following no symlink. */
int count_below(const char *dir);
int exists(const char *path);        /* lstat succeeds */
char *slurp(const char *path);       /* whole file, malloc'd; NULL if unreadable */
void put(const char *path, const char *text);
void rm_rf(const char *path);

int exited_with(int status, int code);
int killed_by(int status, int sig);
/* "exited 3" / "killed by signal 15": for messages. */
const char *describe(int status);

#endif
