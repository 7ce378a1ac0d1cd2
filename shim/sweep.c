#include "sweep.h"

#include <sys/stat.h>

/* The bulk path's callbacks, in terms of the source. */
static struct tg_rec_entry *bulk_find(void *self, const char *abs, size_t len)
{
    const struct tg_sweep_src *s = self;
    return s->find(s->self, abs, len);
}
static int bulk_take(void *self, struct tg_rec_entry *e)
{
    const struct tg_sweep_src *s = self;
    return s->take(s->self, e);
}
static void bulk_put_back(void *self, struct tg_rec_entry *e)
{
    const struct tg_sweep_src *s = self;
    if (s->put_back)
        s->put_back(s->self, e);
}
static void bulk_done(void *self, struct tg_rec_entry *e)
{
    const struct tg_sweep_src *s = self;
    if (s->report)
        s->report(s->self, e, TG_REMOVED, 0);
}

/* Files and mkdtemp trees.  Sets *DIRS when there are plain directories for the passes after. */
static int files_pass(const struct tg_sweep_src *s, const struct tg_sweep_opts *o, struct tg_parent *pc, int *dirs)
{
    struct tg_bulk bulk = {bulk_find, bulk_take, bulk_put_back, bulk_done, (void *)s};
    struct tg_rec_entry *e;
    unsigned idx = 0;
    int got;
    if (s->rewind(s->self) < 0)
        return -1;
    while ((got = s->next(s->self, &e)) == 1) {
        if (o->stride && idx++ % o->stride != o->offset)
            continue;
        if (tg_plain_dir(e)) {
            *dirs = 1;
            continue;
        }
        if (!s->take(s->self, e))
            continue;
        uint64_t bytes = 0;
        enum tg_outcome out = tg_remove_entry(e, pc, 0, o->dry, &bytes, o->guard);
        if (s->report)
            s->report(s->self, e, out, bytes);
        if (s->find && !o->dry && pc->fd >= 0 && pc->run == TG_BULK_AFTER)
            tg_remove_bulk(pc, &bulk);
    }
    return got;
}

/* One pass over the plain directories: those empty by now go.  Returns 1 when one went (or would),
 * 0 when none did, -1 when the source broke off.  LAST: this look only reports what stays. */
static int dirs_pass(const struct tg_sweep_src *s, const struct tg_sweep_opts *o, struct tg_parent *pc, int last)
{
    struct tg_rec_entry *e;
    int got, progress = 0;
    if (s->rewind(s->self) < 0)
        return -1;
    while ((got = s->next(s->self, &e)) == 1) {
        if (!tg_plain_dir(e) || !s->take(s->self, e))
            continue;
        enum tg_outcome out = tg_remove_entry(e, pc, 1, o->dry, NULL, o->guard);
        if (out == TG_NOT_EMPTY && s->put_back)
            s->put_back(s->self, e);
        if (s->report && (out != TG_NOT_EMPTY || last))
            s->report(s->self, e, out, 0);
        progress |= out == TG_REMOVED || out == TG_WOULD;
    }
    return got < 0 ? -1 : progress;
}

int tg_sweep(const struct tg_sweep_src *s, const struct tg_sweep_opts *o)
{
    struct tg_parent pc;
    int dirs = o->phase == TG_SWEEP_DIRS, rc = 0;
    tg_parent_init(&pc);
    if (o->phase != TG_SWEEP_DIRS)
        rc = files_pass(s, o, &pc, &dirs);
    if (o->phase == TG_SWEEP_FILES || rc < 0 || !dirs) {
        tg_parent_close(&pc);
        return rc < 0 ? -1 : 0;
    }
    /* Children first: a directory empties once the tracked ones inside it are gone. */
    int level;
    for (level = 0; level < TG_SWEEP_DIR_LEVELS; level++) {
        int p = dirs_pass(s, o, &pc, 0);
        if (p < 0) {
            tg_parent_close(&pc);
            return -1;
        }
        if (!p || o->dry)
            break;
    }
    if (o->report_kept_dirs && !o->dry && dirs_pass(s, o, &pc, 1) < 0)
        rc = -1;
    tg_parent_close(&pc);
    return rc < 0 ? -1 : 0;
}
