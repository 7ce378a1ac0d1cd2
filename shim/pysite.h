/* The Python line behind a create, for the call sites of leak reports in Python programs.
 *
 * In a CPython process, the native caller of open() or mkstemp() is the interpreter itself, which
 * says nothing to the developer.  CPython (3.8 and later) raises audit events before it creates:
 * `open` (by open() and os.open()), `tempfile.mkstemp` and `tempfile.mkdtemp` (once per name tried),
 * `os.mkdir`.  A C audit hook, registered at load where CPython's API is in the process (found with
 * dlsym: no link to libpython), runs with the GIL held on the thread about to create, and takes the
 * Python frames there: the first frames outside the standard library (the developer's `handle` in
 * `service.py`, not `_mkstemp_inner` in `tempfile.py`).  The create that follows on the same thread
 * picks them up (tg_pysite_take) when its name is the one the event named: the create the shim sees
 * stays the ground truth, the hook only says which line led to it. */
#ifndef TG_PYSITE_H
#define TG_PYSITE_H

#include <stddef.h>

/* At load, when reports are on: registers the hook if this is a CPython process. */
void tg_pysite_init(void);

/* When this thread's last creating audit event named a file whose last component is NAME (N
 * bytes): its frames as site text (recfmt.h, Python frames) into OUT (CAP bytes), and their number
 * into *NFRAMES; returns the text's length and forgets the event.  0 otherwise. */
size_t tg_pysite_take(const char *name, size_t n, char *out, size_t cap, int *nframes);

#endif
