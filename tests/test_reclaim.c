/* Reclaiming while the process runs (TMPGUARD_MAX_AGE): a long-running service's leaks go while it
 * serves on, and nothing in use is ever taken.  Real programs: the leaky Python service, and
 * tests/victims/inuse.c, which uses a file in one way while it churns other temp files (every churn
 * is a creating call, where sweeps run) and leaves one scratch file idle as the control. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"




static struct fx f;
static struct run r;
static void setup(void) { fx_setup(&f); }
static void teardown(void)
{
    kill_leftovers(&f);
    fx_teardown(&f);
}
TestSuite(reclaim, .init = setup, .fini = teardown, .timeout = 300);

static const char *inuse(void)
{
    const char *v = getenv("TG_INUSE");
    cr_assert(v && *v, "TG_INUSE is not set: run the tests with meson test");
    return v;
}

/* Runs inuse MODE for SECONDS with ENV; checks its verdict lines. */
static void inuse_case(const char *mode, const char *seconds, const char *const env[], const char *control,
                       const char *used)
{
    RUN(&f, 1, NULL, env, &r, inuse(), mode, f.root, seconds);
    cr_assert(exited_with(r.status, 0), "inuse %s: %s; err: %s", mode, describe(r.status), r.err);
    char want[64];
    snprintf(want, sizeof want, "control %s\n", control);
    cr_expect(strstr(r.out, want) != NULL, "inuse %s: want \"%s\"; out: %s err: %s", mode, control, r.out, r.err);
    snprintf(want, sizeof want, "used %s\n", used);
    cr_expect(strstr(r.out, want) != NULL, "inuse %s: the file in use was taken; out: %s err: %s", mode, r.out,
              r.err);
}

static const char *const age1[] = {"TMPGUARD_MAX_AGE=1s", NULL};

/* Never reclaimed while in use, each for 4 s under an age of 1 s while the program churns; the
 * idle control file of the same run is reclaimed (so sweeps did run), and at the end the root
 * holds nothing but an output that is kept. */
static void in_use(const char *mode)
{
    inuse_case(mode, "4", age1, "gone", "kept");
    int want = !strcmp(mode, "output");
    cr_expect_eq(count_below(f.root), want, "inuse %s: %d entries left in the root", mode, count_below(f.root));
}

Test(reclaim, held_open_is_kept) { in_use("open"); }
Test(reclaim, mapped_with_descriptor_closed_is_kept) { in_use("mmap"); }
Test(reclaim, held_open_by_a_child_is_kept) { in_use("child"); }
Test(reclaim, rewritten_by_name_is_kept) { in_use("rewrite"); }
Test(reclaim, reread_by_name_is_kept) { in_use("reread"); }
Test(reclaim, output_is_never_reclaimed) { in_use("output"); }
Test(reclaim, tree_with_an_open_inner_file_is_kept) { in_use("tree"); }

/* 8 threads create, hold, release and leave files while sweeps run: none taken while held, no
 * deadlock, nothing left at the end. */
Test(reclaim, threads_while_sweeping) { in_use("threads"); }

/* Without TMPGUARD_MAX_AGE nothing goes while the process lives. */
Test(reclaim, nothing_while_alive_without_max_age)
{
    inuse_case("none", "3", NULL, "there", "kept");
    cr_expect_eq(count_below(f.root), 0, "%d entries left after the end", count_below(f.root));
}

/* Audit mode: the idle file is reported, once, and kept; it goes at the end. */
Test(reclaim, audit_reports_once_and_keeps)
{
    const char *env[] = {"TMPGUARD_MAX_AGE=1s", "TMPGUARD_MODE=audit", NULL};
    inuse_case("none", "4", env, "there", "kept");
    int n = 0;
    for (const char *p = r.err; (p = strstr(p, "audit: would reclaim ")) != NULL; p++)
        n += strstr(p, "/control-") < strchr(p, '\n') && strstr(p, "/control-") != NULL;
    cr_expect_eq(n, 1, "the control file should be reported once; err: %s", r.err);
}

/* A malformed age: one line naming the variable, and the feature stays off. */
Test(reclaim, malformed_age_one_line_and_off)
{
    const char *env[] = {"TMPGUARD_MAX_AGE=soon", NULL};
    inuse_case("none", "2", env, "there", "kept");
    cr_expect(strstr(r.err, "TMPGUARD_MAX_AGE=soon") && strstr(r.err, "accepted") && !strchr(strchr(r.err, '\n') + 1, '\n'),
              "want one line naming the variable; err: %s", r.err);
}

/* A forked child's sweeps never take its parent's files; entries adopted across exec keep their
 * ages (a file left idle before exec goes at the new image's first sweeps). */
Test(reclaim, fork_child_leaves_parents_files) { inuse_case("fork", "3", age1, "there", "kept"); }
Test(reclaim, exec_keeps_ages) { inuse_case("exec", "1.5", age1, "gone", "kept"); }

/* ---- the long-running service -------------------------------------------------------------- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int uploads(void)
{
    int n = 0;
    DIR *d = opendir(f.root);
    for (struct dirent *e; d && (e = readdir(d));)
        n += strncmp(e->d_name, "upload-", 7) == 0;
    if (d)
        closedir(d);
    return n;
}

/* The leaky service serves for 8 s, leaking every 10th request, under an age of 1 s (raw preload,
 * or under the launcher).  Sampled while it runs, the leaks outstanding never exceed those of the
 * last window (age + sweep interval + 1 s, and what a slow machine adds); every request finds its
 * own upload intact; nothing is left after it stops. */
static void service(int launched)
{
    char seconds[] = "8", dir_arg[400];
    snprintf(dir_arg, sizeof dir_arg, "%s", f.root);
    struct proc p;
    const char *svc = src_path("tests/victims/leaky_service.py");
    if (launched)
        proc_start(&p, &f, 0, NULL, NULL, &r,
                   (const char *const[]){src_path("scripts/tmpguard"), "--max-age", "1s", "--", "python3", svc,
                                         "--seconds", seconds, "--interval", "0.02", "--fail-every", "10",
                                         "--dir", dir_arg, NULL});
    else
        proc_start(&p, &f, 1, NULL, age1, &r,
                   (const char *const[]){"python3", svc, "--seconds", seconds, "--interval", "0.02",
                                         "--fail-every", "10", "--dir", dir_arg, NULL});
    proc_wait_line(&p, "ready");
    enum { SAMPLES = 400 };
    static long at[SAMPLES];
    static int held[SAMPLES];
    int ns = 0, most = 0;
    /* Sample until the service (or the launcher) is gone; its few lines wait in the pipe. */
    while (!pid_dead(p.pid) && ns < SAMPLES) {
        at[ns] = now_ms();
        held[ns] = uploads();
        most = held[ns] > most ? held[ns] : most;
        ns++;
        usleep(100000);
    }
    proc_finish(&p);
    cr_assert(exited_with(r.status, 1), "the service should exit 1 (failed requests): %s; err: %.2000s",
              describe(r.status), r.err);
    cr_expect(strstr(r.out, " 0 broken") != NULL, "a request lost its own file: %s", r.out);
    /* The leaks, with their times (CLOCK_MONOTONIC, as the samples). */
    static double leak[4096];
    int nl = 0;
    for (const char *l = r.out; l && *l && nl < 4096; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (sscanf(l, "leaked %*s %lf", &leak[nl]) == 1)
            nl++;
    cr_assert(nl >= 20, "the service should have leaked plenty: %d; out: %.1000s", nl, r.out);
    /* A leak goes at the first sweep after it is a second old: a sweep is due a second after the
     * last, and runs at the next request.  The window adds a second for the sample's own timing,
     * and what a slow machine adds. */
    long window = 3000 + tg_limit_ms(1000) - 1000;
    int worst = 0, worst_at = 0;
    for (int i = 0; i < ns; i++) {
        int recent = 0;
        for (int k = 0; k < nl; k++)
            recent += leak[k] * 1000 <= at[i] && leak[k] * 1000 > at[i] - window;
        /* One request in flight may hold its upload too. */
        if (held[i] - (recent + 1) > worst) {
            worst = held[i] - (recent + 1);
            worst_at = i;
        }
    }
    cr_expect(worst <= 0, "%d uploads outstanding at one sample, more than the %ld ms window's leaks allow (%d more); "
              "%d leaks in all, at most %d outstanding", held[worst_at], window, worst, nl, most);
    cr_expect(most < nl, "nothing was reclaimed while the service ran: %d outstanding at most, %d leaked", most,
              nl);
    cr_expect_eq(count_below(f.root), 0, "%d entries left after the service stopped", count_below(f.root));
}

Test(reclaim, long_running_service_raw) { service(0); }
Test(reclaim, long_running_service_launcher) { service(1); }
