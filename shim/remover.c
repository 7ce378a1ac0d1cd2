#include "remover.h"

#include <dirent.h>
#include <linux/openat2.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "registry.h"
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
static int empty_tree(int dfd, dev_t dev, int depth)
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
                            empty_tree(sub, dev, depth + 1);
                        tg_close(sub);
                    }
                    if (tg_unlinkat(dfd, name, AT_REMOVEDIR) == 0)
                        removed++;
                    else
                        left++;
                } else if (tg_unlinkat(dfd, name, 0) == 0) {
                    removed++;
                } else {
                    left++;
                }
            }
        }
        if (!left || !removed)
            break;
    }
    return left ? -1 : 0;
}

struct parent {
    const char *path; /* the path whose parent is open in fd */
    size_t dirlen;
    int fd;
    int run;          /* entries met in a row in this directory */
};

static int parent_fd(struct parent *pc, const char *path, size_t dirlen)
{
    if (pc->fd >= 0 && pc->dirlen == dirlen && memcmp(pc->path, path, dirlen) == 0)
        return pc->fd;
    if (pc->fd >= 0)
        tg_close(pc->fd);
    pc->path = path;
    pc->dirlen = dirlen;
    pc->run = 0;
    pc->fd = open_parent(path, dirlen);
    return pc->fd;
}

enum outcome { GONE, REMOVED, LEFT };

static enum outcome remove_entry(struct tg_rec_entry *e, struct parent *pc, int dirs_pass)
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
        return GONE;
    struct stat st;
    if (tg_fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return GONE;
    /* The very object that was created: same device, inode and type.  A symlink or another file
     * now at that path is somebody else's. */
    if ((uint64_t)st.st_dev != e->dev || (uint64_t)st.st_ino != e->ino ||
        (st.st_mode & S_IFMT) != (e->mode & S_IFMT)) {
        tg_log(TG_LOG_INFO, "left ", path, ": no longer the object this process created", NULL);
        return LEFT;
    }
    if (tg_cfg.mode == TG_MODE_AUDIT) {
        tg_say("audit: would remove ", path, NULL);
        return LEFT;
    }
    if (S_ISDIR(st.st_mode)) {
        if (e->kind == TG_K_MKDTEMP) {
            int dfd = tg_openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
            if (dfd >= 0) {
                struct stat dst;
                if (tg_fstat(dfd, &dst) == 0 && (uint64_t)dst.st_ino == e->ino && (uint64_t)dst.st_dev == e->dev)
                    empty_tree(dfd, dst.st_dev, 0);
                tg_close(dfd);
            }
        } else if (!dirs_pass) {
            return LEFT; /* plain directories go last, once what was inside them is gone */
        }
        if (tg_unlinkat(pfd, name, AT_REMOVEDIR) < 0)
            return LEFT;
    } else if (tg_unlinkat(pfd, name, 0) < 0) {
        return LEFT;
    }
    tg_log(TG_LOG_INFO, "removed ", path, NULL);
    return REMOVED;
}

static int due(const struct tg_rec_entry *e, int failed, unsigned keep_below);

/* Many files due in one directory (a leak of thousands): read the directory once and take its
 * names from there.  getdents gives each name's inode; a name whose inode and type are those of
 * the entry is the created file (the directory gives the device), so the per-file fstatat that
 * the general path needs is saved, and removal keeps pace with rm -rf.  Names whose inode is not
 * known this way (DT_UNKNOWN, a filesystem whose d_ino differs) are left to the general path. */
#define BULK_AFTER 32
static void remove_bulk(struct parent *pc, int failed, unsigned keep_below)
{
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
            struct tg_rec_entry *e = tg_reg_find_quiet(full, dl + nl);
            if (!e || e->ino != (uint64_t)d->d_ino || e->dev != (uint64_t)dst.st_dev || !S_ISREG(e->mode) ||
                atomic_load(&e->state) != TG_LIVE || !due(e, failed, keep_below))
                continue;
            uint32_t expect = TG_LIVE;
            if (!atomic_compare_exchange_strong(&e->state, &expect, TG_CLAIMED))
                continue;
            if (tg_cfg.mode == TG_MODE_AUDIT) {
                tg_say("audit: would remove ", e->path, NULL);
            } else if (tg_unlinkat(fd, d->d_name, 0) == 0) {
                tg_log(TG_LOG_INFO, "removed ", e->path, NULL);
            } else {
                atomic_store(&e->state, TG_LIVE); /* the general path will have a look */
            }
        }
    }
    tg_close(fd);
}

static int due(const struct tg_rec_entry *e, int failed, unsigned keep_below)
{
    if (e->owner != tg_reg_pid)
        return 0;
    if (e->when != TG_WHEN_ENDS && !(e->when == TG_WHEN_FAILS && failed))
        return 0;
    return e->fork_gen >= keep_below;
}

void tg_remove_owned(int failed, unsigned keep_below)
{
    struct tg_rec_header *h = tg_rec_header();
    if (!h)
        return;
    struct parent pc = {.path = NULL, .dirlen = 0, .fd = -1, .run = 0};
    uint32_t hw = atomic_load_explicit(&h->hw_cells, memory_order_acquire);
    int more_dirs = 0;
    /* Files and mkdtemp trees first; directories made by mkdir wait for pass two. */
    for (uint32_t c = h->header_cells; c < hw;) {
        struct tg_rec_entry *e = tg_rec_at(c);
        if (e->cells == 0)
            break;
        c += e->cells;
        if (atomic_load_explicit(&e->state, memory_order_acquire) != TG_LIVE || !due(e, failed, keep_below))
            continue;
        if (S_ISDIR(e->mode) && e->kind != TG_K_MKDTEMP) {
            more_dirs = 1;
            continue;
        }
        uint32_t expect = TG_LIVE;
        /* Claiming makes every entry removed once, however many threads end at the same time. */
        if (!atomic_compare_exchange_strong(&e->state, &expect, TG_CLAIMED))
            continue;
        remove_entry(e, &pc, 0);
        /* The index may be read only if this thread was not interrupted in the middle of
         * changing it. */
        if (pc.fd >= 0 && ++pc.run == BULK_AFTER && !tg_tls.in)
            remove_bulk(&pc, failed, keep_below);
    }
    /* Directories: only empty ones go; repeat while a pass makes progress (children first). */
    for (int pass = 0; more_dirs && pass < 64; pass++) {
        int progress = 0;
        for (uint32_t c = h->header_cells; c < hw;) {
            struct tg_rec_entry *e = tg_rec_at(c);
            if (e->cells == 0)
                break;
            c += e->cells;
            if (atomic_load(&e->state) != TG_LIVE || !S_ISDIR(e->mode) || e->kind == TG_K_MKDTEMP ||
                !due(e, failed, keep_below))
                continue;
            uint32_t expect = TG_LIVE;
            if (!atomic_compare_exchange_strong(&e->state, &expect, TG_CLAIMED))
                continue;
            enum outcome o = remove_entry(e, &pc, 1);
            if (o == REMOVED) {
                progress = 1;
            } else if (o == LEFT && tg_cfg.mode != TG_MODE_AUDIT) {
                atomic_store(&e->state, TG_LIVE); /* maybe emptier next pass */
            }
        }
        if (!progress)
            break;
    }
    if (pc.fd >= 0)
        tg_close(pc.fd);
}
