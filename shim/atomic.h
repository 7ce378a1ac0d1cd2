/* Atomic writes for unmodified programs (TMPGUARD_ATOMIC).
 *
 * A program that rewrites a file in place (open with O_TRUNC, then write) leaves it half-written when
 * it is killed midway or the disk fills, and concurrent writers tear it.  For a file that matches
 * TMPGUARD_ATOMIC, such an open gets a new file beside the target instead (staged: DIR/.NAME.tmpguard-
 * XXXXXX, created exclusively, with the target's mode and owner, tracked as scratch); when the last
 * descriptor of it is closed (TMPGUARD_ATOMIC_COMMIT=close) or when the process ends with status 0
 * (=success), it is flushed (fsync), renamed over the target, and the directory flushed: a reader sees
 * the old version or the new one, whole.  A process that fails or dies first never commits, and the
 * staged file goes as any scratch file does (at the end, at a fatal signal, by the reaper after
 * SIGKILL).  Not staged, and written as without the shim: appends and updates without O_TRUNC,
 * anything but a regular file, a file with more than one link, a mount point (a bind-mounted file),
 * a target whose owner the process cannot keep, or where it cannot create a file beside it.
 *
 * The staged file is named (not O_TMPFILE): it must survive an exec into a new image (a shell's
 * redirection of an external command), which finds it in the record; and naming an unnamed file at
 * commit needs /proc or a privilege that may be missing, when failing to would lose the program's
 * data.  The open wrappers decide and stage here; the close family (close, dup2, dup3, close_range,
 * fclose) tells when a staged file's last descriptor goes; the write family tells of a failed write
 * (the disk full), after which the file is never committed. */
#ifndef TG_ATOMIC_H
#define TG_ATOMIC_H

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/types.h>

/* Patterns are configured (set at load) / stagings are open in this process: the wrappers look
 * only when these say so. */
extern int tg_atomic_on;
extern _Atomic int tg_atomic_staged;

/* Whether an open with FLAGS can concern atomic writes at all: one that writes and truncates or
 * creates (it may be staged), or any while this process has a staged file (it may reach it by name).
 * Every other open (a read, in the common case) skips even the path's resolution. */
static inline int tg_atomic_concerns(int flags)
{
    if (atomic_load_explicit(&tg_atomic_staged, memory_order_relaxed))
        return 1;
    return tg_atomic_on && (flags & O_ACCMODE) != O_RDONLY && (flags & (O_TRUNC | O_CREAT)) &&
           !(flags & (O_APPEND | O_PATH | O_DIRECTORY));
}

/* At load.  TRACK lists a staged file (ABS, LEN bytes, ST) in the registry as scratch, for the
 * create CALL (the wrappers' struct tg_call, passed through). */
struct stat;
struct tg_call;
typedef void (*tg_atomic_track_fn)(const char *abs, size_t len, const struct stat *st, const struct tg_call *call);
void tg_atomic_init(tg_atomic_track_fn track);

/* The program opens PATH (relative to DFD) with FLAGS and MODE.  Returns 1 when the open is done
 * here, *FD its result (a staged file, or the staged file of a target this process is writing: the
 * program reads its own writes); 0: the caller runs the program's own open.  Call inside. */
int tg_atomic_open(int dfd, const char *path, int flags, mode_t mode, int *fd, const struct tg_call *call);
/* The same for fopen: *OUT the stream (FOPEN opens a staged file's name for a reader).  Call inside. */
int tg_atomic_fopen(const char *path, const char *mode, FILE *(*fopen_fn)(const char *, const char *), FILE **out,
                    const struct tg_call *call);
/* The same for freopen of STREAM (FREOPEN_FN reopens it on a staged file's name).  Call inside. */
int tg_atomic_freopen(const char *path, const char *mode, FILE *stream,
                      FILE *(*freopen_fn)(const char *, const char *, FILE *), FILE **out, const struct tg_call *call);

/* The close family.  CLOSE_FN closes FD as the program asked; what it returns is returned, unless
 * the commit that FD's close brings fails (then -1 and its errno). */
int tg_atomic_close(int fd, int (*close_fn)(int));
/* Descriptors LO..HI were closed (close_range), or NEWFD was replaced by a copy of OLDFD (dup2,
 * dup3: both after the real call succeeded). */
void tg_atomic_closed_range(unsigned lo, unsigned hi);
void tg_atomic_duped(int oldfd, int newfd);
/* fclose: F's descriptor is staged; ERR says the stream has failed a write. */
int tg_atomic_fclose(FILE *f, int (*fclose_fn)(FILE *));
/* A write to FD failed with ERR. */
void tg_atomic_write_failed(int fd, int err);

/* The process ends: SUCCESS (exit status 0) commits every staged file, after FLUSH_STDIO flushes
 * the program's streams (exit, not _exit); otherwise nothing (the end removes the staged files).
 * Before the end parks the other threads (the registry's lock is taken), never in a signal
 * handler. */
void tg_atomic_end(int success, int flush_stdio);
/* A new image (exec) adopted the record: its staged entries are staged again, with the descriptors
 * that still refer to them; one no descriptor refers to was closed by the exec and is complete. */
void tg_atomic_adopted(void);
/* In a forked child: the stagings are the parent's. */
void tg_atomic_after_fork_child(void);

#endif
