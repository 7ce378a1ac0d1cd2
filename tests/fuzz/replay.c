/* Runs every input of the corpus directories (or files) given through the fuzzing harness, so that
 * the committed corpus is a regression test without a fuzzer.
 *
 *   replay [--expect] [-v] DIR|FILE...
 *
 * --expect: inputs named ok-* must be accepted by the reader with at least one entry, inputs named
 * bad-* must be refused; other names (what the fuzzer added) only have to keep the reader's
 * promises.  -v: one line per input.  Exit status 0 when all is well; a broken promise aborts. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "reap.h"

static const char *const reap_names[] = {"alive", "done", "kept", "refused", "not named"};
static int expect, verbose, failures, total, accepted, reaped;

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *p = malloc(cap);
    size_t got;
    while (p && (got = fread(p + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *q = realloc(p, cap *= 2);
            if (!q)
                free(p);
            p = q;
        }
    }
    fclose(f);
    *len = n;
    return p;
}

static void one(const char *path, const char *name)
{
    size_t len;
    uint8_t *data = slurp(path, &len);
    if (!data) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        failures++;
        return;
    }
    struct tg_fuzz_result res;
    tg_fuzz_run(data, len, &res);
    free(data);
    total++;
    int ok = res.open == 0 && res.next == 0;
    accepted += ok;
    reaped += res.reap >= 0;
    if (verbose && res.reap >= 0)
        printf("%-40s accepted (%d entries), dry reap: %s, %d would go, %d gone, %d left\n", name, res.entries,
               reap_names[res.reap], res.outcomes[TG_WOULD], res.outcomes[TG_GONE], res.outcomes[TG_LEFT]);
    else if (verbose)
        printf("%-40s %s (%d entries)%s%s\n", name, ok ? "accepted" : "refused", res.entries, ok ? "" : ": ",
               ok ? "" : res.why);
    if (!expect)
        return;
    if (strncmp(name, "ok-", 3) == 0 && (!ok || res.entries < 1)) {
        fprintf(stderr, "replay: %s should be accepted with entries: %s\n", path, ok ? "no entries" : res.why);
        failures++;
    }
    if (strncmp(name, "bad-", 4) == 0 && ok) {
        fprintf(stderr, "replay: %s should be refused, and was accepted with %d entries\n", path, res.entries);
        failures++;
    }
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void tree(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: no such corpus: %s\n", path);
        failures++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        const char *slash = strrchr(path, '/');
        one(path, slash ? slash + 1 : path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: cannot list %s\n", path);
        failures++;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **m = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
            if (!m)
                abort();
            names = m;
        }
        names[n] = strdup(de->d_name);
        if (!names[n])
            abort();
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(path) + strlen(names[i]) + 2;
        char *full = malloc(l);
        if (!full)
            abort();
        snprintf(full, l, "%s/%s", path, names[i]);
        struct stat fst;
        if (stat(full, &fst) == 0 && S_ISREG(fst.st_mode))
            one(full, names[i]);
        free(full);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "--expect") == 0)
            expect = 1;
        else if (strcmp(argv[first], "-v") == 0)
            verbose = 1;
        else
            break;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [--expect] [-v] DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++)
        tree(argv[i]);
    printf("replayed %d inputs: %d accepted, %d refused, %d reaped dry; %d failures\n", total, accepted,
           total - accepted, reaped, failures);
    return failures || total == 0 ? 1 : 0;
}
