/* Fatal signals: cleanup, then death by the same signal; the program's view of its handlers;
 * threads creating and removing while a signal arrives. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct fx f;
static void setup(void) { fx_setup(&f); }
static void teardown(void) { fx_teardown(&f); }
TestSuite(signals, .init = setup, .fini = teardown, .timeout = 300);

/* Sent from outside, at a moment the victim does not choose. */
Test(signals, from_outside_every_fatal_kind)
{
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGPIPE, SIGALRM, SIGXCPU, SIGVTALRM, SIGPROF,
                  SIGSYS, SIGBUS, SIGRTMIN + 3};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct proc p;
        struct run r;
        proc_start(&p, &f, 1, NULL, NULL, &r,
                   (const char *const[]){victim_path(), "create", "mkstemp", f.root, "create", "fopen", f.root,
                                         "create", "mkstemp", f.out, "ready", NULL});
        proc_wait_line(&p, "ready");
        kill(p.pid, sigs[i]);
        proc_finish(&p);
        cr_expect(killed_by(r.status, sigs[i]), "signal %d: %s", sigs[i], describe(r.status));
        cr_expect_eq(count_below(f.root), 0, "signal %d left files in the root", sigs[i]);
        cr_expect_eq(count_below(f.out), 0, "signal %d left the mkstemp file outside the roots", sigs[i]);
    }
}

/* A signal the program ignores stays ignored: here inherited as ignored through exec. */
Test(signals, ignored_stays_ignored)
{
    skip_under_musl("sh");
    struct run r;
    char script[1024];
    snprintf(script, sizeof script, "trap '' TERM; exec '%s' create mkstemp '%s' create open '%s' raise TERM exit 3",
             victim_path(), f.root, f.root);
    RUN(&f, 1, NULL, NULL, &r, "sh", "-c", script);
    cr_expect(exited_with(r.status, 3), "an ignored SIGTERM killed the victim: %s %s", describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0, "exit 3 is a failure: everything goes");
}

/* The program sees the dispositions it set, or the default when it set none. */
Test(signals, program_view_of_handlers)
{
    struct run r;
    VICTIM(&f, &r, "sigview", "TERM", "create", "mkstemp", f.root, "sigview", "TERM", "sigview", "INT", "exit", "0");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    int dfl = 0;
    for (const char *p = r.out; (p = strstr(p, "sigview DFL\n")); p++)
        dfl++;
    cr_expect_eq(dfl, 3, "the shim's handler showed through: %s", r.out);
}

static const char *threads_path(void)
{
    const char *t = getenv("TG_THREADS");
    cr_assert(t, "TG_THREADS not set");
    return t;
}

/* Every published file is there, numbered without gaps from 0: a gap would be a removal. */
static void expect_published_intact(int nthreads)
{
    for (int t = 0; t < nthreads; t++) {
        int seq = 0;
        char p[512];
        for (;; seq++) {
            snprintf(p, sizeof p, "%s/pub-%d-%d", f.out, t, seq);
            if (!exists(p))
                break;
        }
        int later = 0;
        for (int s = seq + 1; s < seq + 50; s++) {
            snprintf(p, sizeof p, "%s/pub-%d-%d", f.out, t, s);
            later |= exists(p);
        }
        cr_expect_not(later, "thread %d: published file %d is missing", t, seq);
    }
}

/* 8 threads create, remove and publish while a fatal signal arrives at a random moment. */
Test(signals, threads_with_signal)
{
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR2, SIGALRM};
    int rounds = getenv("TG_ROUNDS") ? atoi(getenv("TG_ROUNDS")) : 20;
    srand((unsigned)time(NULL));
    for (int i = 0; i < rounds; i++) {
        struct proc p;
        struct run r;
        int sig = sigs[i % 5];
        proc_start(&p, &f, 1, NULL, NULL, &r, (const char *const[]){threads_path(), "8", f.root, f.out, NULL});
        proc_wait_line(&p, "ready");
        usleep((useconds_t)(rand() % 50000));
        kill(p.pid, sig);
        proc_finish(&p);
        cr_expect(killed_by(r.status, sig), "round %d, signal %d: %s %s", i, sig, describe(r.status), r.err);
        cr_expect_eq(count_below(f.root), 0, "round %d: %d orphans in the root", i, count_below(f.root));
        expect_published_intact(8);
        rm_rf(f.root);
        rm_rf(f.out);
        mkdir(f.root, 0755);
        mkdir(f.out, 0755);
    }
}
