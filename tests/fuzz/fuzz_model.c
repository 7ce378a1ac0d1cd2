/* The model-based harness (input format and checks: fuzz_model.h).
 *
 * The shim's configuration and policy are set up the way the library sets them up at load time:
 * environment variables, tg_config_load, a chdir into the starting directory, tg_policy_init with
 * a made-up argv.  The registry runs on its real record (a file in the harness's private state
 * directory, or anonymous memory).  Only the reference side is the harness's own: it shares no
 * code with the shim. */
#include "fuzz_model.h"

/* policy.c keeps the starting directory and the command line in file-scope statics that
 * tg_policy_init fills once per process.  It is compiled into the harness here so that
 * policy_reset() can empty them between inputs, and each input can bring its own starting
 * directory and command line.  The functions under test are the shim's, unchanged. */
#include "policy.c"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "lifecycle.h"
#include "record.h"
#include "recread.h"
#include "registry.h"
#include "signals.h"

struct tg_model_stats tg_model_stats;
int tg_model_strict;

const char *const tg_model_known_names[TG_KNOWN_COUNT] = {
    "roots block freed on adoption",
    "roots beyond 2048 bytes left out of the record",
    "root \"/\" refused by the reader",
    "root with ':' written unescaped",
    "long command-line argument skipped",
    "adoption truncates the record to its first chunk",
};

/* --- what the harness leaves out of the shim -------------------------------------------------- */

/* No signal handlers: the harness never ends through the shim. */
/* Not a hand-off program. */

/* --- limits the model takes from the shim and its documentation ---------------------------------- */

#define REF_MAX (TG_MODEL_SPEC_MAX + TG_PATH_MAX + 64)
#define CELLS_MAX (1u + (TG_PATH_MAX + 1u + 63u) / 64u) /* a 4095-byte path */
#define ROOTS_ENV_MAX (16 + 18 * (TG_MODEL_SPEC_MAX + 1) + 2)
/* config.c: a root is at most 1023 bytes as written, and all roots together (as written, each
 * with its NUL) fit in 16 * 256 + TG_PATH_MAX bytes; otherwise TMPGUARD_ROOTS is refused whole. */
#define CFG_ROOT_MAX 1024u
#define CFG_ROOTS_BYTES (TG_MAX_ROOTS * 256u + TG_PATH_MAX)

/* --- the private tree ------------------------------------------------------------------------ */

static char top[64] = "/dev/shm/tgmodel.XXXXXX";
static char P[TG_PATH_MAX];  /* top as getcwd spells it */
static size_t plen;
static int orig_cwd = -1;
static int state_fd = -1;
static char state_dir[TG_PATH_MAX];
static char rec_name[32];

static struct dir {
    char abs[TG_PATH_MAX];
    int fd;
} dirs[TG_MODEL_NDIRS];

static char long_name[256], deep_name[251];
static const char *names[16];

static char env_roots[ROOTS_ENV_MAX], env_tmpdir[16 + TG_MODEL_SPEC_MAX], env_outputs[64];
static char env_state[64 + TG_PATH_MAX], env_logfile[] = "TMPGUARD_LOG_FILE=/dev/null";
static char *orig_tmpdir;

static void cleanup(void)
{
    if (orig_cwd >= 0 && fchdir(orig_cwd) < 0)
        perror("fuzz_model: back to the starting directory");
    if (state_fd >= 0) {
        DIR *d = fdopendir(dup(state_fd));
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL)
            if (de->d_name[0] != '.')
                unlinkat(state_fd, de->d_name, 0);
        if (d)
            closedir(d);
        close(state_fd);
        state_fd = -1;
        rmdir(state_dir);
    }
    for (int i = TG_MODEL_NDIRS - 1; i >= 0; i--) {
        if (dirs[i].fd >= 0)
            close(dirs[i].fd);
        dirs[i].fd = -1;
        if (dirs[i].abs[0])
            rmdir(dirs[i].abs);
        dirs[i].abs[0] = '\0';
    }
}

/* --- failing --------------------------------------------------------------------------------- */

static int cur_op = -1;
static const char *cur_name = "configuration";

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_model: operation %d (%s): ", cur_op, cur_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cleanup();
    abort();
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz_model: %s: %s\n", what, strerror(errno));
    cleanup();
    abort();
}

/* A known deviation: followed (and counted) unless strict. */
static int known(enum tg_model_known k)
{
    if (tg_model_strict)
        fail("known deviation met: %s", tg_model_known_names[k]);
    tg_model_stats.known[k]++;
    return 1;
}

static void setup(void)
{
    if (orig_cwd >= 0)
        return;
    const char *s = getenv("TG_MODEL_STRICT");
    if (s && strcmp(s, "1") == 0)
        tg_model_strict = 1;
    for (int i = 0; i < TG_MODEL_NDIRS; i++)
        dirs[i].fd = -1;
    memset(long_name, 'l', 255);
    memset(deep_name, 'd', 250);
    static const char *const table[16] = {"a", "b", "tmp", ".", "..", "", "x y", NULL,
                                          "c.", ".a", "...", "a=b", "a:b", "deep", NULL, NULL};
    memcpy(names, table, sizeof names);
    names[7] = long_name;
    names[14] = deep_name;
    orig_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (orig_cwd < 0)
        die("the current directory");
    const char *td = getenv("TMPDIR");
    if (td) {
        orig_tmpdir = malloc(strlen(td) + 8);
        if (!orig_tmpdir)
            die("malloc");
        strcpy(stpcpy(orig_tmpdir, "TMPDIR="), td);
    }
    if (!mkdtemp(top))
        die("mkdtemp under /dev/shm");
    if (chdir(top) < 0 || !getcwd(P, sizeof P))
        die(top);
    plen = strlen(P);
    /* The tree, in the order of fuzz_model.h. */
    static const char *const level1[4] = {"a", "b", "tmp", "x y"};
    int n = 0;
    strcpy(dirs[n++].abs, P);
    for (int i = 0; i < 4; i++)
        snprintf(dirs[n++].abs, TG_PATH_MAX, "%s/%s", P, level1[i]);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            snprintf(dirs[n++].abs, TG_PATH_MAX, "%s/%s/%s", P, level1[i], level1[j]);
    snprintf(dirs[n++].abs, TG_PATH_MAX, "%s/deep", P);
    for (int k = 0; k < TG_MODEL_DEEP; k++, n++)
        snprintf(dirs[n].abs, TG_PATH_MAX, "%s/%s", dirs[n - 1].abs, deep_name);
    for (int i = 0; i < TG_MODEL_NDIRS; i++) {
        if (i > 0 && mkdir(dirs[i].abs, 0700) < 0)
            die(dirs[i].abs);
        dirs[i].fd = open(dirs[i].abs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirs[i].fd < 0)
            die(dirs[i].abs);
    }
    snprintf(state_dir, sizeof state_dir, "%s/state", P);
    if (mkdir(state_dir, 0700) < 0 || chmod(state_dir, 0700) < 0)
        die(state_dir);
    state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (state_fd < 0)
        die(state_dir);
    snprintf(env_state, sizeof env_state, "TMPGUARD_STATE_DIR=%s", state_dir);
    snprintf(rec_name, sizeof rec_name, "%d.rec", (int)getpid());
    atexit(cleanup);
    if (fchdir(orig_cwd) < 0)
        die("back to the starting directory");
}

/* --- reading the input ----------------------------------------------------------------------- */

struct in {
    const uint8_t *p;
    size_t n, i;
};

static uint8_t byte(struct in *in) { return in->i < in->n ? in->p[in->i++] : 0; }

/* A path spec (fuzz_model.h) into OUT (TG_MODEL_SPEC_MAX + 1 bytes).  Returns the length. */
static size_t spec(struct in *in, char *out)
{
    uint8_t b = byte(in);
    int base = b & 3;
    size_t n = 0, ncomp = b >> 2;
    if (base == 0) {
        out[n++] = '/';
    } else if (base == 1) {
        memcpy(out, P, plen);
        n = plen;
    } else if (base == 3) {
        out[n++] = '/';
        out[n++] = '/';
    }
    int first = 1, full = 0;
    for (size_t c = 0; c < ncomp; c++) {
        uint8_t k = byte(in);
        char var[256];
        const char *name;
        size_t nl;
        if ((k & 15) == 15) {
            nl = byte(in);
            memset(var, 'v', nl);
            name = var;
        } else {
            name = names[k & 15];
            nl = strlen(name);
        }
        for (int r = 0; r <= k >> 4 && !full; r++) {
            size_t sep = first && base != 1 ? 0 : 1;
            if (n + sep + nl > TG_MODEL_SPEC_MAX) {
                full = 1;
                break;
            }
            if (sep)
                out[n++] = '/';
            memcpy(out + n, name, nl);
            n += nl;
            first = 0;
        }
    }
    out[n] = '\0';
    return n;
}

/* --- the reference model: paths ----------------------------------------------------------------- */

/* Normalises the absolute path IN into OUT (strlen(IN) + 2 bytes): the components, minus empty
 * ones and ".", with ".." taking back the one before (none at "/"), joined after "/". */
static size_t ref_norm(const char *in, char *out)
{
    static const char *comp[REF_MAX / 2 + 2];
    static size_t clen[REF_MAX / 2 + 2];
    size_t top_ = 0;
    for (const char *s = in;;) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        size_t l = strcspn(s, "/");
        if (l == 2 && s[0] == '.' && s[1] == '.') {
            if (top_ > 0)
                top_--;
        } else if (!(l == 1 && s[0] == '.')) {
            comp[top_] = s;
            clen[top_++] = l;
        }
        s += l;
    }
    size_t n = 0;
    for (size_t i = 0; i < top_; i++) {
        out[n++] = '/';
        memcpy(out + n, comp[i], clen[i]);
        n += clen[i];
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return n;
}

/* PATH against the directory BASE (normalised, absolute).  The kernel takes no path of
 * TG_PATH_MAX bytes or more, and the shim does not track a relative one that makes TG_PATH_MAX
 * bytes or more with its directory (README, Limits).  Returns the length or -1. */
static int ref_resolve(const char *base, const char *path, char *out)
{
    static char joined[REF_MAX];
    size_t pl = strlen(path), bl = strlen(base);
    if (pl == 0 || pl >= TG_PATH_MAX)
        return -1;
    if (path[0] == '/')
        return (int)ref_norm(path, out);
    if (bl + 1 + pl >= TG_PATH_MAX)
        return -1;
    memcpy(joined, base, bl);
    joined[bl] = '/';
    memcpy(joined + bl + 1, path, pl + 1);
    return (int)ref_norm(joined, out);
}

/* -1 when the normalised ROOT is neither PATH (normalised) nor an ancestor of it, component by
 * component; else the number of components PATH has below ROOT. */
static long ref_below(const char *root, const char *path)
{
    const char *r = root, *p = path;
    for (;;) {
        while (*r == '/')
            r++;
        while (*p == '/')
            p++;
        if (!*r)
            break;
        size_t rl = strcspn(r, "/"), pl = strcspn(p, "/");
        if (rl != pl || memcmp(r, p, rl) != 0)
            return -1;
        r += rl;
        p += pl;
    }
    long extra = 0;
    while (*p) {
        while (*p == '/')
            p++;
        if (*p) {
            p += strcspn(p, "/");
            extra++;
        }
    }
    return extra;
}

/* The last component of PATH as given, or NULL when it has none that names an entry ("", a
 * trailing "/", "." or ".."). */
static const char *last_name(const char *path, size_t *len)
{
    size_t n = strlen(path);
    if (n == 0 || path[n - 1] == '/')
        return NULL;
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    *len = strlen(s);
    if ((*len == 1 && s[0] == '.') || (*len == 2 && s[0] == '.' && s[1] == '.'))
        return NULL;
    return s;
}

/* --- the reference model: configuration and the contract table ---------------------------------- */

static struct {
    int file;                       /* the record is a file */
    int outputs;                    /* enum tg_outputs */
    int nroots;
    char *roots[TG_MAX_ROOTS];
    char roots_joined[TG_MAX_ROOTS * CFG_ROOT_MAX + 32]; /* what the record's roots block must hold */
    size_t joined_len;
    int roots_dropped, root_slash, root_colon; /* the record cannot say these roots */
    const char *start;              /* the starting directory */
    int start_in_root;
    size_t nnamed;
    char *named[16];                /* command-line paths, normalised */
    char *named_exact[16];          /* the same, whatever their length (strict) */
    const char *cwd;
} cm;

static void model_add_root(const char *p, size_t len)
{
    char *r = malloc(len + 2);
    if (!r)
        die("malloc");
    char *raw = strndup(p, len);
    if (!raw)
        die("strndup");
    ref_norm(raw, r);
    free(raw);
    cm.roots[cm.nroots++] = r;
}

static void model_roots(const char *v, const char *tmpdir)
{
    if (v) {
        int ok = v[0] != '\0';
        size_t used = 0;
        for (const char *p = v; ok && *p;) {
            size_t len = strcspn(p, ":");
            if (len == 0 || p[0] != '/' || len >= CFG_ROOT_MAX || cm.nroots >= TG_MAX_ROOTS ||
                used + len + 1 > CFG_ROOTS_BYTES) {
                ok = 0;
                break;
            }
            model_add_root(p, len);
            /* "/" is refused (every file would be a temp file), and all roots must fit the
             * record's roots block (TG_ROOTS_MAX bytes with their separators). */
            const char *added = cm.roots[cm.nroots - 1];
            used += strlen(added) + 1;
            if (strcmp(added, "/") == 0 || used > TG_ROOTS_MAX) {
                ok = 0;
                break;
            }
            p += len;
            if (*p == ':')
                p++;
        }
        if (ok)
            return;
        tg_model_stats.defaults++;
        while (cm.nroots > 0)
            free(cm.roots[--cm.nroots]);
    }
    /* A TMPDIR the record could not list (a ':' in it, or "/") is not a root. */
    if (tmpdir && tmpdir[0] == '/' && strlen(tmpdir) < CFG_ROOT_MAX && !strchr(tmpdir, ':')) {
        model_add_root(tmpdir, strlen(tmpdir));
        if (strcmp(cm.roots[cm.nroots - 1], "/") == 0)
            free(cm.roots[--cm.nroots]);
    }
    model_add_root("/tmp", 4);
    model_add_root("/var/tmp", 8);
    model_add_root("/dev/shm", 8);
}

/* What the roots block of the record must say: every root, joined by ':'.  Notes the roots the
 * record cannot hold as the reader reads it, and what the shim writes where it deviates. */
static void model_roots_block(void)
{
    size_t len = 0, shim_len = 0;
    int shim_full = 0;
    for (int i = 0; i < cm.nroots; i++) {
        size_t rl = strlen(cm.roots[i]);
        if (strcmp(cm.roots[i], "/") == 0)
            cm.root_slash = 1;
        if (strchr(cm.roots[i], ':'))
            cm.root_colon = 1;
        if (len)
            cm.roots_joined[len++] = ':';
        memcpy(cm.roots_joined + len, cm.roots[i], rl);
        len += rl;
        /* record.c stops at the first root that would not fit in TG_ROOTS_MAX bytes */
        if (!shim_full && shim_len + rl + 2 > TG_ROOTS_MAX)
            shim_full = 1;
        if (!shim_full)
            shim_len += (shim_len ? 1 : 0) + rl;
    }
    cm.roots_joined[len] = '\0';
    cm.joined_len = len;
    if (shim_len != len) {
        cm.roots_dropped = 1;
        if (!tg_model_strict) {
            cm.joined_len = shim_len;
            cm.roots_joined[shim_len] = '\0';
        }
    }
}

static int ref_under_root(const char *abs)
{
    for (int i = 0; i < cm.nroots; i++)
        if (ref_below(cm.roots[i], abs) > 0)
            return 1;
    return 0;
}

/* One command-line argument (README, "Paths named on the command line"). */
static void model_named(const char *arg)
{
    static char joined[REF_MAX + TG_MODEL_SPEC_MAX], out[REF_MAX + TG_MODEL_SPEC_MAX];
    size_t al = strlen(arg), sl = strlen(cm.start);
    if (al == 0)
        return;
    if (arg[0] == '/') {
        strcpy(joined, arg);
    } else {
        memcpy(joined, cm.start, sl);
        joined[sl] = '/';
        memcpy(joined + sl + 1, arg, al + 1);
    }
    size_t n = ref_norm(joined, out);
    char *exact = strndup(out, n);
    if (!exact)
        die("strndup");
    cm.named_exact[cm.nnamed] = exact;
    /* Any length counts ("../" runs can bring a long argument down to a short path). */
    cm.named[cm.nnamed++] = exact;
}

static int ref_named(const char *abs)
{
    for (size_t i = 0; i < cm.nnamed; i++)
        if (cm.named[i] && strcmp(cm.named[i], abs) == 0)
            return 1;
    for (size_t i = 0; i < cm.nnamed; i++)
        if (!cm.named[i] && strcmp(cm.named_exact[i], abs) == 0 && known(TG_KNOWN_CMD_LONG))
            return 0;
    return 0;
}

enum why { BY_TABLE, BY_START, BY_CMDLINE };

/* The contract table of README.md ("What is removed, and when") and the two keeping rules. */
static int ref_decide(const char *abs, int kind, enum why *why)
{
    int under = ref_under_root(abs), when;
    *why = BY_TABLE;
    if (kind == TG_K_MKSTEMP || kind == TG_K_MKDTEMP)
        when = under ? TG_WHEN_ENDS : TG_WHEN_FAILS;
    else if (kind == TG_K_EXCL_PRIVATE)
        when = under ? TG_WHEN_ENDS : 0;
    else
        when = under ? TG_WHEN_FAILS : 0;
    if (when == TG_WHEN_FAILS && cm.outputs != TG_OUT_ON_FAILURE)
        when = cm.outputs == TG_OUT_ALWAYS ? TG_WHEN_ENDS : 0;
    if (!when)
        return 0;
    if (cm.start_in_root && ref_below(cm.start, abs) >= 0) {
        *why = BY_START;
        return 0;
    }
    if (ref_named(abs)) {
        *why = BY_CMDLINE;
        return 0;
    }
    return when;
}

/* --- the reference model: live entries --------------------------------------------------------- */

struct ment {
    char *path;
    size_t len;
    uint64_t hash;       /* of the path: lookups compare it first */
    uint8_t kind, when;
    uint32_t mode;
    uint64_t dev, ino;
};

static struct {
    struct ment *e;
    size_t n, cap;
    uint64_t serial;
    int record;          /* the registry has a record (tg_reg_pid set) */
    int adopted;         /* adopted since the record was made */
} mm;

static uint64_t path_hash(const char *p, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* Whether model entry I has the path P (LEN bytes, hash H). */
static int model_is(size_t i, const char *p, size_t len, uint64_t h)
{
    return mm.e[i].hash == h && mm.e[i].len == len && memcmp(mm.e[i].path, p, len) == 0;
}

static void model_push(const char *abs, size_t len, int kind, int when, uint32_t mode, uint64_t dev, uint64_t ino)
{
    if (mm.n == mm.cap) {
        size_t cap = mm.cap ? 2 * mm.cap : 64;
        struct ment *e = realloc(mm.e, cap * sizeof *e);
        if (!e)
            die("realloc");
        mm.e = e;
        mm.cap = cap;
    }
    char *p = strndup(abs, len);
    if (!p)
        die("strndup");
    mm.e[mm.n++] = (struct ment){p, len, path_hash(p, len), (uint8_t)kind, (uint8_t)when, mode, dev, ino};
    if (mm.n > tg_model_stats.max_live)
        tg_model_stats.max_live = mm.n;
}

static void model_remove(size_t i)
{
    free(mm.e[i].path);
    mm.e[i] = mm.e[--mm.n];
}

static void model_clear(void)
{
    while (mm.n > 0)
        model_remove(mm.n - 1);
}

/* --- the record, walked as the remover walks it -------------------------------------------------- */

static uint32_t ref_chunk_start(int k) { return (TG_CHUNK0 / TG_CELL) * ((1u << k) - 1u); }

static int ref_chunk_of(uint32_t cell)
{
    int k = 0;
    while (k + 1 < TG_MAX_CHUNKS && ref_chunk_start(k + 1) <= cell)
        k++;
    return k;
}

static uint32_t ref_cells(size_t len) { return 1u + (uint32_t)((len + 1 + TG_CELL - 1) / TG_CELL); }

static struct seen {
    uint64_t ino;
    const struct tg_rec_entry *e;
} seen[TG_MODEL_MAX_LIVE + 64];
static size_t nseen;
static uint32_t free_count[CELLS_MAX + 1]; /* FREE blocks by size, as the last walk found them */

static void walk(void)
{
    nseen = 0;
    memset(free_count, 0, sizeof free_count);
    const struct tg_rec_header *h = tg_rec_header();
    if (!h)
        fail("the registry has a record but no header is mapped");
    if (memcmp(h->magic, TG_REC_MAGIC, 8) != 0 || h->version != TG_REC_VERSION ||
        h->header_cells != TG_REC_HEADER_CELLS || h->pid != getpid() || h->uid != getuid())
        fail("record header: magic, version, header cells, pid or uid wrong");
    uint32_t hw = atomic_load(&((struct tg_rec_header *)h)->hw_cells), c = h->header_cells;
    int roots_seen = 0;
    while (c < hw) {
        const struct tg_rec_entry *e = tg_rec_at(c);
        uint32_t cells = e->cells, st = atomic_load(&((struct tg_rec_entry *)e)->state);
        if (cells == 0 || c + cells > hw)
            fail("block at cell %u: %u cells, high-water mark %u", c, cells, hw);
        if (c + cells > ref_chunk_start(ref_chunk_of(c) + 1))
            fail("block at cell %u (%u cells) crosses a chunk boundary", c, cells);
        switch (st) {
        case TG_ROOTS:
            if (c != TG_REC_HEADER_CELLS)
                fail("a roots block at cell %u", c);
            roots_seen = 1;
            if (e->pathlen != cm.joined_len || cells != ref_cells(e->pathlen) || e->path[e->pathlen] != '\0' ||
                memcmp(e->path, cm.roots_joined, cm.joined_len) != 0)
                fail("roots block holds \"%.*s\" (%u cells), the configuration says \"%s\"", (int)e->pathlen,
                     e->path, cells, cm.roots_joined);
            if (cm.roots_dropped)
                known(TG_KNOWN_ROOTS_DROPPED);
            break;
        case TG_FREE:
            if (cells > CELLS_MAX)
                fail("FREE block of %u cells at %u", cells, c);
            free_count[cells]++;
            break;
        case TG_PAD:
            break;
        case TG_LIVE:
            if (e->pathlen == 0 || e->pathlen >= TG_PATH_MAX || cells != ref_cells(e->pathlen) ||
                e->path[e->pathlen] != '\0' || strlen(e->path) != e->pathlen)
                fail("LIVE block at cell %u: path length %u in %u cells", c, e->pathlen, cells);
            if (e->owner != getpid())
                fail("LIVE entry %s owned by %d", e->path, (int)e->owner);
            if (nseen == sizeof seen / sizeof *seen)
                fail("more LIVE entries than the model can hold");
            seen[nseen++] = (struct seen){e->ino, e};
            break;
        default:
            fail("block at cell %u in state %u", c, st);
        }
        c += cells;
    }
    if (c != hw)
        fail("blocks end at cell %u, high-water mark %u", c, hw);
    if (!roots_seen) {
        /* Only an adoption may have lost it (TG_KNOWN_ROOTS_FREED). */
        if (!mm.adopted)
            fail("the roots block at cell %u is gone", TG_REC_HEADER_CELLS);
        known(TG_KNOWN_ROOTS_FREED);
    }
    unsigned long chunk = (unsigned long)ref_chunk_of(hw - 1);
    if (chunk > tg_model_stats.max_chunk)
        tg_model_stats.max_chunk = chunk;
}

static int by_ino_seen(const void *a, const void *b)
{
    uint64_t x = ((const struct seen *)a)->ino, y = ((const struct seen *)b)->ino;
    return x < y ? -1 : x > y;
}

static int by_ino_model(const void *a, const void *b)
{
    uint64_t x = ((const struct ment *)a)->ino, y = ((const struct ment *)b)->ino;
    return x < y ? -1 : x > y;
}

static void compare_entry(const struct ment *m, const struct tg_rec_entry *e, const char *who)
{
    if (e->pathlen != m->len || memcmp(e->path, m->path, m->len) != 0 || e->kind != m->kind || e->when != m->when ||
        e->dev != m->dev || e->ino != m->ino || e->mode != m->mode)
        fail("%s: entry %s (kind %u when %u dev %llu ino %llu mode %o), the model has %s (kind %u when %u dev "
             "%llu ino %llu mode %o)",
             who, e->path, e->kind, e->when, (unsigned long long)e->dev, (unsigned long long)e->ino, e->mode,
             m->path, m->kind, m->when, (unsigned long long)m->dev, (unsigned long long)m->ino, m->mode);
}

/* tg_reg_find_quiet and tg_reg_may_hold on the path of an entry the model has live. */
static void check_lookup(const char *path, size_t len)
{
    struct tg_rec_entry *e = tg_reg_find_quiet(path, len);
    if (!e || atomic_load(&e->state) != TG_LIVE || e->pathlen != len || memcmp(e->path, path, len) != 0)
        fail("tg_reg_find_quiet does not find the live entry %s", path);
    size_t nl;
    const char *name = last_name(path, &nl);
    if (!tg_reg_may_hold(path) || (name && !tg_reg_may_hold(name)))
        fail("tg_reg_may_hold says no for the live entry %s", path);
}

/* Everything the registry promises, against the model.  Every entry is looked up when the model is
 * small, every 16th time, and at the end of the input (ALL); the operations look up what they
 * touch themselves. */
static void check_registry(int all)
{
    static unsigned calls;
    size_t live = atomic_load(&tg_live);
    if (live != mm.n)
        fail("tg_live is %zu, the model has %zu live entries", live, mm.n);
    if ((tg_reg_pid != 0) != mm.record)
        fail("the registry %s a record, the model %s", tg_reg_pid ? "has" : "has no", mm.record ? "does" : "does not");
    if (!mm.record)
        return;
    walk();
    if (nseen != mm.n)
        fail("the record holds %zu LIVE entries, the model %zu", nseen, mm.n);
    qsort(seen, nseen, sizeof *seen, by_ino_seen);
    qsort(mm.e, mm.n, sizeof *mm.e, by_ino_model);
    for (size_t i = 0; i < mm.n; i++)
        compare_entry(&mm.e[i], seen[i].e, "record walk");
    if (all || mm.n <= 64 || ++calls % 16 == 0)
        for (size_t i = 0; i < mm.n; i++)
            check_lookup(mm.e[i].path, mm.e[i].len);
}

/* The record read back by the reader must hold exactly the live entries. */
static void check_reader(void)
{
    if (!mm.record || !cm.file)
        return;
    if (!tg_rec_is_file())
        fail("the record is not a file although the state directory is usable");
    int why_not = -1;
    if (mm.adopted && atomic_load(&tg_rec_at(TG_REC_HEADER_CELLS)->state) != TG_ROOTS)
        why_not = TG_KNOWN_ROOTS_FREED;
    else if (cm.root_slash)
        why_not = TG_KNOWN_ROOT_SLASH;
    else if (cm.root_colon)
        why_not = TG_KNOWN_ROOT_COLON;
    else if (cm.roots_dropped)
        why_not = TG_KNOWN_ROOTS_DROPPED;
    if (why_not >= 0 && !tg_model_strict) {
        known((enum tg_model_known)why_not);
        return;
    }
    static char buf[65536];
    struct tg_rec_reader r;
    if (tg_rr_open(&r, state_fd, rec_name, buf, sizeof buf) < 0)
        fail("the reader refuses the shim's own record: %s", r.why);
    qsort(mm.e, mm.n, sizeof *mm.e, by_ino_model);
    const struct tg_rec_entry *e;
    size_t got = 0;
    int rc;
    while ((rc = tg_rr_next(&r, &e)) == 1) {
        struct ment key = {.ino = e->ino};
        const struct ment *m = bsearch(&key, mm.e, mm.n, sizeof *mm.e, by_ino_model);
        if (!m)
            fail("the reader returns %s (ino %llu), which the model does not have", e->path,
                 (unsigned long long)e->ino);
        compare_entry(m, e, "reader");
        got++;
    }
    if (rc < 0)
        fail("the reader refuses the shim's own record: %s", r.why);
    tg_rr_close(&r);
    if (got != mm.n)
        fail("the reader returns %zu entries, the model has %zu", got, mm.n);
    tg_model_stats.reader_ok++;
    tg_model_stats.reader_entries += got;
}

/* --- operations ---------------------------------------------------------------------------------- */

static int dfd_of(uint8_t d, const char **base)
{
    int k = d % (TG_MODEL_NDIRS + 1);
    if (k == 0) {
        *base = cm.cwd;
        return AT_FDCWD;
    }
    *base = dirs[k - 1].abs;
    return dirs[k - 1].fd;
}

/* tg_resolve against the model; also tg_normalize on an absolute path as given. */
static int resolve_checked(uint8_t d, const char *path, char *abs)
{
    static char want[REF_MAX], copy[TG_MODEL_SPEC_MAX + 1];
    const char *base;
    int dfd = dfd_of(d, &base);
    int len = tg_resolve(dfd, path, abs);
    int wl = ref_resolve(base, path, want);
    if (len != wl || (len >= 0 && strcmp(abs, want) != 0))
        fail("tg_resolve(%s, \"%s\") = %d \"%s\", the model says %d \"%s\"", d % (TG_MODEL_NDIRS + 1) ? base : "cwd",
             path, len, len >= 0 ? abs : "", wl, wl >= 0 ? want : "");
    if (len >= 0)
        tg_model_stats.resolved++;
    else
        tg_model_stats.unresolved++;
    if (path[0] == '/') {
        strcpy(copy, path);
        size_t n = tg_normalize(copy);
        size_t wn = ref_norm(path, want);
        if (n != wn || strcmp(copy, want) != 0)
            fail("tg_normalize(\"%s\") = %zu \"%s\", the model says %zu \"%s\"", path, n, copy, wn, want);
        tg_model_stats.normalised++;
    }
    return len;
}

/* tg_under_root, and tg_decide for KIND (0: all four) on a resolved path.  Returns the decision
 * for KIND. */
static int decide_checked(const char *abs, size_t len, int kind)
{
    int under = tg_under_root(abs, len);
    if (under != ref_under_root(abs))
        fail("tg_under_root(\"%s\") = %d, the model says %d", abs, under, !under);
    int result = 0;
    for (int k = TG_K_MKSTEMP; k <= TG_K_OTHER; k++) {
        if (kind && k != kind)
            continue;
        enum why why;
        int want = ref_decide(abs, k, &why);
        int got = tg_decide(abs, len, (enum tg_kind)k);
        if (got != want)
            fail("tg_decide(\"%s\", kind %d) = %d, the model says %d (outputs %d, start %s%s)", abs, k, got, want,
                 cm.outputs, cm.start, cm.start_in_root ? " in a root" : "");
        tg_model_stats.decided[got]++;
        tg_model_stats.kept_start += why == BY_START;
        tg_model_stats.kept_cmdline += why == BY_CMDLINE;
        result = got;
    }
    return result;
}

/* tg_reg_add, and what it must do to the record: reuse a FREE block of the size, else grow the
 * high-water mark by the size (after a PAD to the end of the chunk when the block does not fit). */
static void add_checked(const char *abs, size_t len, int kind, int when, uint32_t mode, uint64_t dev)
{
    uint32_t cells = ref_cells(len), hw0 = mm.record ? atomic_load(&tg_rec_header()->hw_cells) : 0;
    int reuse = mm.record && free_count[cells] > 0;
    uint64_t ino = ++mm.serial;
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_dev = (dev_t)dev;
    st.st_ino = (ino_t)ino;
    st.st_mode = mode;
    st.st_ctim.tv_sec = (time_t)ino;
    struct tg_made m = {(enum tg_kind)kind, (enum tg_when)when, TG_API_OPEN, 0, 0};
    tg_reg_add(abs, len, &st, &m);
    if (!tg_reg_pid)
        fail("tg_reg_add made no record");
    uint32_t hw1 = atomic_load(&tg_rec_header()->hw_cells), want;
    if (!mm.record) {
        /* a new record: the header, the roots block, this entry */
        mm.record = 1;
        want = TG_REC_HEADER_CELLS + ref_cells(cm.joined_len) + cells;
        if (cm.file && !tg_rec_is_file())
            fail("the record went to anonymous memory although the state directory is usable");
        walk(); /* the header and the roots block, before their size is counted on */
    } else if (reuse) {
        want = hw0;
        free_count[cells]--;
        tg_model_stats.reuses++;
    } else {
        uint32_t end = ref_chunk_start(ref_chunk_of(hw0) + 1);
        want = hw0 + cells > end ? end + cells : hw0 + cells;
        tg_model_stats.pads += hw0 + cells > end;
    }
    if (hw1 != want)
        fail("adding %s (%u cells): high-water mark %u -> %u, the model says %u (%s)", abs, cells, hw0, hw1, want,
             reuse ? "a FREE block of that size exists" : "no FREE block of that size");
    model_push(abs, len, kind, when, mode, dev, ino);
    check_lookup(abs, len);
    tg_model_stats.adds++;
}

/* The model's side of tg_reg_forget(ABS): one live entry with that path goes, if there is one.
 * With several (made again after the first moved away unseen), any one of them may go: the walk
 * tells which. */
static void model_drop_one(const char *abs);

/* After tg_reg_forget(ABS): the model too, and the path is found exactly when an entry of it is
 * still live. */
static void model_forgot(const char *abs)
{
    model_drop_one(abs);
    size_t len = strlen(abs);
    uint64_t h = path_hash(abs, len);
    int want = 0;
    for (size_t i = 0; i < mm.n && !want; i++)
        want = model_is(i, abs, len, h);
    const struct tg_rec_entry *e = mm.record ? tg_reg_find_quiet(abs, strlen(abs)) : NULL;
    if (!!e != want)
        fail("after forgetting %s, tg_reg_find_quiet %s it, the model %s", abs, e ? "finds" : "does not find",
             want ? "has it still" : "does not");
}

static void model_drop_one(const char *abs)
{
    size_t m = 0, last = 0, len = strlen(abs);
    uint64_t h = path_hash(abs, len);
    for (size_t i = 0; i < mm.n; i++)
        if (model_is(i, abs, len, h)) {
            m++;
            last = i;
        }
    tg_model_stats.forgets += m > 0;
    if (m == 0)
        return;
    if (m == 1) {
        model_remove(last);
        return;
    }
    tg_model_stats.forget_dups++;
    walk();
    size_t gone = 0, which = 0;
    for (size_t i = 0; i < mm.n; i++) {
        if (!model_is(i, abs, len, h))
            continue;
        size_t k = 0;
        while (k < nseen && seen[k].ino != mm.e[i].ino)
            k++;
        if (k == nseen) {
            gone++;
            which = i;
        }
    }
    if (gone != 1)
        fail("tg_reg_forget(\"%s\") with %zu live entries of that path removed %zu", abs, m, gone);
    model_remove(which);
}

/* tg_reg_may_hold(PATH) said MH: a "no" is wrong when a live entry could be what PATH names. */
static void check_may_hold(const char *path, int mh)
{
    if (mh)
        return;
    tg_model_stats.may_hold_no++;
    size_t nl;
    const char *name = last_name(path, &nl);
    if (!name)
        fail("tg_reg_may_hold(\"%s\") says no for a path without a last name", path);
    for (size_t i = 0; i < mm.n; i++) {
        size_t el;
        const char *en = last_name(mm.e[i].path, &el);
        if (en && el == nl && memcmp(en, name, nl) == 0)
            fail("tg_reg_may_hold(\"%s\") says no, and %s is live", path, mm.e[i].path);
    }
}

/* The removal wrappers' forget(): may_hold, resolve, tg_reg_forget. */
static void forget_as_wrapper(uint8_t d, const char *path)
{
    static char abs[TG_PATH_MAX];
    int mh = tg_reg_may_hold(path);
    check_may_hold(path, mh);
    if (!mh)
        return;
    int len = resolve_checked(d, path, abs);
    if (len < 0)
        return;
    tg_reg_forget(abs, (size_t)len, 1);
    model_forgot(abs);
}

static void op_create(struct in *in)
{
    static char path[TG_MODEL_SPEC_MAX + 1], abs[TG_PATH_MAX];
    uint8_t k = byte(in), d = byte(in);
    spec(in, path);
    int kind = 1 + k % 4;
    uint32_t mode = kind == TG_K_MKDTEMP || (kind == TG_K_OTHER && (k & 4)) ? S_IFDIR | 0700 : S_IFREG | 0600;
    int len = resolve_checked(d, path, abs);
    if (len < 0)
        return;
    int when = decide_checked(abs, (size_t)len, kind);
    if (when && mm.n < TG_MODEL_MAX_LIVE)
        add_checked(abs, (size_t)len, kind, when, mode, 0x100u + ((k >> 3) & 7u));
}

static void op_bulk(struct in *in)
{
    static char path[TG_PATH_MAX];
    unsigned count = 1u + byte(in) % 64u, base = 24u + 16u * byte(in), step = byte(in);
    for (unsigned i = 0; i < count && mm.n < TG_MODEL_MAX_LIVE; i++) {
        size_t want = base + (i * step) % 256u;
        if (want > TG_PATH_MAX - 1)
            want = TG_PATH_MAX - 1;
        char name[32];
        size_t nl = (size_t)snprintf(name, sizeof name, "n%llu", (unsigned long long)mm.serial + 1);
        size_t len = (size_t)snprintf(path, sizeof path, "%s/tmp/", P);
        if ((i + step) % 8 == 0) {
            /* the length in the last name (longer than a file system takes: only the record sees it) */
            memcpy(path + len, name, nl);
            len += nl;
            if (len < want) {
                memset(path + len, 'f', want - len);
                len = want;
            }
        } else {
            /* the length in directories of up to 200 bytes, then the short name */
            while (len + 1 + nl < want) {
                size_t fill = want - len - 1 - nl;
                fill = fill > 200 ? 200 : fill;
                memset(path + len, 'f', fill);
                len += fill;
                path[len++] = '/';
            }
            memcpy(path + len, name, nl);
            len += nl;
        }
        path[len] = '\0';
        int kind = (i + step) % 2 ? TG_K_MKDTEMP : TG_K_MKSTEMP;
        add_checked(path, len, kind, TG_WHEN_ENDS, kind == TG_K_MKDTEMP ? S_IFDIR | 0700 : S_IFREG | 0600, 0x42);
    }
}

static void op_drop(struct in *in)
{
    uint8_t s = byte(in);
    size_t stride = 1u + s % 8u, off = (s >> 3) % stride, n = 0;
    char **paths = malloc((mm.n + 1) * sizeof *paths);
    if (!paths)
        die("malloc");
    for (size_t i = off; i < mm.n; i += stride)
        if ((paths[n] = strdup(mm.e[i].path)) != NULL)
            n++;
    for (size_t i = 0; i < n; i++) {
        tg_reg_forget(paths[i], strlen(paths[i]), 1);
        model_forgot(paths[i]);
        free(paths[i]);
    }
    free(paths);
}

static void op_fork(void)
{
    tg_rec_unlink();
    tg_reg_after_fork_child();
    model_clear();
    mm.record = 0;
    mm.adopted = 0;
    tg_model_stats.forks++;
}

static void op_exec(void)
{
    int had = mm.record && tg_rec_is_file();
    struct stat st;
    if (had && fstatat(state_fd, rec_name, &st, 0) == 0 && st.st_size > (off_t)TG_CHUNK0 && !tg_model_strict) {
        known(TG_KNOWN_ADOPT_TRUNCATES);
        return;
    }
    tg_reg_after_fork_child();
    int adopted = tg_reg_adopt();
    if (adopted != had)
        fail("tg_rec_adopt says %d after exec, the model %d", adopted, had);
    if (!adopted) {
        model_clear();
        mm.record = 0;
        mm.adopted = 0;
        return;
    }
    mm.adopted = 1;
    tg_model_stats.adoptions++;
}

/* --- one input ------------------------------------------------------------------------------- */

static char argbuf[8][TG_MODEL_SPEC_MAX + 16];
static char *argv_[9];

static void policy_reset(void)
{
    free(atomic_load(&cmdline));
    atomic_store(&cmdline, NULL);
    /* tg_policy_init copies the command line into a static buffer of 8192 bytes, or allocates */
    if (argv_bytes > 8192)
        free(argv_copy);
    argv_copy = NULL;
    argv_bytes = 0;
    start_dir[0] = '\0';
    start_len = 0;
    start_in_root = 0;
    start_state = 0;
}

static void model_reset(void)
{
    while (cm.nroots > 0)
        free(cm.roots[--cm.nroots]);
    for (size_t i = 0; i < cm.nnamed; i++)
        free(cm.named_exact[i]);
    int file = cm.file;
    memset(&cm, 0, sizeof cm);
    cm.file = file;
    model_clear();
    mm.record = 0;
    mm.adopted = 0;
    mm.serial = 1000;
}

static void configure(struct in *in)
{
    static char tmp[TG_MODEL_SPEC_MAX + 1];
    uint8_t c = byte(in);
    cm.file = (c & 4) != 0;
    static const char *const outs[] = {NULL, "always", "never", "on-failure"};
    const char *outputs = c & 0x40 ? "sometimes" : outs[c & 3];
    cm.outputs = TG_OUT_ON_FAILURE; /* also when unset or malformed */
    if (outputs && strcmp(outputs, "always") == 0)
        cm.outputs = TG_OUT_ALWAYS;
    else if (outputs && strcmp(outputs, "never") == 0)
        cm.outputs = TG_OUT_NEVER;
    const char *roots = NULL, *tmpdir = NULL;
    if (c & 8) {
        size_t n = strlen(strcpy(env_roots, "TMPGUARD_ROOTS="));
        unsigned count = byte(in) % 18u;
        for (unsigned i = 0; i < count; i++) {
            size_t l = spec(in, tmp);
            if (i)
                env_roots[n++] = ':';
            memcpy(env_roots + n, tmp, l + 1);
            n += l;
        }
        if (c & 0x20)
            env_roots[n++] = ':';
        env_roots[n] = '\0';
        roots = env_roots + strlen("TMPGUARD_ROOTS=");
        putenv(env_roots);
    } else {
        unsetenv("TMPGUARD_ROOTS");
    }
    if (c & 0x10) {
        spec(in, tmp);
        snprintf(env_tmpdir, sizeof env_tmpdir, "TMPDIR=%s", tmp);
        tmpdir = env_tmpdir + strlen("TMPDIR=");
        putenv(env_tmpdir);
    } else {
        unsetenv("TMPDIR");
    }
    if (outputs) {
        snprintf(env_outputs, sizeof env_outputs, "TMPGUARD_OUTPUTS=%s", outputs);
        putenv(env_outputs);
    } else {
        unsetenv("TMPGUARD_OUTPUTS");
    }
    putenv(env_state);
    putenv(env_logfile);
    unsetenv("TMPGUARD_MODE");
    unsetenv("TMPGUARD_LOG");
    unsetenv("TMPGUARD_SUPERVISOR");
    unsetenv("TMPGUARD_HANDOFF");

    const struct dir *start = &dirs[byte(in) % TG_MODEL_NDIRS];
    unsigned argc = byte(in) % 8u;
    static const char *const forms[] = {"", "--out=", "-x", "-"};
    for (unsigned i = 0; i < argc; i++) {
        const char *form = forms[byte(in) % 4];
        size_t fl = strlen(form);
        memcpy(argbuf[i], form, fl);
        spec(in, argbuf[i] + fl);
        argv_[i] = argbuf[i];
    }
    argv_[argc] = NULL;

    /* The shim, as at load time: configuration, then the starting directory and command line. */
    if (chdir(start->abs) < 0)
        die(start->abs);
    tg_config_load(argc ? argv_[0] : NULL);
    if (!cm.file)
        tg_cfg.state_dir[0] = '\0';
    policy_reset();
    if (tg_policy_init((int)argc, argv_) < 0)
        fail("tg_policy_init refused the starting directory %s", start->abs);

    /* The model. */
    model_roots(roots, tmpdir);
    model_roots_block();
    cm.start = start->abs;
    cm.cwd = start->abs;
    for (int i = 0; i < cm.nroots; i++)
        if (ref_below(cm.roots[i], cm.start) >= 0)
            cm.start_in_root = 1;
    for (unsigned i = 0; i < argc; i++) {
        model_named(argv_[i]);
        const char *eq = strchr(argv_[i], '=');
        if (argv_[i][0] == '-' && eq)
            model_named(eq + 1);
    }
    if (tg_cfg.outputs != (enum tg_outputs)cm.outputs)
        fail("TMPGUARD_OUTPUTS=%s gives %d, the model says %d", outputs ? outputs : "(unset)", tg_cfg.outputs,
             cm.outputs);
    if (tg_cfg.nroots != cm.nroots)
        fail("TMPGUARD_ROOTS=%s TMPDIR=%s gives %d roots, the model says %d", roots ? roots : "(unset)",
             tmpdir ? tmpdir : "(unset)", tg_cfg.nroots, cm.nroots);
    for (int i = 0; i < cm.nroots; i++)
        if (strcmp(tg_cfg.roots[i], cm.roots[i]) != 0 || tg_cfg.root_len[i] != strlen(cm.roots[i]))
            fail("root %d is \"%s\", the model says \"%s\"", i, tg_cfg.roots[i], cm.roots[i]);
}

static void finish(void)
{
    tg_rec_unlink();
    tg_reg_after_fork_child();
    policy_reset();
    model_reset();
    if (fchdir(orig_cwd) < 0)
        die("back to the starting directory");
    if (orig_tmpdir)
        putenv(orig_tmpdir);
    else
        unsetenv("TMPDIR");
    unsetenv("TMPGUARD_ROOTS");
    unsetenv("TMPGUARD_OUTPUTS");
}

int tg_model_one(const uint8_t *data, size_t size)
{
    static char p1[TG_MODEL_SPEC_MAX + 1], p2[TG_MODEL_SPEC_MAX + 1], abs[TG_PATH_MAX];
    static const char *const op_names[] = {"check", "create", "unlink", "rename", "may-hold", "find",
                                           "chdir", "bulk",   "drop",   "fork",   "exec",     "read"};
    setup();
    model_reset();
    struct in in = {data, size, 0};
    cur_op = -1;
    cur_name = "configuration";
    configure(&in);
    tg_model_stats.inputs++;
    for (int op = 0; op < TG_MODEL_MAX_OPS && in.i < in.n; op++) {
        uint8_t o = byte(&in) % 12;
        cur_op = op;
        cur_name = op_names[o];
        tg_model_stats.ops++;
        int changes = 0;
        switch (o) {
        case 0: {
            uint8_t d = byte(&in);
            spec(&in, p1);
            int len = resolve_checked(d, p1, abs);
            if (len >= 0)
                decide_checked(abs, (size_t)len, 0);
            break;
        }
        case 1:
            op_create(&in);
            changes = 1;
            break;
        case 2: {
            uint8_t d = byte(&in);
            spec(&in, p1);
            forget_as_wrapper(d, p1);
            changes = 1;
            break;
        }
        case 3: {
            uint8_t d1 = byte(&in);
            spec(&in, p1);
            uint8_t d2 = byte(&in);
            spec(&in, p2);
            forget_as_wrapper(d1, p1);
            forget_as_wrapper(d2, p2);
            changes = 1;
            break;
        }
        case 4:
            spec(&in, p1);
            check_may_hold(p1, tg_reg_may_hold(p1));
            break;
        case 5: {
            size_t len = spec(&in, p1);
            int want = 0;
            uint64_t h = path_hash(p1, len);
            for (size_t i = 0; i < mm.n && !want; i++)
                want = model_is(i, p1, len, h);
            /* Only where the remover calls it: with a record. */
            const struct tg_rec_entry *e = mm.record && len < TG_PATH_MAX ? tg_reg_find_quiet(p1, len) : NULL;
            if (!!e != want || (e && (e->pathlen != len || memcmp(e->path, p1, len) != 0)))
                fail("tg_reg_find_quiet(\"%s\") %s, the model %s", p1, e ? "finds it" : "does not find it",
                     want ? "has it" : "does not");
            if (e)
                tg_model_stats.find_hit++;
            else
                tg_model_stats.find_miss++;
            break;
        }
        case 6: {
            const struct dir *d = &dirs[byte(&in) % TG_MODEL_NDIRS];
            tg_policy_before_chdir(); /* as the chdir wrapper does */
            if (chdir(d->abs) < 0)
                die(d->abs);
            cm.cwd = d->abs;
            break;
        }
        case 7:
            op_bulk(&in);
            changes = 1;
            break;
        case 8:
            op_drop(&in);
            changes = 1;
            break;
        case 9:
            op_fork();
            changes = 1;
            break;
        case 10:
            op_exec();
            changes = 1;
            break;
        default:
            check_reader();
            break;
        }
        if (changes)
            check_registry(0);
        else if (atomic_load(&tg_live) != mm.n)
            fail("tg_live is %zu, the model has %zu live entries", (size_t)atomic_load(&tg_live), mm.n);
    }
    cur_op = -1;
    cur_name = "end of input";
    check_registry(1);
    check_reader();
    finish();
    return 0;
}
