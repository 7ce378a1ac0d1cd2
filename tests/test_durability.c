/* Durability: what happens when no handler runs.  SIGKILL (and the OOM killer, which is the same
 * thing), a static binary exec'd over a shimmed process, a launcher killed along with its command:
 * the record stays in the state directory and the reaper (the supervising launcher, or `tmpguard
 * reap`) removes what it lists.  Also: the reaper against reused pids, live processes and hostile
 * records, and the rule that a process that tracks nothing makes no record.
 *
 * Launcher runs use the harness with shim=0: the launcher preloads the library itself.  Set
 * TMPGUARD_LIB (e.g. to a pass-through library) when running this suite to hand the launcher
 * another library: the removal tests must then fail. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../shim/record.h"
#include "harness.h"

static struct fx f;
static char launcher[4096];
static void setup(void)
{
    snprintf(launcher, sizeof launcher, "%s", src_path("scripts/tmpguard"));
    fx_setup(&f);
}

static void teardown(void)
{
    /* A test stopped by a failed assertion may have left its long-running victims (and launchers). */
    kill_leftovers(&f);
    fx_teardown(&f);
}
TestSuite(durability, .init = setup, .fini = teardown, .timeout = 180);

/* ---- helpers ------------------------------------------------------------------------------- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *path(const char *dir, const char *name)
{
    static char buf[16][600];
    static int next;
    char *b = buf[next++ % 16];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* The environment for launcher runs: TMPGUARD_LIB passes through from the test's own
 * environment, so that the suite can be pointed at a library that removes nothing. */
static const char *const *launcher_env(void)
{
    static char lib[4200];
    static const char *env[2];
    const char *l = getenv("TMPGUARD_LIB");
    env[0] = NULL;
    if (l && *l) {
        snprintf(lib, sizeof lib, "TMPGUARD_LIB=%s", l);
        env[0] = lib;
    }
    env[1] = NULL;
    return env;
}

/* Runs ARGV and returns the pid it ran as. */
static pid_t run_pid(int shim, const char *const env[], struct run *r, const char *const argv[])
{
    struct proc p;
    proc_start(&p, &f, shim, NULL, env, r, argv);
    proc_finish(&p);
    return p.pid;
}
#define RUNPID(shim, env, r, ...) run_pid((shim), (env), (r), (const char *const[]){__VA_ARGS__, NULL})

/* `tmpguard reap|status ARGS...` */
#define TOOL(r, ...) RUN(&f, 0, NULL, NULL, (r), launcher, __VA_ARGS__)

/* Names in DIR ending in ".rec"; the first one's name goes to FIRST if not NULL. */
static int count_records(const char *dir, char *first, size_t firstsz)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".rec") == 0) {
            if (!n && first)
                snprintf(first, firstsz, "%s", de->d_name);
            n++;
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* Whether OUT has a line starting with PREFIX followed by a space and P (then a space, a tab, ':'
 * or the end of the line): "removed /x (6 bytes)". Returns the line or NULL. */
static const char *line_naming(const char *out, const char *prefix, const char *p)
{
    size_t pl = strlen(prefix), l = strlen(p);
    for (const char *s = out; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
        if (strncmp(s, prefix, pl) != 0 || s[pl] != ' ' || strncmp(s + pl + 1, p, l) != 0)
            continue;
        char c = s[pl + 1 + l];
        if (c == ' ' || c == '\t' || c == ':' || c == '\n' || c == '\0')
            return s;
    }
    return NULL;
}

/* The bytes in "PREFIX P (N bytes)", or -1. */
static long long bytes_of(const char *out, const char *prefix, const char *p)
{
    const char *s = line_naming(out, prefix, p);
    long long n;
    if (!s || sscanf(s + strlen(prefix) + 1 + strlen(p), " (%lld bytes)", &n) != 1)
        return -1;
    return n;
}

struct totals {
    int found;
    unsigned long long files, bytes, records;
    int lines;                 /* per-file lines "WORD /path (N bytes)" */
    unsigned long long summed; /* their bytes added up */
};

/* The reaper's summary "removed N files, B bytes, from R records" (WORD: removed or would
 * remove) and the per-file lines above it. */
static struct totals totals_of(const char *out, const char *word)
{
    struct totals t = {0, 0, 0, 0, 0, 0};
    char fmt[128];
    snprintf(fmt, sizeof fmt, "%s %%llu files, %%llu bytes, from %%llu records", word);
    size_t wl = strlen(word);
    for (const char *s = out; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
        if (sscanf(s, fmt, &t.files, &t.bytes, &t.records) == 3) {
            t.found = 1;
            continue;
        }
        if (strncmp(s, word, wl) == 0 && s[wl] == ' ' && s[wl + 1] == '/') {
            const char *open = NULL;
            for (const char *q = s; *q && *q != '\n'; q++)
                if (*q == '(')
                    open = q;
            unsigned long long b;
            if (open && sscanf(open, "(%llu bytes)", &b) == 1) {
                t.lines++;
                t.summed += b;
            }
        }
    }
    return t;
}

/* Reads the process's stdout until N lines start with PREFIX (tg_limit_ms(MS) at most); returns
 * whether. */
static int wait_lines(struct proc *p, const char *prefix, int n, int ms)
{
    long deadline = now_ms() + tg_limit_ms(ms);
    size_t pl = strlen(prefix);
    for (;;) {
        int seen = 0;
        for (const char *l = p->r->out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            if (strncmp(l, prefix, pl) == 0 && strchr(l, '\n'))
                seen++;
        if (seen >= n)
            return 1;
        if (p->outfd < 0 || now_ms() > deadline)
            return 0;
        struct pollfd pf = {p->outfd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        size_t cap = sizeof p->r->out - 1;
        char scratch[4096];
        ssize_t got = read(p->outfd, p->outlen < cap ? p->r->out + p->outlen : scratch,
                           p->outlen < cap ? cap - p->outlen : sizeof scratch);
        if (got <= 0) {
            close(p->outfd);
            p->outfd = -1;
        } else if (p->outlen < cap) {
            p->outlen += (size_t)got;
            p->r->out[p->outlen] = '\0';
        }
    }
}

/* The number after "WORD " at the start of a line of OUT, or -1. */
static long number_after(const char *out, const char *word)
{
    size_t wl = strlen(word);
    for (const char *s = out; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
        if (strncmp(s, word, wl) == 0 && s[wl] == ' ')
            return strtol(s + wl + 1, NULL, 10);
    return -1;
}

/* The Nth (from 0) "created PATH" line whose path starts with DIR/. */
static const char *created_in(const struct run *r, const char *dir, int nth)
{
    size_t dl = strlen(dir);
    for (const char *s = r->out; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
        if (strncmp(s, "created ", 8) == 0 && strncmp(s + 8, dir, dl) == 0 && s[8 + dl] == '/' && nth-- == 0) {
            static char buf[4][600];
            static int next;
            char *b = buf[next++ % 4];
            size_t len = strcspn(s + 8, "\n");
            snprintf(b, sizeof buf[0], "%.*s", (int)len, s + 8);
            return b;
        }
    }
    return NULL;
}

static void wait_dead(pid_t pid)
{
    long deadline = now_ms() + tg_limit_ms(10000);
    while (!pid_dead(pid)) {
        cr_assert(now_ms() < deadline, "process %d did not die", (int)pid);
        usleep(5000);
    }
}

/* Field 22 of /proc/PID/stat: the start time in clock ticks since boot. */
static uint64_t start_ticks(pid_t pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(p, "r");
    cr_assert(fp, "no %s", p);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *s = strrchr(buf, ')');
    cr_assert(s);
    int field = 2;
    for (; *s && field < 22; s++)
        if (*s == ' ')
            field++;
    return strtoull(s, NULL, 10);
}

/* A pid that no process has now (one that existed a moment ago). */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    return pid;
}

static void write_file(const char *file, const void *data, size_t len)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    cr_assert(fd >= 0, "%s: %s", file, strerror(errno));
    cr_assert(fchmod(fd, 0600) == 0);
    cr_assert(write(fd, data, len) == (ssize_t)len, "%s: short write", file);
    close(fd);
}

static char *read_whole(const char *file, size_t *len)
{
    int fd = open(file, O_RDONLY);
    cr_assert(fd >= 0, "%s: %s", file, strerror(errno));
    struct stat st;
    cr_assert(fstat(fd, &st) == 0);
    char *buf = malloc((size_t)st.st_size + 1);
    cr_assert(buf);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        cr_assert(n > 0);
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return buf;
}

struct craft_entry {
    const char *path;
    int kind;
};

/* Writes a record by hand, as record.h describes it: header, roots block, one LIVE entry per
 * element of E (device, inode and type taken from the object now at its path). */
static void craft_record(const char *file, pid_t pid, uid_t uid, uint64_t ticks, const char *roots,
                         const struct craft_entry *e, int n)
{
    char *buf = calloc(1, TG_CHUNK0);
    cr_assert(buf);
    struct tg_rec_header *h = (struct tg_rec_header *)buf;
    memcpy(h->magic, TG_REC_MAGIC, 8);
    h->version = TG_REC_VERSION;
    h->header_cells = TG_REC_HEADER_CELLS;
    h->pid = pid;
    h->uid = uid;
    h->start_ticks = ticks;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->created_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    uint32_t cell = TG_REC_HEADER_CELLS;
    struct tg_rec_entry *b = (struct tg_rec_entry *)(buf + (size_t)cell * TG_CELL);
    size_t len = strlen(roots);
    b->pathlen = (uint16_t)len;
    b->cells = (uint16_t)tg_rec_cells_for((uint32_t)len);
    memcpy(b->path, roots, len + 1);
    atomic_store(&b->state, TG_ROOTS);
    cell += b->cells;
    for (int i = 0; i < n; i++) {
        struct stat st;
        cr_assert(lstat(e[i].path, &st) == 0, "%s: %s", e[i].path, strerror(errno));
        b = (struct tg_rec_entry *)(buf + (size_t)cell * TG_CELL);
        len = strlen(e[i].path);
        b->cells = (uint16_t)tg_rec_cells_for((uint32_t)len);
        b->kind = (uint8_t)e[i].kind;
        b->when = TG_WHEN_ENDS;
        b->owner = pid;
        b->dev = (uint64_t)st.st_dev;
        b->ino = (uint64_t)st.st_ino;
        b->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
        b->mode = st.st_mode;
        b->pathlen = (uint16_t)len;
        memcpy(b->path, e[i].path, len + 1);
        atomic_store(&b->state, TG_LIVE);
        cell += b->cells;
    }
    atomic_store(&h->hw_cells, cell);
    write_file(file, buf, TG_CHUNK0);
    free(buf);
}

/* A copy of the real record SRC written to DST as if pid PID (started at TICKS) had made it:
 * the header's pid and every entry's owner are rewritten. */
static void repoint_record(const char *src, const char *dst, pid_t pid, uint64_t ticks)
{
    size_t len;
    char *buf = read_whole(src, &len);
    cr_assert(len >= TG_CHUNK0, "%s: %zu bytes", src, len);
    struct tg_rec_header *h = (struct tg_rec_header *)buf;
    cr_assert(memcmp(h->magic, TG_REC_MAGIC, 8) == 0, "%s is not a record", src);
    uint32_t hw = atomic_load(&h->hw_cells);
    cr_assert((size_t)hw * TG_CELL <= len);
    int entries = 0;
    for (uint32_t c = TG_REC_HEADER_CELLS; c < hw;) {
        struct tg_rec_entry *e = (struct tg_rec_entry *)(buf + (size_t)c * TG_CELL);
        cr_assert(e->cells > 0, "%s: empty block at cell %u", src, c);
        uint32_t st = atomic_load(&e->state);
        if (st == TG_LIVE || st == TG_CLAIMED) {
            e->owner = pid;
            entries++;
        }
        c += e->cells;
    }
    cr_assert(entries > 0, "%s holds no entry", src);
    h->pid = pid;
    h->start_ticks = ticks;
    write_file(dst, buf, len);
    free(buf);
}

static int in_path(const char *prog)
{
    const char *p = getenv("PATH");
    char dir[4096];
    for (const char *s = p ? p : "/usr/bin:/bin"; *s;) {
        size_t l = strcspn(s, ":");
        snprintf(dir, sizeof dir, "%.*s/%s", (int)l, s, prog);
        if (access(dir, X_OK) == 0)
            return 1;
        s += l + (s[l] == ':');
    }
    return 0;
}

/* ---- 1. SIGKILL after each way of creating -------------------------------------------------- */

static void sigkill_case(const char *api, int fill, long long bytes)
{
    const char *words[12];
    int n = 0;
    words[n++] = victim_path();
    words[n++] = "create";
    words[n++] = api;
    words[n++] = f.root;
    if (fill) {
        words[n++] = "fill";
        words[n++] = "@";
    }
    words[n++] = "raise";
    words[n++] = "KILL";
    words[n] = NULL;

    /* (a) Under the launcher: it reaps the killed command's record and dies of the same signal. */
    struct run r;
    const char *largv[16] = {launcher, "--"};
    memcpy(largv + 2, words, (size_t)(n + 1) * sizeof *words);
    run_argv(&f, 0, NULL, launcher_env(), &r, largv);
    cr_expect(killed_by(r.status, SIGKILL), "%s: launcher %s, expected killed by SIGKILL; err: %s", api,
              describe(r.status), r.err);
    cr_expect_eq(r.ncreated, 1, "%s: the victim did not create: %s %s", api, r.out, r.err);
    cr_expect_eq(count_below(f.root), 0, "%s: %d objects left in the root after the launcher ended", api,
                 count_below(f.root));
    cr_expect_eq(count_state(f.state), 0, "%s: the state directory is not empty after the launcher ended", api);
    rm_rf(f.root);
    mkdir(f.root, 0755);

    /* (b) Without the launcher: the record stays, and `tmpguard reap` finishes the job. */
    pid_t pid = run_pid(1, NULL, &r, words);
    cr_assert(killed_by(r.status, SIGKILL), "%s: %s %s", api, describe(r.status), r.err);
    cr_assert_eq(r.ncreated, 1, "%s: %s %s", api, r.out, r.err);
    char made[512];
    snprintf(made, sizeof made, "%s", r.created[0]);
    int left = count_below(f.root);
    cr_assert(exists(made) && left >= 1 + 3 * fill, "%s: SIGKILL left nothing to reap (%d objects)", api, left);
    char rec[256], want[64];
    cr_assert_eq(count_records(f.state, rec, sizeof rec), 1, "%s: expected one record in the state directory", api);
    snprintf(want, sizeof want, "%d.rec", (int)pid);
    cr_expect_str_eq(rec, want, "%s: the record is not named after the killed process", api);

    TOOL(&r, "reap", "--dry-run");
    cr_expect(exited_with(r.status, 0), "%s: reap --dry-run %s: %s", api, describe(r.status), r.err);
    cr_expect(line_naming(r.out, "would remove", made), "%s: --dry-run does not list %s:\n%s", api, made, r.out);
    cr_expect(totals_of(r.out, "would remove").found, "%s: --dry-run has no total line:\n%s", api, r.out);
    cr_expect_eq(count_below(f.root), left, "%s: --dry-run removed something", api);
    cr_expect_eq(count_records(f.state, NULL, 0), 1, "%s: --dry-run removed the record", api);

    TOOL(&r, "reap");
    cr_expect(exited_with(r.status, 0), "%s: reap %s: %s", api, describe(r.status), r.err);
    cr_expect_eq(bytes_of(r.out, "removed", made), bytes, "%s: expected 'removed %s (%lld bytes)':\n%s", api, made,
                 bytes, r.out);
    struct totals t = totals_of(r.out, "removed");
    cr_expect(t.found, "%s: no total line:\n%s", api, r.out);
    cr_expect(t.files == (unsigned long long)t.lines && t.files >= 1 && t.bytes == t.summed && t.records == 1,
              "%s: total line disagrees with the files listed (%llu files %llu bytes %llu records; %d lines, %llu "
              "bytes):\n%s",
              api, t.files, t.bytes, t.records, t.lines, t.summed, r.out);
    cr_expect_eq(count_below(f.root), 0, "%s: %d objects left after tmpguard reap", api, count_below(f.root));
    cr_expect_eq(count_state(f.state), 0, "%s: the record is still there after tmpguard reap", api);
}

Test(durability, sigkill_mkstemp) { sigkill_case("mkstemp", 0, 0); }
Test(durability, sigkill_mkdtemp_tree) { sigkill_case("mkdtemp", 1, 0); }
Test(durability, sigkill_open) { sigkill_case("open", 0, 6); }
Test(durability, sigkill_fopen) { sigkill_case("fopen", 0, 6); }
Test(durability, sigkill_mkdir) { sigkill_case("mkdir", 0, 0); }

/* ---- 2. sort's spill files when timeout kills it -------------------------------------------- */

/* SIZE bytes of lines "RANDOMHEX COUNTER\n", quickly. */
static void make_bigfile(const char *file, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0, "%s: %s", file, strerror(errno));
    enum { LINE = 26 };
    size_t cap = (1u << 20) / LINE * LINE;
    char *buf = malloc(cap);
    cr_assert(buf);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint32_t count = 0;
    for (size_t done = 0; done < size;) {
        size_t n = 0;
        while (n + LINE <= cap) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            for (int i = 0; i < 16; i++)
                buf[n + (size_t)i] = hex[(x >> (4 * i)) & 15];
            buf[n + 16] = ' ';
            for (int i = 0; i < 8; i++)
                buf[n + 17 + (size_t)i] = hex[(count >> (28 - 4 * i)) & 15];
            buf[n + 25] = '\n';
            count++;
            n += LINE;
        }
        cr_assert(write(fd, buf, n) == (ssize_t)n, "%s: short write", file);
        done += n;
    }
    free(buf);
    close(fd);
}

Test(durability, sort_killed_by_timeout)
{
    skip_under_musl("timeout and sort");
    if (!in_path("sort") || !in_path("timeout"))
        cr_skip_test("sort or timeout is not installed (not found in PATH); this test needs both");
    char big[400], x[400], sorted[400];
    snprintf(big, sizeof big, "%s/big", f.out);
    snprintf(x, sizeof x, "%s/x", f.root);
    snprintf(sorted, sizeof sorted, "%s/sorted", f.out);
    make_bigfile(big, 260u << 20);
    cr_assert(mkdir(x, 0755) == 0);
    const char *cmd[] = {"timeout", "-s", "KILL", "1", "sort", "-S", "1M", "-T", x, "-o", sorted, big, NULL};

    /* Control, without any shim: sort is killed with its spill files in place. */
    struct run r;
    run_argv(&f, 0, NULL, NULL, &r, cmd);
    int plain = r.status, spilled = count_below(x);
    cr_assert(spilled > 0, "sort left no spill file when killed (%s): the test would prove nothing",
              describe(plain));
    rm_rf(x);
    rm_rf(sorted);
    cr_assert(mkdir(x, 0755) == 0);

    /* Under the launcher, watching the spill directory while sort runs. */
    const char *largv[20] = {launcher, "--"};
    memcpy(largv + 2, cmd, sizeof cmd);
    struct proc p;
    proc_start(&p, &f, 0, NULL, launcher_env(), &r, largv);
    int most = 0;
    long deadline = now_ms() + tg_limit_ms(20000);
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        cr_assert(waitid(P_PID, (id_t)p.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0);
        if (si.si_pid == p.pid)
            break;
        int c = count_below(x);
        most = c > most ? c : most;
        if (now_ms() > deadline)
            break; /* proc_finish fails the test */
        usleep(20000);
    }
    proc_finish(&p);
    cr_expect(most > 0, "no spill file was seen while sort ran under the launcher: the test proved nothing");
    cr_expect_str_eq(describe(r.status), describe(plain), "the launcher's status is not timeout's; err: %s", r.err);
    int left = count_below(x), recs = count_records(f.state, NULL, 0);
    if (left || recs) {
        /* Tell a missed reap from a record the reaper cannot use. */
        struct run later;
        TOOL(&later, "reap");
        const char *total = strstr(later.out, "removed ");
        while (total && strstr(total + 1, "\nremoved "))
            total = strstr(total + 1, "\nremoved ") + 1;
        cr_expect_fail("%d spill files and %d records left in %s after the launcher ended (%d without it, at most %d "
                       "seen during the run); a later tmpguard reap says: %s",
                       left, recs, x, spilled, most, total ? total : later.out);
    }
}

/* The same without luck: the command's whole process group is SIGKILLed at once (a CI job's
 * timeout, `kill -9 -PGID`, the OOM killer taking a group), and a descendant with a lot of memory
 * is still dying when the launcher's direct child is already gone. */
Test(durability, group_killed_with_slow_dying_descendant)
{
    skip_under_musl("timeout");
    const char *hog = getenv("TG_DUR_HOG");
    cr_assert(hog && *hog, "TG_DUR_HOG is not set: run the tests with meson test");
    if (!in_path("timeout"))
        cr_skip_test("timeout is not installed (not found in PATH); this test needs it");
    struct run r;
    struct proc p;
    /* timeout makes itself a process group leader; the hog is its child, in that group. */
    proc_start(&p, &f, 0, NULL, launcher_env(), &r,
               (const char *const[]){launcher, "--", "timeout", "60", hog, f.root, "1024", NULL});
    proc_wait_line(&p, "ready");
    long pgid = number_after(r.out, "pgid");
    cr_assert(pgid > 1 && pgid != getpgrp(), "the hog is not in a group of its own: %s", r.out);
    cr_assert_eq(count_records(f.state, NULL, 0), 1, "no record for the hog");
    cr_assert(kill(-(pid_t)pgid, SIGKILL) == 0);
    proc_finish(&p);
    cr_expect(killed_by(r.status, SIGKILL), "launcher: %s; err: %s", describe(r.status), r.err);
    int left = count_below(f.root), recs = count_records(f.state, NULL, 0);
    if (left || recs) {
        /* Tell a missed reap from a record the reaper cannot use. */
        struct run later;
        TOOL(&later, "reap");
        cr_expect_fail("%d files and %d records left after the launcher ended; a later tmpguard reap says: %s", left,
                       recs, later.out);
    }
}

/* ---- 3. the launcher killed along with its command ------------------------------------------ */

Test(durability, launcher_killed_too)
{
    skip_under_musl("sh");
    struct run r;
    struct proc p;
    proc_start(&p, &f, 0, NULL, launcher_env(), &r,
               (const char *const[]){launcher, "--", "sh", "-c",
                                     "echo pid $$; exec \"$0\" create mkstemp \"$1\" create open \"$1\" ready",
                                     victim_path(), f.root, NULL});
    proc_wait_line(&p, "ready");
    long vpid = number_after(r.out, "pid");
    cr_assert(vpid > 1, "no pid line: %s", r.out);
    /* The launcher first, so that it cannot reap; then its command. */
    cr_assert(kill(p.pid, SIGKILL) == 0);
    siginfo_t si;
    cr_assert(waitid(P_PID, (id_t)p.pid, &si, WEXITED | WNOWAIT) == 0);
    cr_assert(kill((pid_t)vpid, SIGKILL) == 0);
    wait_dead((pid_t)vpid);
    proc_finish(&p);
    cr_expect(killed_by(r.status, SIGKILL), "launcher: %s", describe(r.status));
    cr_assert_eq(r.ncreated, 2, "%s", r.out);
    cr_assert(exists(r.created[0]) && exists(r.created[1]), "nothing was left to reap: the test proves nothing");
    cr_assert_eq(count_records(f.state, NULL, 0), 1, "the killed command's record is not there");

    TOOL(&r, "reap");
    cr_expect(exited_with(r.status, 0), "reap %s: %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0, "%d objects left after tmpguard reap:\n%s", count_below(f.root), r.out);
    cr_expect_eq(count_state(f.state), 0, "the record is still there after tmpguard reap");
}

/* ---- 4 and 9. a worker killed (OOM-style) while its supervised parent runs on ----------------- */

Test(durability, killed_child_reaped_while_parent_runs)
{
    skip_under_musl("sh");
    char cdir[400], pdir[400];
    snprintf(cdir, sizeof cdir, "%s/child", f.root);
    snprintf(pdir, sizeof pdir, "%s/parent", f.root);
    cr_assert(mkdir(cdir, 0755) == 0 && mkdir(pdir, 0755) == 0);
    struct run r;
    struct proc p;
    /* sh (under the shim) forks the worker, then becomes the long-running parent. */
    proc_start(&p, &f, 0, NULL, launcher_env(), &r,
               (const char *const[]){launcher, "--", "sh", "-c",
                                     "\"$0\" create mkstemp \"$1\" create open \"$1\" ready & echo child $!; "
                                     "exec \"$0\" create mkstemp \"$2\" create open \"$2\" ready",
                                     victim_path(), cdir, pdir, NULL});
    if (!wait_lines(&p, "ready", 2, 20000)) {
        kill(p.pid, SIGKILL);
        proc_finish(&p);
        cr_assert_fail("the two victims did not get ready: out: %s err: %s", r.out, r.err);
    }
    long cpid = number_after(r.out, "child");
    cr_assert(cpid > 1, "no child line: %s", r.out);
    const char *c0 = created_in(&r, cdir, 0), *c1 = created_in(&r, cdir, 1);
    const char *p0 = created_in(&r, pdir, 0), *p1 = created_in(&r, pdir, 1);
    cr_assert(c0 && c1 && p0 && p1, "out: %s", r.out);
    cr_assert_eq(count_records(f.state, NULL, 0), 2, "expected a record for each victim");

    cr_assert(kill((pid_t)cpid, SIGKILL) == 0);
    long killed = now_ms(), gone_after = -1, limit = tg_limit_ms(5000);
    while (now_ms() - killed < limit) {
        if (count_below(cdir) == 0) {
            gone_after = now_ms() - killed;
            break;
        }
        usleep(20000);
    }
    cr_expect(gone_after >= 0, "the killed worker's files are still there %ld ms later (%d left)", limit,
              count_below(cdir));
    cr_expect(exists(p0) && exists(p1), "the living parent's files went with its worker's");
    /* One more round of the launcher's periodic reaping: the parent is still alive and untouched. */
    usleep(2500 * 1000);
    cr_expect(exists(p0) && exists(p1), "the living parent's files were removed while it ran");
    cr_expect_eq(count_records(f.state, NULL, 0), 1, "expected only the parent's record while it runs");

    /* The parent ends (SIGTERM through the launcher): now its files go too. */
    cr_assert(kill(p.pid, SIGTERM) == 0);
    proc_finish(&p);
    cr_expect(killed_by(r.status, SIGTERM), "launcher: %s; err: %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 2, "only the two directories should be left in the root (%d objects)",
                 count_below(f.root));
    cr_expect_eq(count_state(f.state), 0, "records left in the state directory");
}

/* ---- 5. exec into a static binary ------------------------------------------------------------ */

Test(durability, exec_into_static_binary)
{
    const char *stat_prog = getenv("TG_STATIC"), *dur_exec = getenv("TG_DUR_EXEC");
    if (!stat_prog || !*stat_prog)
        cr_skip_test("no static binary: this machine cannot link with -static (TG_STATIC is not set)");
    cr_assert(dur_exec && *dur_exec, "TG_DUR_EXEC is not set: run the tests with meson test");

    struct run r;
    RUN(&f, 0, NULL, launcher_env(), &r, launcher, "--", dur_exec, f.root, stat_prog, "5");
    cr_expect(exited_with(r.status, 5), "launcher: %s %s", describe(r.status), r.err);
    cr_expect_eq(r.ncreated, 1, "%s %s", r.out, r.err);
    cr_expect_eq(count_below(f.root), 0, "the launcher left the file of a process that became a static binary");
    cr_expect_eq(count_state(f.state), 0, "record left under the launcher");
    rm_rf(f.root);
    mkdir(f.root, 0755);

    RUN(&f, 1, NULL, NULL, &r, dur_exec, f.root, stat_prog, "5");
    cr_assert(exited_with(r.status, 5), "%s %s", describe(r.status), r.err);
    cr_assert_eq(r.ncreated, 1, "%s %s", r.out, r.err);
    char made[512];
    snprintf(made, sizeof made, "%s", r.created[0]);
    cr_assert(exists(made), "the file went although the static binary has no shim");
    cr_assert_eq(count_records(f.state, NULL, 0), 1, "the record of the exec'd process is not there");
    TOOL(&r, "reap");
    cr_expect(exited_with(r.status, 0), "reap %s: %s", describe(r.status), r.err);
    cr_expect_eq(bytes_of(r.out, "removed", made), 7, "reap output:\n%s", r.out);
    cr_expect_eq(count_below(f.root), 0, "left after tmpguard reap");
    cr_expect_eq(count_state(f.state), 0, "record left after tmpguard reap");
}

/* ---- 6. reused pids and live processes -------------------------------------------------------- */

Test(durability, reused_pid_and_live_process)
{
    /* A dead process's record... (each victim in its own directory: both make open.out) */
    char deaddir[400], livedir[400];
    snprintf(deaddir, sizeof deaddir, "%s/dead", f.root);
    snprintf(livedir, sizeof livedir, "%s/live", f.root);
    cr_assert(mkdir(deaddir, 0755) == 0 && mkdir(livedir, 0755) == 0);
    struct run dead_run;
    pid_t deadpid = RUNPID(1, NULL, &dead_run, victim_path(), "create", "mkstemp", deaddir, "create", "open", deaddir,
                           "raise", "KILL");
    cr_assert(killed_by(dead_run.status, SIGKILL), "%s %s", describe(dead_run.status), dead_run.err);
    cr_assert_eq(dead_run.ncreated, 2);
    char deadrec[600];
    snprintf(deadrec, sizeof deadrec, "%s/%d.rec", f.state, (int)deadpid);
    cr_assert(exists(deadrec), "no record left by the killed victim");
    size_t len;
    char *buf = read_whole(deadrec, &len);
    uint64_t dead_ticks = ((struct tg_rec_header *)buf)->start_ticks;
    free(buf);

    /* ...and a live process that holds files. */
    struct run live;
    struct proc lp;
    proc_start(&lp, &f, 1, NULL, NULL, &live,
               (const char *const[]){victim_path(), "create", "mkstemp", livedir, "create", "open", livedir,
                                     "ready", NULL});
    proc_wait_line(&lp, "ready");
    char held[2][600];
    for (int i = 0; i < 2; i++) {
        const char *c = created_in(&live, livedir, i);
        cr_assert(c, "the live victim did not create two files: %s", live.out);
        snprintf(held[i], sizeof held[i], "%s", c);
    }

    /* The dead record now claims the live pid, with the dead process's start time: pid reuse. */
    char reused[600];
    uint64_t ticks = dead_ticks == start_ticks(lp.pid) ? dead_ticks - 1 : dead_ticks;
    snprintf(reused, sizeof reused, "%s/%d-1.rec", f.state, (int)lp.pid);
    repoint_record(deadrec, reused, lp.pid, ticks);
    cr_assert(unlink(deadrec) == 0);

    struct run r;
    TOOL(&r, "reap");
    cr_expect(exited_with(r.status, 0), "reap %s: %s", describe(r.status), r.err);
    cr_expect_not(exists(dead_run.created[0]) || exists(dead_run.created[1]),
                  "the files of a record whose pid now belongs to another process were not removed:\n%s%s", r.out,
                  r.err);
    cr_expect_not(exists(reused), "the reaped record is still there");
    cr_expect(exists(held[0]) && exists(held[1]), "tmpguard reap removed a live process's files");
    cr_expect_eq(count_records(f.state, NULL, 0), 1, "the live process's record should be the only one left");

    TOOL(&r, "status");
    cr_expect(exited_with(r.status, 0), "status %s: %s", describe(r.status), r.err);
    int found = 0;
    for (const char *s = r.out; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
        int pid;
        unsigned long long files;
        char comm[64];
        if (sscanf(s, "%d %63s %llu", &pid, comm, &files) == 3 && pid == lp.pid) {
            found = 1;
            cr_expect_eq(files, 2, "status counts %llu files for the live victim:\n%s", files, r.out);
            cr_expect_str_eq(comm, "victim", "status:\n%s", r.out);
        }
    }
    cr_expect(found, "tmpguard status does not list the live victim %d:\n%s", (int)lp.pid, r.out);
    char pidarg[32];
    snprintf(pidarg, sizeof pidarg, "%d", (int)lp.pid);
    TOOL(&r, "status", pidarg);
    cr_expect(exited_with(r.status, 0), "status PID %s: %s", describe(r.status), r.err);
    for (int i = 0; i < 2; i++) {
        const char *at = strstr(r.out, held[i]);
        cr_expect(at && at[strlen(held[i])] == '\t', "tmpguard status %d does not list %s:\n%s", (int)lp.pid,
                  held[i], r.out);
    }

    kill(lp.pid, SIGTERM);
    proc_finish(&lp);
    cr_expect(killed_by(live.status, SIGTERM), "%s", describe(live.status));
    cr_expect_eq(count_below(f.root), 2, "the live victim's own cleanup: only the two directories should be left");
    cr_expect_eq(count_state(f.state), 0);
}

/* ---- 7. hostile records ----------------------------------------------------------------------- */

struct saved {
    const char *path;
    char *data;
    size_t len;
    mode_t mode;
};

static void save(struct saved *s, const char *p)
{
    struct stat st;
    s->path = p;
    s->data = NULL;
    if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
        s->data = read_whole(p, &s->len);
        s->mode = st.st_mode & 07777;
    }
}

/* Puts a system file back if the reaper removed it (and fails the test). */
static void check_restore(struct saved *s)
{
    if (!s->data)
        return;
    if (!exists(s->path)) {
        int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL, s->mode);
        if (fd >= 0) {
            if (write(fd, s->data, s->len) != (ssize_t)s->len)
                perror("restore");
            close(fd);
        }
        cr_expect_fail("tmpguard reap removed %s (put back)", s->path);
    }
    free(s->data);
}

static void killed_victim(struct run *r, const char *dir)
{
    VICTIM(&f, r, "create", "mkstemp", dir, "create", "open", dir, "raise", "KILL");
    cr_assert(killed_by(r->status, SIGKILL), "%s %s", describe(r->status), r->err);
    cr_assert_eq(r->ncreated, 2, "%s", r->out);
}

static void expect_skipped(const struct run *r, const char *name)
{
    char want[700];
    snprintf(want, sizeof want, "skipped record %s/%s", f.state, name);
    cr_expect(strstr(r->err, want), "no '%s' on stderr:\n%s", want, r->err);
}

Test(durability, hostile_records)
{
    /* A valid record among them, which must still be reaped. */
    struct run good;
    killed_victim(&good, f.root);
    char goodrec[256];
    cr_assert_eq(count_records(f.state, goodrec, sizeof goodrec), 1);
    size_t len;
    char *real = read_whole(path(f.state, goodrec), &len);

    uint64_t mine = start_ticks(getpid());
    pid_t gone = dead_pid();
    char roots[400];
    snprintf(roots, sizeof roots, "%s", f.root);

    /* Truncated: the first 100 bytes of a real record. */
    write_file(path(f.state, "truncated.rec"), real, 100);
    /* Random bytes, of a record's size. */
    char *noise = malloc(TG_CHUNK0);
    cr_assert(noise);
    srand((unsigned)getpid());
    for (size_t i = 0; i < TG_CHUNK0; i++)
        noise[i] = (char)rand();
    write_file(path(f.state, "random.rec"), noise, TG_CHUNK0);
    free(noise);
    free(real);

    struct saved passwd, hostname;
    save(&passwd, "/etc/passwd");
    save(&hostname, "/etc/hostname");
    /* /etc/passwd as a mkstemp file of a dead process (mkstemp files may lie anywhere). */
    if (passwd.data)
        craft_record(path(f.state, "passwd.rec"), gone, getuid(), mine, roots,
                     (struct craft_entry[]){{"/etc/passwd", TG_K_MKSTEMP}}, 1);
    /* A record whose roots claim /etc, with /etc/hostname as an "other" creation inside it. */
    if (hostname.data)
        craft_record(path(f.state, "etc.rec"), gone, getuid(), mine, "/etc",
                     (struct craft_entry[]){{"/etc/hostname", TG_K_OTHER}}, 1);
    /* The same trick with a fresh file of the right owner: only the roots check protects it. */
    char *outside = path(f.out, "fresh-output");
    put(outside, "mine");
    craft_record(path(f.state, "outroots.rec"), gone, getuid(), mine, f.out,
                 (struct craft_entry[]){{outside, TG_K_OTHER}}, 1);
    /* A file of another user (nobody) in the root, named in a record of ours. */
    char *nobodys = path(f.root, "nobodys");
    put(nobodys, "not yours");
    cr_assert(chown(nobodys, 65534, 65534) == 0, "chown: %s", strerror(errno));
    craft_record(path(f.state, "nobody.rec"), gone, getuid(), mine, roots,
                 (struct craft_entry[]){{nobodys, TG_K_MKSTEMP}}, 1);
    /* A record file owned by another user than its header says. */
    char *victimfile = path(f.root, "wronguid-target");
    put(victimfile, "keep");
    craft_record(path(f.state, "wronguid.rec"), gone, getuid(), mine, roots,
                 (struct craft_entry[]){{victimfile, TG_K_MKSTEMP}}, 1);
    cr_assert(chown(path(f.state, "wronguid.rec"), 65534, 65534) == 0);
    /* A symlink to a record kept elsewhere. */
    char *linked = path(f.root, "linked-target");
    put(linked, "keep");
    char *elsewhere = path(f.out, "elsewhere.rec");
    craft_record(elsewhere, gone, getuid(), mine, roots, (struct craft_entry[]){{linked, TG_K_MKSTEMP}}, 1);
    cr_assert(symlink(elsewhere, path(f.state, "symlink.rec")) == 0);

    struct run r;
    TOOL(&r, "reap");
    check_restore(&passwd);
    check_restore(&hostname);
    cr_expect(exited_with(r.status, 1), "reap %s (1: records were skipped): %s", describe(r.status), r.err);
    cr_expect(strstr(r.out, "some records skipped"), "the total line does not say records were skipped:\n%s", r.out);
    expect_skipped(&r, "truncated.rec");
    expect_skipped(&r, "random.rec");
    if (hostname.data) {
        expect_skipped(&r, "etc.rec");
        cr_expect(strstr(r.err, "etc.rec: it claims temp roots outside"), "stderr:\n%s", r.err);
    }
    expect_skipped(&r, "outroots.rec");
    expect_skipped(&r, "wronguid.rec");
    expect_skipped(&r, "symlink.rec");
    if (passwd.data)
        cr_expect(line_naming(r.out, "left", "/etc/passwd") || strstr(r.err, "/etc/passwd"),
                  "/etc/passwd is not reported:\nout: %s\nerr: %s", r.out, r.err);
    cr_expect(line_naming(r.out, "left", nobodys) || strstr(r.err, nobodys),
              "another user's file is not reported:\nout: %s\nerr: %s", r.out, r.err);
    cr_expect(exists(outside), "a record claiming roots outside the reaper's got %s removed", outside);
    cr_expect(exists(nobodys), "another user's file was removed");
    cr_expect(exists(victimfile), "a record owned by another user than its header says was believed");
    cr_expect(exists(linked), "a record behind a symlink was followed");
    cr_expect(exists(elsewhere), "the symlinked record's target was removed");
    cr_expect(line_naming(r.out, "removed", good.created[0]) && line_naming(r.out, "removed", good.created[1]),
              "the valid record among the hostile ones was not reaped:\n%s", r.out);
    cr_expect_not(exists(good.created[0]) || exists(good.created[1]), "the valid record's files are still there");
    cr_expect_not(exists(path(f.state, goodrec)), "the valid record is still there");
}

Test(durability, unsafe_state_dir)
{
    struct run good;
    killed_victim(&good, f.root);
    char link[400];
    snprintf(link, sizeof link, "%s/state-link", f.base);
    cr_assert(symlink(f.state, link) == 0);

    struct run r;
    TOOL(&r, "reap", "--state-dir", link);
    cr_expect(exited_with(r.status, 1), "reap of a refused state dir: %s: %s", describe(r.status), r.err);
    cr_expect(strstr(r.err, link) && strstr(r.err, "refused"), "no word about the symlinked state dir:\n%s", r.err);
    cr_expect(exists(good.created[0]) && exists(good.created[1]), "reap went through a symlinked state directory");
    cr_expect_eq(count_records(f.state, NULL, 0), 1);

    /* Group- and world-readable: refused too. */
    cr_assert(chmod(f.state, 0755) == 0);
    TOOL(&r, "reap");
    cr_assert(chmod(f.state, 0700) == 0);
    cr_expect(exited_with(r.status, 1), "reap of a refused state dir: %s: %s", describe(r.status), r.err);
    cr_expect(strstr(r.err, f.state) && strstr(r.err, "refused"), "no word about the mode-0755 state dir:\n%s",
              r.err);
    cr_expect(exists(good.created[0]) && exists(good.created[1]), "reap used a state directory of mode 0755");

    /* The real directory itself is fine. */
    TOOL(&r, "reap");
    cr_expect(exited_with(r.status, 0), "reap %s: %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0, "left after reaping the real state directory:\n%s%s", r.out, r.err);
    cr_expect_eq(count_state(f.state), 0);
}

/* ---- 8. no record unless tracking -------------------------------------------------------------- */

/* The lines of the strace log LOG that name the state directory. */
static int state_lines(const char *log, char *first, size_t firstsz, int *creat, int *mkdirs)
{
    FILE *fp = fopen(log, "r");
    cr_assert(fp, "no strace log %s", log);
    char line[8192];
    int n = 0;
    *creat = *mkdirs = 0;
    first[0] = '\0';
    while (fgets(line, sizeof line, fp)) {
        if (!strstr(line, f.state))
            continue;
        if (!n++)
            snprintf(first, firstsz, "%s", line);
        if (strstr(line, "O_CREAT"))
            (*creat)++;
        if (strstr(line, "mkdir"))
            (*mkdirs)++;
    }
    fclose(fp);
    return n;
}

Test(durability, no_record_without_tracking)
{
    if (!in_path("strace"))
        cr_skip_test("strace is not installed (not found in PATH); this test needs it");
    char log[400], pre[4200], first[8192];
    snprintf(log, sizeof log, "%s/strace.log", f.out);
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim_enabled() ? getenv("TG_LIB") : "");
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, "strace", "-f", "-qq", "-E", pre, "-e", "trace=open,openat,creat,mkdir,mkdirat",
        "-o", log, victim_path(), "exit", "0");
    if (!exited_with(r.status, 0) && strstr(r.err, "ptrace"))
        cr_skip_test("strace cannot trace here: %s", r.err);
    cr_assert(exited_with(r.status, 0), "strace: %s %s", describe(r.status), r.err);
    int creat, mkdirs, n = state_lines(log, first, sizeof first, &creat, &mkdirs);
    cr_expect_eq(creat, 0, "a process that tracks nothing created something in the state dir: %s", first);
    cr_expect_eq(mkdirs, 0, "a process that tracks nothing made the state dir: %s", first);
    cr_expect(n <= 1, "%d system calls in the state directory (at most the exec hand-over lookup): %s", n, first);
    if (n == 1)
        cr_expect(strstr(first, ".rec") && strstr(first, "= -1 ENOENT"),
                  "the one look into the state directory is not a failed lookup of a record: %s", first);
    cr_expect_eq(count_state(f.state), 0, "the state directory is not empty");

    /* Control: a process that tracks a file does make its record (so the log is what it seems). */
    RUN(&f, 0, NULL, NULL, &r, "strace", "-f", "-qq", "-E", pre, "-e", "trace=open,openat,creat,mkdir,mkdirat",
        "-o", log, victim_path(), "create", "mkstemp", f.root, "exit", "0");
    n = state_lines(log, first, sizeof first, &creat, &mkdirs);
    cr_expect(creat >= 1, "no record was created by a process that tracks a file (%d lines about the state dir): %s",
              n, first);
}

/* Root reaping another user's record acts with that user's rights only: a file that user could
 * not remove (in a directory only root may write) stays; one the user could remove goes. */
Test(durability, root_reaps_with_the_owners_rights)
{
    if (getuid() != 0)
        cr_skip_test("needs root");
    const uid_t nobody = 65534;
    char nb[400], locked[400], gone[450], keep[450], state[400], rec[450];
    snprintf(nb, sizeof nb, "%s/nb", f.root);
    snprintf(locked, sizeof locked, "%s/locked", f.root);
    snprintf(gone, sizeof gone, "%s/gone", nb);
    snprintf(keep, sizeof keep, "%s/keep", locked);
    snprintf(state, sizeof state, "%s/nbstate", f.base);
    snprintf(rec, sizeof rec, "%s/1.rec", state);
    /* The user must be able to reach the files at all. */
    cr_assert(chmod(f.base, 0755) == 0 && chmod(f.root, 0755) == 0);
    cr_assert(mkdir(nb, 0755) == 0 && chown(nb, nobody, nobody) == 0);
    cr_assert(mkdir(locked, 0755) == 0);
    put(gone, "x");
    put(keep, "y");
    cr_assert(chown(gone, nobody, nobody) == 0 && chown(keep, nobody, nobody) == 0);
    cr_assert(mkdir(state, 0700) == 0 && chown(state, nobody, nobody) == 0);
    /* A dead process of that user, started at boot (so that both files changed after it). */
    craft_record(rec, dead_pid(), nobody, 1, f.root,
                 (struct craft_entry[]){{gone, TG_K_MKSTEMP}, {keep, TG_K_MKSTEMP}}, 2);
    cr_assert(chown(rec, nobody, nobody) == 0 && chmod(rec, 0600) == 0);
    struct run r;
    TOOL(&r, "reap", "--state-dir", state);
    cr_expect(exited_with(r.status, 0), "reap: %s %s", describe(r.status), r.err);
    cr_expect_not(exists(gone), "a file its owner could remove was left: %s%s", r.out, r.err);
    cr_expect(exists(keep), "root's reap removed what the record's user could not have removed");
    cr_expect(line_naming(r.out, "left", keep), "the file it could not remove is reported:\n%s", r.out);
}

/* A forked child of a process that tracks files marks itself in the state directory (PID.heir).
 * A child that becomes another user (Python's subprocess as root: fork, setreuid, exec) can no
 * longer remove the marker from root's state directory: it must be gone before the switch, and
 * nothing of the run may stay there. */
Test(durability, child_changing_user_leaves_no_marker)
{
    if (getuid() != 0)
        cr_skip_test("needs root");
    struct run r;
    VICTIM(&f, &r, "create", "mkstemp", f.root, "setuid-child", "65534", "exit", "0");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    cr_expect_eq(count_state(f.state), 0, "%d entries left in the state directory (a marker the child could no "
                                         "longer remove)", count_state(f.state));
    cr_expect_eq(count_below(f.root), 0, "left in the root: %d", count_below(f.root));
}

/* Reads the system call names of an strace log into NAMES/COUNTS (at most MAX names). */
static int syscall_counts(const char *log, char names[][32], int *counts, int max)
{
    FILE *fp = fopen(log, "r");
    cr_assert(fp, "no strace log %s", log);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        char *p = line;
        while (*p >= '0' && *p <= '9')
            p++;
        while (*p == ' ')
            p++;
        size_t l = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        if (!l || p[l] != '(' || l >= 32)
            continue; /* "+++ exited", "--- SIGCHLD", "<... resumed>" */
        int i;
        for (i = 0; i < n && (strncmp(names[i], p, l) || names[i][l]); i++)
            ;
        if (i == n && n < max) {
            memcpy(names[n], p, l);
            names[n][l] = '\0';
            counts[n++] = 0;
        }
        if (i < n)
            counts[i]++;
    }
    fclose(fp);
    return n;
}

/* Start-up costs no system call: a process that creates no temp file makes the same calls as under
 * a preloaded library that only passes open and unlink through (the floor of any interposer), at
 * most one more. */
Test(durability, start_up_makes_the_system_calls_of_a_pass_through)
{
    skip_under_musl("the glibc pass-through library");
    if (!in_path("strace"))
        cr_skip_test("strace is not installed (not found in PATH); this test needs it");
    const char *floor = getenv("TG_PASSTHROUGH");
    cr_assert(floor && *floor, "TG_PASSTHROUGH is not set: run the tests with meson test");
    char log[2][400], pre[2][4200], names[2][256][32], extra[2000] = "";
    int counts[2][256], n[2];
    for (int k = 0; k < 2; k++) {
        snprintf(log[k], sizeof log[k], "%s/strace-%d.log", f.out, k);
        snprintf(pre[k], sizeof pre[k], "LD_PRELOAD=%s", k ? (shim_enabled() ? getenv("TG_LIB") : floor) : floor);
        struct run r;
        RUN(&f, 0, NULL, NULL, &r, "strace", "-f", "-qq", "-E", pre[k], "-o", log[k], victim_path(), "exit", "0");
        if (!exited_with(r.status, 0) && strstr(r.err, "ptrace"))
            cr_skip_test("strace cannot trace here: %s", r.err);
        cr_assert(exited_with(r.status, 0), "strace: %s %s", describe(r.status), r.err);
        n[k] = syscall_counts(log[k], names[k], counts[k], 256);
    }
    int more = 0;
    for (int i = 0; i < n[1]; i++) {
        int base = 0;
        for (int j = 0; j < n[0]; j++)
            if (!strcmp(names[0][j], names[1][i]))
                base = counts[0][j];
        if (counts[1][i] > base) {
            more += counts[1][i] - base;
            size_t l = strlen(extra);
            snprintf(extra + l, sizeof extra - l, "%s +%d; ", names[1][i], counts[1][i] - base);
        }
    }
    cr_expect(more <= 1, "%d system calls more than under the pass-through preload: %s", more, extra);
}
