#include "atomic.h"

#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "cs.h"
#include "fmt.h"
#include "log.h"
#include "path.h"
#include "proc.h"
#include "recfmt.h"
#include "registry.h"
#include "sys.h"

int tg_atomic_on;
_Atomic int tg_atomic_staged;
static tg_atomic_track_fn track; /* lists a staged file as scratch (lifecycle.c) */

/* Staged files open at once in one process; beyond, writes go in place (as without the shim). */
#define SLOTS 32
/* Descriptors known per staged file (the open, and those found at a close: a shell's dup2 onto 1);
 * more are found again by a look at /proc/self/fd. */
#define SLOT_FDS 8
/* Descriptors looked at, at most, when a staged file's known descriptors are all closed: a process
 * with more is taken to still hold it (the commit then comes at its end). */
#define SCAN_FDS 65536
/* The target's extended attributes that a staged file takes over, at most: the list of names, and
 * one value.  ACLs and security labels are tens of bytes; a target with more is written in place. */
#define XATTR_NAMES 4096
#define XATTR_VALUE 4096
/* Names tried for a staged file before the program's own open runs instead. */
#define NAME_TRIES 16

enum slot_state { FREE, STAGED, BUSY };
struct slot {
    int state;             /* enum slot_state; BUSY: a commit or abort under way (outside the lock) */
    int failed;            /* a write to it failed: never committed */
    uint64_t dev, ino;     /* the staged file */
    int fds[SLOT_FDS];     /* descriptors known to refer to it (-1: none) */
    unsigned seq;          /* of the staging: the latest of a target is the one its readers reach */
    size_t len;
    char path[TG_PATH_MAX]; /* the staged file's absolute path; its target follows from it */
};
static struct slot slots[SLOTS];
static unsigned next_seq;
static _Atomic int lock;

static void lock_take(void)
{
    while (atomic_exchange_explicit(&lock, 1, memory_order_acquire))
        sched_yield();
}
static void lock_drop(void) { atomic_store_explicit(&lock, 0, memory_order_release); }

void tg_atomic_init(tg_atomic_track_fn track_fn)
{
    tg_atomic_on = tg_cfg.natomic > 0;
    track = track_fn;
}

void tg_atomic_after_fork_child(void)
{
    atomic_store(&lock, 0);
    for (int i = 0; i < SLOTS; i++)
        slots[i].state = FREE;
    atomic_store(&tg_atomic_staged, 0);
}

static int matches(const char *abs, size_t len)
{
    for (int i = 0; i < tg_cfg.natomic; i++)
        if (tg_path_matches(tg_cfg.atomic[i], abs, len))
            return 1;
    return 0;
}

/* ---- finding what refers to a staged file ----------------------------------------------------- */

/* Under the lock: the slot with FD among its descriptors. */
static struct slot *slot_of_fd(int fd)
{
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].state == STAGED)
            for (int k = 0; k < SLOT_FDS; k++)
                if (slots[i].fds[k] == fd)
                    return &slots[i];
    return NULL;
}

static void forget_fd(struct slot *s, int fd)
{
    for (int k = 0; k < SLOT_FDS; k++)
        if (s->fds[k] == fd)
            s->fds[k] = -1;
}

static void add_fd(struct slot *s, int fd)
{
    for (int k = 0; k < SLOT_FDS; k++)
        if (s->fds[k] == fd)
            return;
    for (int k = 0; k < SLOT_FDS; k++)
        if (s->fds[k] < 0) {
            s->fds[k] = fd;
            return;
        }
}

static int has_fds(const struct slot *s)
{
    for (int k = 0; k < SLOT_FDS; k++)
        if (s->fds[k] >= 0)
            return 1;
    return 0;
}

/* The descriptors of this process that refer to DEV/INO, into FOUND (up to SLOT_FDS); their number,
 * or -1 when it cannot be told (then the file counts as still open).  A dup, a descriptor passed
 * down by fcntl(F_DUPFD): whatever refers to the file now. */
struct fd_scan {
    uint64_t dev, ino;
    int *found, count, looked;
};

static int fd_seen(void *arg, int fd, uint64_t dev, uint64_t ino, const char *path, size_t len)
{
    (void)path, (void)len;
    struct fd_scan *sc = arg;
    if (++sc->looked > SCAN_FDS)
        return 1; /* too many to look at: stop, and say so */
    if (dev == sc->dev && ino == sc->ino) {
        if (sc->count < SLOT_FDS)
            sc->found[sc->count] = fd;
        sc->count++;
    }
    return 0;
}

static int scan_fds(uint64_t dev, uint64_t ino, int found[SLOT_FDS])
{
    struct fd_scan sc = {dev, ino, found, 0, 0};
    return tg_proc_each_fd(0, 0, fd_seen, &sc) == 0 ? sc.count : -1;
}

/* ---- commit and abort ------------------------------------------------------------------------- */

/* Whether PATH still names DEV/INO (no link followed). */
static int same_file(const char *path, uint64_t dev, uint64_t ino)
{
    struct stat st;
    return tg_fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && (uint64_t)st.st_dev == dev &&
           (uint64_t)st.st_ino == ino;
}

/* Flushes the directory of PATH (LEN bytes): the rename itself survives a crash. */
static void sync_dir(const char *path, size_t len)
{
    char dir[TG_PATH_MAX];
    size_t d = len;
    while (d > 1 && path[d - 1] != '/')
        d--;
    memcpy(dir, path, d);
    dir[d > 1 ? d - 1 : 1] = '\0';
    int dfd = tg_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd >= 0) {
        (void)tg_fsync(dfd);
        tg_close(dfd);
    }
}

/* The staged file S goes without being committed: removed, and out of the registry. */
static void abort_slot(struct slot *s, const char *why)
{
    if (same_file(s->path, s->dev, s->ino))
        (void)tg_unlinkat(AT_FDCWD, s->path, 0);
    tg_reg_forget(s->path, s->len, 0);
    tg_log(TG_LOG_INFO, "atomic: not committed, the target keeps its content: ", s->path, " (", why, ")");
}

/* Renames S over its target, once flushed.  0, or -errno (S is then gone, the target as it was). */
static int commit_slot(struct slot *s)
{
    char target[TG_PATH_MAX];
    size_t tl = tg_rec_staged_target(s->path, s->len, target, sizeof target);
    if (!tl || !same_file(s->path, s->dev, s->ino)) {
        /* Renamed or removed by someone else meanwhile: theirs now. */
        tg_reg_forget(s->path, s->len, 0);
        return 0;
    }
    long r = 0;
    if (tg_cfg.atomic_sync) {
        int fd = tg_openat(AT_FDCWD, s->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
        struct stat st;
        r = fd < 0 ? fd : (tg_fstat(fd, &st) == 0 && (uint64_t)st.st_ino == s->ino ? tg_fsync(fd) : -ESTALE);
        if (fd >= 0)
            tg_close(fd);
    }
    if (r == 0)
        r = tg_renameat(AT_FDCWD, s->path, AT_FDCWD, target);
    if (r < 0) {
        char e[24];
        abort_slot(s, tg_fmt_u64(e, (unsigned long long)-r));
        return (int)r;
    }
    tg_reg_forget(s->path, s->len, 0); /* published, as a rename of the program's would */
    if (tg_cfg.atomic_sync)
        sync_dir(target, tl);
    tg_log(TG_LOG_DEBUG, "atomic: committed ", target);
    return 0;
}

/* Takes S out of the table (its state BUSY: the caller's), then commits or aborts it outside the
 * lock.  Returns the commit's result. */
static int settle(struct slot *s, int commit)
{
    int r = 0;
    if (commit && !s->failed)
        r = commit_slot(s);
    else
        abort_slot(s, s->failed ? "a write to it failed" : "the process did not succeed");
    lock_take();
    s->state = FREE;
    lock_drop();
    atomic_fetch_sub(&tg_atomic_staged, 1);
    return r;
}

/* Under the lock: S has lost descriptor FD (closed, or replaced).  When no descriptor of the process
 * refers to it any more, it is complete: marked BUSY for the caller to settle (returns 1). */
static int lost_fd(struct slot *s, int fd)
{
    forget_fd(s, fd);
    if (has_fds(s))
        return 0;
    int found[SLOT_FDS];
    int n = scan_fds(s->dev, s->ino, found);
    if (n != 0) {
        for (int k = 0; k < n && k < SLOT_FDS; k++)
            add_fd(s, found[k]);
        if (n < 0)
            add_fd(s, fd); /* cannot be told: still open, to be safe (its end commits it) */
        return 0;
    }
    if (tg_cfg.atomic_on_success)
        return 0; /* complete, committed at a successful end */
    s->state = BUSY;
    return 1;
}

int tg_atomic_close(int fd, int (*close_fn)(int))
{
    lock_take();
    struct slot *s = slot_of_fd(fd);
    lock_drop();
    int r = close_fn(fd);
    if (!s || (r < 0 && errno == EBADF))
        return r; /* (not a descriptor: nothing was closed) */
    int saved = errno, commit;
    lock_take();
    /* Linux releases the descriptor whatever close says; an error (EIO: a write-back that failed)
     * means the file may not hold what was written. */
    if (r < 0 && s->state == STAGED)
        s->failed = 1;
    commit = s->state == STAGED && lost_fd(s, fd);
    lock_drop();
    if (commit) {
        int c = settle(s, 1);
        if (c < 0) {
            errno = -c;
            return -1;
        }
    }
    errno = saved;
    return r;
}

void tg_atomic_closed_range(unsigned lo, unsigned hi)
{
    for (int i = 0; i < SLOTS; i++) {
        lock_take();
        struct slot *s = &slots[i];
        int commit = 0;
        if (s->state == STAGED)
            for (int k = 0; k < SLOT_FDS && !commit; k++)
                if (s->fds[k] >= 0 && (unsigned)s->fds[k] >= lo && (unsigned)s->fds[k] <= hi)
                    commit = lost_fd(s, s->fds[k]);
        lock_drop();
        if (commit)
            (void)settle(s, 1);
    }
}

void tg_atomic_duped(int oldfd, int newfd)
{
    if (oldfd == newfd)
        return;
    lock_take();
    struct slot *from = slot_of_fd(oldfd), *was = slot_of_fd(newfd);
    int commit = 0;
    if (was && was != from)
        commit = lost_fd(was, newfd);
    if (from)
        add_fd(from, newfd);
    lock_drop();
    if (commit)
        (void)settle(was, 1);
}

int tg_atomic_fclose(FILE *f, int (*fclose_fn)(FILE *))
{
    int fd = fileno(f);
    lock_take();
    struct slot *s = fd >= 0 ? slot_of_fd(fd) : NULL;
    lock_drop();
    if (!s)
        return fclose_fn(f);
    /* A stream that failed a write (or fails its last flush) holds an incomplete file. */
    int failed = ferror(f);
    int r = fclose_fn(f);
    int saved = errno, commit;
    lock_take();
    if (s->state == STAGED && (failed || r != 0))
        s->failed = 1;
    commit = s->state == STAGED && lost_fd(s, fd);
    lock_drop();
    if (commit && settle(s, 1) < 0 && r == 0) {
        r = EOF;
        saved = errno; /* set by settle's failure below */
    }
    errno = saved;
    return r;
}

void tg_atomic_write_failed(int fd, int err)
{
    /* Out of space or quota, an I/O error, a file too large: what was written is not the file the
     * program meant.  (EINTR and EAGAIN are not failures of the file.) */
    if (err != ENOSPC && err != EDQUOT && err != EIO && err != EFBIG)
        return;
    lock_take();
    struct slot *s = slot_of_fd(fd);
    if (s)
        s->failed = 1;
    lock_drop();
}

/* ---- staging ---------------------------------------------------------------------------------- */

/* Six letters or digits for a staged file's name, different in every call and every process. */
static void random_part(char out[TG_STAGE_RAND])
{
    static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static _Atomic unsigned long long counter;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)tg_gettid() << 32) ^
                           (atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ull);
    for (int i = 0; i < TG_STAGE_RAND; i++) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 29;
        out[i] = set[x % (sizeof set - 1)];
    }
}

/* Whether NAME is in LIST (N bytes of NUL-terminated names, as listxattr gives them). */
static int xattr_listed(const char *list, long n, const char *name)
{
    for (long at = 0; at < n; at += (long)strlen(list + at) + 1)
        if (strcmp(list + at, name) == 0)
            return 1;
    return 0;
}

/* Gives the staged file FD the extended attributes of the target at PATH, exactly: its POSIX ACLs
 * (system.posix_acl_*), its security label (security.selinux), the user's own (user.*), which a
 * rename would otherwise drop, and none that FD got from its directory (a default ACL) that the
 * target does not have.  0, or -1 when one cannot be read, set or removed (a label the process may
 * not set, a list too long): then the target is written in place, as without the shim. */
static int copy_xattrs(const char *path, int fd)
{
    char names[XATTR_NAMES], value[XATTR_VALUE];
    long n = tg_llistxattr(path, names, sizeof names);
    if (n == -ENOTSUP)
        return 0; /* a file system without them: nothing to keep */
    if (n < 0 || (n > 0 && names[n - 1] != '\0'))
        return -1;
    for (long at = 0; at < n; at += (long)strlen(names + at) + 1) {
        /* File capabilities: a write in place drops them (the kernel's "killpriv"); a new file must
         * not carry them over to new content.  Written in place. */
        if (strcmp(names + at, "security.capability") == 0)
            return -1;
        long v = tg_lgetxattr(path, names + at, value, sizeof value);
        if (v < 0 || tg_fsetxattr(fd, names + at, value, (unsigned long)v) < 0)
            return -1;
    }
    /* What the new file has of its own (value reused as the list: the values are copied). */
    long m = tg_flistxattr(fd, value, sizeof value);
    if (m < 0 || (m > 0 && value[m - 1] != '\0'))
        return -1;
    for (long at = 0; at < m; at += (long)strlen(value + at) + 1)
        if (!xattr_listed(names, n, value + at) && tg_fremovexattr(fd, value + at) < 0)
            return -1;
    return 0;
}

/* Whether the target at PATH is a mount point of its own (a bind-mounted file: a rename over it
 * fails with EBUSY). */
static int mount_root(const char *path) { return tg_is_mount_root(path); }

static struct slot *staged_target(const char *target, size_t tl)
{
    struct slot *best = NULL;
    char t[TG_PATH_MAX];
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &slots[i];
        if (s->state != STAGED || tg_rec_staged_target(s->path, s->len, t, sizeof t) != tl ||
            memcmp(t, target, tl) != 0)
            continue;
        if (!best || s->seq > best->seq)
            best = s;
    }
    return best;
}

/* An open of a target this process is writing reaches the staged file: the program reads its own
 * writes.  Returns 1 with *FD, or 0. */
static int redirect(const char *abs, size_t len, int flags, mode_t mode, int *fd)
{
    char staged[TG_PATH_MAX];
    lock_take();
    struct slot *s = staged_target(abs, len);
    if (s)
        memcpy(staged, s->path, s->len + 1);
    lock_drop();
    if (!s)
        return 0;
    int r = tg_openat(AT_FDCWD, staged, flags & ~(O_CREAT | O_EXCL), (int)mode);
    if (r < 0) {
        errno = -r;
        *fd = -1;
    } else {
        *fd = r;
        if (flags & O_ACCMODE) { /* a second writer's descriptor: the file is complete when both are closed */
            lock_take();
            if (s->state == STAGED)
                add_fd(s, r);
            lock_drop();
        }
    }
    return 1;
}

/* Under the lock: a free slot, STAGED, for the staged file at PATH (LEN bytes), DEV/INO, known to
 * be held by the N descriptors in FDS (N < 0: that cannot be told, so it is held until the end).
 * NULL when every slot is taken. */
static struct slot *take_slot(const char *path, size_t len, uint64_t dev, uint64_t ino, const int *fds, int n)
{
    struct slot *s = NULL;
    for (int i = 0; i < SLOTS && !s; i++)
        if (slots[i].state == FREE)
            s = &slots[i];
    if (!s)
        return NULL;
    s->state = STAGED;
    s->failed = 0;
    s->dev = dev;
    s->ino = ino;
    for (int k = 0; k < SLOT_FDS; k++)
        s->fds[k] = k < n ? fds[k] : -1;
    if (n < 0)
        s->fds[0] = INT_MAX;
    s->seq = ++next_seq;
    s->len = len;
    memcpy(s->path, path, len + 1);
    atomic_fetch_add(&tg_atomic_staged, 1);
    return s;
}

/* A staged file that will not be used after all: gone, with its descriptor. */
static void unstage(const char *staged, int sfd)
{
    tg_unlinkat(AT_FDCWD, staged, 0);
    tg_close(sfd);
}

/* Stages a write of the regular file at ABS (LEN bytes, normalised; it may not exist yet) for an open
 * with FLAGS and MODE: 1 with *FD the staged file, 0 when it is not staged. */
static int stage(const char *abs, size_t len, int flags, mode_t mode, int *fd, const struct tg_call *call)
{
    char target[TG_PATH_MAX], staged[TG_PATH_MAX];
    struct stat st;
    int exists = tg_fstatat(AT_FDCWD, abs, &st, AT_SYMLINK_NOFOLLOW) == 0;
    size_t tl = len;
    memcpy(target, abs, len + 1);
    if (exists && S_ISLNK(st.st_mode)) {
        /* The link stays a link: its final file is the one replaced. */
        char *real = realpath(abs, NULL);
        if (!real) {
            return 0; /* a dangling link: the program's own open makes the file where it points */
        }
        tl = strlen(real);
        if (tl >= sizeof target) {
            free(real);
            return 0;
        }
        memcpy(target, real, tl + 1);
        free(real);
        exists = tg_fstatat(AT_FDCWD, target, &st, AT_SYMLINK_NOFOLLOW) == 0;
    }
    if (exists) {
        /* Not a set-user-ID or set-group-ID file either: a write in place drops those bits for a
         * process without CAP_FSETID, which a new file with the old mode would keep. */
        if (!S_ISREG(st.st_mode) || st.st_nlink > 1 || !(flags & O_TRUNC) || (flags & O_EXCL) ||
            (st.st_mode & (S_ISUID | S_ISGID)) || mount_root(target))
            return 0;
        /* The program may write the target at all: else its own open fails, with its own errno. */
        int probe = tg_openat(AT_FDCWD, target, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0);
        if (probe < 0)
            return 0;
        tg_close(probe);
    } else if (!(flags & O_CREAT)) {
        return 0;
    }
    /* DIR/.NAME.tmpguard-XXXXXX, beside the target: the same filesystem, so the commit is a rename. */
    size_t base = tl;
    while (base > 0 && target[base - 1] != '/')
        base--;
    size_t name = tl - base, sl = base + 1 + name + sizeof TG_STAGE_TAG - 1 + TG_STAGE_RAND;
    if (name + 1 + sizeof TG_STAGE_TAG - 1 + TG_STAGE_RAND > NAME_MAX || sl >= sizeof staged)
        return 0;
    memcpy(staged, target, base);
    staged[base] = '.';
    memcpy(staged + base + 1, target + base, name);
    memcpy(staged + base + 1 + name, TG_STAGE_TAG, sizeof TG_STAGE_TAG - 1);
    staged[sl] = '\0';
    int keep = flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_NOCTTY | O_DIRECTORY | O_NOFOLLOW);
    int sfd = -EEXIST;
    for (int i = 0; i < NAME_TRIES && sfd == -EEXIST; i++) {
        random_part(staged + sl - TG_STAGE_RAND);
        sfd = tg_openat(AT_FDCWD, staged, keep | O_CREAT | O_EXCL | O_NOFOLLOW, exists ? 0600 : (int)mode);
    }
    if (sfd < 0)
        return 0; /* no file beside the target: the program's own open, with its own errno */
    struct stat now;
    if (exists) {
        /* The target's owner and mode; a target whose owner the process cannot keep is written in
         * place (a rename would hand the file to this process's user). */
        int uid = tg_geteuid(), gid = tg_getegid();
        if (((int)st.st_uid != uid || (int)st.st_gid != gid) && tg_fchown(sfd, (long)st.st_uid, (long)st.st_gid) < 0) {
            unstage(staged, sfd);
            return 0;
        }
        (void)tg_fchmod(sfd, (int)(st.st_mode & 07777));
        /* After the mode: an ACL set last is the target's exactly (its mask and the mode agree). */
        if (copy_xattrs(target, sfd) < 0) {
            unstage(staged, sfd);
            return 0;
        }
    }
    if (tg_fstat(sfd, &now) < 0) {
        unstage(staged, sfd);
        return 0;
    }
    lock_take();
    struct slot *s = take_slot(staged, sl, (uint64_t)now.st_dev, (uint64_t)now.st_ino, &sfd, 1);
    lock_drop();
    if (!s) {
        unstage(staged, sfd);
        tg_log(TG_LOG_WARN, "atomic: too many files staged at once; written in place: ", target);
        return 0;
    }
    /* Scratch in the registry: whatever happens before the commit, it goes as a temp file does. */
    track(staged, sl, &now, call);
    tg_log(TG_LOG_DEBUG, "atomic: staged ", target, " as ", staged);
    *fd = sfd;
    return 1;
}

int tg_atomic_open(int dfd, const char *path, int flags, mode_t mode, int *fd, const struct tg_call *call)
{
    char buf[TG_PATH_MAX];
    const char *abs;
    int len = tg_resolve_view(dfd, path, buf, &abs);
    if (len < 0)
        return 0;
    int writes = (flags & O_ACCMODE) != O_RDONLY && !(flags & (O_APPEND | O_PATH | O_DIRECTORY)) &&
                 (flags & O_TMPFILE) != O_TMPFILE;
    if (writes && (flags & (O_TRUNC | O_CREAT)) && matches(abs, (size_t)len)) {
        int saved = errno;
        if (stage(abs, (size_t)len, flags, mode, fd, call)) {
            errno = saved;
            return 1;
        }
        errno = saved;
    }
    return atomic_load(&tg_atomic_staged) && redirect(abs, (size_t)len, flags, mode, fd);
}

static int close_raw(int fd)
{
    int r = tg_close(fd);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return 0;
}

/* fopen (STREAM NULL, through FOPEN_FN) or freopen of STREAM (through FREOPEN_FN). */
static int stream_open(const char *path, const char *mode, FILE *stream, FILE *(*fopen_fn)(const char *, const char *),
                       FILE *(*freopen_fn)(const char *, const char *, FILE *), FILE **out, const struct tg_call *call)
{
    char buf[TG_PATH_MAX];
    const char *abs;
    int len = tg_resolve_view(AT_FDCWD, path, buf, &abs);
    if (len < 0)
        return 0;
    if (mode[0] == 'w' && matches(abs, (size_t)len)) {
        int plus = strchr(mode, '+') != NULL, cloexec = strchr(mode, 'e') != NULL, excl = strchr(mode, 'x') != NULL;
        int flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC | (excl ? O_EXCL : 0) | (cloexec ? O_CLOEXEC : 0);
        int fd, saved = errno;
        if (stage(abs, (size_t)len, flags, 0666, &fd, call)) {
            FILE *f;
            if (!stream) {
                f = fdopen(fd, plus ? "w+" : "w");
            } else {
                /* freopen opens by name, on the stream's own descriptor number: the staged file's
                 * name, without "x" (the staged file exists: it was just made, exclusively). */
                char staged[TG_PATH_MAX], m[16];
                size_t ml = 0;
                lock_take();
                struct slot *s = slot_of_fd(fd);
                if (s)
                    memcpy(staged, s->path, s->len + 1);
                lock_drop();
                for (const char *c = mode; *c && ml < sizeof m - 1; c++)
                    if (*c != 'x')
                        m[ml++] = *c;
                m[ml] = '\0';
                f = s ? freopen_fn(staged, m, stream) : NULL;
                if (f) {
                    lock_take();
                    if (s->state == STAGED)
                        add_fd(s, fileno(f));
                    lock_drop();
                    (void)tg_atomic_close(fd, close_raw); /* the stream's descriptor holds it now */
                    errno = saved;
                    *out = f;
                    return 1;
                }
                if (!s)
                    errno = EIO;
            }
            if (!f) {
                int e = errno;
                tg_atomic_write_failed(fd, EIO); /* never committed: the program got no stream */
                (void)tg_atomic_close(fd, close_raw);
                errno = e;
            } else {
                errno = saved;
            }
            *out = f;
            return 1;
        }
        errno = saved;
    }
    if (!atomic_load(&tg_atomic_staged))
        return 0;
    char staged[TG_PATH_MAX];
    lock_take();
    struct slot *s = staged_target(abs, (size_t)len);
    if (s)
        memcpy(staged, s->path, s->len + 1);
    lock_drop();
    if (!s)
        return 0;
    *out = stream ? freopen_fn(staged, mode, stream) : fopen_fn(staged, mode);
    if (*out && mode[0] != 'r') {
        lock_take();
        if (s->state == STAGED)
            add_fd(s, fileno(*out));
        lock_drop();
    }
    return 1;
}

int tg_atomic_fopen(const char *path, const char *mode, FILE *(*fopen_fn)(const char *, const char *), FILE **out,
                    const struct tg_call *call)
{
    return stream_open(path, mode, NULL, fopen_fn, NULL, out, call);
}

int tg_atomic_freopen(const char *path, const char *mode, FILE *stream,
                      FILE *(*freopen_fn)(const char *, const char *, FILE *), FILE **out, const struct tg_call *call)
{
    return stream_open(path, mode, stream, NULL, freopen_fn, out, call);
}

/* ---- the end, and exec ------------------------------------------------------------------------ */

void tg_atomic_end(int success, int flush_stdio)
{
    if (!atomic_load(&tg_atomic_staged))
        return;
    if (!success)
        return; /* the end removes what is staged, as scratch */
    if (flush_stdio)
        (void)fflush(NULL); /* the streams exit() would flush after this: their last bytes first */
    tg_enter();
    for (int i = 0; i < SLOTS; i++) {
        lock_take();
        struct slot *s = &slots[i];
        int mine = s->state == STAGED;
        if (mine)
            s->state = BUSY;
        lock_drop();
        if (mine)
            (void)settle(s, 1);
    }
    tg_leave();
}

void tg_atomic_adopted(void)
{
    uint32_t cursor = 0;
    for (struct tg_rec_entry *e; (e = tg_reg_next_live(&cursor)) != NULL;) {
        if (e->kind != TG_K_STAGED)
            continue;
        int found[SLOT_FDS], n = scan_fds(e->dev, e->ino, found);
        lock_take();
        struct slot *s = take_slot(e->path, e->pathlen, e->dev, e->ino, found, n);
        /* No descriptor left: the previous image closed it (at exec) complete. */
        int commit = s && n == 0 && !tg_cfg.atomic_on_success;
        if (commit)
            s->state = BUSY;
        lock_drop();
        if (commit)
            (void)settle(s, 1);
    }
}
