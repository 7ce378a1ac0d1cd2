/* Reclaiming while the process runs (TMPGUARD_MAX_AGE, TMPGUARD_MAX_FILES, TMPGUARD_MAX_BYTES): the
 * scratch files a long-running process left behind go before it ends, once nothing uses them. */
#ifndef TG_RECLAIM_H
#define TG_RECLAIM_H

/* Set at load when any limit is configured (written by reclaim.c only). */
extern int tg_reclaim_on;

/* At load, after the configuration. */
void tg_reclaim_init(void);
/* The process opens PATH without creating it: a tracked file of that name is in use now. */
void tg_reclaim_note_open(const char *path);
/* From the creating calls: a sweep if one is due (at most one a second), its work bounded. */
void tg_reclaim_tick(void);

/* In a forked child. */
void tg_reclaim_after_fork_child(void);

#endif
