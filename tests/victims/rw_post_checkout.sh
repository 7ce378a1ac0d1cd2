#!/bin/sh
# post-checkout hook for test_realworld's killed `git clone`: git runs it once the work tree is
# checked out, before the clone exits.  It writes its pid to $RW_HOOK_PIDFILE (atomically: the test
# polls for the file) and waits to be killed, so that the test can kill git at a known point.
[ -n "$RW_HOOK_PIDFILE" ] || exit 1
echo $$ >"$RW_HOOK_PIDFILE.tmp" && mv "$RW_HOOK_PIDFILE.tmp" "$RW_HOOK_PIDFILE" || exit 1
exec sleep 120
