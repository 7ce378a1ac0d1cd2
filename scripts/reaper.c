/* The reaper: what processes that are gone left in their records.  Each record is reaped with the
 * rights of its own user (root forks and becomes that user first), a large one by two threads. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "counters.h"
#include "proc.h"
#include "reap.h"
#include "recread.h"
#include "tool.h"

/* What each reaped entry is reported to: the command's destination and its totals. */
struct tally {
    FILE *say;
    struct totals *sum;
    pthread_mutex_t *lock; /* the two halves of a large record report into one tally */
};

static void report(const struct tg_rec_entry *e, enum tg_outcome o, uint64_t bytes, void *arg)
{
    struct tally *k = arg;
    const char *tag = k->say == stderr ? "tmpguard: " : "";
    if (k->lock)
        pthread_mutex_lock(k->lock);
    if (o == TG_REMOVED || o == TG_WOULD) {
        if (k->say)
            fprintf(k->say, "%s%s %s (%llu bytes)\n", tag, o == TG_WOULD ? "would remove" : "removed", e->path,
                    (unsigned long long)bytes);
        k->sum->files++;
        k->sum->bytes += bytes;
    } else if (o == TG_LEFT && k->say) {
        fprintf(k->say, "%sleft %s: not the file its process created, or not removable by its owner\n", tag,
                e->path);
    } else if (o == TG_NOT_EMPTY && k->say) {
        fprintf(k->say, "%skept %s: a directory that is not empty\n", tag, e->path);
    }
    if (k->lock)
        pthread_mutex_unlock(k->lock);
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

static int supervisor_matches(const struct tool *t, const struct tg_rec_header *h)
{
    return !t->only_supervisor.pid || (h->supervisor.pid == t->only_supervisor.pid &&
                                       h->supervisor.start_ticks == t->only_supervisor.start_ticks);
}

/* A large record is reaped by two threads, each taking every other file: while one waits for the
 * directory lock in unlinkat, the other checks its next file (fstatat needs no lock), so the
 * check that rm -rf does without costs no time.  Then plain directories, then the record. */
#define SPLIT_FROM (1 << 20) /* bytes of record: about 8,000 entries; below, one thread is as fast */
struct half {
    int dfd;
    const char *name;
    struct tg_reap_opts opts;
    enum tg_reap_result res;
};

static char half_buf[2][1 << 20];

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
    /* (One report is written by one thread.) */
    if (o->leaks || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_size < (off_t)SPLIT_FROM)
        return tg_reap_record(dfd, name, o, r, buf, bufsz);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct tally shared = *(struct tally *)o->arg;
    shared.lock = &lock;
    struct half h[2];
    for (int i = 0; i < 2; i++) {
        h[i].dfd = dfd;
        h[i].name = name;
        h[i].opts = *o;
        h[i].opts.phase = TG_SWEEP_FILES;
        h[i].opts.stride = 2;
        h[i].opts.offset = (unsigned)i;
        h[i].opts.keep_record = 1;
        h[i].opts.arg = &shared;
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
    dirs.phase = TG_SWEEP_DIRS;
    dirs.keep_record = 1;
    enum tg_reap_result res = tg_reap_record(dfd, name, &dirs, r, buf, bufsz);
    if (res == TG_REAP_DONE && h[0].res == TG_REAP_DONE && h[1].res == TG_REAP_DONE) {
        if (!o->dry)
            unlinkat(dfd, name, 0);
        return TG_REAP_DONE;
    }
    return res == TG_REAP_DONE ? TG_REAP_KEPT : res;
}

/* The leak report of the records reaped (TMPGUARD_REPORT, --report): its file opened once, before
 * root takes on a record's user, so that every record lands in the operator's report. */
static struct tg_report leaks = {.given_fd = -1};
static struct tg_report *leak_report(void)
{
    if (tg_cfg.report == TG_REPORT_OFF)
        return NULL;
    if (tg_cfg.report == TG_REPORT_FILE && leaks.given_fd < 0) {
        leaks.given_fd = open(tg_cfg.report_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (leaks.given_fd < 0) {
            fprintf(stderr, "tmpguard: cannot open the report %s: %s\n", tg_cfg.report_path, strerror(errno));
            tg_cfg.report = TG_REPORT_OFF;
            return NULL;
        }
    }
    return &leaks;
}

static void count(struct totals *t, enum tg_reap_result res)
{
    t->records += res == TG_REAP_DONE || res == TG_REAP_KEPT;
    t->refused += res == TG_REAP_REFUSED;
    t->live += res == TG_REAP_ALIVE;
}

/* Root reaping another user's record acts with that user's rights only: it never removes what that
 * user could not remove.  The child becomes the user, reaps, and sends its totals back. */
static void reap_as_user(const struct tool *t, uid_t uid, int dfd, const char *name, struct tg_reap_opts *opts,
                         struct totals *sum)
{
    static char buf[1 << 20];
    int pfd[2];
    if (pipe(pfd) < 0)
        return;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        struct passwd *pw = getpwuid(uid);
        gid_t gid = pw ? pw->pw_gid : (gid_t)uid;
        if ((pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL)) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(uid, uid, uid) < 0)
            _exit(3);
        struct totals mine = {0};
        struct tally k = {t->say, &mine, NULL};
        struct tg_rec_reader r;
        opts->arg = &k;
        enum tg_reap_result res = reap_split(dfd, name, opts, &r, buf, sizeof buf);
        if (res == TG_REAP_REFUSED)
            fprintf(stderr, "tmpguard: skipped record %s/%s: %s\n", t->state_dir, name, r.why);
        count(&mine, res);
        fflush(NULL);
        _exit(write(pfd[1], &mine, sizeof mine) == (ssize_t)sizeof mine ? 0 : 4);
    }
    close(pfd[1]);
    struct totals got;
    if (pid > 0 && read(pfd[0], &got, sizeof got) == (ssize_t)sizeof got) {
        sum->files += got.files;
        sum->bytes += got.bytes;
        sum->records += got.records;
        sum->refused += got.refused;
        sum->live += got.live;
        sum->unsaid += got.unsaid;
    }
    close(pfd[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

/* Reaps one record. */
static void reap_one(const struct tool *t, int dfd, const char *name, struct totals *sum, int quiet)
{
    static char buf[1 << 20];
    struct tg_rec_reader r;
    if (tg_rr_open(&r, dfd, name, buf, sizeof buf) < 0) {
        if (strstr(r.why, "cannot be opened") == NULL || !quiet)
            fprintf(stderr, "tmpguard: skipped record %s/%s: %s\n", t->state_dir, name, r.why);
        else
            sum->unsaid++;
        tg_rr_close(&r);
        sum->refused++;
        return;
    }
    struct tg_rec_header h = r.h;
    int roots_ok = 1;
    for (int i = 0; i < r.nroots; i++)
        roots_ok &= root_allowed(r.root[i], r.root_len[i]);
    tg_rr_close(&r);
    if (!supervisor_matches(t, &h))
        return;
    if (!roots_ok) {
        fprintf(stderr, "tmpguard: skipped record %s/%s: it claims temp roots outside %s\n", t->state_dir, name,
                "the reaper's (TMPGUARD_ROOTS or the defaults)");
        sum->refused++;
        return;
    }
    long tick = (long)getauxval(AT_CLKTCK);
    /* Everything the process created changed status after it started (2 s for the clock's grain). */
    struct tg_rm_guard guard = {
        .uid = h.uid,
        .not_before_ns = (boot_time() + (long long)(h.start_ticks / (uint64_t)(tick > 0 ? tick : 100)) - 2) *
                         1000000000LL,
    };
    struct tally k = {t->say, sum, NULL};
    struct tg_reap_opts opts = {.dry = t->dry_run, .ending = NULL, .guard = &guard, .report = report, .arg = &k,
                                .leaks = leak_report()};
    if (getuid() == 0 && h.uid != 0) {
        reap_as_user(t, h.uid, dfd, name, &opts, sum);
        return;
    }
    enum tg_reap_result res = reap_split(dfd, name, &opts, &r, buf, sizeof buf);
    if (res == TG_REAP_REFUSED)
        fprintf(stderr, "tmpguard: skipped record %s/%s: %s\n", t->state_dir, name, r.why);
    count(sum, res);
}

/* PID.heir markers (a hand-off program's caller, heirs.c) of processes that are gone. */
static void clear_marker(int dfd, const char *name)
{
    size_t l = strlen(name);
    int pid = atoi(name);
    char state = 'X';
    if (l > 5 && strcmp(name + l - 5, ".heir") == 0 && pid > 0 &&
        (tg_proc_stat(pid, NULL, &state) < 0 || state == 'Z' || state == 'X'))
        unlinkat(dfd, name, 0);
}

struct totals tool_reap_all(struct tool *t, int quiet)
{
    struct totals sum = {0};
    int dfd = tool_open_state_dir(t, 1); /* no state directory: nothing was ever recorded */
    if (dfd < 0)
        return sum;
    DIR *d = fdopendir(dup(dfd));
    for (struct dirent *de; d && (de = readdir(d));) {
        if (tool_is_record_name(de->d_name))
            reap_one(t, dfd, de->d_name, &sum, quiet);
        else
            clear_marker(dfd, de->d_name);
    }
    if (d)
        closedir(d);
    /* The refusals said above, for the state directory's counters (tmpguard stats). */
    if (!t->dry_run && sum.refused > sum.unsaid)
        tg_counters_add(dfd, NULL, &(struct tg_counts){.refused = sum.refused - sum.unsaid});
    close(dfd);
    fflush(stdout);
    return sum;
}
