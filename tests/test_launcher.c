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
