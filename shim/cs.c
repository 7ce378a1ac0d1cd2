#include "cs.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

__thread struct tg_tls tg_tls __attribute__((tls_model("initial-exec")));
_Static_assert(__builtin_offsetof(struct tg_tls, vfork) == TG_TLS_VFORK_OFFSET, "the vfork wrapper's offset");
_Atomic int tg_inflight;
_Atomic int tg_dying;

/* How long a thread that tries to create or remove during the end waits for the process to die
 * (then it carries on: an exit path stuck on a lock this thread holds must not deadlock). */
#define PARK_MS 5000
/* How long the end waits for other threads to finish a create-and-list in progress (a thread stuck
 * in a slow filesystem must not hold the process's end hostage). */
#define DRAIN_MS 2000

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void tg_cs_park(void)
{
    int saved = errno;
    atomic_fetch_sub(&tg_inflight, 1);
    tg_tls.in--;
    for (int waited = 0; waited < PARK_MS && atomic_load(&tg_dying); waited += 10)
        sleep_ms(10);
    tg_tls.in++;
    atomic_fetch_add(&tg_inflight, 1);
    errno = saved;
}

void tg_cs_raise_deferred(void)
{
    int sig = tg_tls.pending, saved = errno;
    tg_tls.pending = 0;
    (void)raise(sig);
    /* raise() returns here when the signal's handler did: cppcheck takes it for noreturn. */
    // cppcheck-suppress unreachableCode
    errno = saved;
}

int tg_cs_defer(int sig)
{
    if (!tg_tls.in)
        return 0;
    if (!tg_tls.pending)
        tg_tls.pending = sig;
    return 1;
}

void tg_cs_begin_end(void)
{
    if (tg_tls.ending)
        return;
    tg_tls.ending = 1;
    atomic_store(&tg_dying, 1);
    for (int waited = 0; waited < DRAIN_MS && atomic_load(&tg_inflight) > tg_tls.in; waited++)
        sleep_ms(1);
}

void tg_cs_after_fork_child(void)
{
    tg_tls.in = 0;
    tg_tls.pending = 0;
    tg_tls.ending = 0;
    tg_tls.vfork = 0;
    atomic_store(&tg_inflight, 0);
    atomic_store(&tg_dying, 0);
}
