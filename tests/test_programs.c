/* Real programs under the shim: Python's tempfile module, shell scripts using mktemp, cp -a and
 * tar.  Each test says which rule of the contract it proves; each checks the exit status and what
 * is left on disk.  A test whose program is missing is skipped, saying which one. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct fx f;
static struct run r; /* large: kept off the stack */
static void setup(void) { fx_setup(&f); }
static void teardown(void) { fx_teardown(&f); }
TestSuite(programs, .init = setup, .fini = teardown, .timeout = 120);

/* Is PROG an executable file in PATH (or, with a '/', at that path)? */
static int in_path(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char cand[4096];
        if (len > 0 && len + 1 + strlen(prog) < sizeof cand) {
            memcpy(cand, p, len);
            snprintf(cand + len, sizeof cand - len, "/%s", prog);
            struct stat st;
            if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
                return 1;
        }
        p += len + (end ? 1 : 0);
    }
    return 0;
}

#define NEED(prog)                                                                                  \
    do {                                                                                            \
        if (!in_path(prog))                                                                         \
            cr_skip_test("'%s' is not installed (not found in PATH); this test needs it", prog);    \
    } while (0)

static const char *py_cases(void) { return src_path("tests/victims/py_tempfile.py"); }

/* Runs one case of py_tempfile.py into r: it must end with STATUS and report NCREATED paths. */
static void py_case(const char *name, int status, int ncreated)
{
    RUN(&f, 1, NULL, NULL, &r, "python3", py_cases(), name);
    cr_assert(exited_with(r.status, status), "%s should exit %d, %s; err: %s", name, status, describe(r.status),
              r.err);
    cr_assert_eq(r.ncreated, ncreated, "%s should report %d paths; out: %s", name, ncreated, r.out);
}

#define PATHLEN 4096
/* BASE/REL into OUT (PATHLEN bytes); returns OUT. */
static char *join(char *out, const char *base, const char *rel)
{
    int n = snprintf(out, PATHLEN, "%s/%s", base, rel);
    cr_assert(n > 0 && n < PATHLEN, "path too long: %s/%s", base, rel);
    return out;
}

static void make_dir(const char *path, mode_t mode)
{
    cr_assert(mkdir(path, mode) == 0, "mkdir %s: %s", path, strerror(errno));
    cr_assert(chmod(path, mode) == 0, "chmod %s: %s", path, strerror(errno));
}

static void make_file(const char *path, const char *text, mode_t mode)
{
    put(path, text);
    cr_assert(chmod(path, mode) == 0, "chmod %s: %s", path, strerror(errno));
}

static void reset_root(void)
{
    rm_rf(f.root);
    cr_assert(mkdir(f.root, 0755) == 0, "cannot re-create the temp root %s", f.root);
}

static int is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert(lstat(path, &st) == 0, "%s should exist: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

static void expect_content(const char *path, const char *want)
{
    char *got = slurp(path);
    cr_expect(got != NULL, "%s should exist and be readable", path);
    if (got)
        cr_expect_str_eq(got, want, "%s should hold \"%s\", holds \"%s\"", path, want, got);
    free(got);
}

/* ---- 1. The leaky request handler ---------------------------------------------------------- */

/* Rule: scratch files (mkstemp, NamedTemporaryFile) are removed when their process ends; the
 * program's exit status is not changed by the clean-up. */
Test(programs, leaky_service_orphans_removed)
{
    NEED("python3");
    const char *svc = src_path("tests/victims/leaky_service.py");

    RUN(&f, 0, NULL, NULL, &r, "python3", svc, "--requests", "200", "--dir", f.root);
    cr_assert(exited_with(r.status, 1), "without the shim the service should exit 1, it %s; err: %s",
              describe(r.status), r.err);
    cr_assert_eq(count_below(f.root), 4, "without the shim 4 orphans should be left, found %d",
                 count_below(f.root));

    reset_root();
    RUN(&f, 1, NULL, NULL, &r, "python3", svc, "--requests", "200", "--dir", f.root);
    cr_expect(exited_with(r.status, 1), "with the shim the service should still exit 1, it %s; err: %s",
              describe(r.status), r.err);
    cr_expect(strstr(r.out, "handled 200 requests, 4 failed") != NULL,
              "the service should report 4 failed requests; out: %s", r.out);
    cr_expect_eq(count_below(f.root), 0, "with the shim no orphan should be left, found %d",
                 count_below(f.root));
}

/* ---- 2. Python tempfile, one way of using it per test --------------------------------------- */

/* Rule: a mkstemp file is scratch, removed when the process ends, even with exit 0. */
Test(programs, python_mkstemp_left_exit0_removed)
{
    NEED("python3");
    py_case("mkstemp-exit0", 0, 1);
    cr_expect(!exists(r.created[0]), "the left mkstemp file %s should be removed", r.created[0]);
    cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root, found %d", count_below(f.root));
}

/* Rule: NamedTemporaryFile opens O_CREAT|O_EXCL|O_RDWR, mode 0600: scratch, removed on any
 * ending, here os._exit(3), which runs no Python clean-up at all. */
Test(programs, python_named_delete_false_os_exit_removed)
{
    NEED("python3");
    py_case("named-os-exit3", 3, 1);
    cr_expect(!exists(r.created[0]), "the NamedTemporaryFile %s should be removed", r.created[0]);
    cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root, found %d", count_below(f.root));
}

/* Rule: mkdtemp's directory is a plain mkdir (an "other" creation), removed when the process
 * fails, once it is empty: the scratch file inside goes first. */
Test(programs, python_mkdtemp_with_file_uncaught_exception_removed)
{
    NEED("python3");
    py_case("mkdtemp-raise", 1, 2); /* an uncaught exception: exit 1; a directory and a file */
    cr_expect(strstr(r.err, "RuntimeError") != NULL, "the traceback should be printed; err: %s", r.err);
    cr_expect(!exists(r.created[1]), "the file %s should be removed", r.created[1]);
    cr_expect(!exists(r.created[0]), "the directory %s should be removed", r.created[0]);
    cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root, found %d", count_below(f.root));
}

/* Rule: on success the scratch file inside is removed, but mkdtemp's directory (plain mkdir,
 * kept unless the process fails) stays. */
Test(programs, python_mkdtemp_with_file_exit0_keeps_dir)
{
    NEED("python3");
    py_case("mkdtemp-exit0", 0, 2);
    cr_expect(!exists(r.created[1]), "the scratch file %s should be removed", r.created[1]);
    cr_expect(is_dir(r.created[0]), "the directory %s should be kept", r.created[0]);
    cr_expect_eq(count_below(f.root), 1, "only the (empty) directory should be left, found %d entries",
                 count_below(f.root));
}

/* Rule: death by a signal counts as failure: everything the process made is removed, here a
 * TemporaryDirectory whose with-block is never left, with a plain file and a scratch file in it. */
Test(programs, python_temporarydirectory_sigterm_removed)
{
    NEED("python3");
    struct proc p;
    proc_start(&p, &f, 1, NULL, NULL, &r,
               (const char *const[]){"python3", py_cases(), "tempdir-sigterm", NULL});
    proc_wait_line(&p, "ready");
    cr_expect_eq(count_below(f.root), 3, "before the signal the directory and two files should exist, found %d",
                 count_below(f.root));
    kill(p.pid, SIGTERM);
    proc_finish(&p);
    cr_assert(killed_by(r.status, SIGTERM), "should be killed by SIGTERM, %s; err: %s", describe(r.status),
              r.err);
    cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root, found %d", count_below(f.root));
}

/* Rule: TemporaryFile uses O_TMPFILE: there is never a name, and the shim adds none. */
Test(programs, python_temporaryfile_never_named)
{
    NEED("python3");
    RUN(&f, 1, NULL, NULL, &r, "python3", py_cases(), "temporaryfile");
    cr_assert(exited_with(r.status, 0), "should exit 0, %s; err: %s", describe(r.status), r.err);
    cr_expect(strstr(r.out, "names while open: 0\n") != NULL,
              "no name should appear in the root while the file is open; out: %s", r.out);
    cr_expect(strstr(r.out, "read back: anonymous\n") != NULL, "the file should work; out: %s", r.out);
    cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root, found %d", count_below(f.root));
}

/* ---- 3. Atomic write --------------------------------------------------------------------------- */

/* Rule: a rename publishes: the temp file os.replace()d onto final.txt is not removed, even
 * though the program then fails. */
Test(programs, python_atomic_replace_survives_failure)
{
    NEED("python3");
    py_case("atomic-replace-exit1", 1, 1);
    cr_expect(!exists(r.created[0]), "the temp name %s should be gone (renamed)", r.created[0]);
    char final[PATHLEN];
    expect_content(join(final, f.root, "final.txt"), "published content\n");
    cr_expect_eq(count_below(f.root), 1, "only final.txt should be left, found %d entries", count_below(f.root));
}

/* ---- 4. Shell scripts and mktemp --------------------------------------------------------------- */

/* The idiom, with a check that mktemp's file is still there when the shell gets the name.  The
 * check matters: without it, `echo hi >"$f"` would quietly re-create a removed file and the
 * script would print "hi" whatever became of mktemp's file. */
static const char *const mktemp_script =
    "f=$(mktemp) || exit 1\n"
    "[ -f \"$f\" ] || { echo \"mktemp's file is gone: $f\" >&2; exit 9; }\n"
    "echo hi >\"$f\"\n"
    "cat \"$f\"\n";

/* Rule: mktemp is a hand-off program: its file is for the caller, which may use it as long as it
 * runs; when the caller runs the shim too, the file passes to it and goes when the caller ends. */
Test(programs, sh_mktemp_file_handed_off)
{
    NEED("sh");
    NEED("mktemp");
    RUN(&f, 1, NULL, NULL, &r, "sh", "-c", mktemp_script);
    cr_assert(exited_with(r.status, 0), "the script should exit 0, %s; err: %s", describe(r.status), r.err);
    cr_expect_str_eq(r.out, "hi\n", "the script should print \"hi\", printed \"%s\"; err: %s", r.out, r.err);
    cr_expect_eq(count_below(f.root), 0, "the script's forgotten mktemp file should go with the script, found %d",
                 count_below(f.root));

    /* The literal one-liner, without the check. */
    reset_root();
    RUN(&f, 1, NULL, NULL, &r, "sh", "-c", "f=$(mktemp); echo hi >\"$f\"; cat \"$f\"");
    cr_expect(exited_with(r.status, 0), "the one-liner should exit 0, %s; err: %s", describe(r.status), r.err);
    cr_expect_str_eq(r.out, "hi\n", "the one-liner should print \"hi\", printed \"%s\"", r.out);
    cr_expect_eq(count_below(f.root), 0, "found %d entries", count_below(f.root));

    /* A caller without the shim: mktemp's file is left, as it would be without tmpguard. */
    reset_root();
    char lib[4200];
    snprintf(lib, sizeof lib, "TGLIB=%s", getenv("TG_LIB") ? getenv("TG_LIB") : "");
    const char *env[] = {lib, NULL};
    RUN(&f, 0, NULL, env, &r, "sh", "-c", "f=$(LD_PRELOAD=$TGLIB mktemp) && [ -f \"$f\" ] && echo hi >\"$f\"");
    cr_expect(exited_with(r.status, 0), "%s; err: %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 1, "mktemp's file should stay when its caller is not guarded, found %d",
                 count_below(f.root));
}

/* Rule (the counterpart): without the hand-off rule, mktemp's file is its own scratch file and is
 * removed the moment mktemp exits, before the shell can use it. */
Test(programs, sh_mktemp_without_handoff_rule_breaks)
{
    NEED("sh");
    NEED("mktemp");
    static const char *const no_handoff[] = {"TMPGUARD_HANDOFF=none", NULL};
    RUN(&f, 1, NULL, no_handoff, &r, "sh", "-c", mktemp_script);
    cr_expect(strstr(r.out, "hi") == NULL && !exited_with(r.status, 0),
              "with TMPGUARD_HANDOFF=none the script should fail before printing \"hi\"; it %s, printed "
              "\"%s\"; err: %s",
              describe(r.status), r.out, r.err);
    cr_expect(strstr(r.err, "mktemp's file is gone") != NULL, "the script should see the file gone; err: %s",
              r.err);
    cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root, found %d", count_below(f.root));
}

/* Rule: nothing gets in the way of a script that cleans up after itself (trap on EXIT). */
Test(programs, sh_mktemp_d_trap_cleans)
{
    NEED("sh");
    NEED("mktemp");
    NEED("touch");
    NEED("rm");
    RUN(&f, 1, NULL, NULL, &r, "sh", "-c", "d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; touch \"$d/x\"; exit 0");
    cr_assert(exited_with(r.status, 0), "the script should exit 0, %s; err: %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root, found %d", count_below(f.root));
}

/* ---- 5. cp -a and tar ------------------------------------------------------------------------- */

struct entry {
    const char *rel;
    const char *text; /* NULL: a directory */
    mode_t mode;
};

/* The source tree; every file is shorter than one tar block. */
static const struct entry tree[] = {
    {"a.txt", "alpha\n", 0644},
    {"b.txt", "bravo, with more text in it\n", 0600},
    {"sub", NULL, 0755},
    {"sub/c.txt", "charlie\n", 0644},
    {"sub/deeper", NULL, 0755},
    {"sub/deeper/d.txt", "delta\n", 0640},
    {"run.sh", "#!/bin/sh\necho run\n", 0755},
};
#define NTREE (sizeof tree / sizeof tree[0])

static void make_tree(const char *dir)
{
    char p[PATHLEN];
    make_dir(dir, 0755);
    for (size_t i = 0; i < NTREE; i++) {
        if (tree[i].text)
            make_file(join(p, dir, tree[i].rel), tree[i].text, tree[i].mode);
        else
            make_dir(join(p, dir, tree[i].rel), tree[i].mode);
    }
}

/* Every entry of the tree is below DIR, files with their content; modes too when MODES. */
static void expect_tree(const char *dir, int modes)
{
    for (size_t i = 0; i < NTREE; i++) {
        char p[PATHLEN];
        join(p, dir, tree[i].rel);
        if (tree[i].text)
            expect_content(p, tree[i].text);
        else
            cr_expect(is_dir(p), "the directory %s should exist", p);
        if (modes && exists(p))
            cr_expect_eq(mode_of(p), tree[i].mode, "%s should have mode %04o, has %04o", p,
                         (unsigned)tree[i].mode, (unsigned)mode_of(p));
    }
    cr_expect_eq(count_below(dir), (int)NTREE, "%s should hold exactly the %d entries of the source, holds %d",
                 dir, (int)NTREE, count_below(dir));
}

/* Rule: creations that are not scratch (cp writes O_WRONLY, mkdir) are kept when the program
 * succeeds. */
Test(programs, cp_a_into_root_kept)
{
    NEED("cp");
    char src[PATHLEN];
    join(src, f.out, "src");
    make_tree(src);
    char copy[PATHLEN];
    join(copy, f.root, "copy");
    RUN(&f, 1, NULL, NULL, &r, "cp", "-a", src, copy);
    cr_assert(exited_with(r.status, 0), "cp -a should exit 0, %s; err: %s", describe(r.status), r.err);
    expect_tree(copy, 1);
}

/* Rule: the same for tar extracting into an existing directory of the root. */
Test(programs, tar_x_into_root_kept)
{
    NEED("tar");
    char src[PATHLEN];
    make_tree(join(src, f.out, "src"));
    char tarball[PATHLEN];
    join(tarball, f.out, "src.tar");
    RUN(&f, 0, NULL, NULL, &r, "tar", "-cf", tarball, "-C", f.out, "src");
    cr_assert(exited_with(r.status, 0), "making the tarball should work, %s; err: %s", describe(r.status), r.err);
    char x[PATHLEN];
    join(x, f.root, "x");
    make_dir(x, 0755);
    RUN(&f, 1, NULL, NULL, &r, "tar", "-xf", tarball, "-C", x);
    cr_assert(exited_with(r.status, 0), "tar -x should exit 0, %s; err: %s", describe(r.status), r.err);
    char xsrc[PATHLEN];
    expect_tree(join(xsrc, x, "src"), 0);
}

/* Rule: when tar fails, what it extracted before failing (files and the directories it made)
 * is removed; the extraction directory, which existed before, stays. */
Test(programs, tar_x_corrupt_archive_removed)
{
    NEED("tar");
    char src[PATHLEN];
    join(src, f.out, "src");
    make_tree(src);
    /* Four good members of one header and one data block each, listed so that tar must make the
     * directories sub and sub/deeper itself; then garbage where the next header should be. */
    char tarball[PATHLEN];
    join(tarball, f.out, "bad.tar");
    RUN(&f, 0, NULL, NULL, &r, "tar", "-cf", tarball, "-C", src, "a.txt", "sub/c.txt", "sub/deeper/d.txt",
        "run.sh");
    cr_assert(exited_with(r.status, 0), "making the tarball should work, %s; err: %s", describe(r.status), r.err);
    const off_t good = 4 * 2 * 512;
    {
        int fd = open(tarball, O_RDWR);
        cr_assert(fd >= 0, "open %s: %s", tarball, strerror(errno));
        char block[512], zero[512] = {0};
        cr_assert(pread(fd, block, sizeof block, good) == (ssize_t)sizeof block && !memcmp(block, zero, 512),
                  "the members should end at byte %lld (the end-of-archive block should follow)",
                  (long long)good);
        cr_assert(ftruncate(fd, good) == 0);
        char junk[4096];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = "not a tar header, just garbage\n"[i % 31];
        cr_assert(pwrite(fd, junk, sizeof junk, good) == (ssize_t)sizeof junk);
        close(fd);
    }

    /* Without the shim, to see that this archive really makes files before tar fails. */
    char probe[PATHLEN];
    join(probe, f.out, "probe");
    make_dir(probe, 0755);
    RUN(&f, 0, NULL, NULL, &r, "tar", "-xf", tarball, "-C", probe);
    cr_assert(!exited_with(r.status, 0), "tar should fail on the corrupt archive, it %s", describe(r.status));
    cr_assert_eq(count_below(probe), 6, "without the shim tar should leave 4 files and 2 directories, left %d",
                 count_below(probe));

    char x[PATHLEN];
    join(x, f.root, "x");
    make_dir(x, 0755);
    RUN(&f, 1, NULL, NULL, &r, "tar", "-xvf", tarball, "-C", x);
    cr_expect(!exited_with(r.status, 0) && WIFEXITED(r.status),
              "tar should exit with a failure status, it %s; err: %s", describe(r.status), r.err);
    cr_expect(strstr(r.out, "run.sh") != NULL, "tar should have extracted the good members first; out: %s",
              r.out);
    cr_expect(is_dir(x), "the extraction directory %s existed before and should be kept", x);
    cr_expect_eq(count_below(x), 0, "what the failed tar extracted should be removed, %d entries left",
                 count_below(x));
}

/* ---- 6. Plain output files ---------------------------------------------------------------------- */

static const char *const write_out =
    "import os, sys\n"
    "with open(os.path.join(os.environ['TMPDIR'], 'out.txt'), 'w') as f:\n"
    "    f.write('result\\n')\n"
    "sys.exit(int(sys.argv[1]))\n";

/* Rule: a plain output (open "w") is kept when the program succeeds. */
Test(programs, python_output_exit0_kept)
{
    NEED("python3");
    RUN(&f, 1, NULL, NULL, &r, "python3", "-c", write_out, "0");
    cr_assert(exited_with(r.status, 0), "should exit 0, %s; err: %s", describe(r.status), r.err);
    char out[PATHLEN];
    expect_content(join(out, f.root, "out.txt"), "result\n");
    cr_expect_eq(count_below(f.root), 1, "only out.txt should be left, found %d", count_below(f.root));
}

/* Rule: a plain output is removed when the program fails. */
Test(programs, python_output_exit1_removed)
{
    NEED("python3");
    RUN(&f, 1, NULL, NULL, &r, "python3", "-c", write_out, "1");
    cr_assert(exited_with(r.status, 1), "should exit 1, %s; err: %s", describe(r.status), r.err);
    char out[PATHLEN];
    cr_expect(!exists(join(out, f.root, "out.txt")), "out.txt of a failed program should be removed");
    cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root, found %d", count_below(f.root));
}

/* Rule: a path named exactly on the command line is never removed, even when the program fails. */
Test(programs, python_output_named_on_command_line_kept)
{
    NEED("python3");
    char out[PATHLEN];
    join(out, f.root, "out.txt");
    RUN(&f, 1, NULL, NULL, &r, "python3", "-c",
        "import sys\n"
        "with open(sys.argv[1], 'w') as f:\n"
        "    f.write('result\\n')\n"
        "sys.exit(1)\n",
        out);
    cr_assert(exited_with(r.status, 1), "should exit 1, %s; err: %s", describe(r.status), r.err);
    expect_content(out, "result\n");
    cr_expect_eq(count_below(f.root), 1, "only out.txt should be left, found %d", count_below(f.root));
}

/* Rule: a script's mktemp file stays while a background job the script started after it may still
 * read it, even though the script itself has ended; once the job is done, the reaper takes it. */
Test(programs, sh_mktemp_file_outlives_script_for_its_job)
{
    NEED("sh");
    NEED("mktemp");
    NEED("sleep");
    NEED("cat");
    char out[400], gate[400], script[2000];
    snprintf(out, sizeof out, "%s/job-out", f.out);
    snprintf(gate, sizeof gate, "%s/gate", f.out);
    snprintf(script, sizeof script,
             "f=$(mktemp) || exit 1; echo data >\"$f\"; "
             "( while [ ! -e '%s' ]; do sleep 0.05; done; cat \"$f\" >'%s' ) </dev/null >/dev/null 2>&1 & exit 0",
             gate, out);
    RUN(&f, 1, NULL, NULL, &r, "sh", "-c", script);
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    put(gate, "go");
    char *c = NULL;
    for (long deadline = tg_now_ms() + tg_limit_ms(10000); !(c && *c) && tg_now_ms() < deadline;) {
        free(c);
        usleep(25000);
        c = slurp(out);
    }
    cr_expect(c && strcmp(c, "data\n") == 0, "the background job lost the script's mktemp file: \"%s\"",
              c ? c : "(no output)");
    free(c);
    /* The job has ended (it wrote its output last); the next reap removes the file. */
    usleep((useconds_t)tg_limit_ms(200) * 1000);
    RUN(&f, 0, NULL, NULL, &r, src_path("scripts/tmpguard"), "reap");
    cr_expect_eq(count_below(f.root), 0, "left after the job and a reap: %d; %s%s", count_below(f.root), r.out, r.err);
}

/* Python's subprocess starts its children with vfork, and the child restores the signals Python
 * ignores (SIGPIPE, SIGXFSZ) and resets those it handles to SIG_DFL before exec.  That child runs
 * in the parent's memory: under the shim it must change nothing of the parent's signal
 * bookkeeping, so that every later child starts with SIGPIPE and SIGXFSZ at their defaults, and the
 * parent's own later SIG_DFL is the kernel's too (it dies of the signal, as without the shim). */
static const char *const vfork_signals =
    "import os, signal, subprocess, sys, tempfile\n"
    "fd, p = tempfile.mkstemp()\n" /* tracking: the shim's handlers are armed */
    "os.close(fd)\n"
    "signal.signal(signal.SIGUSR1, lambda *a: None)\n"
    "for i in range(3):\n"
    "    st = subprocess.run(['grep', 'SigIgn', '/proc/self/status'], capture_output=True, text=True).stdout\n"
    "    ign = int(st.split()[1], 16)\n"
    "    print('child', i, 'ignores SIGPIPE' if ign & (1 << 12) else '', 'ignores SIGXFSZ' if ign & (1 << 24) else '')\n"
    "sys.stdout.flush()\n"
    "signal.signal(getattr(signal, sys.argv[1]), signal.SIG_DFL)\n"
    "os.kill(os.getpid(), getattr(signal, sys.argv[1]))\n"
    "print('survived')\n";

Test(programs, python_subprocess_vfork_child_leaves_parent_signals)
{
    NEED("python3");
    NEED("grep");
    const char *sigs[] = {"SIGPIPE", "SIGUSR1"};
    const int nums[] = {SIGPIPE, SIGUSR1};
    for (int k = 0; k < 2; k++) {
        struct run plain;
        RUN(&f, 0, NULL, NULL, &plain, "python3", "-c", vfork_signals, sigs[k]);
        cr_assert(killed_by(plain.status, nums[k]), "without the shim: %s; %s", describe(plain.status), plain.err);
        reset_root();
        RUN(&f, 1, NULL, NULL, &r, "python3", "-c", vfork_signals, sigs[k]);
        cr_expect(killed_by(r.status, nums[k]), "%s: with the shim the parent %s (not killed by its SIG_DFL); err: %s",
                  sigs[k], describe(r.status), r.err);
        cr_expect_str_eq(r.out, plain.out, "%s: the children's dispositions differ from those without the shim",
                         sigs[k]);
        cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root, found %d", count_below(f.root));
    }
}

/* What a hand-off program makes is its caller's scratch, whatever shape the script gives the call:
 * a substitution (the shell forks), a plain command (dash runs it through vfork: nothing forked
 * that the shim saw), a `mktemp -d` directory (plain mkdir) with a file the script put in it.  At
 * the end of a successful script, raw or under the launcher, the root is empty and no record or
 * marker stays. */
Test(programs, mktemp_shapes_leave_nothing)
{
    NEED("sh");
    NEED("bash");
    NEED("mktemp");
    static const char *const shapes[] = {
        "f=$(mktemp) && [ -f \"$f\" ] && echo hi >\"$f\"; exit 0",
        "mktemp >/dev/null; exit 0",
        "d=$(mktemp -d) && [ -d \"$d\" ] && echo hi >\"$d/f\"; exit 0",
        "mktemp -d >/dev/null; exit 0",
    };
    const char *launcher = src_path("scripts/tmpguard");
    for (int sh = 0; sh < 2; sh++)
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            for (int launched = 0; launched < 2; launched++) {
                const char *shell = sh ? "bash" : "sh";
                if (launched)
                    RUN(&f, 0, NULL, NULL, &r, launcher, "--", shell, "-c", shapes[k]);
                else
                    RUN(&f, 1, NULL, NULL, &r, shell, "-c", shapes[k]);
                cr_expect(exited_with(r.status, 0), "%s%s -c '%s': %s; %s", launched ? "tmpguard -- " : "", shell,
                          shapes[k], describe(r.status), r.err);
                cr_expect(count_below(f.root) == 0 && count_state(f.state) == 0,
                          "%s%s -c '%s' left %d in the root, %d in the state directory", launched ? "tmpguard -- " : "",
                          shell, shapes[k], count_below(f.root), count_state(f.state));
                reset_root();
                rm_rf(f.state);
                cr_assert(mkdir(f.state, 0700) == 0);
            }
}

/* Rule: a script's `mktemp -d` directory stays while a background job the script started after it
 * may still use it, even though the script itself has ended; once the job is done, the reaper takes
 * the directory with what is in it. */
Test(programs, sh_mktemp_d_outlives_script_for_its_job)
{
    NEED("sh");
    NEED("mktemp");
    NEED("sleep");
    NEED("cat");
    char out[400], gate[400], script[2000];
    snprintf(out, sizeof out, "%s/job-out", f.out);
    snprintf(gate, sizeof gate, "%s/gate", f.out);
    snprintf(script, sizeof script,
             "d=$(mktemp -d) || exit 1; echo data >\"$d/in\"; "
             "( while [ ! -e '%s' ]; do sleep 0.05; done; cat \"$d/in\" >'%s' ) </dev/null >/dev/null 2>&1 & exit 0",
             gate, out);
    RUN(&f, 1, NULL, NULL, &r, "sh", "-c", script);
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 2, "the directory and its file should stay for the job, found %d entries",
                 count_below(f.root));
    put(gate, "go");
    char *c = NULL;
    for (int i = 0; i < 400 && !(c && *c); i++) {
        free(c);
        usleep(25000);
        c = slurp(out);
    }
    cr_expect(c && strcmp(c, "data\n") == 0, "the background job lost the script's directory: \"%s\"",
              c ? c : "(no output)");
    free(c);
    usleep(200000);
    RUN(&f, 0, NULL, NULL, &r, src_path("scripts/tmpguard"), "reap");
    cr_expect_eq(count_below(f.root), 0, "left after the job and a reap: %d; %s%s", count_below(f.root), r.out, r.err);
}
