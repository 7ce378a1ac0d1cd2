/* Paths as the shim compares them: absolute and lexically normalised. */
#ifndef TG_PATH_H
#define TG_PATH_H

#include <stddef.h>

#define TG_PATH_MAX 4096

/* Lexically normalises an absolute path in place ("//", ".", ".." and a trailing "/"; ".." is not
 * resolved through symlinks: the device-and-inode check before any removal keeps that safe).
 * Returns the new length. */
size_t tg_normalize(char *path);
/* The same for a path of N bytes (no strlen: usable where no libc function should be called). */
size_t tg_normalize_len(char *path, size_t n);

/* Resolves PATH against DFD (AT_FDCWD: the current directory) into ABS (TG_PATH_MAX bytes),
 * normalised.  Returns the length, or -1 when that cannot be done for sure (too long, a directory
 * that is unreachable or deleted).  Async-signal-safe. */
int tg_resolve(int dfd, const char *path, char abs[]);

/* Whether P (N bytes, NUL after them) is already normal. */
int tg_path_normal(const char *p, size_t n);

/* As tg_resolve, without a copy when PATH is absolute and already normal (nearly always): *ABS is
 * then PATH itself, else ABS_BUF (TG_PATH_MAX bytes) holding the resolved path. */
static inline int tg_resolve_view(int dfd, const char *path, char abs_buf[], const char **abs)
{
    if (path[0] == '/') {
        size_t n = __builtin_strlen(path);
        if (n < TG_PATH_MAX && tg_path_normal(path, n)) {
            *abs = path;
            return (int)n;
        }
    }
    *abs = abs_buf;
    return tg_resolve(dfd, path, abs_buf);
}

/* Is A (length AL) equal to B (length BL) or inside it?  Both normalised; B "/" holds everything. */
static inline int tg_at_or_below(const char *a, size_t al, const char *b, size_t bl)
{
    if (bl == 1)
        return 1;
    return al >= bl && __builtin_memcmp(a, b, bl) == 0 && (al == bl || a[bl] == '/');
}

/* Where the last component of the normalised absolute path ABS (LEN bytes) starts. */
static inline size_t tg_last_component(const char *abs, size_t len)
{
    size_t i = len;
    while (i > 0 && abs[i - 1] != '/')
        i--;
    return i;
}

/* Whether the absolute path PATH (LEN bytes) matches PATTERN as TMPGUARD_ATOMIC reads it: a
 * pattern ending in '/' covers everything below that directory; otherwise shell glob rules (*, ?,
 * [...] with ! or ^, \ quoting), where no wildcard matches a '/' (fnmatch's FNM_PATHNAME).  Written
 * here rather than fnmatch: the reaper's reader runs it in signal handlers, where fnmatch (which
 * may allocate for multibyte patterns) is not safe. */
int tg_path_matches(const char *pattern, const char *path, size_t len);

#endif
