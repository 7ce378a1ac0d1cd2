#include "registry.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "path.h"
#include "record.h"
#include "sys.h"

_Atomic size_t tg_live;
_Atomic size_t tg_reg_scratch;
_Atomic uint64_t tg_reg_scratch_kb;
int tg_reg_pid;

#define MAX_CELLS (1u + (TG_PATH_MAX + TG_CELL) / TG_CELL)

/* Everything below is touched only by threads that are inside, under `lock`: a spinlock, since it
 * is held for a few hundred instructions at most (no system call but when the record grows) and
 * an uncontended pthread mutex costs as much again as the work it guards. */
static _Atomic int lock;

static void lock_take(void)
{
    for (int spins = 0; atomic_exchange_explicit(&lock, 1, memory_order_acquire); spins++) {
        if (spins > 100)
            sched_yield();
#if defined(__x86_64__) || defined(__i386__)
        else
            __builtin_ia32_pause();
#endif
    }
}

static void lock_drop(void) { atomic_store_explicit(&lock, 0, memory_order_release); }

/* An entry leaves the live ones: its share of the scratch counts goes. */
static void uncount(const struct tg_rec_entry *e)
{
    if (e->when == TG_WHEN_ENDS) {
        atomic_fetch_sub_explicit(&tg_reg_scratch, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&tg_reg_scratch_kb, e->size_kb, memory_order_relaxed);
    }
}
static int ready;                    /* the record exists */
static int counting;                 /* the record keeps the summary's counts (TG_REC_COUNTED) */
static int failed;                   /* the record could not be made: track nothing */
static uint32_t *buckets;            /* cell of the first entry per hash bucket, 0 = none */
static _Atomic size_t nbuckets;      /* power of two; read outside the lock only to size a new table */
/* The first table is static: the index needs no allocation until it holds more entries than this. */
#define FIRST_BUCKETS 256
static uint32_t first_buckets[FIRST_BUCKETS];
static uint32_t free_head[MAX_CELLS + 1]; /* reusable FREE blocks by size */

/* How many live entries have a last component hashing to each slot.  The unlink and rename
 * wrappers read it without a lock: for a name no entry has (nearly every call), that is all. */
#define FILTER 4096
static _Atomic uint32_t name_filter[FILTER];

/* The key of the index and of the name filter: the last path component, 8 bytes at a time (an
 * unlink of a name no entry has, nearly every unlink, costs this hash and one load).  Never 0. */
uint32_t tg_reg_hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
    if (n >= 8) {
        /* Whole words, then the last eight bytes (overlapping): no byte loop, and only bytes of
         * the name are read. */
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdull;
        }
        memcpy(&w, s + n - 8, 8);
    } else {
        w = 0;
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)(unsigned char)s[i] << (8 * i);
    }
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return (uint32_t)h ? (uint32_t)h : 1;
}
#define hash_name tg_reg_hash

/* The last component of an absolute normalised path. */
static inline __attribute__((always_inline)) uint32_t hash_last(const char *abs, size_t len)
{
    const char *slash = memrchr(abs, '/', len);
    size_t i = slash ? (size_t)(slash - abs) + 1 : 0;
    return hash_name(abs + i, len - i);
}

/* Moves the index into SPARE (N buckets), under the lock; returns the table it replaced, which the
 * caller frees once the lock is dropped.  No allocation happens under the lock: a thread that holds
 * a lock fork() takes must never wait for the allocator (a sanitizer's fork, or an allocator's own
 * fork handler, may hold the allocator's locks while it waits for ours). */
static uint32_t *regrow(uint32_t *spare, size_t n)
{
    size_t old_n = atomic_load_explicit(&nbuckets, memory_order_relaxed);
    uint32_t *old = buckets;
    for (size_t i = 0; i < old_n; i++) {
        for (uint32_t c = old[i]; c;) {
            struct tg_rec_entry *x = tg_rec_at(c);
            uint32_t next = x->link;
            x->link = spare[x->hash & (n - 1)];
            spare[x->hash & (n - 1)] = c;
            c = next;
        }
    }
    buckets = spare;
    atomic_store_explicit(&nbuckets, n, memory_order_relaxed);
    return old == first_buckets ? NULL : old;
}

/* Under the lock.  A full table still works, with longer chains, until a larger one is ready. */
static void index_insert(uint32_t cell, struct tg_rec_entry *e)
{
    if (!buckets) {
        buckets = first_buckets;
        atomic_store_explicit(&nbuckets, FIRST_BUCKETS, memory_order_relaxed);
    }
    size_t b = e->hash & (atomic_load_explicit(&nbuckets, memory_order_relaxed) - 1);
    e->link = buckets[b];
    buckets[b] = cell;
}

static void adopted(void);

/* The record exists: the one a previous image of this process left (exec), or a new one. */
static int ensure_ready(void)
{
    if (ready)
        return 0;
    if (failed)
        return -1;
    if (tg_rec_adopt()) {
        adopted();
        return 0;
    }
    if (tg_rec_open() < 0) {
        failed = 1;
        tg_log(TG_LOG_WARN, "cannot allocate the registry; temp files are not tracked");
        return -1;
    }
    tg_reg_pid = tg_getpid();
    ready = 1;
    /* The summary's counts, only when reports are on: a feature nobody turned on costs nothing. */
    counting = tg_cfg.report != TG_REPORT_OFF;
    if (counting)
        tg_rec_header()->flags |= TG_REC_COUNTED;
    return 0;
}

/* A block of exactly CELLS cells: a reused FREE one, or a new one at the high-water mark. */
static uint32_t carve(uint32_t cells, struct tg_rec_entry **out)
{
    uint32_t c = free_head[cells];
    if (c) {
        struct tg_rec_entry *e = tg_rec_at(c);
        free_head[cells] = e->link;
        *out = e;
        return c;
    }
    struct tg_rec_header *h = tg_rec_header();
    uint32_t hw = atomic_load_explicit(&h->hw_cells, memory_order_relaxed);
    uint32_t end = tg_rec_chunk_end(hw);
    if (hw + cells > end) {
        /* Close the chunk with a PAD block so that no block crosses into the next mapping. */
        struct tg_rec_entry *pad = tg_rec_at(hw);
        if (tg_rec_reserve(end + cells) < 0)
            return 0;
        memset(pad, 0, sizeof *pad);
        pad->cells = (uint16_t)(end - hw > 0xffff ? 0 : end - hw);
        if (pad->cells == 0) {
            /* Longer than a block can say: fill with single-cell PADs instead. */
            for (uint32_t x = hw; x < end; x++) {
                struct tg_rec_entry *p1 = tg_rec_at(x);
                memset(p1, 0, sizeof *p1);
                p1->cells = 1;
                atomic_store_explicit(&p1->state, TG_PAD, memory_order_relaxed);
            }
        } else {
            atomic_store_explicit(&pad->state, TG_PAD, memory_order_relaxed);
        }
        atomic_store_explicit(&h->hw_cells, end, memory_order_release);
        hw = end;
    } else if (tg_rec_reserve(hw + cells) < 0) {
        return 0;
    }
    struct tg_rec_entry *e = tg_rec_at(hw);
    memset(e, 0, TG_CELL);
    e->cells = (uint16_t)cells;
    atomic_store_explicit(&e->state, TG_FREE, memory_order_relaxed);
    /* The block becomes walkable (as FREE) before it becomes LIVE. */
    atomic_store_explicit(&h->hw_cells, hw + cells, memory_order_release);
    *out = e;
    return hw;
}

void tg_reg_add(const char *abs, size_t len, const struct stat *st, const struct tg_made *m)
{
    /* A larger table, when the index is about to outgrow its own: allocated before the lock (and
     * errno kept: the allocator may set it). */
    size_t nb = atomic_load_explicit(&nbuckets, memory_order_relaxed), want = 0;
    uint32_t *spare = NULL, *old = NULL;
    if (nb && atomic_load(&tg_live) + 1 > nb) {
        int saved = errno;
        want = nb * 2;
        spare = calloc(want, sizeof *spare);
        errno = saved;
    }
    lock_take();
    struct tg_rec_entry *e = NULL;
    uint32_t cell = 0;
    if (len < TG_PATH_MAX && ensure_ready() == 0)
        cell = carve(m->site ? tg_rec_cells_with_site((uint32_t)len) : tg_rec_cells_for((uint32_t)len), &e);
    if (spare && want > atomic_load_explicit(&nbuckets, memory_order_relaxed)) {
        old = regrow(spare, want);
        spare = NULL;
    }
    if (cell) {
        e->kind = (uint8_t)m->kind;
        e->when = (uint8_t)m->when;
        e->owner = tg_reg_pid;
        e->fork_gen = m->fork_gen;
        e->dev = (uint64_t)st->st_dev;
        e->ino = (uint64_t)st->st_ino;
        e->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
        e->mode = st->st_mode;
        e->hash = hash_last(abs, len);
        e->pathlen = (uint16_t)len;
        memcpy(e->path, abs, len + 1);
        e->flags = 0;
        e->api = (uint8_t)m->api;
        if (m->site) {
            memcpy(e->path + tg_rec_site_off((uint32_t)len), &m->site, sizeof m->site);
            e->flags = TG_E_SITE;
        }
        if (counting)
            tg_rec_header()->n_created++; /* (under the lock, as every count of the owner's changes) */
        e->size_kb = 0;
        atomic_store_explicit(&e->used_s, 0, memory_order_relaxed);
        index_insert(cell, e);
        atomic_fetch_add(&tg_live, 1);
        if (m->when == TG_WHEN_ENDS)
            atomic_fetch_add_explicit(&tg_reg_scratch, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&name_filter[e->hash % FILTER], 1, memory_order_relaxed);
        atomic_store_explicit(&e->state, TG_LIVE, memory_order_release);
        tg_log(TG_LOG_DEBUG, "tracking ", abs);
    }
    lock_drop();
    if (spare || old) {
        int saved = errno;
        free(spare);
        free(old);
        errno = saved;
    }
    if (!cell && !failed)
        tg_log(TG_LOG_WARN, "not tracking ", abs, " (no room in the registry)");
}

int tg_reg_forget_h(const char *abs, size_t len, uint32_t h, int removed)
{
    int found = 0;
    lock_take();
    if (buckets) {
        uint32_t *prev = &buckets[h & (atomic_load_explicit(&nbuckets, memory_order_relaxed) - 1)];
        for (uint32_t c = *prev; c;) {
            struct tg_rec_entry *e = tg_rec_at(c);
            if (e->hash == h && e->pathlen == len && memcmp(e->path, abs, len) == 0) {
                *prev = e->link;
                uint32_t expect = TG_LIVE;
                /* A cleanup already under way (a signal on another thread) may have claimed it;
                 * then the block is the cleanup's, and the process is about to end. */
                if (atomic_compare_exchange_strong(&e->state, &expect, TG_FREE)) {
                    e->link = free_head[e->cells];
                    free_head[e->cells] = c;
                } else {
                    e->flags |= TG_E_FORGOTTEN; /* a sweep releases or drops it (tg_reg_release) */
                }
                atomic_fetch_sub(&tg_live, 1);
                uncount(e);
                atomic_fetch_sub_explicit(&name_filter[h % FILTER], 1, memory_order_relaxed);
                if (removed && counting)
                    tg_rec_header()->n_removed_by_program++;
                found = 1;
                break;
            }
            prev = &e->link;
            c = e->link;
        }
    }
    lock_drop();
    if (found)
        tg_log(TG_LOG_DEBUG, "forgetting ", abs);
    return found;
}

void tg_reg_forget(const char *abs, size_t len, int removed)
{
    (void)tg_reg_forget_h(abs, len, hash_last(abs, len), removed);
}

uint32_t tg_reg_add_site(const struct tg_rec_site *head, const char *text, size_t len)
{
    if (len > TG_SITE_TEXT_MAX)
        len = TG_SITE_TEXT_MAX;
    uint32_t cells = 1u + (uint32_t)(len + 1 + TG_CELL - 1) / TG_CELL;
    struct tg_rec_entry *b = NULL;
    lock_take();
    uint32_t cell = ensure_ready() == 0 ? carve(cells, &b) : 0;
    if (cell) {
        struct tg_rec_site *s = (struct tg_rec_site *)b;
        s->nframes = head->nframes;
        s->lang = head->lang;
        s->owner = tg_reg_pid;
        s->textlen = (uint32_t)len;
        memcpy(s->pc, head->pc, sizeof s->pc);
        memcpy(s->text, text, len);
        s->text[len] = '\0';
        atomic_store_explicit(&s->state, TG_SITE, memory_order_release);
    }
    lock_drop();
    return cell;
}

const struct tg_rec_site *tg_reg_site_at(uint32_t cell)
{
    if (!ready || cell < TG_REC_HEADER_CELLS || cell >= atomic_load(&tg_rec_header()->hw_cells))
        return NULL;
    const struct tg_rec_site *s = (const struct tg_rec_site *)tg_rec_at(cell);
    return atomic_load_explicit(&((struct tg_rec_site *)s)->state, memory_order_acquire) == TG_SITE ? s : NULL;
}

void tg_reg_count_reclaimed(uint64_t bytes)
{
    if (!ready || !counting)
        return;
    struct tg_rec_header *h = tg_rec_header();
    __atomic_fetch_add(&h->n_removed_by_tmpguard, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->bytes_reclaimed, bytes, __ATOMIC_RELAXED);
}

void tg_reg_note_use(const char *name, size_t n, uint32_t h, uint32_t now_s)
{
    lock_take();
    if (buckets)
        for (uint32_t c = buckets[h & (atomic_load_explicit(&nbuckets, memory_order_relaxed) - 1)]; c;) {
            struct tg_rec_entry *e = tg_rec_at(c);
            if (e->hash == h && e->pathlen >= n + 1 && e->path[e->pathlen - n - 1] == '/' &&
                memcmp(e->path + e->pathlen - n, name, n) == 0)
                /* Before the program's open: a sweep that claims the entry after this reads it. */
                atomic_store_explicit(&e->used_s, now_s, memory_order_seq_cst);
            c = e->link;
        }
    lock_drop();
}

struct tg_rec_entry *tg_reg_pick(uint32_t *cursor, uint32_t *budget, int (*want)(const struct tg_rec_entry *e, void *arg),
                                 void *arg)
{
    struct tg_rec_entry *found = NULL;
    lock_take();
    struct tg_rec_header *h = ready ? tg_rec_header() : NULL;
    uint32_t hw = h ? atomic_load_explicit(&h->hw_cells, memory_order_acquire) : 0;
    if (h && *cursor < h->header_cells)
        *cursor = h->header_cells; /* a round begins */
    while (h && !found && *budget && *cursor < hw) {
        struct tg_rec_entry *e = tg_rec_at(*cursor);
        (*budget)--;
        if (e->cells == 0) {
            *cursor = hw;
            break;
        }
        *cursor += e->cells;
        if (atomic_load_explicit(&e->state, memory_order_acquire) == TG_LIVE && e->owner == tg_reg_pid &&
            want(e, arg) && tg_reg_claim(e))
            found = e;
    }
    if (h && *cursor >= hw)
        *cursor = 0; /* round again next time */
    lock_drop();
    return found;
}

/* The cell of E, by its address (E lies in the record). */
static uint32_t cell_of(const struct tg_rec_entry *e)
{
    for (int k = 0; k < TG_MAX_CHUNKS && tg_rec_chunks[k]; k++) {
        const char *base = tg_rec_chunks[k];
        size_t off = (size_t)((const char *)e - base);
        if ((const char *)e >= base && off < (size_t)(tg_chunk_start(k + 1) - tg_chunk_start(k)) * TG_CELL)
            return tg_chunk_start(k) + (uint32_t)(off / TG_CELL);
    }
    return 0;
}

/* Under the lock: E, claimed, back on the free list. */
static void free_block(struct tg_rec_entry *e, uint32_t cell)
{
    e->flags = 0;
    atomic_store(&e->state, TG_FREE);
    e->link = free_head[e->cells];
    free_head[e->cells] = cell;
}

void tg_reg_release(struct tg_rec_entry *e, uint8_t flags)
{
    lock_take();
    uint32_t cell = cell_of(e);
    if ((e->flags & TG_E_FORGOTTEN) && cell) {
        free_block(e, cell); /* out of the index and the counts already (forget) */
    } else {
        e->flags |= flags;
        atomic_store(&e->state, TG_LIVE);
    }
    lock_drop();
}

void tg_reg_drop(struct tg_rec_entry *e)
{
    uint32_t cell = 0;
    lock_take();
    if (e->flags & TG_E_FORGOTTEN) {
        cell = cell_of(e);
    } else if (buckets) {
        uint32_t *prev = &buckets[e->hash & (atomic_load_explicit(&nbuckets, memory_order_relaxed) - 1)];
        for (uint32_t c = *prev; c; prev = &tg_rec_at(c)->link, c = *prev)
            if (tg_rec_at(c) == e) {
                *prev = e->link;
                cell = c;
                atomic_fetch_sub(&tg_live, 1);
                uncount(e);
                atomic_fetch_sub_explicit(&name_filter[e->hash % FILTER], 1, memory_order_relaxed);
                break;
            }
    }
    if (cell)
        free_block(e, cell);
    lock_drop();
}

void tg_reg_set_size(struct tg_rec_entry *e, uint32_t kb)
{
    lock_take();
    if (e->when == TG_WHEN_ENDS && atomic_load(&e->state) != TG_FREE) {
        atomic_fetch_add_explicit(&tg_reg_scratch_kb, kb, memory_order_relaxed);
        atomic_fetch_sub_explicit(&tg_reg_scratch_kb, e->size_kb, memory_order_relaxed);
    }
    e->size_kb = kb;
    lock_drop();
}

int tg_reg_may_hold_h(uint32_t h)
{
    return atomic_load_explicit(&name_filter[h % FILTER], memory_order_relaxed) != 0;
}

int tg_reg_may_hold(const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || path[len - 1] == '/')
        return 1;
    size_t i = len;
    while (i > 0 && path[i - 1] != '/')
        i--;
    const char *name = path + i;
    size_t n = len - i;
    if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
        return 1;
    return atomic_load_explicit(&name_filter[hash_name(name, n) % FILTER], memory_order_relaxed) != 0;
}

struct tg_rec_entry *tg_reg_find_quiet(const char *abs, size_t len)
{
    if (!ready || !buckets)
        return NULL;
    uint32_t h = hash_last(abs, len);
    uint32_t hw = atomic_load(&tg_rec_header()->hw_cells);
    int steps = 0;
    for (uint32_t c = buckets[h & (atomic_load_explicit(&nbuckets, memory_order_relaxed) - 1)];
         c && c < hw && steps < 100000; steps++) {
        struct tg_rec_entry *e = tg_rec_at(c);
        if (e->hash == h && e->pathlen == len && memcmp(e->path, abs, len) == 0)
            return e;
        c = e->link;
    }
    return NULL;
}

/* Rebuilds the index from an adopted record (after exec).  Under the lock. */
static void adopted(void)
{
    struct tg_rec_header *hd = tg_rec_header();
    uint32_t hw = atomic_load(&hd->hw_cells);
    tg_reg_pid = tg_getpid();
    ready = 1;
    counting = (hd->flags & TG_REC_COUNTED) != 0;
    for (uint32_t c = hd->header_cells; c < hw;) {
        struct tg_rec_entry *e = tg_rec_at(c);
        if (e->cells == 0 || c + e->cells > tg_rec_chunk_end(c))
            break; /* damaged: stop here rather than guess */
        uint32_t st = atomic_load(&e->state);
        if ((st == TG_LIVE || st == TG_CLAIMED) && e->owner == tg_reg_pid && e->pathlen < TG_PATH_MAX &&
            e->path[e->pathlen] == '\0') {
            atomic_store(&e->state, TG_LIVE);
            e->fork_gen = 0; /* the children of the previous image are not known here */
            e->hash = hash_last(e->path, e->pathlen); /* this library's hash, whatever wrote it */
            index_insert(c, e);
            atomic_fetch_add(&tg_live, 1);
            if (e->when == TG_WHEN_ENDS) {
                atomic_fetch_add(&tg_reg_scratch, 1);
                atomic_fetch_add(&tg_reg_scratch_kb, e->size_kb);
            }
            atomic_fetch_add(&name_filter[e->hash % FILTER], 1);
        } else if (st != TG_PAD && st != TG_ROOTS && st != TG_SITE && st != TG_PATTERNS && e->cells <= MAX_CELLS) {
            /* (the roots block stays what it is: readers of the record need it; so do the call
             * sites, which entries made before the exec name) */
            atomic_store(&e->state, TG_FREE);
            e->link = free_head[e->cells];
            free_head[e->cells] = c;
        }
        c += e->cells;
    }
}

int tg_reg_adopt(void)
{
    int saved = errno;
    lock_take();
    int r = ready;
    if (!r && !failed && tg_rec_adopt()) {
        adopted();
        r = 1;
    }
    lock_drop();
    errno = saved;
    return r;
}

struct tg_rec_entry *tg_reg_next_live(uint32_t *cursor)
{
    struct tg_rec_header *h = ready ? tg_rec_header() : NULL;
    if (!h)
        return NULL;
    uint32_t hw = atomic_load_explicit(&h->hw_cells, memory_order_acquire);
    if (*cursor < h->header_cells)
        *cursor = h->header_cells;
    while (*cursor < hw) {
        struct tg_rec_entry *e = tg_rec_at(*cursor);
        if (e->cells == 0)
            return NULL;
        *cursor += e->cells;
        if (atomic_load_explicit(&e->state, memory_order_acquire) == TG_LIVE && e->owner == tg_reg_pid)
            return e;
    }
    return NULL;
}

int tg_reg_claim(struct tg_rec_entry *e)
{
    uint32_t expect = TG_LIVE;
    return atomic_compare_exchange_strong(&e->state, &expect, TG_CLAIMED);
}

void tg_reg_unclaim(struct tg_rec_entry *e) { atomic_store(&e->state, TG_LIVE); }

int tg_reg_give_up(struct tg_rec_entry *e)
{
    uint32_t expect = TG_LIVE;
    return atomic_compare_exchange_strong(&e->state, &expect, TG_FREE);
}

void tg_reg_after_fork_child(void)
{
    /* Runs in the child of fork(), single-threaded, before fork returns: the parent's record stays
     * the parent's, the index copy is freed, the lock is made fresh. */
    atomic_store(&lock, 0);
    tg_rec_drop();
    if (buckets != first_buckets)
        free(buckets);
    buckets = NULL;
    memset(first_buckets, 0, sizeof first_buckets);
    atomic_store(&nbuckets, 0);
    memset(free_head, 0, sizeof free_head);
    memset(name_filter, 0, sizeof name_filter);
    ready = 0;
    counting = 0;
    failed = 0;
    tg_reg_pid = 0;
    atomic_store(&tg_live, 0);
    atomic_store(&tg_reg_scratch, 0);
    atomic_store(&tg_reg_scratch_kb, 0);
}

void tg_reg_lock_for_fork(void) { lock_take(); }
void tg_reg_unlock_after_fork(void) { lock_drop(); }
