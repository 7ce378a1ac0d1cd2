/* Raw system calls for the shim's own file work.
 *
 * The shim defines open, unlink, mkdir, rename... itself, so calling those names from inside the
 * library would re-enter its own wrappers.  Everything the shim does on its own behalf (the record,
 * the remover, the signal path) goes through these, which are also async-signal-safe: no errno
 * side effects beyond the return value, no locks, no allocation. */
#ifndef TG_SYS_H
#define TG_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Returns the result, or -errno on failure, and leaves errno as it found it: the wrappers promise the
 * program an untouched errno, and a signal handler must not change the interrupted code's errno.
 * On x86-64 the system call is made here (no call into libc: nothing for the dynamic linker to bind
 * on first use, no errno to save); elsewhere through libc's syscall(), and also where
 * TG_SYSCALL_VIA_LIBC is defined (the fuzz harness of the reader interposes on syscall() to change
 * a record between two reads). */
static inline long tg_sys6(long n, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__) && !defined(TG_SYSCALL_VIA_LIBC)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#else
    int saved = errno;
    long ret = syscall(n, a, b, c, d, e, f);
    if (ret == -1)
        ret = -errno;
    errno = saved;
    return ret;
#endif
}

#define TG_SYS(n, a, b, c, d) tg_sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

static inline int tg_openat(int dfd, const char *p, int flags, int mode)
{
    return (int)TG_SYS(SYS_openat, dfd, p, flags, mode);
}
static inline int tg_close(int fd) { return (int)TG_SYS(SYS_close, fd, 0, 0, 0); }
static inline int tg_fstatat(int dfd, const char *p, struct stat *st, int flags)
{
    return (int)TG_SYS(SYS_newfstatat, dfd, p, st, flags);
}
static inline int tg_fstat(int fd, struct stat *st) { return (int)TG_SYS(SYS_fstat, fd, st, 0, 0); }
static inline int tg_unlinkat(int dfd, const char *p, int flags)
{
    return (int)TG_SYS(SYS_unlinkat, dfd, p, flags, 0);
}
static inline int tg_mkdirat(int dfd, const char *p, int mode)
{
    return (int)TG_SYS(SYS_mkdirat, dfd, p, mode, 0);
}
static inline int tg_renameat(int od, const char *o, int nd, const char *n)
{
    return (int)TG_SYS(SYS_renameat, od, o, nd, n);
}
static inline long tg_read(int fd, void *b, unsigned long n) { return TG_SYS(SYS_read, fd, b, n, 0); }
static inline long tg_write(int fd, const void *b, unsigned long n)
{
    return TG_SYS(SYS_write, fd, b, n, 0);
}
static inline long tg_getdents64(int fd, void *b, unsigned long n)
{
    return TG_SYS(SYS_getdents64, fd, b, n, 0);
}
static inline long tg_lseek(int fd, long off, int whence) { return TG_SYS(SYS_lseek, fd, off, whence, 0); }
static inline int tg_ftruncate(int fd, long len) { return (int)TG_SYS(SYS_ftruncate, fd, len, 0, 0); }
static inline void *tg_mmap(void *addr, unsigned long len, int prot, int flags, int fd, long off)
{
    long r = tg_sys6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);
    return r < 0 && r > -4096 ? (void *)-1 : (void *)r;
}
static inline int tg_munmap(void *addr, unsigned long len) { return (int)TG_SYS(SYS_munmap, addr, len, 0, 0); }
static inline int tg_getpid(void) { return (int)TG_SYS(SYS_getpid, 0, 0, 0, 0); }
static inline int tg_gettid(void) { return (int)TG_SYS(SYS_gettid, 0, 0, 0, 0); }
static inline int tg_kill(int pid, int sig) { return (int)TG_SYS(SYS_kill, pid, sig, 0, 0); }
static inline long tg_readlinkat(int dfd, const char *p, char *buf, unsigned long n)
{
    return TG_SYS(SYS_readlinkat, dfd, p, buf, n);
}
/* CLOCK_REALTIME in nanoseconds.  Read at a fork and when a record is made: rare enough for a system
 * call, and libc's clock_gettime would cost a binding of its own. */
static inline long long tg_realtime_ns(void)
{
    struct timespec ts;
    if (TG_SYS(SYS_clock_gettime, CLOCK_REALTIME, &ts, 0, 0) < 0)
        return 0;
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static inline long tg_getcwd(char *buf, unsigned long n) { return TG_SYS(SYS_getcwd, buf, n, 0, 0); }
static inline int tg_fsync(int fd) { return (int)TG_SYS(SYS_fsync, fd, 0, 0, 0); }
static inline int tg_fchmod(int fd, int mode) { return (int)TG_SYS(SYS_fchmod, fd, mode, 0, 0); }
static inline int tg_fchown(int fd, long uid, long gid) { return (int)TG_SYS(SYS_fchown, fd, uid, gid, 0); }
static inline int tg_geteuid(void) { return (int)TG_SYS(SYS_geteuid, 0, 0, 0, 0); }
static inline int tg_getegid(void) { return (int)TG_SYS(SYS_getegid, 0, 0, 0, 0); }
/* Extended attributes (ACLs and security labels among them), no link followed for the path forms. */
static inline long tg_llistxattr(const char *p, char *list, unsigned long n)
{
    return TG_SYS(SYS_llistxattr, p, list, n, 0);
}
static inline long tg_lgetxattr(const char *p, const char *name, void *v, unsigned long n)
{
    return TG_SYS(SYS_lgetxattr, p, name, v, n);
}
static inline long tg_flistxattr(int fd, char *list, unsigned long n) { return TG_SYS(SYS_flistxattr, fd, list, n, 0); }
static inline int tg_fremovexattr(int fd, const char *name) { return (int)TG_SYS(SYS_fremovexattr, fd, name, 0, 0); }
static inline int tg_fsetxattr(int fd, const char *name, const void *v, unsigned long n)
{
    return (int)tg_sys6(SYS_fsetxattr, fd, (long)name, (long)v, (long)n, 0, 0);
}

/* Whether PATH (no link followed) is the root of a mount of its own: statx's STATX_ATTR_MOUNT_ROOT
 * (Linux 5.8).  1, 0, or 0 when it cannot be told (an older kernel: the attribute is not in the
 * mask).  The result's layout is the kernel's (stable since statx came, Linux 4.11), written out
 * here: musl before 1.2.5 has no struct statx.  Only the two fields read are named. */
struct tg_statx {
    uint32_t mask, blksize;
    uint64_t attributes;
    unsigned char between[40];
    uint64_t attributes_mask;
    unsigned char rest[192];
};
_Static_assert(sizeof(struct tg_statx) == 256, "struct statx is 256 bytes");
_Static_assert(offsetof(struct tg_statx, attributes_mask) == 56, "stx_attributes_mask at 0x38");
#define TG_STATX_BASIC_STATS 0x7ffu      /* STATX_BASIC_STATS */
#define TG_STATX_ATTR_MOUNT_ROOT 0x2000u /* STATX_ATTR_MOUNT_ROOT */
static inline int tg_is_mount_root(const char *path)
{
    struct tg_statx sx;
    if (tg_sys6(SYS_statx, AT_FDCWD, (long)path, AT_SYMLINK_NOFOLLOW, TG_STATX_BASIC_STATS, (long)&sx, 0) < 0)
        return 0;
    return (sx.attributes_mask & TG_STATX_ATTR_MOUNT_ROOT) && (sx.attributes & TG_STATX_ATTR_MOUNT_ROOT);
}

#endif
