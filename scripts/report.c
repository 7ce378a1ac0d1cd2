/* tmpguard report: the call sites that leak temp files, ranked, from the library's leak report.
 *
 * The report is JSON lines, one object per line: "leak" lines (a file the program left, where it
 * was created, what became of it) are added up by call site, "summary" lines by process.  A report
 * may hold millions of lines, so what is kept grows with the call sites and the processes, never
 * with the lines.  Each line is read by the small JSON reader below, which takes any bytes: a line
 * it cannot make sense of is counted and skipped, never half believed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

/* The longest line read: a leak line with a deep stack of long paths takes a few KiB.  A longer
 * line is skipped as not understood, without being kept in memory. */
#define MAX_LINE (1u << 20)

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "tmpguard report: out of memory\n");
        exit(1);
    }
    return q;
}

static char *xmemdup(const char *s, size_t n)
{
    char *d = xrealloc(NULL, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* ---- a JSON reader, one line at a time ----------------------------------------------------- */

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

/* One value of the line.  The values live in one array, kept from line to line, and refer to each
 * other by index since the array moves when it grows.  Strings are decoded in place in the line:
 * an escape never decodes to more bytes than it takes. */
struct jv {
    enum jtype type;
    int count;            /* J_NUM written as a plain non-negative integer that fits in U */
    unsigned long long u;
    const char *s;        /* J_STR: the decoded bytes (NULs included, from \u0000), S_LEN of them */
    size_t s_len;
    const char *key;      /* a member of an object: its name, decoded */
    size_t key_len;
    int first, next;      /* J_ARR, J_OBJ: the first element; any value: the next one; -1: none */
};

/* A report's lines nest 3 deep (the line, "stack", a frame): the bound is far above that and far
 * below what the C stack could take. */
#define JSON_MAX_DEPTH 32
/* Far more than a leak line needs; a line of a million empty arrays must not cost gigabytes. */
#define JSON_MAX_VALUES 65536

struct jparse {
    char *p, *end; /* what is left of the line */
    struct jv *v;
    int n, cap;
};

static int jp_value(struct jparse *j, int depth);

static void jp_space(struct jparse *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jp_new(struct jparse *j, enum jtype type)
{
    if (j->n == j->cap) {
        if (j->cap >= JSON_MAX_VALUES)
            return -1;
        j->cap = j->cap ? 2 * j->cap : 64;
        j->v = xrealloc(j->v, (size_t)j->cap * sizeof *j->v);
    }
    struct jv *v = &j->v[j->n];
    memset(v, 0, sizeof *v);
    v->type = type;
    v->first = v->next = -1;
    return j->n++;
}

/* The 4 hex digits at P (the caller made sure they are in the line), or -1. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static char *put_utf8(char *w, unsigned long cp)
{
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xc0 | cp >> 6);
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xe0 | cp >> 12);
        *w++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *w++ = (char)(0xf0 | cp >> 18);
        *w++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *w++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    }
    return w;
}

/* The string at j->p (its opening quote), decoded in place.  Bytes that are not UTF-8 pass as they
 * are (paths are bytes); a raw control byte does not (JSON escapes them, the library too). */
static int jp_string(struct jparse *j, const char **s, size_t *len)
{
    char *w = ++j->p;
    *s = w;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"') {
            *len = (size_t)(w - *s);
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            *w++ = (char)c;
            continue;
        }
        if (j->p == j->end)
            return -1;
        c = (unsigned char)*j->p++;
        const char *plain = strchr("\"\\/bfnrt", c);
        if (c && plain) {
            *w++ = "\"\\/\b\f\n\r\t"[plain - "\"\\/bfnrt"];
            continue;
        }
        if (c != 'u' || j->end - j->p < 4)
            return -1;
        long cp = hex4(j->p);
        if (cp < 0)
            return -1;
        j->p += 4;
        /* A surrogate pair is one character; a lone surrogate is kept as its own 3 bytes, as
         * other readers of file names do, rather than turning the line down. */
        if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
            long lo = hex4(j->p + 2);
            if (lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                j->p += 6;
            }
        }
        w = put_utf8(w, (unsigned long)cp);
    }
    return -1;
}

/* A number as JSON writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.  Only its value as
 * a count (a plain integer) is used; any other number is checked and kept as "not a count". */
static int jp_number(struct jparse *j, struct jv *v)
{
    int neg = 0, overflow = 0, exact = 1;
    unsigned long long u = 0;
    if (*j->p == '-') {
        neg = 1;
        j->p++;
    }
    if (j->p == j->end || *j->p < '0' || *j->p > '9')
        return -1;
    if (*j->p == '0') {
        j->p++;
    } else {
        for (; j->p < j->end && *j->p >= '0' && *j->p <= '9'; j->p++) {
            unsigned d = (unsigned)(*j->p - '0');
            if (u > (ULLONG_MAX - d) / 10)
                overflow = 1;
            else
                u = u * 10 + d;
        }
    }
    if (j->p < j->end && *j->p == '.') {
        exact = 0;
        if (++j->p == j->end || *j->p < '0' || *j->p > '9')
            return -1;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        exact = 0;
        if (++j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p == j->end || *j->p < '0' || *j->p > '9')
            return -1;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    v->count = exact && !overflow && (!neg || u == 0);
    v->u = v->count ? u : 0;
    return 0;
}

static int jp_word(struct jparse *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

/* An array's or an object's elements, from just inside its opening bracket. */
static int jp_elements(struct jparse *j, int self, int depth, char close)
{
    int last = -1;
    jp_space(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return self;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        jp_space(j);
        if (close == '}') {
            if (j->p == j->end || *j->p != '"' || jp_string(j, &key, &key_len) < 0)
                return -1;
            jp_space(j);
            if (j->p == j->end || *j->p != ':')
                return -1;
            j->p++;
        }
        int e = jp_value(j, depth + 1);
        if (e < 0)
            return -1;
        j->v[e].key = key;
        j->v[e].key_len = key_len;
        if (last < 0)
            j->v[self].first = e;
        else
            j->v[last].next = e;
        last = e;
        jp_space(j);
        if (j->p == j->end)
            return -1;
        char c = *j->p++;
        if (c == close)
            return self;
        if (c != ',')
            return -1;
    }
}

/* The value at j->p; its index, or -1 when the text is not JSON (or nests deeper than
 * JSON_MAX_DEPTH, or needs more than JSON_MAX_VALUES values). */
static int jp_value(struct jparse *j, int depth)
{
    jp_space(j);
    if (j->p == j->end || depth > JSON_MAX_DEPTH)
        return -1;
    int v;
    switch (*j->p) {
    case '{':
    case '[':
        if ((v = jp_new(j, *j->p == '{' ? J_OBJ : J_ARR)) < 0)
            return -1;
        j->p++;
        return jp_elements(j, v, depth, j->v[v].type == J_OBJ ? '}' : ']');
    case '"': {
        const char *s;
        size_t n;
        if ((v = jp_new(j, J_STR)) < 0 || jp_string(j, &s, &n) < 0)
            return -1;
        j->v[v].s = s;
        j->v[v].s_len = n;
        return v;
    }
    case 't':
        return (v = jp_new(j, J_TRUE)) < 0 || jp_word(j, "true") < 0 ? -1 : v;
    case 'f':
        return (v = jp_new(j, J_FALSE)) < 0 || jp_word(j, "false") < 0 ? -1 : v;
    case 'n':
        return (v = jp_new(j, J_NULL)) < 0 || jp_word(j, "null") < 0 ? -1 : v;
    default:
        if ((v = jp_new(j, J_NUM)) < 0 || jp_number(j, &j->v[v]) < 0)
            return -1;
        return v;
    }
}

/* LINE (LEN bytes, decoded in place) as one JSON value with nothing but blanks around it: the
 * index of its value, or -1. */
static int jp_line(struct jparse *j, char *line, size_t len)
{
    j->p = line;
    j->end = line + len;
    j->n = 0;
    int v = jp_value(j, 0);
    jp_space(j);
    return v >= 0 && j->p == j->end ? v : -1;
}

/* ---- the fields of a line -------------------------------------------------------------------- */

/* A string of the line, decoded: N bytes, which may hold NULs, and no NUL after them. */
struct text {
    const char *s;
    size_t n;
};

static const struct jv *member(const struct jparse *j, const struct jv *obj, const char *name)
{
    size_t n = strlen(name);
    for (int e = obj->first; e >= 0; e = j->v[e].next)
        if (j->v[e].key_len == n && memcmp(j->v[e].key, name, n) == 0)
            return j->v[e].type == J_NULL ? NULL : &j->v[e];
    return NULL;
}

/* Each getter: 1 when the member is there with the right type, 0 when it is absent (or null, the
 * same to a reader), -1 when it is something else: the line is then not understood. */
static int get_text(const struct jparse *j, const struct jv *obj, const char *name, struct text *t)
{
    const struct jv *v = member(j, obj, name);
    if (!v)
        return 0;
    if (v->type != J_STR)
        return -1;
    t->s = v->s;
    t->n = v->s_len;
    return 1;
}

static int get_count(const struct jparse *j, const struct jv *obj, const char *name, unsigned long long *u)
{
    const struct jv *v = member(j, obj, name);
    if (!v)
        return 0;
    if (v->type != J_NUM || !v->count)
        return -1;
    *u = v->u;
    return 1;
}

static int get_bool(const struct jparse *j, const struct jv *obj, const char *name, int *b)
{
    const struct jv *v = member(j, obj, name);
    if (!v)
        return 0;
    if (v->type != J_TRUE && v->type != J_FALSE)
        return -1;
    *b = v->type == J_TRUE;
    return 1;
}

static int text_is(struct text t, const char *s) { return t.n == strlen(s) && memcmp(t.s, s, t.n) == 0; }

/* ---- call sites ------------------------------------------------------------------------------ */

enum kind { NATIVE, PYTHON, UNKNOWN };
enum { C_EXIT, C_SIGNAL, C_MAX_AGE, C_REAP, C_AUDIT, C_OTHER, NCAUSES };
static const char *const cause_name[NCAUSES] = {"exit", "signal", "max-age", "reap", "audit", "other"};

/* The APIs a site is shown with.  A site creates through one or two; a hostile report that gives
 * every line a new name must not grow a site without bound. */
#define SITE_APIS 8

/* A copy of a text of the report (which may hold NULs), with a NUL after it for strtoull. */
struct owned {
    char *s;
    size_t n;
    int set;
};

struct site {
    uint64_t hash;
    char *id; /* what makes the site this one (site_id) */
    size_t id_len;
    enum kind kind;
    struct owned where;    /* the module (NATIVE) or the file (PYTHON) */
    struct owned offset;   /* NATIVE: as written ("0x1189") */
    unsigned long long offset_value, line; /* the offset's value (ULLONG_MAX: not hex), PYTHON's line */
    int has_line;
    struct owned function; /* PYTHON: part of the site; NATIVE: shown only, the first one given */
    unsigned long long files, bytes, causes[NCAUSES];
    struct {
        struct owned name;
        unsigned long long files;
    } api[SITE_APIS];
    int napis;
    unsigned long long other_apis; /* files created by APIs beyond the first SITE_APIS */
};

/* The fields of a "site" object (or of none), as read from a line. */
struct site_fields {
    enum kind kind;
    struct text where, offset, function;
    unsigned long long line;
    int has_where, has_offset, has_function, has_line;
};

static void own(struct owned *o, struct text t)
{
    o->s = xmemdup(t.s, t.n);
    o->n = t.n;
    o->set = 1;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_START 0xcbf29ce484222325ull

/* A growable byte buffer, for the identity of the site of each line (kept between lines). */
struct idbuf {
    char *s;
    size_t n, cap;
};

static void add_to(struct idbuf *b, const void *p, size_t n)
{
    if (b->cap - b->n < n) {
        while (b->cap - b->n < n)
            b->cap = b->cap ? 2 * b->cap : 256;
        b->s = xrealloc(b->s, b->cap);
    }
    if (n)
        memcpy(b->s + b->n, p, n);
    b->n += n;
}

/* Each part of an identity is written with its presence and its length, so that no two sites
 * share one: a name may hold any byte, NUL included. */
static void add_part(struct idbuf *b, int present, const void *p, size_t n)
{
    unsigned char tag = (unsigned char)present;
    add_to(b, &tag, 1);
    if (present) {
        add_to(b, &n, sizeof n);
        add_to(b, p, n);
    }
}

/* What makes a site this one: a native site is its module and its offset (the function is what
 * the library could name, shown only); a Python site its file, line and function. */
static void site_id(struct idbuf *b, const struct site_fields *f)
{
    unsigned char k = (unsigned char)f->kind;
    b->n = 0;
    add_to(b, &k, 1);
    if (f->kind == UNKNOWN)
        return;
    add_part(b, f->has_where, f->where.s, f->where.n);
    if (f->kind == NATIVE) {
        add_part(b, f->has_offset, f->offset.s, f->offset.n);
    } else {
        add_part(b, f->has_line, &f->line, sizeof f->line);
        add_part(b, f->has_function, f->function.s, f->function.n);
    }
}

/* Open addressing, at most 70 % full. */
struct sites {
    struct site **slot;
    size_t cap, n;
};

static struct site *find_site(struct sites *t, const struct idbuf *id, const struct site_fields *f)
{
    if (10 * (t->n + 1) > 7 * t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        struct site **slot = xrealloc(NULL, cap * sizeof *slot);
        memset(slot, 0, cap * sizeof *slot);
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i]) {
                size_t k = t->slot[i]->hash & (cap - 1);
                while (slot[k])
                    k = (k + 1) & (cap - 1);
                slot[k] = t->slot[i];
            }
        free(t->slot);
        t->slot = slot;
        t->cap = cap;
    }
    uint64_t h = fnv(FNV_START, id->s, id->n);
    size_t k = h & (t->cap - 1);
    for (; t->slot[k]; k = (k + 1) & (t->cap - 1))
        if (t->slot[k]->hash == h && t->slot[k]->id_len == id->n && memcmp(t->slot[k]->id, id->s, id->n) == 0)
            return t->slot[k];
    struct site *s = xrealloc(NULL, sizeof *s);
    memset(s, 0, sizeof *s);
    s->hash = h;
    s->id = xmemdup(id->s, id->n);
    s->id_len = id->n;
    s->kind = f->kind;
    if (f->has_where)
        own(&s->where, f->where);
    if (f->has_offset) {
        char *end;
        own(&s->offset, f->offset);
        errno = 0;
        s->offset_value = strtoull(s->offset.s, &end, 16);
        if (errno || end == s->offset.s || *end || s->offset.n != strlen(s->offset.s))
            s->offset_value = ULLONG_MAX;
    }
    s->line = f->line;
    s->has_line = f->has_line;
    t->slot[k] = s;
    t->n++;
    return s;
}

/* The processes seen, as pid and program (a hash of its name: two programs whose names collide in
 * 64 bits would count as one, which only a made-up report could arrange). */
struct procs {
    struct proc_key {
        unsigned long long pid;
        uint64_t program;
        int used;
    } *slot;
    size_t cap, n;
};

static void add_proc(struct procs *t, int has_pid, unsigned long long pid, int has_program, struct text program)
{
    if (10 * (t->n + 1) > 7 * t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        struct proc_key *slot = xrealloc(NULL, cap * sizeof *slot);
        memset(slot, 0, cap * sizeof *slot);
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i].used) {
                size_t k = fnv(t->slot[i].program, &t->slot[i].pid, sizeof t->slot[i].pid) & (cap - 1);
                while (slot[k].used)
                    k = (k + 1) & (cap - 1);
                slot[k] = t->slot[i];
            }
        free(t->slot);
        t->slot = slot;
        t->cap = cap;
    }
    unsigned char tag = (unsigned char)(has_pid | has_program << 1);
    uint64_t prog = fnv(fnv(FNV_START, &tag, 1), program.s, has_program ? program.n : 0);
    pid = has_pid ? pid : 0;
    size_t k = fnv(prog, &pid, sizeof pid) & (t->cap - 1);
    for (; t->slot[k].used; k = (k + 1) & (t->cap - 1))
        if (t->slot[k].pid == pid && t->slot[k].program == prog)
            return;
    t->slot[k].pid = pid;
    t->slot[k].program = prog;
    t->slot[k].used = 1;
    t->n++;
}

/* Sums stop at the largest value rather than wrap: a made-up size must not turn a total small. */
static unsigned long long plus(unsigned long long a, unsigned long long b)
{
    return a > ULLONG_MAX - b ? ULLONG_MAX : a + b;
}

struct report {
    struct sites sites;
    struct procs leakers, summarised;
    struct idbuf id;
    unsigned long long files, bytes, removed, kept;
    unsigned long long summaries, created, by_program, by_tmpguard;
};

/* The call site of a leak line.  Absent, null, or naming neither a module nor a file: unknown. */
static int read_site(const struct jparse *j, const struct jv *site, struct site_fields *f)
{
    memset(f, 0, sizeof *f);
    f->kind = UNKNOWN;
    if (!site)
        return 0;
    if (site->type != J_OBJ)
        return -1;
    struct text file = {NULL, 0};
    int has_module, has_file;
    if ((has_module = get_text(j, site, "module", &f->where)) < 0 ||
        (has_file = get_text(j, site, "file", &file)) < 0 ||
        (f->has_offset = get_text(j, site, "offset", &f->offset)) < 0 ||
        (f->has_function = get_text(j, site, "function", &f->function)) < 0 ||
        (f->has_line = get_count(j, site, "line", &f->line)) < 0)
        return -1;
    if (has_module) {
        f->kind = NATIVE;
        f->has_where = 1;
        f->has_line = 0;
    } else if (has_file) {
        f->kind = PYTHON;
        f->where = file;
        f->has_where = 1;
        f->has_offset = 0;
    }
    return 0;
}

/* A "leak" line: everything is checked before anything is counted. */
static int take_leak(struct report *r, const struct jparse *j, const struct jv *o)
{
    struct text program = {NULL, 0}, api = {NULL, 0}, cause = {NULL, 0};
    unsigned long long pid = 0, bytes = 0;
    int removed = 1, has_pid, has_program, has_api, has_cause;
    struct site_fields f;
    /* "removed" is on every leak line the library writes; a line without it counts as removed,
     * the outcome outside audit mode. */
    if ((has_pid = get_count(j, o, "pid", &pid)) < 0 || (has_program = get_text(j, o, "program", &program)) < 0 ||
        (has_api = get_text(j, o, "api", &api)) < 0 || get_count(j, o, "bytes", &bytes) < 0 ||
        get_bool(j, o, "removed", &removed) < 0 || (has_cause = get_text(j, o, "cause", &cause)) < 0 ||
        read_site(j, member(j, o, "site"), &f) < 0)
        return -1;
    site_id(&r->id, &f);
    struct site *s = find_site(&r->sites, &r->id, &f);
    if (f.has_function && !s->function.set)
        own(&s->function, f.function);
    s->files++;
    s->bytes = plus(s->bytes, bytes);
    if (has_cause) {
        int c = 0;
        while (c < C_OTHER && !text_is(cause, cause_name[c]))
            c++;
        s->causes[c]++;
    }
    if (has_api) {
        int a = 0;
        while (a < s->napis && !(s->api[a].name.n == api.n && memcmp(s->api[a].name.s, api.s, api.n) == 0))
            a++;
        if (a == s->napis && a < SITE_APIS)
            own(&s->api[s->napis++].name, api);
        if (a < s->napis)
            s->api[a].files++;
        else
            s->other_apis++;
    }
    r->files++;
    r->bytes = plus(r->bytes, bytes);
    if (removed)
        r->removed++;
    else
        r->kept++;
    add_proc(&r->leakers, has_pid, pid, has_program, program);
    return 0;
}

/* A "summary" line: a process's totals. */
static int take_summary(struct report *r, const struct jparse *j, const struct jv *o)
{
    struct text program = {NULL, 0};
    unsigned long long pid = 0, created = 0, by_program = 0, by_tmpguard = 0;
    int has_pid, has_program;
    if ((has_pid = get_count(j, o, "pid", &pid)) < 0 || (has_program = get_text(j, o, "program", &program)) < 0 ||
        get_count(j, o, "created", &created) < 0 || get_count(j, o, "removed_by_program", &by_program) < 0 ||
        get_count(j, o, "removed_by_tmpguard", &by_tmpguard) < 0)
        return -1;
    r->summaries++;
    r->created = plus(r->created, created);
    r->by_program = plus(r->by_program, by_program);
    r->by_tmpguard = plus(r->by_tmpguard, by_tmpguard);
    add_proc(&r->summarised, has_pid, pid, has_program, program);
    return 0;
}

/* One line: 0 when understood (an event this reader does not know, from a newer library, is
 * understood and passed over), -1 when not. */
static int take_line(struct report *r, struct jparse *j, char *line, size_t len)
{
    int root = jp_line(j, line, len);
    if (root < 0 || j->v[root].type != J_OBJ)
        return -1;
    struct text event;
    if (get_text(j, &j->v[root], "event", &event) != 1)
        return -1;
    if (text_is(event, "leak"))
        return take_leak(r, j, &j->v[root]);
    if (text_is(event, "summary"))
        return take_summary(r, j, &j->v[root]);
    return 0;
}

/* ---- reading lines ------------------------------------------------------------------------- */

struct lines {
    int fd;
    char in[65536];
    size_t pos, end;
    char *line; /* the current line, up to MAX_LINE bytes */
    size_t len, cap;
};

/* The next line into L->line (without its newline; the last line may lack one): 1, or 0 at the
 * end, -1 on a read error (errno).  *TOO_LONG: the line was longer than MAX_LINE and is not kept. */
static int next_line(struct lines *l, int *too_long)
{
    int any = 0;
    l->len = 0;
    *too_long = 0;
    for (;;) {
        if (l->pos == l->end) {
            ssize_t n = read(l->fd, l->in, sizeof l->in);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return -1;
            if (n == 0)
                return any;
            l->pos = 0;
            l->end = (size_t)n;
        }
        any = 1;
        const char *start = l->in + l->pos, *nl = memchr(start, '\n', l->end - l->pos);
        size_t take = nl ? (size_t)(nl - start) : l->end - l->pos;
        if (!*too_long && l->len + take > MAX_LINE) {
            *too_long = 1;
        } else if (!*too_long) {
            if (l->cap < l->len + take) {
                while (l->cap < l->len + take)
                    l->cap = l->cap ? 2 * l->cap : 4096;
                l->line = xrealloc(l->line, l->cap);
            }
            if (take)
                memcpy(l->line + l->len, start, take);
            l->len += take;
        }
        l->pos += take + (nl != NULL);
        if (nl)
            return 1;
    }
}

/* ---- what is printed ----------------------------------------------------------------------- */

/* A text of the report on one line of the terminal: control bytes and backslashes escaped, any
 * other byte as it is (a path need not be UTF-8). */
static void put_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\')
            fputs("\\\\", stdout);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static void put_owned(const struct owned *o, const char *absent)
{
    if (o->set)
        put_text(o->s, o->n);
    else
        fputs(absent, stdout);
}

static int bytes_cmp(const struct owned *a, const struct owned *b)
{
    if (!a->set || !b->set)
        return a->set - b->set;
    int c = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n);
    return c ? c : a->n < b->n ? -1 : a->n > b->n;
}

/* Most files first, then most bytes; ties by name: module or file, offset or line (by value),
 * function; an unknown site after the named ones. */
static int by_rank(const void *pa, const void *pb)
{
    const struct site *a = *(const struct site *const *)pa, *b = *(const struct site *const *)pb;
    int c;
    if (a->files != b->files)
        return a->files > b->files ? -1 : 1;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    if ((a->kind == UNKNOWN) != (b->kind == UNKNOWN))
        return a->kind == UNKNOWN ? 1 : -1;
    if ((c = bytes_cmp(&a->where, &b->where)) != 0)
        return c;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->offset_value != b->offset_value)
        return a->offset_value < b->offset_value ? -1 : 1;
    if ((c = bytes_cmp(&a->offset, &b->offset)) != 0)
        return c;
    if (a->has_line != b->has_line || a->line != b->line)
        return a->has_line < b->has_line || (a->has_line == b->has_line && a->line < b->line) ? -1 : 1;
    return bytes_cmp(&a->function, &b->function);
}

static int digits(unsigned long long v)
{
    int n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static const char *plural(unsigned long long n, const char *one, const char *many) { return n == 1 ? one : many; }

/* "leaky_resize  /opt/x/resize+0x1189  (mkstemps; exit 3)": the function (?? when the library
 * could not name it, as addr2line says), where, then the APIs (with their counts when more than
 * one) and the causes with their counts. */
static void put_site(const struct site *s)
{
    if (s->kind == UNKNOWN) {
        fputs("(unknown call site)", stdout);
    } else {
        put_owned(&s->function, "??");
        fputs("  ", stdout);
        put_owned(&s->where, "?");
        if (s->kind == NATIVE) {
            putchar('+');
            put_owned(&s->offset, "?");
        } else if (s->has_line) {
            printf(":%llu", s->line);
        } else {
            fputs(":?", stdout);
        }
    }
    const char *sep = "  (";
    int several = (s->napis + (s->other_apis > 0)) > 1;
    for (int a = 0; a < s->napis; a++) {
        fputs(sep, stdout);
        put_text(s->api[a].name.s, s->api[a].name.n);
        if (several)
            printf(" %llu", s->api[a].files);
        sep = ", ";
    }
    if (s->other_apis) {
        printf("%sother APIs %llu", sep, s->other_apis);
        sep = ", ";
    }
    if (sep[0] == ',')
        sep = "; ";
    for (int c = 0; c < NCAUSES; c++)
        if (s->causes[c]) {
            printf("%s%s %llu", sep, cause_name[c], s->causes[c]);
            sep = ", ";
        }
    if (sep[0] != ' ')
        putchar(')');
    putchar('\n');
}

static void print_report(const struct report *r)
{
    if (!r->files) {
        printf("no leaks reported\n");
        return;
    }
    struct site **all = xrealloc(NULL, r->sites.n * sizeof *all);
    size_t n = 0;
    unsigned long long most_files = 0, most_bytes = 0;
    for (size_t i = 0; i < r->sites.cap; i++)
        if (r->sites.slot[i]) {
            all[n++] = r->sites.slot[i];
            most_files = r->sites.slot[i]->files > most_files ? r->sites.slot[i]->files : most_files;
            most_bytes = r->sites.slot[i]->bytes > most_bytes ? r->sites.slot[i]->bytes : most_bytes;
        }
    qsort(all, n, sizeof *all, by_rank);
    int wf = digits(most_files) > 5 ? digits(most_files) : 5, wb = digits(most_bytes) > 5 ? digits(most_bytes) : 5;
    printf("%*s  %*s  %s\n", wf, "FILES", wb, "BYTES", "CALL SITE");
    for (size_t i = 0; i < n; i++) {
        printf("%*llu  %*llu  ", wf, all[i]->files, wb, all[i]->bytes);
        put_site(all[i]);
    }
    free(all);
    printf("%llu %s, %llu %s leaked from %zu call %s by %zu %s; %llu removed, %llu reported only (audit)",
           r->files, plural(r->files, "file", "files"), r->bytes, plural(r->bytes, "byte", "bytes"), n,
           plural(n, "site", "sites"), r->leakers.n, plural(r->leakers.n, "process", "processes"), r->removed,
           r->kept);
    if (r->summaries)
        printf("; summaries of %zu %s: %llu created, %llu removed by the %s, %llu by tmpguard", r->summarised.n,
               plural(r->summarised.n, "process", "processes"), r->created, r->by_program,
               plural(r->summarised.n, "program", "programs"), r->by_tmpguard);
    putchar('\n');
}

static void free_report(struct report *r)
{
    for (size_t i = 0; i < r->sites.cap; i++) {
        struct site *s = r->sites.slot[i];
        if (!s)
            continue;
        free(s->id);
        free(s->where.s);
        free(s->offset.s);
        free(s->function.s);
        for (int a = 0; a < s->napis; a++)
            free(s->api[a].name.s);
        free(s);
    }
    free(r->sites.slot);
    free(r->leakers.slot);
    free(r->summarised.slot);
    free(r->id.s);
}

/* ---- the command ----------------------------------------------------------------------------- */

int tool_report(const char *path)
{
    int from_stdin = !path || !strcmp(path, "-");
    const char *name = from_stdin ? "standard input" : path;
    static struct lines l; /* its 64 KiB buffer is better off the stack */
    l.fd = from_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (l.fd < 0) {
        fprintf(stderr, "tmpguard report: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct report r;
    struct jparse j = {NULL, NULL, NULL, 0, 0};
    memset(&r, 0, sizeof r);
    unsigned long long lineno = 0, bad = 0, first_bad = 0;
    int got, too_long, status = 0;
    while ((got = next_line(&l, &too_long)) == 1) {
        lineno++;
        /* A blank line says nothing (an editor's last newline, a report cut and pasted). */
        size_t blank = 0;
        while (!too_long && blank < l.len && (l.line[blank] == ' ' || l.line[blank] == '\t' || l.line[blank] == '\r'))
            blank++;
        if (!too_long && blank == l.len)
            continue;
        if (too_long || take_line(&r, &j, l.line, l.len) < 0) {
            if (!bad++)
                first_bad = lineno;
        }
    }
    if (got < 0) {
        fprintf(stderr, "tmpguard report: %s: %s\n", name, strerror(errno));
        status = 1;
    } else {
        print_report(&r);
        if (bad)
            fprintf(stderr, "tmpguard report: %s: %llu %s not understood (first: line %llu)\n", name, bad,
                    plural(bad, "line", "lines"), first_bad);
        /* A ranking cut short (a full disk) must not pass for a whole one. */
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "tmpguard report: standard output: %s\n", strerror(errno));
            status = 1;
        }
    }
    if (!from_stdin)
        close(l.fd);
    free(l.line);
    free(j.v);
    free_report(&r);
    return status;
}
