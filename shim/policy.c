#include "policy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "sys.h"

int tg_tracking;

static char start_dir[TG_PATH_MAX];
static size_t start_len;
static int start_in_root;        /* the starting directory is a temp root or inside one */

/* Command-line paths, resolved against the starting directory.  Kept raw at load time (a program
 * may overwrite its argv later) and resolved on first use, which is always inside a critical
 * section of the first tracked-looking creation. */
static char *argv_copy;          /* NUL-separated */
static size_t argv_bytes;
static char **cmd_paths;
static size_t *cmd_lens;
static size_t ncmd;
static int cmd_ready;

/* Already normal: no empty, "." or ".." component and no trailing "/".  Most paths are, and a
 * scan is much cheaper than the rewrite below. */
static int is_normal(const char *p, size_t *len)
{
    size_t n = strlen(p);
    *len = n;
    if (n > 1 && p[n - 1] == '/')
        return 0;
    /* Two vectorised searches settle nearly every path; "/." also matches a dot-file, which the
     * careful scan below then lets through. */
    if (!strstr(p, "//") && !strstr(p, "/."))
        return 1;
    for (const char *s = p; (s = strchr(s, '/')) != NULL; s++) {
        const char *c = s + 1;
        if (*c == '/' || (*c == '.' && (c[1] == '/' || c[1] == '\0' || (c[1] == '.' && (c[2] == '/' || c[2] == '\0')))))
            return 0;
    }
    return 1;
}

size_t tg_normalize(char *p)
{
    /* p[0] == '/'.  Write components back in place; ".." pops the last one. */
    size_t out = 0, i = 0, n;
    if (is_normal(p, &n))
        return n;
    n = strlen(p);
    while (i < n) {
        while (i < n && p[i] == '/')
            i++;
        size_t s = i;
        while (i < n && p[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && p[s] == '.'))
            continue;
        if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
            while (out > 0 && p[out - 1] != '/')
                out--;
            if (out > 0)
                out--;
            continue;
        }
        p[out++] = '/';
        memmove(p + out, p + s, len);
        out += len;
    }
    if (out == 0)
        p[out++] = '/';
    p[out] = '\0';
    return out;
}

int tg_resolve(int dfd, const char *path, char abs[])
{
    size_t plen = strlen(path), base = 0;
    if (plen == 0 || plen >= TG_PATH_MAX)
        return -1;
    if (path[0] != '/') {
        long n;
        if (dfd == AT_FDCWD) {
            n = tg_getcwd(abs, TG_PATH_MAX);
            /* The kernel returns the length including the NUL; an unreachable directory comes
             * back as "(unreachable)/...": not a path to act on. */
            if (n <= 1 || abs[0] != '/')
                return -1;
            n--;
        } else {
            char link[40], num[21];
            strcpy(link, "/proc/self/fd/");
            strcat(link, tg_fmt_u64(num, (unsigned)dfd));
            n = tg_readlinkat(AT_FDCWD, link, abs, TG_PATH_MAX - 1);
            if (n <= 0 || abs[0] != '/')
                return -1;
            abs[n] = '\0';
            if (n > 10 && strcmp(abs + n - 10, " (deleted)") == 0)
                return -1;
        }
        base = (size_t)n;
        if (base + 1 + plen >= TG_PATH_MAX)
            return -1;
        abs[base++] = '/';
    }
    memcpy(abs + base, path, plen + 1);
    return (int)tg_normalize(abs);
}

/* Is A (length AL) equal to B or inside it? */
static int at_or_below(const char *a, size_t al, const char *b, size_t bl)
{
    if (bl == 1) /* "/" */
        return 1;
    return al >= bl && memcmp(a, b, bl) == 0 && (al == bl || a[bl] == '/');
}

int tg_under_root(const char *abs, size_t len)
{
    for (int i = 0; i < tg_cfg.nroots; i++) {
        size_t rl = tg_cfg.root_len[i];
        if (len > rl && at_or_below(abs, len, tg_cfg.roots[i], rl))
            return 1;
    }
    return 0;
}

int tg_policy_init(int argc, char **argv)
{
    long n = tg_getcwd(start_dir, sizeof start_dir);
    if (n <= 1 || start_dir[0] != '/')
        return -1;
    start_len = tg_normalize(start_dir);
    for (int i = 0; i < tg_cfg.nroots; i++)
        if (at_or_below(start_dir, start_len, tg_cfg.roots[i], tg_cfg.root_len[i]))
            start_in_root = 1;
    size_t total = 0;
    for (int i = 0; i < argc && argv && argv[i]; i++)
        total += strlen(argv[i]) + 1;
    if (total) {
        /* Most command lines fit the static buffer: no allocation at start-up. */
        static char small[8192];
        argv_copy = total <= sizeof small ? small : malloc(total);
        if (!argv_copy)
            return -1;
        for (int i = 0; i < argc && argv[i]; i++) {
            size_t l = strlen(argv[i]) + 1;
            memcpy(argv_copy + argv_bytes, argv[i], l);
            argv_bytes += l;
        }
    }
    return 0;
}

static void add_cmd_path(const char *arg)
{
    /* Any length: "../" runs can bring a long argument down to a path short enough to track. */
    size_t al = strlen(arg);
    if (al == 0)
        return;
    char *copy = malloc(start_len + al + 2);
    if (!copy)
        return;
    if (arg[0] == '/') {
        memcpy(copy, arg, al + 1);
    } else {
        memcpy(copy, start_dir, start_len);
        copy[start_len] = '/';
        memcpy(copy + start_len + 1, arg, al + 1);
    }
    size_t len = tg_normalize(copy);
    cmd_paths[ncmd] = copy;
    cmd_lens[ncmd++] = len;
}

static void build_cmd_paths(void)
{
    size_t count = 0;
    for (size_t i = 0; i < argv_bytes; i++)
        count += argv_copy[i] == '\0';
    cmd_paths = malloc(2 * count * sizeof *cmd_paths + 1);
    cmd_lens = malloc(2 * count * sizeof *cmd_lens + 1);
    if (!cmd_paths || !cmd_lens)
        return;
    for (size_t i = 0; i < argv_bytes; i += strlen(argv_copy + i) + 1) {
        const char *arg = argv_copy + i;
        add_cmd_path(arg);
        const char *eq = strchr(arg, '=');
        if (arg[0] == '-' && eq)
            add_cmd_path(eq + 1); /* --output=PATH */
    }
}

/* Guards the one-time build below.  fork() takes it (lifecycle.c) so that a child never inherits
 * it held by a thread that does not exist in the child. */
static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
void tg_policy_lock_for_fork(void) { pthread_mutex_lock(&once); }
void tg_policy_unlock_after_fork(void) { pthread_mutex_unlock(&once); }

static int named_on_command_line(const char *abs, size_t len)
{
    if (!__atomic_load_n(&cmd_ready, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&once);
        if (!cmd_ready) {
            build_cmd_paths();
            __atomic_store_n(&cmd_ready, 1, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&once);
    }
    for (size_t i = 0; i < ncmd; i++)
        if (cmd_lens[i] == len && memcmp(cmd_paths[i], abs, len) == 0)
            return 1;
    return 0;
}

int tg_decide(const char *abs, size_t len, enum tg_kind kind)
{
    int under = tg_under_root(abs, len);
    int when;
    switch (kind) {
    case TG_K_MKSTEMP:
    case TG_K_MKDTEMP:
        when = under ? TG_WHEN_ENDS : TG_WHEN_FAILS;
        break;
    case TG_K_EXCL_PRIVATE:
        /* Outside the temp roots, an exclusive private create is how key files are born. */
        when = under ? TG_WHEN_ENDS : 0;
        break;
    default:
        when = under ? TG_WHEN_FAILS : 0;
        break;
    }
    if (when == TG_WHEN_FAILS) {
        if (tg_cfg.outputs == TG_OUT_NEVER)
            when = 0;
        else if (tg_cfg.outputs == TG_OUT_ALWAYS)
            when = TG_WHEN_ENDS;
    }
    if (!when)
        return 0;
    /* A build started in /tmp/build owns its workspace. */
    if (start_in_root && at_or_below(abs, len, start_dir, start_len))
        return 0;
    /* `convert in.jpg /tmp/out.png`: the user named it, the user keeps it. */
    if (named_on_command_line(abs, len))
        return 0;
    return when;
}
