/* The remover: how an owned entry is removed, safely.  Everything here is async-signal-safe. */
#ifndef TG_REMOVER_H
#define TG_REMOVER_H

/* Removes (or, in audit mode, reports) this process's entries that are due now: all "ends"
 * entries, and "fails" entries too when FAILED.  Entries created before a fork whose child is
 * still alive (KEEP_BELOW: fork generation) are left in place. */
void tg_remove_owned(int failed, unsigned keep_below);

#endif
