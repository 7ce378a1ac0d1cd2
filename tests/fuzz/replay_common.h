/* What the two corpus replays (replay.c through the record harness, replay_model.c through the
 * model harness) share: their command line, PROG [OPTION...] DIR|FILE..., and the walk that hands
 * each input of the corpus to the harness. */
#ifndef TG_REPLAY_COMMON_H
#define TG_REPLAY_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The options before the first DIR|FILE argument: each one named in OPTS (NULL-terminated) sets
 * the int at the same place in FLAGS to 1, and the first argument that names none starts the
 * paths.  Returns the index of that argument; exits with status 2 after the usage line
 * "usage: PROG USAGE DIR|FILE..." when there is none. */
int tg_replay_options(int argc, char **argv, const char *const opts[], int *const flags[], const char *usage);

/* What a replay does with one input: PATH, its file name NAME, and its LEN bytes DATA. */
typedef void tg_replay_one(const char *path, const char *name, const uint8_t *data, size_t len);

/* ONE for PATH when it is not a directory, else for each regular file in it (names starting with
 * '.' left out), in name order, so that a replay does the same work in every checkout.  What cannot
 * be had (PATH missing, a directory that cannot be listed, a file that cannot be read) is said on
 * stderr after "PROG: " and counted in *FAILURES, the counter ONE adds its own failures to. */
void tg_replay_tree(const char *prog, const char *path, tg_replay_one *one, int *failures);

#endif
