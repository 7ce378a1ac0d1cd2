#include "registry.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "signals.h"
#include "sys.h"

__thread struct tg_tls tg_tls __attribute__((tls_model("initial-exec")));
_Atomic int tg_inflight;
_Atomic int tg_dying;
_Atomic size_t tg_live;
_Atomic uint32_t tg_fork_count;
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
static int ready;                    /* the record exists */
static int failed;                   /* the record could not be made: track nothing */
static uint32_t *buckets;            /* cell of the first entry per hash bucket, 0 = none */
static size_t nbuckets;              /* power of two */
static uint32_t free_head[MAX_CELLS + 1]; /* reusable FREE blocks by size */

/* How many live entries have a last component hashing to each slot.  The unlink and rename
 * wrappers read it without a lock: for a name no entry has (nearly every call), that is all. */
#define FILTER 4096
static _Atomic uint32_t name_filter[FILTER];

void tg_park(void)
{
    int saved = errno;
    atomic_fetch_sub(&tg_inflight, 1);
    tg_tls.in--;
    /* The process is about to die; if it does not within a few seconds (an exit path stuck on a
     * lock this thread holds), carry on rather than deadlock. */
    struct timespec ts = {0, 10000000L};
    for (int i = 0; i < 500 && atomic_load(&tg_dying); i++)
        nanosleep(&ts, NULL);
    tg_tls.in++;
    atomic_fetch_add(&tg_inflight, 1);
    errno = saved;
}

void tg_leave(void)
{
    atomic_fetch_sub(&tg_inflight, 1);
    if (--tg_tls.in == 0 && tg_tls.pending) {
        int sig = tg_tls.pending, saved = errno;
        tg_tls.pending = 0;
        (void)raise(sig);
        /* raise() returns here when the signal's handler did: cppcheck takes it for noreturn. */
        // cppcheck-suppress unreachableCode
        errno = saved;
    }
}

static uint32_t hash_name(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ? h : 1;
}

/* The last component of an absolute normalised path. */
static uint32_t hash_last(const char *abs, size_t len)
{
    size_t i = len;
    while (i > 0 && abs[i - 1] != '/')
        i--;
    return hash_name(abs + i, len - i);
}

static int index_insert(uint32_t cell, struct tg_rec_entry *e)
{
    if (atomic_load(&tg_live) + 1 > nbuckets) {
        size_t n = nbuckets ? nbuckets * 2 : 256;
        uint32_t *nb = calloc(n, sizeof *nb);
        if (!nb)
            return nbuckets ? 0 : -1; /* a full table still works, just with longer chains */
        for (size_t i = 0; i < nbuckets; i++) {
            for (uint32_t c = buckets[i]; c;) {
                struct tg_rec_entry *x = tg_rec_at(c);
                uint32_t next = x->link;
                x->link = nb[x->hash & (n - 1)];
                nb[x->hash & (n - 1)] = c;
                c = next;
            }
        }
        free(buckets);
        buckets = nb;
        nbuckets = n;
    }
    size_t b = e->hash & (nbuckets - 1);
    e->link = buckets[b];
    buckets[b] = cell;
    return 0;
}

static int ensure_ready(void)
{
    if (ready)
        return 0;
    if (failed)
        return -1;
    if (tg_rec_open() < 0) {
        failed = 1;
        tg_log(TG_LOG_WARN, "cannot allocate the registry; temp files are not tracked");
        return -1;
    }
    tg_reg_pid = tg_getpid();
    ready = 1;
    tg_signals_arm();
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

void tg_reg_add(const char *abs, size_t len, const struct stat *st, enum tg_kind kind, enum tg_when when)
{
    int saved = errno;
    lock_take();
    struct tg_rec_entry *e = NULL;
    uint32_t cell = 0;
    if (len < TG_PATH_MAX && ensure_ready() == 0)
        cell = carve(tg_rec_cells_for((uint32_t)len), &e);
    if (cell) {
        e->kind = (uint8_t)kind;
        e->when = (uint8_t)when;
        e->owner = tg_reg_pid;
        e->fork_gen = atomic_load(&tg_fork_count);
        e->dev = (uint64_t)st->st_dev;
        e->ino = (uint64_t)st->st_ino;
        e->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
        e->mode = st->st_mode;
        e->hash = hash_last(abs, len);
        e->pathlen = (uint16_t)len;
        memcpy(e->path, abs, len + 1);
        if (index_insert(cell, e) < 0) {
            e->link = free_head[e->cells];
            free_head[e->cells] = cell;
            cell = 0;
        } else {
            atomic_fetch_add(&tg_live, 1);
            atomic_fetch_add_explicit(&name_filter[e->hash % FILTER], 1, memory_order_relaxed);
            atomic_store_explicit(&e->state, TG_LIVE, memory_order_release);
            tg_log(TG_LOG_DEBUG, "tracking ", abs);
        }
    }
    lock_drop();
    if (!cell && !failed)
        tg_log(TG_LOG_WARN, "not tracking ", abs, " (no room in the registry)");
    errno = saved;
}

void tg_reg_forget(const char *abs, size_t len)
{
    uint32_t h = hash_last(abs, len);
    lock_take();
    if (nbuckets) {
        uint32_t *prev = &buckets[h & (nbuckets - 1)];
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
                }
                atomic_fetch_sub(&tg_live, 1);
                atomic_fetch_sub_explicit(&name_filter[h % FILTER], 1, memory_order_relaxed);
                tg_log(TG_LOG_DEBUG, "forgetting ", abs);
                break;
            }
            prev = &e->link;
            c = e->link;
        }
    }
    lock_drop();
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
    uint32_t h = hash_last(abs, len);
    uint32_t hw = atomic_load(&tg_rec_header()->hw_cells);
    if (!nbuckets)
        return NULL;
    int steps = 0;
    for (uint32_t c = buckets[h & (nbuckets - 1)]; c && c < hw && steps < 100000; steps++) {
        struct tg_rec_entry *e = tg_rec_at(c);
        if (e->hash == h && e->pathlen == len && memcmp(e->path, abs, len) == 0)
            return e;
        c = e->link;
    }
    return NULL;
}

void tg_reg_adopted(void)
{
    struct tg_rec_header *hd = tg_rec_header();
    uint32_t hw = atomic_load(&hd->hw_cells);
    tg_reg_pid = tg_getpid();
    ready = 1;
    for (uint32_t c = hd->header_cells; c < hw;) {
        struct tg_rec_entry *e = tg_rec_at(c);
        if (e->cells == 0 || c + e->cells > tg_rec_chunk_end(c))
            break; /* damaged: stop here rather than guess */
        uint32_t st = atomic_load(&e->state);
        if ((st == TG_LIVE || st == TG_CLAIMED) && e->owner == tg_reg_pid && e->pathlen < TG_PATH_MAX &&
            e->path[e->pathlen] == '\0') {
            atomic_store(&e->state, TG_LIVE);
            e->fork_gen = 0; /* the children of the previous image are not known here */
            if (index_insert(c, e) == 0) {
                atomic_fetch_add(&tg_live, 1);
                atomic_fetch_add(&name_filter[e->hash % FILTER], 1);
            }
            else
                atomic_store(&e->state, TG_FREE);
        } else if (st != TG_PAD && st != TG_ROOTS && e->cells <= MAX_CELLS) {
            /* (the roots block stays what it is: readers of the record need it) */
            atomic_store(&e->state, TG_FREE);
            e->link = free_head[e->cells];
            free_head[e->cells] = c;
        }
        c += e->cells;
    }
    tg_signals_arm();
}

void tg_reg_after_fork_child(void)
{
    /* Runs in the child of fork(), single-threaded, before fork returns: the parent's record stays
     * the parent's, the index copy is freed, the lock is made fresh. */
    atomic_store(&lock, 0);
    tg_rec_drop();
    free(buckets);
    buckets = NULL;
    nbuckets = 0;
    memset(free_head, 0, sizeof free_head);
    memset(name_filter, 0, sizeof name_filter);
    ready = 0;
    failed = 0;
    tg_reg_pid = 0;
    atomic_store(&tg_live, 0);
    atomic_store(&tg_inflight, 0);
    atomic_store(&tg_dying, 0);
    atomic_store(&tg_fork_count, 0);
}

/* fork() must not copy the lock while another thread holds it. */
void tg_reg_lock_for_fork(void) { lock_take(); }
void tg_reg_unlock_after_fork(void) { lock_drop(); }
