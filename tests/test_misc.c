/* errno, configuration, audit mode, relative paths, exec, the record. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static struct fx f;
static void setup(void) { fx_setup(&f); }
static void teardown(void) { fx_teardown(&f); }
TestSuite(misc, .init = setup, .fini = teardown, .timeout = 60);

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(misc, errno_same_with_and_without_shim)
{
    struct run with, without;
    RUN(&f, 0, NULL, NULL, &without, victim_path(), "errno-check", f.root);
    VICTIM(&f, &with, "create", "mkstemp", f.root, "errno-check", f.root);
    cr_assert(exited_with(with.status, 0) && exited_with(without.status, 0));
    const char *w = strchr(with.out, '\n') + 1; /* after the "created" line */
    cr_expect_str_eq(w, without.out);
    cr_expect(strstr(without.out, "open-excl-existing EEXIST") && strstr(without.out, "unlink-missing ENOENT") &&
              strstr(without.out, "mkstemp-bad EINVAL") && strstr(w, "mkstemp-keeps-errno"));
}

Test(misc, silent_unless_asked)
{
    struct run r;
    VICTIM(&f, &r, "create", "mkstemp", f.root, "create", "open", f.root, "exit", "1");
    cr_expect_str_empty(r.err, "printed without being asked: %s", r.err);
}

Test(misc, malformed_values_one_line_each_and_defaults)
{
    const char *bad[][2] = {
        {"TMPGUARD_OUTPUTS=sometimes", "TMPGUARD_OUTPUTS"},
        {"TMPGUARD_MODE=aggressive", "TMPGUARD_MODE"},
        {"TMPGUARD_LOG=loud", "TMPGUARD_LOG"},
        {"TMPGUARD_ROOTS=relative/dir", "TMPGUARD_ROOTS"},
    };
    for (size_t i = 0; i < 4; i++) {
        struct run r;
        char roots[400];
        snprintf(roots, sizeof roots, "TMPGUARD_ROOTS=%s", f.root);
        const char *env[] = {roots, bad[i][0], NULL};
        /* with a bad TMPGUARD_ROOTS the default roots apply: TMPDIR is the test root */
        RUN(&f, 1, NULL, env, &r, victim_path(), "create", "open", f.root, "exit", "1");
        cr_expect(exited_with(r.status, 1), "%s: %s", bad[i][0], describe(r.status));
        cr_expect_eq(lines(r.err), 1, "%s: want one line, got: %s", bad[i][0], r.err);
        cr_expect(strstr(r.err, bad[i][0]) && strstr(r.err, "accepted"), "%s: message: %s", bad[i][0], r.err);
        cr_expect_not(exists(r.created[0]), "%s: the default should apply (output of a failure removed)", bad[i][0]);
    }
}

Test(misc, outputs_setting)
{
    struct run r;
    const char *always[] = {"TMPGUARD_OUTPUTS=always", NULL};
    RUN(&f, 1, NULL, always, &r, victim_path(), "create", "open", f.root, "exit", "0");
    cr_expect_not(exists(r.created[0]), "always: outputs go even on success");
    const char *never[] = {"TMPGUARD_OUTPUTS=never", NULL};
    RUN(&f, 1, NULL, never, &r, victim_path(), "create", "open", f.root, "create", "mkstemp", f.out, "create",
        "mkstemp", f.root, "exit", "1");
    cr_expect(exists(r.created[0]) && exists(r.created[1]), "never: failure outputs are kept");
    cr_expect_not(exists(r.created[2]), "never: scratch files still go");
}

Test(misc, audit_mode_reports_and_keeps)
{
    struct run r;
    const char *env[] = {"TMPGUARD_MODE=audit", NULL};
    RUN(&f, 1, NULL, env, &r, victim_path(), "create", "mkstemp", f.root, "create", "mkdir", f.root, "exit", "1");
    cr_assert(exited_with(r.status, 1));
    cr_expect(exists(r.created[0]) && exists(r.created[1]), "audit removed something");
    cr_expect(strstr(r.err, r.created[0]) && strstr(r.err, r.created[1]) && strstr(r.err, "would remove"),
              "audit report: %s", r.err);
}

Test(misc, mode_off)
{
    struct run r;
    const char *env[] = {"TMPGUARD_MODE=off", NULL};
    RUN(&f, 1, NULL, env, &r, victim_path(), "create", "mkstemp", f.root, "exit", "1");
    cr_expect(exists(r.created[0]));
}

Test(misc, log_to_file)
{
    struct run r;
    char lf[400], env1[420];
    snprintf(lf, sizeof lf, "%s/tg.log", f.out);
    snprintf(env1, sizeof env1, "TMPGUARD_LOG_FILE=%s", lf);
    const char *env[] = {"TMPGUARD_LOG=info", env1, NULL};
    RUN(&f, 1, NULL, env, &r, victim_path(), "create", "mkstemp", f.root, "exit", "0");
    char *log = slurp(lf);
    cr_expect(log && strstr(log, "removed") && strstr(log, r.created[0]), "log file: %s", log ? log : "(none)");
    cr_expect_str_empty(r.err);
}

Test(misc, relative_paths_and_chdir)
{
    struct run r;
    /* Created relative to the start (elsewhere/), then the program moves away before it ends. */
    VICTIM(&f, &r, "create", "mkstemp", "../root", "create", "mkdtemp", "../root", "create", "open", "../root",
           "chdir", "/", "exit", "1");
    cr_assert(exited_with(r.status, 1), "%s %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0, "relative creations were not removed");
}

Test(misc, exec_after_creating)
{
    struct run r;
    VICTIM(&f, &r, "create", "mkstemp", f.root, "create", "open", f.root, "exec", "create", "mkstemp", f.root, "exit",
           "1", ";");
    cr_assert(exited_with(r.status, 1), "%s %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0, "files created before exec were left");
    VICTIM(&f, &r, "create", "mkstemp", f.root, "create", "open", f.root, "exec", "raise", "TERM", ";");
    cr_assert(killed_by(r.status, SIGTERM), "%s", describe(r.status));
    cr_expect_eq(count_below(f.root), 0, "files created before exec were left after a signal");
    VICTIM(&f, &r, "create", "mkstemp", f.root, "create", "open", f.root, "exec", "exit", "0", ";");
    cr_expect(exists(r.created[1]) && !exists(r.created[0]), "after exec: output kept, scratch removed on success");
}

static int entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

Test(misc, record_only_while_tracking)
{
    struct proc p;
    struct run r;
    proc_start(&p, &f, 1, NULL, NULL, &r, (const char *const[]){victim_path(), "ready", NULL});
    proc_wait_line(&p, "ready");
    cr_expect_eq(count_state(f.state), 0, "a process that created no temp file has a record");
    kill(p.pid, SIGTERM);
    proc_finish(&p);
    proc_start(&p, &f, 1, NULL, NULL, &r, (const char *const[]){victim_path(), "create", "mkstemp", f.root, "ready", NULL});
    proc_wait_line(&p, "ready");
    cr_expect_eq(count_state(f.state), 1, "a process holding a temp file has one record");
    kill(p.pid, SIGTERM);
    proc_finish(&p);
    cr_expect_eq(count_state(f.state), 0, "the record outlived its process");
}

Test(misc, unsafe_state_dir_falls_back_to_memory)
{
    chmod(f.state, 0755);
    struct run r;
    const char *env[] = {"TMPGUARD_LOG=warn", NULL};
    RUN(&f, 1, NULL, env, &r, victim_path(), "create", "mkstemp", f.root, "exit", "0");
    cr_expect(strstr(r.err, "state directory") != NULL, "no warning: %s", r.err);
    cr_expect_not(exists(r.created[0]), "cleanup must still work without a record file");
    cr_expect_eq(entries(f.state), 0, "wrote into an unsafe state directory");
}

/* Under the sanitize setup (TG_PRELOAD = ASan's runtime, then the sanitized library): the order
 * matters, and the wrong one is refused by ASan itself at start-up. */
Test(misc, sanitized_library_needs_asan_first)
{
    const char *pre = getenv("TG_PRELOAD");
    if (!pre || !*pre || !strchr(pre, ':'))
        cr_skip_test("only under `meson test --setup sanitize`");
    char reversed[8400], env1[8500];
    const char *colon = strchr(pre, ':');
    snprintf(reversed, sizeof reversed, "%s:%.*s", colon + 1, (int)(colon - pre), pre);
    snprintf(env1, sizeof env1, "LD_PRELOAD=%s", reversed);
    const char *env[] = {env1, NULL};
    struct run r;
    RUN(&f, 0, NULL, env, &r, victim_path(), "create", "mkstemp", f.root, "exit", "0");
    cr_expect_not(exited_with(r.status, 0), "the sanitized library ran without ASan first: %s", describe(r.status));
    cr_expect(strstr(r.err, "ASan runtime does not come first"), "ASan's message: %s", r.err);
    /* And the right order works. */
    RUN(&f, 1, NULL, NULL, &r, victim_path(), "create", "mkstemp", f.root, "exit", "0");
    cr_expect(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    cr_expect_not(exists(r.created[0]));
}

/* A record longer than its first 64 KiB chunk (about 500 entries) is adopted whole by the exec'd
 * image: every file goes, not only those listed in the first chunk. */
Test(misc, exec_after_creating_many)
{
    struct run r;
    VICTIM(&f, &r, "many", "1500", f.root, "exec", "exit", "1", ";");
    cr_assert(exited_with(r.status, 1), "%s %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0, "%d files created before exec were left", count_below(f.root));
}

/* The shim holds no descriptor of its own between calls.  A daemon closes every descriptor behind
 * the shim's back (closerange, close_range) and opens its own files on the freed numbers: the
 * record's growth and the fork handler must never touch them.  (With a record descriptor kept
 * open, the growth below ran ftruncate and mmap on the program's data file, and the child's
 * write through it failed with EBADF.) */
Test(misc, program_descriptors_never_used_by_the_shim)
{
    struct run r;
    char data[400];
    snprintf(data, sizeof data, "%s/data.txt", f.out);
    /* 1000 entries of 128 bytes: the record grows past its first 64 KiB chunk. */
    VICTIM(&f, &r, "create", "mkstemp", f.root, "closefrom", "3", "datafile", data, "program data\n", "many", "1000",
           f.root, "fork-write", "exit", "0");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    char *c = slurp(data);
    cr_expect(c && strcmp(c, "program data\nchild\n") == 0, "the program's file holds \"%s\"", c ? c : "(nothing)");
    struct stat st;
    cr_expect(stat(data, &st) == 0 && st.st_size == 19, "the program's file is %lld bytes, not 19",
              (long long)st.st_size);
    free(c);
    cr_expect_eq(count_below(f.root), 0, "scratch files left: %d", count_below(f.root));
    cr_expect_eq(count_state(f.state), 0, "the record outlived its process");
}

/* A program gets the descriptor numbers it would get without the shim (CPython's test_closerange
 * needs two consecutive free numbers after its own files). */
Test(misc, descriptor_numbers_as_without_shim)
{
    struct run with, without;
    RUN(&f, 0, NULL, NULL, &without, victim_path(), "create", "mkstemp", f.root, "fdnums", "exit", "0");
    VICTIM(&f, &with, "create", "mkstemp", f.root, "fdnums", "exit", "0");
    cr_assert(exited_with(with.status, 0) && exited_with(without.status, 0), "%s %s", describe(with.status), with.err);
    const char *a = strstr(with.out, "fds "), *b = strstr(without.out, "fds ");
    cr_assert(a && b, "%s / %s", with.out, without.out);
    cr_expect(strncmp(a, b, strcspn(b, "\n")) == 0, "with the shim: %.40s; without: %.40s", a, b);
}
