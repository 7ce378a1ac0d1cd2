/* Leak reports (TMPGUARD_REPORT): what tmpguard removed, or in audit mode would remove, of what a
 * program left behind, with the call site that created it; for the developers who own the leak.
 *
 *   a file: JSON lines appended, one object per leaked entry and one summary per process that ends
 *           (the field list: README), each line one write(2) on a descriptor opened O_APPEND, so
 *           that processes writing to one report at once never interleave;
 *   stderr: LeakSanitizer's shape, so that the scrapers people run for LSan logs pick it up: a
 *           header, one block per call site with its frames, a SUMMARY line; nothing at all when
 *           nothing leaked.
 *
 * A report is a batch: begin, the leaks, (the summary,) end.  One batch per occasion: the end of a
 * process, one sweep while it runs, one record reaped.  Async-signal-safe: no allocation, raw
 * system calls, the caller's static struct tg_report; the destination is opened at begin and
 * closed at end (no descriptor of the shim's stays open between calls). */
#ifndef TG_REPORT_H
#define TG_REPORT_H

#include <stdint.h>

#include "path.h"
#include "recfmt.h"

enum tg_cause { TG_CAUSE_EXIT, TG_CAUSE_SIGNAL, TG_CAUSE_MAX_AGE, TG_CAUSE_REAP, TG_CAUSE_AUDIT };

/* The name of the function that made an entry ("mkstemp"), or "unknown". */
const char *tg_api_name(unsigned api);

/* Call sites grouped in one batch for the stderr form; more go together as "other call sites". */
#define TG_REPORT_GROUPS 32
/* The site's text follows its head here as it does in the record (head.text reads it), which a
 * struct member with a flexible array allows as a GNU extension: said so for clang's checks. */
#ifdef __clang__
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
#endif
struct tg_report_group {
    unsigned files, api;
    uint64_t bytes;
    struct tg_rec_site head; /* nframes 0: the site is not known */
    char text[TG_SITE_TEXT_MAX];
};
#ifdef __clang__
#pragma clang diagnostic pop
#endif
struct tg_report {
    int given_fd; /* >= 0: the destination, already open (a tool's, held across records); else 0 or -1 */
    int fd, own, json, pid;
    char program[sizeof(((struct tg_rec_header *)0)->program)];
    enum tg_cause cause;
    unsigned files, ngroups, other_files;
    uint64_t bytes, other_bytes;
    struct tg_report_group groups[TG_REPORT_GROUPS];
    char line[6 * (TG_PATH_MAX + TG_SITE_TEXT_MAX) + 1024]; /* one JSON line, every byte escaped */
};

/* Begins a batch for process PID running PROGRAM, leaks removed (or kept in audit) for CAUSE.
 * Does nothing unless reports are on (tg_cfg.report). */
void tg_report_begin(struct tg_report *r, int pid, const char *program, enum tg_cause cause);
/* E, removed (REMOVED, or would be in audit mode) with BYTES; SITE its call site or NULL. */
void tg_report_leak(struct tg_report *r, const struct tg_rec_entry *e, uint64_t bytes, int removed,
                    const struct tg_rec_site *site);
/* The summary of a process that ends (JSON only): H's counts, plus REMOVED entries and BYTES that
 * this batch's remover has not counted into H. */
void tg_report_summary(struct tg_report *r, const struct tg_rec_header *h, unsigned removed, uint64_t bytes);
void tg_report_end(struct tg_report *r);

#endif
