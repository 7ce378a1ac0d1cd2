#include "replay_common.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int tg_replay_options(int argc, char **argv, const char *const opts[], int *const flags[], const char *usage)
{
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        int k = 0;
        while (opts[k] && strcmp(argv[first], opts[k]) != 0)
            k++;
        if (!opts[k])
            break;
        *flags[k] = 1;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s %s DIR|FILE...\n", argv[0], usage);
        exit(2);
    }
    return first;
}

/* One file of the corpus through ONE. */
static void feed(const char *prog, const char *path, const char *name, tg_replay_one *one, int *failures)
{
    size_t len;
    uint8_t *data = slurp(path, &len);
    if (!data) {
        fprintf(stderr, "%s: cannot read %s\n", prog, path);
        (*failures)++;
        return;
    }
    one(path, name, data, len);
    free(data);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void tg_replay_tree(const char *prog, const char *path, tg_replay_one *one, int *failures)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "%s: no such corpus: %s\n", prog, path);
        (*failures)++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        const char *slash = strrchr(path, '/');
        feed(prog, path, slash ? slash + 1 : path, one, failures);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "%s: cannot list %s\n", prog, path);
        (*failures)++;
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
            feed(prog, full, names[i], one, failures);
        free(full);
        free(names[i]);
    }
    free(names);
}
