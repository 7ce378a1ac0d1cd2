#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"
#include "record.h"

struct tg_config tg_cfg = {.log_level = TG_LOG_OFF};

static char roots_buf[TG_MAX_ROOTS * 256 + TG_PATH_MAX];

static void bad(const char *var, const char *value, const char *accepted)
{
    tg_say(var, "=", value, ": not understood; accepted: ", accepted, "; using the default");
}

static int pick(const char *var, const char *accepted, const char *const names[], int n, int dflt)
{
    const char *v = getenv(var);
    if (!v)
        return dflt;
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    bad(var, v, accepted);
    return dflt;
}

/* A root must be absolute, not "/" itself (every file would be a temp file), free of ':' (the
 * record lists the roots joined by ':'), and all of them must fit the record's roots block. */
static int add_root(const char *p, size_t len, size_t *used)
{
    if (len == 0 || p[0] != '/' || len >= 1024 || tg_cfg.nroots >= TG_MAX_ROOTS ||
        *used + len + 1 > sizeof roots_buf || memchr(p, ':', len))
        return -1;
    char *dst = roots_buf + *used;
    memcpy(dst, p, len);
    dst[len] = '\0';
    size_t n = tg_normalize(dst);
    if (n < 2 || *used + n + 1 > TG_ROOTS_MAX)
        return -1;
    tg_cfg.roots[tg_cfg.nroots] = dst;
    tg_cfg.root_len[tg_cfg.nroots++] = n;
    *used += n + 1;
    return 0;
}

static void load_roots(void)
{
    const char *v = getenv("TMPGUARD_ROOTS");
    size_t used = 0;
    if (v) {
        int ok = v[0] != '\0';
        for (const char *p = v; ok && *p;) {
            const char *end = strchr(p, ':');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (add_root(p, len, &used) < 0)
                ok = 0;
            p += len + (end ? 1 : 0);
        }
        if (ok)
            return;
        bad("TMPGUARD_ROOTS", v, "absolute directories other than / separated by ':' (at most 16, 2 KiB in all)");
        tg_cfg.nroots = 0;
        used = 0;
    }
    const char *tmpdir = getenv("TMPDIR");
    if (tmpdir && tmpdir[0] == '/')
        add_root(tmpdir, strlen(tmpdir), &used);
    add_root("/tmp", 4, &used);
    add_root("/var/tmp", 8, &used);
    add_root("/dev/shm", 8, &used);
}

static void load_state_dir(void)
{
    const char *v = getenv("TMPGUARD_STATE_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (v && v[0] == '/') {
        n = snprintf(tg_cfg.state_dir, sizeof tg_cfg.state_dir, "%s", v);
        tg_cfg.state_dir_explicit = 1;
    } else {
        if (v)
            bad("TMPGUARD_STATE_DIR", v, "an absolute directory");
        if (xdg && xdg[0] == '/')
            n = snprintf(tg_cfg.state_dir, sizeof tg_cfg.state_dir, "%s/tmpguard", xdg);
        else
            n = snprintf(tg_cfg.state_dir, sizeof tg_cfg.state_dir, "/tmp/tmpguard-%u", (unsigned)getuid());
    }
    if (n < 0 || (size_t)n >= sizeof tg_cfg.state_dir - 32)
        tg_cfg.state_dir[0] = '\0';
}

/* Is the base name of ARGV0 one of the ':'-separated names in LIST? */
static int listed(const char *list, const char *argv0)
{
    const char *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    size_t bl = strlen(base);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == bl && len && memcmp(p, base, len) == 0)
            return 1;
        p += len + (end ? 1 : 0);
    }
    return 0;
}

void tg_config_load_paths(void)
{
    tg_cfg.nroots = 0;
    load_roots();
    load_state_dir();
}

void tg_config_load(const char *argv0)
{
    static const char *const levels[] = {"off", "warn", "info", "debug"};
    static const char *const modes[] = {"clean", "audit", "off"};
    static const char *const outputs[] = {"on-failure", "always", "never"};
    const char *lf = getenv("TMPGUARD_LOG_FILE");
    tg_cfg.log_file = lf && lf[0] ? lf : NULL;
    tg_cfg.log_level = pick("TMPGUARD_LOG", "off, warn, info or debug", levels, 4, TG_LOG_OFF);
    tg_cfg.mode = pick("TMPGUARD_MODE", "clean, audit or off", modes, 3, TG_MODE_CLEAN);
    if (tg_cfg.mode == TG_MODE_OFF)
        return;
    tg_cfg.outputs = pick("TMPGUARD_OUTPUTS", "on-failure, always or never", outputs, 3, TG_OUT_ON_FAILURE);
    tg_config_load_paths();
    /* Set by the launcher for its tree ("PID:START"); the launcher reaps the records that carry it. */
    const char *sup = getenv("TMPGUARD_SUPERVISOR");
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
    const char *h = getenv("TMPGUARD_HANDOFF");
    tg_cfg.handoff = argv0 && listed(h ? h : "mktemp:tempfile", argv0);
}
