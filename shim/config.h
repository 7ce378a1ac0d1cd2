/* Configuration from the environment, read once at load time, without a system call. */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "path.h"
#include "recfmt.h"

enum tg_mode { TG_MODE_CLEAN, TG_MODE_AUDIT, TG_MODE_OFF };
enum tg_outputs { TG_OUT_ON_FAILURE, TG_OUT_ALWAYS, TG_OUT_NEVER };

#define TG_MAX_ROOTS 16

struct tg_config {
    enum tg_mode mode;
    enum tg_outputs outputs;
    int nroots;
    char *roots[TG_MAX_ROOTS];            /* lexically normalised, absolute */
    size_t root_len[TG_MAX_ROOTS];
    char state_dir[TG_PATH_MAX];          /* where the per-process record lives; "" when unusable */
    int state_dir_explicit;
    int handoff;                          /* this program hands its files to its caller */
    int supervisor_pid;                   /* TMPGUARD_SUPERVISOR: the launcher above, or 0 */
    unsigned long long supervisor_start;
    /* Reclaiming while the process runs (reclaim.c): 0 when off. */
    unsigned long long max_age_ms;        /* TMPGUARD_MAX_AGE */
    unsigned long long max_files;         /* TMPGUARD_MAX_FILES */
    unsigned long long max_bytes;         /* TMPGUARD_MAX_BYTES */
    /* Leak reports (report.c): TMPGUARD_REPORT=stderr or an absolute file. */
    enum tg_report_to { TG_REPORT_OFF, TG_REPORT_STDERR, TG_REPORT_FILE } report;
    char report_path[TG_PATH_MAX];
    const char *argv0;                    /* the program as started (argv[0]), or NULL */
    /* Atomic writes (atomic.c): TMPGUARD_ATOMIC's patterns, TMPGUARD_ATOMIC_COMMIT=success,
     * TMPGUARD_ATOMIC_SYNC. */
    int natomic;
    const char *atomic[TG_MAX_ROOTS];
    size_t atomic_len[TG_MAX_ROOTS];
    int atomic_on_success, atomic_sync;
    int adopt_pid;                        /* TG_ADOPT_VAR: this process's previous image had a record */
    struct tg_heir_note {                 /* TG_HEIR_VAR: its previous image may have been an heir */
        int self;                         /* the process it was written for (0: none) */
        struct tg_proc_id parent;         /* whose forked child (pid 0: none known) */
    } heir_note;
};

/* Added by the shim to the environment of an exec that replaces a process with a record (its pid),
 * so that the new image finds the record at once, with no lookup in every other process; taken out
 * of the environment again at load, before the program can see it. */
#define TG_ADOPT_VAR "TMPGUARD_ADOPT"
/* The same for an heir's exec (heirs.h): "SELF:PARENT:START:GEN". */
#define TG_HEIR_VAR "TMPGUARD_HEIR"

/* Owned by config.c; read-only everywhere else. */
extern struct tg_config tg_cfg;

/* "90s", "10m", "2h", "1d" (also "500ms") into milliseconds; 0 when malformed. */
unsigned long long tg_parse_duration(const char *s);
/* "4096", "500K", "500M", "2G" into bytes; 0 when malformed. */
unsigned long long tg_parse_size(const char *s);

/* Reads TMPGUARD_* and friends (one pass over the environment); argv0 decides TMPGUARD_HANDOFF.
 * Prints one line per malformed variable and keeps that variable's default; sets up the log. */
void tg_config_load(const char *argv0);
/* Only the temp roots and the state directory (the tools need them whatever the mode). */
void tg_config_load_paths(void);

#endif
