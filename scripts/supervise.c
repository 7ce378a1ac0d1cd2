/* `tmpguard -- COMMAND`: runs COMMAND under the shim as a supervised child.  Signals are forwarded
 * to it, the records of its dead descendants are reaped every two seconds (a worker killed by the
 * OOM killer inside a long-running service goes within seconds), all of its tree's records when it
 * ends, and the launcher exits as COMMAND did. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "log.h"
#include "proc.h"
#include "recread.h"
#include "tool.h"

/* How often the records of dead descendants are reaped while COMMAND runs. */
#define REAP_EVERY_S 2
/* After COMMAND ends, descendants killed with it may still be dying (a process freeing a large heap
 * takes a while): their records are taken as they finish, looking every 100 ms, for at most this
 * long. */
#define DYING_WAIT_MS 10000

/* Is PID on its way out: exiting already, or with a SIGKILL pending? */
static int dying(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int out = 0;
    while (!out && fgets(line, sizeof line, f)) {
        unsigned long long mask;
        char state;
        if (sscanf(line, "State: %c", &state) == 1)
            out = state == 'Z' || state == 'X';
        else if (sscanf(line, "ShdPnd: %llx", &mask) == 1 || sscanf(line, "SigPnd: %llx", &mask) == 1)
            out = (mask >> (SIGKILL - 1)) & 1;
    }
    fclose(f);
    if (!out) {
        /* PF_EXITING in the flags field (the 9th of /proc/PID/stat). */
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        f = fopen(path, "r");
        char buf[1024];
        if (f && fgets(buf, sizeof buf, f)) {
            char *p = strrchr(buf, ')');
            unsigned long flags;
            if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags) == 1)
                out = (flags & 0x4) != 0;
        }
        if (f)
            fclose(f);
    }
    return out;
}

/* What is left of this launcher's tree in the state directory: TREE_GONE (no record of a living
 * process), TREE_LIVE (records of living processes, none seen dying) or TREE_DYING (one of them is
 * on its way out). */
enum { TREE_GONE, TREE_LIVE, TREE_DYING };
static int tree_state(struct tool *t)
{
    static char buf[16384];
    int dfd = tool_open_state_dir(t, 1), found = TREE_GONE;
    if (dfd < 0)
        return TREE_GONE;
    DIR *d = fdopendir(dup(dfd));
    for (struct dirent *de; d && found != TREE_DYING && (de = readdir(d));) {
        struct tg_rec_reader r;
        if (!tool_is_record_name(de->d_name))
            continue; /* ".", "..", markers: nothing was opened for them */
        if (tg_rr_open_header(&r, dfd, de->d_name, buf, sizeof buf) == 0) {
            struct tg_proc_id owner = {.pid = r.h.pid, .gen = 0, .start_ticks = r.h.start_ticks};
            if ((!t->only_supervisor.pid || (r.h.supervisor.pid == t->only_supervisor.pid &&
                                              r.h.supervisor.start_ticks == t->only_supervisor.start_ticks)) &&
                tg_proc_alive(&owner))
                found = dying(r.h.pid) ? TREE_DYING : TREE_LIVE;
        }
        tg_rr_close(&r);
    }
    if (d)
        closedir(d);
    close(dfd);
    return found;
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

int tool_run(struct tool *t, const char *lib, char **argv)
{
    /* The command's output is the user's: the launcher reports only when asked to log. */
    t->say = tg_log_level >= TG_LOG_INFO ? stderr : NULL;
    pid_t self = getpid();
    struct tg_proc_id me = {.pid = self, .gen = 0, .start_ticks = tg_proc_start_ticks(self)};
    char tag[64];
    snprintf(tag, sizeof tag, "%d:%llu", (int)self, (unsigned long long)me.start_ticks);
    setenv("TMPGUARD_SUPERVISOR", tag, 1);
    t->only_supervisor = me;

    sigset_t set, old;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(&set, forwarded[i]);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);

    pid_t child = fork();
    if (child < 0) {
        perror("tmpguard: fork");
        return 127;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        /* The caller's own preload, which the launcher kept out of its own way. */
        const char *pre = getenv("TMPGUARD_OUTER_PRELOAD");
        char *both = malloc(strlen(lib) + (pre ? strlen(pre) : 0) + 2);
        sprintf(both, pre && *pre ? "%s:%s" : "%s", lib, pre);
        setenv("LD_PRELOAD", both, 1);
        unsetenv("TMPGUARD_OUTER_PRELOAD");
        execvp(argv[0], argv);
        fprintf(stderr, "tmpguard: %s: %s\n", argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }

    int status = 0;
    struct timespec tick = {REAP_EVERY_S, 0};
    for (;;) {
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &tick);
        if (sig == SIGCHLD || sig < 0) {
            pid_t w = waitpid(child, &status, WNOHANG);
            if (w == child)
                break;
            if (sig < 0)
                tool_reap_all(t, 1); /* a worker killed by the OOM killer goes now */
        } else {
            kill(child, sig);
        }
    }
    /* The command is over: whatever its tree left in records is due now, also that of descendants
     * still dying. */
    struct timespec pause = {0, 100 * 1000 * 1000};
    int looked_again = 0;
    for (int waited = 0; waited <= DYING_WAIT_MS; waited += 100) {
        tool_reap_all(t, 1);
        int left = tree_state(t);
        if (left == TREE_GONE || (left == TREE_LIVE && looked_again))
            break;
        /* A process SIGKILLed with the command (`timeout -s KILL` kills its whole group) shows
         * nothing of it between taking the signal and starting to exit: a living one is looked at
         * once more, a pause later, before it is taken to live on (a daemon the tree left). */
        looked_again = left == TREE_LIVE;
        nanosleep(&pause, NULL);
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore); /* the command dumped its core already, if any */
        signal(sig, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        raise(sig); /* blocked since the start: pending until the line below (raise returns) */
        // cppcheck-suppress unreachableCode
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        return 128 + sig;
    }
    return WEXITSTATUS(status);
}

