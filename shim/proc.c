#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fmt.h"
#include "sys.h"

#define TG_PROC_PATH_MAX 4096 /* a link's target: a path, as the kernel gives it */

/* "/proc/PID/NAME" into BUF (at least 48 bytes); PID 0: "/proc/self/NAME". */
static void proc_path(char *buf, int pid, const char *name)
{
    char num[21];
    strcpy(buf, "/proc/");
    strcat(buf, pid ? tg_fmt_u64(num, (unsigned)pid) : "self");
    strcat(buf, "/");
    strcat(buf, name);
}

int tg_proc_stat(int pid, uint64_t *start_ticks, char *state)
{
    char path[48], buf[1024];
    proc_path(path, pid, "stat");
    int fd = tg_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    long got = tg_read(fd, buf, sizeof buf - 1);
    tg_close(fd);
    if (got <= 0)
        return -1;
    buf[got] = '\0';
    /* The command name may hold spaces and parentheses: fields are counted after the last ')'. */
    char *p = NULL;
    for (char *q = buf; *q; q++)
        if (*q == ')')
            p = q;
    if (!p || p[1] != ' ')
        return -1;
    if (state)
        *state = p[2];
    int field = 2;
    for (; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (start_ticks)
        *start_ticks = v;
    return 0;
}

uint64_t tg_proc_start_ticks(int pid)
{
    uint64_t v = 0;
    return tg_proc_stat(pid, &v, NULL) == 0 ? v : 0;
}

int tg_proc_alive(const struct tg_proc_id *id)
{
    if (id->pid <= 0)
        return 0;
    int k = tg_kill(id->pid, 0);
    if (k < 0 && k != -EPERM)
        return 0;
    uint64_t now = 0;
    char state = '?';
    if (tg_proc_stat(id->pid, &now, &state) < 0)
        return 1;
    return now == id->start_ticks && state != 'Z' && state != 'X';
}

int tg_pid_alive(int pid)
{
    int r = tg_kill(pid, 0);
    if (r < 0 && r != -EPERM)
        return 0;
    char state = '?';
    return tg_proc_stat(pid, NULL, &state) < 0 || state != 'Z';
}

int tg_proc_maps_have(int pid, const char *needle)
{
    char path[48], buf[8192];
    size_t nl = strlen(needle);
    if (nl > 32)
        return 0;
    proc_path(path, pid, "maps");
    int fd = tg_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int found = 0;
    size_t keep = 0;
    long n;
    /* Read in pieces, carrying the tail over so that a name split between reads is still seen. */
    while (!found && (n = tg_read(fd, buf + keep, sizeof buf - 1 - keep)) > 0) {
        size_t len = keep + (size_t)n;
        buf[len] = '\0';
        found = strstr(buf, needle) != NULL;
        keep = len > nl ? nl : len;
        memmove(buf, buf + len - keep, keep);
    }
    tg_close(fd);
    return found;
}

int tg_proc_each_fd(int pid, int want_paths, tg_held_fn *seen, void *arg)
{
    char path[48], dents[4096], target[TG_PROC_PATH_MAX];
    proc_path(path, pid, "fd");
    int dfd = tg_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return -1;
    long n;
    while ((n = tg_getdents64(dfd, dents, sizeof dents)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(dents + off);
            off += d->d_reclen;
            if (d->d_name[0] < '0' || d->d_name[0] > '9')
                continue;
            struct stat st;
            /* Through the descriptor's link: the object it refers to (its own descriptor, which this
             * listing holds, is the directory itself, never a tracked file). */
            if (tg_fstatat(dfd, d->d_name, &st, 0) < 0)
                continue; /* closed meanwhile */
            long len = want_paths ? tg_readlinkat(dfd, d->d_name, target, sizeof target - 1) : 0;
            if (len < 0)
                len = 0;
            target[len] = '\0';
            int fd = 0;
            for (const char *c = d->d_name; *c >= '0' && *c <= '9' && fd < (1 << 24); c++)
                fd = fd * 10 + (*c - '0'); /* the descriptor's number, as /proc writes it */
            if (seen(arg, fd, (uint64_t)st.st_dev, (uint64_t)st.st_ino, target, (size_t)len)) {
                tg_close(dfd);
                return 1;
            }
        }
    }
    tg_close(dfd);
    return n < 0 ? -1 : 0;
}

/* The hex number at *P, P moved past it. */
static unsigned long long hex(const char **p)
{
    unsigned long long v = 0;
    for (;; (*p)++) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v * 16 + (unsigned)d;
    }
}

/* One line of /proc/PID/maps: "start-end perms offset MAJ:MIN inode   path".  What SEEN returns. */
static int map_line(const char *l, const char *end, tg_held_fn *seen, void *arg)
{
    int field = 0;
    const char *p = l;
    while (p < end && field < 3) { /* to the device */
        while (p < end && *p != ' ')
            p++;
        while (p < end && *p == ' ')
            p++;
        field++;
    }
    unsigned long long major = hex(&p);
    if (p >= end || *p != ':')
        return 0;
    p++;
    unsigned long long minor = hex(&p);
    while (p < end && *p == ' ')
        p++;
    unsigned long long ino = 0;
    while (p < end && *p >= '0' && *p <= '9')
        ino = ino * 10 + (unsigned long long)(*p++ - '0');
    while (p < end && *p == ' ')
        p++;
    if (!ino)
        return 0; /* anonymous memory */
    return seen(arg, -1, (uint64_t)makedev(major, minor), ino, p, (size_t)(end - p));
}

int tg_proc_each_map(int pid, tg_held_fn *seen, void *arg)
{
    char path[48], buf[8192];
    proc_path(path, pid, "maps");
    int fd = tg_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    size_t have = 0;
    long n;
    while ((n = tg_read(fd, buf + have, sizeof buf - have)) > 0) {
        have += (size_t)n;
        size_t start = 0;
        for (size_t i = 0; i < have; i++)
            if (buf[i] == '\n') {
                if (map_line(buf + start, buf + i, seen, arg)) {
                    tg_close(fd);
                    return 1;
                }
                start = i + 1;
            }
        if (start == 0 && have == sizeof buf)
            start = have; /* a line longer than the buffer (a path of 8 KiB): dropped */
        memmove(buf, buf + start, have - start);
        have -= start;
    }
    tg_close(fd);
    return n < 0 ? -1 : 0;
}

int tg_proc_cwd(int pid, char *buf, size_t n)
{
    char path[48];
    proc_path(path, pid, "cwd");
    long len = tg_readlinkat(AT_FDCWD, path, buf, n - 1);
    if (len <= 0)
        return -1;
    buf[len] = '\0';
    return 0;
}

int tg_proc_children(int pid, void (*child)(void *arg, int pid), void *arg)
{
    char path[48], dents[2048], file[96], buf[4096];
    proc_path(path, pid, "task");
    int dfd = tg_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return -1;
    int rc = 0;
    long n;
    while (rc == 0 && (n = tg_getdents64(dfd, dents, sizeof dents)) > 0) {
        for (long off = 0; off < n && rc == 0;) {
            struct dirent64 *d = (struct dirent64 *)(dents + off);
            off += d->d_reclen;
            if (d->d_name[0] < '0' || d->d_name[0] > '9' || strlen(d->d_name) > 20)
                continue;
            strcpy(file, d->d_name);
            strcat(file, "/children");
            int fd = tg_openat(dfd, file, O_RDONLY | O_CLOEXEC, 0);
            if (fd < 0) {
                rc = fd == -ENOENT ? 0 : -1; /* a thread that just ended; else no children file */
                continue;
            }
            long got = tg_read(fd, buf, sizeof buf - 1);
            tg_close(fd);
            if (got < 0 || got == (long)sizeof buf - 1) {
                rc = -1; /* unreadable, or more children than one read holds: unknown */
                continue;
            }
            buf[got] = '\0';
            for (char *p = buf; *p;) {
                int c = 0;
                while (*p >= '0' && *p <= '9')
                    c = c * 10 + (*p++ - '0');
                if (c > 0)
                    child(arg, c);
                while (*p && (*p < '0' || *p > '9'))
                    p++;
            }
        }
    }
    tg_close(dfd);
    return rc;
}
