/* Policy: which creations are tracked, and when each is removed (the contract table). */
#ifndef TG_POLICY_H
#define TG_POLICY_H

#include <stddef.h>

#include "recfmt.h"

/* Keeps a copy of the command line (a program may overwrite its argv later).  Returns -1 when
 * there is no memory for it (then nothing can be decided safely). */
int tg_policy_init(int argc, char **argv);

/* The program is about to change its current directory: the starting directory is taken now if it
 * has not been yet. */
void tg_policy_before_chdir(void);

/* Is ABS strictly inside one of the temp roots? */
int tg_under_root(const char *abs, size_t len);

/* For a creation of KIND at ABS: 0 when it is not tracked, else an enum tg_when.  Call inside. */
int tg_decide(const char *abs, size_t len, enum tg_kind kind);

/* fork() holds the policy's lock across the fork (lifecycle.c). */
void tg_policy_lock_for_fork(void);
void tg_policy_unlock_after_fork(void);

#endif
