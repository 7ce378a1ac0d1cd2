/* The fuzzing harness: turns an input (see fuzz.h) into a record file in a private directory, reads
 * it with tg_rr_open / tg_rr_next and tg_rr_open_header, checks every promise the reader makes
 * about what it returns, and, when every entry names something inside the private directory, lets
 * the reaper look at it in dry mode.  A broken promise aborts, which is what the fuzzer and the
 * replay test look for. */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "reap.h"
#include "record.h"
#include "path.h"
#include "proc.h"
#include "recread.h"

#define REC_NAME "r"

static char dir_path[] = "/dev/shm/" TG_FUZZ_TOKEN_DIR;
static size_t dir_len;
static int dir_fd = -1;
static int rec_fd = -1;
static uint64_t fix_dev, ino_f, ino_d, ino_m, ino_r, my_ticks;

static uint8_t *image;
static size_t image_cap;

/* --- a hostile owner rewriting the file between two reads ------------------------------------ */

/* The reader's system calls go through syscall(2); the harness is linked with --wrap=syscall so that
 * it sees them.  When armed, the patch is written before the TRIGGER-th pread. */
long __real_syscall(long n, ...);
long __wrap_syscall(long n, ...);

static struct {
    int armed, fired, preads, trigger;
    const uint8_t *data;
    size_t len;
    uint64_t off;
} race;

long __wrap_syscall(long n, ...)
{
    va_list ap;
    va_start(ap, n);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (n == SYS_pread64 && race.armed && !race.fired && ++race.preads == race.trigger) {
        race.fired = 1;
        if (pwrite(rec_fd, race.data, race.len, (off_t)race.off) != (ssize_t)race.len)
            race.fired = 0;
    }
    return __real_syscall(n, a, b, c, d, e, f);
}

/* --- the private directory --------------------------------------------------------------------- */

/* Also before an abort: a crash must not leave the directory behind. */
static void cleanup(void)
{
    if (dir_fd < 0)
        return;
    static const char *const files[] = {REC_NAME, "f", "d/g"}, *const dirs[] = {"d/e", "d", "m"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        unlinkat(dir_fd, files[i], 0);
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        unlinkat(dir_fd, dirs[i], AT_REMOVEDIR);
    close(dir_fd);
    dir_fd = -1;
    rmdir(dir_path);
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
    cleanup();
    abort();
}

static uint64_t ino_of(const char *name, uint64_t *dev)
{
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        die(name);
    if (dev)
        *dev = (uint64_t)st.st_dev;
    return (uint64_t)st.st_ino;
}

static void make_file(const char *name, const char *text)
{
    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        die(name);
    close(fd);
}

static void setup(void)
{
    if (dir_fd >= 0)
        return;
    if (!mkdtemp(dir_path))
        die("mkdtemp under /dev/shm");
    if (chmod(dir_path, 0700) < 0)
        die("chmod");
    dir_len = strlen(dir_path);
    dir_fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        die(dir_path);
    atexit(cleanup);
    rec_fd = openat(dir_fd, REC_NAME, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (rec_fd < 0)
        die("record file");
    make_file("f", "a scratch file\n");
    if (mkdirat(dir_fd, "d", 0700) < 0 || mkdirat(dir_fd, "d/e", 0700) < 0 || mkdirat(dir_fd, "m", 0700) < 0)
        die("fixture directories");
    make_file("d/g", "inside a mkdtemp directory\n");
    ino_f = ino_of("f", &fix_dev);
    ino_d = ino_of("d", NULL);
    ino_m = ino_of("m", NULL);
    ino_r = ino_of(REC_NAME, NULL);
    my_ticks = tg_proc_start_ticks(getpid());
}

/* --- building the file ------------------------------------------------------------------------ */

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Substitutions in the placed region [from, to) of the image. */
static void substitute(size_t from, size_t to)
{
    static const char tok[] = TG_FUZZ_TOKEN_DIR;
    const size_t tl = sizeof tok - 1;
    const char *base = dir_path + dir_len - tl;
    for (size_t i = from; i + tl <= to;) {
        uint8_t *hit = memmem(image + i, to - i, tok, tl);
        if (!hit)
            break;
        memcpy(hit, base, tl);
        i = (size_t)(hit - image) + tl;
    }
    for (size_t i = (from + 7) & ~(size_t)7; i + 8 <= to; i += 8) {
        uint8_t *w = image + i;
        if (w[0] != '@')
            continue;
        if (memcmp(w, "@DEV@@@@", 8) == 0)
            put64(w, fix_dev);
        else if (memcmp(w, "@INO:f@@", 8) == 0)
            put64(w, ino_f);
        else if (memcmp(w, "@INO:d@@", 8) == 0)
            put64(w, ino_d);
        else if (memcmp(w, "@INO:m@@", 8) == 0)
            put64(w, ino_m);
        else if (memcmp(w, "@INO:r@@", 8) == 0)
            put64(w, ino_r);
        else if (memcmp(w, "@TICKS@@", 8) == 0)
            put64(w, my_ticks);
        else if (memcmp(w, "@HEIR@", 6) == 0) {
            /* pid and gen (or owner and fork_gen): this process, and the 16 bits after the tag */
            int32_t pid = (int32_t)getpid();
            uint32_t gen = (uint32_t)w[6] | (uint32_t)w[7] << 8;
            memcpy(w, &pid, 4);
            memcpy(w + 4, &gen, 4);
        }
    }
}

static void write_all(const uint8_t *p, size_t len, size_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(rec_fd, p, len, (off_t)off);
        if (n <= 0)
            die("writing the record");
        p += n;
        len -= (size_t)n;
        off += (size_t)n;
    }
}

/* --- what the reader promises ----------------------------------------------------------------- */

static void broken(const struct tg_rec_reader *r, const char *promise, const struct tg_rec_entry *e)
{
    fprintf(stderr, "fuzz harness: the reader broke a promise: %s\n", promise);
    fprintf(stderr, "  record pid %d, hw %u cells, size %llu, buffer at file offset %llu (%zu of %zu bytes)\n",
            (int)r->h.pid, r->hw, (unsigned long long)r->size, (unsigned long long)r->buf_off, r->buf_len, r->bufsz);
    if (e)
        fprintf(stderr, "  entry at buffer offset %td: state %u cells %u kind %u when %u owner %d pathlen %u mode %o\n",
                (const char *)e - r->buf, (unsigned)atomic_load(&((struct tg_rec_entry *)e)->state),
                (unsigned)e->cells, (unsigned)e->kind, (unsigned)e->when, (int)e->owner, (unsigned)e->pathlen,
                (unsigned)e->mode);
    cleanup();
    abort();
}

static int normalised_abs(const char *p, size_t len)
{
    if (len == 0 || p[0] != '/' || (len > 1 && p[len - 1] == '/'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '/')
            continue;
        size_t rest = len - i - 1;
        const char *c = p + i + 1;
        size_t comp = 0;
        while (comp < rest && c[comp] != '/')
            comp++;
        if ((rest > 0 && comp == 0) || (comp == 1 && c[0] == '.') || (comp == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
    }
    return 1;
}

struct walk {
    int next;          /* last tg_rr_next result */
    int entries;
    int inside;        /* every entry lies inside the private directory */
};

static void check_entry(const struct tg_rec_reader *r, const struct tg_rec_entry *e, uint64_t *last_end)
{
    const char *p = (const char *)e;
    if (!e || p < r->buf || p + TG_CELL > r->buf + r->buf_len)
        broken(r, "entry outside the filled part of the buffer", NULL);
    uint64_t off = r->buf_off + (uint64_t)(p - r->buf);
    if (off % TG_CELL != 0 || ((uintptr_t)p % _Alignof(struct tg_rec_entry)) != 0)
        broken(r, "entry not on a cell", e);
    if (atomic_load(&((struct tg_rec_entry *)e)->state) != TG_LIVE)
        broken(r, "entry returned that is not LIVE", e);
    size_t len = e->pathlen;
    if (len == 0 || len >= 4096)
        broken(r, "path length out of range", e);
    if (e->cells != tg_rec_cells_for((uint32_t)len))
        broken(r, "block length does not match the path length", e);
    if (p + (size_t)e->cells * TG_CELL > r->buf + r->buf_len)
        broken(r, "block runs past the filled part of the buffer", e);
    uint64_t cell = off / TG_CELL;
    if (off < *last_end || cell < TG_REC_HEADER_CELLS + 1 || cell + e->cells > r->hw)
        broken(r, "block out of order or past the high-water mark", e);
    for (int k = 0; k < TG_MAX_CHUNKS; k++)
        if (cell < tg_chunk_start(k + 1)) {
            if (cell + e->cells > tg_chunk_start(k + 1))
                broken(r, "block crosses a chunk boundary", e);
            break;
        }
    *last_end = off + (uint64_t)e->cells * TG_CELL;
    if (e->path[len] != '\0' || memchr(e->path, '\0', len) != NULL)
        broken(r, "path not NUL-terminated exactly at its length", e);
    if (!normalised_abs(e->path, len))
        broken(r, "path not absolute and normalised", e);
    if (e->owner != r->h.pid)
        broken(r, "entry of another process", e);
    if (e->kind < TG_K_MKSTEMP || e->kind > TG_K_STAGED || (e->when != TG_WHEN_ENDS && e->when != TG_WHEN_FAILS))
        broken(r, "unknown kind", e);
    if (e->kind == TG_K_STAGED) {
        /* Anywhere, but only a regular file in the staging name's form, beside a target one of the
         * record's own patterns covers. */
        char target[TG_PATH_MAX];
        size_t tl = tg_rec_staged_target(e->path, len, target, sizeof target);
        int covered = 0;
        for (int i = 0; tl && i < r->npatterns && !covered; i++)
            covered = tg_path_matches(r->pattern[i], target, tl);
        if (!S_ISREG(e->mode) || !tl || !covered)
            broken(r, "staged entry not a regular file beside a target of the record's patterns", e);
        return;
    }
    int dir = S_ISDIR(e->mode), reg = S_ISREG(e->mode);
    if ((e->kind == TG_K_MKDTEMP && !dir) || ((e->kind == TG_K_MKSTEMP || e->kind == TG_K_EXCL_PRIVATE) && !reg) ||
        (e->kind == TG_K_OTHER && !dir && !reg))
        broken(r, "type does not match the kind", e);
    if ((e->kind == TG_K_EXCL_PRIVATE || e->kind == TG_K_OTHER) && !tg_rr_under_roots(r, e->path, len))
        broken(r, "entry outside the roots", e);
}

static void check_opened(const struct tg_rec_reader *r)
{
    if (r->hw < TG_REC_HEADER_CELLS + 1 || (uint64_t)r->hw * TG_CELL > r->size || r->size < TG_CHUNK0)
        broken(r, "accepted a header whose high-water mark or size is impossible", NULL);
    if (memcmp(r->h.magic, TG_REC_MAGIC, 8) != 0 || r->h.version != TG_REC_VERSION || r->h.pid <= 0)
        broken(r, "accepted a header that is not a record's", NULL);
}

/* Opens the record, walks it, checks everything; leaves the reader closed. */
static struct walk walk_record(struct tg_rec_reader *r, char *buf, size_t bufsz, struct tg_fuzz_result *res)
{
    struct walk w = {.next = -2, .entries = 0, .inside = 1};
    res->open = tg_rr_open(r, dir_fd, REC_NAME, buf, bufsz);
    if (res->open < 0) {
        if (r->why[0] == '\0')
            broken(r, "refused without a reason", NULL);
        snprintf(res->why, sizeof res->why, "%s", r->why);
        tg_rr_close(r);
        return w;
    }
    check_opened(r);
    if (r->nroots < 0 || r->nroots > TG_RR_MAX_ROOTS)
        broken(r, "impossible number of roots", NULL);
    for (int i = 0; i < r->nroots; i++)
        if (r->root_len[i] < 2 || !normalised_abs(r->root[i], r->root_len[i]))
            broken(r, "accepted a root that is not an absolute normalised path", NULL);
    uint64_t last_end = 0;
    const struct tg_rec_entry *e;
    while ((w.next = tg_rr_next(r, &e)) == 1) {
        if (++w.entries > (int)r->hw)
            broken(r, "more entries than cells", NULL);
        check_entry(r, e, &last_end);
        if (!(e->pathlen > dir_len && memcmp(e->path, dir_path, dir_len) == 0 && e->path[dir_len] == '/'))
            w.inside = 0;
    }
    if (w.next != 0 && w.next != -1)
        broken(r, "tg_rr_next answered something other than 1, 0 or -1", NULL);
    if (w.next < 0) {
        if (r->why[0] == '\0')
            broken(r, "refused without a reason", NULL);
        snprintf(res->why, sizeof res->why, "%s", r->why);
    }
    tg_rr_close(r);
    return w;
}

static void reported(const struct tg_rec_entry *e, enum tg_outcome o, uint64_t bytes, void *arg)
{
    struct tg_fuzz_result *res = arg;
    (void)bytes;
    if ((unsigned)o > TG_WOULD || o == TG_REMOVED) {
        fprintf(stderr, "fuzz harness: the dry reaper reported outcome %d for %s\n", (int)o, e->path);
        cleanup();
        abort();
    }
    if (e->pathlen <= dir_len || memcmp(e->path, dir_path, dir_len) != 0 || e->path[e->pathlen] != '\0') {
        fprintf(stderr, "fuzz harness: the dry reaper handled an entry outside the private directory\n");
        cleanup();
        abort();
    }
    res->outcomes[o]++;
}

static void still_there(const char *name)
{
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        fprintf(stderr, "fuzz harness: %s/%s is gone after a dry reap\n", dir_path, name);
        cleanup();
        abort();
    }
}

/* --- one input ---------------------------------------------------------------------------------- */

int tg_fuzz_run(const uint8_t *data, size_t size, struct tg_fuzz_result *out)
{
    struct tg_fuzz_result res = {.open = -1, .next = -2, .header = -1, .reap = -1};
    setup();
    if (size == 0)
        goto done;
    uint8_t ctl = data[0];
    size_t pos = 1;

    memset(&race, 0, sizeof race);
    if (ctl & 0x80) {
        if (size - pos < 6)
            goto done;
        race.trigger = 1 + data[pos] % 8;
        race.len = data[pos + 1];
        uint32_t off;
        memcpy(&off, data + pos + 2, 4);
        race.off = off;
        pos += 6;
        if (race.len > size - pos)
            race.len = size - pos;
        race.data = data + pos;
        pos += race.len;
    }
    size_t len_a = size - pos, len_b = 0;
    if (ctl & 0x08) {
        if (size - pos < 2)
            goto done;
        len_a = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        pos += 2;
        if (len_a > size - pos)
            len_a = size - pos;
        len_b = size - pos - len_a;
    }
    const uint8_t *body_a = data + pos, *body_b = data + pos + len_a;
    size_t end_a = len_a, end_b = len_b ? TG_FUZZ_SPLIT_AT + len_b : 0;
    size_t content = end_a > end_b ? end_a : end_b;
    static const size_t sizes[] = {TG_CHUNK0, 3 * TG_CHUNK0, 7 * TG_CHUNK0, 0};
    size_t fsize = sizes[ctl & 3];
    if (fsize < content)
        fsize = content;

    if (fsize + 1 > image_cap) {
        free(image);
        image = malloc(fsize + 1);
        if (!image)
            die("image");
        image_cap = fsize + 1;
    }
    memset(image, 0, fsize);
    memcpy(image, body_a, len_a);
    if (len_b)
        memcpy(image + TG_FUZZ_SPLIT_AT, body_b, len_b);
    substitute(0, end_a);
    if (len_b)
        substitute(TG_FUZZ_SPLIT_AT, end_b);
    if ((ctl & 0x04) && fsize >= offsetof(struct tg_rec_header, uid) + 4) {
        uint32_t uid = (uint32_t)getuid();
        memcpy(image + offsetof(struct tg_rec_header, uid), &uid, 4);
    }
    if (ftruncate(rec_fd, 0) < 0 || ftruncate(rec_fd, (off_t)fsize) < 0)
        die("ftruncate");
    if (end_a)
        write_all(image, end_a, 0);
    if (end_b)
        write_all(image + TG_FUZZ_SPLIT_AT, end_b - TG_FUZZ_SPLIT_AT, TG_FUZZ_SPLIT_AT);
    if (fsize == 0)
        race.len = 0;
    if (race.len) {
        race.off %= fsize;
        if (race.len > fsize - race.off)
            race.len = (size_t)(fsize - race.off);
    }

    static const size_t bufsizes[] = {8192, 8200, 12288, 65536};
    size_t bufsz = bufsizes[(ctl >> 5) & 3];
    char *buf = malloc(bufsz); /* exactly BUFSZ: a read past it is caught by the sanitizer */
    if (!buf)
        die("reader buffer");
    struct tg_rec_reader r;

    race.armed = race.len > 0;
    struct walk w = walk_record(&r, buf, bufsz, &res);
    race.armed = 0;
    res.next = w.next;
    res.entries = w.entries;

    res.header = tg_rr_open_header(&r, dir_fd, REC_NAME, buf, bufsz);
    if (res.header == 0)
        check_opened(&r);
    else if (r.why[0] == '\0')
        broken(&r, "header refused without a reason", NULL);
    tg_rr_close(&r);

    int opened = res.open;
    if (race.fired) {
        /* The file changed under the first walk: the reaper must go by what it holds now. */
        struct tg_fuzz_result again = res;
        w = walk_record(&r, buf, bufsz, &again);
        opened = again.open;
    }
    /* The dry reaper stats what the entries name: only when all of them are ours. */
    if (opened == 0 && w.next == 0 && w.inside) {
        struct tg_rm_guard guard = {.uid = getuid(), .not_before_ns = 0};
        struct tg_reap_opts o = {.dry = 1, .guard = (ctl & 0x10) ? &guard : NULL, .report = reported, .arg = &res};
        res.reap = (int)tg_reap_record(dir_fd, REC_NAME, &o, &r, buf, bufsz);
        if (res.reap == TG_REAP_REFUSED)
            broken(&r, "the reaper refused a record the reader accepted", NULL);
        still_there(REC_NAME);
        still_there("f");
        still_there("d/g");
        still_there("d/e");
        still_there("m");
    }
    free(buf);
done:
    if (out)
        *out = res;
    return 0;
}

int tg_fuzz_one(const uint8_t *data, size_t size)
{
    return tg_fuzz_run(data, size, NULL);
}
