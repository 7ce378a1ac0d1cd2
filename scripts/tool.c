/* tmpguard-tool: the launcher's C half, and its one option parser (scripts/tmpguard only finds
 * this program and runs it).
 *
 *   tmpguard [OPTION...] [--] COMMAND [ARG...]   run COMMAND under the shim, supervised (supervise.c)
 *   tmpguard reap [--dry-run] [--state-dir DIR | --all-users]   what processes that are gone left (reaper.c)
 *   tmpguard status [--state-dir DIR] [PID]       the live processes that hold temp files (here)
 *   tmpguard report [FILE]                        the call sites of a leak report, ranked (report.c)
 *   tmpguard stats [--prometheus] [--output FILE]  the node's figures (stats.c) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proc.h"
#include "recread.h"
#include "tool.h"

#ifndef TMPGUARD_VERSION
#define TMPGUARD_VERSION "unknown"
#endif
#ifndef TMPGUARD_LIBDIR
#define TMPGUARD_LIBDIR ""
#endif

/* ---- the options ------------------------------------------------------------------------------- */

/* A command's option: its name, whether it takes a value, and the variable it sets for the shim
 * (NULL: handled by the command itself).  Every option is also accepted as --name=VALUE. */
struct opt {
    const char *name;
    const char *meta;  /* the value it takes ("DIR"), or NULL: none */
    const char *env;   /* run: set for COMMAND's whole tree, and read back by this program */
    const char *fixed; /* the value an option without one stands for */
    const char *help;  /* NULL: not for users */
};

static const struct opt run_opts[] = {
    {"--audit", NULL, "TMPGUARD_MODE", "audit", "report what would be removed (on stderr), remove nothing"},
    {"--roots", "DIR[:DIR...]", "TMPGUARD_ROOTS", NULL, "the temp roots (default: $TMPDIR, /tmp, /var/tmp, /dev/shm)"},
    {"--outputs", "WHEN", "TMPGUARD_OUTPUTS", NULL, "when other creations in a root go: on-failure, always, never"},
    {"--log", "LEVEL", "TMPGUARD_LOG", NULL, "off, warn, info (what is removed or left, and why), debug"},
    {"--state-dir", "DIR", "TMPGUARD_STATE_DIR", NULL, "where records are kept"},
    {"--max-age", "DURATION", "TMPGUARD_MAX_AGE", NULL, "reclaim idle scratch files while COMMAND runs (90s, 10m, 2h, 1d)"},
    {"--max-files", "N", "TMPGUARD_MAX_FILES", NULL, "reclaim the oldest idle ones beyond N files a process holds"},
    {"--max-bytes", "SIZE", "TMPGUARD_MAX_BYTES", NULL, "the same beyond SIZE (500M, 2G) a process holds"},
    {"--report", "stderr|FILE", "TMPGUARD_REPORT", NULL, "report each leak with its call site: LSan-style, or JSON lines"},
    {"--atomic", "PATTERN", "TMPGUARD_ATOMIC", NULL, "stage rewrites of matching files, renamed into place whole (repeatable)"},
    {"--atomic-commit", "WHEN", "TMPGUARD_ATOMIC_COMMIT", NULL, "close (the last descriptor goes) or success (status 0)"},
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct opt reap_opts[] = {
    {"--dry-run", NULL, NULL, NULL, "say what would be removed, remove nothing"},
    {"--state-dir", "DIR", NULL, NULL, "the state directory to reap"},
    {"--all-users", NULL, NULL, NULL, "every user's (root: /tmp/tmpguard-*, /run/user/*/tmpguard), with each user's rights"},
    {"--report", "stderr|FILE", NULL, NULL, "report each leak reaped with its call site (as the library does)"},
    {"--supervisor", "PID:START", NULL, NULL, NULL}, /* the launcher's own tree only */
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct opt status_opts[] = {
    {"--state-dir", "DIR", NULL, NULL, "the state directory to read"},
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct opt report_opts[] = {
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct opt stats_opts[] = {
    {"--prometheus", NULL, NULL, NULL, "in the Prometheus text exposition format"},
    {"--output", "FILE", NULL, NULL, "write FILE atomically (FILE.PID, renamed over it), not stdout"},
    {"--state-dir", "DIR", NULL, NULL, "the state directory to read"},
    {"--all-users", NULL, NULL, NULL, "every user's state directory (as root)"},
    {NULL, NULL, NULL, NULL, NULL},
};

struct command {
    const char *name; /* NULL: run */
    const char *synopsis;
    const char *what;
    const struct opt *opts;
};

static const struct command commands[] = {
    {NULL, "tmpguard [OPTION...] [--] COMMAND [ARG...]",
     "Runs COMMAND with the tmpguard library preloaded, as a supervised child: removes the temp files its\n"
     "processes leave behind, also after SIGKILL, and exits as COMMAND exits.",
     run_opts},
    {"reap", "tmpguard reap [--dry-run] [--state-dir DIR | --all-users] [--report stderr|FILE]",
     "Removes what processes that are gone (SIGKILL, the OOM killer) left in their records.", reap_opts},
    {"status", "tmpguard status [--state-dir DIR] [PID]",
     "Lists the live processes that hold temp files; with PID, that process's files.", status_opts},
    {"report", "tmpguard report [FILE]",
     "Ranks the call sites of a leak report (the library's JSON lines, from FILE, or standard input when\n"
     "FILE is absent or -) by the files they leaked, then the bytes; with the APIs and the causes of\n"
     "removal of each, and the totals.",
     report_opts},
    {"stats", "tmpguard stats [--prometheus] [--output FILE] [--state-dir DIR | --all-users]",
     "Prints the figures of the state directory: files and bytes removed by cause (exit, signal, max-age,\n"
     "reap) since it was made, files outstanding and processes tracking now, records the reaper refused.",
     stats_opts},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *out, const struct command *only)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!only || only == &commands[i])
            fprintf(out, "%s %s\n", i == 0 || only ? "usage:" : "      ", commands[i].synopsis);
    if (out == stderr)
        return;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const struct command *c = &commands[i];
        if (only && only != c)
            continue;
        fprintf(out, "\n%s\n", c->what);
        for (const struct opt *o = c->opts; o->name; o++) {
            char both[64];
            snprintf(both, sizeof both, "%s%s%s", o->name, o->meta ? " " : "", o->meta ? o->meta : "");
            if (o->help)
                fprintf(out, "  %-26s %s\n", both, o->help);
        }
    }
    if (!only)
        fprintf(out, "\n  -h, --help     this text (COMMAND --help: that command's)\n"
                     "      --version  the version\n\n"
                     "The variables of the library (TMPGUARD_*) are read from the environment as well.\n");
}

static _Noreturn void usage_error(const struct command *c, const char *fmt, const char *what)
{
    fprintf(stderr, "tmpguard: ");
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    print_usage(stderr, c);
    exit(2);
}

/* Parses C's options from ARGV[*I] on, calling SEEN for each with its value.  Stops at "--" (past
 * it), at the first argument that is not an option, or at the end. */
static void parse(const struct command *c, int argc, char **argv, int *i,
                  void (*seen)(const struct opt *o, const char *value, void *arg), void *arg)
{
    for (; *i < argc; (*i)++) {
        const char *a = argv[*i];
        if (!strcmp(a, "--")) {
            (*i)++;
            return;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_usage(stdout, c == &commands[0] ? NULL : c);
            exit(0);
        }
        if (!strcmp(a, "--version")) {
            printf("tmpguard %s\n", TMPGUARD_VERSION);
            exit(0);
        }
        if (a[0] != '-' || !a[1])
            return;
        const struct opt *o = c->opts;
        size_t nl = strcspn(a, "=");
        while (o->name && (strlen(o->name) != nl || strncmp(o->name, a, nl) != 0))
            o++;
        if (!o->name)
            usage_error(c, "unknown option '%s'", a);
        const char *value = o->fixed;
        if (o->meta) {
            if (a[nl] == '=')
                value = a + nl + 1;
            else if (*i + 1 < argc)
                value = argv[++*i];
            else
                usage_error(c, "option '%s' needs a value", o->name);
        } else if (a[nl] == '=') {
            usage_error(c, "option '%s' takes no value", o->name);
        }
        seen(o, value, arg);
    }
}

static void seen_run(const struct opt *o, const char *value, void *arg)
{
    (void)arg;
    /* --atomic adds a pattern to those of the options before it (not to the environment's). */
    static int atomic_seen;
    if (!strcmp(o->name, "--atomic") && atomic_seen++) {
        const char *before = getenv(o->env);
        size_t n = strlen(before) + 1 + strlen(value) + 1;
        char *both = malloc(n);
        if (!both) {
            perror("tmpguard");
            exit(2);
        }
        snprintf(both, n, "%s:%s", before, value);
        setenv(o->env, both, 1);
        free(both);
        return;
    }
    setenv(o->env, value, 1);
}

static void seen_reap(const struct opt *o, const char *value, void *arg)
{
    struct tool *t = arg;
    if (!strcmp(o->name, "--dry-run")) {
        t->dry_run = 1;
    } else if (!strcmp(o->name, "--state-dir")) {
        t->state_dir = value;
    } else if (!strcmp(o->name, "--report")) {
        setenv("TMPGUARD_REPORT", value, 1); /* read with the rest of the configuration */
    } else if (!strcmp(o->name, "--all-users")) {
        t->all_users = 1;
    } else if (!strcmp(o->name, "--prometheus")) {
        t->prometheus = 1;
    } else if (!strcmp(o->name, "--output")) {
        t->output = value;
    } else {
        unsigned long long s;
        int p;
        char tail;
        if (sscanf(value, "%d:%llu%c", &p, &s, &tail) != 2 || p <= 0)
            usage_error(&commands[1], "--supervisor wants PID:START, not '%s'", value);
        t->only_supervisor.pid = p;
        t->only_supervisor.start_ticks = s;
    }
}

/* ---- status --------------------------------------------------------------------------------- */

/* What status shows: one process (PID) with each of its files, or every live one, a line each. */
struct status {
    int pid, shown;
    long long now_ns;
};

static void status_record(void *arg, struct tg_rec_reader *r)
{
    struct status *s = arg;
    struct tg_proc_id owner = {.pid = r->h.pid, .gen = 0, .start_ticks = r->h.start_ticks};
    if ((s->pid && r->h.pid != s->pid) || !tg_proc_alive(&owner))
        return;
    unsigned long long n = 0, bytes = 0;
    long long oldest = 0;
    const struct tg_rec_entry *e;
    while (tg_rr_next(r, &e) == 1) {
        struct stat st;
        if (!tool_entry_present(e, &st))
            continue;
        n++;
        bytes += (unsigned long long)st.st_size;
        if (!oldest || e->ctime_ns < oldest)
            oldest = e->ctime_ns;
        if (s->pid)
            printf("%s\t%llu bytes\t%llds old\n", e->path, (unsigned long long)st.st_size,
                   (s->now_ns - e->ctime_ns) / 1000000000LL);
    }
    if (!n)
        return;
    char comm[64] = "?", path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)owner.pid);
    FILE *f = fopen(path, "r");
    if (f && fgets(comm, sizeof comm, f))
        comm[strcspn(comm, "\n")] = '\0';
    if (f)
        fclose(f);
    if (!s->shown++ && !s->pid)
        printf("%-8s %-16s %8s %12s %10s\n", "PID", "COMMAND", "FILES", "BYTES", "OLDEST");
    if (!s->pid)
        printf("%-8d %-16s %8llu %12llu %9llds\n", (int)owner.pid, comm, n, bytes,
               (s->now_ns - oldest) / 1000000000LL);
}

static int cmd_status(struct tool *t, int pid)
{
    int dfd = tool_open_state_dir(t, 1);
    if (dfd < 0) {
        printf("no process holds temp files\n");
        return 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct status s = {pid, 0, (long long)now.tv_sec * 1000000000LL + now.tv_nsec};
    tool_each_record(dfd, status_record, &s);
    close(dfd);
    if (!s.shown)
        printf(pid ? "process %d holds no temp files\n" : "no process holds temp files\n", pid);
    return 0;
}

/* ---- the commands ------------------------------------------------------------------------------ */

/* Exit status 0 when everything found could be dealt with; 1 when the state directory or a record
 * was refused (a cron job should hear of it); a missing state directory is nothing to reap. */
static void reap_dir(struct tool *t, void *arg)
{
    struct totals *sum = arg, one = tool_reap_all(t, 0);
    sum->files += one.files;
    sum->bytes += one.bytes;
    sum->records += one.records;
    sum->refused += one.refused;
}

static int cmd_reap(struct tool *t)
{
    t->say = stdout;
    struct totals sum = {0};
    if (t->all_users)
        tool_each_user_dir(t, reap_dir, &sum);
    else
        reap_dir(t, &sum);
    printf("%s %llu files, %llu bytes, from %llu records%s\n", t->dry_run ? "would remove" : "removed", sum.files,
           sum.bytes, sum.records, sum.refused ? " (some records skipped, see above)" : "");
    return t->dir_refused || sum.refused ? 1 : 0;
}

/* The library to preload: TMPGUARD_LIB; beside this program in a build tree (B/scripts/tmpguard-tool
 * and B/shim/libtmpguard.so); where it was installed.  NULL, having said where it looked, when none
 * is there. */
static const char *find_lib(void)
{
    static char beside[PATH_MAX + 64], installed[PATH_MAX + 64];
    const char *env = getenv("TMPGUARD_LIB");
    if (env && *env) {
        if (access(env, R_OK) == 0)
            return env;
        fprintf(stderr, "tmpguard: TMPGUARD_LIB=%s: no such file; expected the path of libtmpguard.so\n", env);
        return NULL;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    beside[0] = '\0';
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(beside, sizeof beside, "%s/../shim/libtmpguard.so", self);
            if (access(beside, R_OK) == 0)
                return beside;
        }
    }
    snprintf(installed, sizeof installed, "%s/libtmpguard.so", TMPGUARD_LIBDIR);
    if (TMPGUARD_LIBDIR[0] && access(installed, R_OK) == 0)
        return installed;
    fprintf(stderr, "tmpguard: libtmpguard.so not found; looked in: %s%s%s; build it (meson setup build && meson "
                    "compile -C build) or set TMPGUARD_LIB\n",
            beside, TMPGUARD_LIBDIR[0] ? " " : "", TMPGUARD_LIBDIR[0] ? installed : "");
    return NULL;
}

int main(int argc, char **argv)
{
    struct tool t = {.state_dir = NULL, .dry_run = 0, .say = NULL, .only_supervisor = {.pid = 0}, .dir_refused = 0,
                     .all_users = 0, .prometheus = 0, .output = NULL};
    int i = 1;
    const struct command *c = &commands[0];
    if (argc > 1 && !strcmp(argv[1], "--version")) {
        printf("tmpguard %s\n", TMPGUARD_VERSION);
        return 0;
    }
    for (size_t k = 1; argc > 1 && k < NCOMMANDS; k++)
        if (!strcmp(argv[1], commands[k].name)) {
            c = &commands[k];
            i = 2;
        }
    if (c == &commands[0]) {
        parse(c, argc, argv, &i, seen_run, NULL);
        if (i >= argc)
            usage_error(c, "%s", "no COMMAND to run");
    } else if (c == &commands[1]) {
        parse(c, argc, argv, &i, seen_reap, &t);
        if (i < argc)
            usage_error(c, "reap: unexpected argument '%s'", argv[i]);
        if (t.all_users && t.state_dir)
            usage_error(c, "%s", "reap: --all-users and --state-dir exclude each other");
    } else if (c == &commands[2]) {
        parse(c, argc, argv, &i, seen_reap, &t);
        if (i + 1 < argc || (i < argc && strspn(argv[i], "0123456789") != strlen(argv[i])))
            usage_error(c, "status: unexpected argument '%s'", argv[i]);
    } else if (c == &commands[4]) {
        parse(c, argc, argv, &i, seen_reap, &t);
        if (i < argc)
            usage_error(c, "stats: unexpected argument '%s'", argv[i]);
        if (t.all_users && t.state_dir)
            usage_error(c, "%s", "stats: --all-users and --state-dir exclude each other");
    } else {
        parse(c, argc, argv, &i, seen_reap, &t); /* no options: only --help and "--" */
        if (i + 1 < argc)
            usage_error(c, "report: unexpected argument '%s'", argv[i + 1]);
        /* It reads a file, not the state directory: the configuration below is none of its business
         * (a malformed TMPGUARD_* would only add its warning to the report's stderr). */
        return tool_report(i < argc ? argv[i] : NULL);
    }
    /* The roots, the state directory and the log level, as the shim below will see them. */
    if (t.state_dir)
        setenv("TMPGUARD_STATE_DIR", t.state_dir, 1);
    tg_config_load(NULL);
    if (tg_cfg.mode == TG_MODE_OFF)
        tg_config_load_paths();
    t.state_dir = tg_cfg.state_dir;
    if (c == &commands[1])
        return cmd_reap(&t);
    if (c == &commands[2])
        return cmd_status(&t, i < argc ? atoi(argv[i]) : 0);
    if (c == &commands[4])
        return tool_stats(&t);
    const char *lib = find_lib();
    return lib ? tool_run(&t, lib, argv + i) : 2;
}
