/* tg-bench-memory N DIR: what N outstanding temp files cost the process that holds them.
 *
 * Creates N files with mkstemp in DIR (closing each, removing none) and prints one line:
 *   seconds S rss_kb BEFORE AFTER anon_kb BEFORE AFTER shmem_kb BEFORE AFTER rec_bytes B
 * S: the time to create them; the kB figures from /proc/self/status (VmRSS, RssAnon, RssShmem)
 * before the first file and after the last; B: st_blocks * 512 of this process's record
 * ($TMPGUARD_STATE_DIR/PID.rec; -1 when there is none, as without the shim).  Then exits with
 * status 0: under the shim the files go with it (scratch files are removed whenever their
 * process ends); without, they stay for the caller to remove. */
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

struct mem {
    long rss, anon, shmem;
};

static long field(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

static struct mem now_mem(void)
{
    struct mem m = {-1, -1, -1};
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return m;
    char text[8192];
    size_t got = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[got] = '\0';
    m.rss = field(text, "\nVmRSS:");
    m.anon = field(text, "\nRssAnon:");
    m.shmem = field(text, "\nRssShmem:");
    return m;
}

int main(int argc, char **argv)
{
    struct bench_tmpl t;
    long n = bench_args_n_dir(argc, argv, &t, "f");
    struct mem before = now_mem();
    double t0 = bench_now();
    if (bench_make_files(&t, n, NULL) < 0)
        return 1;
    double t1 = bench_now();
    struct mem after = now_mem();

    long long rec = -1;
    const char *state = getenv("TMPGUARD_STATE_DIR");
    if (state) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%ld.rec", state, (long)getpid());
        if (stat(path, &st) == 0)
            rec = (long long)st.st_blocks * 512;
    }
    printf("seconds %.9f rss_kb %ld %ld anon_kb %ld %ld shmem_kb %ld %ld rec_bytes %lld\n", t1 - t0, before.rss,
           after.rss, before.anon, after.anon, before.shmem, after.shmem, rec);
    return 0;
}
