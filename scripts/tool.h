/* tmpguard-tool: the launcher's C half.  What the commands share. */
#ifndef TG_TOOL_H
#define TG_TOOL_H

#include <stdint.h>
#include <stdio.h>

#include "recfmt.h"

/* What a command was asked to do, set by the option parser (tool.c) and passed to the parts. */
struct tool {
    const char *state_dir;           /* the state directory to read */
    int dry_run;                     /* reap: report only */
    FILE *say;                       /* where removals are reported: stdout (reap), stderr or nowhere (run) */
    struct tg_proc_id only_supervisor; /* reap only the records of this launcher's tree (pid 0: all) */
    int dir_refused;                 /* set when the state directory exists but could not be used */
    int all_users;                   /* reap, stats: every user's default state directory */
    int prometheus;                  /* stats: the Prometheus text format */
    const char *output;              /* stats: the file to write (atomically), or NULL: stdout */
};

struct totals {
    unsigned long long files, bytes, records, refused, live;
    unsigned long long unsaid; /* of the refused: records that could not be opened, not said (QUIET) */
};

/* reaper.c: every record of a dead process in the state directory (those of T->only_supervisor,
 * if set), with the rights of each record's user; markers of gone processes go too.  QUIET: a
 * record that cannot be opened is not said. */
struct totals tool_reap_all(struct tool *t, int quiet);
/* Opens the state directory if it is safe to believe (tool.c's rule, shared). -1 when not. */
int tool_open_state_dir(struct tool *t, int quiet_if_missing);
int tool_is_record_name(const char *name);
/* Calls EACH for every record of the state directory DFD that the reader accepts (R open: EACH
 * reads it; it is closed after).  Refused ones are skipped: the reaper says and counts those. */
struct tg_rec_reader;
typedef void tool_record_fn(void *arg, struct tg_rec_reader *r);
void tool_each_record(int dfd, tool_record_fn *each, void *arg);
/* Whether E's path still names the file it made (no link followed), with its ST. */
struct tg_rec_entry;
struct stat;
int tool_entry_present(const struct tg_rec_entry *e, struct stat *st);
/* Every user's default state directory that exists: /tmp/tmpguard-UID and /run/user/UID/tmpguard,
 * each only if it belongs to UID (else it is named on stderr and T->dir_refused set).  Calls EACH
 * with T->state_dir set to it. */
void tool_each_user_dir(struct tool *t, void (*each)(struct tool *t, void *arg), void *arg);

/* stats.c: the figures of the state directory (or, T->all_users, of every user's) on stdout or in
 * T->output.  Returns the exit status. */
int tool_stats(struct tool *t);

/* supervise.c: runs ARGV under the shim (library LIB) as a supervised child; returns its status
 * (or dies of its signal). */
int tool_run(struct tool *t, const char *lib, char **argv);

/* report.c: the call sites of the library's leak report (JSON lines) read from PATH (NULL or "-":
 * standard input), ranked by files leaked, then bytes, on stdout.  Returns the exit status: 0, or 1
 * when PATH cannot be read or stdout written.  Lines it does not understand are skipped, and
 * counted on stderr. */
int tool_report(const char *path);

#endif
