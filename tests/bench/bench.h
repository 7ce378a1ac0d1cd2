/* Shared by the programs that scripts/bench runs.  Each program times only the work it is named
 * for, so that loading the shim (or not) and the program's own start-up stay out of the figure. */
#ifndef TG_BENCH_H
#define TG_BENCH_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CLOCK_MONOTONIC: the one clock that two processes can compare (bench_exit relies on that). */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline long bench_count(const char *arg, const char *prog)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || n <= 0) {
        fprintf(stderr, "%s: not a positive count: %s\n", prog, arg);
        exit(2);
    }
    return n;
}

/* The caller's environment with any LD_PRELOAD taken out and, if PRELOAD is not NULL,
 * LD_PRELOAD=PRELOAD put in.  A child started with it differs from its no-shim twin in that one
 * variable only. */
static inline char **bench_child_env(const char *preload)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env) {
        perror("calloc");
        exit(2);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
            env[k++] = environ[i];
    if (preload) {
        size_t len = strlen(preload) + sizeof "LD_PRELOAD=";
        char *var = malloc(len);
        if (!var) {
            perror("malloc");
            exit(2);
        }
        snprintf(var, len, "LD_PRELOAD=%s", preload);
        env[k++] = var;
    }
    env[k] = NULL;
    return env;
}

/* Entries in DIR other than . and .., or -1 if DIR cannot be read (ENOENT: 0). */
static inline long bench_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}
#endif
