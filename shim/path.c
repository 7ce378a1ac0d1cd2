#include "path.h"

#include <fcntl.h>
#include <string.h>

#include "fmt.h"
#include "sys.h"

/* Whether P is already normal (no empty, "." or ".." component, no trailing "/"), and its length.
 * Nearly every path a program hands to a create is: one pass over it settles that, and the rewrite
 * below is the rare case.  A loop of its own, no libc call: the roots are normalised at every
 * process's start, where each libc function's first call costs a binding by the dynamic linker. */
static int is_normal(const char *p, size_t *len)
{
    int normal = 1;
    size_t i = 0;
    for (; p[i]; i++) {
        if (p[i] != '/')
            continue;
        const char *c = p + i + 1; /* inside the string, or its terminating NUL */
        if (*c == '/' || (*c == '.' && (c[1] == '/' || c[1] == '\0' || (c[1] == '.' && (c[2] == '/' || c[2] == '\0')))))
            normal = 0;
    }
    *len = i;
    return normal && !(i > 1 && p[i - 1] == '/');
}

size_t tg_normalize(char *p)
{
    /* p[0] == '/'.  Write components back in place; ".." pops the last one. */
    size_t out = 0, i = 0, n;
    if (is_normal(p, &n))
        return n;
    while (i < n) {
        while (i < n && p[i] == '/')
            i++;
        size_t s = i;
        while (i < n && p[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && p[s] == '.'))
            continue;
        if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
            while (out > 0 && p[out - 1] != '/')
                out--;
            if (out > 0)
                out--;
            continue;
        }
        p[out++] = '/';
        memmove(p + out, p + s, len);
        out += len;
    }
    if (out == 0)
        p[out++] = '/';
    p[out] = '\0';
    return out;
}

int tg_resolve(int dfd, const char *path, char abs[])
{
    size_t plen = strlen(path), base = 0;
    if (plen == 0 || plen >= TG_PATH_MAX)
        return -1;
    if (path[0] != '/') {
        long n;
        if (dfd == AT_FDCWD) {
            n = tg_getcwd(abs, TG_PATH_MAX);
            /* The kernel returns the length including the NUL; an unreachable directory comes
             * back as "(unreachable)/...": not a path to act on. */
            if (n <= 1 || abs[0] != '/')
                return -1;
            n--;
        } else {
            char link[40], num[21];
            strcpy(link, "/proc/self/fd/");
            strcat(link, tg_fmt_u64(num, (unsigned)dfd));
            n = tg_readlinkat(AT_FDCWD, link, abs, TG_PATH_MAX - 1);
            if (n <= 0 || abs[0] != '/')
                return -1;
            abs[n] = '\0';
            if (n > 10 && strcmp(abs + n - 10, " (deleted)") == 0)
                return -1;
        }
        base = (size_t)n;
        if (base + 1 + plen >= TG_PATH_MAX)
            return -1;
        abs[base++] = '/';
    }
    memcpy(abs + base, path, plen + 1);
    return (int)tg_normalize(abs);
}
