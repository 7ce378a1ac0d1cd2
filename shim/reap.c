#include "reap.h"

#include <string.h>

#include "counters.h"
#include "proc.h"
#include "sys.h"

/* A record read from its file, as the sweep's source: the file is read again on every pass, so
 * nothing of it is held in memory. */
struct from_file {
    int dfd;
    const char *name;
    const struct tg_reap_opts *o;
    struct tg_rec_reader *r;
    char *buf;
    size_t bufsz;
    const struct tg_rec_header *h; /* as read when the reap began */
    const int *alive;              /* which of h's heirs live */
    int is_open;
    unsigned removed;              /* what this reap removed, for the summary */
    uint64_t bytes;
};

/* Whether an heir other than opts->ending, still alive, may use entry E. */
static int protected_by_heir(const struct from_file *f, const struct tg_rec_entry *e)
{
    uint32_t n = f->h->nheirs < TG_MAX_HEIRS ? f->h->nheirs : TG_MAX_HEIRS;
    /* h is a copy of the header read from the file: cppcheck follows the memset that precedes the
     * read and concludes nheirs is 0. */
    // cppcheck-suppress knownConditionTrueFalse
    for (uint32_t i = 0; i < n; i++)
        if (f->alive[i] && f->h->heirs[i].gen > e->fork_gen)
            return 1;
    return 0;
}

static int kept(const struct from_file *f, const struct tg_rec_entry *e)
{
    return protected_by_heir(f, e) || (f->o->keep && f->o->keep(e, f->o->arg));
}

static int file_rewind(void *self)
{
    struct from_file *f = self;
    if (f->is_open)
        tg_rr_close(f->r);
    f->is_open = tg_rr_open(f->r, f->dfd, f->name, f->buf, f->bufsz) == 0;
    return f->is_open ? 0 : -1;
}

static int file_next(void *self, struct tg_rec_entry **e)
{
    struct from_file *f = self;
    const struct tg_rec_entry *ce;
    int got = tg_rr_next(f->r, &ce);
    /* The reader's own buffer: the sweep may not change it, and does not. */
    *e = (struct tg_rec_entry *)ce;
    return got;
}

static int file_take(void *self, struct tg_rec_entry *e) { return !kept(self, e); }

static void file_report(void *self, const struct tg_rec_entry *e, enum tg_outcome o, uint64_t bytes)
{
    struct from_file *f = self;
    if (f->o->leaks && (o == TG_REMOVED || o == TG_WOULD)) {
        union {
            struct tg_rec_site head;
            /* Room for the site's text, which follows its head (head.text): read through head. */
            // cppcheck-suppress unusedStructMember
            char room[sizeof(struct tg_rec_site) + TG_SITE_TEXT_MAX + 1];
        } site;
        uint32_t cell = tg_rec_entry_site(e);
        int known = cell && tg_rr_site(f->r, cell, &site.head, sizeof site) == 0;
        tg_report_leak(f->o->leaks, e, bytes, o == TG_REMOVED, known ? &site.head : NULL);
    }
    if (o == TG_REMOVED) {
        f->removed++;
        f->bytes += bytes;
    }
    if (f->o->report)
        f->o->report(e, o, bytes, f->o->arg);
}

/* Whether slot A names B, signed off (its pid negated, recfmt.h) or not.  A slot B signed off
 * before its parent filled it in has no start time. */
static int is_self(const struct tg_proc_id *a, const struct tg_proc_id *b)
{
    return b && ((a->pid == b->pid && a->start_ticks == b->start_ticks) ||
                 (a->pid == -b->pid && (a->start_ticks == b->start_ticks || a->start_ticks == 0)));
}

enum tg_reap_result tg_reap_record(int dfd, const char *name, const struct tg_reap_opts *o,
                                   struct tg_rec_reader *r, char *buf, size_t bufsz)
{
    if (tg_rr_open_header(r, dfd, name, buf, bufsz) < 0) {
        tg_rr_close(r);
        return TG_REAP_REFUSED;
    }
    struct tg_rec_header h = r->h;
    uint32_t n = h.nheirs < TG_MAX_HEIRS ? h.nheirs : TG_MAX_HEIRS;
    int alive[TG_MAX_HEIRS], named = 0;
    // cppcheck-suppress knownConditionTrueFalse ; see protected_by_heir
    for (uint32_t i = 0; i < n; i++) {
        named |= is_self(&h.heirs[i], o->ending);
        alive[i] = !is_self(&h.heirs[i], o->ending) && tg_proc_alive(&h.heirs[i]);
    }
    struct tg_proc_id owner = {.pid = h.pid, .gen = 0, .start_ticks = h.start_ticks};
    tg_rr_close(r);
    if (o->ending && !named)
        return TG_REAP_NOT_NAMED;
    /* An owner that has ended through the shim (ENDED) may still be exiting: what it left LIVE is
     * for its heirs already. */
    if (!(h.flags & TG_REC_ENDED) && tg_proc_alive(&owner))
        return TG_REAP_ALIVE;

    struct from_file f = {dfd, name, o, r, buf, bufsz, &h, alive, 0, 0, 0};
    /* The whole record is checked before anything is removed: a record that turns out hostile
     * halfway must not have been half believed.  The same look counts what stays for heirs. */
    struct tg_rec_entry *e;
    int valid, for_heirs = 0;
    if (file_rewind(&f) < 0) {
        tg_rr_close(r);
        return TG_REAP_REFUSED;
    }
    while ((valid = file_next(&f, &e)) == 1)
        for_heirs += kept(&f, e);
    tg_rr_close(r);
    f.is_open = 0;
    if (valid < 0)
        return TG_REAP_REFUSED;

    struct tg_sweep_src src = {file_rewind, file_next, file_take, NULL, file_report, NULL, &f};
    struct tg_sweep_opts so = {.dry = o->dry, .guard = o->guard, .phase = o->phase, .stride = o->stride,
                               .offset = o->offset, .report_kept_dirs = o->report != NULL};
    if (o->leaks)
        tg_report_begin(o->leaks, h.pid, h.program, o->dry ? TG_CAUSE_AUDIT : TG_CAUSE_REAP);
    int rc = tg_sweep(&src, &so);
    if (f.is_open)
        tg_rr_close(r);
    /* The summary of a process that could not write its own (it did not end through the shim); a
     * dry run's would come again with the real reap. */
    if (o->leaks && !o->dry && !(h.flags & TG_REC_ENDED) && rc == 0 && !for_heirs)
        tg_report_summary(o->leaks, &h, f.removed, f.bytes);
    if (o->leaks)
        tg_report_end(o->leaks);
    if (!o->dry)
        tg_counters_add_removed(dfd, NULL, TG_CAUSE_REAP, f.removed, f.bytes);
    if (rc < 0)
        return TG_REAP_KEPT;
    /* The record stays only for what living heirs may still use; what was left otherwise is left
     * for good (a non-empty directory stays by the contract). */
    if (for_heirs)
        return TG_REAP_KEPT;
    if (!o->dry && !o->keep_record)
        tg_unlinkat(dfd, name, 0);
    return TG_REAP_DONE;
}
