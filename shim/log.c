#include "log.h"

#include <stdarg.h>
#include <string.h>

#include "sys.h"

char *tg_fmt_u64(char *buf, unsigned long long v)
{
    char tmp[21];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}

/* The line is built piece by piece with lengths and written with its length: no terminator is
 * wanted, hence the NOLINTs (bugprone-not-null-terminated-result). */
static void emit(const char *first, va_list ap)
{
    char line[TG_PATH_MAX + 256];
    size_t len = 0;
    char num[21];
    const char *parts[2] = {"tmpguard[", tg_fmt_u64(num, (unsigned long long)tg_getpid())};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(parts[i]);
        memcpy(line + len, parts[i], n); // NOLINT(bugprone-not-null-terminated-result)
        len += n;
    }
    memcpy(line + len, "]: ", 3); // NOLINT(bugprone-not-null-terminated-result)
    len += 3;
    for (const char *p = first; p; p = va_arg(ap, const char *)) {
        size_t n = strlen(p);
        if (n > sizeof line - 1 - len)
            n = sizeof line - 1 - len;
        memcpy(line + len, p, n); // NOLINT(bugprone-not-null-terminated-result)
        len += n;
    }
    line[len++] = '\n';

    int fd = 2, opened = 0;
    if (tg_cfg.log_file) {
        fd = tg_openat(AT_FDCWD, tg_cfg.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            fd = 2;
        else
            opened = 1;
    }
    (void)tg_write(fd, line, len);
    if (opened)
        tg_close(fd);
}

void tg_log_at(enum tg_level level, ...)
{
    if (level > tg_cfg.log_level || level == TG_LOG_OFF)
        return;
    va_list ap;
    va_start(ap, level);
    const char *first = va_arg(ap, const char *);
    emit(first, ap);
    va_end(ap);
}

void tg_say_at(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    emit(first, ap);
    va_end(ap);
}
