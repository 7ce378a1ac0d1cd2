/* The sweep: removes a set of entries, files first, then directories.  One algorithm for the end of
 * a process (its own registry), the reaper and the heirs (a record read from a file), and whoever
 * comes next; where the entries come from, which of them may go and who hears of each outcome is
 * the caller's, through the source below.  Async-signal-safe when the source is. */
#ifndef TG_SWEEP_H
#define TG_SWEEP_H

#include <stdint.h>
#include <sys/stat.h>

#include "remover.h"

struct tg_sweep_src {
    /* Back to the first entry: 0, or -1 when the entries cannot be read any more. */
    int (*rewind)(void *self);
    /* The next entry: 1 with *E set, 0 at the end, -1 when the entries turn out unreadable. */
    int (*next)(void *self, struct tg_rec_entry **e);
    /* Whether the sweep may remove E now; if so E is the sweep's until it is removed or put back. */
    int (*take)(void *self, struct tg_rec_entry *e);
    /* E, taken, could not go yet (a directory not empty): its owner's again.  May be NULL. */
    void (*put_back)(void *self, struct tg_rec_entry *e);
    /* E's outcome, with the bytes removed (or that would be); may be NULL.  TG_NOT_EMPTY is said
     * only in the last look (report_kept_dirs). */
    void (*report)(void *self, const struct tg_rec_entry *e, enum tg_outcome o, uint64_t bytes);
    /* The entry with this path, for reading a crowded directory once (remover.h); NULL: never. */
    struct tg_rec_entry *(*find)(void *self, const char *abs, size_t len);
    void *self;
};

enum tg_sweep_phase { TG_SWEEP_ALL, TG_SWEEP_FILES, TG_SWEEP_DIRS };

struct tg_sweep_opts {
    int dry;                         /* remove nothing; report TG_WOULD */
    const struct tg_rm_guard *guard; /* extra checks per object (entries of another process), or NULL */
    enum tg_sweep_phase phase;       /* FILES: files and mkdtemp trees only; DIRS: plain directories only */
    unsigned stride, offset;         /* files: only every STRIDE-th from OFFSET (0: all), for two threads */
    int report_kept_dirs;            /* end with one more look, to report the directories that stay */
};

/* How many levels of nested plain directories one sweep empties.  A pass removes every tracked
 * directory that is empty by then, so a chain of nested tracked directories empties one level per
 * pass; passes repeat while one makes progress, and this bound keeps the time in a signal handler
 * bounded (deeper chains stay, as a directory that is not empty stays).  Real programs nest a few
 * levels (tar and cp -a: the depth of the tree they copy). */
#define TG_SWEEP_DIR_LEVELS 64

/* Whether E is a plain directory (made by mkdir): it goes only once it is empty.  A mkdtemp
 * directory goes with its contents, among the files. */
static inline int tg_plain_dir(const struct tg_rec_entry *e)
{
    return S_ISDIR(e->mode) && e->kind != TG_K_MKDTEMP;
}

/* Sweeps SRC.  Returns 0, or -1 when the source broke off (what was done stays done). */
int tg_sweep(const struct tg_sweep_src *src, const struct tg_sweep_opts *o);

#endif
