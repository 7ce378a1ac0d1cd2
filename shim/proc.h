/* What /proc says about a process: its start time and state, whether it is alive, what it maps.
 * Async-signal-safe (raw system calls, buffers on the stack). */
#ifndef TG_PROC_H
#define TG_PROC_H

#include <stdint.h>

#include "recfmt.h"

/* A process's start time in clock ticks since boot, or 0 if unknown. */
uint64_t tg_proc_start_ticks(int pid);
/* Start time and state letter (R, S, Z...) of PID; -1 if it cannot be read. */
int tg_proc_stat(int pid, uint64_t *start_ticks, char *state);

/* Whether the process ID (pid and start time) is alive: 1 alive, 0 gone (or its pid now belongs
 * to another process, or it is a zombie).  Unreadable counts as alive: keeping is the safe
 * mistake. */
int tg_proc_alive(const struct tg_proc_id *id);

/* Whether PID, by pid alone, is alive and not a zombie.  A pid that was reused counts as alive. */
int tg_pid_alive(int pid);

/* Whether /proc/PID/maps names a file whose path contains NEEDLE (at most 32 bytes). */
int tg_proc_maps_have(int pid, const char *needle);

#endif
