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

/* Time limits: tg_limit_ms(BASE) is BASE, the milliseconds a wait needs on a quiet machine without
 * instrumentation, scaled by how loaded this machine is and by the instrumentation the tests run
 * under (harness.c explains the scheme).  Use it for every fixed wait. */
long tg_limit_ms(long base_ms);
long tg_now_ms(void); /* CLOCK_MONOTONIC in milliseconds */
double tg_time_factor(void);  /* the scale: tg_measure_load() (or TG_LOAD_FACTOR) times tg_instr_factor() */
double tg_measure_load(void); /* a fresh measure of the machine's slowness, 1 to 16 */
double tg_instr_factor(void);

/* Progress of the processes below this one (the victims, their children, those left to this
 * process): CPU time, which processes live, and what the caller has read from them. */
struct tg_progress {
    unsigned long long cpu;  /* clock ticks, user and system, of them all (those collected too) */
    unsigned long long pids; /* a hash of the set of live (not zombie) processes */
    int n;                   /* how many */
    size_t bytes;
};
/* Samples it; returns 1 when anything moved since *LAST, which it updates. */
int tg_progress_sample(struct tg_progress *last, size_t bytes);

/* A wait that may be for a stuck process: it expires after tg_limit_ms(BASE) without progress
 * (TG_WATCH_STUCK), or after 10 times that in all, progress or not (TG_WATCH_CAP).  BYTES: what
 * has been read from the processes so far (more is progress). */
struct tg_watch {
    long start, last_progress, window, cap, next_sample;
    struct tg_progress prog;
};
enum { TG_WATCH_STUCK = 1, TG_WATCH_CAP = 2 };
void tg_watch_start(struct tg_watch *w, long base_ms);
int tg_watch_expired(struct tg_watch *w, size_t bytes);
const char *tg_watch_why(const struct tg_watch *w, int how); /* the expiry, for messages */

/* Starts ARGV (NULL-terminated) under the shim when SHIM, in CWD (NULL: f->out), with the test
 * environment plus ENV ("K=V" strings, NULL-terminated, may be NULL). */
void proc_start(struct proc *p, struct fx *f, int shim, const char *cwd, const char *const env[],
                struct run *r, const char *const argv[]);
/* Reads output until a line starting with PREFIX arrives; fails the test (after a SIGKILL) when
 * its output ends first, or when the wait expires (tg_watch, 20 s scaled). */
void proc_wait_line(struct proc *p, const char *prefix);
/* Reads everything until exit and waits; when the wait expires (tg_watch, 20 s scaled), SIGKILL and a
 * failed test. */
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
/* What a state directory holds besides its counters file (which outlives every process by design):
 * records and heir markers. */
int count_state(const char *dir);
int exists(const char *path);        /* lstat succeeds */
char *slurp(const char *path);       /* whole file, malloc'd; NULL if unreadable */
void put(const char *path, const char *text);
void rm_rf(const char *path);

int exited_with(int status, int code);
int killed_by(int status, int sig);
/* "exited 3" / "killed by signal 15": for messages. */
const char *describe(int status);

#endif
