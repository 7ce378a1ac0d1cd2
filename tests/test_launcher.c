/* The launcher: scripts/tmpguard [options] -- COMMAND.  Run without the harness's own preload, so
 * the launcher is what brings the library in. */
#include <criterion/criterion.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "harness.h"

static struct fx f;
static char launcher[4096];
static void setup(void)
{
    fx_setup(&f);
    snprintf(launcher, sizeof launcher, "%s", src_path("scripts/tmpguard"));
}
static void teardown(void) { fx_teardown(&f); }
TestSuite(launcher, .init = setup, .fini = teardown, .timeout = 60);

Test(launcher, exit_status_and_cleanup)
{
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "--", victim_path(), "create", "mkstemp", f.root, "create", "open", f.root,
        "exit", "3");
    cr_expect(exited_with(r.status, 3), "%s %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0, "the launched command's leftovers stay");
}

Test(launcher, dies_of_the_commands_signal)
{
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "--", victim_path(), "create", "mkstemp", f.root, "raise", "TERM");
    cr_expect(killed_by(r.status, SIGTERM), "%s %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0);
}

Test(launcher, finds_the_library_of_its_checkout)
{
    struct run r;
    /* No TMPGUARD_LIB: the library next to the checkout (build/shim) is used. */
    RUN(&f, 0, NULL, NULL, &r, launcher, "--", "sh", "-c", "echo \"$LD_PRELOAD\"");
    cr_expect(strstr(r.out, "libtmpguard.so"), "LD_PRELOAD=%s", r.out);
}

Test(launcher, keeps_an_existing_preload)
{
    struct run r;
    const char *env[] = {"LD_PRELOAD=libm.so.6", NULL};
    RUN(&f, 0, NULL, env, &r, launcher, "--", "sh", "-c", "echo \"$LD_PRELOAD\"");
    cr_expect(strstr(r.out, "libtmpguard.so:libm.so.6"), "LD_PRELOAD=%s", r.out);
}

Test(launcher, options)
{
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "--audit", "--", victim_path(), "create", "mkstemp", f.root, "exit", "1");
    cr_expect(exists(r.created[0]) && strstr(r.err, "would remove"), "--audit: %s", r.err);

    char other[400];
    snprintf(other, sizeof other, "%s/other", f.base);
    RUN(&f, 0, NULL, NULL, &r, launcher, "--roots", other, "--", victim_path(), "create", "open", f.root, "exit", "1");
    cr_expect(exists(r.created[0]), "--roots: %s is no longer in a root, its output stays", r.created[0]);
    rm_rf(r.created[0]);

    RUN(&f, 0, NULL, NULL, &r, launcher, "--outputs", "always", "--log", "info", "--", victim_path(), "create", "open",
        f.root, "exit", "0");
    cr_expect_not(exists(r.created[0]), "--outputs always");
    cr_expect(strstr(r.err, "removed"), "--log info: %s", r.err);
}

Test(launcher, usage_errors)
{
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "--frobnicate", "--", "true");
    cr_expect(exited_with(r.status, 2) && strstr(r.err, "usage"), "%s %s", describe(r.status), r.err);
    RUN(&f, 0, NULL, NULL, &r, launcher);
    cr_expect(exited_with(r.status, 2), "no command: %s", describe(r.status));
    const char *env[] = {"TMPGUARD_LIB=/nonexistent/libtmpguard.so", NULL};
    RUN(&f, 0, NULL, env, &r, launcher, "--", "true");
    cr_expect(exited_with(r.status, 2) && strstr(r.err, "TMPGUARD_LIB"), "%s %s", describe(r.status), r.err);
}

/* The version meson.build declares ("version : 'X'"), which --version must print. */
static const char *project_version(void)
{
    static char v[64];
    char *build = slurp(src_path("meson.build"));
    cr_assert(build, "meson.build unreadable");
    const char *p = strstr(build, "version : '");
    cr_assert(p, "no version in meson.build");
    p += strlen("version : '");
    snprintf(v, sizeof v, "%.*s", (int)strcspn(p, "'"), p);
    free(build);
    return v;
}

static const char *const subcommands[] = {"", "reap", "status", "report", "stats"};

/* --help (and -h) prints the usage on stdout and exits 0; --version prints the version of
 * meson.build; the same after every command. */
Test(launcher, help_and_version_of_every_command)
{
    struct run r;
    char want[128];
    for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++) {
        const char *c = subcommands[i];
        snprintf(want, sizeof want, "usage: tmpguard %s", c);
        for (const char *h = "--help\0-h\0"; *h; h += strlen(h) + 1) {
            if (*c)
                RUN(&f, 0, NULL, NULL, &r, launcher, c, h);
            else
                RUN(&f, 0, NULL, NULL, &r, launcher, h);
            cr_expect(exited_with(r.status, 0) && strncmp(r.out, want, strlen(want)) == 0 && !r.err[0],
                      "tmpguard %s %s: %s\nout: %s\nerr: %s", c, h, describe(r.status), r.out, r.err);
        }
        if (*c)
            RUN(&f, 0, NULL, NULL, &r, launcher, c, "--version");
        else
            RUN(&f, 0, NULL, NULL, &r, launcher, "--version");
        snprintf(want, sizeof want, "tmpguard %s\n", project_version());
        cr_expect(exited_with(r.status, 0) && strcmp(r.out, want) == 0 && !r.err[0],
                  "tmpguard %s --version: %s\nout: %s\nerr: %s", c, describe(r.status), r.out, r.err);
    }
    /* The whole usage names every command. */
    RUN(&f, 0, NULL, NULL, &r, launcher, "--help");
    for (size_t i = 1; i < sizeof subcommands / sizeof *subcommands; i++) {
        snprintf(want, sizeof want, "tmpguard %s ", subcommands[i]);
        cr_expect(strstr(r.out, want), "--help does not name %s:\n%s", subcommands[i], r.out);
    }
}

/* A wrong option: one line naming it, then the usage, on stderr; nothing on stdout; exit 2. */
Test(launcher, a_wrong_option_of_every_command)
{
    struct run r;
    for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++) {
        const char *c = subcommands[i];
        if (*c)
            RUN(&f, 0, NULL, NULL, &r, launcher, c, "--frobnicate");
        else
            RUN(&f, 0, NULL, NULL, &r, launcher, "--frobnicate", "--", "true");
        char usage[128];
        snprintf(usage, sizeof usage, "\nusage: tmpguard %s", c);
        cr_expect(exited_with(r.status, 2) && !r.out[0] &&
                      strncmp(r.err, "tmpguard: unknown option '--frobnicate'\n", 40) == 0 && strstr(r.err, usage),
                  "tmpguard %s --frobnicate: %s\nout: %s\nerr: %s", c, describe(r.status), r.out, r.err);
    }
    RUN(&f, 0, NULL, NULL, &r, launcher, "stats", "--all-users", "--state-dir", f.state);
    cr_expect(exited_with(r.status, 2) && strstr(r.err, "exclude each other"), "%s %s", describe(r.status), r.err);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    char *cmd = NULL;
    cr_assert(asprintf(&cmd, "cp '%s' '%s' && chmod %o '%s'", from, to, (unsigned)mode, to) > 0);
    cr_assert(system(cmd) == 0, "%s", cmd);
    free(cmd);
}

/* A tree built elsewhere (meson setup ~/b/tg): the launcher of a checkout that has no build/ finds
 * its tool beside the library named by TMPGUARD_LIB, for run, reap and status; and when nothing is
 * found it names every place it looked. */
Test(launcher, finds_its_tool_beside_a_library_built_elsewhere)
{
    char src[400], scripts[450], b[400], bshim[450], bscripts[450], lib[500], tool[500], copy[500];
    snprintf(src, sizeof src, "%s/src", f.base);
    snprintf(scripts, sizeof scripts, "%s/scripts", src);
    snprintf(b, sizeof b, "%s/b", f.base);
    snprintf(bshim, sizeof bshim, "%s/shim", b);
    snprintf(bscripts, sizeof bscripts, "%s/scripts", b);
    snprintf(lib, sizeof lib, "%s/libtmpguard.so", bshim);
    snprintf(tool, sizeof tool, "%s/tmpguard-tool", bscripts);
    snprintf(copy, sizeof copy, "%s/tmpguard", scripts);
    cr_assert(mkdir(src, 0755) == 0 && mkdir(scripts, 0755) == 0 && mkdir(b, 0755) == 0 && mkdir(bshim, 0755) == 0 &&
              mkdir(bscripts, 0755) == 0);
    char built[4200];
    snprintf(built, sizeof built, "%s", getenv("TG_LIB"));
    copy_file(built, lib, 0755);
    snprintf(built, sizeof built, "%s/../scripts/tmpguard-tool", dirname(strdup(getenv("TG_LIB"))));
    copy_file(built, tool, 0755);
    copy_file(launcher, copy, 0755);

    char libenv[600];
    snprintf(libenv, sizeof libenv, "TMPGUARD_LIB=%s", lib);
    const char *env[] = {libenv, NULL};
    struct run r;
    RUN(&f, 0, NULL, env, &r, copy, "--", victim_path(), "create", "mkstemp", f.root, "exit", "3");
    cr_expect(exited_with(r.status, 3), "run: %s %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0, "run: the command's scratch file stays");
    RUN(&f, 0, NULL, env, &r, copy, "reap");
    cr_expect(exited_with(r.status, 0) && strstr(r.out, "removed"), "reap: %s %s %s", describe(r.status), r.out, r.err);
    RUN(&f, 0, NULL, env, &r, copy, "status");
    cr_expect(exited_with(r.status, 0), "status: %s %s", describe(r.status), r.err);

    /* Nothing to find: one message naming the places tried. */
    unlink(tool);
    RUN(&f, 0, NULL, env, &r, copy, "reap");
    char checkout_build[500];
    snprintf(checkout_build, sizeof checkout_build, "%s/build/scripts/tmpguard-tool", src);
    cr_expect(exited_with(r.status, 2) && strstr(r.err, "not found") && strstr(r.err, tool) &&
                  strstr(r.err, checkout_build),
              "%s: %s", describe(r.status), r.err);
}

/* Under --log info the launcher reports each file it reaps once (the reaper reports, the remover
 * says nothing of its own). */
Test(launcher, log_info_reports_each_reaped_file_once)
{
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "--log", "info", "--", victim_path(), "create", "mkstemp", f.root, "raise",
        "KILL");
    cr_assert(killed_by(r.status, SIGKILL), "%s %s", describe(r.status), r.err);
    cr_assert(r.ncreated == 1, "out: %s", r.out);
    int n = 0;
    for (const char *p = r.err; (p = strstr(p, r.created[0])) != NULL; p++)
        n++;
    cr_expect_eq(n, 1, "%s is named %d times on stderr:\n%s", r.created[0], n, r.err);
    cr_expect_eq(count_below(f.root), 0);
}


/* ---- tmpguard report: the call sites of the library's leak report ---------------------------- */

#define REPORT_MAX 8192

/* The members of a "site": a native one (FUNCTION NULL: the library could not name it), a Python
 * one. */
static const char *native(const char *module, const char *offset, const char *function)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "\"module\":\"%s\",\"offset\":\"%s\"%s%s%s", module, offset,
             function ? ",\"function\":\"" : "", function ? function : "", function ? "\"" : "");
    return b;
}

static const char *python(const char *file, int line, const char *function)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "\"file\":\"%s\",\"line\":%d,\"function\":\"%s\"", file, line, function);
    return b;
}

/* Appends to REPORT (REPORT_MAX bytes) a leak line as the library writes it, its keys in the
 * library's order; cause "audit" is a file reported and kept.  SITE: the members of "site" (NULL:
 * no site). */
static void leak(char *report, int pid, const char *program, const char *api, int bytes, const char *cause,
                 const char *site)
{
    size_t n = strlen(report);
    snprintf(report + n, REPORT_MAX - n,
             "{\"event\":\"leak\",\"pid\":%d,\"program\":\"%s\",\"path\":\"/tmp/f%zu\",\"api\":\"%s\",\"bytes\":%d,"
             "\"age_s\":0.012,\"removed\":%s,\"cause\":\"%s\"%s%s%s}\n",
             pid, program, n, api, bytes, strcmp(cause, "audit") ? "true" : "false", cause,
             site ? ",\"site\":{" : "", site ? site : "", site ? "}" : "");
}

static void append(char *report, const char *text)
{
    size_t n = strlen(report);
    snprintf(report + n, REPORT_MAX - n, "%s", text);
}

/* A report file in the fixture directory, holding TEXT. */
static const char *report_file(const char *name, const char *text)
{
    static char path[4][600];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", f.base, name);
    put(p, text);
    return p;
}

/* The Kth line of OUT (0: the first) into BUF, without its newline; NULL when OUT has fewer. */
static const char *nth_line(const char *out, int k, char *buf, size_t size)
{
    for (; k > 0 && out; k--)
        out = strchr(out, '\n') ? strchr(out, '\n') + 1 : NULL;
    if (!out || !*out)
        return NULL;
    size_t n = strcspn(out, "\n");
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), out);
    return buf;
}

/* Whether the Kth call site of a report's output (0: the first, below the heading) shows FILES
 * files, BYTES bytes, then exactly SITE. */
static int site_is(const char *out, int k, unsigned long long files, unsigned long long bytes, const char *site)
{
    char buf[1024];
    unsigned long long fl, by;
    int at = 0;
    const char *line = nth_line(out, k + 1, buf, sizeof buf);
    return line && sscanf(line, "%llu %llu %n", &fl, &by, &at) == 2 && at && fl == files && by == bytes &&
           strcmp(line + at, site) == 0;
}

static int line_count(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Most files first, then most bytes, then by name; the lines of one site add up wherever they
 * are in the report and whatever order their keys come in; one line of totals. */
Test(launcher, report_ranks_sites_by_files_then_bytes)
{
    char text[REPORT_MAX] = "";
    leak(text, 10, "a", "mkstemp", 50, "exit", native("/opt/a/prog", "0x10", "alpha"));
    leak(text, 11, "b", "mkstemp", 10, "exit", native("/opt/b/lib.so", "0x20", "beta"));
    leak(text, 12, "c", "mkstemps", 250, "max-age", native("/opt/c/prog", "0x30", "gamma"));
    append(text, "{\"site\":{\"function\":\"beta\",\"offset\":\"0x20\",\"module\":\"/opt/b/lib.so\"},"
                 "\"stack\":[{\"module\":\"/opt/b/prog\",\"offset\":\"0x200\",\"function\":\"main\"},"
                 "{\"module\":\"/lib/x86_64-linux-gnu/libc.so.6\",\"offset\":\"0x271ca\"}],\"cause\":\"signal\","
                 "\"removed\":true,\"age_s\":3,\"bytes\":10,\"api\":\"mkstemp\",\"path\":\"/tmp/b2\",\"program\":\"b\","
                 "\"pid\":11,\"event\":\"leak\"}\n");
    leak(text, 10, "a", "mkdtemp", 50, "exit", native("/opt/a/prog", "0x10", "alpha"));
    leak(text, 13, "d", "tmpfile", 7, "reap", native("/opt/d/z", "0x1", "delta"));
    leak(text, 12, "c", "mkstemps", 250, "audit", native("/opt/c/prog", "0x30", "gamma"));
    leak(text, 13, "d", "tmpfile", 7, "reap", native("/opt/d/y", "0x1", "epsilon"));
    leak(text, 11, "b", "mkstemp", 10, "exit", native("/opt/b/lib.so", "0x20", "beta"));
    append(text, "{\"event\":\"summary\",\"pid\":11,\"program\":\"b\",\"created\":8,\"removed_by_program\":5,"
                 "\"removed_by_tmpguard\":3,\"bytes_reclaimed\":30,\"kept\":0}\n"
                 "{\"event\":\"summary\",\"pid\":12,\"program\":\"c\",\"created\":2,\"removed_by_program\":0,"
                 "\"removed_by_tmpguard\":1,\"bytes_reclaimed\":250,\"kept\":1}\n");
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", report_file("leaks.jsonl", text));
    cr_assert(exited_with(r.status, 0) && !r.err[0], "%s: %s", describe(r.status), r.err);
    cr_expect(strncmp(r.out, "FILES  BYTES  CALL SITE\n", 24) == 0, "heading:\n%s", r.out);
    cr_expect(site_is(r.out, 0, 3, 30, "beta  /opt/b/lib.so+0x20  (mkstemp; exit 2, signal 1)"),
              "most files first:\n%s", r.out);
    cr_expect(site_is(r.out, 1, 2, 500, "gamma  /opt/c/prog+0x30  (mkstemps; max-age 1, audit 1)"),
              "then most bytes:\n%s", r.out);
    cr_expect(site_is(r.out, 2, 2, 100, "alpha  /opt/a/prog+0x10  (mkstemp 1, mkdtemp 1; exit 2)"),
              "each API with its count:\n%s", r.out);
    cr_expect(site_is(r.out, 3, 1, 7, "epsilon  /opt/d/y+0x1  (tmpfile; reap 1)") &&
                  site_is(r.out, 4, 1, 7, "delta  /opt/d/z+0x1  (tmpfile; reap 1)"),
              "a tie goes by name:\n%s", r.out);
    char buf[1024];
    cr_expect(line_count(r.out) == 7 &&
                  !strcmp(nth_line(r.out, 6, buf, sizeof buf) ? buf : "",
                          "9 files, 644 bytes leaked from 5 call sites by 4 processes; 8 removed, 1 reported only "
                          "(audit); summaries of 2 processes: 10 created, 5 removed by the programs, 4 by tmpguard"),
              "one line a site, then the totals:\n%s", r.out);
}

/* A Python site is its file, line and function: the same line in another function is another
 * site. */
Test(launcher, report_python_sites)
{
    char text[REPORT_MAX] = "";
    append(text, "{\"event\":\"leak\",\"pid\":77,\"program\":\"python3\",\"path\":\"/tmp/tmpab12\",\"api\":\"open\","
                 "\"bytes\":9,\"age_s\":2.5,\"removed\":true,\"cause\":\"max-age\",\"site\":{\"file\":"
                 "\"/srv/service.py\",\"line\":42,\"function\":\"handle\"},\"stack\":[{\"file\":\"/srv/service.py\","
                 "\"line\":80,\"function\":\"serve\"}]}\n");
    leak(text, 77, "python3", "open", 11, "exit", python("/srv/service.py", 42, "handle"));
    leak(text, 78, "python3", "mkstemp", 1, "exit", python("/srv/service.py", 42, "retry"));
    leak(text, 78, "python3", "open", 1, "exit", python("/srv/service.py", 7, "handle"));
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", report_file("py.jsonl", text));
    cr_assert(exited_with(r.status, 0) && !r.err[0], "%s: %s", describe(r.status), r.err);
    cr_expect(site_is(r.out, 0, 2, 20, "handle  /srv/service.py:42  (open; exit 1, max-age 1)"), "%s", r.out);
    cr_expect(site_is(r.out, 1, 1, 1, "handle  /srv/service.py:7  (open; exit 1)"), "line 7 before 42:\n%s", r.out);
    cr_expect(site_is(r.out, 2, 1, 1, "retry  /srv/service.py:42  (mkstemp; exit 1)"), "%s", r.out);
    cr_expect(strstr(r.out, "\n4 files, 22 bytes leaked from 3 call sites by 2 processes; 4 removed, 0 reported only "
                            "(audit)\n"),
              "%s", r.out);
}

/* No site, a null one or an empty one: the unknown call site, one line for them all.  A native
 * site the library could not name a function for shows ??, as addr2line does. */
Test(launcher, report_unknown_site_and_unnamed_function)
{
    char text[REPORT_MAX] = "";
    leak(text, 5, "x", "open", 1, "exit", NULL);
    append(text, "{\"event\":\"leak\",\"pid\":5,\"program\":\"x\",\"path\":\"/tmp/2\",\"api\":\"open\",\"bytes\":2,"
                 "\"removed\":true,\"cause\":\"signal\",\"site\":null}\n");
    leak(text, 5, "x", "open", 3, "exit", "");
    leak(text, 5, "x", "mkstemp", 4, "exit", native("/opt/x/stripped", "0x99", NULL));
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", report_file("unknown.jsonl", text));
    cr_assert(exited_with(r.status, 0) && !r.err[0], "%s: %s", describe(r.status), r.err);
    cr_expect(site_is(r.out, 0, 3, 6, "(unknown call site)  (open; exit 2, signal 1)"), "%s", r.out);
    cr_expect(site_is(r.out, 1, 1, 4, "??  /opt/x/stripped+0x99  (mkstemp; exit 1)"), "%s", r.out);
}

/* Names as the library escapes them (quotes, backslashes, control bytes, \u escapes), shown on
 * one line: a control byte escaped again, any other byte as it is. */
Test(launcher, report_names_with_escapes)
{
    char text[REPORT_MAX] = "";
    leak(text, 1, "p\\\"q", "open", 3, "exit", native("/opt/caf\\u00e9/\\\"x\\\"\\\\y\\u0001z\\nw", "0x5", "f\\tg"));
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", report_file("escapes.jsonl", text));
    cr_assert(exited_with(r.status, 0) && !r.err[0], "%s: %s", describe(r.status), r.err);
    cr_expect(site_is(r.out, 0, 1, 3, "f\\tg  /opt/caf\xc3\xa9/\"x\"\\\\y\\x01z\\nw+0x5  (open; exit 1)"), "%s", r.out);
    cr_expect_eq(line_count(r.out), 3, "%s", r.out);
}

/* No FILE, or -: standard input, read as a file is. */
Test(launcher, report_reads_standard_input)
{
    char text[REPORT_MAX] = "";
    leak(text, 4242, "resize", "mkstemps", 1000, "exit", native("/opt/x/resize", "0x1189", "leaky_resize"));
    const char *report = report_file("stdin.jsonl", text);
    struct run from_file, dash, none;
    RUN(&f, 0, NULL, NULL, &from_file, launcher, "report", report);
    cr_assert(site_is(from_file.out, 0, 1, 1000, "leaky_resize  /opt/x/resize+0x1189  (mkstemps; exit 1)"), "%s",
              from_file.out);
    RUN(&f, 0, NULL, NULL, &dash, "sh", "-c", "exec \"$0\" report - <\"$1\"", launcher, report);
    cr_expect(exited_with(dash.status, 0) && !strcmp(dash.out, from_file.out), "report -: %s %s\n%s",
              describe(dash.status), dash.err, dash.out);
    RUN(&f, 0, NULL, NULL, &none, "sh", "-c", "exec \"$0\" report <\"$1\"", launcher, report);
    cr_expect(exited_with(none.status, 0) && !strcmp(none.out, from_file.out), "report: %s %s\n%s",
              describe(none.status), none.err, none.out);
}

/* What is not JSON, not an object, has no "event", or has a field of the wrong type (a line cut
 * short, a stray message) is skipped and counted in one line on stderr; the rest is reported, and
 * the status is 0.  Blank lines and events the reader does not know are passed over silently. */
Test(launcher, report_counts_lines_not_understood)
{
    char text[REPORT_MAX] = "";
    append(text, "\ntmpguard: removed /tmp/x (3 bytes)\n");
    leak(text, 1, "p", "open", 5, "exit", native("/m", "0x1", "f"));
    append(text, "[1,2]\n"
                 "{\"pid\":1,\"program\":\"p\",\"bytes\":5}\n"
                 "{\"event\":\"leak\",\"pid\":1,\"program\":\"p\",\"api\":\"open\",\"bytes\":5,\"site\":{\"mod\n"
                 "{\"event\":\"leak\",\"bytes\":\"many\",\"site\":{\"module\":\"/m\",\"offset\":\"0x1\"}}\n"
                 "{\"event\":\"start\",\"pid\":1}\n"
                 "   \n");
    leak(text, 1, "p", "open", 6, "exit", native("/m", "0x1", "f"));
    text[strlen(text) - 1] = '\0'; /* the last line without its newline */
    const char *report = report_file("garbage.jsonl", text);
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", report);
    cr_expect(exited_with(r.status, 0), "%s", describe(r.status));
    char want[800];
    snprintf(want, sizeof want, "tmpguard report: %s: 5 lines not understood (first: line 2)\n", report);
    cr_expect_str_eq(r.err, want);
    cr_expect(site_is(r.out, 0, 2, 11, "f  /m+0x1  (open; exit 2)") && line_count(r.out) == 3, "%s", r.out);
}

Test(launcher, report_of_a_missing_file)
{
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-report.jsonl", f.base);
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", missing);
    cr_expect(exited_with(r.status, 1), "%s", describe(r.status));
    char want[800];
    snprintf(want, sizeof want, "tmpguard report: %s: No such file or directory\n", missing);
    cr_expect_str_eq(r.err, want);
    cr_expect_str_empty(r.out);
}

/* Summaries alone, or nothing at all: nothing leaked. */
Test(launcher, report_of_no_leaks)
{
    const char *summaries = report_file(
        "clean.jsonl", "{\"event\":\"summary\",\"pid\":9,\"program\":\"tidy\",\"created\":4,\"removed_by_program\":4,"
                       "\"removed_by_tmpguard\":0,\"bytes_reclaimed\":0,\"kept\":0}\n");
    const char *empty = report_file("empty.jsonl", "");
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", summaries);
    cr_expect(exited_with(r.status, 0) && !strcmp(r.out, "no leaks reported\n") && !r.err[0], "%s: %s %s",
              describe(r.status), r.out, r.err);
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", empty);
    cr_expect(exited_with(r.status, 0) && !strcmp(r.out, "no leaks reported\n") && !r.err[0], "%s: %s %s",
              describe(r.status), r.out, r.err);
}

Test(launcher, report_usage)
{
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", "--help");
    cr_expect(exited_with(r.status, 0) && strstr(r.out, "usage: tmpguard report [FILE]") && !r.err[0], "%s: %s",
              describe(r.status), r.out);
    RUN(&f, 0, NULL, NULL, &r, launcher, "--help");
    cr_expect(exited_with(r.status, 0) && strstr(r.out, "tmpguard report [FILE]"), "--help: %s", r.out);
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", "a.jsonl", "b.jsonl");
    cr_expect(exited_with(r.status, 2) && strstr(r.err, "unexpected argument 'b.jsonl'") &&
                  strstr(r.err, "usage: tmpguard report") && !r.out[0],
              "%s: %s", describe(r.status), r.err);
    RUN(&f, 0, NULL, NULL, &r, launcher, "report", "--top", "3");
    cr_expect(exited_with(r.status, 2) && strstr(r.err, "unknown option '--top'"), "%s: %s", describe(r.status),
              r.err);
}
