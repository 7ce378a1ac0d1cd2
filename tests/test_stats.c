/* tmpguard stats: the counters each state directory keeps (shim/counters.h) moved by exactly what a
 * workload removed, by cause; the figures read from the records; the Prometheus format checked by
 * promtool; --output replaced atomically; a counters file that is not to be believed; and the reap
 * of every user's state directory (--all-users) that the systemd timer runs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct fx f;
static char launcher[4096];
static void setup(void)
{
    fx_setup(&f);
    snprintf(launcher, sizeof launcher, "%s", src_path("scripts/tmpguard"));
}
static void teardown(void) { fx_teardown(&f); }
TestSuite(stats, .init = setup, .fini = teardown, .timeout = 120);

static const char *const causes[] = {"exit", "signal", "max-age", "reap"};

/* The value of the sample NAME (with its labels, as printed) in a Prometheus text OUT; -1 when
 * absent. */
static long long sample(const char *out, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
            return atoll(p + nl + 1);
    return -1;
}

struct figures {
    long long files[4], bytes[4], outstanding, tracking, refused;
};

static struct figures stats(struct run *r)
{
    RUN(&f, 0, NULL, NULL, r, launcher, "stats", "--prometheus");
    cr_assert(exited_with(r->status, 0), "stats: %s %s", describe(r->status), r->err);
    struct figures g;
    char name[128];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "tmpguard_files_removed_total{cause=\"%s\"}", causes[i]);
        g.files[i] = sample(r->out, name);
        snprintf(name, sizeof name, "tmpguard_bytes_removed_total{cause=\"%s\"}", causes[i]);
        g.bytes[i] = sample(r->out, name);
    }
    g.outstanding = sample(r->out, "tmpguard_files_outstanding");
    g.tracking = sample(r->out, "tmpguard_processes_tracking");
    g.refused = sample(r->out, "tmpguard_records_refused_total");
    return g;
}

static void expect_removed(const struct figures *g, int cause, long long files, long long bytes, const char *out)
{
    cr_expect(g->files[cause] == files && g->bytes[cause] == bytes, "cause %s: %lld files, %lld bytes; want %lld, %lld\n%s",
              causes[cause], g->files[cause], g->bytes[cause], files, bytes, out);
}

static const char *inuse(void)
{
    const char *v = getenv("TG_INUSE");
    cr_assert(v && *v, "TG_INUSE is not set: run the tests with meson test");
    return v;
}

/* A scripted workload, one cause after the other: each counter moves by exactly what was removed
 * for it (files and their bytes), and nothing else moves. */
Test(stats, counters_move_by_exactly_what_was_removed)
{
    struct run r;
    char counters[400];
    snprintf(counters, sizeof counters, "%s/counters", f.state);

    /* A process that removed nothing (it removes its own file) pays nothing: no counters file. */
    VICTIM(&f, &r, "create", "mkstemp", f.root, "unlink", "@", "exit", "0");
    cr_assert(exited_with(r.status, 0) && r.ncreated == 1, "%s %s", describe(r.status), r.err);
    cr_expect_not(exists(counters), "a process that removed nothing made %s", counters);
    struct figures g = stats(&r);
    for (int i = 0; i < 4; i++)
        expect_removed(&g, i, 0, 0, r.out);

    /* exit: two files of 5 and 9 bytes. */
    VICTIM(&f, &r, "create", "mkstemp", f.root, "write", "@", "hello", "create", "mkstemp", f.root, "write", "@",
           "123456789", "exit", "0");
    cr_assert(exited_with(r.status, 0) && r.ncreated == 2, "%s %s", describe(r.status), r.err);
    /* signal: one of 3 bytes, by SIGTERM. */
    VICTIM(&f, &r, "create", "mkstemp", f.root, "write", "@", "abc", "raise", "TERM");
    cr_assert(killed_by(r.status, SIGTERM), "%s %s", describe(r.status), r.err);
    g = stats(&r);
    expect_removed(&g, 0, 2, 14, r.out);
    expect_removed(&g, 1, 1, 3, r.out);
    expect_removed(&g, 2, 0, 0, r.out);
    expect_removed(&g, 3, 0, 0, r.out);
    struct stat st;
    cr_expect(stat(counters, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_uid == getuid(),
              "%s: mode %o", counters, (unsigned)st.st_mode);

    /* max-age: the idle control file (5 bytes) reclaimed while the process runs; the file it holds
     * open (5 bytes) goes at its exit. */
    const char *age[] = {"TMPGUARD_MAX_AGE=1s", NULL};
    RUN(&f, 1, NULL, age, &r, inuse(), "open", f.root, "3");
    cr_assert(exited_with(r.status, 0) && strstr(r.out, "control gone") && strstr(r.out, "used kept"),
              "%s %s %s", describe(r.status), r.out, r.err);
    g = stats(&r);
    expect_removed(&g, 2, 1, 5, r.out);
    expect_removed(&g, 0, 3, 19, r.out);

    /* reap: a file of 7 bytes left by SIGKILL, outstanding until the reaper takes it. */
    VICTIM(&f, &r, "create", "mkstemp", f.root, "write", "@", "abcdefg", "raise", "KILL");
    cr_assert(killed_by(r.status, SIGKILL), "%s %s", describe(r.status), r.err);
    g = stats(&r);
    cr_expect(g.outstanding == 1 && g.tracking == 0, "after SIGKILL: %lld outstanding, %lld tracking\n%s",
              g.outstanding, g.tracking, r.out);
    RUN(&f, 0, NULL, NULL, &r, launcher, "reap", "--dry-run");
    cr_assert(exited_with(r.status, 0), "reap --dry-run: %s %s", describe(r.status), r.err);
    g = stats(&r);
    expect_removed(&g, 3, 0, 0, r.out); /* a dry run adds nothing */
    RUN(&f, 0, NULL, NULL, &r, launcher, "reap");
    cr_assert(exited_with(r.status, 0), "reap: %s %s", describe(r.status), r.err);
    g = stats(&r);
    expect_removed(&g, 3, 1, 7, r.out);
    expect_removed(&g, 0, 3, 19, r.out);
    expect_removed(&g, 1, 1, 3, r.out);
    expect_removed(&g, 2, 1, 5, r.out);
    cr_expect(g.outstanding == 0 && g.tracking == 0 && g.refused == 0, "%s", r.out);
    cr_expect_eq(count_below(f.root), 0);

    /* Under the launcher: the launcher's own reap of its tree counts as reap. */
    RUN(&f, 0, NULL, NULL, &r, launcher, "--", victim_path(), "create", "mkstemp", f.root, "write", "@", "xy", "raise",
        "KILL");
    cr_assert(killed_by(r.status, SIGKILL), "%s %s", describe(r.status), r.err);
    g = stats(&r);
    expect_removed(&g, 3, 2, 9, r.out);
}

/* What is outstanding now comes from the records: a live process holding two files. */
Test(stats, outstanding_and_tracking_from_the_records)
{
    struct run r, held;
    struct proc p;
    proc_start(&p, &f, 1, NULL, NULL, &held,
               (const char *const[]){victim_path(), "create", "mkstemp", f.root, "create", "mkdtemp", f.root, "ready",
                                     NULL});
    proc_wait_line(&p, "ready");
    struct figures g = stats(&r);
    cr_expect(g.outstanding == 2 && g.tracking == 1, "%lld outstanding, %lld tracking\n%s", g.outstanding,
              g.tracking, r.out);
    kill(p.pid, SIGTERM);
    proc_finish(&p);
    cr_expect(killed_by(held.status, SIGTERM), "%s", describe(held.status));
    g = stats(&r);
    cr_expect(g.outstanding == 0 && g.tracking == 0, "after its end: %lld outstanding, %lld tracking\n%s",
              g.outstanding, g.tracking, r.out);
    expect_removed(&g, 1, 2, 0, r.out);
}

/* The reaper counts the records it refused (each named on stderr). */
Test(stats, refused_records_are_counted)
{
    char bad[400];
    snprintf(bad, sizeof bad, "%s/4194300.rec", f.state);
    put(bad, "not a record at all");
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "reap");
    cr_expect(exited_with(r.status, 1) && strstr(r.err, bad), "%s %s", describe(r.status), r.err);
    RUN(&f, 0, NULL, NULL, &r, launcher, "reap");
    struct figures g = stats(&r);
    cr_expect_eq(g.refused, 2, "two passes refused it twice:\n%s", r.out);
    RUN(&f, 0, NULL, NULL, &r, launcher, "reap", "--dry-run");
    g = stats(&r);
    cr_expect_eq(g.refused, 2, "a dry run counts nothing:\n%s", r.out);
}

static void need(const char *program)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null", program);
    cr_assert(system(cmd) == 0, "%s is not installed (scripts/test installs it)", program);
}

/* promtool, from Debian's prometheus package, accepts the output whole (exit 0, nothing said), with
 * every figure present; and the same text in --output FILE, which replaces FILE atomically. */
Test(stats, promtool_accepts_the_output)
{
    need("promtool");
    struct run r;
    VICTIM(&f, &r, "create", "mkstemp", f.root, "write", "@", "hello", "exit", "0");
    RUN(&f, 0, NULL, NULL, &r, launcher, "stats", "--prometheus");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    char out[400], prom[400];
    snprintf(prom, sizeof prom, "%s/stdout.prom", f.base);
    put(prom, r.out);
    char stdout_text[sizeof r.out];
    memcpy(stdout_text, r.out, sizeof r.out);
    for (const char *m = "tmpguard_files_removed_total\0tmpguard_bytes_removed_total\0tmpguard_files_outstanding\0"
                         "tmpguard_processes_tracking\0tmpguard_records_refused_total\0";
         *m; m += strlen(m) + 1) {
        char help[128], type[128];
        snprintf(help, sizeof help, "# HELP %s ", m);
        snprintf(type, sizeof type, "# TYPE %s %s\n", m, strstr(m, "_total") ? "counter" : "gauge");
        cr_expect(strstr(r.out, help) && strstr(r.out, type), "%s: no HELP or TYPE:\n%s", m, r.out);
    }
    RUN(&f, 0, NULL, NULL, &r, "sh", "-c", "promtool check metrics < \"$1\"", "sh", prom);
    cr_expect(exited_with(r.status, 0) && !r.out[0] && !r.err[0], "promtool: %s\n%s%s", describe(r.status), r.out,
              r.err);

    /* --output: an old file replaced whole, nothing left beside it. */
    snprintf(out, sizeof out, "%s/textfile", f.base);
    cr_assert(mkdir(out, 0755) == 0);
    strcat(out, "/tmpguard.prom");
    put(out, "old figures\n");
    RUN(&f, 0, NULL, NULL, &r, launcher, "stats", "--prometheus", "--output", out);
    cr_assert(exited_with(r.status, 0) && !r.out[0], "%s %s %s", describe(r.status), r.out, r.err);
    char *written = slurp(out);
    cr_expect(written && strcmp(written, stdout_text) == 0, "--output wrote:\n%s\nstdout was:\n%s", written,
              stdout_text);
    free(written);
    *strrchr(out, '/') = '\0';
    cr_expect_eq(count_below(out), 1, "%s holds more than the file", out);
    RUN(&f, 0, NULL, NULL, &r, launcher, "stats", "--prometheus", "--output", "/nonexistent/dir/x.prom");
    cr_expect(exited_with(r.status, 1) && strstr(r.err, "/nonexistent/dir/x.prom"), "%s %s", describe(r.status),
              r.err);
}

/* A counters file that is not the library's own (a symlink, another size, another owner) is never
 * added to and never read: stats names it and exits 1; the processes go on removing. */
Test(stats, a_counters_file_not_to_be_believed)
{
    char counters[400], target[400];
    snprintf(counters, sizeof counters, "%s/counters", f.state);
    snprintf(target, sizeof target, "%s/elsewhere/target", f.base);
    put(target, "precious\n");
    cr_assert(symlink(target, counters) == 0);
    struct run r;
    VICTIM(&f, &r, "create", "mkstemp", f.root, "write", "@", "hello", "exit", "0");
    cr_expect(exited_with(r.status, 0) && count_below(f.root) == 0, "%s %s", describe(r.status), r.err);
    char *t = slurp(target);
    cr_expect(t && strcmp(t, "precious\n") == 0, "the symlink's target changed: %s", t);
    free(t);
    RUN(&f, 0, NULL, NULL, &r, launcher, "stats");
    cr_expect(exited_with(r.status, 1) && strstr(r.err, counters) && strstr(r.err, "symbolic link"), "%s %s",
              describe(r.status), r.err);

    unlink(counters);
    put(counters, "short");
    chmod(counters, 0600);
    VICTIM(&f, &r, "create", "mkstemp", f.root, "exit", "0");
    t = slurp(counters);
    cr_expect(t && strcmp(t, "short") == 0, "a file of another size was written to: %s", t);
    free(t);
    RUN(&f, 0, NULL, NULL, &r, launcher, "stats");
    cr_expect(exited_with(r.status, 1) && strstr(r.err, "size"), "%s %s", describe(r.status), r.err);

    /* The right size, another owner. */
    unlink(counters);
    VICTIM(&f, &r, "create", "mkstemp", f.root, "exit", "0");
    cr_assert(exists(counters));
    cr_assert(chown(counters, 65534, 65534) == 0, "chown: %s", strerror(errno));
    RUN(&f, 0, NULL, NULL, &r, launcher, "stats");
    cr_expect(exited_with(r.status, 1) && strstr(r.err, "owner"), "%s %s", describe(r.status), r.err);
}

/* reap --all-users, as root, in a mount namespace of its own (a private /tmp and /run/user, so the
 * machine's state directories are not touched): a record of user nobody in /tmp/tmpguard-65534 and
 * one of root in /run/user/0/tmpguard are reaped; the counters file in nobody's directory is
 * nobody's; a directory that does not belong to the user its name says is refused. */
Test(stats, reap_all_users)
{
    cr_assert(getuid() == 0, "this test needs root");
    const char *lib = getenv("TG_LIB");
    char script[16384];
    snprintf(script, sizeof script,
             "set -u\n"
             /* The tree may itself lie under /tmp (a clone there): the old /tmp stays reachable at
              * /mnt, and every path of ours under /tmp is used through it. */
             "mount --bind /tmp /mnt || exit 90\n"
             "at() { case $1 in /tmp/*) echo \"/mnt/${1#/tmp/}\" ;; *) echo \"$1\" ;; esac; }\n"
             "LIB=$(at '%s') VICTIM=$(at '%s') LAUNCHER=$(at '%s')\n"
             "mount -t tmpfs tmpfs /tmp && mkdir -p /run/user && mount -t tmpfs tmpfs /run/user || exit 90\n"
             "export TMPGUARD_ROOTS=/tmp; unset TMPGUARD_STATE_DIR TMPDIR XDG_RUNTIME_DIR\n"
             "mkdir -m 1777 /tmp/scratch\n"
             "as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env TMPGUARD_STATE_DIR=/tmp/tmpguard-65534 \"$@\"; }\n"
             "as_nobody env LD_PRELOAD=$LIB $VICTIM create mkstemp /tmp/scratch write @ nobody raise KILL > /tmp/nobody.out\n"
             "mkdir -p -m 0700 /run/user/0\n"
             "TMPGUARD_STATE_DIR=/run/user/0/tmpguard LD_PRELOAD=$LIB $VICTIM create mkstemp /tmp/scratch write @ root! raise KILL > /tmp/root.out\n"
             "mkdir -m 0700 /tmp/tmpguard-4242\n" /* root's, under user 4242's name */
             "echo before: $(ls /tmp/scratch | wc -l)\n"
             "$LAUNCHER reap --all-users; echo reap=$?\n"
             "echo after: $(ls /tmp/scratch | wc -l)\n"
             "stat -c 'counters %%u %%a' /tmp/tmpguard-65534/counters\n"
             "$LAUNCHER stats --all-users --prometheus | grep 'cause=\"reap\"'\n",
             lib, victim_path(), launcher);
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, "unshare", "--mount", "--propagation", "private", "sh", "-c", script);
    cr_assert(exited_with(r.status, 0), "%s\nout: %s\nerr: %s", describe(r.status), r.out, r.err);
    cr_expect(strstr(r.out, "before: 2\n") && strstr(r.out, "after: 0\n"), "out: %s\nerr: %s", r.out, r.err);
    cr_expect(strstr(r.out, "reap=1\n") && strstr(r.err, "/tmp/tmpguard-4242 refused"),
              "the directory of root under user 4242's name is refused: out: %s\nerr: %s", r.out, r.err);
    cr_expect(strstr(r.out, "counters 65534 600\n"), "nobody's counters: %s", r.out);
    cr_expect(strstr(r.out, "tmpguard_files_removed_total{cause=\"reap\"} 2\n") &&
                  strstr(r.out, "tmpguard_bytes_removed_total{cause=\"reap\"} 11\n"),
              "out: %s\nerr: %s", r.out, r.err);
}
