#include "reap.h"

#include <string.h>

#include "sys.h"

/* Whether an heir other than opts->ending, still alive, may use entry E. */
static int protected_by_heir(const struct tg_rec_header *h, const struct tg_rec_entry *e, const struct tg_reap_opts *o,
                             const int *alive)
{
    uint32_t n = h->nheirs < TG_MAX_HEIRS ? h->nheirs : TG_MAX_HEIRS;
    /* h is a copy of the header read from the file: cppcheck follows the memset that precedes the
     * read and concludes nheirs is 0. */
    // cppcheck-suppress knownConditionTrueFalse
    for (uint32_t i = 0; i < n; i++)
        if (alive[i] && h->heirs[i].gen > e->fork_gen)
            return 1;
    (void)o;
    return 0;
}

/* Whether slot A names B, signed off (its pid negated, record.h) or not.  A slot B signed off
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
    if (o->ending && !named) {
        tg_rr_close(r);
        return TG_REAP_NOT_NAMED;
    }
    /* An owner that has ended through the shim (ENDED) may still be exiting: what it left LIVE is
     * for its heirs already. */
    if (!(h.flags & TG_REC_ENDED) && tg_proc_alive(&owner)) {
        tg_rr_close(r);
        return TG_REAP_ALIVE;
    }
    tg_rr_close(r);

    /* The whole record is checked before anything is removed: a record that turns out hostile
     * halfway must not have been half believed. */
    if (tg_rr_open(r, dfd, name, buf, bufsz) < 0) {
        tg_rr_close(r);
        return TG_REAP_REFUSED;
    }
    const struct tg_rec_entry *chk;
    int valid;
    while ((valid = tg_rr_next(r, &chk)) == 1)
        ;
    tg_rr_close(r);
    if (valid < 0)
        return TG_REAP_REFUSED;

    /* Pass one: files and mkdtemp trees; then directories made by mkdir, children first, while a
     * pass makes progress.  The record is read again for each pass: nothing is held in memory. */
    struct tg_parent pc;
    tg_parent_init(&pc);
    int left_files = 0, more_dirs = 0;
    int first = o->phase == TG_REAP_DIRS ? 1 : 0;
    for (int pass = first; pass < 16; pass++) {
        int progress = 0;
        unsigned idx = 0;
        if (tg_rr_open(r, dfd, name, buf, bufsz) < 0) {
            tg_rr_close(r);
            tg_parent_close(&pc);
            return pass == 0 ? TG_REAP_REFUSED : TG_REAP_KEPT;
        }
        const struct tg_rec_entry *e;
        int got;
        while ((got = tg_rr_next(r, &e)) == 1) {
            int plain_dir = S_ISDIR(e->mode) && e->kind != TG_K_MKDTEMP;
            int prot = protected_by_heir(&h, e, o, alive) || (o->keep && o->keep(e, o->arg));
            if (pass == 0 && o->stride && idx++ % o->stride != o->offset)
                continue;
            if (pass == 0 && (prot || plain_dir)) {
                left_files += prot;
                more_dirs |= plain_dir && !prot;
                continue;
            }
            if (pass > 0 && (!plain_dir || prot))
                continue;
            uint64_t bytes = 0;
            enum tg_outcome out = tg_remove_entry(e, &pc, pass > 0, o->dry, &bytes, o->guard);
            if (out == TG_REMOVED || out == TG_WOULD)
                progress = 1;
            /* A directory that is not empty yet may empty in the next pass: said at the end. */
            if (o->report && out != TG_NOT_EMPTY)
                o->report(e, out, bytes, o->arg);
        }
        tg_rr_close(r);
        if (got < 0) {
            tg_parent_close(&pc);
            return pass == 0 ? TG_REAP_REFUSED : TG_REAP_KEPT;
        }
        if (pass == 0 ? (!more_dirs || o->phase == TG_REAP_FILES) : (!progress || o->dry))
            break;
    }
    /* The plain directories that stay, not empty, said once. */
    if (more_dirs && o->report && !o->dry && tg_rr_open(r, dfd, name, buf, bufsz) == 0) {
        const struct tg_rec_entry *e;
        while (tg_rr_next(r, &e) == 1)
            if (S_ISDIR(e->mode) && e->kind != TG_K_MKDTEMP && !protected_by_heir(&h, e, o, alive) &&
                !(o->keep && o->keep(e, o->arg)) && tg_remove_entry(e, &pc, 1, 0, NULL, o->guard) == TG_NOT_EMPTY)
                o->report(e, TG_NOT_EMPTY, 0, o->arg);
    }
    tg_rr_close(r);
    /* The record stays only for what living heirs may still use; what was left otherwise is left
     * for good (a non-empty directory stays by the contract). */
    int left = left_files;
    tg_parent_close(&pc);
    if (left)
        return TG_REAP_KEPT;
    if (!o->dry && !o->keep_record)
        tg_unlinkat(dfd, name, 0);
    return TG_REAP_DONE;
}
