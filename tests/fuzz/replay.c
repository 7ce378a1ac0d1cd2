/* Runs every input of the corpus directories (or files) given through the fuzzing harness, so that
 * the committed corpus is a regression test without a fuzzer.
 *
 *   replay [--expect] [-v] DIR|FILE...
 *
 * --expect: inputs named ok-* must be accepted by the reader with at least one entry, inputs named
 * bad-* must be refused; other names (what the fuzzer added) only have to keep the reader's
 * promises.  -v: one line per input.  Exit status 0 when all is well; a broken promise aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "reap.h"
#include "replay_common.h"

static const char *const reap_names[] = {"alive", "done", "kept", "refused", "not named"};
static int expect, verbose, failures, total, accepted, reaped;

static void one(const char *path, const char *name, const uint8_t *data, size_t len)
{
    struct tg_fuzz_result res;
    tg_fuzz_run(data, len, &res);
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

int main(int argc, char **argv)
{
    static const char *const opts[] = {"--expect", "-v", NULL};
    int *const flags[] = {&expect, &verbose};
    int first = tg_replay_options(argc, argv, opts, flags, "[--expect] [-v]");
    for (int i = first; i < argc; i++)
        tg_replay_tree("replay", argv[i], one, &failures);
    printf("replayed %d inputs: %d accepted, %d refused, %d reaped dry; %d failures\n", total, accepted,
           total - accepted, reaped, failures);
    return failures || total == 0 ? 1 : 0;
}
