/* Every intercepted libc symbol, in one file, and the library's constructor: the exported face of
 * the shim.  Each wrapper is a thin layer around one question (is this create tracked? could this
 * name be an entry?) answered by the files below; what happens then is lifecycle.c's.
 *
 * WRAPPED below is the whole list.  Each real function is found with dlsym(RTLD_NEXT) on first use,
 * except that those a signal handler or a fork's child may reach are all found together
 * (resolve_eager) before the program can install its first handler, fork or vfork, and before the
 * shim arms its own handlers: dlsym is not async-signal-safe.  Nothing is looked up at start-up.
 *
 * glibc reaches its own file primitives through hidden aliases: fopen, mkstemp, tmpfile and remove
 * never call the public open/unlink, so each is wrapped by name, and the *64 names are separate
 * dynamic symbols.  This file is built without _FILE_OFFSET_BITS=64, so that `open` and `open64`
 * are two functions here, as they are in libc.
 *
 * musl binds its internal calls directly too (mkstemp's open, fopen's and remove's system calls,
 * signal's sigaction, exit's _Exit are never seen), so the same symbols are wrapped by name there.
 * Its *64 names are the base functions under a second name; glibc-only names (ssignal,
 * sysv_signal) are left out, and exit and __libc_start_main are wrapped to learn the exit status,
 * since musl has no on_exit. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "atomic.h"
#include "config.h"
#include "cs.h"
#include "lifecycle.h"
#include "path.h"
#include "policy.h"
#include "reclaim.h"
#include "registry.h"
#include "signals.h"
#include "sys.h"

/* Not declared by glibc's headers any more, still exported (an alias of signal). */
tg_handler_t bsd_signal(int, tg_handler_t);

#ifdef __GLIBC__
#define IF_GLIBC(...) __VA_ARGS__
#define IF_MUSL(...)
#else
#define IF_GLIBC(...)
#define IF_MUSL(...) __VA_ARGS__
/* musl's headers make each *64 name a macro for the base name: here they are functions. */
#undef open64
#undef openat64
#undef creat64
#undef fopen64
#undef freopen64
#undef tmpfile64
#undef mkstemp64
#undef mkostemp64
#undef mkstemps64
#undef mkostemps64
int open64(const char *, int, ...);
int openat64(int, const char *, int, ...);
int creat64(const char *, mode_t);
FILE *fopen64(const char *, const char *);
FILE *freopen64(const char *, const char *, FILE *);
FILE *tmpfile64(void);
int mkstemp64(char *);
int mkostemp64(char *, int);
int mkstemps64(char *, int);
int mkostemps64(char *, int, int);
/* musl 1.2.5 has renameat2; older ones do not (the wrapper then fails with ENOSYS). */
int renameat2(int, const char *, int, const char *, unsigned);
/* libc's own reserved names, which musl's headers do not declare.  __libc_start_main is how
 * musl's start code (crt1) calls into libc: main, its arguments, and unused pointers. */
typedef int tg_main_fn(int, char **, char **);
// NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
tg_handler_t __sysv_signal(int, tg_handler_t);
// NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
int __libc_start_main(tg_main_fn *, int, char **, void (*)(void), void (*)(void), void (*)(void));
#endif

/* sigset is deprecated in the headers, but old programs still call it. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* Only the wrapped names leave the library (everything else is built hidden). */
#define EXPORT __attribute__((visibility("default")))

/* X(name, eager): eager ones are those POSIX lets a signal handler call (open, unlink, rename,
 * _exit...), or that a fork's child or a vfork child may call first thing; the others are found on
 * first use.  (exit is not async-signal-safe, but handlers call it: under musl, where it is
 * wrapped, it is eager.) */
#define WRAPPED(X)                                                                                 \
    /* creation: mkstemp family and mkdtemp */                                                     \
    X(mkstemp, 0) X(mkstemp64, 0) X(mkostemp, 0) X(mkostemp64, 0) X(mkstemps, 0) X(mkstemps64, 0) \
    X(mkostemps, 0) X(mkostemps64, 0) X(mkdtemp, 0)                                                \
    /* creation: anything that may create under a temp root */                                     \
    X(open, 1) X(open64, 1) X(openat, 1) X(openat64, 1) X(creat, 1) X(creat64, 1) X(fopen, 0)      \
    X(fopen64, 0) X(freopen, 0) X(freopen64, 0) X(mkdir, 1) X(mkdirat, 1) X(tmpfile, 0)            \
    X(tmpfile64, 0)                                                                                \
    /* the last descriptor of a staged write goes, or a write to it fails (atomic.c) */             \
    X(close, 1) X(dup2, 1) X(dup3, 1) IF_GLIBC(X(close_range, 1)) X(fclose, 0) X(write, 1)        \
    X(pwrite, 1) IF_GLIBC(X(pwrite64, 1)) X(writev, 1)                                                       \
    /* removal and publishing: forget the entry */                                                 \
    X(unlink, 1) X(unlinkat, 1) X(remove, 0) X(rmdir, 1) X(rename, 1) X(renameat, 1)               \
    X(renameat2, 1)                                                                                \
    /* the program's view of signal dispositions */                                                \
    X(sigaction, 1) X(signal, 0) X(bsd_signal, 0) IF_GLIBC(X(ssignal, 0) X(sysv_signal, 0))        \
    X(__sysv_signal, 0) X(sigset, 0)                                                               \
    /* process lifetime */                                                                         \
    X(fork, 1) X(_exit, 1) X(_Exit, 1) IF_MUSL(X(exit, 1) X(__libc_start_main, 0))                \
    /* a change of user: the heir marker must go while it still can */                            \
    X(setuid, 0) X(seteuid, 0) X(setreuid, 0) X(setresuid, 0)                                      \
    /* a change of directory: the starting directory is taken before the first one */              \
    X(chdir, 1) X(fchdir, 1)                                                                       \
    /* exec: the new image of this process is told where its record is */                         \
    X(execve, 1) X(fexecve, 1) X(execv, 1) X(execvp, 0) X(execvpe, 0) IF_GLIBC(X(execveat, 1))      \
    /* children started without fork(): they may hand files to this process */                    \
    X(posix_spawn, 0) X(posix_spawnp, 0)

#define DECLARE_REAL(name, eager) static __typeof__(name) *real_##name;
WRAPPED(DECLARE_REAL)

#ifdef __GLIBC__
#define next_symbol(name) dlsym(RTLD_NEXT, name)
#else
/* musl 1.2.4 and later no longer export the *64 names (the dynamic linker maps a program's own
 * references to the base names): look up the base name, the very same function, instead.  A
 * failed lookup (renameat2 before musl 1.2.5) leaves no message for the program's dlerror(). */
static void *next_symbol(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    char base[32];
    size_t l = strlen(name);
    if (!p && l > 2 && l < sizeof base && strcmp(name + l - 2, "64") == 0) {
        memcpy(base, name, l - 2);
        base[l - 2] = '\0';
        p = dlsym(RTLD_NEXT, base);
    }
    if (!p)
        (void)dlerror();
    return p;
}
#endif

/* Another library's initialiser may call a wrapper before this library's own has run, and the
 * lazy ones are found on first use, by whichever threads get there first: they all store the same
 * pointer, through atomics (plain moves on x86 and arm64) so that it is not a data race. */
static inline void *resolve(void **slot, const char *name)
{
    void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (__builtin_expect(p == NULL, 0)) {
        p = next_symbol(name);
        __atomic_store_n(slot, p, __ATOMIC_RELEASE);
    }
    return p;
}
#define REAL(name) ((__typeof__(name) *)resolve((void **)&real_##name, #name))

/* Every eager function at once, and the real sigaction for the signal mechanism: before the first
 * handler is installed, the first fork, every vfork and the shim's own handlers (lifecycle.c).
 * After that, no wrapper a handler may call looks anything up. */
static _Atomic int eager_done;
static void resolve_eager(void)
{
    if (atomic_load_explicit(&eager_done, memory_order_acquire))
        return;
#define RESOLVE(name, eager)                                                                       \
    if (eager)                                                                                     \
        (void)REAL(name);
    WRAPPED(RESOLVE)
#undef RESOLVE
    tg_signals_use(REAL(sigaction));
    atomic_store_explicit(&eager_done, 1, memory_order_release);
}

/* The files below leave errno as they found it (their system calls go through sys.h, and the rare
 * calls into libc that may set it save it first): a wrapper returns the real call's errno without
 * saving it around the shim's own work. */

/* Tracking applies: the shim is on, this thread is not already inside the shim (a program's signal
 * handler that interrupted a wrapper calls straight through), and not a vfork child (cs.h). */
static inline int watching(void) { return tg_tracking && !tg_tls.in && !tg_tls.vfork; }
static inline int forgetting(void) { return tg_reg_nonempty() && !tg_tls.in && !tg_tls.vfork; }

/* ---- creation ---------------------------------------------------------------------------- */

/* Where a create lands and what the policy says of it: resolved and decided once per create. */
struct where {
    const char *abs; /* the path itself when absolute and already normal, else buf */
    char buf[TG_PATH_MAX];
    int len;
    int when; /* 0: not tracked, else an enum tg_when */
};

static int decide(int dfd, const char *path, enum tg_kind kind, struct where *w)
{
    w->len = tg_resolve_view(dfd, path, w->buf, &w->abs);
    w->when = w->len >= 0 ? tg_decide(w->abs, (size_t)w->len, kind) : 0;
    return w->when;
}

/* Lists what a create decided as W produced: FD >= 0 is the new file's descriptor; otherwise the
 * object is looked up without following links (and must be a directory when DIR).  Call inside. */
static inline __attribute__((always_inline)) void track(const struct where *w, int fd, enum tg_kind kind, int dir,
                                                        const struct tg_call *call)
{
    struct stat st;
    if ((fd >= 0 ? tg_fstat(fd, &st) : tg_fstatat(AT_FDCWD, w->abs, &st, AT_SYMLINK_NOFOLLOW)) < 0)
        return;
    if (dir && !S_ISDIR(st.st_mode))
        return;
    tg_track(w->abs, (size_t)w->len, &st, kind, w->when, call);
}

/* A create whose path is known only once it is done (the template filled in). */
static void track_made(const char *path, int fd, enum tg_kind kind, const struct tg_call *call)
{
    struct where w;
    if (decide(AT_FDCWD, path, kind, &w))
        track(&w, fd, kind, fd < 0, call);
}

/* The call being made: the function, and where in the program it is called from (for leak
 * reports).  Only in an exported wrapper, whose return address is the program's call. */
#define CALL(api) (&(const struct tg_call){(api), __builtin_return_address(0)})

#define MKSTEMP_LIKE(call, tmpl, api)                                                                   \
    do {                                                                                           \
        if (!watching())                                                                           \
            return call;                                                                           \
        tg_enter();                                                                                \
        int fd_ = call;                                                                            \
        if (fd_ >= 0)                                                                              \
            track_made(tmpl, fd_, TG_K_MKSTEMP, CALL(api));                                           \
        tg_leave();                                                                                \
        return fd_;                                                                                \
    } while (0)

EXPORT int mkstemp(char *t) { MKSTEMP_LIKE(REAL(mkstemp)(t), t, TG_API_MKSTEMP); }
EXPORT int mkstemp64(char *t) { MKSTEMP_LIKE(REAL(mkstemp64)(t), t, TG_API_MKSTEMP64); }
EXPORT int mkostemp(char *t, int fl) { MKSTEMP_LIKE(REAL(mkostemp)(t, fl), t, TG_API_MKOSTEMP); }
EXPORT int mkostemp64(char *t, int fl) { MKSTEMP_LIKE(REAL(mkostemp64)(t, fl), t, TG_API_MKOSTEMP64); }
EXPORT int mkstemps(char *t, int sl) { MKSTEMP_LIKE(REAL(mkstemps)(t, sl), t, TG_API_MKSTEMPS); }
EXPORT int mkstemps64(char *t, int sl) { MKSTEMP_LIKE(REAL(mkstemps64)(t, sl), t, TG_API_MKSTEMPS64); }
EXPORT int mkostemps(char *t, int sl, int fl) { MKSTEMP_LIKE(REAL(mkostemps)(t, sl, fl), t, TG_API_MKOSTEMPS); }
EXPORT int mkostemps64(char *t, int sl, int fl) { MKSTEMP_LIKE(REAL(mkostemps64)(t, sl, fl), t, TG_API_MKOSTEMPS64); }

EXPORT char *mkdtemp(char *t)
{
    if (!watching())
        return REAL(mkdtemp)(t);
    tg_enter();
    char *r = REAL(mkdtemp)(t);
    if (r)
        track_made(r, -1, TG_K_MKDTEMP, CALL(TG_API_MKDTEMP));
    tg_leave();
    return r;
}

enum opener { OPEN, OPEN64, OPENAT, OPENAT64 };

static int call_open(enum opener op, int dfd, const char *p, int flags, mode_t mode)
{
    switch (op) {
    case OPEN: return REAL(open)(p, flags, mode);
    case OPEN64: return REAL(open64)(p, flags, mode);
    case OPENAT: return REAL(openat)(dfd, p, flags, mode);
    default: return REAL(openat64)(dfd, p, flags, mode);
    }
}

/* open with O_CREAT, where tracking applies.  Only a call that really created the file may track
 * it: without O_EXCL, the create is first tried with O_EXCL; if that fails (the file existed, or
 * anything else), the program's own call runs untouched and nothing is tracked. */
static int create_open_at(enum opener op, int dfd, const char *path, int flags, mode_t mode,
                          const struct tg_call *call)
{
    /* How mkstemp itself opens, and Python's, Ruby's and Perl's temp libraries. */
    enum tg_kind kind = (flags & O_EXCL) && (flags & O_ACCMODE) == O_RDWR && !(mode & 077)
                            ? TG_K_EXCL_PRIVATE
                            : TG_K_OTHER;
    struct where w;
    tg_enter();
    if (!decide(dfd, path, kind, &w)) {
        tg_leave();
        return call_open(op, dfd, path, flags, mode);
    }
    int fd = call_open(op, dfd, path, flags | O_EXCL, mode);
    int e = errno;
    if (fd >= 0)
        track(&w, fd, kind, 0, call);
    tg_leave();
    if (fd < 0 && !(flags & O_EXCL))
        return call_open(op, dfd, path, flags, mode);
    errno = e;
    return fd;
}

/* Declares MODE, the optional third argument of an open-like call (only there with O_CREAT or
 * O_TMPFILE).  The names are declared and passed to va_start, so they cannot be parenthesised. */
#define HAS_MODE(flags) (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)
#define OPEN_MODE(flags, mode) /* NOLINT(bugprone-macro-parentheses) */                            \
    mode_t mode = 0;           /* NOLINT(bugprone-macro-parentheses) */                            \
    if (HAS_MODE(flags)) {                                                                         \
        va_list ap_;                                                                               \
        va_start(ap_, flags); /* NOLINT(bugprone-macro-parentheses) */                             \
        mode = (mode_t)va_arg(ap_, int); /* NOLINT(bugprone-macro-parentheses) */                  \
        va_end(ap_);                                                                               \
    }

/* An open of a tracked path by name, when reclaiming while alive is on: noted, so that a file the
 * program reads again is not taken for one it left behind (reclaim.c).  No system call. */
static void opened(const char *p)
{
    if (tg_reg_nonempty() && !tg_tls.in && !tg_tls.vfork)
        tg_reclaim_note_open(p);
}

/* What the open wrappers do beyond the program's own open, where one of these features is on (set
 * once at load): one flag test on the path every program pays. */
static int open_hooks;

/* What the open hooks return when the program's own open is to run.  The hooks return the
 * descriptor (or -1, errno set) instead of storing it: no local of the wrapper has its address
 * taken, so its common path stays a tail call to libc. */
#define NOT_HOOKED INT_MIN

/* An open that may be a staged write (TMPGUARD_ATOMIC), or reach a staged file of this process:
 * its result when atomic.c did it, else NOT_HOOKED. */
static int atomic_open(int dfd, const char *p, int flags, mode_t mode, const struct tg_call *call)
{
    if (!tg_atomic_concerns(flags) || !watching())
        return NOT_HOOKED;
    tg_enter();
    int fd;
    int r = tg_atomic_open(dfd, p, flags, mode, &fd, call);
    tg_leave();
    return r ? fd : NOT_HOOKED;
}

/* The opens without a mode (no create): reclaim's note of a use, and atomic writes' O_TRUNC. */
static int open_hook(int dfd, const char *p, int flags, const struct tg_call *call)
{
    if (tg_reclaim_on)
        opened(p);
    return atomic_open(dfd, p, flags, 0, call);
}

/* Whether an open without a mode is any hook's business: the test stays in the wrapper, so that a
 * read in a process with patterns (and nothing staged) costs two loads, not a call. */
static inline int hooks_concern(int flags) { return tg_reclaim_on || tg_atomic_concerns(flags); }

/* The path every program pays: a flag test and a call (and, where reclaiming is on, a look at the
 * name).
 *
 * open's third argument exists only with O_CREAT or O_TMPFILE.  On x86-64 a variadic call passes it
 * in the same register as a fixed argument, so there the wrappers take it as a fixed one and are
 * exported under the variadic names: no va_list, hence no spill of the argument registers on every
 * open (four instructions of the 27 an open costs); it is read only when it was passed.
 * Elsewhere, the portable va_arg. */
#define OPEN_BODY(real, opener, api, dfd, ...)                                                     \
    int fd_;                                                                                       \
    if (__builtin_expect(!HAS_MODE(flags), 1)) {                                                   \
        if (__builtin_expect(open_hooks, 0) && hooks_concern(flags) &&                             \
            (fd_ = open_hook(dfd, p, flags, CALL(api))) != NOT_HOOKED)                             \
            return fd_;                                                                            \
        return REAL(real)(__VA_ARGS__);                                                            \
    }                                                                                              \
    if (__builtin_expect(open_hooks, 0) && (fd_ = atomic_open(dfd, p, flags, mode, CALL(api))) != NOT_HOOKED) \
        return fd_;                                                                                \
    if (!(flags & O_CREAT) || !watching())                                                         \
        return REAL(real)(__VA_ARGS__, mode);                                                      \
    return create_open_at(opener, dfd, p, flags, mode, CALL(api))

#if defined(__x86_64__)
#pragma GCC diagnostic push
#ifndef __clang__ /* (clang has no such warning, and would warn of the unknown name) */
#pragma GCC diagnostic ignored "-Wattribute-alias"
#endif
#define OPEN_WRAPPER(name, opener, api)                                                               \
    static int name##_fixed(const char *p, int flags, mode_t mode)                                 \
    {                                                                                              \
        OPEN_BODY(name, opener, api, AT_FDCWD, p, flags);                                               \
    }                                                                                              \
    EXPORT int name(const char *p, int flags, ...) __attribute__((alias(#name "_fixed")))
#define OPENAT_WRAPPER(name, opener, api)                                                               \
    static int name##_fixed(int dfd, const char *p, int flags, mode_t mode)                        \
    {                                                                                              \
        OPEN_BODY(name, opener, api, dfd, dfd, p, flags);                                               \
    }                                                                                              \
    EXPORT int name(int dfd, const char *p, int flags, ...) __attribute__((alias(#name "_fixed")))
#else
#define OPEN_WRAPPER(name, opener, api)                                                               \
    EXPORT int name(const char *p, int flags, ...)                                                 \
    {                                                                                              \
        OPEN_MODE(flags, mode);                                                                    \
        OPEN_BODY(name, opener, api, AT_FDCWD, p, flags);                                               \
    }
#define OPENAT_WRAPPER(name, opener, api)                                                               \
    EXPORT int name(int dfd, const char *p, int flags, ...)                                        \
    {                                                                                              \
        OPEN_MODE(flags, mode);                                                                    \
        OPEN_BODY(name, opener, api, dfd, dfd, p, flags);                                               \
    }
#endif

OPEN_WRAPPER(open, OPEN, TG_API_OPEN);
OPEN_WRAPPER(open64, OPEN64, TG_API_OPEN64);
OPENAT_WRAPPER(openat, OPENAT, TG_API_OPENAT);
OPENAT_WRAPPER(openat64, OPENAT64, TG_API_OPENAT64);
#if defined(__x86_64__)
#pragma GCC diagnostic pop
#endif

/* creat is open(O_CREAT|O_WRONLY|O_TRUNC). */
EXPORT int creat(const char *p, mode_t mode)
{
    int fd;
    if (open_hooks && (fd = atomic_open(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, mode, CALL(TG_API_CREAT))) != NOT_HOOKED)
        return fd;
    if (!watching())
        return REAL(creat)(p, mode);
    return create_open_at(OPEN, AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, mode, CALL(TG_API_CREAT));
}

EXPORT int creat64(const char *p, mode_t mode)
{
    int fd;
    if (open_hooks && (fd = atomic_open(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, mode, CALL(TG_API_CREAT64))) != NOT_HOOKED)
        return fd;
    if (!watching())
        return REAL(creat64)(p, mode);
    return create_open_at(OPEN64, AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, mode, CALL(TG_API_CREAT64));
}

static int mode_creates(const char *mode) { return mode && (mode[0] == 'w' || mode[0] == 'a'); }

/* fopen that creates: tried first with 'x' (O_EXCL), like create_open. */
static FILE *create_fopen(FILE *(*fn)(const char *, const char *), const char *path, const char *mode,
                          const struct tg_call *call)
{
    char xmode[64];
    struct where w;
    size_t ml = strlen(mode);
    tg_enter();
    if (ml + 2 > sizeof xmode || !decide(AT_FDCWD, path, TG_K_OTHER, &w)) {
        tg_leave();
        return fn(path, mode);
    }
    int had_x = strchr(mode, 'x') != NULL;
    /* glibc reads the flags that follow the first character in any order: "w+b" -> "wx+b". */
    xmode[0] = mode[0];
    xmode[1] = 'x';
    memcpy(xmode + 2, mode + 1, ml); /* ml bytes from mode + 1: the rest and its NUL */ // NOLINT(bugprone-not-null-terminated-result)
    FILE *f = fn(path, had_x ? mode : xmode);
    int e = errno;
    if (f)
        track(&w, fileno(f), TG_K_OTHER, 0, call);
    tg_leave();
    if (!f && !had_x)
        return fn(path, mode);
    errno = e;
    return f;
}

/* fopen of a file that may be a staged write, or reach one: 1 with *F when atomic.c did it. */
static int atomic_fopen(FILE *(*fn)(const char *, const char *), const char *p, const char *m, FILE **f,
                        const struct tg_call *call)
{
    /* Only "w" modes are staged; any mode may reach a staged file of this process by name. */
    if (!open_hooks || !p || !m || !tg_atomic_concerns(m[0] == 'w' ? O_WRONLY | O_TRUNC : O_RDONLY) || !watching())
        return 0;
    tg_enter();
    int r = tg_atomic_fopen(p, m, fn, f, call);
    tg_leave();
    return r;
}

EXPORT FILE *fopen(const char *p, const char *m)
{
    FILE *f;
    if (atomic_fopen(REAL(fopen), p, m, &f, CALL(TG_API_FOPEN)))
        return f;
    if (!mode_creates(m) || !watching())
        return REAL(fopen)(p, m);
    return create_fopen(REAL(fopen), p, m, CALL(TG_API_FOPEN));
}

EXPORT FILE *fopen64(const char *p, const char *m)
{
    FILE *f;
    if (atomic_fopen(REAL(fopen64), p, m, &f, CALL(TG_API_FOPEN64)))
        return f;
    if (!mode_creates(m) || !watching())
        return REAL(fopen64)(p, m);
    return create_fopen(REAL(fopen64), p, m, CALL(TG_API_FOPEN64));
}

/* freopen closes the old stream before it opens, so it cannot be retried: the file is created
 * first with O_EXCL by the shim itself (same mode bits fopen would use), then freopen opens it.
 * If freopen then fails, the shim's file goes again. */
static FILE *create_freopen(FILE *(*fn)(const char *, const char *, FILE *), const char *path,
                            const char *mode, FILE *stream, const struct tg_call *call)
{
    struct where w;
    struct stat st;
    tg_enter();
    int fd = decide(AT_FDCWD, path, TG_K_OTHER, &w)
                 ? tg_openat(AT_FDCWD, w.abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666)
                 : -1;
    if (fd < 0 || tg_fstat(fd, &st) < 0) {
        if (fd >= 0)
            tg_close(fd);
        tg_leave();
        return fn(path, mode, stream);
    }
    tg_close(fd);
    FILE *f = fn(path, mode, stream);
    int e = errno;
    struct stat now;
    if (f && tg_fstat(fileno(f), &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) {
        tg_track(w.abs, (size_t)w.len, &now, TG_K_OTHER, w.when, call);
    } else if (!f && tg_fstatat(AT_FDCWD, w.abs, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st.st_dev &&
               now.st_ino == st.st_ino) {
        tg_unlinkat(AT_FDCWD, w.abs, 0);
    }
    tg_leave();
    errno = e;
    return f;
}

/* freopen of a file that may be a staged write, or reach one: 1 with *F when atomic.c did it. */
static int atomic_freopen(FILE *(*fn)(const char *, const char *, FILE *), const char *p, const char *m, FILE *s,
                          FILE **f, const struct tg_call *call)
{
    if (!open_hooks || !p || !m || !tg_atomic_concerns(m[0] == 'w' ? O_WRONLY | O_TRUNC : O_RDONLY) || !watching())
        return 0;
    tg_enter();
    int r = tg_atomic_freopen(p, m, s, fn, f, call);
    tg_leave();
    return r;
}

EXPORT FILE *freopen(const char *p, const char *m, FILE *s)
{
    FILE *f;
    if (atomic_freopen(REAL(freopen), p, m, s, &f, CALL(TG_API_FREOPEN)))
        return f;
    if (!p || !mode_creates(m) || !watching())
        return REAL(freopen)(p, m, s);
    return create_freopen(REAL(freopen), p, m, s, CALL(TG_API_FREOPEN));
}

EXPORT FILE *freopen64(const char *p, const char *m, FILE *s)
{
    FILE *f;
    if (atomic_freopen(REAL(freopen64), p, m, s, &f, CALL(TG_API_FREOPEN64)))
        return f;
    if (!p || !mode_creates(m) || !watching())
        return REAL(freopen64)(p, m, s);
    return create_freopen(REAL(freopen64), p, m, s, CALL(TG_API_FREOPEN64));
}

static int create_dir(int dfd, const char *p, mode_t mode, int at, const struct tg_call *call)
{
    /* What a hand-off program makes is scratch for its caller by definition: `mktemp -d` makes its
     * directory with plain mkdir (gnulib's tempname), and goes as a mkdtemp directory does. */
    enum tg_kind kind = tg_cfg.handoff ? TG_K_MKDTEMP : TG_K_OTHER;
    struct where w;
    tg_enter();
    if (!decide(dfd, p, kind, &w)) {
        tg_leave();
        return at ? REAL(mkdirat)(dfd, p, mode) : REAL(mkdir)(p, mode);
    }
    int r = at ? REAL(mkdirat)(dfd, p, mode) : REAL(mkdir)(p, mode);
    if (r == 0) {
        int e = errno;
        track(&w, -1, kind, 1, call);
        errno = e;
    }
    tg_leave();
    return r;
}

EXPORT int mkdir(const char *p, mode_t mode)
{
    if (!watching())
        return REAL(mkdir)(p, mode);
    return create_dir(AT_FDCWD, p, mode, 0, CALL(TG_API_MKDIR));
}

EXPORT int mkdirat(int dfd, const char *p, mode_t mode)
{
    if (!watching())
        return REAL(mkdirat)(dfd, p, mode);
    return create_dir(dfd, p, mode, 1, CALL(TG_API_MKDIRAT));
}

/* glibc's tmpfile opens O_TMPFILE (no name at all) where the filesystem allows it, else creates a
 * name and unlinks it at once.  Running it inside defers fatal signals across that window, so
 * no signal can leave the name behind. */
EXPORT FILE *tmpfile(void)
{
    if (!watching())
        return REAL(tmpfile)();
    tg_enter();
    FILE *f = REAL(tmpfile)();
    tg_leave();
    return f;
}

EXPORT FILE *tmpfile64(void)
{
    if (!watching())
        return REAL(tmpfile64)();
    tg_enter();
    FILE *f = REAL(tmpfile64)();
    tg_leave();
    return f;
}

/* ---- the last descriptor of a staged write ------------------------------------------------- */

/* Only while this process has a staged write (atomic.c): one load for every other program. */
static inline int staging(void)
{
    return __builtin_expect(atomic_load_explicit(&tg_atomic_staged, memory_order_relaxed) != 0, 0) &&
           !tg_tls.in && !tg_tls.vfork;
}

static int call_close(int fd) { return REAL(close)(fd); }
static int call_fclose(FILE *f) { return REAL(fclose)(f); }

/* The slow halves, out of line: the wrappers' common path stays a test and a tail call (no stack
 * frame), about five instructions on every close of every program. */
static __attribute__((noinline)) int close_staging(int fd)
{
    if (tg_tls.in || tg_tls.vfork)
        return REAL(close)(fd);
    tg_enter();
    int r = tg_atomic_close(fd, call_close);
    tg_leave();
    return r;
}

static __attribute__((noinline)) int fclose_staging(FILE *f)
{
    if (tg_tls.in || tg_tls.vfork)
        return REAL(fclose)(f);
    tg_enter();
    int r = tg_atomic_fclose(f, call_fclose);
    tg_leave();
    return r;
}

EXPORT int close(int fd)
{
    if (__builtin_expect(atomic_load_explicit(&tg_atomic_staged, memory_order_relaxed) != 0, 0))
        return close_staging(fd);
    return REAL(close)(fd);
}

EXPORT int fclose(FILE *f)
{
    if (__builtin_expect(atomic_load_explicit(&tg_atomic_staged, memory_order_relaxed) != 0, 0))
        return fclose_staging(f);
    return REAL(fclose)(f);
}

/* dup2 and dup3 close NEWFD first: a shell's redirection back (dup2 of the saved descriptor onto 1)
 * is how a staged file's last descriptor goes. */
#define DUPPING(call, oldfd, newfd)                                                                \
    do {                                                                                           \
        if (!staging())                                                                            \
            return call;                                                                           \
        int r_ = call;                                                                             \
        if (r_ >= 0) {                                                                             \
            int e_ = errno;                                                                        \
            tg_enter();                                                                            \
            tg_atomic_duped(oldfd, newfd);                                                         \
            tg_leave();                                                                            \
            errno = e_;                                                                            \
        }                                                                                          \
        return r_;                                                                                 \
    } while (0)

EXPORT int dup2(int oldfd, int newfd) { DUPPING(REAL(dup2)(oldfd, newfd), oldfd, newfd); }
EXPORT int dup3(int oldfd, int newfd, int fl) { DUPPING(REAL(dup3)(oldfd, newfd, fl), oldfd, newfd); }

#ifdef __GLIBC__
EXPORT int close_range(unsigned lo, unsigned hi, int fl)
{
    if (!staging())
        return REAL(close_range)(lo, hi, fl);
    int r = REAL(close_range)(lo, hi, fl);
    if (r == 0 && !(fl & CLOSE_RANGE_CLOEXEC)) {
        int e = errno;
        tg_enter();
        tg_atomic_closed_range(lo, hi);
        tg_leave();
        errno = e;
    }
    return r;
}
#endif

/* A write that fails (the disk full) leaves a staged file that is never committed.  Every program's
 * writes pass here: a test of the result, and a load only when it failed. */
#define WRITING(call, fd)                                                                          \
    do {                                                                                           \
        ssize_t r_ = call;                                                                         \
        if (__builtin_expect(r_ < 0, 0) && staging()) {                                            \
            int e_ = errno;                                                                        \
            tg_enter();                                                                            \
            tg_atomic_write_failed(fd, e_);                                                        \
            tg_leave();                                                                            \
            errno = e_;                                                                            \
        }                                                                                          \
        return r_;                                                                                 \
    } while (0)

EXPORT ssize_t write(int fd, const void *b, size_t n) { WRITING(REAL(write)(fd, b, n), fd); }
EXPORT ssize_t pwrite(int fd, const void *b, size_t n, off_t off) { WRITING(REAL(pwrite)(fd, b, n, off), fd); }
#ifdef __GLIBC__ /* (musl's pwrite64 is a macro for pwrite: its programs call pwrite) */
EXPORT ssize_t pwrite64(int fd, const void *b, size_t n, off64_t off) { WRITING(REAL(pwrite64)(fd, b, n, off), fd); }
#endif
EXPORT ssize_t writev(int fd, const struct iovec *v, int n) { WRITING(REAL(writev)(fd, v, n), fd); }

/* ---- removal and publishing --------------------------------------------------------------- */

/* After a successful removal or rename, the entries at these paths are no longer ours to remove.
 * The name filter settles nearly every call from the last component alone; an absolute path as
 * the program gave it is, nearly always, the normal one the entry holds, and is looked up as it
 * is; anything else is resolved first. */
static void forget(int dfd, const char *path, int removed)
{
    if (!path)
        return;
    size_t len = strlen(path);
    const char *slash = memrchr(path, '/', len), *name = slash ? slash + 1 : path;
    size_t nl = len - (size_t)(name - path);
    int plain = nl && !(name[0] == '.' && (nl == 1 || (nl == 2 && name[1] == '.')));
    uint32_t h = plain ? tg_reg_hash(name, nl) : 0;
    if (plain && !tg_reg_may_hold_h(h))
        return;
    if (plain && path[0] == '/' && tg_reg_forget_h(path, len, h, removed))
        return;
    char abs[TG_PATH_MAX];
    int l = tg_resolve(dfd, path, abs);
    if (l >= 0)
        tg_reg_forget(abs, (size_t)l, removed);
}

#define FORGETTING(call, dfd1, p1, gone1, dfd2, p2)                                                    \
    do {                                                                                           \
        if (!forgetting())                                                                         \
            return call;                                                                           \
        tg_enter();                                                                                \
        int r_ = call;                                                                             \
        if (r_ == 0) {                                                                             \
            forget(dfd1, p1, gone1);                                                               \
            if (p2)                                                                                \
                forget(dfd2, p2, 1);                                                               \
        }                                                                                          \
        tg_leave();                                                                                \
        return r_;                                                                                 \
    } while (0)

EXPORT int unlink(const char *p) { FORGETTING(REAL(unlink)(p), AT_FDCWD, p, 1, AT_FDCWD, NULL); }
EXPORT int unlinkat(int d, const char *p, int fl) { FORGETTING(REAL(unlinkat)(d, p, fl), d, p, 1, d, NULL); }
EXPORT int remove(const char *p) { FORGETTING(REAL(remove)(p), AT_FDCWD, p, 1, AT_FDCWD, NULL); }
EXPORT int rmdir(const char *p) { FORGETTING(REAL(rmdir)(p), AT_FDCWD, p, 1, AT_FDCWD, NULL); }
/* A rename publishes the source (the atomic-write pattern) and replaces whatever the target was. */
EXPORT int rename(const char *o, const char *n) { FORGETTING(REAL(rename)(o, n), AT_FDCWD, o, 0, AT_FDCWD, n); }
EXPORT int renameat(int od, const char *o, int nd, const char *n)
{
    FORGETTING(REAL(renameat)(od, o, nd, n), od, o, 0, nd, n);
}
EXPORT int renameat2(int od, const char *o, int nd, const char *n, unsigned fl)
{
#ifndef __GLIBC__
    if (!REAL(renameat2)) { /* a musl without it: as a kernel without it would answer */
        errno = ENOSYS;
        return -1;
    }
#endif
    FORGETTING(REAL(renameat2)(od, o, nd, n, fl), od, o, 0, nd, n);
}

/* ---- signal dispositions ------------------------------------------------------------------ */

/* Whether ACT installs a handler of the program's: from then on a signal may run code that calls
 * wrapped functions, which must not look anything up there. */
static int installs_handler(const struct sigaction *act)
{
    return act && ((act->sa_flags & SA_SIGINFO) || (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN));
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    /* The real sigaction is known to the signal mechanism from the first call on (a library
     * initialised before this one may call first). */
    if (!atomic_load_explicit(&eager_done, memory_order_acquire)) {
        if (installs_handler(act))
            resolve_eager();
        else
            tg_signals_use(REAL(sigaction));
    }
    return tg_sigaction(sig, act, old);
}

/* glibc's signal() and friends call the hidden __sigaction, so each is answered here. */
#define SIGNAL_LIKE(name, flags, mask_self)                                                        \
    EXPORT tg_handler_t name(int sig, tg_handler_t h)                                              \
    {                                                                                              \
        if (h != SIG_DFL && h != SIG_IGN)                                                          \
            resolve_eager();                                                                       \
        if (!atomic_load(&tg_signals_armed))                                                       \
            return REAL(name)(sig, h);                                                            \
        return tg_signal_like(sig, h, flags, mask_self);                                           \
    }
#ifdef __GLIBC__
SIGNAL_LIKE(signal, SA_RESTART, 1)
SIGNAL_LIKE(bsd_signal, SA_RESTART, 1)
SIGNAL_LIKE(ssignal, SA_RESTART, 1)
SIGNAL_LIKE(sysv_signal, SA_RESETHAND | SA_NODEFER, 0)
SIGNAL_LIKE(__sysv_signal, SA_RESETHAND | SA_NODEFER, 0)
#else
/* musl: bsd_signal and __sysv_signal are signal itself, which leaves sa_mask empty. */
SIGNAL_LIKE(signal, SA_RESTART, 0)
SIGNAL_LIKE(bsd_signal, SA_RESTART, 0)
SIGNAL_LIKE(__sysv_signal, SA_RESTART, 0)
#endif

/* System V sigset: SIG_HOLD blocks the signal; anything else sets the disposition and unblocks. */
EXPORT tg_handler_t sigset(int sig, tg_handler_t h)
{
    if (h != SIG_DFL && h != SIG_IGN && h != SIG_HOLD)
        resolve_eager();
    if (!atomic_load(&tg_signals_armed))
        return REAL(sigset)(sig, h);
    sigset_t one, old;
    struct sigaction cur;
    if (sig <= 0 || sig >= NSIG || sigemptyset(&one) < 0 || sigaddset(&one, sig) < 0) {
        errno = EINVAL;
        return SIG_ERR;
    }
    if (h == SIG_HOLD) {
        if (tg_sigaction(sig, NULL, &cur) < 0 || sigprocmask(SIG_BLOCK, &one, &old) != 0)
            return SIG_ERR;
        return sigismember(&old, sig) ? SIG_HOLD : cur.sa_handler;
    }
    tg_handler_t prev = tg_signal_like(sig, h, 0, 0);
    if (prev == SIG_ERR || sigprocmask(SIG_UNBLOCK, &one, &old) != 0)
        return SIG_ERR;
    return sigismember(&old, sig) ? SIG_HOLD : prev;
}

/* ---- process lifetime --------------------------------------------------------------------- */

EXPORT pid_t fork(void)
{
    pid_t p = REAL(fork)();
    if (p > 0)
        tg_forked(p);
    return p;
}

#if defined(__x86_64__)
/* vfork's child borrows its parent's memory and stack until it execs or _exits, and Python's
 * subprocess, Java's VFORK launcher and busybox call it.  Whatever the child calls through the
 * shim (subprocess restores SIGPIPE and SIGXFSZ to SIG_DFL there) would be written into the
 * parent's bookkeeping, so the child is marked (tg_tls.vfork, in the thread's TLS, which the child
 * shares) and the wrappers pass straight through while it runs.  The real functions it may call
 * are found before (resolve_eager): no lookup in the child.
 *
 * It cannot be a C function: the child returns through it first and the calls it then makes reuse
 * that stack, so the parent, resuming, would find its return address overwritten.  As libc's own
 * vfork does, the return address is kept in a register across the system call (rdi: the kernel
 * preserves it, and the child's copy is its own), not on the stack.  The parent clears the mark
 * when the call returns to it; a failure sets errno through a tail call.  (A shadow stack, which
 * glibc's vfork also handles, is not enabled for these programs.) */
__attribute__((used)) void tg_before_vfork(void)
{
    resolve_eager();
    if (tg_tracking && !tg_tls.vfork)
        tg_spawning();
}
__attribute__((used)) int tg_vfork_failed(int err)
{
    errno = err;
    return -1;
}
#define TG_STR2(x) #x
#define TG_STR(x) TG_STR2(x)
__asm__(".text\n"
        ".globl vfork\n"
        ".type vfork, @function\n"
        "vfork:\n"
        "    subq $8, %rsp\n" /* the stack 16-aligned for the call */
        "    call tg_before_vfork\n"
        "    addq $8, %rsp\n"
        "    movq tg_tls@gottpoff(%rip), %rax\n"
        "    movl $1, %fs:" TG_STR(TG_TLS_VFORK_OFFSET) "(%rax)\n"
        "    popq %rdi\n"
        "    movl $58, %eax\n" /* SYS_vfork */
        "    syscall\n"
        "    pushq %rdi\n"
        "    testq %rax, %rax\n"
        "    jz 1f\n"
        "    movq tg_tls@gottpoff(%rip), %rdx\n"
        "    movl $0, %fs:" TG_STR(TG_TLS_VFORK_OFFSET) "(%rdx)\n"
        "    cmpq $-4095, %rax\n"
        "    jae 2f\n"
        "1:  ret\n"
        "2:  movq %rax, %rdi\n"
        "    negq %rdi\n"
        "    jmp tg_vfork_failed\n"
        ".size vfork, .-vfork\n");
#endif

/* posix_spawn's child runs no fork handler (glibc clones it in the parent's memory): the shim only
 * notes that this process started someone, who may hand it files (mktemp). */
EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (tg_tracking && !tg_tls.vfork)
        tg_spawning();
    return REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (tg_tracking && !tg_tls.vfork)
        tg_spawning();
    return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
}

/* A process that becomes another user can no longer remove what it keeps in its first user's state
 * directory (heirs.c). */
#define UID_CHANGE(call)                                                                           \
    do {                                                                                           \
        if (tg_tracking && !tg_tls.vfork)                                                          \
            tg_before_uid_change();                                                                \
        return call;                                                                               \
    } while (0)

EXPORT int setuid(uid_t u) { UID_CHANGE(REAL(setuid)(u)); }
EXPORT int seteuid(uid_t u) { UID_CHANGE(REAL(seteuid)(u)); }
EXPORT int setreuid(uid_t r, uid_t e) { UID_CHANGE(REAL(setreuid)(r, e)); }
EXPORT int setresuid(uid_t r, uid_t e, uid_t s) { UID_CHANGE(REAL(setresuid)(r, e, s)); }

/* The starting directory (the command-line and workspace rules resolve against it) is the current
 * one until the first change: it is taken then, if no create has needed it before. */
EXPORT int chdir(const char *p)
{
    if (tg_tracking && !tg_tls.in && !tg_tls.vfork)
        tg_policy_before_chdir();
    return REAL(chdir)(p);
}

EXPORT int fchdir(int fd)
{
    if (tg_tracking && !tg_tls.in && !tg_tls.vfork)
        tg_policy_before_chdir();
    return REAL(fchdir)(fd);
}

/* ---- exec ----------------------------------------------------------------------------------- */

/* An exec replaces the image, not the process: what it created is still its own, and the new image
 * adopts the record at load (lifecycle.c adds the note to the environment it gets).  When there is
 * nothing to add, each call goes to its own real function unchanged. */
extern char **environ;

#define EXEC_WITH_ENV(real_call_with_env, envp, plain_call)                                        \
    do {                                                                                           \
        struct tg_exec_env x_;                                                                     \
        char *const *env_ = tg_exec_env((envp), &x_);                                              \
        if (env_ == (envp))                                                                        \
            return plain_call;                                                                     \
        int r_ = real_call_with_env;                                                               \
        int e_ = errno;                                                                            \
        tg_exec_env_done(&x_);                                                                     \
        errno = e_;                                                                                \
        return r_;                                                                                 \
    } while (0)

EXPORT int execve(const char *p, char *const argv[], char *const envp[])
{
    EXEC_WITH_ENV(REAL(execve)(p, argv, env_), envp, REAL(execve)(p, argv, envp));
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    EXEC_WITH_ENV(REAL(fexecve)(fd, argv, env_), envp, REAL(fexecve)(fd, argv, envp));
}

EXPORT int execvpe(const char *f, char *const argv[], char *const envp[])
{
    EXEC_WITH_ENV(REAL(execvpe)(f, argv, env_), envp, REAL(execvpe)(f, argv, envp));
}

EXPORT int execv(const char *p, char *const argv[])
{
    EXEC_WITH_ENV(REAL(execve)(p, argv, env_), environ, REAL(execv)(p, argv));
}

EXPORT int execvp(const char *f, char *const argv[])
{
    EXEC_WITH_ENV(REAL(execvpe)(f, argv, env_), environ, REAL(execvp)(f, argv));
}

#ifdef __GLIBC__
EXPORT int execveat(int dfd, const char *p, char *const argv[], char *const envp[], int flags)
{
    EXEC_WITH_ENV(REAL(execveat)(dfd, p, argv, env_, flags), envp, REAL(execveat)(dfd, p, argv, envp, flags));
}
#endif

/* The list forms build their argument vector as libc does (on the stack), then exec as above:
 * execl and execle through execve, execlp through execvpe. */
static size_t count_args(const char *arg0, va_list ap)
{
    size_t n = 1;
    while (arg0 && va_arg(ap, const char *))
        n++;
    return arg0 ? n : 0;
}

/* ARGV is declared and LAST passed to va_start: neither can be parenthesised (the NOLINTs). */
#define ARGV_FROM_LIST(argv, arg0, last)                                                           \
    va_list ap_;                                                                                   \
    va_start(ap_, last); /* NOLINT(bugprone-macro-parentheses) */                                  \
    size_t n_ = count_args((arg0), ap_);                                                           \
    va_end(ap_);                                                                                   \
    char *argv[n_ + 1];    /* NOLINT(bugprone-macro-parentheses) */                                \
    argv[0] = (char *)(arg0); /* NOLINT(bugprone-macro-parentheses) */                             \
    va_start(ap_, last);   /* NOLINT(bugprone-macro-parentheses) */                                \
    for (size_t i_ = 1; i_ <= n_; i_++)                                                            \
        argv[i_] = i_ < n_ ? va_arg(ap_, char *) : NULL; /* NOLINT(bugprone-macro-parentheses) */  \
    if (!n_)                                                                                       \
        argv[0] = NULL /* NOLINT(bugprone-macro-parentheses) */

EXPORT int execl(const char *p, const char *arg0, ...)
{
    ARGV_FROM_LIST(argv, arg0, arg0);
    va_end(ap_);
    return execve(p, argv, environ);
}

EXPORT int execlp(const char *f, const char *arg0, ...)
{
    ARGV_FROM_LIST(argv, arg0, arg0);
    va_end(ap_);
    return execvpe(f, argv, environ);
}

EXPORT int execle(const char *p, const char *arg0, ...)
{
    ARGV_FROM_LIST(argv, arg0, arg0);
    (void)(n_ ? va_arg(ap_, char *) : NULL); /* the NULL that ends the list */
    char *const *envp = va_arg(ap_, char *const *);
    va_end(ap_);
    return execve(p, argv, envp);
}

/* _exit skips atexit handlers, so the end is reported here. */
EXPORT void _exit(int status)
{
    tg_end(TG_END_EXIT_NOW, status);
    REAL(_exit)(status);
    __builtin_unreachable();
}

EXPORT void _Exit(int status)
{
    tg_end(TG_END_EXIT_NOW, status);
    REAL(_Exit)(status);
    __builtin_unreachable();
}

#ifndef __GLIBC__
/* musl has no on_exit: the atexit handler learns the status from exit() and from main's return,
 * which musl's start code passes to exit() inside libc, out of this wrapper's sight. */
EXPORT void exit(int status)
{
    tg_exit_status(status);
    REAL(exit)(status);
    __builtin_unreachable();
}

static tg_main_fn *program_main;

static int main_returns(int argc, char **argv, char **envp)
{
    int status = program_main(argc, argv, envp);
    tg_exit_status(status);
    return status;
}

/* Called by the program's start code before any initialiser runs: main's arguments (musl passes
 * none to initialisers) and its return value. */
EXPORT int __libc_start_main(tg_main_fn *main_fn, int argc, char **argv, void (*init)(void),
                             void (*fini)(void), void (*ldso)(void))
{
    program_main = main_fn;
    tg_main_args(argc, argv);
    return REAL(__libc_start_main)(main_returns, argc, argv, init, fini, ldso);
}
#endif

/* ---- load -------------------------------------------------------------------------------- */

/* glibc passes (argc, argv, envp) to initialisers of shared objects; musl passes nothing (the
 * registers hold whatever they held), and the __libc_start_main wrapper reports them instead. */
__attribute__((constructor)) static void tmpguard_init(int argc, char **argv, char **envp)
{
    (void)envp;
    tg_load(argc, argv, resolve_eager);
    open_hooks = tg_reclaim_on || tg_atomic_on;
}
