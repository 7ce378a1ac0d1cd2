/* The state directory as the tools read it: only if it is safe to believe. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
