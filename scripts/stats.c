/* tmpguard stats: the node's figures, for people or, with --prometheus, in the Prometheus text
 * exposition format (node_exporter's textfile collector reads it from --output FILE).
 *
 * The counters come from each state directory's counters file (shim/counters.h), which the
 * processes, their sweeps and the reaper add to; what is outstanding now is read from the records,
 * as tmpguard status reads them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "counters.h"
#include "proc.h"
#include "recread.h"
#include "tool.h"

struct figures {
    struct tg_counts c;
    unsigned long long outstanding; /* files named in records that are still the files created */
    unsigned long long tracking;    /* live processes with at least one of them */
};

/* The causes as the counters file orders them (report.h), with their label and words. */
static const struct {
    enum tg_cause cause;
    const char *label, *words;
} causes[TG_CNT_CAUSES] = {
    {TG_CAUSE_EXIT, "exit", "at the process's exit"},
    {TG_CAUSE_SIGNAL, "signal", "at its fatal signal"},
    {TG_CAUSE_MAX_AGE, "max-age", "idle while it ran"},
    {TG_CAUSE_REAP, "reap", "by the reaper"},
};

/* The records of one state directory: every entry whose file is still the one created counts as
 * outstanding (a live process's, and a dead one's waiting for the reaper); a live process with any
 * is tracking. */
static void one_record(void *arg, struct tg_rec_reader *r)
{
    struct figures *fg = arg;
    struct tg_proc_id owner = {.pid = r->h.pid, .gen = 0, .start_ticks = r->h.start_ticks};
    unsigned long long n = 0;
    const struct tg_rec_entry *e;
    struct stat st;
    while (tg_rr_next(r, &e) == 1)
        n += tool_entry_present(e, &st);
    fg->outstanding += n;
    fg->tracking += n && tg_proc_alive(&owner);
}

static void one_dir(struct tool *t, void *arg)
{
    struct figures *fg = arg;
    int dfd = tool_open_state_dir(t, 1);
    if (dfd < 0)
        return; /* missing: nothing was ever counted there; refused: said */
    struct tg_counts c;
    const char *why = "";
    if (tg_counters_read(dfd, &c, &why) < 0) {
        t->dir_refused = 1;
        fprintf(stderr, "tmpguard: %s/%s refused: %s\n", t->state_dir, TG_CNT_NAME, why);
    } else {
        for (int i = 0; i < TG_CNT_CAUSES; i++) {
            fg->c.files[i] += c.files[i];
            fg->c.bytes[i] += c.bytes[i];
        }
        fg->c.refused += c.refused;
    }
    tool_each_record(dfd, one_record, fg);
    close(dfd);
}

/* The exposition format: # HELP and # TYPE for each metric, no timestamps (the textfile collector
 * skips a file with them), labels of bounded values only. */
static void prometheus(FILE *out, const struct figures *fg)
{
    fprintf(out, "# HELP tmpguard_files_removed_total Temp files tmpguard removed, by cause: exit or signal (at the "
                 "end of their process), max-age (idle while it ran), reap (after it was killed).\n"
                 "# TYPE tmpguard_files_removed_total counter\n");
    for (int i = 0; i < TG_CNT_CAUSES; i++)
        fprintf(out, "tmpguard_files_removed_total{cause=\"%s\"} %llu\n", causes[i].label,
                (unsigned long long)fg->c.files[causes[i].cause]);
    fprintf(out, "# HELP tmpguard_bytes_removed_total Bytes of the temp files tmpguard removed, by cause.\n"
                 "# TYPE tmpguard_bytes_removed_total counter\n");
    for (int i = 0; i < TG_CNT_CAUSES; i++)
        fprintf(out, "tmpguard_bytes_removed_total{cause=\"%s\"} %llu\n", causes[i].label,
                (unsigned long long)fg->c.bytes[causes[i].cause]);
    fprintf(out,
            "# HELP tmpguard_files_outstanding Temp files named in records now: of live processes, and of "
            "killed ones waiting for the reaper.\n"
            "# TYPE tmpguard_files_outstanding gauge\n"
            "tmpguard_files_outstanding %llu\n"
            "# HELP tmpguard_processes_tracking Live processes that hold temp files tmpguard tracks.\n"
            "# TYPE tmpguard_processes_tracking gauge\n"
            "tmpguard_processes_tracking %llu\n"
            "# HELP tmpguard_records_refused_total Records the reaper refused as damaged or hostile.\n"
            "# TYPE tmpguard_records_refused_total counter\n"
            "tmpguard_records_refused_total %llu\n",
            fg->outstanding, fg->tracking, (unsigned long long)fg->c.refused);
}

static void plain(FILE *out, const struct figures *fg)
{
    fprintf(out, "%-28s %10s %14s\n", "REMOVED", "FILES", "BYTES");
    for (int i = 0; i < TG_CNT_CAUSES; i++)
        fprintf(out, "%-28s %10llu %14llu\n", causes[i].words, (unsigned long long)fg->c.files[causes[i].cause],
                (unsigned long long)fg->c.bytes[causes[i].cause]);
    fprintf(out, "now: %llu files outstanding, %llu processes tracking; %llu records refused by the reaper\n",
            fg->outstanding, fg->tracking, (unsigned long long)fg->c.refused);
}

/* FILE replaced whole: written as FILE.PID beside it, then renamed over it, so that a reader (the
 * textfile collector) sees the old figures or the new ones, never half of them. */
static int write_atomically(const char *file, const struct tool *t, const struct figures *fg)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.%d", file, (int)getpid()) >= (int)sizeof tmp) {
        fprintf(stderr, "tmpguard: --output %s: name too long\n", file);
        return 1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        fprintf(stderr, "tmpguard: --output %s: cannot write %s: %s\n", file, tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    (t->prometheus ? prometheus : plain)(out, fg);
    int bad = fflush(out) != 0 || fsync(fileno(out)) != 0;
    bad |= fclose(out) != 0;
    if (bad || rename(tmp, file) != 0) {
        fprintf(stderr, "tmpguard: --output %s: %s\n", file, strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
}

int tool_stats(struct tool *t)
{
    struct figures fg;
    memset(&fg, 0, sizeof fg);
    if (t->all_users)
        tool_each_user_dir(t, one_dir, &fg);
    else
        one_dir(t, &fg);
    int rc = t->dir_refused ? 1 : 0;
    if (t->output)
        return write_atomically(t->output, t, &fg) ? 1 : rc;
    (t->prometheus ? prometheus : plain)(stdout, &fg);
    return fflush(stdout) != 0 ? 1 : rc;
}
