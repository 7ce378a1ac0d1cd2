/* Reading a record another process wrote: for the reaper, `tmpguard status`, and a process
 * that inherits entries.  Nothing in the file is trusted: every field is checked before use, and
 * a record that breaks any rule is refused whole, with the reason.  Async-signal-safe (the caller
 * provides the buffer). */
#ifndef TG_RECREAD_H
#define TG_RECREAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "recfmt.h"

#define TG_REC_MAX_BYTES (1ull << 30) /* a record larger than this is not believed */
#define TG_RR_MAX_ROOTS 16

struct tg_rec_reader {
    int fd;
    uint64_t size;
    uid_t file_uid;
    struct tg_rec_header h;
    uint32_t hw;      /* high-water mark, checked against the size */
    uint32_t cell;    /* next block */
    char roots[TG_ROOTS_MAX + 1];
    int nroots;
    const char *root[TG_RR_MAX_ROOTS];
    size_t root_len[TG_RR_MAX_ROOTS];
    char patterns[TG_ROOTS_MAX + 1]; /* the atomic-write patterns, NUL-separated (PATTERNS block) */
    int npatterns;
    const char *pattern[TG_RR_MAX_ROOTS];
    char *buf;        /* caller's read buffer */
    size_t bufsz;
    uint64_t buf_off; /* file offset of buf[0] */
    size_t buf_len;
    char why[200];    /* why the record was refused */
};

/* Opens NAME in the directory DFD (no symlink followed) and checks the header and the roots block.
 * BUF (BUFSZ >= 8192 bytes) is used for all reads.  Returns 0, or -1 with r->why set. */
int tg_rr_open(struct tg_rec_reader *r, int dfd, const char *name, char *buf, size_t bufsz);
/* Only the header: enough to tell whose record it is and whether its process lives. */
int tg_rr_open_header(struct tg_rec_reader *r, int dfd, const char *name, char *buf, size_t bufsz);
/* The next LIVE entry, checked.  Returns 1 with *E pointing into the buffer (valid until the next
 * call), 0 at the end, -1 when the record turns out damaged or hostile (r->why). */
int tg_rr_next(struct tg_rec_reader *r, const struct tg_rec_entry **e);
/* Whether ABS (normalised) lies strictly inside one of the record's roots. */
int tg_rr_under_roots(const struct tg_rec_reader *r, const char *abs, size_t len);
/* The SITE block at CELL (an entry's tg_rec_entry_site), checked, into OUT (CAP bytes: the head and
 * up to TG_SITE_TEXT_MAX + 1 of text).  Read on its own: an entry the caller holds from tg_rr_next
 * stays valid.  Returns 0, or -1 when there is no such block or it breaks a rule. */
int tg_rr_site(struct tg_rec_reader *r, uint32_t cell, struct tg_rec_site *out, size_t cap);
void tg_rr_close(struct tg_rec_reader *r);

#endif
