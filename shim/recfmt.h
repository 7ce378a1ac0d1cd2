/* The per-process record: what a process owns, in a file that outlives the process.  This header
 * is the only description of the format: the shim writes it (record.c), and anything that reads
 * records (recread.c, the reaper, `tmpguard status`) uses these definitions.
 *
 * The registry lives directly in a shared mapping of this file, so that tracking a file costs
 * memory stores and no system calls, the kernel keeps the pages when the process dies, and an
 * exec'd image of the same process finds the list again by pid.
 *
 * Layout: a file of 64-byte cells.  Cells 0-7 hold the header; after them, blocks laid end to
 * end, each starting with a struct tg_rec_entry whose `cells` says how long the block is.  A
 * block is carved once and never split or merged, so a reader walking from the header to
 * `hw_cells` always lands on block starts.  The file grows in chunks (64 KiB, then doubling);
 * no block crosses a chunk boundary (the remainder of a chunk is filled with a PAD block).
 * An entry's state and who changes it: registry.h. */
#ifndef TG_RECFMT_H
#define TG_RECFMT_H

#include <stdatomic.h>
#include <stdint.h>

#define TG_REC_MAGIC "TMPGREC1"
#define TG_REC_VERSION 1u
#define TG_CELL 64u
/* The header, then one block of state TG_ROOTS holding the temp roots the process used, joined by
 * ':' (what "inside a root" meant for its entries), then the entries. */
#define TG_REC_HEADER_CELLS 8u
#define TG_ROOTS_MAX 2048u /* bytes of the joined roots, at most */
#define TG_CHUNK0 (64u * 1024u)
#define TG_MAX_CHUNKS 24           /* 64 KiB * (2^24 - 1): far more than any process needs */

enum tg_state { TG_FREE = 0, TG_LIVE = 1, TG_CLAIMED = 2, TG_PAD = 3, TG_ROOTS = 4 };

/* How an entry was created: decides how it is removed. */
enum tg_kind {
    TG_K_MKSTEMP = 1,      /* mkstemp family: a scratch file by construction */
    TG_K_MKDTEMP = 2,      /* mkdtemp: a scratch directory, removed with its contents */
    TG_K_EXCL_PRIVATE = 3, /* O_CREAT|O_EXCL|O_RDWR, no group/other bits, under a temp root */
    TG_K_OTHER = 4,        /* any other create (open, fopen, mkdir...) under a temp root */
};

/* When an entry is removed. */
enum tg_when { TG_WHEN_ENDS = 1, TG_WHEN_FAILS = 2 };

#define TG_MAX_HEIRS 24

/* A process, told apart from a later one with the same pid by its start time. */
struct tg_proc_id {
    union {
        struct {
            int32_t pid;
            uint32_t gen; /* for heirs: entries with a smaller fork_gen may still be in its use */
        };
        uint64_t pid_gen; /* both at once, for compare-and-swap on heirs' slots */
    };
    uint64_t start_ticks; /* /proc/PID/stat field 22; 0 in a slot its parent has not filled in */
};

struct tg_rec_header {
    char magic[8];
    uint32_t version;
    uint32_t header_cells;        /* cells before the first block */
    int32_t pid;
    uint32_t uid;
    uint64_t start_ticks;         /* /proc/PID/stat field 22: tells a reused pid apart */
    _Atomic uint32_t hw_cells;    /* end of the last complete block, in cells */
    uint32_t flags;               /* TG_REC_* */
    int64_t created_ns;           /* CLOCK_REALTIME when the record was made */
    struct tg_proc_id supervisor; /* the launcher that started this process's tree, or pid 0 */
    /* Processes that may still use this process's files after it is gone: its most recent
     * forked children (a ring: slot nheirs % TG_MAX_HEIRS is the next), or, for a hand-off
     * program, its parent.  An entry whose fork_gen is below the gen of a living heir stays.
     * A fork's slot is reserved before the child exists (pid 0 and the fork's gen), and the
     * parent fills it in once fork() has returned.  An heir that has reached its end signs off:
     * it negates its pid in its slot (compare-and-swap on pid_gen, in a shared mapping; a slot
     * still unfilled is signed off with start_ticks 0), then reads the flags and the other
     * slots.  The owner sets TG_REC_ENDED, then reads the slots.  Of two processes ending at
     * once, at least one therefore sees the other gone and takes the entries (lifecycle.c). */
    uint32_t nheirs;
    uint32_t reserved0;
    struct tg_proc_id heirs[TG_MAX_HEIRS];
    uint8_t reserved[56];
};

#define TG_REC_ENDED 1u /* the owner ended through the shim; what is LIVE was left for heirs */

struct tg_rec_entry {
    _Atomic uint32_t state;       /* enum tg_state; published last */
    uint16_t cells;               /* length of this block in cells, >= 1 */
    uint8_t kind;                 /* enum tg_kind */
    uint8_t when;                 /* enum tg_when */
    int32_t owner;                /* pid of the process that created it */
    uint32_t fork_gen;            /* how many forks the owner had made before creating it */
    uint64_t dev;
    uint64_t ino;
    int64_t ctime_ns;
    uint32_t mode;                /* st_mode of the created object (type bits matter) */
    uint32_t hash;                /* hash of the last path component (the owner's index) */
    uint32_t link;                /* owner's private chaining (index or free list); ignore */
    uint16_t pathlen;
    uint8_t flags;                /* TG_E_*: the owner's own marks; ignore */
    uint8_t reserved;
    _Atomic uint32_t used_s;      /* CLOCK_REALTIME seconds when the owner last opened it by name, or 0 */
    uint32_t size_kb;             /* its size as last seen by the owner's reclaim (KiB, rounded up) */
    char path[];                  /* NUL-terminated absolute path, follows the 64-byte head */
};

_Static_assert(sizeof(struct tg_rec_header) == 512, "record header is eight cells");
_Static_assert(sizeof(struct tg_rec_entry) == 64, "entry head is one cell");

#define TG_E_AUDITED 1u /* audit mode has reported it as reclaimable already */

/* Cells needed for an entry with a path of LEN bytes. */
static inline uint32_t tg_rec_cells_for(uint32_t len) { return 1u + (len + 1u + TG_CELL - 1u) / TG_CELL; }

/* Chunk K covers cells [tg_chunk_start(K), tg_chunk_start(K+1)). */
static inline uint32_t tg_chunk_start(int k)
{
    return (uint32_t)((TG_CHUNK0 / TG_CELL) * ((1u << k) - 1u));
}

#endif
