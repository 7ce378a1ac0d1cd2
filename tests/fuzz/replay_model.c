/* Runs every input of the corpus directories (or files) given through the model harness, so that
 * the committed corpus is a regression test without a fuzzer.
 *
 *   replay_model [--strict] [--expect-coverage] [-v] DIR|FILE...
 *
 * --strict: the known deviations (fuzz_model.h) abort too.  --expect-coverage: the inputs together
 * must reach every part of the harness (record growth past the first chunk, FREE-block reuse,
 * adoption, the reader, each rule of the contract table...), so that a corpus trimmed too far is
 * noticed.  -v: one line per input.  Exit status 0 when all is well; a difference from the model
 * aborts. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_model.h"

static int verbose, failures, total;

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    uint8_t *p = malloc(cap);
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
        fprintf(stderr, "replay_model: cannot read %s\n", path);
        failures++;
        return;
    }
    struct tg_model_stats before = tg_model_stats;
    tg_model_one(data, len);
    free(data);
    total++;
    if (verbose)
        printf("%-44s %4lu ops, %4lu adds, %4lu live at most, chunk %lu, %lu read back\n", name,
               tg_model_stats.ops - before.ops, tg_model_stats.adds - before.adds, tg_model_stats.max_live,
               tg_model_stats.max_chunk, tg_model_stats.reader_ok - before.reader_ok);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void tree(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay_model: no such corpus: %s\n", path);
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
        fprintf(stderr, "replay_model: cannot list %s\n", path);
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
        if ((names[n] = strdup(de->d_name)) == NULL)
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

/* What the corpus as a whole must reach (--expect-coverage). */
static void coverage(void)
{
    const struct tg_model_stats *s = &tg_model_stats;
    const struct {
        const char *what;
        unsigned long have, need;
    } want[] = {
        {"paths resolved", s->resolved, 1},
        {"paths tg_resolve refuses", s->unresolved, 1},
        {"absolute paths normalised", s->normalised, 1},
        {"creations not tracked", s->decided[0], 1},
        {"creations removed when the process ends", s->decided[1], 1},
        {"creations removed when it fails", s->decided[2], 1},
        {"kept by the starting-directory rule", s->kept_start, 1},
        {"kept by the command-line rule", s->kept_cmdline, 1},
        {"TMPGUARD_ROOTS refused (defaults used)", s->defaults, 1},
        {"entries added", s->adds, 1},
        {"FREE blocks reused", s->reuses, 1},
        {"chunks closed with a PAD block", s->pads, 1},
        {"highest chunk reached", s->max_chunk, 2},
        {"entries forgotten", s->forgets, 1},
        {"forgets among several entries of one path", s->forget_dups, 1},
        {"may_hold saying no", s->may_hold_no, 1},
        {"find_quiet hits", s->find_hit, 1},
        {"find_quiet misses", s->find_miss, 1},
        {"adoptions after exec", s->adoptions, 1},
        {"fork resets", s->forks, 1},
        {"records read back", s->reader_ok, 1},
        {"entries read back", s->reader_entries, 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (want[i].have < want[i].need) {
            fprintf(stderr, "replay_model: the corpus does not reach: %s (%lu, at least %lu wanted)\n", want[i].what,
                    want[i].have, want[i].need);
            failures++;
        }
}

int main(int argc, char **argv)
{
    int first = 1, expect = 0;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "--strict") == 0)
            tg_model_strict = 1;
        else if (strcmp(argv[first], "--expect-coverage") == 0)
            expect = 1;
        else if (strcmp(argv[first], "-v") == 0)
            verbose = 1;
        else
            break;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [--strict] [--expect-coverage] [-v] DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++)
        tree(argv[i]);
    const struct tg_model_stats *s = &tg_model_stats;
    printf("replayed %d inputs: %lu operations, %lu entries added (%lu live at most, chunk %lu reached), %lu "
           "records read back; %d failures\n",
           total, s->ops, s->adds, s->max_live, s->max_chunk, s->reader_ok, failures);
    for (int k = 0; k < TG_KNOWN_COUNT; k++)
        if (s->known[k])
            printf("known deviation followed %lu times: %s\n", s->known[k], tg_model_known_names[k]);
    fflush(stdout);
    if (expect)
        coverage();
    return failures || total == 0 ? 1 : 0;
}
