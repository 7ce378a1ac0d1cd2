#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "fmt.h"
#include "log.h"
#include "recfmt.h"

struct tg_config tg_cfg;

static char roots_buf[TG_MAX_ROOTS * 256 + TG_PATH_MAX];

/* The variables the configuration reads, found in one pass over the environment instead of a
 * getenv scan each: this runs in every process that loads the library. */
enum var {
    V_MODE, V_OUTPUTS, V_LOG, V_LOG_FILE, V_ROOTS, V_STATE_DIR, V_SUPERVISOR, V_HANDOFF, V_MAX_AGE, V_MAX_FILES,
    V_MAX_BYTES, V_REPORT, V_ATOMIC, V_ATOMIC_COMMIT, V_ATOMIC_SYNC, V_ADOPT, V_HEIR, V_TMPDIR, V_XDG, NVARS
};
/* Those of the shim first, all starting with "TMPGUARD_" (9 bytes).  (The shim's own notes are a
 * name and "=" joined on purpose: NOLINT.) */
static const char var_names[NVARS][24] = {
    "TMPGUARD_MODE=", "TMPGUARD_OUTPUTS=", "TMPGUARD_LOG=", "TMPGUARD_LOG_FILE=", "TMPGUARD_ROOTS=",
    "TMPGUARD_STATE_DIR=", "TMPGUARD_SUPERVISOR=", "TMPGUARD_HANDOFF=", "TMPGUARD_MAX_AGE=",
    "TMPGUARD_MAX_FILES=", "TMPGUARD_MAX_BYTES=", "TMPGUARD_REPORT=", "TMPGUARD_ATOMIC=",
    "TMPGUARD_ATOMIC_COMMIT=", "TMPGUARD_ATOMIC_SYNC=",
    TG_ADOPT_VAR "=", // NOLINT(bugprone-suspicious-missing-comma)
    TG_HEIR_VAR "=",  // NOLINT(bugprone-suspicious-missing-comma)
    "TMPDIR=", "XDG_RUNTIME_DIR=",
};
static const char *vars[NVARS];

extern char **environ;

/* The rest of S after PREFIX, or NULL.  A loop of its own: this runs at every process's start,
 * where each libc function called for the first time costs a binding by the dynamic linker (about
 * 700 instructions), more than these short comparisons. */
static const char *after(const char *s, const char *prefix)
{
    while (*prefix && *s == *prefix)
        s++, prefix++;
    return *prefix ? NULL : s;
}

/* Bytes of P before the first STOP or the end. */
static size_t len_to(const char *p, char stop)
{
    size_t n = 0;
    while (p[n] && p[n] != stop)
        n++;
    return n;
}

static void read_environment(void)
{
    for (int i = 0; i < NVARS; i++)
        vars[i] = NULL;
    for (char **e = environ; e && *e;) {
        const char *s = *e, *v = NULL, *t;
        int i = NVARS;
        /* The names share "TMPGUARD_": one look at most variables settles that they are not ours. */
        if (s[0] == 'T' && (t = after(s, "TMPGUARD_")) != NULL) {
            for (i = 0; i < V_TMPDIR && !(v = after(t, var_names[i] + 9)); i++)
                ;
            i = v ? i : NVARS;
        } else if (s[0] == 'T' || s[0] == 'X') {
            for (i = V_TMPDIR; i <= V_XDG && !(v = after(s, var_names[i])); i++)
                ;
            i = v ? i : NVARS;
        }
        if (i < NVARS && !vars[i])
            vars[i] = v; /* the first, as getenv finds it */
        if (i == V_ADOPT || i == V_HEIR) {
            /* The shim's note to itself across exec: the program never sees it (nor its children). */
            for (char **q = e; *q; q++)
                q[0] = q[1];
            continue;
        }
        e++;
    }
}

static void bad(const char *var, const char *value, const char *accepted)
{
    tg_say(var, "=", value, ": not understood; accepted: ", accepted, "; using the default");
}

/* (The tables of names here are arrays of characters: a table of pointers costs the dynamic linker a
 * relocation per entry in every process that loads the library.) */
#define NAME_LEN 24
static int pick(enum var v, const char *name, const char *accepted, const char names[][NAME_LEN], int n, int dflt)
{
    const char *s = vars[v];
    if (!s)
        return dflt;
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    bad(name, s, accepted);
    return dflt;
}

/* A root must be absolute, not "/" itself (every file would be a temp file), free of ':' (the
 * record lists the roots joined by ':'), and all of them must fit the record's roots block. */
static int add_root(const char *p, size_t len, size_t *used)
{
    if (len == 0 || p[0] != '/' || len >= 1024 || tg_cfg.nroots >= TG_MAX_ROOTS || *used + len + 1 > sizeof roots_buf)
        return -1;
    char *dst = roots_buf + *used;
    for (size_t i = 0; i < len; i++)
        if ((dst[i] = p[i]) == ':')
            return -1;
    dst[len] = '\0';
    size_t n = tg_normalize_len(dst, len);
    if (n < 2 || *used + n + 1 > TG_ROOTS_MAX)
        return -1;
    tg_cfg.roots[tg_cfg.nroots] = dst;
    tg_cfg.root_len[tg_cfg.nroots++] = n;
    *used += n + 1;
    return 0;
}

static void load_roots(void)
{
    const char *v = vars[V_ROOTS];
    size_t used = 0;
    tg_cfg.nroots = 0;
    if (v) {
        int ok = v[0] != '\0';
        for (const char *p = v; ok && *p;) {
            size_t len = len_to(p, ':');
            if (add_root(p, len, &used) < 0)
                ok = 0;
            p += len + (p[len] == ':');
        }
        if (ok)
            return;
        bad("TMPGUARD_ROOTS", v, "absolute directories other than / separated by ':' (at most 16, 2 KiB in all)");
        tg_cfg.nroots = 0;
        used = 0;
    }
    /* (len_to up to ':', not the end: the compiler would make a strlen call of a loop to the end,
     * and a root cannot hold a ':' anyway.) */
    const char *tmpdir = vars[V_TMPDIR];
    size_t tl = tmpdir ? len_to(tmpdir, ':') : 0;
    if (tmpdir && tmpdir[0] == '/' && !tmpdir[tl])
        add_root(tmpdir, tl, &used);
    add_root("/tmp", 4, &used);
    add_root("/var/tmp", 8, &used);
    add_root("/dev/shm", 8, &used);
}

/* Atomic writes' patterns: absolute, no ':' (the record joins them by ':'), and all of them within
 * the record's block.  A bad one is named and ignored; the others stay. */
static char atomic_buf[TG_ROOTS_MAX + 1];
static void load_atomic(void)
{
    const char *v = vars[V_ATOMIC];
    size_t used = 0;
    tg_cfg.natomic = 0;
    for (const char *p = v; p && *p;) {
        size_t len = len_to(p, ':');
        if (len && (p[0] != '/' || used + len + 1 > sizeof atomic_buf - 1 || tg_cfg.natomic >= TG_MAX_ROOTS)) {
            char one[256];
            size_t n = len < sizeof one - 1 ? len : sizeof one - 1;
            memcpy(one, p, n);
            one[n] = '\0';
            bad("TMPGUARD_ATOMIC", one, "absolute paths or patterns separated by ':' (a directory ends in /; at most 16, "
                                        "2 KiB in all); this one is ignored");
        } else if (len) {
            memcpy(atomic_buf + used, p, len);
            atomic_buf[used + len] = '\0';
            tg_cfg.atomic[tg_cfg.natomic] = atomic_buf + used;
            tg_cfg.atomic_len[tg_cfg.natomic++] = len;
            used += len + 1;
        }
        p += len + (p[len] == ':');
    }
    static const char commits[][NAME_LEN] = {"close", "success"};
    tg_cfg.atomic_on_success = pick(V_ATOMIC_COMMIT, "TMPGUARD_ATOMIC_COMMIT", "close or success", commits, 2, 0);
    static const char syncs[][NAME_LEN] = {"0", "1"};
    tg_cfg.atomic_sync = pick(V_ATOMIC_SYNC, "TMPGUARD_ATOMIC_SYNC", "1 (fsync before the rename) or 0", syncs, 2, 1);
}

/* Room left after the directory for a record's or marker's name ("/PID.heir", "/PID-N.rec"). */
#define STATE_NAME_ROOM 48

static void load_state_dir(void)
{
    const char *v = vars[V_STATE_DIR], *xdg = vars[V_XDG];
    struct tg_buf b;
    tg_buf_init(&b, tg_cfg.state_dir, sizeof tg_cfg.state_dir - STATE_NAME_ROOM);
    tg_cfg.state_dir_explicit = 0;
    if (v && v[0] == '/') {
        tg_buf_str(&b, v);
        tg_cfg.state_dir_explicit = 1;
    } else {
        if (v)
            bad("TMPGUARD_STATE_DIR", v, "an absolute directory");
        if (xdg && xdg[0] == '/') {
            tg_buf_str(&b, xdg);
            tg_buf_str(&b, "/tmpguard");
        } else {
            /* The real user ID at exec, from the auxiliary vector: no system call at load. */
            tg_buf_str(&b, "/tmp/tmpguard-");
            tg_buf_u64(&b, getauxval(AT_UID));
        }
    }
    tg_cfg.state_dir[b.cut ? 0 : b.len] = '\0';
}

/* A decimal number and what follows it; 0 when there is none (or too long). */
static unsigned long long number(const char *s, const char **end)
{
    unsigned long long v = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9' && digits < 15; s++, digits++)
        v = v * 10 + (unsigned long long)(*s - '0');
    *end = s;
    return digits && !(*s >= '0' && *s <= '9') ? v : 0;
}

unsigned long long tg_parse_duration(const char *s)
{
    static const struct {
        const char *unit;
        unsigned long long ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const char *end;
    unsigned long long v = number(s, &end);
    for (size_t i = 0; v && i < sizeof units / sizeof units[0]; i++) {
        const char *rest = after(end, units[i].unit);
        if (rest && !*rest)
            return v * units[i].ms;
    }
    return 0;
}

unsigned long long tg_parse_size(const char *s)
{
    const char *end;
    unsigned long long v = number(s, &end), k = 1024;
    switch (*end) {
    case '\0': return v;
    case 'K': v *= k; break;
    case 'M': v *= k * k; break;
    case 'G': v *= k * k * k; break;
    case 'T': v *= k * k * k * k; break;
    default: return 0;
    }
    return end[1] ? 0 : v;
}

/* COUNT decimal numbers separated by ':', each below 2^31 (pids, gens) or 2^63 (ticks).  0 when
 * S is not exactly that. */
static int numbers(const char *s, unsigned long long *out, int count)
{
    for (int k = 0; k < count; k++) {
        unsigned long long v = 0;
        int digits = 0;
        for (; *s >= '0' && *s <= '9' && digits < 19; s++, digits++)
            v = v * 10 + (unsigned long long)(*s - '0');
        if (!digits || (k < count - 1 ? *s != ':' : *s != '\0'))
            return 0;
        out[k] = v;
        s += k < count - 1;
    }
    return 1;
}

/* Is the base name of ARGV0 one of the ':'-separated names in LIST? */
static int listed(const char *list, const char *argv0)
{
    const char *base = argv0;
    for (const char *c = argv0; *c; c++)
        if (*c == '/')
            base = c + 1;
    size_t bl = len_to(base, ':'); /* not to '\0': see load_roots */
    for (const char *p = list; *p;) {
        size_t len = len_to(p, ':');
        if (len == bl && len && !base[bl]) {
            size_t i = 0;
            while (i < len && p[i] == base[i])
                i++;
            if (i == len)
                return 1;
        }
        p += len + (p[len] == ':');
    }
    return 0;
}

void tg_config_load_paths(void)
{
    read_environment();
    load_roots();
    load_state_dir();
}

void tg_config_load(const char *argv0)
{
    static const char levels[][NAME_LEN] = {"off", "warn", "info", "debug"};
    static const char modes[][NAME_LEN] = {"clean", "audit", "off"};
    static const char outputs[][NAME_LEN] = {"on-failure", "always", "never"};
    read_environment();
    tg_cfg.argv0 = argv0;
    const char *lf = vars[V_LOG_FILE];
    tg_log_setup(TG_LOG_OFF, lf && lf[0] ? lf : NULL); /* the file first: what follows may warn */
    tg_log_setup((enum tg_level)pick(V_LOG, "TMPGUARD_LOG", "off, warn, info or debug", levels, 4, TG_LOG_OFF),
                 lf && lf[0] ? lf : NULL);
    tg_cfg.mode = (enum tg_mode)pick(V_MODE, "TMPGUARD_MODE", "clean, audit or off", modes, 3, TG_MODE_CLEAN);
    if (tg_cfg.mode == TG_MODE_OFF)
        return;
    tg_cfg.outputs = (enum tg_outputs)pick(V_OUTPUTS, "TMPGUARD_OUTPUTS", "on-failure, always or never", outputs, 3,
                                           TG_OUT_ON_FAILURE);
    load_roots();
    load_state_dir();
    /* Set by the launcher for its tree ("PID:START"); the launcher reaps the records that carry it. */
    const char *sup = vars[V_SUPERVISOR];
    tg_cfg.supervisor_pid = 0;
    tg_cfg.supervisor_start = 0;
    if (sup) {
        char *end;
        long pid = strtol(sup, &end, 10);
        unsigned long long start = *end == ':' ? strtoull(end + 1, &end, 10) : 0;
        if (pid > 0 && start > 0 && *end == '\0') {
            tg_cfg.supervisor_pid = (int)pid;
            tg_cfg.supervisor_start = start;
        } else {
            bad("TMPGUARD_SUPERVISOR", sup, "PID:START, as the launcher sets it");
        }
    }
    /* Reclaiming while the process runs: off unless asked; a malformed value leaves it off. */
    tg_cfg.max_age_ms = tg_cfg.max_files = tg_cfg.max_bytes = 0;
    if (vars[V_MAX_AGE] && !(tg_cfg.max_age_ms = tg_parse_duration(vars[V_MAX_AGE])))
        bad("TMPGUARD_MAX_AGE", vars[V_MAX_AGE], "a duration such as 90s, 10m, 2h or 1d (reclaiming while alive stays off)");
    if (vars[V_MAX_FILES] && !(tg_cfg.max_files = tg_parse_size(vars[V_MAX_FILES])))
        bad("TMPGUARD_MAX_FILES", vars[V_MAX_FILES], "a number of files above 0 (no limit)");
    if (vars[V_MAX_BYTES] && !(tg_cfg.max_bytes = tg_parse_size(vars[V_MAX_BYTES])))
        bad("TMPGUARD_MAX_BYTES", vars[V_MAX_BYTES], "a size such as 500M or 2G (no limit)");
    load_atomic();
    /* Leak reports: off unless asked.  A relative path would land wherever the process happens to
     * be when it reports. */
    tg_cfg.report = TG_REPORT_OFF;
    const char *rep = vars[V_REPORT];
    if (rep && strcmp(rep, "stderr") == 0) {
        tg_cfg.report = TG_REPORT_STDERR;
    } else if (rep && rep[0] == '/' && strlen(rep) < sizeof tg_cfg.report_path) {
        tg_cfg.report = TG_REPORT_FILE;
        memcpy(tg_cfg.report_path, rep, strlen(rep) + 1);
    } else if (rep && rep[0]) {
        bad("TMPGUARD_REPORT", rep, "stderr, or an absolute path of a file to append JSON lines to (no reports)");
    }
    /* The shim's own notes across exec (lifecycle.c, heirs.c): numbers, or they are ignored. */
    unsigned long long n[4];
    tg_cfg.adopt_pid = vars[V_ADOPT] && numbers(vars[V_ADOPT], n, 1) ? (int)n[0] : 0;
    memset(&tg_cfg.heir_note, 0, sizeof tg_cfg.heir_note);
    if (vars[V_HEIR] && numbers(vars[V_HEIR], n, 4)) {
        tg_cfg.heir_note.self = (int)n[0];
        tg_cfg.heir_note.parent.pid = (int32_t)n[1];
        tg_cfg.heir_note.parent.start_ticks = n[2];
        tg_cfg.heir_note.parent.gen = (uint32_t)n[3];
    }
    const char *h = vars[V_HANDOFF];
    tg_cfg.handoff = argv0 && listed(h ? h : "mktemp:tempfile", argv0);
}
