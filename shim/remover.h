/* The remover: how an entry is removed, safely.  Everything here is async-signal-safe. */
#ifndef TG_REMOVER_H
#define TG_REMOVER_H

#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "recfmt.h"

/* The directory of the last entry handled, kept open: leaks come in crowds in one directory. */
#define TG_PATH_MAX_DIR 4096
struct tg_parent {
    char path[TG_PATH_MAX_DIR]; /* the directory open in fd */
    size_t dirlen;
    int fd;
    int run;                    /* entries met in a row in this directory */
};
static inline void tg_parent_init(struct tg_parent *pc)
{
    pc->dirlen = 0;
    pc->fd = -1;
    pc->run = 0;
}
void tg_parent_close(struct tg_parent *pc);

/* GONE: nothing at the path any more; LEFT: something else is there now, or it could not be
 * removed; NOT_EMPTY: a plain directory that still holds something (it stays, by the contract). */
enum tg_outcome { TG_GONE, TG_REMOVED, TG_LEFT, TG_WOULD, TG_NOT_EMPTY };

/* Extra conditions for entries read from another process's record (the reaper): the object must
 * belong to UID and must have changed status since NOT_BEFORE_NS (its creator's start): a record
 * that names an old file (/etc/passwd) is not believed. */
struct tg_rm_guard {
    uid_t uid;
    int64_t not_before_ns;
};

/* Removes what E names if it is still the very object that was created (device, inode, type),
 * without following a symlink anywhere in the path; a mkdtemp directory with its contents, never
 * entering another filesystem; a directory made by mkdir only when DIRS_PASS and only if empty.
 * DRY: remove nothing, answer TG_WOULD where it would remove.  BYTES, if not NULL, grows by the
 * size of what is (or would be) removed. */
enum tg_outcome tg_remove_entry(const struct tg_rec_entry *e, struct tg_parent *pc, int dirs_pass, int dry,
                                uint64_t *bytes, const struct tg_rm_guard *guard);

/* After TG_BULK_AFTER entries in a row in PC's directory (a large leak: thousands of files in one
 * directory), that directory is read once: each regular file whose name FIND maps to an entry with
 * the same device and inode (getdents gives the inode) is removed if TAKE accepts it, without a
 * stat of its own; DONE hears of each one removed, PUT_BACK of each one TAKE accepted that could not
 * be.  What is not found this way is left to tg_remove_entry. */
#define TG_BULK_AFTER 32
struct tg_bulk {
    struct tg_rec_entry *(*find)(void *self, const char *abs, size_t len);
    int (*take)(void *self, struct tg_rec_entry *e);
    void (*put_back)(void *self, struct tg_rec_entry *e);
    void (*done)(void *self, struct tg_rec_entry *e);
    void *self;
};
void tg_remove_bulk(struct tg_parent *pc, const struct tg_bulk *b);

#endif
