#include "counters.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include "fmt.h"
#include "sys.h"

/* The file at NAME in DFD, opened with FLAGS, if it can be believed: a regular file (no link
 * followed) of the directory's owner, of this layout's size.  The descriptor, or -errno (-EINVAL:
 * there, but not believed; WHY, if not NULL, says why). */
static int open_checked(int dfd, const struct stat *dst, int flags, const char **why)
{
    struct stat st;
    int fd = tg_openat(dfd, TG_CNT_NAME, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0) {
        if (why)
            *why = fd == -ELOOP ? "a symbolic link" : "it cannot be opened";
        return fd;
    }
    const char *bad = NULL;
    if (tg_fstat(fd, &st) < 0)
        bad = "it cannot be read";
    else if (!S_ISREG(st.st_mode))
        bad = "not a regular file";
    else if (st.st_uid != dst->st_uid)
        bad = "not owned by the state directory's owner";
    else if (st.st_size != (off_t)sizeof(struct tg_cnt_file))
        bad = "not of the size of a counters file";
    if (!bad)
        return fd;
    if (why)
        *why = bad;
    tg_close(fd);
    return -EINVAL;
}

static int layout_ok(const struct tg_cnt_file *m)
{
    return __builtin_memcmp(m->magic, TG_CNT_MAGIC, 8) == 0 && m->version == TG_CNT_VERSION &&
           m->size == sizeof *m;
}

/* Makes the file: complete under a name of this process's own, then linked into place, so that
 * nobody ever sees a half-made one, and of two processes making it at once one wins and both use
 * the winner's (a rename would let the second throw away what was added to the first).  A name
 * left by a process killed in between is one only its pid could take: this process, now. */
static void make(int dfd, const struct stat *dst)
{
    char tmp[48], num[21];
    char *p = tmp;
    for (const char *s = TG_CNT_NAME "."; *s;)
        *p++ = *s++;
    for (const char *s = tg_fmt_u64(num, (unsigned)tg_getpid()); *s;)
        *p++ = *s++;
    for (const char *s = ".new"; (*p++ = *s++) != '\0';)
        ;
    tg_unlinkat(dfd, tmp, 0);
    int fd = tg_openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return;
    struct tg_cnt_file h;
    __builtin_memset(&h, 0, sizeof h);
    __builtin_memcpy(h.magic, TG_CNT_MAGIC, 8);
    h.version = TG_CNT_VERSION;
    h.size = sizeof h;
    int ok = TG_SYS(SYS_pwrite64, fd, &h, sizeof h, 0) == (long)sizeof h;
    /* Root counting in a user's state directory: the file is the user's, as the rest of it. */
    if (ok && (uid_t)TG_SYS(SYS_geteuid, 0, 0, 0, 0) != dst->st_uid)
        ok = TG_SYS(SYS_fchown, fd, dst->st_uid, dst->st_gid, 0) == 0;
    if (ok)
        tg_sys6(SYS_linkat, dfd, (long)tmp, dfd, (long)TG_CNT_NAME, 0, 0); /* EEXIST: another process made it first */
    tg_unlinkat(dfd, tmp, 0);
    tg_close(fd);
}

void tg_counters_add(int dfd, const char *dir, const struct tg_counts *c)
{
    int own = -1;
    struct stat dst;
    if (dfd < 0 && (own = dfd = tg_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)) < 0)
        return;
    if (tg_fstat(dfd, &dst) == 0) {
        int fd = open_checked(dfd, &dst, O_RDWR, NULL);
        if (fd == -ENOENT) {
            make(dfd, &dst);
            fd = open_checked(dfd, &dst, O_RDWR, NULL);
        }
        struct tg_cnt_file *m = fd >= 0 ? tg_mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
        if (m != MAP_FAILED) {
            if (layout_ok(m)) {
                for (int i = 0; i < TG_CNT_CAUSES; i++) {
                    if (c->files[i])
                        __atomic_fetch_add(&m->cause[i].files, c->files[i], __ATOMIC_RELAXED);
                    if (c->bytes[i])
                        __atomic_fetch_add(&m->cause[i].bytes, c->bytes[i], __ATOMIC_RELAXED);
                }
                if (c->refused)
                    __atomic_fetch_add(&m->refused, c->refused, __ATOMIC_RELAXED);
            }
            tg_munmap(m, sizeof *m);
        }
        if (fd >= 0)
            tg_close(fd);
    }
    if (own >= 0)
        tg_close(own);
}

void tg_counters_add_removed(int dfd, const char *dir, enum tg_cause cause, uint64_t files, uint64_t bytes)
{
    struct tg_counts c;
    __builtin_memset(&c, 0, sizeof c);
    if ((int)cause < 0 || (int)cause >= TG_CNT_CAUSES || !files)
        return;
    c.files[cause] = files;
    c.bytes[cause] = bytes;
    tg_counters_add(dfd, dir, &c);
}

int tg_counters_read(int dfd, struct tg_counts *c, const char **why)
{
    struct stat dst;
    struct tg_cnt_file m;
    __builtin_memset(c, 0, sizeof *c);
    if (tg_fstat(dfd, &dst) < 0) {
        *why = "the state directory cannot be read";
        return -1;
    }
    int fd = open_checked(dfd, &dst, O_RDONLY, why);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return -1;
    /* Read, not mapped: a file shortened behind the reader's back then ends the read short, where a
     * mapping would fault.  Each counter is an aligned 8-byte word, copied whole. */
    long n = TG_SYS(SYS_pread64, fd, &m, sizeof m, 0);
    tg_close(fd);
    if (n != (long)sizeof m || !layout_ok(&m)) {
        *why = "not a counters file of this version";
        return -1;
    }
    for (int i = 0; i < TG_CNT_CAUSES; i++) {
        c->files[i] = m.cause[i].files;
        c->bytes[i] = m.cause[i].bytes;
    }
    c->refused = m.refused;
    return 1;
}
