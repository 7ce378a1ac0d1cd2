/* tmpguard-tool: the parts of the launcher that need to read records.
 *
 *   tmpguard-tool run --lib LIB -- COMMAND [ARGS...]
 *       run COMMAND under the shim as a supervised child: forward signals, reap the records of its
 *       dead descendants every two seconds, reap them all when it ends, exit as it exited.
 *   tmpguard-tool reap [--dry-run] [--state-dir DIR] [--supervisor PID:START]
 *       remove what dead processes left (their records remain: they did not end through the shim).
 *   tmpguard-tool status [--state-dir DIR] [PID]
 *       the live processes that hold temp files; with PID, its files.
 *
 * The launcher script (scripts/tmpguard) parses the user's options and calls this. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "reap.h"
#include "recread.h"

static const char *state_dir;
static int dry_run;
static FILE *say; /* where removals are reported: stdout for reap, nowhere (or the log) for run */
static int dir_refused; /* the state directory exists but could not be used */
static struct tg_proc_id only_supervisor; /* pid 0: every record */

static void usage(void)
{
    fprintf(stderr, "usage: tmpguard-tool run --lib LIB -- COMMAND [ARGS...]\n"
                    "       tmpguard-tool reap [--dry-run] [--state-dir DIR] [--supervisor PID:START]\n"
                    "       tmpguard-tool status [--state-dir DIR] [PID]\n");
    exit(2);
}

/* ---- the state directory ------------------------------------------------------------------- */

/* Opens the state directory if it is safe to believe: a real directory (not a symlink), mode
 * 0700, owned by us, or by anyone when we are root. */
static int open_state_dir(int quiet_if_missing)
{
    struct stat st;
    if (lstat(state_dir, &st) < 0) {
        if (errno != ENOENT)
            dir_refused = 1;
        if (!(quiet_if_missing && errno == ENOENT))
            fprintf(stderr, "tmpguard: state directory %s: %s\n", state_dir, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode) || (st.st_mode & 07777) != 0700 ||
        (st.st_uid != getuid() && getuid() != 0)) {
        dir_refused = 1;
        fprintf(stderr, "tmpguard: state directory %s refused: it must be a directory (not a symlink) of its "
                        "user with mode 0700\n",
                state_dir);
        return -1;
    }
    int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "tmpguard: state directory %s: %s\n", state_dir, strerror(errno));
    return fd;
}

static int is_record_name(const char *n)
{
    size_t l = strlen(n);
    return l > 4 && strcmp(n + l - 4, ".rec") == 0 && n[0] != '.';
}

/* ---- reaping ------------------------------------------------------------------------------- */

struct totals {
    unsigned long long files, bytes, records, refused, live;
};

static void report(const struct tg_rec_entry *e, enum tg_outcome o, uint64_t bytes, void *arg)
{
    struct totals *t = arg;
    if (o == TG_REMOVED || o == TG_WOULD) {
        if (say)
            fprintf(say, "%s%s %s (%llu bytes)\n", say == stderr ? "tmpguard: " : "",
                    o == TG_WOULD ? "would remove" : "removed", e->path, (unsigned long long)bytes);
        t->files++;
        t->bytes += bytes;
    } else if (o == TG_LEFT && say) {
        fprintf(say, "%sleft %s: not the file its process created, or not removable by its owner\n",
                say == stderr ? "tmpguard: " : "", e->path);
    } else if (o == TG_NOT_EMPTY && say) {
        fprintf(say, "%skept %s: a directory that is not empty\n", say == stderr ? "tmpguard: " : "", e->path);
    }
}

/* Seconds since the epoch when the system booted, for telling when a process started. */
static long long boot_time(void)
{
    static long long bt = -1;
    if (bt >= 0)
        return bt;
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    bt = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &bt) == 1)
            break;
    if (f)
        fclose(f);
    return bt;
}

/* The reaper's own temp roots: a record's claimed roots must lie at or below one of them, so that a
 * record cannot make /etc a "temp root". */
static int root_allowed(const char *root, size_t len)
{
    for (int i = 0; i < tg_cfg.nroots; i++) {
        size_t rl = tg_cfg.root_len[i];
        if (len >= rl && memcmp(root, tg_cfg.roots[i], rl) == 0 && (len == rl || root[rl] == '/'))
            return 1;
    }
    return 0;
}

static int supervisor_matches(const struct tg_rec_header *h)
{
    return !only_supervisor.pid ||
           (h->supervisor.pid == only_supervisor.pid && h->supervisor.start_ticks == only_supervisor.start_ticks);
}

/* A large record is reaped by two threads, each taking every other file: while one waits for the
 * directory lock in unlinkat, the other checks its next file (fstatat needs no lock), so the
 * check that rm -rf does without costs no time.  Then plain directories, then the record. */
struct half {
    int dfd;
    const char *name;
    struct tg_reap_opts opts;
    enum tg_reap_result res;
};

static char half_buf[2][1 << 20];
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void report_locked(const struct tg_rec_entry *e, enum tg_outcome o, uint64_t bytes, void *arg)
{
    pthread_mutex_lock(&report_lock);
    report(e, o, bytes, arg);
    pthread_mutex_unlock(&report_lock);
}

static void *half_run(void *arg)
{
    struct half *h = arg;
    struct tg_rec_reader r;
    h->res = tg_reap_record(h->dfd, h->name, &h->opts, &r, half_buf[h->opts.offset], sizeof half_buf[0]);
    return NULL;
}

static enum tg_reap_result reap_split(int dfd, const char *name, const struct tg_reap_opts *o, struct tg_rec_reader *r,
                                      char *buf, size_t bufsz)
{
    struct stat st;
    /* Small records (most): one pass, one thread. */
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_size < (off_t)(1 << 20))
        return tg_reap_record(dfd, name, o, r, buf, bufsz);
    struct totals *sum = o->arg;
    struct half h[2];
    for (int i = 0; i < 2; i++) {
        h[i].dfd = dfd;
        h[i].name = name;
        h[i].opts = *o;
        h[i].opts.phase = TG_REAP_FILES;
        h[i].opts.stride = 2;
        h[i].opts.offset = (unsigned)i;
        h[i].opts.keep_record = 1;
        h[i].opts.report = report_locked;
        h[i].opts.arg = sum;
    }
    pthread_t th;
    int threaded = pthread_create(&th, NULL, half_run, &h[1]) == 0;
    half_run(&h[0]);
    if (threaded)
        pthread_join(th, NULL);
    else
        half_run(&h[1]);
    for (int i = 0; i < 2; i++)
        if (h[i].res == TG_REAP_REFUSED || h[i].res == TG_REAP_ALIVE || h[i].res == TG_REAP_NOT_NAMED) {
            *r = (struct tg_rec_reader){.fd = -1};
            snprintf(r->why, sizeof r->why, "%s", "refused while reaping");
            return h[i].res;
        }
    struct tg_reap_opts dirs = *o;
    dirs.phase = TG_REAP_DIRS;
    dirs.keep_record = 1;
    enum tg_reap_result res = tg_reap_record(dfd, name, &dirs, r, buf, bufsz);
    if (res == TG_REAP_DONE && h[0].res == TG_REAP_DONE && h[1].res == TG_REAP_DONE) {
        if (!o->dry)
            unlinkat(dfd, name, 0);
        return TG_REAP_DONE;
    }
    return res == TG_REAP_DONE ? TG_REAP_KEPT : res;
}

/* Reaps one record, with the rights of its owner. */
static void reap_one(int dfd, const char *name, struct totals *t, int quiet)
{
    static char buf[1 << 20];
    struct tg_rec_reader r;
    if (tg_rr_open(&r, dfd, name, buf, sizeof buf) < 0) {
        if (strstr(r.why, "cannot be opened") == NULL || !quiet)
            fprintf(stderr, "tmpguard: skipped record %s/%s: %s\n", state_dir, name, r.why);
        tg_rr_close(&r);
        t->refused++;
        return;
    }
    struct tg_rec_header h = r.h;
    int roots_ok = 1;
    for (int i = 0; i < r.nroots; i++)
        roots_ok &= root_allowed(r.root[i], r.root_len[i]);
    tg_rr_close(&r);
    if (!supervisor_matches(&h))
        return;
    if (!roots_ok) {
        fprintf(stderr, "tmpguard: skipped record %s/%s: it claims temp roots outside %s\n", state_dir, name,
                "the reaper's (TMPGUARD_ROOTS or the defaults)");
        t->refused++;
        return;
    }
    long tick = (long)getauxval(AT_CLKTCK);
    /* Everything the process created changed status after it started (2 s for the clock's grain). */
    struct tg_rm_guard guard = {
        .uid = h.uid,
        .not_before_ns = (boot_time() + (long long)(h.start_ticks / (uint64_t)(tick > 0 ? tick : 100)) - 2) *
                         1000000000LL,
    };
    struct tg_reap_opts opts = {.dry = dry_run, .ending = NULL, .guard = &guard, .report = report, .arg = t};
    enum tg_reap_result res;
    if (getuid() == 0 && h.uid != 0) {
        /* Root reaping another user's record acts with that user's rights only: it never removes
         * what that user could not remove. */
        int pfd[2];
        if (pipe(pfd) < 0)
            return;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            struct passwd *pw = getpwuid(h.uid);
            gid_t gid = pw ? pw->pw_gid : (gid_t)h.uid;
            if ((pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL)) < 0 || setresgid(gid, gid, gid) < 0 ||
                setresuid(h.uid, h.uid, h.uid) < 0)
                _exit(3);
            struct totals mine = {0, 0, 0, 0, 0};
            opts.arg = &mine;
            res = reap_split(dfd, name, &opts, &r, buf, sizeof buf);
            if (res == TG_REAP_REFUSED)
                fprintf(stderr, "tmpguard: skipped record %s/%s: %s\n", state_dir, name, r.why);
            mine.records = res == TG_REAP_DONE || res == TG_REAP_KEPT;
            mine.refused = res == TG_REAP_REFUSED;
            mine.live = res == TG_REAP_ALIVE;
            fflush(stdout);
            if (write(pfd[1], &mine, sizeof mine) != (ssize_t)sizeof mine)
                _exit(4);
            _exit(0);
        }
        close(pfd[1]);
        struct totals got;
        if (pid > 0 && read(pfd[0], &got, sizeof got) == (ssize_t)sizeof got) {
            t->files += got.files;
            t->bytes += got.bytes;
            t->records += got.records;
            t->refused += got.refused;
            t->live += got.live;
        }
        close(pfd[0]);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        return;
    }
    res = reap_split(dfd, name, &opts, &r, buf, sizeof buf);
    if (res == TG_REAP_REFUSED) {
        fprintf(stderr, "tmpguard: skipped record %s/%s: %s\n", state_dir, name, r.why);
        t->refused++;
    } else if (res == TG_REAP_ALIVE) {
        t->live++;
    } else {
        t->records++;
    }
}

/* Reaps every record of a dead process in the state directory (those of SUPERVISOR only, if set). */
static struct totals reap_all(int quiet)
{
    struct totals t = {0, 0, 0, 0, 0};
    int dfd = open_state_dir(1); /* no state directory: nothing was ever recorded */
    if (dfd < 0)
        return t;
    DIR *d = fdopendir(dup(dfd));
    for (struct dirent *de; d && (de = readdir(d));) {
        if (is_record_name(de->d_name)) {
            reap_one(dfd, de->d_name, &t, quiet);
        } else {
            /* PID.heir markers of processes that are gone (the shim's lifecycle.c) */
            size_t l = strlen(de->d_name);
            int pid = atoi(de->d_name);
            char state = 'X';
            if (l > 5 && strcmp(de->d_name + l - 5, ".heir") == 0 && pid > 0 &&
                (tg_proc_stat(pid, NULL, &state) < 0 || state == 'Z' || state == 'X'))
                unlinkat(dfd, de->d_name, 0);
        }
    }
    if (d)
        closedir(d);
    close(dfd);
    fflush(stdout);
    return t;
}

/* Exit status 0 when everything found could be dealt with; 1 when the state directory or a record
 * was refused (a cron job should hear of it); a missing state directory is nothing to reap. */
static int cmd_reap(void)
{
    say = stdout;
    struct totals t = reap_all(0);
    printf("%s %llu files, %llu bytes, from %llu records%s\n", dry_run ? "would remove" : "removed", t.files,
           t.bytes, t.records, t.refused ? " (some records skipped, see above)" : "");
    return dir_refused || t.refused ? 1 : 0;
}

/* ---- status --------------------------------------------------------------------------------- */

static int cmd_status(int pid)
{
    int dfd = open_state_dir(1);
    if (dfd < 0) {
        printf("no process holds temp files\n");
        return 0;
    }
    static char buf[1 << 20];
    DIR *d = fdopendir(dup(dfd));
    int shown = 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long now_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    for (struct dirent *de; d && (de = readdir(d));) {
        if (!is_record_name(de->d_name))
            continue;
        struct tg_rec_reader r;
        if (tg_rr_open(&r, dfd, de->d_name, buf, sizeof buf) < 0) {
            tg_rr_close(&r);
            continue;
        }
        struct tg_proc_id owner = {.pid = r.h.pid, .gen = 0, .start_ticks = r.h.start_ticks};
        if ((pid && r.h.pid != pid) || !tg_proc_alive(&owner)) {
            tg_rr_close(&r);
            continue;
        }
        unsigned long long n = 0, bytes = 0;
        long long oldest = 0;
        const struct tg_rec_entry *e;
        while (tg_rr_next(&r, &e) == 1) {
            struct stat st;
            if (lstat(e->path, &st) < 0 || (uint64_t)st.st_ino != e->ino || (uint64_t)st.st_dev != e->dev)
                continue;
            n++;
            bytes += (unsigned long long)st.st_size;
            if (!oldest || e->ctime_ns < oldest)
                oldest = e->ctime_ns;
            if (pid)
                printf("%s\t%llu bytes\t%llds old\n", e->path, (unsigned long long)st.st_size,
                       (now_ns - e->ctime_ns) / 1000000000LL);
        }
        tg_rr_close(&r);
        if (!n)
            continue;
        char comm[64] = "?", path[64];
        snprintf(path, sizeof path, "/proc/%d/comm", (int)owner.pid);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = '\0';
        if (f)
            fclose(f);
        if (!shown++ && !pid)
            printf("%-8s %-16s %8s %12s %10s\n", "PID", "COMMAND", "FILES", "BYTES", "OLDEST");
        if (!pid)
            printf("%-8d %-16s %8llu %12llu %9llds\n", (int)owner.pid, comm, n, bytes,
                   (now_ns - oldest) / 1000000000LL);
    }
    if (d)
        closedir(d);
    close(dfd);
    if (!shown)
        printf(pid ? "process %d holds no temp files\n" : "no process holds temp files\n", pid);
    return 0;
}

/* ---- run: the supervising launcher ----------------------------------------------------------- */

/* Is PID on its way out: exiting already, or with a SIGKILL pending? */
static int dying(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int out = 0;
    while (!out && fgets(line, sizeof line, f)) {
        unsigned long long mask;
        char state;
        if (sscanf(line, "State: %c", &state) == 1)
            out = state == 'Z' || state == 'X';
        else if (sscanf(line, "ShdPnd: %llx", &mask) == 1 || sscanf(line, "SigPnd: %llx", &mask) == 1)
            out = (mask >> (SIGKILL - 1)) & 1;
    }
    fclose(f);
    if (!out) {
        /* PF_EXITING in the flags field (the 9th of /proc/PID/stat). */
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        f = fopen(path, "r");
        char buf[1024];
        if (f && fgets(buf, sizeof buf, f)) {
            char *p = strrchr(buf, ')');
            unsigned long flags;
            if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags) == 1)
                out = (flags & 0x4) != 0;
        }
        if (f)
            fclose(f);
    }
    return out;
}

/* Whether a record of this launcher's tree belongs to a process that is still dying. */
static int tree_dying(void)
{
    static char buf[16384];
    int dfd = open_state_dir(1), found = 0;
    if (dfd < 0)
        return 0;
    DIR *d = fdopendir(dup(dfd));
    for (struct dirent *de; d && !found && (de = readdir(d));) {
        struct tg_rec_reader r;
        if (!is_record_name(de->d_name) || tg_rr_open_header(&r, dfd, de->d_name, buf, sizeof buf) < 0) {
            tg_rr_close(&r);
            continue;
        }
        struct tg_proc_id owner = {.pid = r.h.pid, .gen = 0, .start_ticks = r.h.start_ticks};
        found = supervisor_matches(&r.h) && tg_proc_alive(&owner) && dying(r.h.pid);
        tg_rr_close(&r);
    }
    if (d)
        closedir(d);
    close(dfd);
    return found;
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static int cmd_run(const char *lib, char **argv)
{
    /* The command's output is the user's: the launcher reports only when asked to log. */
    say = tg_cfg.log_level >= TG_LOG_INFO ? stderr : NULL;
    pid_t self = getpid();
    struct tg_proc_id me = {.pid = self, .gen = 0, .start_ticks = tg_proc_start_ticks(self)};
    char tag[64];
    snprintf(tag, sizeof tag, "%d:%llu", (int)self, (unsigned long long)me.start_ticks);
    setenv("TMPGUARD_SUPERVISOR", tag, 1);
    only_supervisor = me;

    sigset_t set, old;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(&set, forwarded[i]);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);

    pid_t child = fork();
    if (child < 0) {
        perror("tmpguard: fork");
        return 127;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        /* The caller's own preload, which the launcher kept out of its own way. */
        const char *pre = getenv("TMPGUARD_OUTER_PRELOAD");
        char *both = malloc(strlen(lib) + (pre ? strlen(pre) : 0) + 2);
        sprintf(both, pre && *pre ? "%s:%s" : "%s", lib, pre);
        setenv("LD_PRELOAD", both, 1);
        unsetenv("TMPGUARD_OUTER_PRELOAD");
        execvp(argv[0], argv);
        fprintf(stderr, "tmpguard: %s: %s\n", argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }

    int status = 0;
    struct timespec tick = {2, 0};
    for (;;) {
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &tick);
        if (sig == SIGCHLD || sig < 0) {
            pid_t w = waitpid(child, &status, WNOHANG);
            if (w == child)
                break;
            if (sig < 0)
                reap_all(1); /* every two seconds: a worker killed by the OOM killer goes now */
        } else {
            kill(child, sig);
        }
    }
    /* The command is over: whatever its tree left in records is due now.  Descendants killed
     * with it may still be dying (a process freeing a large heap takes a while): their records
     * are taken as they finish, for ten seconds at most. */
    struct timespec pause = {0, 100 * 1000 * 1000};
    for (int i = 0; i < 100; i++) {
        reap_all(1);
        if (!tree_dying())
            break;
        nanosleep(&pause, NULL);
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore); /* the command dumped its core already, if any */
        signal(sig, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        raise(sig); /* blocked since the start: pending until the line below (raise returns) */
        // cppcheck-suppress unreachableCode
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        return 128 + sig;
    }
    return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    /* The roots and the state directory, as the shim would see them. */
    tg_config_load(NULL);
    if (tg_cfg.mode == TG_MODE_OFF)
        tg_config_load_paths();
    state_dir = tg_cfg.state_dir;
    const char *cmd = argv[1], *lib = NULL;
    int i = 2, pid = 0;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (!strcmp(argv[i], "--dry-run")) {
            dry_run = 1;
        } else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc) {
            state_dir = argv[++i];
            setenv("TMPGUARD_STATE_DIR", state_dir, 1); /* for the shims below a launcher */
        } else if (!strcmp(argv[i], "--lib") && i + 1 < argc) {
            lib = argv[++i];
        } else if (!strcmp(argv[i], "--supervisor") && i + 1 < argc) {
            unsigned long long s;
            int p;
            if (sscanf(argv[++i], "%d:%llu", &p, &s) != 2)
                usage();
            only_supervisor.pid = p;
            only_supervisor.start_ticks = s;
        } else if (!strcmp(cmd, "status") && argv[i][0] >= '0' && argv[i][0] <= '9') {
            pid = atoi(argv[i]);
        } else {
            fprintf(stderr, "tmpguard: %s: unknown argument '%s'\n", cmd, argv[i]);
            usage();
        }
    }
    if (!strcmp(cmd, "reap"))
        return cmd_reap();
    if (!strcmp(cmd, "status"))
        return cmd_status(pid);
    if (!strcmp(cmd, "run") && lib && i < argc)
        return cmd_run(lib, argv + i);
    usage();
}
