#include "recread.h"

#include <string.h>

#include "path.h"
#include "sys.h"

static int refuse(struct tg_rec_reader *r, const char *what)
{
    size_t n = strlen(what);
    if (n >= sizeof r->why)
        n = sizeof r->why - 1;
    memcpy(r->why, what, n);
    r->why[n] = '\0';
    return -1;
}

/* Makes [off, off+len) available in the buffer; returns a pointer to it, or NULL. */
static const char *window(struct tg_rec_reader *r, uint64_t off, size_t len)
{
    if (len > r->bufsz || off + len > r->size)
        return NULL;
    if (off >= r->buf_off && off + len <= r->buf_off + r->buf_len)
        return r->buf + (off - r->buf_off);
    size_t want = r->bufsz;
    if (off + want > r->size)
        want = (size_t)(r->size - off);
    size_t got = 0;
    while (got < want) {
        long n = TG_SYS(SYS_pread64, r->fd, r->buf + got, want - got, (long)(off + got));
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    r->buf_off = off;
    r->buf_len = got;
    return got >= len ? r->buf : NULL;
}

static int normal_abs(const char *p, size_t len)
{
    if (len == 0 || p[0] != '/' || (len > 1 && p[len - 1] == '/'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '/')
            continue;
        const char *c = p + i + 1;
        size_t rest = len - i - 1;
        if (rest > 0 && c[0] == '/')
            return 0;
        if (rest >= 1 && c[0] == '.' && (rest == 1 || c[1] == '/'))
            return 0;
        if (rest >= 2 && c[0] == '.' && c[1] == '.' && (rest == 2 || c[2] == '/'))
            return 0;
    }
    return 1;
}

int tg_rr_open_header(struct tg_rec_reader *r, int dfd, const char *name, char *buf, size_t bufsz)
{
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->bufsz = bufsz;
    r->fd = tg_openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
    if (r->fd < 0)
        return refuse(r, "cannot be opened (or is a symlink)");
    struct stat st;
    if (tg_fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return refuse(r, "not a regular file");
    r->size = (uint64_t)st.st_size;
    r->file_uid = st.st_uid;
    if (bufsz < 8192)
        return refuse(r, "reader buffer too small");
    if (r->size < (uint64_t)TG_CHUNK0 || r->size > TG_REC_MAX_BYTES)
        return refuse(r, "absurd size");
    const char *p = window(r, 0, sizeof r->h);
    if (!p)
        return refuse(r, "truncated header");
    memcpy(&r->h, p, sizeof r->h);
    if (memcmp(r->h.magic, TG_REC_MAGIC, 8) != 0)
        return refuse(r, "not a tmpguard record");
    if (r->h.version != TG_REC_VERSION || r->h.header_cells != TG_REC_HEADER_CELLS)
        return refuse(r, "unknown record version");
    if (r->h.pid <= 0 || r->h.uid != r->file_uid)
        return refuse(r, "header names another user or no process");
    r->hw = atomic_load(&r->h.hw_cells);
    if (r->hw < TG_REC_HEADER_CELLS + 1 || (uint64_t)r->hw * TG_CELL > r->size)
        return refuse(r, "high-water mark beyond the file");
    return 0;
}

int tg_rr_open(struct tg_rec_reader *r, int dfd, const char *name, char *buf, size_t bufsz)
{
    if (tg_rr_open_header(r, dfd, name, buf, bufsz) < 0)
        return -1;
    /* The roots block comes first and says what "inside a root" meant for this process. */
    const struct tg_rec_entry *b = (const struct tg_rec_entry *)window(r, (uint64_t)TG_REC_HEADER_CELLS * TG_CELL, TG_CELL);
    if (!b || atomic_load(&((struct tg_rec_entry *)b)->state) != TG_ROOTS || b->cells < 1 ||
        b->pathlen > TG_ROOTS_MAX || tg_rec_cells_for(b->pathlen) != b->cells ||
        TG_REC_HEADER_CELLS + b->cells > r->hw)
        return refuse(r, "bad roots block");
    uint32_t cells = b->cells;
    size_t len = b->pathlen;
    b = (const struct tg_rec_entry *)window(r, (uint64_t)TG_REC_HEADER_CELLS * TG_CELL, (size_t)cells * TG_CELL);
    if (!b || b->path[len] != '\0' || strlen(b->path) != len)
        return refuse(r, "bad roots block");
    memcpy(r->roots, b->path, len + 1);
    for (char *s = r->roots; *s;) {
        char *end = strchr(s, ':');
        size_t l = end ? (size_t)(end - s) : strlen(s);
        if (r->nroots >= TG_RR_MAX_ROOTS || !normal_abs(s, l) || l < 2)
            return refuse(r, "bad root in the roots block");
        r->root[r->nroots] = s;
        r->root_len[r->nroots++] = l;
        if (!end)
            break;
        if (end[1] == '\0')
            return refuse(r, "bad root in the roots block");
        *end = '\0';
        s = end + 1;
    }
    r->cell = TG_REC_HEADER_CELLS + cells;
    /* The atomic-write patterns, when the process staged writes: the next block. */
    b = r->cell < r->hw ? (const struct tg_rec_entry *)window(r, (uint64_t)r->cell * TG_CELL, TG_CELL) : NULL;
    if (b && atomic_load(&((struct tg_rec_entry *)b)->state) == TG_PATTERNS) {
        if (b->pathlen > TG_ROOTS_MAX || tg_rec_cells_for(b->pathlen) != b->cells || r->cell + b->cells > r->hw)
            return refuse(r, "bad patterns block");
        cells = b->cells;
        len = b->pathlen;
        b = (const struct tg_rec_entry *)window(r, (uint64_t)r->cell * TG_CELL, (size_t)cells * TG_CELL);
        if (!b || b->path[len] != '\0' || strlen(b->path) != len)
            return refuse(r, "bad patterns block");
        memcpy(r->patterns, b->path, len + 1);
        for (char *s = r->patterns; *s;) {
            char *end = strchr(s, ':');
            if (r->npatterns >= TG_RR_MAX_ROOTS || s[0] != '/')
                return refuse(r, "bad pattern in the patterns block");
            r->pattern[r->npatterns++] = s;
            if (!end)
                break;
            *end = '\0';
            s = end + 1;
        }
        r->cell += cells;
    }
    return 0;
}

/* Whether P (LEN bytes) is a staged write beside a target that the record's patterns cover. */
static int staged_by_pattern(const struct tg_rec_reader *r, const char *p, size_t len)
{
    char target[4096];
    size_t tl = tg_rec_staged_target(p, len, target, sizeof target);
    for (int i = 0; tl && i < r->npatterns; i++)
        if (tg_path_matches(r->pattern[i], target, tl))
            return 1;
    return 0;
}

int tg_rr_under_roots(const struct tg_rec_reader *r, const char *abs, size_t len)
{
    for (int i = 0; i < r->nroots; i++) {
        size_t rl = r->root_len[i];
        if (len > rl && memcmp(abs, r->root[i], rl) == 0 && abs[rl] == '/')
            return 1;
    }
    return 0;
}

int tg_rr_next(struct tg_rec_reader *r, const struct tg_rec_entry **out)
{
    while (r->cell < r->hw) {
        uint32_t c = r->cell;
        const struct tg_rec_entry *e = (const struct tg_rec_entry *)window(r, (uint64_t)c * TG_CELL, TG_CELL);
        if (!e)
            return refuse(r, "truncated block");
        uint32_t cells = e->cells, state = atomic_load(&((struct tg_rec_entry *)e)->state);
        /* Blocks tile the file without crossing a chunk boundary. */
        if (cells == 0 || c + cells > r->hw)
            return refuse(r, "block of no length or past the end");
        int k = 0;
        while (k + 1 < TG_MAX_CHUNKS && tg_chunk_start(k + 1) <= c)
            k++;
        if (c + cells > tg_chunk_start(k + 1))
            return refuse(r, "block crosses a chunk boundary");
        r->cell = c + cells;
        if (state == TG_FREE || state == TG_PAD || state == TG_SITE || state == TG_PATTERNS)
            continue; /* (a call site is read when an entry names it: tg_rr_site) */
        if (state != TG_LIVE && state != TG_CLAIMED)
            return refuse(r, "unknown block state");
        if (state == TG_CLAIMED)
            continue; /* its owner was removing it when it ended */
        size_t len = e->pathlen;
        int with_site = (e->flags & TG_E_SITE) != 0;
        if (len == 0 || len >= 4096 ||
            (with_site ? tg_rec_cells_with_site((uint32_t)len) : tg_rec_cells_for((uint32_t)len)) != cells)
            return refuse(r, "path length does not fit its block");
        e = (const struct tg_rec_entry *)window(r, (uint64_t)c * TG_CELL, (size_t)cells * TG_CELL);
        /* A second read may see another file than the first (its owner still writing, or a
         * hostile one rewriting it): what was checked must still be what is there. */
        if (!e || e->cells != cells || e->pathlen != len)
            return refuse(r, "record changed while being read");
        /* No longer LIVE: its owner, ending as its heir reads, claimed it (or gave it up) in
         * between.  Not for the reader, like any entry that is not LIVE; refusing the whole record
         * for it would leave the rest to the next reap. */
        if (atomic_load(&((struct tg_rec_entry *)e)->state) != state)
            continue;
        if (e->path[len] != '\0' || strlen(e->path) != len || !normal_abs(e->path, len))
            return refuse(r, "path is not an absolute normalised path");
        if (e->owner != r->h.pid)
            return refuse(r, "entry of another process");
        if (e->kind < TG_K_MKSTEMP || e->kind > TG_K_STAGED || (e->when != TG_WHEN_ENDS && e->when != TG_WHEN_FAILS))
            return refuse(r, "unknown kind of entry");
        /* A staged write lies beside its target, anywhere: only in the staging name's form, beside a
         * target the record's own patterns cover (every other check as for any entry). */
        if (e->kind == TG_K_STAGED && (!S_ISREG(e->mode) || !staged_by_pattern(r, e->path, len)))
            return refuse(r, "staged entry not beside a target of the record's patterns");
        int dir = S_ISDIR(e->mode), reg = S_ISREG(e->mode);
        if ((e->kind == TG_K_MKDTEMP && !dir) || ((e->kind == TG_K_MKSTEMP || e->kind == TG_K_EXCL_PRIVATE) && !reg) ||
            (e->kind == TG_K_OTHER && !dir && !reg))
            return refuse(r, "entry type does not match how it was made");
        /* Only mkstemp and mkdtemp results are ever tracked outside the temp roots. */
        if ((e->kind == TG_K_EXCL_PRIVATE || e->kind == TG_K_OTHER) && !tg_rr_under_roots(r, e->path, len))
            return refuse(r, "entry outside the roots the record claims");
        *out = e;
        return 1;
    }
    return 0;
}

int tg_rr_site(struct tg_rec_reader *r, uint32_t cell, struct tg_rec_site *out, size_t cap)
{
    if (cell < TG_REC_HEADER_CELLS || cell >= r->hw || cap < sizeof *out + 1)
        return -1;
    /* Its own read, not through the window: the entry that names it stays where the caller has it. */
    uint64_t off = (uint64_t)cell * TG_CELL;
    if (TG_SYS(SYS_pread64, r->fd, out, sizeof *out, (long)off) != (long)sizeof *out)
        return -1;
    uint32_t len = out->textlen, cells = out->cells;
    if (atomic_load(&out->state) != TG_SITE || len > TG_SITE_TEXT_MAX || len + 1 > cap - sizeof *out ||
        cells != 1u + (len + 1u + TG_CELL - 1u) / TG_CELL || cell + cells > r->hw ||
        (out->lang != 'n' && out->lang != 'p') || out->owner != r->h.pid)
        return -1;
    if (TG_SYS(SYS_pread64, r->fd, out->text, len + 1, (long)(off + sizeof *out)) != (long)len + 1 ||
        out->text[len] != '\0' || strlen(out->text) != len)
        return -1;
    /* Frames are counted again from the text itself: the report walks the text, never the count. */
    unsigned n = 0;
    for (uint32_t i = 0; i < len; i++)
        n += out->text[i] == '\n';
    out->nframes = (uint8_t)(n > 255 ? 255 : n);
    return 0;
}

void tg_rr_close(struct tg_rec_reader *r)
{
    if (r->fd >= 0)
        tg_close(r->fd);
    r->fd = -1;
}
