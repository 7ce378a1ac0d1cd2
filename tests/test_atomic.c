/* Atomic writes for unmodified programs (TMPGUARD_ATOMIC): a program killed, failing or out of
 * disk while it rewrites a file leaves the old content whole; a complete rewrite replaces the file
 * in one rename (new inode, old mode and owner); concurrent writers never tear what a reader sees;
 * what must stay in place (appends, updates, hard links, a path no pattern covers) stays in place.
 * Real programs: tests/victims/writer.c (fopen, open, write), Python (tests/victims/atomic_race.py
 * and inline), sh, under the raw preload, the launcher and the reaper. */
#include <dirent.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct fx f;
static struct run r;
static char data[400], target[450], env_atomic[480];
static const char *env[] = {env_atomic, NULL, NULL};

static void setup(void)
{
    fx_setup(&f);
    /* Outside every temp root, as the files programs rewrite are. */
    snprintf(data, sizeof data, "%s/data", f.out);
    snprintf(target, sizeof target, "%s/cfg.json", data);
    snprintf(env_atomic, sizeof env_atomic, "TMPGUARD_ATOMIC=%s/", data);
    cr_assert(mkdir(data, 0755) == 0);
    env[1] = NULL;
}
static void teardown(void)
{
    kill_leftovers(&f);
    umount2(data, MNT_DETACH); /* the disk-full test's tmpfs, if it is there */
    fx_teardown(&f);
}
TestSuite(atomic, .init = setup, .fini = teardown, .timeout = 300);

static const char *writer(void)
{
    const char *v = getenv("TG_WRITER");
    cr_assert(v && *v, "TG_WRITER is not set: run the tests with meson test");
    return v;
}

static ino_t inode(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0 ? st.st_ino : 0;
}

/* The content of P, which must be TEXT exactly. */
static void content_is(const char *p, const char *text, const char *what)
{
    char *got = slurp(p);
    cr_assert(got, "%s: %s is gone", what, p);
    cr_expect(strcmp(got, text) == 0, "%s: %s holds %zu bytes \"%.60s\", not \"%.60s\"", what, p, strlen(got), got,
              text);
    free(got);
}

/* The data directory holds the target alone (no staged file left). */
static void only_target(const char *what)
{
    cr_expect_eq(count_below(data), 1, "%s: %d entries in the data directory, not just the target", what,
                 count_below(data));
}

static void old(void) { put(target, "{\"old\": true}\n"); }

/* ---- killed, failed, complete ------------------------------------------------------------ */

/* Python rewrites 1 MB and is killed halfway: the target keeps its exact old content, and the
 * staged file goes with the reap (raw preload) or when the launcher returns. */
static void python_killed(int launched)
{
    old();
    struct proc p;
    char code[600];
    snprintf(code, sizeof code,
             "import os, sys, time\n"
             "with open(%s, 'w') as f:\n"
             "    f.write('x' * 524288); f.flush()\n"
             "    print('ready', flush=True)\n"
             "    time.sleep(60)\n"
             "    f.write('y' * 524288)\n",
             "sys.argv[1]");
    if (launched)
        proc_start(&p, &f, 0, NULL, NULL, &r,
                   (const char *const[]){src_path("scripts/tmpguard"), "--atomic", env_atomic + 16, "--", "python3",
                                         "-c", code, target, NULL});
    else
        proc_start(&p, &f, 1, NULL, env, &r, (const char *const[]){"python3", "-c", code, target, NULL});
    proc_wait_line(&p, "ready");
    content_is(target, "{\"old\": true}\n", "while the rewrite is under way");
    if (launched) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "pkill -KILL -P %d -x python3", (int)p.pid);
        cr_assert(system(cmd) == 0, "no python3 under the launcher");
    } else {
        kill(p.pid, SIGKILL);
    }
    proc_finish(&p);
    content_is(target, "{\"old\": true}\n", "killed midway");
    if (!launched) {
        RUN(&f, 0, NULL, NULL, &r, src_path("scripts/tmpguard"), "reap");
        cr_assert(exited_with(r.status, 0), "reap: %s %s", r.out, r.err);
    }
    only_target("after the reap");
}

Test(atomic, python_killed_midway_keeps_the_old_content) { python_killed(0); }
Test(atomic, python_killed_under_the_launcher) { python_killed(1); }

/* A shell's redirection: "echo fresh > cfg.json" commits; a block killed inside its redirection
 * leaves what was there. */
Test(atomic, shell_redirection)
{
    skip_under_musl("sh");
    old();
    char cmd[800];
    snprintf(cmd, sizeof cmd, "echo fresh > '%s'", target);
    RUN(&f, 1, NULL, env, &r, "sh", "-c", cmd);
    cr_assert(exited_with(r.status, 0), "%s: %s", describe(r.status), r.err);
    content_is(target, "fresh\n", "echo fresh > cfg.json");
    only_target("after the echo");
    snprintf(cmd, sizeof cmd, "{ printf partial; kill -9 $$; } > '%s'", target);
    RUN(&f, 1, NULL, env, &r, "sh", "-c", cmd);
    cr_assert(killed_by(r.status, SIGKILL), "%s", describe(r.status));
    content_is(target, "fresh\n", "a shell killed inside its redirection");
    RUN(&f, 0, NULL, NULL, &r, src_path("scripts/tmpguard"), "reap");
    only_target("after the reap");
}

/* fopen("w") in C, killed midway. */
Test(atomic, c_fopen_killed_midway)
{
    old();
    struct proc p;
    proc_start(&p, &f, 1, NULL, env, &r, (const char *const[]){writer(), "fopen", target, "100000", "hold", NULL});
    proc_wait_line(&p, "ready");
    kill(p.pid, SIGKILL);
    proc_finish(&p);
    content_is(target, "{\"old\": true}\n", "fopen killed midway");
}

/* A complete rewrite: the new content, the old mode and owner, a new inode (it was staged). */
Test(atomic, complete_write_keeps_mode_and_owner)
{
    old();
    cr_assert(chmod(target, 0640) == 0);
    int owned = geteuid() == 0 && chown(target, 4321, 4322) == 0;
    ino_t before = inode(target);
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", target, "5");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    content_is(target, "nnnnn", "a complete write");
    struct stat st;
    cr_assert(stat(target, &st) == 0);
    cr_expect_eq(st.st_mode & 07777, 0640, "mode %o", st.st_mode & 07777);
    if (owned)
        cr_expect(st.st_uid == 4321 && st.st_gid == 4322, "owner %d:%d", (int)st.st_uid, (int)st.st_gid);
    cr_expect_neq(st.st_ino, before, "the same inode: the file was written in place, not staged");
    only_target("after a complete write");
}

/* The program fails with the file open: the old content; closed, then failed: the new one (it was
 * complete); with TMPGUARD_ATOMIC_COMMIT=success, no failure commits anything. */
Test(atomic, failure_while_open_and_after_close)
{
    old();
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", target, "7", "exit1");
    cr_assert(exited_with(r.status, 1), "%s", describe(r.status));
    content_is(target, "{\"old\": true}\n", "exit 1 with the file open");
    only_target("after a failure with the file open");
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", target, "7", "close-exit1");
    cr_assert(exited_with(r.status, 1), "%s", describe(r.status));
    content_is(target, "nnnnnnn", "closed, then exit 1");
    old();
    env[1] = "TMPGUARD_ATOMIC_COMMIT=success";
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", target, "7", "close-exit1");
    content_is(target, "{\"old\": true}\n", "commit on success, closed, then exit 1");
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", target, "3");
    content_is(target, "nnn", "commit on success, exit 0");
    only_target("after the commits on success");
}

/* ---- readers and writers --------------------------------------------------------------------- */

/* 4 writer processes rewrite one 256 KB file 40 times each, in pieces, while a reader reads it 400
 * times: every read is one writer's whole version (without the shim, reads are torn). */
Test(atomic, concurrent_writers_never_tear_a_read)
{
    enum { WRITERS = 4 };
    char size[] = "262144";
    const char *py = src_path("tests/victims/atomic_race.py");
    struct proc w[WRITERS], rd;
    static struct run wr[WRITERS], rr;
    char id[WRITERS][4];
    RUN(&f, 1, NULL, env, &r, "python3", py, "write", target, "1", size, "0");
    cr_assert(exited_with(r.status, 0), "%s", r.err);
    proc_start(&rd, &f, 1, NULL, env, &rr, (const char *const[]){"python3", py, "read", target, "400", size, NULL});
    for (int i = 0; i < WRITERS; i++) {
        snprintf(id[i], sizeof id[i], "%d", i + 1);
        proc_start(&w[i], &f, 1, NULL, env, &wr[i],
                   (const char *const[]){"python3", py, "write", target, "40", size, id[i], NULL});
    }
    for (int i = 0; i < WRITERS; i++) {
        proc_finish(&w[i]);
        cr_expect(exited_with(wr[i].status, 0), "writer %d: %s %s", i, describe(wr[i].status), wr[i].err);
    }
    proc_finish(&rd);
    int torn = -1, reads = 0;
    cr_assert(sscanf(rr.out, "torn %d of %d", &torn, &reads) == 2, "the reader said: %s %s", rr.out, rr.err);
    cr_expect(reads > 0, "nothing was read");
    cr_expect_eq(torn, 0, "%d of %d reads were torn", torn, reads);
    only_target("after the writers");
}

/* The program reads its own writes by name before it closes. */
Test(atomic, read_your_writes)
{
    old();
    RUN(&f, 1, NULL, env, &r, writer(), "readback", target);
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    cr_expect(strstr(r.out, "read back: new\n") != NULL, "%s", r.out);
    content_is(target, "new", "after the close");
}

/* ---- what stays in place ------------------------------------------------------------------- */

Test(atomic, symlinked_target_stays_a_link)
{
    char real[500], link[500];
    snprintf(real, sizeof real, "%s/real.json", data);
    snprintf(link, sizeof link, "%s/link.json", data);
    put(real, "old\n");
    cr_assert(symlink("real.json", link) == 0);
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", link, "4");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    struct stat st;
    cr_assert(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced by a file");
    content_is(real, "nnnn", "the link's file");
    cr_expect_eq(count_below(data), 2, "%d entries", count_below(data));
}

Test(atomic, hard_linked_target_is_written_in_place)
{
    char other[500];
    old();
    snprintf(other, sizeof other, "%s/other-name.json", data);
    cr_assert(link(target, other) == 0);
    ino_t before = inode(target);
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", target, "4");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    struct stat st;
    cr_assert(stat(target, &st) == 0);
    cr_expect_eq(st.st_ino, before, "a hard-linked file was replaced: the link is broken");
    cr_expect_eq(st.st_nlink, 2, "links: %d", (int)st.st_nlink);
    content_is(other, "nnnn", "the other name");
}

/* What getfacl and the user attribute say of P, in one string. */
static char *acl_and_tag(const char *p)
{
    static char both[2][2048];
    static int k;
    char cmd[1500];
    int n = snprintf(cmd, sizeof cmd,
                     "getfacl -cp '%s'; python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], \"user.tag\"))' '%s'",
                     p, p);
    cr_assert(n > 0 && (size_t)n < sizeof cmd);
    RUN(&f, 0, NULL, NULL, &r, "sh", "-c", cmd);
    k ^= 1;
    n = snprintf(both[k], sizeof both[k], "%s", r.out);
    cr_assert(n >= 0 && (size_t)n < sizeof both[k], "getfacl said too much: %s", r.out);
    return both[k];
}

/* A rename would drop the target's extended attributes: its ACL and the user's own attribute are
 * the staged file's too, and a default ACL of the directory that the target does not have is not. */
Test(atomic, acl_and_xattrs_kept)
{
    if (system("command -v setfacl >/dev/null && command -v getfacl >/dev/null") != 0)
        cr_skip_test("setfacl and getfacl (Debian's acl) are needed");
    old();
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "setfacl -m u:nobody:r '%s' && python3 -c 'import os,sys; os.setxattr(sys.argv[1], \"user.tag\", b\"keep\")' "
             "'%s'",
             target, target);
    RUN(&f, 0, NULL, NULL, &r, "sh", "-c", cmd);
    if (!exited_with(r.status, 0))
        cr_skip_test("this file system keeps no ACL or user attribute: %s", r.err);
    char before[2048];
    int n = snprintf(before, sizeof before, "%s", acl_and_tag(target));
    cr_assert(n >= 0 && (size_t)n < sizeof before);
    cr_assert(strstr(before, "user:nobody:r--") && strstr(before, "keep"), "%s", before);
    ino_t was = inode(target);
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", target, "4");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    cr_expect_neq(inode(target), was, "written in place: the test proves nothing");
    cr_expect_str_eq(acl_and_tag(target), before, "the attributes changed with the rewrite");
    /* A default ACL on the directory, a target with none: the rewrite has none either. */
    char plain[500];
    snprintf(plain, sizeof plain, "%s/plain.json", data);
    put(plain, "x");
    snprintf(cmd, sizeof cmd, "setfacl -d -m u:nobody:rw '%s' && getfacl -cp '%s'", data, plain);
    RUN(&f, 0, NULL, NULL, &r, "sh", "-c", cmd);
    cr_assert(exited_with(r.status, 0) && !strstr(r.out, "nobody"), "%s %s", r.out, r.err);
    char plain_before[2048];
    n = snprintf(plain_before, sizeof plain_before, "%s", r.out);
    cr_assert(n >= 0 && (size_t)n < sizeof plain_before);
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", plain, "4");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    snprintf(cmd, sizeof cmd, "getfacl -cp '%s'", plain);
    RUN(&f, 0, NULL, NULL, &r, "sh", "-c", cmd);
    cr_expect_str_eq(r.out, plain_before, "the directory's default ACL came with the rewrite");
}

/* A set-user-ID file is written in place: a write drops the bit for a process without CAP_FSETID,
 * which a new file given the old mode would keep. */
Test(atomic, set_user_id_target_is_written_in_place)
{
    old();
    cr_assert(chmod(target, 04755) == 0);
    ino_t before = inode(target);
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", target, "4");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    cr_expect_eq(inode(target), before, "a set-user-ID file was staged and replaced");
    content_is(target, "nnnn", "written in place");
}

/* A bind-mounted file (a container's config, a systemd BindPaths= file): a rename over a mount point
 * fails with EBUSY, so it is written in place, through the mount, as without the shim. */
Test(atomic, bind_mounted_target_is_written_in_place)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to bind-mount a file");
    char source[500];
    old();
    snprintf(source, sizeof source, "%s/bound-source.json", f.out);
    put(source, "{\"bound\": true}\n");
    cr_assert(mount(source, target, NULL, MS_BIND, NULL) == 0, "mount --bind: %s", strerror(errno));
    ino_t before = inode(target);
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", target, "4");
    int unmounted = umount2(target, MNT_DETACH) == 0;
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    cr_expect_eq(before, inode(source), "the mount did not take");
    content_is(source, "nnnn", "the bound file, written through the mount");
    cr_expect(unmounted, "the mount point was replaced (umount: %s)", strerror(errno));
    only_target("after writing a bind-mounted file");
}

Test(atomic, outside_the_patterns_in_place)
{
    char elsewhere[500];
    snprintf(elsewhere, sizeof elsewhere, "%s/not-covered.json", f.out);
    put(elsewhere, "old\n");
    ino_t before = inode(elsewhere);
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", elsewhere, "4");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    cr_expect_eq(inode(elsewhere), before, "a path no pattern covers was staged");
    content_is(elsewhere, "nnnn", "in place");
}

Test(atomic, append_and_update_in_place)
{
    old();
    ino_t before = inode(target);
    RUN(&f, 1, NULL, env, &r, writer(), "append", target);
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    RUN(&f, 1, NULL, env, &r, writer(), "update", target);
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    cr_expect_eq(inode(target), before, "an append or an update was staged");
    content_is(target, "UPDld\": true}\n+appended", "appended, then updated in place");
}

/* Where the program may not create a file beside the target, its own open runs: a writable file in
 * a directory it cannot write is written in place; a new file there fails with the errno it gets
 * without the shim. */
Test(atomic, no_sibling_the_programs_own_open)
{
    cr_assert(system("command -v setpriv >/dev/null") == 0, "setpriv (util-linux) is needed");
    if (geteuid() != 0)
        cr_skip_test("needs root to run the writer as another user");
    old();
    cr_assert(chmod(target, 0666) == 0 && chmod(data, 0755) == 0 && chmod(f.out, 0755) == 0 && chmod(f.base, 0755) == 0);
    ino_t before = inode(target);
    char fresh[500];
    snprintf(fresh, sizeof fresh, "%s/new.json", data);
    RUN(&f, 1, NULL, env, &r, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", writer(), "fopen",
        target, "4");
    cr_assert(exited_with(r.status, 0), "%s %s %s", describe(r.status), r.out, r.err);
    cr_expect_eq(inode(target), before, "staged without a way to create beside it?");
    content_is(target, "nnnn", "written in place");
    struct run without;
    RUN(&f, 0, NULL, NULL, &without, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", writer(),
        "create", fresh);
    RUN(&f, 1, NULL, env, &r, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", writer(), "create",
        fresh);
    cr_expect_str_eq(r.out, without.out, "with the shim: %s, without: %s", r.out, without.out);
    cr_expect(strstr(without.out, "errno 13") != NULL, "without the shim: %s", without.out);
}

/* The disk fills while the new version is written: the write fails as it does, and the target keeps
 * its old content (a tmpfs of 1 MB, a 600 KB target rewritten with 800 KB). */
Test(atomic, disk_full_keeps_the_old_content)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to mount a small tmpfs");
    cr_assert(mount("tgtest", data, "tmpfs", 0, "size=1m,mode=0755") == 0, "mount: %s", strerror(errno));
    RUN(&f, 0, NULL, NULL, &r, writer(), "fill", target, "614400");
    cr_assert(exited_with(r.status, 0), "the 600 KB target: %s %s", r.out, r.err);
    RUN(&f, 1, NULL, env, &r, writer(), "fill", target, "819200");
    cr_expect(exited_with(r.status, 1) && strstr(r.out, "write failed: ENOSPC"), "%s: %s %s", describe(r.status),
              r.out, r.err);
    struct stat st;
    cr_assert(stat(target, &st) == 0);
    cr_expect_eq(st.st_size, 614400, "the target has %lld bytes, not its old 614400", (long long)st.st_size);
    only_target("after the disk filled");
}

/* freopen(PATH, "w", stdout), as programs that redirect their own output do: staged on the stream's
 * own descriptor, committed at its fclose; a failure with it open leaves the old content. */
Test(atomic, freopen_is_staged)
{
    old();
    ino_t before = inode(target);
    RUN(&f, 1, NULL, env, &r, writer(), "freopen", target, "exit1");
    cr_assert(exited_with(r.status, 1), "%s: %s", describe(r.status), r.err);
    content_is(target, "{\"old\": true}\n", "freopen, then exit 1 with the stream open");
    only_target("after the failure");
    RUN(&f, 1, NULL, env, &r, writer(), "freopen", target);
    cr_assert(exited_with(r.status, 0), "%s: %s", describe(r.status), r.err);
    content_is(target, "fresh\n", "freopen, then fclose");
    cr_expect_neq(inode(target), before, "the target was written in place, not staged");
    only_target("after the commit");
}

/* 8 threads of one process rewriting two targets at once, by open/write/close, fopen/fclose and a
 * descriptor moved to another number: each target is one thread's whole version, and nothing else
 * is left.  (Under ThreadSanitizer too: the suite tsan-atomic.) */
Test(atomic, threads_rewrite_at_once)
{
    const char *rounds = getenv("TG_ATOMIC_ROUNDS");
    RUN(&f, 1, NULL, env, &r, writer(), "threads", data, "8", rounds && *rounds ? rounds : "50");
    cr_assert(exited_with(r.status, 0), "%s: %s %s", describe(r.status), r.out, r.err);
    cr_expect_str_eq(r.out, "whole\n");
    cr_expect_eq(count_below(data), 2, "%d entries in the data directory, not the two targets", count_below(data));
}

/* The staged file replaced by another inode before the close (someone renamed their own file onto
 * its name): that file is never renamed over the target, nor removed; the target keeps its content. */
Test(atomic, staged_file_replaced_is_not_committed)
{
    old();
    char go[500], code[900];
    snprintf(go, sizeof go, "%s/go", f.out);
    snprintf(code, sizeof code,
             "import os, sys, time\n"
             "f = open(sys.argv[1], 'w'); f.write('mine'); f.flush()\n"
             "print('ready', flush=True)\n"
             "for _ in range(6000):\n"
             "    if os.path.exists(sys.argv[2]): break\n"
             "    time.sleep(0.01)\n"
             "f.close()\n");
    struct proc p;
    proc_start(&p, &f, 1, NULL, env, &r, (const char *const[]){"python3", "-c", code, target, go, NULL});
    proc_wait_line(&p, "ready");
    /* The staged file: the one entry beside the target. */
    char staged[600] = "";
    DIR *d = opendir(data);
    cr_assert(d);
    for (struct dirent *de; (de = readdir(d));)
        if (strstr(de->d_name, ".tmpguard-"))
            cr_assert(snprintf(staged, sizeof staged, "%s/%s", data, de->d_name) < (int)sizeof staged);
    closedir(d);
    cr_assert(staged[0], "no staged file beside the target");
    char intruder[600];
    snprintf(intruder, sizeof intruder, "%s/intruder", data);
    put(intruder, "not yours");
    cr_assert(rename(intruder, staged) == 0, "rename: %s", strerror(errno));
    put(go, "");
    proc_finish(&p);
    cr_assert(exited_with(r.status, 0), "%s: %s", describe(r.status), r.err);
    content_is(target, "{\"old\": true}\n", "a staged name that names another file now");
    content_is(staged, "not yours", "the file put in its place");
}

/* The commit itself fails (the target became a directory while the file was written): the close
 * says so with the rename's errno, and the staged file is gone. */
Test(atomic, commit_failure_is_the_close_s_error)
{
    old();
    RUN(&f, 1, NULL, env, &r, writer(), "dirswap", target);
    cr_assert(exited_with(r.status, 0), "%s: %s %s", describe(r.status), r.out, r.err);
    cr_expect_str_eq(r.out, "close: -1 EISDIR\n", "the close did not report the failed commit");
    struct stat st;
    cr_expect(lstat(target, &st) == 0 && S_ISDIR(st.st_mode), "the program's directory is not there");
    only_target("after a failed commit");
}

/* The first .rec in the state directory, read whole into BUF (its length). */
static size_t the_record(char *name, size_t namesz, char **buf)
{
    DIR *d = opendir(f.state);
    cr_assert(d, "%s: %s", f.state, strerror(errno));
    name[0] = '\0';
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".rec"))
            snprintf(name, namesz, "%s/%s", f.state, de->d_name);
    }
    closedir(d);
    cr_assert(name[0], "no record in %s", f.state);
    *buf = slurp(name);
    cr_assert(*buf);
    struct stat st;
    cr_assert(stat(name, &st) == 0);
    return (size_t)st.st_size;
}

/* A record whose staged entry lies beside no target of its own patterns (an attacker pointing the
 * reaper at some file outside the temp roots in the staging name's form): refused whole, the file
 * kept.  Put back as it was written, the same record is reaped: the refusal was the pattern's. */
Test(atomic, reaper_refuses_a_staged_entry_outside_the_record_s_patterns)
{
    old();
    struct proc p;
    proc_start(&p, &f, 1, NULL, env, &r, (const char *const[]){writer(), "fopen", target, "1000", "hold", NULL});
    proc_wait_line(&p, "ready");
    kill(p.pid, SIGKILL);
    proc_finish(&p);
    cr_assert_eq(count_below(data), 2, "no staged file beside the target");
    char rec[700], *buf;
    size_t len = the_record(rec, sizeof rec, &buf);
    char pattern[500];
    snprintf(pattern, sizeof pattern, "%s/", data);
    char *at = memmem(buf, len, pattern, strlen(pattern));
    cr_assert(at, "the record does not hold its pattern %s", pattern);
    off_t where = (off_t)(at - buf) + (off_t)strlen(pattern) - 2; /* the last letter of ".../data" */
    int fd = open(rec, O_WRONLY);
    cr_assert(fd >= 0);
    cr_assert(pwrite(fd, "b", 1, where) == 1); /* now .../datb/: the staged file is beside no target of it */
    RUN(&f, 0, NULL, NULL, &r, src_path("scripts/tmpguard"), "reap");
    cr_expect(exited_with(r.status, 1), "reap of a hostile record: %s %s %s", describe(r.status), r.out, r.err);
    cr_expect(strstr(r.err, "staged entry not beside a target"), "no word of the refusal: %s", r.err);
    cr_expect_eq(count_below(data), 2, "the staged file named by a record whose patterns do not cover it was removed");
    cr_assert(pwrite(fd, at + strlen(pattern) - 2, 1, where) == 1); /* put back */
    close(fd);
    free(buf);
    RUN(&f, 0, NULL, NULL, &r, src_path("scripts/tmpguard"), "reap");
    cr_expect(exited_with(r.status, 0), "reap of the record as written: %s %s", describe(r.status), r.err);
    content_is(target, "{\"old\": true}\n", "after the reap");
    only_target("after the reap of the record as written");
}

Test(atomic, malformed_pattern_one_line_and_ignored)
{
    old();
    char both[600];
    snprintf(both, sizeof both, "TMPGUARD_ATOMIC=relative/dir:%s/", data);
    env[0] = both;
    ino_t before = inode(target);
    RUN(&f, 1, NULL, env, &r, writer(), "fopen", target, "2");
    cr_assert(exited_with(r.status, 0), "%s %s", describe(r.status), r.err);
    cr_expect(strstr(r.err, "TMPGUARD_ATOMIC") && strstr(r.err, "relative/dir"), "no line naming it: %s", r.err);
    cr_expect_neq(inode(target), before, "the good pattern was dropped with the bad one");
    env[0] = env_atomic;
}
