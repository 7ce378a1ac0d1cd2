/* Installed as a user installs it: meson install of the source tree into a private prefix, the build
 * directory removed, then the installed tmpguard used with nothing of any build tree (run, reap,
 * status, stats, --version), its man pages rendered and linted, and its systemd units verified.
 * Also the man pages of this build, linted. */
#include <criterion/criterion.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct fx f;
static void setup(void) { fx_setup(&f); }
static void teardown(void) { fx_teardown(&f); }
/* The install builds the library and the tools once more: a minute on a busy 2-core machine. */
TestSuite(install, .init = setup, .fini = teardown, .timeout = 300);

static void need(const char *program)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null", program);
    cr_assert(system(cmd) == 0, "%s is not installed (scripts/test installs it)", program);
}

/* groff's warnings (-ww) on PAGE, formatted and thrown away (-z): none, and exit 0. */
static void lint(const char *page)
{
    struct run r;
    RUN(&f, 0, NULL, NULL, &r, "groff", "-man", "-ww", "-z", page);
    cr_expect(exited_with(r.status, 0) && !r.out[0] && !r.err[0], "groff -man -ww -z %s: %s\n%s%s", page,
              describe(r.status), r.out, r.err);
}

/* The man pages of this build (configured from doc/NAME.in into BUILD/doc) lint clean. */
Test(install, man_pages_lint_clean)
{
    need("groff");
    char *lib = strdup(getenv("TG_LIB")), page[4200];
    const char *build = dirname(dirname(lib));
    for (const char *p = "tmpguard.1\0tmpguard.7\0"; *p; p += strlen(p) + 1) {
        snprintf(page, sizeof page, "%s/doc/%s", build, p);
        cr_assert(exists(page), "%s is not built", page);
        lint(page);
    }
    free(lib);
}

static char prefix[400];

/* "PREFIX/REL", in a static buffer of 8. */
static const char *in_prefix(const char *rel)
{
    static char buf[8][800];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", prefix, rel);
    return b;
}

/* The one file under PREFIX whose path ends with TAIL. */
static const char *find_installed(const char *tail)
{
    static char found[4][800];
    static int next;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "find '%s' -path '*%s' -print -quit", prefix, tail);
    FILE *p = popen(cmd, "r");
    char *b = found[next++ % 4];
    b[0] = '\0';
    if (p && fgets(b, sizeof found[0], p))
        b[strcspn(b, "\n")] = '\0';
    if (p)
        pclose(p);
    cr_assert(b[0], "nothing installed as *%s under %s", tail, prefix);
    return b;
}

Test(install, installed_tmpguard_works_without_the_build_tree)
{
    need("meson");
    need("groff");
    need("man");
    need("systemd-analyze");
    char build[400], env_path[1000];
    snprintf(prefix, sizeof prefix, "%s/prefix", f.base);
    snprintf(build, sizeof build, "%s/build", f.base);
    struct run r;
    /* The source tree as a user has it; only the library, the tools and their files. */
    RUN(&f, 0, NULL, NULL, &r, "meson", "setup", build, src_path("."), "--prefix", prefix, "-Dtests=false");
    cr_assert(exited_with(r.status, 0), "meson setup: %s\n%s\n%s", describe(r.status), r.out, r.err);
    RUN(&f, 0, NULL, NULL, &r, "meson", "install", "-C", build, "--quiet");
    cr_assert(exited_with(r.status, 0), "meson install: %s\n%s\n%s", describe(r.status), r.out, r.err);
    rm_rf(build);
    cr_assert_not(exists(build));

    /* From here on: the installed tmpguard first on PATH, found by name, run from elsewhere. */
    snprintf(env_path, sizeof env_path, "PATH=%s:/usr/bin:/bin", in_prefix("bin"));
    const char *env[] = {env_path, NULL};
    /* (By its path: the harness looks a program up in its own PATH, not in the one it passes.) */
    const char *tmpguard = in_prefix("bin/tmpguard");
    RUN(&f, 0, NULL, env, &r, tmpguard, "--version");
    cr_expect(exited_with(r.status, 0) && strncmp(r.out, "tmpguard ", 9) == 0, "--version: %s %s %s",
              describe(r.status), r.out, r.err);

    /* run: the installed library is preloaded, and the command's leftovers go. */
    RUN(&f, 0, NULL, env, &r, tmpguard, "--", "sh", "-c", "echo \"$LD_PRELOAD\"");
    const char *lib = find_installed("/libtmpguard.so");
    cr_expect(exited_with(r.status, 0) && strstr(r.out, lib), "LD_PRELOAD=%s (installed: %s) %s", r.out, lib, r.err);
    RUN(&f, 0, NULL, env, &r, tmpguard, "--", victim_path(), "create", "mkstemp", f.root, "exit", "3");
    cr_expect(exited_with(r.status, 3) && count_below(f.root) == 0, "run: %s, %d left; %s", describe(r.status),
              count_below(f.root), r.err);

    /* status, reap, stats on a process under the installed library, preloaded by hand. */
    char preload[900];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", lib);
    const char *raw[] = {env_path, preload, NULL};
    struct run held;
    struct proc p;
    proc_start(&p, &f, 0, NULL, raw, &held,
               (const char *const[]){victim_path(), "create", "mkstemp", f.root, "write", "@", "abcd", "ready", NULL});
    proc_wait_line(&p, "ready");
    char pid[32];
    snprintf(pid, sizeof pid, "%d ", (int)p.pid);
    RUN(&f, 0, NULL, env, &r, tmpguard, "status");
    cr_expect(exited_with(r.status, 0) && strstr(r.out, pid), "status does not list %s: %s %s", pid, r.out, r.err);
    kill(p.pid, SIGKILL);
    proc_finish(&p);
    cr_expect_eq(count_below(f.root), 1, "the killed process's file");
    RUN(&f, 0, NULL, env, &r, tmpguard, "reap");
    cr_expect(exited_with(r.status, 0) && strstr(r.out, "removed") && count_below(f.root) == 0, "reap: %s %s %s",
              describe(r.status), r.out, r.err);
    RUN(&f, 0, NULL, env, &r, tmpguard, "stats", "--prometheus");
    cr_expect(exited_with(r.status, 0) && strstr(r.out, "tmpguard_files_removed_total{cause=\"reap\"} 1\n") &&
                  strstr(r.out, "tmpguard_bytes_removed_total{cause=\"reap\"} 4\n"),
              "stats: %s %s %s", describe(r.status), r.out, r.err);

    /* The man pages: where man looks under the prefix, rendered by man -l and by name, lint clean. */
    const char *man1 = in_prefix("share/man/man1/tmpguard.1"), *man7 = in_prefix("share/man/man7/tmpguard.7");
    for (const char *const *m = (const char *const[]){man1, man7, NULL}; *m; m++) {
        cr_expect(exists(*m), "%s is not installed", *m);
        lint(*m);
        RUN(&f, 0, NULL, env, &r, "man", "-l", *m);
        cr_expect(exited_with(r.status, 0) && strstr(r.out, "tmpguard") && !r.err[0], "man -l %s: %s\n%s", *m,
                  describe(r.status), r.err);
    }
    char manpath[900];
    snprintf(manpath, sizeof manpath, "MANPATH=%s", in_prefix("share/man"));
    const char *menv[] = {env_path, manpath, "MANWIDTH=100", NULL};
    RUN(&f, 0, NULL, menv, &r, "man", "1", "tmpguard");
    cr_expect(exited_with(r.status, 0) && strstr(r.out, "tmpguard stats") && strstr(r.out, "EXIT STATUS"),
              "man 1 tmpguard: %s\n%.2000s%s", describe(r.status), r.out, r.err);
    RUN(&f, 0, NULL, menv, &r, "man", "7", "tmpguard");
    cr_expect(exited_with(r.status, 0) && strstr(r.out, "WHAT IS NEVER REMOVED") && strstr(r.out, "COUNTERS"),
              "man 7 tmpguard: %s\n%.2000s%s", describe(r.status), r.out, r.err);

    /* The units, with the installed launcher written in: systemd-analyze verify says nothing, and
     * finds their Documentation= pages where they were installed. */
    const char *service = in_prefix("lib/systemd/system/tmpguard-reap.service");
    const char *timer = in_prefix("lib/systemd/system/tmpguard-reap.timer");
    RUN(&f, 0, NULL, menv, &r, "systemd-analyze", "verify", service, timer);
    cr_expect(exited_with(r.status, 0) && !r.out[0] && !r.err[0], "systemd-analyze verify: %s\n%s%s",
              describe(r.status), r.out, r.err);
    char *text = slurp(service), want[900];
    snprintf(want, sizeof want, "\nExecStart=%s reap --all-users\n", in_prefix("bin/tmpguard"));
    cr_expect(text && strstr(text, want) && strstr(text, "\nType=oneshot\n") &&
                  strstr(text, "\nProtectSystem=strict\n") && strstr(text, "\nPrivateNetwork=true\n") &&
                  strstr(text, "\nNoNewPrivileges=true\n") && !strstr(text, "\nPrivateTmp="),
              "%s:\n%s", service, text);
    free(text);
    text = slurp(timer);
    cr_expect(text && strstr(text, "\nOnBootSec=5min\n") && strstr(text, "\nOnUnitActiveSec=15min\n"), "%s:\n%s",
              timer, text);
    free(text);

    /* The example drop-in, on a legacy service of its own. */
    char units[400], dropins[450], unit[450], conf[500];
    snprintf(units, sizeof units, "%s/units", f.base);
    snprintf(dropins, sizeof dropins, "%s/legacy.service.d", units);
    snprintf(unit, sizeof unit, "%s/legacy.service", units);
    snprintf(conf, sizeof conf, "%s/tmpguard.conf", dropins);
    cr_assert(mkdir(units, 0755) == 0 && mkdir(dropins, 0755) == 0);
    put(unit, "[Unit]\nDescription=A legacy service\n\n[Service]\nExecStart=/bin/sleep 1000\n");
    text = slurp(find_installed("/examples/legacy-service.conf"));
    cr_assert(text);
    put(conf, text);
    free(text);
    RUN(&f, 0, NULL, menv, &r, "systemd-analyze", "verify", unit);
    cr_expect(exited_with(r.status, 0) && !r.out[0] && !r.err[0], "systemd-analyze verify (drop-in): %s\n%s%s",
              describe(r.status), r.out, r.err);
    /* (A drop-in systemd did not read would pass unseen: one with a wrong key is heard of.) */
    FILE *c = fopen(conf, "a");
    cr_assert(c);
    fputs("Frobnicate=yes\n", c);
    fclose(c);
    RUN(&f, 0, NULL, menv, &r, "systemd-analyze", "verify", unit);
    cr_expect(strstr(r.err, "Frobnicate"), "the drop-in is not read: %s", r.err);
}
