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

/* SITE blocks (struct tg_rec_site) hold a call site that entries name (TG_E_SITE); written once,
 * only while leak reports are on. */
/* A PATTERNS block, right after the roots when the process stages writes (TMPGUARD_ATOMIC), holds
 * its patterns joined by ':' in the same layout as the roots: what a staged entry may lie beside. */
enum tg_state { TG_FREE = 0, TG_LIVE = 1, TG_CLAIMED = 2, TG_PAD = 3, TG_ROOTS = 4, TG_SITE = 5, TG_PATTERNS = 6 };

/* How an entry was created: decides how it is removed. */
enum tg_kind {
    TG_K_MKSTEMP = 1,      /* mkstemp family: a scratch file by construction */
    TG_K_MKDTEMP = 2,      /* mkdtemp: a scratch directory, removed with its contents */
    TG_K_EXCL_PRIVATE = 3, /* O_CREAT|O_EXCL|O_RDWR, no group/other bits, under a temp root */
    TG_K_OTHER = 4,        /* any other create (open, fopen, mkdir...) under a temp root */
    TG_K_STAGED = 5,       /* a staged write (TMPGUARD_ATOMIC) beside its target, anywhere: removed
                            * unless it is renamed over its target (atomic.c) */
};

/* A staged write's name, beside its target DIR/NAME: DIR/.NAME.tmpguard-XXXXXX (six letters or
 * digits).  The target is known from the name alone: the reaper checks it against the record's
 * patterns. */
#define TG_STAGE_TAG ".tmpguard-"
#define TG_STAGE_RAND 6
/* The target of the staged path P (LEN bytes) into OUT (CAP bytes); its length, or 0 when P is not
 * of that form. */
static inline size_t tg_rec_staged_target(const char *p, size_t len, char *out, size_t cap)
{
    size_t tag = sizeof TG_STAGE_TAG - 1, base = len;
    while (base > 0 && p[base - 1] != '/')
        base--;
    /* ".", a name of at least one byte, the tag, the random part */
    if (base == 0 || len - base < 1 + 1 + tag + TG_STAGE_RAND || p[base] != '.' ||
        __builtin_memcmp(p + len - TG_STAGE_RAND - tag, TG_STAGE_TAG, tag) != 0)
        return 0;
    for (size_t i = len - TG_STAGE_RAND; i < len; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    size_t name = len - TG_STAGE_RAND - tag - base - 1, n = base + name;
    if (n + 1 > cap)
        return 0;
    __builtin_memcpy(out, p, base);
    __builtin_memcpy(out + base, p + base + 1, name);
    out[n] = '\0';
    return n;
}

/* When an entry is removed. */
enum tg_when { TG_WHEN_ENDS = 1, TG_WHEN_FAILS = 2 };

/* The function that created an entry, for leak reports (names: report.c).  0: not known. */
enum tg_api {
    TG_API_UNKNOWN, TG_API_MKSTEMP, TG_API_MKSTEMP64, TG_API_MKOSTEMP, TG_API_MKOSTEMP64,
    TG_API_MKSTEMPS, TG_API_MKSTEMPS64, TG_API_MKOSTEMPS, TG_API_MKOSTEMPS64, TG_API_MKDTEMP,
    TG_API_OPEN, TG_API_OPEN64, TG_API_OPENAT, TG_API_OPENAT64, TG_API_CREAT, TG_API_CREAT64,
    TG_API_FOPEN, TG_API_FOPEN64, TG_API_FREOPEN, TG_API_FREOPEN64, TG_API_MKDIR, TG_API_MKDIRAT,
    TG_API_COUNT
};

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
    /* What the process did with what it created, for its leak report's summary (kept across
     * exec, read by the reaper for a process that could not report itself): only while reports
     * are on (TG_REC_COUNTED).  Changed under the owner's registry lock, or at its end. */
    uint32_t n_created;           /* entries tracked */
    uint32_t n_removed_by_program;/* forgotten because the program removed them */
    uint32_t n_removed_by_tmpguard;
    uint32_t reserved1;
    uint64_t bytes_reclaimed;     /* by tmpguard, in bytes */
    char program[32];             /* base name of the program (argv[0]), NUL-terminated */
};

#define TG_REC_ENDED 1u   /* the owner ended through the shim; what is LIVE was left for heirs */
#define TG_REC_COUNTED 2u /* the summary's counts are kept (leak reports were on): n_created... */

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
    uint8_t flags;                /* TG_E_* */
    uint8_t api;                  /* enum tg_api: the function that created it */
    _Atomic uint32_t used_s;      /* CLOCK_REALTIME seconds when the owner last opened it by name, or 0 */
    uint32_t size_kb;             /* its size as last seen by the owner's reclaim (KiB, rounded up) */
    char path[];                  /* NUL-terminated absolute path, follows the 64-byte head */
};

_Static_assert(sizeof(struct tg_rec_header) == 512, "record header is eight cells");
_Static_assert(sizeof(struct tg_rec_entry) == 64, "entry head is one cell");

#define TG_E_AUDITED 1u /* audit mode has reported it as reclaimable already (the owner's mark) */
#define TG_E_SITE 2u    /* a uint32_t after the path (tg_rec_site_off) names the SITE block of its call site */
#define TG_E_FORGOTTEN 4u /* the program removed it while a sweep held it claimed (the owner's mark) */

/* Cells needed for an entry with a path of LEN bytes. */
static inline uint32_t tg_rec_cells_for(uint32_t len) { return 1u + (len + 1u + TG_CELL - 1u) / TG_CELL; }
/* Where, in path[], the site's cell number of an entry with TG_E_SITE lies (4-byte aligned after the
 * path's NUL), and the cells such an entry needs: usually as many as without (a 20-byte path leaves
 * 43 bytes of its cell free). */
static inline uint32_t tg_rec_site_off(uint32_t len) { return (len + 1u + 3u) & ~3u; }
static inline uint32_t tg_rec_cells_with_site(uint32_t len) { return 1u + (tg_rec_site_off(len) + 4u + TG_CELL - 1u) / TG_CELL; }

/* A call site: where entries were created from, resolved once per distinct site while the process
 * runs (site.c), so that a report at the end, in a signal handler or by the reaper only copies text.
 * TEXT follows the head: NFRAMES frames, each "A\tB\tC\n": a native frame is module path, offset in
 * it ("0x..."), function name or empty; a Python frame is file, line, function.  The first frame is
 * the site; those after it are its callers. */
#define TG_SITE_TEXT_MAX 1024u
#define TG_SITE_PCS 6
struct tg_rec_site {
    _Atomic uint32_t state;  /* TG_SITE, published last */
    uint16_t cells;
    uint8_t nframes;
    uint8_t lang;            /* 'n' native frames, 'p' Python frames */
    int32_t owner;
    uint32_t textlen;        /* bytes of text, without its NUL */
    uint64_t pc[TG_SITE_PCS];/* native frames: the addresses as they were in the process */
    char text[];             /* NUL-terminated */
};
_Static_assert(sizeof(struct tg_rec_site) == 64, "site head is one cell");

/* The cell of E's SITE block, or 0 when it names none.  (The path area is read as bytes: a reader's
 * copy need not be aligned.) */
static inline uint32_t tg_rec_entry_site(const struct tg_rec_entry *e)
{
    uint32_t c = 0;
    if (e->flags & TG_E_SITE)
        __builtin_memcpy(&c, e->path + tg_rec_site_off(e->pathlen), sizeof c);
    return c;
}

/* Chunk K covers cells [tg_chunk_start(K), tg_chunk_start(K+1)). */
static inline uint32_t tg_chunk_start(int k)
{
    return (uint32_t)((TG_CHUNK0 / TG_CELL) * ((1u << k) - 1u));
}

#endif
