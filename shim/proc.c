#include "proc.h"

#include <fcntl.h>
#include <string.h>

#include "fmt.h"
#include "sys.h"

/* "/proc/PID/NAME" into BUF (at least 48 bytes). */
static void proc_path(char *buf, int pid, const char *name)
{
    char num[21];
    strcpy(buf, "/proc/");
    strcat(buf, tg_fmt_u64(num, (unsigned)pid));
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
