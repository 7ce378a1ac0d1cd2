/* What /proc says about a process: its start time and state, whether it is alive, what it maps.
 * Async-signal-safe (raw system calls, buffers on the stack). */
#ifndef TG_PROC_H
#define TG_PROC_H

#include <stddef.h>
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

/* What a process holds open or mapped, for telling a file in use from one left behind (reclaim.c),
 * or a staged write's last descriptor gone (atomic.c).  SEEN hears of each object: the descriptor's
 * number (-1 for a mapping), its device and inode, and its path (PATH_LEN 0 when not asked for, or
 * when it has none); it returns nonzero to stop there.  PID 0 is this process.  Each returns 0, 1
 * when SEEN stopped it, or -1 when that part of /proc/PID cannot be read (it happens even to root:
 * unknown then means in use). */
typedef int tg_held_fn(void *arg, int fd, uint64_t dev, uint64_t ino, const char *path, size_t path_len);
int tg_proc_each_fd(int pid, int want_paths, tg_held_fn *seen, void *arg);
int tg_proc_each_map(int pid, tg_held_fn *seen, void *arg);
/* The current directory of PID (its path, NUL-terminated in BUF of N bytes); -1 when unreadable. */
int tg_proc_cwd(int pid, char *buf, size_t n);
/* Calls CHILD for each child of PID (/proc/PID/task/TID/children of every thread); -1 when that
 * cannot be read. */
int tg_proc_children(int pid, void (*child)(void *arg, int pid), void *arg);

#endif
