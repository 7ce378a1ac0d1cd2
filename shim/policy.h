/* Policy: which creations are tracked, and when each is removed (the contract table). */
#ifndef TG_POLICY_H
#define TG_POLICY_H

#include <stddef.h>

#include "record.h"

/* New creations may be tracked (mode is not off, not setuid, not a hand-off program). */
extern int tg_tracking;

/* Keeps what is needed of the command line and the starting directory.  Returns -1 when the
 * starting directory is unknown (then nothing can be decided safely). */
int tg_policy_init(int argc, char **argv);

/* Lexically normalises an absolute path in place ("//", ".", ".." and a trailing "/").
 * Returns the new length. */
size_t tg_normalize(char *path);

/* Resolves PATH against DFD (AT_FDCWD: the current directory) into ABS, normalised.
 * Returns the length, or -1 when that cannot be done for sure. */
int tg_resolve(int dfd, const char *path, char abs[]);

/* Is ABS strictly inside one of the temp roots? */
int tg_under_root(const char *abs, size_t len);

/* For a creation of KIND at ABS: 0 when it is not tracked, else an enum tg_when.  Call inside. */
int tg_decide(const char *abs, size_t len, enum tg_kind kind);

/* fork() holds the policy's lock across the fork (lifecycle.c). */
void tg_policy_lock_for_fork(void);
void tg_policy_unlock_after_fork(void);

#endif
