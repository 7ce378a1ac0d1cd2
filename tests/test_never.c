/* What is never removed: each rule that protects a file, with a case where the shim would
 * otherwise remove it (the owner fails). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static struct fx f;
static void setup(void) { fx_setup(&f); }
static void teardown(void) { fx_teardown(&f); }
TestSuite(never, .init = setup, .fini = teardown, .timeout = 60);

static char *path(const char *dir, const char *name)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* Control: the same failing victim without any protection does lose the file. */
Test(never, control_failed_output_is_removed)
{
    struct run r;
    VICTIM(&f, &r, "create", "open", f.root, "exit", "1");
    cr_assert(exited_with(r.status, 1), "%s", describe(r.status));
    cr_assert_not(exists(path(f.root, "open.out")), "a failed owner's output under a root goes");
}

Test(never, pre_existing_file)
{
    const char *apis[] = {"open", "open64", "creat", "fopen", "fopen64", "freopen", "openat"};
    for (size_t i = 0; i < sizeof apis / sizeof apis[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.out", apis[i]);
        put(path(f.root, name), "precious");
        struct run r;
        VICTIM(&f, &r, "create", apis[i], f.root, "exit", "1");
        cr_assert(exited_with(r.status, 1), "%s: %s %s", apis[i], describe(r.status), r.err);
        cr_expect(exists(path(f.root, name)), "%s: a file that existed before was removed", apis[i]);
    }
    mkdir(path(f.root, "mkdir.out"), 0755);
    struct run r;
    VICTIM(&f, &r, "create", "mkdir", f.root, "exit", "1");
    cr_expect(exists(path(f.root, "mkdir.out")), "a directory that existed before was removed");
}

Test(never, rename_publishes)
{
    struct run r;
    /* The atomic write: temp file renamed over its target, then the program fails. */
    put(path(f.root, "final.txt"), "old");
    VICTIM(&f, &r, "create", "mkstemp", f.root, "write", "@", "new content", "rename", "@",
           path(f.root, "final.txt"), "create", "mkstemp", f.root, "rename", "@", path(f.out, "moved"), "exit", "1");
    cr_assert(exited_with(r.status, 1), "%s %s", describe(r.status), r.err);
    char *c = slurp(path(f.root, "final.txt"));
    cr_expect(c && strcmp(c, "new content") == 0, "published file lost or changed: %s", c ? c : "(gone)");
    cr_expect(exists(path(f.out, "moved")), "a temp file moved out of the root was removed");
    cr_expect_eq(count_below(f.root), 1, "only final.txt should be left in the root");
    cr_expect_not(exists(r.created[0]), "the temp name is gone");
}

Test(never, symlink_swapped_in)
{
    struct run r;
    put(path(f.out, "precious"), "keep me");
    VICTIM(&f, &r, "create", "mkstemp", f.root, "swap-symlink", "@", path(f.out, "precious"), "create", "mkdtemp",
           f.root, "swap-symlink", "@", f.out, "exit", "1");
    cr_assert(exited_with(r.status, 1), "%s %s", describe(r.status), r.err);
    char *c = slurp(path(f.out, "precious"));
    cr_expect(c && strcmp(c, "keep me") == 0, "the symlink's target was touched");
    cr_expect(exists(r.created[0]) && exists(r.created[1]), "the symlinks themselves belong to nobody here");
    cr_expect(exists(path(f.out, "precious")), "directory contents behind a symlink were removed");
}

Test(never, replaced_by_another_inode)
{
    struct run r;
    VICTIM(&f, &r, "create", "excl", f.root, "replace", "@", "create", "mkdir", f.root, "exit", "1");
    cr_assert(exited_with(r.status, 1), "%s %s", describe(r.status), r.err);
    char *c = slurp(r.created[0]);
    cr_expect(c && strcmp(c, "precious") == 0, "a file put in place of the tracked one was removed");
}

/* Many files in one directory are removed from a directory scan (inode from getdents): a file
 * put in place of one of them must still be told apart. */
Test(never, replaced_among_many)
{
    struct run r;
    VICTIM(&f, &r, "many", "200", f.root, "replace", "@", "many", "100", f.root, "exit", "1");
    cr_assert(exited_with(r.status, 1), "%s %s", describe(r.status), r.err);
    char *c = slurp(r.created[0]);
    cr_expect(c && strcmp(c, "precious") == 0, "a file put in place of a tracked one was removed");
    cr_expect_eq(count_below(f.root), 1, "all but the replaced file go: %d left", count_below(f.root));
}

Test(never, fork_child_exit_keeps_parents_files)
{
    struct run r;
    /* The child exits through exit() (destructors and all) after creating its own file; the
     * parent then checks that its own file is still there ("check" exits 99 otherwise). */
    VICTIM(&f, &r, "create", "open", f.root, "create", "mkstemp", f.root, "fork-child", "mkstemp", f.root, "check",
           "@", "check", path(f.root, "open.out"), "exit", "0");
    cr_expect(exited_with(r.status, 0), "parent's files vanished when its child exited: %s %s", describe(r.status),
              r.err);
    cr_expect_eq(r.ncreated, 3, "out: %s", r.out);
    cr_expect_not(exists(r.created[2]), "the child's own scratch file goes when the child ends");
    cr_expect(exists(path(f.root, "open.out")), "parent output kept at exit 0");
    cr_expect_eq(count_below(f.root), 1, "only the parent's output is left");
}

Test(never, command_line_paths)
{
    char rel[600];
    snprintf(rel, sizeof rel, "../root/open64.out");
    const char *cases[][2] = {
        {"open", path(f.root, "open.out")},        /* whole argument, absolute */
        {"open64", rel},                             /* whole argument, relative to the start */
        {"fopen", NULL},                             /* --opt=PATH */
        {"mkdir", NULL},
    };
    char opt[600];
    snprintf(opt, sizeof opt, "--output=%s", path(f.root, "fopen.out"));
    cases[2][1] = opt;
    cases[3][1] = path(f.root, "mkdir.out");
    for (size_t i = 0; i < 4; i++) {
        struct run r;
        VICTIM(&f, &r, "note", cases[i][1], "create", cases[i][0], f.root, "exit", "1");
        cr_assert(exited_with(r.status, 1), "%s %s", describe(r.status), r.err);
        cr_expect(exists(r.created[0]), "%s named as %s on the command line was removed", r.created[0], cases[i][1]);
    }
    /* Only the exact path: naming the directory does not stop tracking inside it. */
    char scratch[600];
    snprintf(scratch, sizeof scratch, "--scratch-dir=%s", f.root);
    struct run r;
    VICTIM(&f, &r, "note", scratch, "create", "creat", f.root, "exit", "1");
    cr_expect_not(exists(r.created[0]), "a file inside a directory named on the command line is still tracked");
}

Test(never, real_mkdir_named_on_command_line)
{
    skip_under_musl("mkdir");
    struct run r;
    const char *x = path(f.root, "x");
    /* mkdir makes x, then fails on the second (existing) operand: x stays, it was asked for. */
    RUN(&f, 1, NULL, NULL, &r, "mkdir", "-m", "700", x, x);
    cr_assert(exited_with(r.status, 1), "%s", describe(r.status));
    cr_expect(exists(x), "mkdir's named directory was removed");
}

Test(never, starting_directory_in_root)
{
    char work[400];
    snprintf(work, sizeof work, "%s/work", f.root);
    mkdir(work, 0755);
    struct run r;
    RUN(&f, 1, work, NULL, &r, victim_path(), "create", "open", work, "create", "mkstemp", ".", "create", "creat",
        f.root, "exit", "1");
    cr_assert(exited_with(r.status, 1), "%s %s", describe(r.status), r.err);
    char rel[1024];
    snprintf(rel, sizeof rel, "%s/%s", work, r.created[1]); /* reported relative to work/ */
    cr_expect(exists(r.created[0]) && exists(rel), "a build's workspace below its starting directory was removed");
    cr_expect_not(exists(r.created[2]), "outside the starting directory the rules apply as usual");
}

Test(never, daemon_child_keeps_parents_files)
{
    struct run r;
    char result[400];
    snprintf(result, sizeof result, "%s/result", f.out);
    /* ssh-agent's pattern: mkdtemp + a file inside, fork, the parent exits at once. */
    VICTIM(&f, &r, "create", "mkdtemp", f.root, "fill", "@", "daemon-check", "@", result, "exit", "0");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    char *c = NULL;
    for (long deadline = tg_now_ms() + tg_limit_ms(10000); !(c && *c) && tg_now_ms() < deadline;) {
        free(c);
        usleep(25000);
        c = slurp(result);
    }
    cr_expect(c && strcmp(c, "ok") == 0, "the daemon child found its directory %s", c ? c : "(no answer)");
    /* The entries passed to the child: when it is gone, so are they. */
    int left = -1;
    for (long deadline = tg_now_ms() + tg_limit_ms(5000); (left = count_below(f.root)) != 0 && tg_now_ms() < deadline;)
        usleep(25000);
    cr_expect_eq(left, 0, "the daemon child ended, its inherited files should be gone; %d left", left);
}

Test(never, outside_roots_only_template_files)
{
    struct run r;
    VICTIM(&f, &r, "create", "open", f.out, "create", "excl", f.out, "create", "mkdir", f.out, "create", "mkstemp",
           f.out, "exit", "1");
    cr_assert(exited_with(r.status, 1));
    cr_expect(exists(r.created[0]) && exists(r.created[1]) && exists(r.created[2]),
              "outside the roots only the mkstemp family and mkdtemp are ever removed");
    cr_expect_not(exists(r.created[3]), "mkstemp outside the roots goes when the owner fails");
}

static int wait_count(const char *dir, int want)
{
    int n = -1;
    for (long deadline = tg_now_ms() + tg_limit_ms(10000); (n = count_below(dir)) != want && tg_now_ms() < deadline;)
        usleep(25000);
    return n;
}

/* Two children forked after the files were made, the parent gone: the files stay while either
 * child lives (neither the first child's end nor the reaper may take them), and go with the last. */
Test(never, handed_over_to_two_children)
{
    char gate_a[400], gate_b[400], reaper[4200];
    snprintf(gate_a, sizeof gate_a, "%s/gate-a", f.out);
    snprintf(gate_b, sizeof gate_b, "%s/gate-b", f.out);
    snprintf(reaper, sizeof reaper, "%s", src_path("scripts/tmpguard"));
    struct run r;
    VICTIM(&f, &r, "create", "mkdtemp", f.root, "fill", "@", "create", "mkstemp", f.root, "hold", gate_a, "hold",
           gate_b, "exit", "0");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    int all = count_below(f.root);
    cr_assert_gt(all, 0);
    RUN(&f, 0, NULL, NULL, &r, reaper, "reap");
    cr_expect_eq(count_below(f.root), all, "the reaper took files that living heirs may use: %s", r.out);
    put(gate_a, "go");
    usleep((useconds_t)tg_limit_ms(300) * 1000); /* the first child's end */
    cr_expect_eq(wait_count(f.root, all), all, "the first child's end took files its sibling may use");
    put(gate_b, "go");
    cr_expect_eq(wait_count(f.root, 0), 0, "the last heir ended; its inherited files should be gone");
}

/* A vfork child is another process running in its parent's memory: what it creates is its own,
 * never listed as the parent's (the parent fails here, which would remove its own outputs). */
Test(never, vfork_child_creation_not_the_parents)
{
    struct run r;
    VICTIM(&f, &r, "create", "mkstemp", f.root, "vfork-create", f.root, "exit", "1");
    cr_assert(exited_with(r.status, 1), "%s %s", describe(r.status), r.err);
    cr_expect(!exists(r.created[0]), "the parent's own scratch file should go");
    cr_expect(exists(r.created[1]), "the vfork child's file %s was removed as the parent's", r.created[1]);
}
