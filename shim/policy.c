#include "policy.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "path.h"
#include "sys.h"

/* The starting directory: the current directory until the program first changes it, so it is
 * taken when first needed (the first create that may be tracked), or just before the first
 * chdir/fchdir (tg_policy_before_chdir), whichever comes first: no getcwd at start-up. */
static char start_dir[TG_PATH_MAX];
static size_t start_len;
static int start_in_root;        /* the starting directory is a temp root or inside one */
static int start_state;          /* 0 not taken yet, 1 taken, -1 unknown (then nothing is decided) */

/* Command-line paths, resolved against the starting directory.  Kept raw at load time (a program
 * may overwrite its argv later) and resolved on first use, which is always inside a critical
 * section of the first tracked-looking creation. */
static char *argv_copy;          /* NUL-separated */
static size_t argv_bytes;
/* Those paths, built on first use in one allocation and published by one compare-and-swap: no lock
 * is held while it is built.  (A thread that holds a lock fork() takes must never wait for the
 * allocator: a sanitizer's fork, or an allocator's own fork handler, may hold the allocator's locks
 * while it waits for ours.) */
struct cmdline {
    size_t n;
    size_t *len;
    char **path;
};
static struct cmdline *_Atomic cmdline;

int tg_under_root(const char *abs, size_t len)
{
    for (int i = 0; i < tg_cfg.nroots; i++) {
        size_t rl = tg_cfg.root_len[i];
        if (len > rl && tg_at_or_below(abs, len, tg_cfg.roots[i], rl))
            return 1;
    }
    return 0;
}

int tg_policy_init(int argc, char **argv)
{
    /* Byte loops: command lines are short, and a libc function's first call at start-up costs a
     * binding by the dynamic linker. */
    size_t total = 0;
    for (int i = 0; i < argc && argv && argv[i]; i++)
        for (const char *c = argv[i];; c++) {
            total++;
            if (!*c)
                break;
        }
    if (total) {
        /* Most command lines fit the static buffer: no allocation at start-up. */
        static char small[8192];
        argv_copy = total <= sizeof small ? small : malloc(total);
        if (!argv_copy)
            return -1;
        for (int i = 0; i < argc && argv[i]; i++)
            for (const char *c = argv[i];; c++) {
                argv_copy[argv_bytes++] = *c;
                if (!*c)
                    break;
            }
    }
    return 0;
}

/* Guards the one-time taking of the starting directory (a getcwd, no allocation).  fork() takes
 * it (lifecycle.c) so that a child never inherits it held by a thread that does not exist in the
 * child. */
static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
void tg_policy_lock_for_fork(void) { pthread_mutex_lock(&once); }
void tg_policy_unlock_after_fork(void) { pthread_mutex_unlock(&once); }

/* Under `once`. */
static void take_start_dir(void)
{
    long n = tg_getcwd(start_dir, sizeof start_dir);
    if (n <= 1 || start_dir[0] != '/') {
        __atomic_store_n(&start_state, -1, __ATOMIC_RELEASE);
        return;
    }
    start_len = tg_normalize(start_dir);
    for (int i = 0; i < tg_cfg.nroots; i++)
        if (tg_at_or_below(start_dir, start_len, tg_cfg.roots[i], tg_cfg.root_len[i]))
            start_in_root = 1;
    __atomic_store_n(&start_state, 1, __ATOMIC_RELEASE);
}

static __attribute__((noinline)) int start_taken(void)
{
    pthread_mutex_lock(&once);
    if (!start_state)
        take_start_dir();
    int s = start_state;
    pthread_mutex_unlock(&once);
    return s;
}

static inline int start_known(void)
{
    int s = __atomic_load_n(&start_state, __ATOMIC_ACQUIRE);
    return (__builtin_expect(s != 0, 1) ? s : start_taken()) > 0;
}

void tg_policy_before_chdir(void)
{
    if (!__atomic_load_n(&start_state, __ATOMIC_ACQUIRE))
        (void)start_known();
}

/* ARG as a path resolved against the starting directory, written at *AT; returns its length, or 0
 * for an empty argument.  Any length: "../" runs can bring a long argument down to a path short
 * enough to track. */
static size_t cmd_path(const char *arg, char *at)
{
    size_t al = strlen(arg);
    if (al == 0)
        return 0;
    if (arg[0] == '/') {
        memcpy(at, arg, al + 1);
    } else {
        memcpy(at, start_dir, start_len);
        at[start_len] = '/';
        memcpy(at + start_len + 1, arg, al + 1);
    }
    return tg_normalize(at);
}

/* Every argument, and the part after '=' of an argument that starts with '-' (--output=PATH). */
static const char *next_arg_path(const char *arg, int *second)
{
    const char *eq = strchr(arg, '=');
    if (!*second && arg[0] == '-' && eq) {
        *second = 1;
        return eq + 1;
    }
    return NULL;
}

static struct cmdline *build_cmdline(void)
{
    size_t count = 0, bytes = 0;
    for (size_t i = 0; i < argv_bytes; i += strlen(argv_copy + i) + 1) {
        size_t al = strlen(argv_copy + i);
        count += 2;
        bytes += 2 * (start_len + al + 2);
    }
    struct cmdline *c = malloc(sizeof *c + count * (sizeof *c->len + sizeof *c->path) + bytes + 1);
    if (!c)
        return NULL;
    c->n = 0;
    c->len = (size_t *)(c + 1);
    c->path = (char **)(c->len + count);
    char *at = (char *)(c->path + count);
    for (size_t i = 0; i < argv_bytes; i += strlen(argv_copy + i) + 1) {
        int second = 0;
        for (const char *a = argv_copy + i; a; a = next_arg_path(argv_copy + i, &second)) {
            size_t l = cmd_path(a, at);
            if (l) {
                c->path[c->n] = at;
                c->len[c->n++] = l;
                at += l + 1;
            }
        }
    }
    return c;
}

/* Whether ABS was named on the command line.  Without memory to tell, it counts as named: kept. */
static int named_on_command_line(const char *abs, size_t len)
{
    struct cmdline *c = atomic_load_explicit(&cmdline, memory_order_acquire);
    if (!c) {
        int saved = errno; /* the allocator may set it: the program's stays */
        struct cmdline *mine = build_cmdline(), *none = NULL;
        errno = saved;
        if (!mine)
            return 1;
        if (atomic_compare_exchange_strong(&cmdline, &none, mine))
            c = mine;
        else {
            free(mine); /* another thread's is there: the same */
            c = none;
        }
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->len[i] == len && memcmp(c->path[i], abs, len) == 0)
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
    /* Without the starting directory nothing can be decided safely. */
    if (!when || !start_known())
        return 0;
    /* A build started in /tmp/build owns its workspace. */
    if (start_in_root && tg_at_or_below(abs, len, start_dir, start_len))
        return 0;
    /* `convert in.jpg /tmp/out.png`: the user named it, the user keeps it. */
    if (named_on_command_line(abs, len))
        return 0;
    return when;
}
