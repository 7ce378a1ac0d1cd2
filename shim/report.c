#include "report.h"

#include <fcntl.h>
#include <string.h>

#include "config.h"
#include "fmt.h"
#include "sys.h"

/* Names in arrays of characters, not of pointers: a table of pointers costs the dynamic linker a
 * relocation per entry in every process that loads the library. */
static const char api_names[TG_API_COUNT][12] = {
    "unknown", "mkstemp", "mkstemp64", "mkostemp", "mkostemp64", "mkstemps", "mkstemps64", "mkostemps",
    "mkostemps64", "mkdtemp", "open", "open64", "openat", "openat64", "creat", "creat64", "fopen", "fopen64",
    "freopen", "freopen64", "mkdir", "mkdirat",
};

const char *tg_api_name(unsigned api) { return api < TG_API_COUNT ? api_names[api] : "unknown"; }

static const char cause_names[][8] = {"exit", "signal", "max-age", "reap", "audit"};

/* Every byte of a line, however the kernel splits it (a signal, a pipe that is full). */
static void put(int fd, const char *p, size_t n)
{
    while (n) {
        long w = tg_write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

void tg_report_begin(struct tg_report *r, int pid, const char *program, enum tg_cause cause)
{
    r->fd = -1;
    r->json = tg_cfg.report == TG_REPORT_FILE;
    if (tg_cfg.report == TG_REPORT_OFF)
        return;
    r->pid = pid;
    size_t n = strnlen(program, sizeof r->program - 1);
    memcpy(r->program, program, n);
    r->program[n] = '\0';
    r->cause = cause;
    r->files = r->ngroups = r->other_files = 0;
    r->bytes = r->other_bytes = 0;
    /* The file is the operator's choice: links are followed, and it is made if missing. */
    r->own = r->json && r->given_fd <= 0;
    r->fd = !r->json          ? 2
            : r->given_fd > 0 ? r->given_fd
                              : tg_openat(AT_FDCWD, tg_cfg.report_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
}

/* ---- the JSON form ------------------------------------------------------------------------- */

/* The next "A\tB\tC\n" frame of site text at *P (END its end): its three fields. */
struct frame {
    const char *f[3];
    size_t n[3];
};
static int next_frame(const char **p, const char *end, struct frame *fr)
{
    const char *s = *p;
    if (s >= end)
        return 0;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl)
        nl = end;
    for (int i = 0; i < 3; i++) {
        const char *tab = i < 2 ? memchr(s, '\t', (size_t)(nl - s)) : NULL;
        const char *stop = tab ? tab : nl;
        fr->f[i] = s;
        fr->n[i] = (size_t)(stop - s);
        s = tab ? tab + 1 : nl;
    }
    *p = nl < end ? nl + 1 : end;
    return 1;
}

static void json_str(struct tg_buf *b, const char *key, const char *s, size_t n)
{
    tg_buf_str(b, "\"");
    tg_buf_str(b, key);
    tg_buf_str(b, "\":\"");
    tg_buf_json(b, s, n);
    tg_buf_str(b, "\"");
}

/* One frame as a JSON object: absent fields are omitted, not made up. */
static void json_frame(struct tg_buf *b, int lang, const struct frame *fr)
{
    tg_buf_str(b, "{");
    if (lang == 'p') {
        json_str(b, "file", fr->f[0], fr->n[0]);
        tg_buf_str(b, ",\"line\":");
        tg_buf_mem(b, fr->f[1], fr->n[1]);
    } else {
        json_str(b, "module", fr->f[0], fr->n[0]);
        tg_buf_str(b, ",");
        json_str(b, "offset", fr->f[1], fr->n[1]);
    }
    if (fr->n[2]) {
        tg_buf_str(b, ",");
        json_str(b, "function", fr->f[2], fr->n[2]);
    }
    tg_buf_str(b, "}");
}

static void json_leak(struct tg_report *r, const struct tg_rec_entry *e, uint64_t bytes, int removed,
                      const struct tg_rec_site *site)
{
    struct tg_buf b;
    tg_buf_init(&b, r->line, sizeof r->line - 1);
    tg_buf_str(&b, "{\"event\":\"leak\",\"pid\":");
    tg_buf_i64(&b, r->pid);
    tg_buf_str(&b, ",");
    json_str(&b, "program", r->program, strlen(r->program));
    tg_buf_str(&b, ",");
    json_str(&b, "path", e->path, e->pathlen);
    tg_buf_str(&b, ",\"api\":\"");
    tg_buf_str(&b, tg_api_name(e->api));
    tg_buf_str(&b, "\",\"bytes\":");
    tg_buf_u64(&b, bytes);
    /* Seconds with milliseconds, from the creation (the file's ctime then) to now. */
    long long age_ms = (tg_realtime_ns() - e->ctime_ns) / 1000000;
    if (age_ms < 0)
        age_ms = 0;
    char ms[4] = {(char)('0' + age_ms % 1000 / 100), (char)('0' + age_ms % 100 / 10), (char)('0' + age_ms % 10), 0};
    tg_buf_str(&b, ",\"age_s\":");
    tg_buf_i64(&b, age_ms / 1000);
    tg_buf_str(&b, ".");
    tg_buf_str(&b, ms);
    tg_buf_str(&b, removed ? ",\"removed\":true,\"cause\":\"" : ",\"removed\":false,\"cause\":\"");
    tg_buf_str(&b, cause_names[r->cause]);
    tg_buf_str(&b, "\"");
    if (site && site->nframes) {
        const char *p = site->text, *end = site->text + site->textlen;
        struct frame fr;
        int k = 0;
        while (next_frame(&p, end, &fr)) {
            tg_buf_str(&b, k == 0 ? ",\"site\":" : k == 1 ? ",\"stack\":[" : ",");
            json_frame(&b, site->lang, &fr);
            k++;
        }
        if (k > 1)
            tg_buf_str(&b, "]");
    }
    tg_buf_str(&b, "}\n");
    if (!b.cut) /* a line that does not fit is not written half: it would not parse */
        put(r->fd, r->line, b.len);
}

/* ---- the stderr form ----------------------------------------------------------------------- */

static int same_site(const struct tg_report_group *g, unsigned api, const struct tg_rec_site *site)
{
    unsigned nf = site ? site->nframes : 0;
    if (g->api != api || g->head.nframes != nf)
        return 0;
    return !nf || (g->head.lang == site->lang && g->head.textlen == site->textlen &&
                   memcmp(g->text, site->text, site->textlen) == 0);
}

static void group_leak(struct tg_report *r, const struct tg_rec_entry *e, uint64_t bytes,
                       const struct tg_rec_site *site)
{
    struct tg_report_group *g = NULL;
    for (unsigned i = 0; i < r->ngroups && !g; i++)
        if (same_site(&r->groups[i], e->api, site))
            g = &r->groups[i];
    if (!g && r->ngroups < TG_REPORT_GROUPS) {
        g = &r->groups[r->ngroups++];
        g->files = 0;
        g->bytes = 0;
        g->api = e->api;
        memset(&g->head, 0, sizeof g->head);
        if (site && site->nframes && site->textlen < sizeof g->text) {
            g->head = *site;
            memcpy(g->text, site->text, site->textlen);
            g->text[site->textlen] = '\0';
        }
    }
    if (!g) {
        r->other_files++;
        r->other_bytes += bytes;
        return;
    }
    g->files++;
    g->bytes += bytes;
}

static void files_and_bytes(struct tg_buf *b, unsigned files, uint64_t bytes)
{
    tg_buf_u64(b, files);
    tg_buf_str(b, files == 1 ? " file (" : " files (");
    tg_buf_u64(b, bytes);
    tg_buf_str(b, bytes == 1 ? " byte)" : " bytes)");
}

static void write_group(struct tg_report *r, const struct tg_report_group *g)
{
    struct tg_buf b;
    tg_buf_init(&b, r->line, sizeof r->line - 1);
    tg_buf_str(&b, "\n");
    files_and_bytes(&b, g->files, g->bytes);
    tg_buf_str(&b, " leaked via ");
    tg_buf_str(&b, tg_api_name(g->api));
    tg_buf_str(&b, " from:\n");
    if (!g->head.nframes)
        tg_buf_str(&b, "    <unknown call site>\n");
    const char *p = g->text, *end = g->text + (g->head.nframes ? g->head.textlen : 0);
    struct frame fr;
    for (int k = 0; next_frame(&p, end, &fr); k++) {
        tg_buf_str(&b, "    #");
        tg_buf_i64(&b, k);
        if (g->head.lang == 'p') {
            /* No address for a Python frame: none is made up. */
            tg_buf_str(&b, " in ");
            tg_buf_mem(&b, fr.n[2] ? fr.f[2] : "??", fr.n[2] ? fr.n[2] : 2);
            tg_buf_str(&b, " ");
            tg_buf_mem(&b, fr.f[0], fr.n[0]);
            tg_buf_str(&b, ":");
            tg_buf_mem(&b, fr.f[1], fr.n[1]);
        } else {
            tg_buf_str(&b, " ");
            tg_buf_hex(&b, k < TG_SITE_PCS ? g->head.pc[k] : 0);
            if (fr.n[2]) {
                tg_buf_str(&b, " in ");
                tg_buf_mem(&b, fr.f[2], fr.n[2]);
                tg_buf_str(&b, " ");
                tg_buf_mem(&b, fr.f[0], fr.n[0]);
                tg_buf_str(&b, "+");
                tg_buf_mem(&b, fr.f[1], fr.n[1]);
            } else {
                tg_buf_str(&b, " (");
                tg_buf_mem(&b, fr.f[0], fr.n[0]);
                tg_buf_str(&b, "+");
                tg_buf_mem(&b, fr.f[1], fr.n[1]);
                tg_buf_str(&b, ")");
            }
        }
        tg_buf_str(&b, "\n");
    }
    put(r->fd, r->line, b.len);
}

static void write_lsan(struct tg_report *r)
{
    static const char how[][40] = {"removed at exit", "removed at a fatal signal", "removed while it ran (max-age)",
                                   "removed by the reaper", "kept: audit mode, nothing removed"};
    struct tg_buf b;
    /* Largest first, as LeakSanitizer orders its blocks: by files, then bytes. */
    for (unsigned i = 1; i < r->ngroups; i++)
        for (unsigned j = i; j > 0; j--) {
            struct tg_report_group *x = &r->groups[j - 1], *y = &r->groups[j];
            if (x->files > y->files || (x->files == y->files && x->bytes >= y->bytes))
                break;
            struct tg_report_group t;
            memcpy(&t, x, sizeof t);
            memcpy(x, y, sizeof t);
            memcpy(y, &t, sizeof t);
        }
    tg_buf_init(&b, r->line, sizeof r->line - 1);
    tg_buf_str(&b, "=================================================================\n==");
    tg_buf_i64(&b, r->pid);
    tg_buf_str(&b, "==ERROR: tmpguard: detected leaked temp files (");
    tg_buf_str(&b, r->program[0] ? r->program : "?");
    tg_buf_str(&b, ", ");
    tg_buf_str(&b, how[r->cause]);
    tg_buf_str(&b, ")\n");
    put(r->fd, r->line, b.len);
    for (unsigned i = 0; i < r->ngroups; i++)
        write_group(r, &r->groups[i]);
    tg_buf_init(&b, r->line, sizeof r->line - 1);
    if (r->other_files) {
        tg_buf_str(&b, "\n");
        files_and_bytes(&b, r->other_files, r->other_bytes);
        tg_buf_str(&b, " leaked from other call sites\n");
    }
    tg_buf_str(&b, "\nSUMMARY: tmpguard: ");
    tg_buf_u64(&b, r->bytes);
    tg_buf_str(&b, r->bytes == 1 ? " byte in " : " bytes in ");
    tg_buf_u64(&b, r->files);
    tg_buf_str(&b, r->files == 1 ? " file leaked from " : " files leaked from ");
    unsigned sites = r->ngroups + (r->other_files != 0);
    tg_buf_u64(&b, sites);
    tg_buf_str(&b, sites == 1 ? " call site.\n" : " call sites.\n");
    put(r->fd, r->line, b.len);
}

/* ---- the batch ----------------------------------------------------------------------------- */

void tg_report_leak(struct tg_report *r, const struct tg_rec_entry *e, uint64_t bytes, int removed,
                    const struct tg_rec_site *site)
{
    if (r->fd < 0)
        return;
    r->files++;
    r->bytes += bytes;
    if (r->json)
        json_leak(r, e, bytes, removed, site);
    else
        group_leak(r, e, bytes, site);
}

void tg_report_summary(struct tg_report *r, const struct tg_rec_header *h, unsigned removed, uint64_t bytes)
{
    if (r->fd < 0 || !r->json || !(h->flags & TG_REC_COUNTED))
        return; /* (a process that ran without reports kept no counts) */
    unsigned created = h->n_created, by_program = h->n_removed_by_program,
             by_us = h->n_removed_by_tmpguard + removed;
    unsigned kept = created > by_program + by_us ? created - by_program - by_us : 0;
    struct tg_buf b;
    tg_buf_init(&b, r->line, sizeof r->line - 1);
    tg_buf_str(&b, "{\"event\":\"summary\",\"pid\":");
    tg_buf_i64(&b, r->pid);
    tg_buf_str(&b, ",");
    json_str(&b, "program", r->program, strlen(r->program));
    tg_buf_str(&b, ",\"created\":");
    tg_buf_u64(&b, created);
    tg_buf_str(&b, ",\"removed_by_program\":");
    tg_buf_u64(&b, by_program);
    tg_buf_str(&b, ",\"removed_by_tmpguard\":");
    tg_buf_u64(&b, by_us);
    tg_buf_str(&b, ",\"bytes_reclaimed\":");
    tg_buf_u64(&b, h->bytes_reclaimed + bytes);
    tg_buf_str(&b, ",\"kept\":");
    tg_buf_u64(&b, kept);
    tg_buf_str(&b, "}\n");
    put(r->fd, r->line, b.len);
}

void tg_report_end(struct tg_report *r)
{
    if (r->fd < 0)
        return;
    if (!r->json && r->files)
        write_lsan(r);
    if (r->own)
        tg_close(r->fd);
    r->fd = -1;
}
