/* The life of a process under the shim, as an orchestration of the files below: load, what a
 * tracked create does, fork, and the end of the process. */
#ifndef TG_LIFECYCLE_H
#define TG_LIFECYCLE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "heirs.h"
#include "recfmt.h"
#include "reclaim.h"
#include "registry.h"
#include "signals.h"
#include "site.h"

/* New creations may be tracked (the mode is not off, not set-user-ID, not a hand-off program whose
 * caller does without the shim).  Written at load only. */
extern int tg_tracking;

/* At load (the constructor, wrappers.c): the configuration, the command line, the fork handlers and
 * the exit handler.  RESOLVE_EAGER finds every real function a signal handler may reach; it is run
 * before anything could need them from a handler or a fork's child (lazy lookups elsewhere). */
void tg_load(int argc, char **argv, void (*resolve_eager)(void));

/* A create at ABS (LEN bytes, normalised) by CALL that the policy tracks (WHEN), described by ST.
 * The first one also arms the fatal-signal handlers (tg_track_first). */
void tg_track_first(void);
struct tg_call {
    enum tg_api api;
    void *caller; /* the return address into the program */
};
static inline void tg_track(const char *abs, size_t len, const struct stat *st, enum tg_kind kind, int when,
                            const struct tg_call *call)
{
    struct tg_made m = {kind, (enum tg_when)when, call->api, tg_heirs_forks(), 0};
    if (__builtin_expect(tg_site_on, 0))
        m.site = tg_site_capture(abs, len, call->caller);
    tg_reg_add(abs, len, st, &m);
    if (__builtin_expect(!atomic_load_explicit(&tg_signals_armed, memory_order_relaxed), 0))
        tg_track_first();
    if (__builtin_expect(tg_reclaim_on, 0))
        tg_reclaim_tick();
}

/* The process ends: exit status CODE, or death by signal CODE.  Removes what is due.
 * Async-signal-safe; does nothing in a process that does not own the registry. */
enum tg_end_how { TG_END_EXIT, TG_END_SIGNAL, TG_END_EXIT_NOW /* _exit: no stdio flush */ };
void tg_end(enum tg_end_how how, int code);

/* The fork wrapper reports each child here (daemon rule). */
void tg_forked(pid_t child);

/* An exec replaces this process: the environment to give it, with a note of this process's record
 * (config.h, TG_ADOPT_VAR) when there is one, built in X (mapped when large: tg_exec_env_done
 * releases it if the exec fails).  Returns ENVP itself when there is nothing to add.
 * Async-signal-safe, as execve is. */
struct tg_exec_env {
    char *mem[256];
    char **mapped;
    size_t mapped_len;
    char adopt[48], heir[112];
};
char *const *tg_exec_env(char *const envp[], struct tg_exec_env *x);
void tg_exec_env_done(struct tg_exec_env *x);

/* The process starts another without fork() (vfork, posix_spawn): such a child may hand files to
 * it (mktemp). */
void tg_spawning(void);

/* The process is about to change its user ID (the set*uid wrappers). */
void tg_before_uid_change(void);

#ifndef __GLIBC__
/* musl (no on_exit, nothing passed to initialisers): the exit and __libc_start_main wrappers report
 * the exit status, and main's arguments before any initialiser runs. */
void tg_exit_status(int status);
void tg_main_args(int argc, char **argv);
#endif

#endif
