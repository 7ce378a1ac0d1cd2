/* Configuration from the environment, read once at load time. */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <stddef.h>

enum tg_mode { TG_MODE_CLEAN, TG_MODE_AUDIT, TG_MODE_OFF };
enum tg_outputs { TG_OUT_ON_FAILURE, TG_OUT_ALWAYS, TG_OUT_NEVER };
enum tg_level { TG_LOG_OFF, TG_LOG_WARN, TG_LOG_INFO, TG_LOG_DEBUG };

#define TG_MAX_ROOTS 16
#define TG_PATH_MAX 4096

struct tg_config {
    enum tg_mode mode;
    enum tg_outputs outputs;
    enum tg_level log_level;
    const char *log_file;                 /* NULL: stderr */
    int nroots;
    char *roots[TG_MAX_ROOTS];            /* lexically normalised, absolute */
    size_t root_len[TG_MAX_ROOTS];
    char state_dir[TG_PATH_MAX];          /* where the per-process record lives */
    int state_dir_explicit;
    int handoff;                          /* this program hands its files to its caller */
    int supervisor_pid;                   /* TMPGUARD_SUPERVISOR: the launcher above, or 0 */
    unsigned long long supervisor_start;
};

extern struct tg_config tg_cfg;

/* Reads TMPGUARD_* and friends; argv0 decides TMPGUARD_HANDOFF.  Prints one line per malformed
 * variable and keeps that variable's default. */
void tg_config_load(const char *argv0);
/* Only the temp roots and the state directory (the tools need them whatever the mode). */
void tg_config_load_paths(void);

#endif
