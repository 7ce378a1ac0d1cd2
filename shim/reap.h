/* Reaping a record whose process is gone: shared by the reaper (tmpguard reap, the launcher) and
 * by a process that ends while records name it as their heir (heirs.c).  Async-signal-safe. */
#ifndef TG_REAP_H
#define TG_REAP_H

#include <stdint.h>

#include "recread.h"
#include "report.h"
#include "sweep.h"

struct tg_reap_opts {
    int dry;                          /* report only */
    const struct tg_proc_id *ending;  /* an heir that is ending: counts as gone; and only records
                                       * that name it are looked at */
    const struct tg_rm_guard *guard;  /* extra checks per object (the reaper), or NULL */
    /* Told of each entry that is removed, would be, or is left (may be NULL). */
    void (*report)(const struct tg_rec_entry *e, enum tg_outcome o, uint64_t bytes, void *arg);
    void *arg;
    /* Splitting the work (the reaper runs two threads over a large record): only files and
     * mkdtemp trees or only plain directories, only entries whose index is OFFSET modulo STRIDE
     * (stride 0: all), and the record left in place (KEEP_RECORD). */
    enum tg_sweep_phase phase;
    unsigned stride, offset;
    int keep_record;
    /* The ending heir may still need E for a process of its own (a child it forked after E was
     * made): then E stays.  May be NULL. */
    int (*keep)(const struct tg_rec_entry *e, void *arg);
    /* The leak report of each record reaped (report.h), or NULL: its leaks, with their call sites,
     * and the summary of a process that did not end through the shim.  Not with STRIDE. */
    struct tg_report *leaks;
};

enum tg_reap_result {
    TG_REAP_ALIVE,    /* its process (or, for a handed record, an heir) lives: untouched */
    TG_REAP_DONE,     /* everything due is gone; the record is removed (kept with dry) */
    TG_REAP_KEPT,     /* some entries stay for a living heir, or could not be removed */
    TG_REAP_REFUSED,  /* damaged or hostile: nothing done; r->why says why */
    TG_REAP_NOT_NAMED /* opts->ending is not among its heirs */
};

/* Reaps NAME in DFD.  BUF/BUFSZ as for tg_rr_open. */
enum tg_reap_result tg_reap_record(int dfd, const char *name, const struct tg_reap_opts *o,
                                   struct tg_rec_reader *r, char *buf, size_t bufsz);

#endif
