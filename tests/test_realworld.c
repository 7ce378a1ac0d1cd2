/* Real programs as users run them: ImageMagick's disk pixel cache when convert is SIGKILLed
 * midway, gcc and cmake building into a temp root, git clone (complete, and killed before it
 * exits), ssh-agent started under the launcher.  The other real-program cases (Python's tempfile,
 * sh with mktemp, cp, tar, sort killed) are in test_programs.c and test_durability.c.
 *
 * Each test says which rule of the contract (README.md) it proves, and skips itself, naming the
 * program, when that program is not installed (./scripts/test installs them on Debian).
 * Launcher runs use the harness with shim=0: the launcher preloads the library itself (set
 * TMPGUARD_LIB to hand it another one). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct fx f;
static struct run r; /* large: kept off the stack */
static char launcher[4096];
static pid_t agent_pid; /* an ssh-agent a test started: killed at the end if it is still there */

static void setup(void)
{
    snprintf(launcher, sizeof launcher, "%s", src_path("scripts/tmpguard"));
    agent_pid = 0;
    fx_setup(&f);
}

static void teardown(void)
{
    if (agent_pid > 0)
        kill(agent_pid, SIGKILL);
    /* A test stopped by a failed assertion may have left what it started running (a convert, a git
     * hook, an ssh-agent). */
    kill_leftovers(&f);
    fx_teardown(&f);
}
TestSuite(realworld, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------------- */

#define PATHLEN 4096

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* DIR/NAME in one of 16 rotating buffers. */
static char *path(const char *dir, const char *name)
{
    static char buf[16][PATHLEN];
    static int next;
    char *b = buf[next++ % 16];
    int n = snprintf(b, PATHLEN, "%s/%s", dir, name);
    cr_assert(n > 0 && n < PATHLEN, "path too long: %s/%s", dir, name);
    return b;
}

/* char NAME[PATHLEN] holding DIR/REL, for paths a test keeps (path()'s buffers are reused). */
#define PATHVAR(name, dir, rel)                                                                     \
    char name[PATHLEN];                                                                             \
    cr_assert(snprintf(name, sizeof name, "%s/%s", (dir), (rel)) < PATHLEN, "path too long: %s/%s", (dir), (rel))

/* "K=V" in one of 16 rotating buffers. */
static char *kv(const char *k, const char *v)
{
    static char buf[16][PATHLEN + 64];
    static int next;
    char *b = buf[next++ % 16];
    snprintf(b, sizeof buf[0], "%s=%s", k, v);
    return b;
}

/* A run's environment: TMPGUARD_LIB passed through from the test's own environment (for the
 * launcher), then EXTRA ("K=V", NULL-terminated). */
static const char *const *env_with(const char *const *extra)
{
    static char lib[PATHLEN + 64];
    static const char *env[24];
    int n = 0;
    const char *l = getenv("TMPGUARD_LIB");
    if (l && *l) {
        snprintf(lib, sizeof lib, "TMPGUARD_LIB=%s", l);
        env[n++] = lib;
    }
    for (int i = 0; extra && extra[i] && n < 23; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    return env;
}
#define ENV(...) env_with((const char *const[]){__VA_ARGS__, NULL})

/* `tmpguard reap|status ARGS...` */
#define TOOL(run, ...) RUN(&f, 0, NULL, NULL, (run), launcher, __VA_ARGS__)

/* The executable PROG in PATH (static buffer), or NULL. */
static const char *find_in_path(const char *prog)
{
    static char cand[PATHLEN];
    const char *p = getenv("PATH");
    for (const char *s = p && *p ? p : "/usr/bin:/bin"; *s;) {
        size_t l = strcspn(s, ":");
        snprintf(cand, sizeof cand, "%.*s/%s", (int)l, s, prog);
        struct stat st;
        if (l > 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
            return cand;
        s += l + (s[l] == ':');
    }
    return NULL;
}

#define NEED(prog)                                                                                  \
    do {                                                                                            \
        if (!find_in_path(prog))                                                                    \
            cr_skip_test("'%s' is not installed (not found in PATH); this test needs it", prog);    \
    } while (0)

static int is_elf(const char *file)
{
    char magic[4];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, magic, sizeof magic);
    close(fd);
    return n == 4 && memcmp(magic, "\177ELF", 4) == 0;
}

/* Entries of DIR whose name starts with PREFIX. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));)
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

static int count_records(void) { return count_state(f.state); }

/* Field 4 of /proc/PID/stat, or -1. */
static pid_t ppid_of(pid_t pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(p, "r");
    if (!fp)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    int ppid;
    return rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 ? ppid : -1;
}

static void wait_dead(pid_t pid, const char *what)
{
    long limit = tg_limit_ms(15000), deadline = now_ms() + limit;
    while (!pid_dead(pid)) {
        cr_assert(now_ms() < deadline, "%s (pid %d) did not die within %ld ms", what, (int)pid, limit);
        sleep_ms(5);
    }
}

/* Whether P has ended (without collecting it: proc_finish does). */
static int ended(const struct proc *p)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == p->pid;
}

/* A child of PARENT running the executable EXE (same device and inode), or 0. */
static pid_t child_running(pid_t parent, const char *exe)
{
    struct stat want;
    if (stat(exe, &want) < 0)
        return 0;
    pid_t found = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *de; d && !found && (de = readdir(d));) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1 || ppid_of((pid_t)pid) != parent)
            continue;
        char link[64];
        struct stat st;
        snprintf(link, sizeof link, "/proc/%ld/exe", pid);
        if (stat(link, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
            found = (pid_t)pid;
    }
    if (d)
        closedir(d);
    return found;
}

static void make_dir(const char *p)
{
    cr_assert(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
}

static int is_dir(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- 1. ImageMagick's pixel cache ------------------------------------------------------------ */

/* ImageMagick's own binary: `convert` (6) or `magick` (7), an ELF file that says it is ImageMagick.
 * Not a wrapper script (one may stand in for convert): the tests kill the process by its pid and
 * look for it by its executable. */
static const char *need_imagemagick(void)
{
    static char found[PATHLEN];
    static const char *const names[] = {"convert", "magick"};
    const char *path_env = getenv("PATH");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        for (const char *s = path_env && *path_env ? path_env : "/usr/bin:/bin"; *s;) {
            size_t l = strcspn(s, ":");
            char cand[PATHLEN];
            snprintf(cand, sizeof cand, "%.*s/%s", (int)l, s, names[i]);
            s += l + (s[l] == ':');
            if (l == 0 || access(cand, X_OK) != 0 || !is_elf(cand))
                continue;
            RUN(&f, 0, NULL, NULL, &r, cand, "-version");
            if (exited_with(r.status, 0) && strstr(r.out, "ImageMagick")) {
                snprintf(found, sizeof found, "%s", cand);
                return found;
            }
        }
    }
    cr_skip_test("ImageMagick is not installed (no convert or magick binary in PATH that says it is "
                 "ImageMagick); this test needs it");
    return NULL;
}

/* A W x H binary PPM of noise at FILE, written directly (no ImageMagick, no shim). */
static void write_ppm(const char *file, int w, int h)
{
    FILE *fp = fopen(file, "wb");
    cr_assert(fp, "%s: %s", file, strerror(errno));
    fprintf(fp, "P6\n%d %d\n255\n", w, h);
    size_t row = (size_t)w * 3;
    unsigned char *buf = malloc(row);
    cr_assert(buf);
    unsigned long long x = 0x9e3779b97f4a7c15ull;
    for (int y = 0; y < h; y++) {
        for (size_t i = 0; i < row; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
        cr_assert(fwrite(buf, 1, row, fp) == row, "%s: short write", file);
    }
    free(buf);
    cr_assert(fclose(fp) == 0);
}

/* convert's arguments: a memory and map limit of 1 MiB, so that every pixel cache is a file
 * magick-XXXX in MAGICK_TEMPORARY_PATH (the root), opened O_CREAT|O_EXCL|O_RDWR mode 0600. */
#define IM_ARGS(im, in, out) (im), "-limit", "memory", "1MiB", "-limit", "map", "1MiB", (in), "-blur", "0x8", (out)

/* Waits until convert (process P) has a pixel-cache file in the root; fails if it ends first. */
/* Whether every entry of DIR named PREFIX* is a file with data in it. */
static int all_written(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int ok = d != NULL;
    for (struct dirent *e; ok && (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        struct stat st;
        ok = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size > 0;
    }
    if (d)
        closedir(d);
    return ok;
}

static void wait_pixel_cache(struct proc *p)
{
    long limit = tg_limit_ms(20000), deadline = now_ms() + limit;
    while (count_prefixed(f.root, "magick-") == 0) {
        if (ended(p)) {
            proc_finish(p);
            cr_assert_fail("convert ended (%s) before it made a pixel-cache file in %s; err: %s",
                           describe(p->r->status), f.root, p->r->err);
        }
        if (now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            proc_finish(p);
            cr_assert_fail("no magick-* file appeared in %s within %ld ms; err: %s", f.root, limit, p->r->err);
        }
        sleep_ms(10);
    }
    /* Midway, not at the very instant of a create: a file killed between its create and its
     * listing is a documented limit (README), not what this test is about.  Wait until every
     * magick-* file has been written to (its creator has long returned from the create). */
    for (int settled = 0; settled < 3 && now_ms() < deadline;) {
        settled = all_written(f.root, "magick-") ? settled + 1 : 0;
        sleep_ms(20);
    }
}

/* Rule: a SIGKILLed process runs no handler, so its scratch files stay (ImageMagick's pixel cache
 * of 32 MB per image here), but its record stays too, and `tmpguard reap` removes what it lists
 * once the process is gone. */
Test(realworld, imagemagick_sigkilled_then_reaped)
{
    const char *im = need_imagemagick();
    PATHVAR(in, f.out, "in.ppm");
    PATHVAR(out, f.out, "out.png");
    write_ppm(in, 2000, 2000);
    struct proc p;
    proc_start(&p, &f, 1, NULL, ENV(kv("MAGICK_TEMPORARY_PATH", f.root)), &r,
               (const char *const[]){IM_ARGS(im, in, out), NULL});
    wait_pixel_cache(&p);
    kill(p.pid, SIGKILL);
    proc_finish(&p);
    cr_assert(killed_by(r.status, SIGKILL), "convert should die of SIGKILL, it %s; err: %s", describe(r.status),
              r.err);
    int left = count_prefixed(f.root, "magick-");
    cr_assert(left >= 1, "a SIGKILLed convert should leave its pixel-cache files (no handler runs), found none");
    cr_assert_eq(count_records(), 1, "the killed convert should have left its record in %s, found %d records",
                 f.state, count_records());

    struct run reap;
    TOOL(&reap, "reap");
    cr_expect(exited_with(reap.status, 0), "tmpguard reap should exit 0, it %s; err: %s", describe(reap.status),
              reap.err);
    cr_expect(strstr(reap.out, "/magick-") != NULL, "tmpguard reap should list the magick-* files it removed:\n%s",
              reap.out);
    cr_expect_eq(count_below(f.root), 0, "after tmpguard reap the root should be empty (%d magick-* files before), "
                 "found %d entries; reap said:\n%s%s", left, count_below(f.root), reap.out, reap.err);
    cr_expect_eq(count_records(), 0, "tmpguard reap should remove the dead convert's record, %d left", count_records());
}

/* Rule: when the launcher's command dies, however (SIGKILL here), the launcher reaps its tree's
 * records before it returns, and then dies of the same signal. */
Test(realworld, imagemagick_sigkilled_under_launcher)
{
    const char *im = need_imagemagick();
    PATHVAR(in, f.out, "in.ppm");
    PATHVAR(out, f.out, "out.png");
    write_ppm(in, 2000, 2000);
    struct proc p;
    proc_start(&p, &f, 0, NULL, ENV(kv("MAGICK_TEMPORARY_PATH", f.root)), &r,
               (const char *const[]){launcher, "--", IM_ARGS(im, in, out), NULL});
    wait_pixel_cache(&p);
    /* convert is the launcher's child (the launcher script execs the tool, which forks it). */
    pid_t convert = 0;
    for (long deadline = now_ms() + tg_limit_ms(10000); !(convert = child_running(p.pid, im)) && now_ms() < deadline;)
        sleep_ms(10);
    if (!convert) {
        kill(p.pid, SIGKILL);
        proc_finish(&p);
        cr_assert_fail("no child of the launcher (pid %d) runs %s", (int)p.pid, im);
    }
    cr_assert(kill(convert, SIGKILL) == 0, "kill %d: %s", (int)convert, strerror(errno));
    proc_finish(&p);
    cr_expect(killed_by(r.status, SIGKILL), "the launcher should die of its command's SIGKILL, it %s; err: %s",
              describe(r.status), r.err);
    cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root when the launcher returns, found %d "
                 "entries (%d magick-* files)", count_below(f.root), count_prefixed(f.root, "magick-"));
    cr_expect_eq(count_records(), 0, "the launcher should have reaped convert's record, %d left", count_records());
}

/* Rule: a successful program keeps its outputs ("other creations" in a root), and its scratch
 * files are gone.  The output is named "png:PATH", not exactly PATH, so that it is kept by the
 * success rule and not by the command-line rule. */
Test(realworld, imagemagick_success_keeps_output)
{
    const char *im = need_imagemagick();
    PATHVAR(in, f.out, "small.ppm");
    PATHVAR(out, f.root, "out.png");
    write_ppm(in, 500, 500); /* 2 MB of pixel cache: over the 1 MiB limits, on disk */
    char spec[PATHLEN + 8];
    snprintf(spec, sizeof spec, "png:%s", out);
    RUN(&f, 1, NULL, ENV(kv("MAGICK_TEMPORARY_PATH", f.root)), &r, im, "-debug", "cache", "-limit", "memory", "1MiB",
        "-limit", "map", "1MiB", in, "-blur", "0x8", spec);
    cr_assert(exited_with(r.status, 0), "convert should succeed, it %s; err: %.2000s", describe(r.status), r.err);
    /* -debug cache names each cache: the test is worth something only if they were disk files. */
    cr_expect(strstr(r.err, "/magick-") && (strstr(r.err, "disk") || strstr(r.err, "Disk")),
              "convert's pixel cache should have been a magick-* disk file in the root; -debug cache says: %.2000s",
              r.err);
    char *png = slurp(out);
    cr_expect(png && memcmp(png, "\x89PNG", 4) == 0, "%s should be kept, and be a PNG", out);
    free(png);
    cr_expect_eq(count_below(f.root), 1, "only out.png should be left in the root, found %d entries (%d magick-*)",
                 count_below(f.root), count_prefixed(f.root, "magick-"));
    cr_expect_eq(count_records(), 0, "convert ended through the shim: no record should be left, found %d",
                 count_records());
}

/* ---- 2. gcc and cmake ------------------------------------------------------------------------ */

static const char *const hello_c = "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n";

/* Rule: a path named on the command line is kept; a successful program's outputs are kept.  gcc
 * runs from outside the root and names ROOT/build/hello; ld (a grandchild, given the same -o path)
 * creates it.  gcc's own temp files (ccXXXX.s, .o, .res) go to TMPDIR, the root, and gcc removes
 * them itself: nothing else may be left there. */
Test(realworld, gcc_build_into_root_kept)
{
    NEED("gcc");
    put(path(f.out, "hello.c"), hello_c);
    PATHVAR(build, f.root, "build");
    PATHVAR(hello, build, "hello");
    make_dir(build);
    RUN(&f, 1, NULL, NULL, &r, "gcc", "-v", "-o", hello, "hello.c");
    cr_assert(exited_with(r.status, 0), "gcc should succeed, it %s; err: %.3000s", describe(r.status), r.err);
    /* gcc -v shows its temp files: they must have been in the root for the test to mean anything. */
    cr_expect(strstr(r.err, path(f.root, "cc")) != NULL, "gcc's temp files should be in the root %s; gcc -v: %.3000s",
              f.root, r.err);
    cr_assert(exists(hello), "the program %s should be kept", hello);
    struct run run;
    RUN(&f, 0, NULL, NULL, &run, hello);
    cr_expect(exited_with(run.status, 0) && strcmp(run.out, "hello\n") == 0,
              "the built program should print \"hello\", it %s and printed \"%s\"", describe(run.status), run.out);
    cr_expect_eq(count_below(f.root), 2, "only build/ and build/hello should be in the root, found %d entries",
                 count_below(f.root));
    cr_expect_eq(count_records(), 0, "every process ended through the shim: no record should be left, found %d",
                 count_records());
}

/* Rule: a failing program's creations in a root are removed; here gcc removes its temp files and
 * the object it was writing itself, and tmpguard must neither get in the way nor leave anything:
 * the root holds only the directory that existed before. */
Test(realworld, gcc_failing_compile_leaves_nothing)
{
    NEED("gcc");
    put(path(f.out, "bad.c"), "int main(void) { return 0 }\n");
    PATHVAR(build, f.root, "build");
    make_dir(build);
    RUN(&f, 1, NULL, NULL, &r, "gcc", "-v", "-c", "bad.c", "-o", path(build, "bad.o"));
    cr_assert(WIFEXITED(r.status) && !exited_with(r.status, 0),
              "gcc should fail with an exit status on a syntax error, it %s; err: %.3000s", describe(r.status), r.err);
    cr_expect(strstr(r.err, "error") != NULL, "gcc should report the syntax error; err: %.3000s", r.err);
    cr_expect(strstr(r.err, path(f.root, "cc")) != NULL, "gcc's temp files should be in the root %s; gcc -v: %.3000s",
              f.root, r.err);
    cr_expect(is_dir(build), "%s existed before and should be kept", build);
    cr_expect_eq(count_below(f.root), 1, "only build/ (empty) should be in the root, found %d entries",
                 count_below(f.root));
}

/* Relative paths of every entry below DIR, sorted, one per line. */
static char listing[1 << 16];
static size_t listing_len, listing_base;
static int list_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag;
    if (ftw->level == 0)
        return 0;
    int n = snprintf(listing + listing_len, sizeof listing - listing_len, "%s\n", p + listing_base + 1);
    if (n > 0 && (size_t)n < sizeof listing - listing_len)
        listing_len += (size_t)n;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *tree_listing(const char *dir)
{
    listing_len = 0;
    listing_base = strlen(dir);
    listing[0] = '\0';
    nftw(dir, list_one, 16, FTW_PHYS);
    char *lines[4096];
    size_t n = 0;
    for (char *s = listing; *s && n < 4096;) {
        char *nl = strchr(s, '\n');
        *nl = '\0';
        lines[n++] = s;
        s = nl + 1;
    }
    qsort(lines, n, sizeof *lines, cmp_str);
    size_t cap = listing_len + 1, len = 0;
    char *out = malloc(cap);
    cr_assert(out);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s\n", lines[i]);
    return out;
}

static void make_cmake_project(const char *src)
{
    make_dir(src);
    put(path(src, "CMakeLists.txt"), "cmake_minimum_required(VERSION 3.10)\n"
                                     "project(hello C)\n"
                                     "add_library(greet STATIC greet.c)\n"
                                     "add_executable(hello main.c)\n"
                                     "target_link_libraries(hello greet)\n");
    put(path(src, "greet.c"), "const char *greet(void) { return \"hello from cmake\"; }\n");
    put(path(src, "main.c"), "#include <stdio.h>\nconst char *greet(void);\n"
                             "int main(void) { puts(greet()); return 0; }\n");
}

/* Rules: cmake runs from outside the root and creates ROOT/b's files itself (other creations,
 * kept because it succeeds; many are written to a temp name and renamed, which publishes them);
 * the make, cc, ar and `cmake -E` processes below it start in ROOT/b or below (their starting
 * directory's workspace: kept whatever they do).  The build dir must end up exactly as the same
 * build leaves it without tmpguard. */
Test(realworld, cmake_build_into_root_kept)
{
    NEED("cmake");
    NEED("make");
    NEED("cc");
    PATHVAR(src, f.out, "proj");
    PATHVAR(ref, f.out, "ref");
    PATHVAR(b, f.root, "b");
    make_cmake_project(src);

    /* The reference: the same configure and build, without the shim, outside the root. */
    RUN(&f, 0, NULL, NULL, &r, "cmake", "-S", src, "-B", ref);
    cr_assert(exited_with(r.status, 0), "cmake configure without the shim: %s; err: %.3000s", describe(r.status),
              r.err);
    RUN(&f, 0, NULL, NULL, &r, "cmake", "--build", ref);
    cr_assert(exited_with(r.status, 0), "cmake --build without the shim: %s; err: %.3000s", describe(r.status), r.err);

    RUN(&f, 1, NULL, NULL, &r, "cmake", "-S", src, "-B", b);
    cr_assert(exited_with(r.status, 0), "cmake configure should succeed under the shim, it %s; err: %.3000s",
              describe(r.status), r.err);
    RUN(&f, 1, NULL, NULL, &r, "cmake", "--build", b);
    cr_assert(exited_with(r.status, 0), "cmake --build should succeed under the shim, it %s; out: %.3000s err: %.3000s",
              describe(r.status), r.out, r.err);

    struct run run;
    RUN(&f, 0, NULL, NULL, &run, path(b, "hello"));
    cr_expect(exited_with(run.status, 0) && strcmp(run.out, "hello from cmake\n") == 0,
              "the built program should print \"hello from cmake\", it %s and printed \"%s\"", describe(run.status),
              run.out);
    char *want = tree_listing(ref), *got = tree_listing(b);
    cr_expect_str_eq(got, want, "ROOT/b should hold exactly what the build leaves without the shim.\n"
                                "without (%s):\n%s\nwith (%s):\n%s", ref, want, b, got);
    free(want);
    free(got);
    cr_expect_eq(count_below(f.root), 1 + count_below(b), "nothing but ROOT/b should be in the root");
    cr_expect_eq(count_records(), 0, "every process ended through the shim: no record should be left, found %d",
                 count_records());
}

/* ---- 3. git clone ---------------------------------------------------------------------------- */

static const char *const git_env_vars[] = {
    "GIT_CONFIG_NOSYSTEM=1",          "GIT_AUTHOR_NAME=tmpguard test",  "GIT_AUTHOR_EMAIL=test@example.invalid",
    "GIT_COMMITTER_NAME=tmpguard test", "GIT_COMMITTER_EMAIL=test@example.invalid", NULL};

/* The work tree of the source repository, as it is after the last commit. */
static const char *const worktree[] = {"README", "f1.txt", "f2.txt", "sub/a.txt", "sub/deep/b.txt"};
#define NWORK (sizeof worktree / sizeof worktree[0])

/* SRC, a repository with three commits, made without the shim. */
static void make_repo(const char *src)
{
    const char *const *env = env_with(git_env_vars);
    RUN(&f, 0, NULL, env, &r, "git", "init", "-q", src);
    cr_assert(exited_with(r.status, 0), "git init: %s; err: %s", describe(r.status), r.err);
    make_dir(path(src, "sub"));
    make_dir(path(src, "sub/deep"));
    for (int c = 1; c <= 3; c++) {
        for (size_t i = 0; i < NWORK; i++) {
            char text[128];
            snprintf(text, sizeof text, "%s, version %d\n", worktree[i], c);
            put(path(src, worktree[i]), text);
        }
        char msg[32];
        snprintf(msg, sizeof msg, "commit %d", c);
        RUN(&f, 0, NULL, env, &r, "git", "-C", src, "add", "-A");
        cr_assert(exited_with(r.status, 0), "git add: %s; err: %s", describe(r.status), r.err);
        RUN(&f, 0, NULL, env, &r, "git", "-C", src, "commit", "-q", "-m", msg);
        cr_assert(exited_with(r.status, 0), "git commit: %s; err: %s", describe(r.status), r.err);
    }
}

static char *file_url(const char *dir)
{
    static char url[PATHLEN + 8];
    snprintf(url, sizeof url, "file://%s", dir);
    return url;
}

/* Rule: a successful program keeps what it created in a root.  git clone runs from outside the
 * root over the file:// transport (upload-pack and index-pack as with a remote); the clone must
 * be complete and usable. */
Test(realworld, git_clone_into_root_kept)
{
    NEED("git");
    PATHVAR(src, f.out, "src");
    PATHVAR(clone, f.root, "clone");
    make_repo(src);
    const char *const *env = env_with(git_env_vars);
    RUN(&f, 1, NULL, env, &r, "git", "clone", "-q", file_url(src), clone);
    cr_assert(exited_with(r.status, 0), "git clone should succeed under the shim, it %s; err: %s", describe(r.status),
              r.err);

    RUN(&f, 0, NULL, env, &r, "git", "-C", clone, "fsck", "--full", "--strict");
    cr_expect(exited_with(r.status, 0), "git fsck of the clone should pass, it %s; out: %s err: %s",
              describe(r.status), r.out, r.err);
    RUN(&f, 0, NULL, env, &r, "git", "-C", clone, "rev-list", "--count", "HEAD");
    cr_expect(exited_with(r.status, 0) && strcmp(r.out, "3\n") == 0, "the clone should have 3 commits, says \"%s\" (%s)",
              r.out, describe(r.status));
    RUN(&f, 0, NULL, env, &r, "git", "-C", clone, "status", "--porcelain");
    cr_expect(exited_with(r.status, 0) && r.out[0] == '\0',
              "the clone's work tree should match its HEAD; git status: %s %s", r.out, r.err);
    for (size_t i = 0; i < NWORK; i++) {
        char want[128], *got = slurp(path(clone, worktree[i]));
        snprintf(want, sizeof want, "%s, version 3\n", worktree[i]);
        cr_expect(got && strcmp(got, want) == 0, "%s in the clone should hold \"%s\"", worktree[i], want);
        free(got);
    }
    cr_expect_eq(count_records(), 0, "every process ended through the shim: no record should be left, found %d",
                 count_records());
}

/* Files git writes to NAME.lock and renames into place: published, and so kept wherever they are. */
static int published_by_git(const char *rel)
{
    static const char *const exact[] = {".git/config", ".git/HEAD", ".git/index", ".git/packed-refs"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(rel, exact[i]) == 0)
            return 1;
    return strncmp(rel, ".git/refs/", 10) == 0 || strncmp(rel, ".git/objects/pack/pack-", 23) == 0;
}

static char unexpected[8192];
static size_t unexpected_len, clone_base;
static int check_left(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    if (ftw->level == 0)
        return 0;
    const char *rel = p + clone_base + 1;
    const char *why = NULL;
    if (S_ISDIR(st->st_mode)) {
        DIR *d = opendir(p);
        int n = 0;
        for (struct dirent *de; d && (de = readdir(d));)
            n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        if (d)
            closedir(d);
        if (n == 0)
            why = "an empty directory git made";
    } else if (!S_ISREG(st->st_mode) || !published_by_git(rel)) {
        why = "not a file git renamed into place";
    }
    if (why) {
        int n = snprintf(unexpected + unexpected_len, sizeof unexpected - unexpected_len, "  %s: %s\n", rel, why);
        if (n > 0 && (size_t)n < sizeof unexpected - unexpected_len)
            unexpected_len += (size_t)n;
    }
    return 0;
}

/* What a killed clone may leave in CLONE: the directory itself (named on git's command line), the
 * files git published by rename and the directories holding them; nothing of the work tree,
 * nothing git was writing, no empty directory. */
static void expect_only_published(const char *clone, const char *when)
{
    cr_expect(is_dir(clone), "%s: %s was named on git's command line and should be kept", when, clone);
    for (size_t i = 0; i < NWORK; i++)
        cr_expect_not(exists(path(clone, worktree[i])), "%s: the checked-out %s should be removed", when, worktree[i]);
    unexpected_len = 0;
    unexpected[0] = '\0';
    clone_base = strlen(clone);
    nftw(clone, check_left, 16, FTW_PHYS);
    cr_expect(unexpected_len == 0, "%s: a killed git clone should leave only what git published by rename; also "
              "left in %s:\n%s", when, clone, unexpected);
    cr_expect_eq(count_below(f.root), 1 + count_below(clone), "%s: nothing but the clone should be in the root", when);
    /* What is left is no longer anybody's: a process that ends through the shim drops its record
     * when all that remains of its entries are directories that are not empty; so must the reaper,
     * or every later `tmpguard reap` reads the record and reports those directories again. */
    struct run again;
    TOOL(&again, "reap");
    cr_expect_eq(count_records(), 0, "%s: git's record should be gone once all that is left of its entries are "
                 "directories holding published files; %d records left, and another tmpguard reap (%s) says:\n%s%s",
                 when, count_records(), describe(again.status), again.out, again.err);
}

/* Starts `git clone` (under the launcher when LAUNCHED, else under the shim) with a post-checkout
 * hook that waits, and kills git once the hook runs: git is stopped, its hook killed (so that it
 * cannot go on, and so that no live child of git holds its files: the hand-over rule), then git is
 * SIGKILLed.  Returns with the run collected in r. */
static void clone_and_kill(const char *src, const char *clone, int launched)
{
    PATHVAR(tpl, f.out, "template");
    PATHVAR(hooks, tpl, "hooks");
    PATHVAR(pidfile, f.out, "hook.pid");
    make_dir(tpl);
    make_dir(hooks);
    char *hook_src = slurp(src_path("tests/victims/rw_post_checkout.sh"));
    cr_assert(hook_src, "cannot read tests/victims/rw_post_checkout.sh");
    PATHVAR(hook, hooks, "post-checkout");
    put(hook, hook_src);
    free(hook_src);
    cr_assert(chmod(hook, 0755) == 0);

    char tplarg[PATHLEN + 16];
    snprintf(tplarg, sizeof tplarg, "--template=%s", tpl);
    const char *const *env = ENV(git_env_vars[0], git_env_vars[1], git_env_vars[2], git_env_vars[3],
                                 git_env_vars[4], kv("RW_HOOK_PIDFILE", pidfile));
    struct proc p;
    if (launched)
        proc_start(&p, &f, 0, NULL, env, &r,
                   (const char *const[]){launcher, "--", "git", "clone", "-q", tplarg, file_url(src), clone, NULL});
    else
        proc_start(&p, &f, 1, NULL, env, &r,
                   (const char *const[]){"git", "clone", "-q", tplarg, file_url(src), clone, NULL});

    char *pidtext = NULL;
    long limit = tg_limit_ms(20000);
    for (long deadline = now_ms() + limit; !(pidtext = slurp(pidfile));) {
        if (ended(&p) || now_ms() > deadline) {
            kill(p.pid, SIGKILL);
            proc_finish(&p);
            cr_assert_fail("the post-checkout hook did not run within %ld ms; git %s; err: %s", limit,
                           describe(r.status), r.err);
        }
        sleep_ms(10);
    }
    pid_t hook_pid = (pid_t)atoi(pidtext);
    free(pidtext);
    pid_t git = ppid_of(hook_pid);
    cr_assert(hook_pid > 1 && git > 1, "cannot find the hook (pid %d) and its git (pid %d)", (int)hook_pid, (int)git);
    cr_assert(launched ? ppid_of(git) == p.pid : git == p.pid,
              "the hook's parent %d should be the git clone started by the test (%s pid %d)", (int)git,
              launched ? "child of the launcher," : "", (int)p.pid);
    for (size_t i = 0; i < NWORK; i++)
        cr_assert(exists(path(clone, worktree[i])), "the work tree should be checked out when the hook runs: no %s",
                  worktree[i]);
    cr_assert(kill(git, SIGSTOP) == 0);
    cr_assert(kill(hook_pid, SIGKILL) == 0);
    wait_dead(hook_pid, "the post-checkout hook");
    cr_assert(kill(git, SIGKILL) == 0);
    proc_finish(&p);
}

/* Rule: a killed process has failed, so its other creations in a root are removed (once it is
 * gone: by the launcher when it returns); files it published by rename are no longer its own and
 * stay, with the directories that hold them. */
Test(realworld, git_clone_killed_under_launcher)
{
    NEED("git");
    PATHVAR(src, f.out, "src");
    PATHVAR(clone, f.root, "clone");
    make_repo(src);
    clone_and_kill(src, clone, 1);
    cr_expect(killed_by(r.status, SIGKILL), "the launcher should die of git's SIGKILL, it %s; err: %s",
              describe(r.status), r.err);
    expect_only_published(clone, "when the launcher returned");
}

/* The same without the launcher: git's record stays after the SIGKILL (with the work tree in
 * place), and `tmpguard reap` removes what it lists. */
Test(realworld, git_clone_killed_then_reaped)
{
    NEED("git");
    PATHVAR(src, f.out, "src");
    PATHVAR(clone, f.root, "clone");
    make_repo(src);
    clone_and_kill(src, clone, 0);
    cr_assert(killed_by(r.status, SIGKILL), "git should die of SIGKILL, it %s; err: %s", describe(r.status), r.err);
    cr_assert(exists(path(clone, worktree[0])), "the SIGKILLed clone's work tree should still be there before the "
              "reap (no handler runs on SIGKILL)");
    cr_assert(count_records() >= 1, "the SIGKILLed git should have left its record in %s", f.state);
    struct run reap;
    TOOL(&reap, "reap");
    cr_expect(exited_with(reap.status, 0), "tmpguard reap should exit 0, it %s; err: %s", describe(reap.status),
              reap.err);
    expect_only_published(clone, "after tmpguard reap");
}

/* ---- 4. ssh-agent ---------------------------------------------------------------------------- */

struct agent {
    char sock[PATHLEN];
    char dir[PATHLEN];
    pid_t pid;
};

/* Runs `tmpguard [LOGOPTS] -- AGENT -s` and reads the variables it prints. */
static void start_agent(struct agent *a, const char *bin, const char *const *env, int debug_log)
{
    if (debug_log)
        RUN(&f, 0, NULL, env, &r, launcher, "--log", "debug", "--", bin, "-s");
    else
        RUN(&f, 0, NULL, env, &r, launcher, "--", bin, "-s");
    const char *s = strstr(r.out, "SSH_AUTH_SOCK="), *p = strstr(r.out, "SSH_AGENT_PID=");
    int pid = 0;
    if (p)
        sscanf(p, "SSH_AGENT_PID=%d;", &pid);
    a->pid = pid;
    agent_pid = pid > 1 ? pid : 0;
    cr_assert(exited_with(r.status, 0), "tmpguard -- ssh-agent -s should exit 0, it %s; err: %s", describe(r.status),
              r.err);
    cr_assert(s && pid > 1, "ssh-agent -s should print SSH_AUTH_SOCK and SSH_AGENT_PID; out: %s", r.out);
    size_t l = strcspn(s + 14, ";\n");
    cr_assert(l > 0 && l < sizeof a->sock);
    snprintf(a->sock, sizeof a->sock, "%.*s", (int)l, s + 14);
    snprintf(a->dir, sizeof a->dir, "%s", a->sock);
    char *slash = strrchr(a->dir, '/');
    cr_assert(slash && slash != a->dir, "SSH_AUTH_SOCK %s has no directory", a->sock);
    *slash = '\0';
}

/* The socket works 3 s after the launcher returned, and after a `tmpguard reap`: ssh-add reaches
 * the agent ("no identities", exit 1), not "Could not open a connection" / "Error connecting" (2). */
static void expect_agent_answers(const struct agent *a, long started)
{
    struct run reap;
    TOOL(&reap, "reap");
    cr_expect(exited_with(reap.status, 0), "tmpguard reap %s; err: %s", describe(reap.status), reap.err);
    long wait = started + 3000 - now_ms();
    if (wait > 0)
        sleep_ms(wait);
    cr_expect(exists(a->sock), "the agent's socket %s should still exist 3 s after the launcher returned and "
              "after a reap; reap said: %s", a->sock, reap.out);
    RUN(&f, 0, NULL, ENV(kv("SSH_AUTH_SOCK", a->sock)), &r, "ssh-add", "-l");
    cr_expect(exited_with(r.status, 1) && (strstr(r.out, "no identities") || strstr(r.err, "no identities")),
              "ssh-add -l should reach the agent and hear \"The agent has no identities.\" (exit 1); it %s, out: "
              "%s err: %s", describe(r.status), r.out, r.err);
}

/* `ssh-agent -k`, then the agent is gone and so is its directory. */
static void kill_agent(struct agent *a, const char *bin)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)a->pid);
    RUN(&f, 1, NULL, ENV(kv("SSH_AGENT_PID", pid), kv("SSH_AUTH_SOCK", a->sock)), &r, bin, "-k");
    cr_expect(exited_with(r.status, 0), "ssh-agent -k should exit 0, it %s; err: %s", describe(r.status), r.err);
    wait_dead(a->pid, "the agent after ssh-agent -k");
    agent_pid = 0;
    long deadline = now_ms() + tg_limit_ms(5000);
    while (exists(a->dir) && now_ms() < deadline)
        sleep_ms(10);
    cr_expect_not(exists(a->dir), "after ssh-agent -k the agent's directory %s should be gone", a->dir);
}

/* Rule: a process's creations go when it fails, and are kept when it succeeds: ssh-agent makes its
 * socket directory (OpenSSH's own mkdtemp, a plain mkdir) in TMPDIR, forks, and the parent exits
 * 0, so the launcher returns at once; neither its reap nor a later one may take the directory
 * from the agent that lives on.  The installed ssh-agent is set-group-id on Debian: then glibc
 * ignores LD_PRELOAD and TMPDIR (secure mode) and the shim never loads, which is why this test
 * runs an ordinary copy of it, as distributions that install it without privileges do. */
Test(realworld, ssh_agent_under_launcher_keeps_its_socket)
{
    NEED("ssh-agent");
    NEED("ssh-add");
    PATHVAR(copy, f.out, "ssh-agent");
    RUN(&f, 0, NULL, NULL, &r, "cp", find_in_path("ssh-agent"), copy);
    cr_assert(exited_with(r.status, 0) && chmod(copy, 0755) == 0, "cannot copy ssh-agent: %s", r.err);
    PATHVAR(log, f.out, "tg.log");
    struct agent a;
    start_agent(&a, copy, ENV(kv("TMPGUARD_LOG_FILE", log)), 1);
    long started = now_ms();
    char under[PATHLEN + 2];
    snprintf(under, sizeof under, "%s/", f.root);
    cr_expect(strncmp(a.sock, under, strlen(under)) == 0, "the agent's socket %s should be in TMPDIR, the root %s",
              a.sock, f.root);
    /* The shim did see the directory being made (and did not take it). */
    char *text = slurp(log), want[PATHLEN + 16];
    snprintf(want, sizeof want, "tracking %s\n", a.dir);
    cr_expect(text && strstr(text, want), "the shim should have tracked %s; its log: %s", a.dir, text ? text : "(none)");
    free(text);
    expect_agent_answers(&a, started);
    kill_agent(&a, copy);
    cr_expect_eq(count_below(f.root), 0, "nothing should be left in the root, found %d entries", count_below(f.root));
    cr_expect_eq(count_records(), 0, "no record should be left, found %d", count_records());
}

/* The installed ssh-agent as users run it (`eval $(tmpguard -- ssh-agent -s)`), privileged or not:
 * its socket works after the launcher returned, and `ssh-agent -k` cleans up. */
Test(realworld, ssh_agent_installed_under_launcher)
{
    NEED("ssh-agent");
    NEED("ssh-add");
    struct agent a;
    start_agent(&a, "ssh-agent", env_with(NULL), 0);
    long started = now_ms();
    expect_agent_answers(&a, started);
    kill_agent(&a, "ssh-agent");
    cr_expect_eq(count_records(), 0, "no record should be left, found %d", count_records());
}
