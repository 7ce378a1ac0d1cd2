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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_model.h"
#include "replay_common.h"

static int verbose, failures, total;

static void one(const char *path, const char *name, const uint8_t *data, size_t len)
{
    (void)path;
    struct tg_model_stats before = tg_model_stats;
    tg_model_one(data, len);
    total++;
    if (verbose)
        printf("%-44s %4lu ops, %4lu adds, %4lu live at most, chunk %lu, %lu read back\n", name,
               tg_model_stats.ops - before.ops, tg_model_stats.adds - before.adds, tg_model_stats.max_live,
               tg_model_stats.max_chunk, tg_model_stats.reader_ok - before.reader_ok);
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
    int expect = 0;
    static const char *const opts[] = {"--strict", "--expect-coverage", "-v", NULL};
    int *const flags[] = {&tg_model_strict, &expect, &verbose};
    int first = tg_replay_options(argc, argv, opts, flags, "[--strict] [--expect-coverage] [-v]");
    for (int i = first; i < argc; i++)
        tg_replay_tree("replay_model", argv[i], one, &failures);
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
