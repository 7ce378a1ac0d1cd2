/* The durable record of one process: creation, growth, adoption after exec, removal. */
#include "record.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fmt.h"
#include "log.h"
#include "proc.h"
#include "sys.h"

/* Chunk K maps cells [tg_chunk_start(K), tg_chunk_start(K+1)).  The table only grows while the
 * process runs; a signal handler reads it without a lock, so a chunk's pointer is stored before
 * the count that makes it visible. */
char *tg_rec_chunks[TG_MAX_CHUNKS];
#define chunk_base tg_rec_chunks
static _Atomic int nchunks;
/* The file is mapped and its descriptor closed at once: the shim holds no descriptor between
 * calls.  A descriptor kept open would sit in the program's own numbering (closerange(3, 256) then
 * open() hands the number to one of the program's files, and the next growth would ftruncate and
 * map that file) and would shift the numbers the program gets.  To grow, the file is opened again
 * by name, without following a link, and used only if it is still this device and inode. */
static int rec_file;                    /* 0: anonymous memory (no durable record) */
static dev_t rec_dev;
static ino_t rec_ino;
static char rec_path[TG_PATH_MAX];      /* empty when there is no file */
static struct tg_proc_id first_heir;    /* pid 0: none */

void tg_rec_name_heir(const struct tg_proc_id *heir) { first_heir = *heir; }

static uint32_t chunk_cells(int k) { return (TG_CHUNK0 / TG_CELL) << k; }

/* Chunk K starts at cell C*(2^K - 1) (C cells in the first): K = floor(log2(cell/C + 1)). */
static int chunk_of(uint32_t cell)
{
    int k = 31 - __builtin_clz(cell / (TG_CHUNK0 / TG_CELL) + 1);
    return k < TG_MAX_CHUNKS ? k : TG_MAX_CHUNKS - 1;
}



uint32_t tg_rec_chunk_end(uint32_t cell) { return tg_chunk_start(chunk_of(cell) + 1); }

/* Maps chunk K of the record file FD (of SIZE bytes, grown to cover the chunk), or of anonymous
 * memory when FD < 0. */
static int map_chunk(int k, int fd, off_t size)
{
    size_t len = (size_t)chunk_cells(k) * TG_CELL;
    void *p;
    if (fd >= 0) {
        /* Grow only: an adopted record is longer than its first chunk (truncating it to map that
         * chunk would drop the entries in the others). */
        off_t end = (off_t)tg_chunk_start(k + 1) * TG_CELL;
        if (end > size && tg_ftruncate(fd, end) < 0)
            return -1;
        p = tg_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)tg_chunk_start(k) * TG_CELL);
    } else {
        p = tg_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED)
        return -1;
    chunk_base[k] = p;
    atomic_store_explicit(&nchunks, k + 1, memory_order_release);
    return 0;
}

/* The record file, opened again by name for growth: only if it is still the file this process
 * made (device and inode), never through a link.  Returns the descriptor and its size, or -1. */
static int reopen(off_t *size)
{
    struct stat st;
    int fd = tg_openat(AT_FDCWD, rec_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (tg_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != rec_dev || st.st_ino != rec_ino) {
        tg_close(fd);
        return -1;
    }
    *size = st.st_size;
    return fd;
}

int tg_rec_reserve(uint32_t end)
{
    int saved = errno, rc = 0, fd = -1;
    off_t size = 0;
    while (rc == 0 && tg_chunk_start(atomic_load_explicit(&nchunks, memory_order_relaxed)) < end) {
        int k = atomic_load_explicit(&nchunks, memory_order_relaxed);
        if (k >= TG_MAX_CHUNKS || (rec_file && fd < 0 && (fd = reopen(&size)) < 0))
            rc = -1;
        else
            rc = map_chunk(k, fd, size);
    }
    if (fd >= 0)
        tg_close(fd);
    errno = saved;
    return rc;
}

/* The state directory must be ours alone: a directory (not a symlink) owned by us, mode 0700.
 * Anything else could let another user read or plant records. */
int tg_rec_state_dir_ok(void)
{
    struct stat st;
    const char *dir = tg_cfg.state_dir;
    if (!dir[0])
        return 0;
    int r = tg_mkdirat(AT_FDCWD, dir, 0700);
    if (r < 0 && r != -EEXIST)
        return 0;
    if (tg_fstatat(AT_FDCWD, dir, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 07777) != 0700) {
        tg_log(TG_LOG_WARN, "state directory ", dir,
               " is not a directory of this user with mode 0700; temp files are tracked in memory only");
        return 0;
    }
    return 1;
}

static void set_rec_path(int pid)
{
    /* tg_cfg.state_dir leaves room for the file name (config.c). */
    char num[21];
    char *p = stpcpy(rec_path, tg_cfg.state_dir);
    *p++ = '/';
    strcpy(stpcpy(p, tg_fmt_u64(num, (unsigned)pid)), ".rec");
}

/* A record at our name that is not ours (a dead process with the same pid): renamed to
 * PID-N.rec, where the reaper still finds it. */
static void move_aside(unsigned long long n)
{
    char aside[TG_PATH_MAX + 32], num[21];
    char *p = stpcpy(aside, rec_path) - 4; /* over ".rec" */
    *p++ = '-';
    strcpy(stpcpy(p, tg_fmt_u64(num, n)), ".rec");
    tg_renameat(AT_FDCWD, rec_path, AT_FDCWD, aside);
}

int tg_rec_open(void)
{
    int pid = tg_getpid();
    rec_file = 0;
    rec_path[0] = '\0';
    if (tg_rec_state_dir_ok()) {
        struct stat st;
        int mapped = -1;
        set_rec_path(pid);
        int fd = tg_openat(AT_FDCWD, rec_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd == -EEXIST) {
            /* A dead process with the same pid left its record: move it aside for the reaper. */
            move_aside((unsigned long long)(tg_realtime_ns() / 1000000000LL));
            fd = tg_openat(AT_FDCWD, rec_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        }
        if (fd >= 0 && tg_fstat(fd, &st) == 0) {
            rec_dev = st.st_dev;
            rec_ino = st.st_ino;
            mapped = map_chunk(0, fd, 0);
        }
        if (fd >= 0)
            tg_close(fd);
        if (mapped == 0)
            rec_file = 1;
        else if (fd >= 0)
            tg_unlinkat(AT_FDCWD, rec_path, 0);
    }
    if (!rec_file) {
        rec_path[0] = '\0';
        if (map_chunk(0, -1, 0) < 0)
            return -1;
    }
    struct tg_rec_header *h = tg_rec_header();

    h->version = TG_REC_VERSION;
    h->header_cells = TG_REC_HEADER_CELLS;
    h->pid = pid;
    h->uid = getuid();
    h->start_ticks = tg_proc_start_ticks(pid);
    h->created_ns = tg_realtime_ns();
    /* The program's base name, for its leak reports and the reaper's (they name the program). */
    if (tg_cfg.argv0) {
        const char *base = tg_cfg.argv0;
        for (const char *c = base; *c; c++)
            if (*c == '/')
                base = c + 1;
        size_t n = strnlen(base, sizeof h->program - 1);
        memcpy(h->program, base, n);
        h->program[n] = '\0';
    }
    if (first_heir.pid) {
        h->heirs[0] = first_heir;
        h->nheirs = 1;
    }
    h->supervisor.pid = tg_cfg.supervisor_pid;
    h->supervisor.start_ticks = tg_cfg.supervisor_start;
    /* The roots this process judged "inside a root" by, for whoever reads the record later. */
    struct tg_rec_entry *roots = tg_rec_at(TG_REC_HEADER_CELLS);
    size_t len = 0;
    for (int i = 0; i < tg_cfg.nroots; i++) {
        size_t rl = tg_cfg.root_len[i];
        if (len + rl + 2 > TG_ROOTS_MAX)
            break;
        if (len)
            roots->path[len++] = ':';
        memcpy(roots->path + len, tg_cfg.roots[i], rl);
        len += rl;
    }
    roots->path[len] = '\0';
    roots->pathlen = (uint16_t)len;
    roots->cells = (uint16_t)tg_rec_cells_for((uint32_t)len);
    atomic_store_explicit(&roots->state, TG_ROOTS, memory_order_relaxed);
    uint32_t hw = TG_REC_HEADER_CELLS + roots->cells;
    /* The atomic-write patterns, in the same layout: a staged entry lies outside the roots, and a
     * reader accepts it only beside a target these cover. */
    if (tg_cfg.natomic) {
        struct tg_rec_entry *pat = tg_rec_at(hw);
        len = 0;
        for (int i = 0; i < tg_cfg.natomic; i++) {
            size_t pl = tg_cfg.atomic_len[i];
            if (len + pl + 2 > TG_ROOTS_MAX)
                break;
            if (len)
                pat->path[len++] = ':';
            memcpy(pat->path + len, tg_cfg.atomic[i], pl);
            len += pl;
        }
        pat->path[len] = '\0';
        pat->pathlen = (uint16_t)len;
        pat->cells = (uint16_t)tg_rec_cells_for((uint32_t)len);
        atomic_store_explicit(&pat->state, TG_PATTERNS, memory_order_relaxed);
        hw += pat->cells;
    }
    atomic_store_explicit(&h->hw_cells, hw, memory_order_release);
    memcpy(h->magic, TG_REC_MAGIC, 8); /* last: a reader never sees a half-made header as valid */
    return 0;
}

int tg_rec_adopt(void)
{
    int pid = tg_getpid();
    if (!tg_cfg.state_dir[0])
        return 0;
    set_rec_path(pid);
    int fd = tg_openat(AT_FDCWD, rec_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) {
        rec_path[0] = '\0';
        return 0;
    }
    struct stat st;
    struct tg_rec_header h;
    int ok = tg_fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid() &&
             st.st_size >= (off_t)TG_CHUNK0 &&
             TG_SYS(SYS_pread64, fd, &h, sizeof h, 0) == (long)sizeof h &&
             memcmp(h.magic, TG_REC_MAGIC, 8) == 0 && h.version == TG_REC_VERSION && h.pid == pid &&
             h.header_cells == TG_REC_HEADER_CELLS;
    if (ok && h.start_ticks != tg_proc_start_ticks(pid)) {
        /* Same pid, another process: not ours to adopt.  Leave it for the reaper. */
        move_aside(h.start_ticks);
        ok = 0;
    }
    if (!ok) {
        tg_close(fd);
        rec_path[0] = '\0';
        return 0;
    }
    rec_file = 1;
    rec_dev = st.st_dev;
    rec_ino = st.st_ino;
    uint32_t hw = h.hw_cells;
    for (int k = 0; k < TG_MAX_CHUNKS && (off_t)tg_chunk_start(k) * TG_CELL < st.st_size; k++) {
        if (map_chunk(k, fd, st.st_size) < 0) {
            hw = tg_chunk_start(k) < hw ? tg_chunk_start(k) : hw;
            break;
        }
    }
    tg_close(fd);
    /* Never trust the header beyond what is mapped. */
    if (hw > tg_chunk_start(atomic_load(&nchunks)))
        atomic_store(&tg_rec_header()->hw_cells, tg_chunk_start(atomic_load(&nchunks)));
    return 1;
}

int tg_rec_is_file(void) { return rec_file; }

void tg_rec_unlink(void)
{
    struct stat st;
    /* Only the file this process made: a record at that name could be another process's by now
     * (this one's pid reused after a move_aside, in a state directory shared by a test). */
    if (rec_path[0] && tg_fstatat(AT_FDCWD, rec_path, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == rec_dev &&
        st.st_ino == rec_ino)
        tg_unlinkat(AT_FDCWD, rec_path, 0);
}

void tg_rec_drop(void)
{
    int n = atomic_load(&nchunks);
    atomic_store(&nchunks, 0);
    for (int k = 0; k < n; k++) {
        tg_munmap(chunk_base[k], (size_t)chunk_cells(k) * TG_CELL);
        chunk_base[k] = NULL;
    }
    rec_file = 0;
    rec_path[0] = '\0';
    first_heir.pid = 0;
}
