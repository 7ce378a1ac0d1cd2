#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>

#include "fmt.h"
#include "path.h"
#include "sys.h"

enum tg_level tg_log_level = TG_LOG_OFF;
static char log_file[TG_PATH_MAX]; /* empty: stderr */

void tg_log_setup(enum tg_level level, const char *file)
{
    tg_log_level = level;
    log_file[0] = '\0';
    if (file && strlen(file) < sizeof log_file)
        strcpy(log_file, file);
}

static void emit(const char *first, va_list ap)
{
    char mem[TG_PATH_MAX + 256];
    struct tg_buf line;
    tg_buf_init(&line, mem, sizeof mem - 1);
    tg_buf_str(&line, "tmpguard[");
    tg_buf_u64(&line, (unsigned long long)tg_getpid());
    tg_buf_str(&line, "]: ");
    for (const char *p = first; p; p = va_arg(ap, const char *))
        tg_buf_str(&line, p);
    mem[line.len++] = '\n';

    /* Opened and closed for each line: the shim keeps no descriptor between calls. */
    int fd = 2, opened = 0;
    if (log_file[0]) {
        fd = tg_openat(AT_FDCWD, log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            fd = 2;
        else
            opened = 1;
    }
    (void)tg_write(fd, mem, line.len);
    if (opened)
        tg_close(fd);
}

void tg_log_at(enum tg_level level, ...)
{
    if (level > tg_log_level || level == TG_LOG_OFF)
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
