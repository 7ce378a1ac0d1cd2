/* Model-based fuzzing of the path policy (shim/policy.c, shim/config.c) and the registry
 * (shim/registry.c over shim/record.c).
 *
 * An input is a configuration followed by a sequence of operations.  The harness runs each
 * operation on the shim's own functions and on a reference model written for the test (a
 * component-stack normaliser, component-wise "inside a root", the contract table of README.md, a
 * multiset of live entries), and aborts at the first difference.
 *
 * Path spec (used everywhere a path is built):
 *   byte B              B & 3: how the path starts: 0 "/", 1 the harness's private directory P
 *                       (absolute, as getcwd spells it), 2 nothing (relative), 3 "//";
 *                       B >> 2: number of component bytes that follow (0-63)
 *   component byte K    K & 15: a name from the table below, written 1 + (K >> 4) times, each
 *                       time after a "/"; name 15 is 'v' repeated (next byte) times (0 gives an
 *                       empty component)
 *   names               "a" "b" "tmp" "." ".." "" "x y" (255 x 'l') "c." ".a" "..." "a=b" "a:b"
 *                       "deep" (250 x 'd': the directories of the deep chain below) (variable)
 *   A path is cut at TG_MODEL_SPEC_MAX bytes.
 *
 * The private directory P (/dev/shm/tgmodel.XXXXXX) holds a tree the harness can chdir into:
 * P, P/{a,b,tmp,x y}, P/{a,b,tmp,x y}/{a,b,tmp,x y}, P/deep and 14 levels below it of 250-byte
 * names (about 3,550 bytes deep: relative paths from there reach the 4096-byte limit), and P/state,
 * the state directory of the record.  A directory byte picks one of them (modulo their number,
 * TG_MODEL_NDIRS, in that order); a dfd byte D picks AT_FDCWD when D % (TG_MODEL_NDIRS + 1) == 0,
 * else an open descriptor of directory D % (TG_MODEL_NDIRS + 1) - 1.
 *
 * Configuration:
 *   byte C              bits 0-1 TMPGUARD_OUTPUTS: unset, "always", "never", "on-failure"
 *                       bit 2    the record is a file in P/state (else anonymous memory)
 *                       bit 3    TMPGUARD_ROOTS is set: byte N, then N % 18 path specs joined by
 *                                ':' (none: the empty string; 17: one too many)
 *                       bit 4    TMPDIR is set: one path spec
 *                       bit 5    TMPGUARD_ROOTS ends with ':'
 *                       bit 6    TMPGUARD_OUTPUTS is malformed ("sometimes")
 *   [roots] [tmpdir]    as announced by C
 *   byte S              the starting directory (a directory byte); tg_config_load and
 *                       tg_policy_init run there
 *   byte A              A % 8 command-line arguments (argv[0] included), each a form byte F
 *                       (F % 4: PATH, "--out=" PATH, "-x" PATH, "-" PATH) and a path spec
 *
 * Operations, until the input ends (at most TG_MODEL_MAX_OPS): byte O, O % 12:
 *   0 CHECK   dfd byte, path spec: tg_resolve (and tg_normalize when the path is absolute),
 *             then tg_under_root and tg_decide for the four kinds, against the model
 *   1 CREATE  kind byte K (kind 1 + K % 4; bit 2: an "other" creation is a directory; bits 3-5:
 *             device), dfd byte, path spec: as a create wrapper: resolve, decide, and when
 *             tracked, tg_reg_add with a made-up struct stat (inode: a serial number)
 *   2 UNLINK  dfd byte, path spec: as the unlink wrapper: tg_reg_may_hold, resolve, tg_reg_forget
 *   3 RENAME  dfd byte, path spec, dfd byte, path spec: publishing: forget the source, then the
 *             target
 *   4 MAYHOLD path spec: tg_reg_may_hold must not say no for a name a live entry has
 *   5 FIND    path spec: tg_reg_find_quiet finds an entry exactly when the model has that path
 *   6 CHDIR   directory byte: the current directory for what follows
 *   7 BULK    bytes N, L, J: 1 + N % 64 entries added directly (mkstemp and mkdtemp kinds) at
 *             P/tmp/NAME with path lengths 24 + 16 L + (i J) % 256 (at most 4095): record growth
 *             across chunks, PAD blocks
 *   8 DROP    byte S: forgets the entries at model positions i with i % (1 + S % 8) ==
 *             (S >> 3) % (1 + S % 8): FREE blocks of many sizes for later reuse
 *   9 FORK    the record is removed and the registry reset as in a forked child
 *  10 EXEC    the registry is dropped and adopted again from the record (file records only), as
 *             an exec'd image does (not run on a record past its first chunk unless strict:
 *             TG_KNOWN_ADOPT_TRUNCATES)
 *  11 READ    the record file read back with the reader (shim/recread.c)
 *
 * After every operation that changes the registry, the record is walked as the remover walks it
 * (from the header to hw_cells, by block lengths, skipping PAD and FREE): its LIVE entries must be
 * the model's (path, kind, when, device, inode, mode, owner), tg_live their number, no block may
 * cross a chunk boundary, and an add must reuse a FREE block of its size when there is one, else
 * grow the high-water mark by exactly its size (plus the PAD that closes a chunk).  Each live
 * entry must be found by tg_reg_find_quiet and admitted by tg_reg_may_hold (under its full path
 * and its last component): the entry an operation adds at once, every entry after each change
 * while the model holds at most 64, else after every 16th change, and at the end of the input; a
 * forgotten path must be found again exactly when another entry of it is still live.  At the end
 * of every input, a file record is read back with the reader and must give exactly the live
 * entries.
 *
 * Known deviations of the shim from the contract are listed in enum tg_model_known; unless
 * tg_model_strict is set (TG_MODEL_STRICT=1 in the environment, or replay --strict), the model
 * follows the shim there and counts the occurrence instead of aborting. */
#ifndef TG_FUZZ_MODEL_H
#define TG_FUZZ_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define TG_MODEL_MAX_OPS 400
#define TG_MODEL_MAX_LIVE 1500
#define TG_MODEL_SPEC_MAX 12000
#define TG_MODEL_DEEP 14
#define TG_MODEL_NDIRS (1 + 4 + 16 + 1 + TG_MODEL_DEEP)

enum tg_model_known {
    /* tg_reg_adopted (after exec) turns the roots block at cell 8 into a FREE block and reuses it:
     * the record no longer says which roots its entries were judged by, and the reader refuses it. */
    TG_KNOWN_ROOTS_FREED,
    /* tg_rec_open writes only the roots that fit in TG_ROOTS_MAX (2048) bytes joined; an entry
     * under a root left out makes the reader refuse the whole record. */
    TG_KNOWN_ROOTS_DROPPED,
    /* A root that normalises to "/" is written as "/", which the reader refuses as a root. */
    TG_KNOWN_ROOT_SLASH,
    /* A root with ':' in it (TMPDIR=/x/a:b) is written unescaped into the ':'-joined roots block. */
    TG_KNOWN_ROOT_COLON,
    /* add_cmd_path skips an argument when start_len + 1 + its length >= TG_PATH_MAX, also when the
     * argument is absolute (the starting directory plays no part then), so a path named on the
     * command line can be tracked and removed. */
    TG_KNOWN_CMD_LONG,
    /* tg_rec_adopt maps chunk 0 with map_chunk(0), whose ftruncate to the end of chunk 0 cuts a
     * record that had grown past 64 KiB: every block beyond is zeros when the chunks are mapped
     * again, the entries in them are lost, and the walk from the header stops at the first zero
     * cell.  The harness does not run such an exec unless strict. */
    TG_KNOWN_ADOPT_TRUNCATES,
    TG_KNOWN_COUNT
};

struct tg_model_stats {
    unsigned long inputs, ops;
    unsigned long resolved, unresolved, normalised;  /* tg_resolve: a path, -1; tg_normalize calls */
    unsigned long decided[3];                        /* tg_decide: 0, ENDS, FAILS */
    unsigned long kept_start, kept_cmdline;          /* 0 by the starting-directory / command-line rule */
    unsigned long defaults;                          /* inputs whose TMPGUARD_ROOTS fell back to the defaults */
    unsigned long adds, reuses, pads, forgets, forget_dups, may_hold_no, find_hit, find_miss;
    unsigned long max_live, max_chunk;               /* largest model, highest chunk reached */
    unsigned long adoptions, forks;
    unsigned long reader_ok, reader_entries;         /* records read back and accepted; entries in them */
    unsigned long known[TG_KNOWN_COUNT];             /* known deviations met (followed, not aborted) */
};

extern struct tg_model_stats tg_model_stats; /* cumulative over all inputs */
extern int tg_model_strict;                  /* abort on the known deviations too */
extern const char *const tg_model_known_names[TG_KNOWN_COUNT];

/* Runs one input; aborts at the first difference from the model.  Always returns 0. */
int tg_model_one(const uint8_t *data, size_t size);

#endif
