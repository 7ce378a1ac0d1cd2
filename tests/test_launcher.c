/* The launcher: scripts/tmpguard [options] -- COMMAND.  Run without the harness's own preload, so
 * the launcher is what brings the library in. */
#include <criterion/criterion.h>
#include <stdio.h>
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
