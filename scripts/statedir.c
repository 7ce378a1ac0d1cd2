/* The state directory as the tools read it: only if it is safe to believe. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recread.h"
#include "tool.h"

/* A real directory (not a symlink), mode 0700, owned by us, or by anyone when we are root: anything
 * else could let another user plant records for us to act on. */
int tool_open_state_dir(struct tool *t, int quiet_if_missing)
{
    struct stat st;
    if (lstat(t->state_dir, &st) < 0) {
        if (errno != ENOENT)
            t->dir_refused = 1;
        if (!(quiet_if_missing && errno == ENOENT))
            fprintf(stderr, "tmpguard: state directory %s: %s\n", t->state_dir, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode) || (st.st_mode & 07777) != 0700 ||
        (st.st_uid != getuid() && getuid() != 0)) {
        t->dir_refused = 1;
        fprintf(stderr, "tmpguard: state directory %s refused: it must be a directory (not a symlink) of its "
                        "user with mode 0700\n",
                t->state_dir);
        return -1;
    }
    int fd = open(t->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "tmpguard: state directory %s: %s\n", t->state_dir, strerror(errno));
    return fd;
}

int tool_is_record_name(const char *n)
{
    size_t l = strlen(n);
    return l > 4 && strcmp(n + l - 4, ".rec") == 0 && n[0] != '.';
}

void tool_each_record(int dfd, tool_record_fn *each, void *arg)
{
    static char buf[1 << 20];
    DIR *d = fdopendir(dup(dfd));
    for (struct dirent *de; d && (de = readdir(d));) {
        if (!tool_is_record_name(de->d_name))
            continue;
        struct tg_rec_reader r;
        if (tg_rr_open(&r, dfd, de->d_name, buf, sizeof buf) == 0)
            each(arg, &r);
        tg_rr_close(&r);
    }
    if (d)
        closedir(d);
}

int tool_entry_present(const struct tg_rec_entry *e, struct stat *st)
{
    return lstat(e->path, st) == 0 && (uint64_t)st->st_ino == e->ino && (uint64_t)st->st_dev == e->dev;
}

/* The default state directories of every user (config.c: $XDG_RUNTIME_DIR/tmpguard, which is
 * /run/user/UID/tmpguard under systemd-logind, else /tmp/tmpguard-UID), with where the UID stands in
 * each path. */
static const struct {
    const char *pattern;
    size_t uid_at; /* the UID's offset in a match */
} user_dirs[] = {
    {"/tmp/tmpguard-*", sizeof "/tmp/tmpguard-" - 1},
    {"/run/user/*/tmpguard", sizeof "/run/user/" - 1},
};

void tool_each_user_dir(struct tool *t, void (*each)(struct tool *t, void *arg), void *arg)
{
    for (size_t k = 0; k < sizeof user_dirs / sizeof user_dirs[0]; k++) {
        glob_t g;
        if (glob(user_dirs[k].pattern, GLOB_NOSORT, NULL, &g) != 0)
            continue; /* none */
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *dir = g.gl_pathv[i];
            char *end;
            errno = 0;
            unsigned long uid = strtoul(dir + user_dirs[k].uid_at, &end, 10);
            struct stat st;
            if (end == dir + user_dirs[k].uid_at || (*end && *end != '/') || errno || lstat(dir, &st) < 0)
                continue; /* not a user's directory by its name (or gone) */
            /* A directory made under another user's name (/tmp is everyone's) is not believed. */
            if (st.st_uid != (uid_t)uid) {
                t->dir_refused = 1;
                fprintf(stderr, "tmpguard: state directory %s refused: it does not belong to user %lu\n", dir, uid);
                continue;
            }
            t->state_dir = dir;
            each(t, arg);
        }
        globfree(&g);
    }
    t->state_dir = NULL;
}
