/* Fuzzing the record reader (shim/recread.c) and the dry reaper built on it.
 *
 * A record is only read when it is at least TG_CHUNK0 (64 KiB) long, so an input is not the file
 * itself but a compact description of it:
 *
 *   byte 0              control bits:
 *                         0-1  file size: 0 = 64 KiB, 1 = 192 KiB, 2 = 448 KiB (grown to hold the
 *                              body if it is longer), 3 = exactly what the body fills (mostly
 *                              shorter than a record may be)
 *                         2    write the harness's uid into the header's uid field (the reader
 *                              refuses a record whose uid is not the file's owner)
 *                         3    split body: two bytes (little-endian) after the race part give the
 *                              length of part A; A goes at offset 0, the rest (B) at
 *                              TG_FUZZ_SPLIT_AT, just before the end of the first chunk
 *                         4    reap with a guard (uid, no age limit), as the reaper does
 *                         5-6  reader buffer size: 8192, 8200, 12288 or 65536 bytes
 *                         7    race: before the Nth read of the file (see below), a patch is
 *                              written into it, as a hostile owner rewriting its record under the
 *                              reader would
 *   if bit 7:           trigger (N = 1 + byte % 8), patch length (byte), patch offset (4 bytes,
 *                       little-endian, taken modulo the file size), then the patch bytes
 *   if bit 3:           length of part A (2 bytes, little-endian)
 *   the rest            the body: zeros elsewhere
 *
 * Substitutions, so that a committed input means the same in every run: the 13 bytes
 * "tgfuzz.XXXXXX" anywhere in the body become the name of the harness's private directory (same
 * length, so /dev/shm/tgfuzz.XXXXXX/... names a path in it), and 8-byte words at 8-aligned file
 * offsets "@DEV@@@@", "@INO:f@@", "@INO:d@@", "@INO:m@@", "@INO:r@@" become the device of the
 * private directory and the inodes of its fixtures: f (a regular file), d (a directory with a file
 * and a subdirectory in it, as mkdtemp leaves), m (an empty directory) and r (the record itself);
 * "@TICKS@@" becomes the harness's start time, and "@HEIR@" followed by 16 bits G becomes the
 * harness's pid followed by G as 32 bits (a living process: pid and gen of an heir, pid and uid of
 * the header, owner and fork_gen of an entry). */
#ifndef TG_FUZZ_H
#define TG_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define TG_FUZZ_SPLIT_AT (64u * 1024u - 256u)
#define TG_FUZZ_TOKEN_DIR "tgfuzz.XXXXXX"

struct tg_fuzz_result {
    int open;         /* tg_rr_open: 0 or -1 */
    int next;         /* the last tg_rr_next: 0 (end) or -1 (refused); -2 when open failed */
    int entries;      /* entries returned */
    int header;       /* tg_rr_open_header alone: 0 or -1 */
    int reap;         /* enum tg_reap_result, or -1 when the reaper was not run */
    int outcomes[4];  /* entries the dry reaper reported, by enum tg_outcome */
    char why[200];    /* why the record was refused, or "" */
};

/* Runs one input; aborts when the reader breaks one of its promises.  Always returns 0. */
int tg_fuzz_one(const uint8_t *data, size_t size);
/* Same, and tells what happened (RES may be NULL). */
int tg_fuzz_run(const uint8_t *data, size_t size, struct tg_fuzz_result *res);

#endif
