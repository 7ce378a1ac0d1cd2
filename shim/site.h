/* The call site of a create, for leak reports: only while reports are on (TMPGUARD_REPORT).
 *
 * Taken at create time, outside any signal handler: the program's call and, the first time that
 * call is seen, the return addresses of its callers (glibc's backtrace(), which unwinds by the
 * tables the compiler leaves, never by guessing at frame pointers); or the Python lines behind the
 * create (pysite.h).  Each distinct site is resolved once,
 * module, offset and function name (the object's own symbol tables: elfsym.h), and written to the
 * record as a SITE block that entries name; a report, at the end, in a signal handler or by the
 * reaper, then only copies text. */
#ifndef TG_SITE_H
#define TG_SITE_H

#include <stddef.h>
#include <stdint.h>

/* Reports are on: sites are taken.  Set at load only. */
extern int tg_site_on;

void tg_site_init(void);
/* The SITE block for the create of ABS (LEN bytes) under way on this thread, called from CALLER
 * (the return address into the program), or 0.  The frames above the call are those of its first
 * create: a site is its call. */
uint32_t tg_site_capture(const char *abs, size_t len, void *caller);
/* In a forked child: the sites known are the parent's record's. */
void tg_site_after_fork_child(void);

#endif
