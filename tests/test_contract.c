/* The contract table: every wrapped creation symbol, every way of ending, inside and outside a
 * temp root.  What is removed and what is kept is checked on disk, the status every time. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static struct fx f;
static void setup(void) { fx_setup(&f); }
static void teardown(void) { fx_teardown(&f); }
TestSuite(contract, .init = setup, .fini = teardown, .timeout = 120);

struct ending {
    const char *name;
    const char *w1, *w2, *w3; /* victim words, NULL-ended */
    int failed;               /* the owner "fails" */
    int code, sig;            /* expected exit code, or signal */
};

static const struct ending endings[] = {
    {"exit 0", "exit", "0", NULL, 0, 0, 0},
    {"exit 1", "exit", "1", NULL, 1, 1, 0},
    {"return 0 from main", NULL, NULL, NULL, 0, 0, 0},
    {"return 5 from main", "return", "5", NULL, 1, 5, 0},
    {"_exit 0", "_exit", "0", NULL, 0, 0, 0},
    {"_exit 4", "_exit", "4", NULL, 1, 4, 0},
    {"_Exit 6", "_Exit", "6", NULL, 1, 6, 0},
    {"abort", "abort", NULL, NULL, 1, 0, SIGABRT},
    {"SIGSEGV", "segv", NULL, NULL, 1, 0, SIGSEGV},
    {"SIGTERM by default", "raise", "TERM", NULL, 1, 0, SIGTERM},
    {"SIGTERM, own handler calls exit(7)", "handler-exit", "TERM", "7", 1, 7, 0},
    {"SIGTERM, own handler restores SIG_DFL and re-raises", "reraise", "TERM", NULL, 1, 0, SIGTERM},
    {"SIGINT", "raise", "INT", NULL, 1, 0, SIGINT},
    {"SIGHUP", "raise", "HUP", NULL, 1, 0, SIGHUP},
};
#define NENDINGS (sizeof endings / sizeof endings[0])

enum rule { ENDS, FAILS, NEVER };

/* The victim to run: the plain one, or the one built with -D_FILE_OFFSET_BITS=64 and
 * -D_FORTIFY_SOURCE=3, which binds open64, mkstemp64, fopen64... and the __*_chk entry points. */
static const char *victim_bin;
static const char *victim(void) { return victim_bin ? victim_bin : victim_path(); }

/* Runs API in DIR with every ending; checks the status and whether the creation is left. */
static void matrix(const char *api, const char *dir, enum rule rule, int fill)
{
    for (size_t i = 0; i < NENDINGS; i++) {
        const struct ending *e = &endings[i];
        struct run r;
        const char *argv[12];
        int n = 0;
        argv[n++] = victim();
        argv[n++] = "create";
        argv[n++] = api;
        argv[n++] = dir;
        if (fill) {
            argv[n++] = "fill";
            argv[n++] = "@";
        }
        if (e->w1) argv[n++] = e->w1;
        if (e->w2) argv[n++] = e->w2;
        if (e->w3) argv[n++] = e->w3;
        argv[n] = NULL;
        run_argv(&f, 1, NULL, NULL, &r, argv);
        if (e->sig)
            cr_expect(killed_by(r.status, e->sig), "%s in %s, %s: %s (want signal %d); err: %s", api, dir,
                      e->name, describe(r.status), e->sig, r.err);
        else
            cr_expect(exited_with(r.status, e->code), "%s in %s, %s: %s (want exit %d); err: %s", api, dir,
                      e->name, describe(r.status), e->code, r.err);
        cr_assert_eq(r.ncreated, 1, "%s, %s: victim reported %d creations; out: %s err: %s", api, e->name,
                     r.ncreated, r.out, r.err);
        int removed = rule == ENDS || (rule == FAILS && e->failed);
        cr_expect_eq(!exists(r.created[0]), removed, "%s in %s, %s: %s should be %s", api, dir, e->name,
                     r.created[0], removed ? "removed" : "kept");
        rm_rf(r.created[0]);
        cr_expect_eq(count_below(dir), 0, "%s, %s: something else left in %s", api, e->name, dir);
        rm_rf(dir);
        mkdir(dir, 0755);
    }
}

Test(contract, mkstemp)
{
    matrix("mkstemp", f.root, ENDS, 0);
    matrix("mkstemp", f.out, FAILS, 0);
}

Test(contract, mkstemp64)
{
    matrix("mkstemp64", f.root, ENDS, 0);
    matrix("mkstemp64", f.out, FAILS, 0);
}

Test(contract, mkostemp)
{
    matrix("mkostemp", f.root, ENDS, 0);
    matrix("mkostemp", f.out, FAILS, 0);
}

Test(contract, mkostemp64)
{
    matrix("mkostemp64", f.root, ENDS, 0);
    matrix("mkostemp64", f.out, FAILS, 0);
}

Test(contract, mkstemps)
{
    matrix("mkstemps", f.root, ENDS, 0);
    matrix("mkstemps", f.out, FAILS, 0);
}

Test(contract, mkstemps64)
{
    matrix("mkstemps64", f.root, ENDS, 0);
    matrix("mkstemps64", f.out, FAILS, 0);
}

Test(contract, mkostemps)
{
    matrix("mkostemps", f.root, ENDS, 0);
    matrix("mkostemps", f.out, FAILS, 0);
}

Test(contract, mkostemps64)
{
    matrix("mkostemps64", f.root, ENDS, 0);
    matrix("mkostemps64", f.out, FAILS, 0);
}

Test(contract, mkdtemp_with_contents)
{
    matrix("mkdtemp", f.root, ENDS, 1);
    matrix("mkdtemp", f.out, FAILS, 1);
}

/* O_CREAT|O_EXCL|O_RDWR, mode 0600: scratch under a root, a key file elsewhere. */
Test(contract, exclusive_private_excl)
{
    matrix("excl", f.root, ENDS, 0);
    matrix("excl", f.out, NEVER, 0);
}

/* O_CREAT|O_EXCL|O_RDWR, mode 0600: scratch under a root, a key file elsewhere. */
Test(contract, exclusive_private_excl64)
{
    matrix("excl64", f.root, ENDS, 0);
    matrix("excl64", f.out, NEVER, 0);
}

Test(contract, open)
{
    matrix("open", f.root, FAILS, 0);
    matrix("open", f.out, NEVER, 0);
}

Test(contract, open64)
{
    matrix("open64", f.root, FAILS, 0);
    matrix("open64", f.out, NEVER, 0);
}

Test(contract, openat)
{
    matrix("openat", f.root, FAILS, 0);
    matrix("openat", f.out, NEVER, 0);
}

Test(contract, openat64)
{
    matrix("openat64", f.root, FAILS, 0);
    matrix("openat64", f.out, NEVER, 0);
}

Test(contract, creat)
{
    matrix("creat", f.root, FAILS, 0);
    matrix("creat", f.out, NEVER, 0);
}

Test(contract, creat64)
{
    matrix("creat64", f.root, FAILS, 0);
    matrix("creat64", f.out, NEVER, 0);
}

Test(contract, fopen)
{
    matrix("fopen", f.root, FAILS, 0);
    matrix("fopen", f.out, NEVER, 0);
}

Test(contract, fopen64)
{
    matrix("fopen64", f.root, FAILS, 0);
    matrix("fopen64", f.out, NEVER, 0);
}

Test(contract, freopen)
{
    matrix("freopen", f.root, FAILS, 0);
    matrix("freopen", f.out, NEVER, 0);
}

Test(contract, freopen64)
{
    matrix("freopen64", f.root, FAILS, 0);
    matrix("freopen64", f.out, NEVER, 0);
}

Test(contract, mkdir)
{
    matrix("mkdir", f.root, FAILS, 0);
    matrix("mkdir", f.out, NEVER, 0);
}

Test(contract, mkdirat)
{
    matrix("mkdirat", f.root, FAILS, 0);
    matrix("mkdirat", f.out, NEVER, 0);
}

/* tmpfile leaves no name behind: nothing new in the root, nor in /tmp where glibc puts it. */
static void tmpfile_case(const char *api)
{
    int before = count_below("/tmp");
    for (size_t i = 0; i < NENDINGS; i++) {
        const struct ending *e = &endings[i];
        struct run r;
        const char *argv[8] = {victim_path(), "create", api, f.root, e->w1, e->w2, e->w3, NULL};
        run_argv(&f, 1, NULL, NULL, &r, argv);
        cr_expect(strstr(r.out, "tmpfile-ok"), "%s, %s: out: %s err: %s", api, e->name, r.out, r.err);
        cr_expect(e->sig ? killed_by(r.status, e->sig) : exited_with(r.status, e->code), "%s, %s: %s", api,
                  e->name, describe(r.status));
        cr_expect_eq(count_below(f.root), 0);
    }
    /* Other programs may use /tmp meanwhile: only a growth by our count would be ours. */
    cr_expect_lt(count_below("/tmp") - before, (int)NENDINGS, "%s left names in /tmp", api);
}

Test(contract, tmpfile) { tmpfile_case("tmpfile"); }
Test(contract, tmpfile64) { tmpfile_case("tmpfile64"); }

/* The same contract for a program built the way distributions build them (large files, fortified):
 * its calls reach the *64 symbols and the fortified entry points. */
Test(contract, lfs_fortified_build)
{
    victim_bin = getenv("TG_VICTIM64");
    cr_assert(victim_bin, "TG_VICTIM64 not set");
    const char *scratch[] = {"mkstemp", "mkostemp", "mkstemps", "mkdtemp"};
    for (size_t i = 0; i < 4; i++) {
        matrix(scratch[i], f.root, ENDS, 0);
        matrix(scratch[i], f.out, FAILS, 0);
    }
    const char *outputs[] = {"open", "openat", "creat", "fopen", "freopen", "mkdir"};
    for (size_t i = 0; i < 6; i++) {
        matrix(outputs[i], f.root, FAILS, 0);
        matrix(outputs[i], f.out, NEVER, 0);
    }
    matrix("excl", f.root, ENDS, 0);
    victim_bin = NULL;
}
