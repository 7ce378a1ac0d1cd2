#include "remover.h"

#include <dirent.h>
#include <string.h>
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#else
#include <stdint.h>
/* No kernel headers on the include path (musl-gcc): openat2's argument and flags as Linux 5.6
 * defines them. */
struct open_how {
    // cppcheck-suppress unusedStructMember ; the kernel reads it (zero: no file is created)
    uint64_t flags, mode, resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#endif

#include "path.h"
#include "sys.h"

#define TREE_DEPTH 48 /* deeper mkdtemp trees are left partly in place rather than risk the stack */

/* Opens the directory holding PATH's last component without following a symlink anywhere along
 * the way: a path whose parent was swapped for a link must not lead the remover elsewhere. */
static int open_parent(const char *path, size_t dirlen)
{
    char dir[TG_PATH_MAX];
    if (dirlen == 0)
        dirlen = 1; /* "/" */
    memcpy(dir, path, dirlen);
    dir[dirlen] = '\0';
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int fd = (int)TG_SYS(SYS_openat2, AT_FDCWD, dir, &how, sizeof how);
    if (fd != -ENOSYS)
        return fd;
    /* Older kernels: one component at a time, each refusing a symlink. */
    fd = tg_openat(AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    for (char *p = dir + 1; fd >= 0 && *p;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        int next = tg_openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        tg_close(fd);
        fd = next;
        p = slash ? slash + 1 : p + strlen(p);
    }
    return fd;
}

/* Removes everything inside the directory DFD on device DEV, never following a symlink and never
 * entering another filesystem.  Returns 0 when it is empty afterwards. */
static int empty_tree(int dfd, dev_t dev, int depth, int dry, uint64_t *bytes)
{
    char buf[1024];
    int left = 0;
    for (int pass = 0; pass < 3; pass++) {
        int removed = 0;
        left = 0;
        tg_lseek(dfd, 0, SEEK_SET);
        long n;
        while ((n = tg_getdents64(dfd, buf, sizeof buf)) > 0) {
            for (long off = 0; off < n;) {
                struct dirent64 *d = (struct dirent64 *)(buf + off);
                off += d->d_reclen;
                const char *name = d->d_name;
                if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                    continue;
                struct stat st;
                if (tg_fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                    continue;
                if (S_ISDIR(st.st_mode)) {
                    int sub = -1;
                    if (st.st_dev == dev && depth < TREE_DEPTH)
                        sub = tg_openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
                    if (sub >= 0) {
                        struct stat sst;
                        /* Still the directory we looked at, on our filesystem? */
                        if (tg_fstat(sub, &sst) == 0 && sst.st_dev == dev && sst.st_ino == st.st_ino)
                            empty_tree(sub, dev, depth + 1, dry, bytes);
                        tg_close(sub);
                    }
                    if (!dry && tg_unlinkat(dfd, name, AT_REMOVEDIR) == 0)
                        removed++;
                    else
                        left++;
                } else {
                    if (bytes && S_ISREG(st.st_mode))
                        *bytes += (uint64_t)st.st_size;
                    if (!dry && tg_unlinkat(dfd, name, 0) == 0)
                        removed++;
                    else
                        left++;
                }
            }
        }
        if (!left || !removed)
            break;
    }
    return left ? -1 : 0;
}

void tg_parent_close(struct tg_parent *pc)
{
    if (pc->fd >= 0)
        tg_close(pc->fd);
    pc->fd = -1;
    pc->dirlen = 0;
}

static int parent_fd(struct tg_parent *pc, const char *path, size_t dirlen)
{
    if (pc->fd >= 0 && pc->dirlen == dirlen && memcmp(pc->path, path, dirlen) == 0) {
        pc->run++;
        return pc->fd;
    }
    if (pc->fd >= 0)
        tg_close(pc->fd);
    pc->fd = -1;
    pc->run = 1;
    if (dirlen >= sizeof pc->path)
        return -1;
    memcpy(pc->path, path, dirlen);
    pc->dirlen = dirlen;
    pc->fd = open_parent(path, dirlen);
    return pc->fd;
}

enum tg_outcome tg_remove_entry(const struct tg_rec_entry *e, struct tg_parent *pc, int dirs_pass, int dry,
                                uint64_t *bytes, const struct tg_rm_guard *guard)
{
    const char *path = e->path;
    size_t len = e->pathlen, dirlen = len;
    while (dirlen > 0 && path[dirlen - 1] != '/')
        dirlen--;
    const char *name = path + dirlen;
    if (dirlen > 1)
        dirlen--; /* drop the separator */
    int pfd = parent_fd(pc, path, dirlen);
    if (pfd < 0)
        return TG_GONE;
    struct stat st;
    if (tg_fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return TG_GONE;
    /* The very object that was created: same device, inode and type.  A symlink or another file
     * now at that path is somebody else's. */
    if ((uint64_t)st.st_dev != e->dev || (uint64_t)st.st_ino != e->ino ||
        (st.st_mode & S_IFMT) != (e->mode & S_IFMT))
        return TG_LEFT;
    if (guard && (st.st_uid != guard->uid ||
                  (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec < guard->not_before_ns))
        return TG_LEFT;
    if (S_ISDIR(st.st_mode)) {
        if (e->kind == TG_K_MKDTEMP) {
            int dfd = tg_openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
            if (dfd >= 0) {
                struct stat dst;
                if (tg_fstat(dfd, &dst) == 0 && (uint64_t)dst.st_ino == e->ino && (uint64_t)dst.st_dev == e->dev)
                    empty_tree(dfd, dst.st_dev, 0, dry, bytes);
                tg_close(dfd);
            }
        } else if (!dirs_pass) {
            return TG_LEFT; /* plain directories go last, once what was inside them is gone */
        }
        if (dry)
            return TG_WOULD;
        int r = tg_unlinkat(pfd, name, AT_REMOVEDIR);
        if (r == -ENOTEMPTY || r == -EEXIST)
            return TG_NOT_EMPTY;
        if (r < 0)
            return TG_LEFT;
    } else {
        if (bytes)
            *bytes += (uint64_t)st.st_size;
        if (dry)
            return TG_WOULD;
        if (tg_unlinkat(pfd, name, 0) < 0)
            return TG_LEFT;
    }
    return TG_REMOVED;
}

void tg_remove_bulk(struct tg_parent *pc, const struct tg_bulk *b)
{
    /* getdents gives each name's inode; a name whose inode and type are those of the entry is the
     * created file (the directory gives the device).  Names whose inode is not known this way
     * (DT_UNKNOWN, a filesystem whose d_ino differs) are left to tg_remove_entry. */
    char full[TG_PATH_MAX], buf[4096];
    struct stat dst;
    size_t dl = pc->dirlen;
    int fd = tg_openat(pc->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (tg_fstat(fd, &dst) < 0 || dl + 2 >= sizeof full) {
        tg_close(fd);
        return;
    }
    memcpy(full, pc->path, dl);
    if (dl > 1)
        full[dl++] = '/';
    long n;
    while ((n = tg_getdents64(fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            size_t nl = strlen(d->d_name);
            if (d->d_type != DT_REG || dl + nl >= sizeof full)
                continue;
            memcpy(full + dl, d->d_name, nl + 1);
            struct tg_rec_entry *e = b->find(b->self, full, dl + nl);
            if (!e || e->ino != (uint64_t)d->d_ino || e->dev != (uint64_t)dst.st_dev || !S_ISREG(e->mode) ||
                !b->take(b->self, e))
                continue;
            if (tg_unlinkat(fd, d->d_name, 0) == 0)
                b->done(b->self, e);
            else
                b->put_back(b->self, e); /* tg_remove_entry will have a look */
        }
    }
    tg_close(fd);
}
