/* Load, fork, exec and the end of the process. */
#ifndef TG_LIFECYCLE_H
#define TG_LIFECYCLE_H

#include <sys/types.h>

enum tg_end_how { TG_END_EXIT, TG_END_SIGNAL };

/* The process ends: exit status CODE, or death by signal CODE.  Removes what is due.
 * Async-signal-safe; does nothing in a process that does not own the registry. */
void tg_end(enum tg_end_how how, int code);

/* The process is about to change its user ID (the set*uid wrappers): what it must still remove
 * from its state directory afterwards is dealt with now. */
void tg_before_uid_change(void);

/* The fork wrapper reports each child here (daemon rule). */
void tg_forked(pid_t child);

struct tg_proc_id;
/* For a hand-off program whose parent runs the shim: the parent, its heir.  NULL otherwise. */
const struct tg_proc_id *tg_handoff_parent(void);

#ifndef __GLIBC__
/* musl (no on_exit, nothing passed to initialisers): the exit and __libc_start_main wrappers report
 * the exit status, and main's arguments before any initialiser runs. */
void tg_exit_status(int status);
void tg_main_args(int argc, char **argv);
#endif

#endif
