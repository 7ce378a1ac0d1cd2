/* Leak reports (TMPGUARD_REPORT): which call site leaked, how often and how much, for the
 * developers.  Real programs: tests/victims/leaky.c (three leaks from its static function
 * leaky_resize, one from thumb_render in libthumb.so, one file removed properly, exit 1), the
 * leaky Python service, the reaper and the launcher.  The JSON lines are read back by
 * tests/report_check.py, which fails on any line that does not parse or breaks the format. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct fx f;
static struct run r, chk;
static char report[400], env_report[420];
static void setup(void)
{
    fx_setup(&f);
    snprintf(report, sizeof report, "%s/report.json", f.out);
    snprintf(env_report, sizeof env_report, "TMPGUARD_REPORT=%s", report);
}
static void teardown(void)
{
    kill_leftovers(&f);
    fx_teardown(&f);
}
TestSuite(report, .init = setup, .fini = teardown, .timeout = 300);

static const char *leaky(void)
{
    const char *v = getenv("TG_LEAKY");
    cr_assert(v && *v, "TG_LEAKY is not set: run the tests with meson test");
    return v;
}

/* Lines of TEXT that contain every one of the NULL-terminated NEEDLES. */
static int lines_with(const char *text, const char *const needles[])
{
    int n = 0;
    for (const char *l = text; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        char line[8192];
        if (len >= sizeof line)
            len = sizeof line - 1;
        memcpy(line, l, len);
        line[len] = '\0';
        int all = 1;
        for (int i = 0; needles[i] && all; i++)
            all = strstr(line, needles[i]) != NULL;
        n += all;
        l = nl ? nl + 1 : NULL;
    }
    return n;
}
#define LINES(text, ...) lines_with((text), (const char *const[]){__VA_ARGS__, NULL})

/* The report read back, one normalised line per object (report_check.py; COUNTED: equal lines
 * once, with their number); every line parsed. */
static const char *read_back(int counted)
{
    cr_assert(exists(report), "no report was written at %s", report);
    RUN(&f, 0, NULL, NULL, &chk, "python3", src_path("tests/report_check.py"), counted ? "--count" : report, report);
    cr_assert(exited_with(chk.status, 0), "the report does not parse: %s%.3000s", chk.out, chk.err);
    return chk.out;
}
static const char *checked(void) { return read_back(0); }

/* The native victim's four leaks: three from leaky_resize in the executable, 1000 bytes each, one
 * of 9 bytes from thumb_render in the library; CAUSE and REMOVED as given. */
static void four_leaks(const char *out, const char *how)
{
    cr_expect_eq(LINES(out, "leak "), 4, "four leak objects wanted:\n%s", out);
    cr_expect_eq(LINES(out, "leak mkstemps 1000 ", how, " leaky_resize leaky+0x"), 3,
                 "three leaks of leaky_resize (%s):\n%s", how, out);
    cr_expect_eq(LINES(out, "leak mkstemp 9 ", how, " thumb_render libthumb.so+0x"), 1,
                 "one leak of thumb_render (%s):\n%s", how, out);
}

Test(report, native_sites_in_json)
{
    RUN(&f, 1, NULL, ((const char *const[]){env_report, NULL}), &r, leaky(), f.root);
    cr_assert(exited_with(r.status, 1), "leaky: %s; err: %s", describe(r.status), r.err);
    cr_expect_str_empty(r.err, "a report to a file writes nothing on stderr: %s", r.err);
    const char *out = checked();
    four_leaks(out, "true exit");
    cr_expect_eq(LINES(out, "summary created=5 removed_by_program=1 removed_by_tmpguard=4 bytes_reclaimed=3009 kept=0 ",
                       "program=leaky"), 1, "the summary:\n%s", out);
    cr_expect_eq(count_below(f.root), 0, "%d entries left", count_below(f.root));
    /* What an operator asks of a week of it: the call sites, the largest first. */
    RUN(&f, 0, NULL, NULL, &r, src_path("scripts/tmpguard"), "report", report);
    cr_assert(exited_with(r.status, 0), "tmpguard report: %s; %s", describe(r.status), r.err);
    const char *first = strstr(r.out, " leaky_resize "), *second = strstr(r.out, " thumb_render ");
    cr_expect(first && second && first < second, "leaky_resize (3 files) before thumb_render (1):\n%s", r.out);
    cr_expect(strstr(r.out, "4 files, 3009 bytes leaked from 2 call sites") != NULL, "%s", r.out);
}

Test(report, native_sites_on_stderr_in_lsan_shape)
{
    RUN(&f, 1, NULL, ((const char *const[]){"TMPGUARD_REPORT=stderr", NULL}), &r, leaky(), f.root);
    cr_assert(exited_with(r.status, 1), "leaky: %s; err: %s", describe(r.status), r.err);
    cr_expect(strstr(r.err, "==ERROR: tmpguard: detected leaked temp files") != NULL, "no LSan-shaped header: %s", r.err);
    cr_expect(strstr(r.err, "3 files (3000 bytes) leaked via mkstemps from:\n    #0 0x") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "1 file (9 bytes) leaked via mkstemp from:\n    #0 0x") != NULL, "%s", r.err);
    cr_expect_eq(LINES(r.err, "    #0 0x", " in leaky_resize ", "/leaky+0x"), 1, "%s", r.err);
    cr_expect_eq(LINES(r.err, "    #0 0x", " in thumb_render ", "/libthumb.so+0x"), 1, "%s", r.err);
    cr_expect(strstr(r.err, "\nSUMMARY: tmpguard: 3009 bytes in 4 files leaked from 2 call sites.\n") != NULL, "%s",
              r.err);
    /* Largest first, as LeakSanitizer orders: the three before the one. */
    cr_expect(strstr(r.err, "leaky_resize") < strstr(r.err, "thumb_render"), "%s", r.err);
    cr_expect_eq(count_below(f.root), 0, "%d entries left", count_below(f.root));
}

/* Audit mode lists exactly what clean mode removes, and removes nothing. */
Test(report, audit_reports_and_keeps)
{
    RUN(&f, 1, NULL, ((const char *const[]){env_report, "TMPGUARD_MODE=audit", NULL}), &r, leaky(), f.root);
    cr_assert(exited_with(r.status, 1), "leaky: %s; err: %s", describe(r.status), r.err);
    const char *out = checked();
    four_leaks(out, "false audit");
    cr_expect_eq(count_below(f.root), 4, "audit must keep all four: %d entries", count_below(f.root));
    /* Each reported path is one of those still there. */
    for (const char *l = out; (l = strstr(l, "leak ")) != NULL; l++) {
        const char *path = strstr(l, f.root);
        char p[600];
        size_t n = path ? strcspn(path, "\n") : 0;
        cr_assert(path && n < sizeof p, "no path in %s", l);
        memcpy(p, path, n);
        p[n] = '\0';
        cr_expect(exists(p), "reported but not on disk: %s", p);
    }
}

/* The Python service: every leak names the developer's line, not tempfile.py's. */
static int mkstemp_line(void)
{
    char *src = slurp(src_path("tests/victims/leaky_service.py"));
    cr_assert(src);
    int line = 1;
    const char *at = strstr(src, "tempfile.mkstemp(");
    cr_assert(at, "no tempfile.mkstemp( in the service");
    for (const char *c = src; c < at; c++)
        line += *c == '\n';
    free(src);
    return line;
}

static void service(const char *seconds, const char *const env[], struct run *out_run)
{
    RUN(&f, 1, NULL, env, out_run, "python3", src_path("tests/victims/leaky_service.py"), "--seconds", seconds,
        "--interval", "0.01", "--fail-every", "10", "--dir", f.root);
    cr_assert(exited_with(out_run->status, 1), "the service: %s; err: %.2000s", describe(out_run->status),
              out_run->err);
}

Test(report, python_sites_name_the_line)
{
    service("2", (const char *const[]){env_report, NULL}, &r);
    char where[64];
    snprintf(where, sizeof where, " handle leaky_service.py:%d ", mkstemp_line());
    const char *out = checked();
    int leaks = LINES(out, "leak "), named = LINES(out, "leak open", " true exit", where);
    cr_expect(leaks >= 5, "the service should have leaked several uploads:\n%s", out);
    cr_expect_eq(named, leaks, "every leak should name%s(the line of its mkstemp):\n%s", where, out);
    cr_expect_eq(LINES(out, "summary ", "program=python3"), 1, "one summary:\n%s", out);
    cr_expect_eq(count_below(f.root), 0, "%d entries left", count_below(f.root));
}

/* Leaks reclaimed while the service runs are reported with their cause and site. */
Test(report, max_age_reclaims_are_reported)
{
    service("4", (const char *const[]){env_report, "TMPGUARD_MAX_AGE=1s", NULL}, &r);
    char where[64];
    snprintf(where, sizeof where, " handle leaky_service.py:%d ", mkstemp_line());
    const char *out = checked();
    cr_expect(LINES(out, "leak open", " true max-age", where) >= 3, "reclaims while it ran, with the site:\n%s",
              out);
    cr_expect_eq(LINES(out, "leak "), LINES(out, "leak open", where), "every leak with its site:\n%s", out);
}

/* After SIGKILL the record keeps the sites: the reaper reports them, and the summary of a process
 * that could not write its own. */
static void killed_then(int launched)
{
    struct proc p;
    const char *const env[] = {env_report, NULL};
    if (launched)
        proc_start(&p, &f, 0, NULL, NULL, &r,
                   (const char *const[]){src_path("scripts/tmpguard"), "--report", report, "--", leaky(), f.root,
                                         "hold", NULL});
    else
        proc_start(&p, &f, 1, NULL, env, &r, (const char *const[]){leaky(), f.root, "hold", NULL});
    proc_wait_line(&p, "ready");
    if (launched) {
        /* The launcher's child: the one process of its tree that runs leaky. */
        char cmd[600];
        snprintf(cmd, sizeof cmd, "pkill -KILL -P %d -x leaky", (int)p.pid);
        cr_assert(system(cmd) == 0, "no child to kill");
    } else {
        kill(p.pid, SIGKILL);
    }
    proc_finish(&p);
    if (!launched) {
        cr_assert(killed_by(r.status, SIGKILL), "%s", describe(r.status));
        cr_expect_eq(count_below(f.root), 4, "the four leaks stay until the reap: %d", count_below(f.root));
        cr_expect(!exists(report), "nothing reported before the reap");
        RUN(&f, 0, NULL, NULL, &r, src_path("scripts/tmpguard"), "reap", "--report", report);
        cr_assert(exited_with(r.status, 0), "reap: %s; %s%s", describe(r.status), r.out, r.err);
    } else {
        cr_assert(killed_by(r.status, SIGKILL), "the launcher dies as its child died: %s", describe(r.status));
    }
    const char *out = checked();
    four_leaks(out, "true reap");
    cr_expect_eq(LINES(out, "summary created=5 removed_by_program=1 removed_by_tmpguard=4 bytes_reclaimed=3009 kept=0 ",
                       "program=leaky"), 1, "the summary:\n%s", out);
    cr_expect_eq(count_below(f.root), 0, "%d entries left", count_below(f.root));
}

Test(report, reaper_reports_sites_after_sigkill) { killed_then(0); }
Test(report, launcher_reports_sites_after_sigkill) { killed_then(1); }

/* 16 threads in each of 4 processes leak at once into one file: every line parses (none is
 * interleaved with another), and every leak is there. */
Test(report, concurrent_writers_never_interleave)
{
    enum { PROCS = 4 }; /* each: 16 threads x 25 files (1600 in all) */
    struct proc p[PROCS];
    static struct run pr[PROCS];
    const char *const env[] = {env_report, NULL};
    for (int i = 0; i < PROCS; i++)
        proc_start(&p[i], &f, 1, NULL, env, &pr[i], (const char *const[]){leaky(), f.root, "threads", "16", "25", NULL});
    for (int i = 0; i < PROCS; i++) {
        proc_finish(&p[i]);
        cr_assert(exited_with(pr[i].status, 0), "leaky threads: %s; %s", describe(pr[i].status), pr[i].err);
    }
    const char *out = read_back(1);
    cr_expect_eq(LINES(out, "1600x leak mkstemp 0 true exit thread_leak leaky+0x"), 1, "every leak, one site:\n%s",
                 out);
    cr_expect_eq(LINES(out, "4x summary created=400 removed_by_program=0 removed_by_tmpguard=400 "), 1, "%s", out);
    cr_expect_eq(LINES(out, "x "), 2, "nothing else:\n%s", out);
    cr_expect_eq(count_below(f.root), 0, "%d entries left", count_below(f.root));
}

/* Off (the default): not one byte more written anywhere than without the shim, and no report. */
Test(report, off_writes_nothing)
{
    cr_assert(system("command -v strace >/dev/null") == 0, "strace is needed");
    char log[2][400];
    int writes[2];
    for (int shim = 0; shim < 2; shim++) {
        snprintf(log[shim], sizeof log[shim], "%s/strace.%d", f.out, shim);
        RUN(&f, shim, NULL, NULL, &r, "strace", "-f", "-qq", "-y", "-e", "trace=write,writev,pwrite64", "-o",
            log[shim], leaky(), f.root);
        cr_assert(exited_with(r.status, 1), "leaky under strace: %s; %s", describe(r.status), r.err);
        char *t = slurp(log[shim]);
        cr_assert(t);
        /* Not counted: the state directory's counters file, made once with its header (tmpguard
         * stats), which is not a report. */
        char counters[600];
        snprintf(counters, sizeof counters, "%s/counters.", f.state); /* made aside, then linked */
        writes[shim] = LINES(t, "write") - LINES(t, "write", counters);
        free(t);
        rm_rf(f.root);
        mkdir(f.root, 0755);
    }
    cr_expect_eq(writes[1], writes[0], "%d writes under the shim, %d without", writes[1], writes[0]);
    cr_expect_str_empty(r.err, "%s", r.err);
}

Test(report, malformed_destination_one_line_and_off)
{
    RUN(&f, 1, NULL, ((const char *const[]){"TMPGUARD_REPORT=report.json", NULL}), &r, leaky(), f.root);
    cr_assert(exited_with(r.status, 1), "leaky: %s; err: %s", describe(r.status), r.err);
    cr_expect_eq(LINES(r.err, "TMPGUARD_REPORT", "report.json", "stderr, or an absolute path"), 1, "%s", r.err);
    cr_expect_eq(LINES(r.err, ""), 1, "one line only: %s", r.err);
    cr_expect_eq(count_below(f.root), 0, "removal goes on without reports: %d left", count_below(f.root));
}
