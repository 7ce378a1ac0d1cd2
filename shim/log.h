/* Logging that is safe from a signal handler: no stdio, no allocation, one write(2) per line. */
#ifndef TG_LOG_H
#define TG_LOG_H

enum tg_level { TG_LOG_OFF, TG_LOG_WARN, TG_LOG_INFO, TG_LOG_DEBUG };

/* The level and the destination (NULL: stderr), set once by the configuration (config.c). */
extern enum tg_level tg_log_level;
void tg_log_setup(enum tg_level level, const char *file);

/* tg_log(LEVEL, "piece", "piece", ...) writes "tmpguard[PID]: " and the pieces and a newline, when the
 * configured level admits LEVEL.  Pieces are plain strings; use tg_fmt_u64 for numbers.  The
 * macros add the terminating null pointer (typed: a bare NULL may be an int in a variadic call). */
void tg_log_at(enum tg_level level, ...);
#define tg_log(level, ...)                                                                          \
    do {                                                                                           \
        if ((level) <= tg_log_level)                                                               \
            tg_log_at((level), __VA_ARGS__, (const char *)0);                                      \
    } while (0)
/* Same, whatever the configured level: for messages the user asked for (audit, bad configuration). */
void tg_say_at(const char *first, ...);
#define tg_say(...) tg_say_at(__VA_ARGS__, (const char *)0)

#endif
