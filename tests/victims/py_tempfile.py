#!/usr/bin/env python3
"""Python's tempfile module, one way of using it per case, for tests/test_programs.c.

    python3 py_tempfile.py CASE

Everything is made in tempfile.gettempdir(), that is $TMPDIR, so that no path of a creation is
ever named on the command line.  Each path made is reported on stdout as "created PATH"; the
cases that wait for a signal print "ready" once everything is in place.
"""
import os
import sys
import tempfile
import time


def created(path):
    print(f"created {path}", flush=True)


def mkstemp_exit0():
    # A scratch file left behind by a program that succeeds.
    fd, path = tempfile.mkstemp(prefix="left-")
    os.write(fd, b"scratch\n")
    os.close(fd)
    created(path)
    sys.exit(0)


def named_os_exit3():
    # NamedTemporaryFile(delete=False), then an exit that runs no clean-up at all.
    t = tempfile.NamedTemporaryFile(prefix="named-", delete=False)
    t.write(b"half a result\n")
    t.flush()
    created(t.name)
    os._exit(3)


def work_dir_with_scratch():
    # A private directory with a scratch file inside, both reported.
    d = tempfile.mkdtemp(prefix="work-")
    created(d)
    fd, path = tempfile.mkstemp(dir=d, suffix=".part")
    os.write(fd, b"partial\n")
    os.close(fd)
    created(path)


def mkdtemp_raise():
    # The work directory, then an uncaught exception (exit 1).
    work_dir_with_scratch()
    raise RuntimeError("simulated failure after creating the work directory")


def mkdtemp_exit0():
    # The same, but the program succeeds: the scratch file goes, the directory (plain mkdir) stays.
    work_dir_with_scratch()
    sys.exit(0)


def tempdir_sigterm():
    # A TemporaryDirectory whose context is never left: the process is killed inside it.
    with tempfile.TemporaryDirectory(prefix="ctx-") as d:
        created(d)
        inner = os.path.join(d, "data.txt")
        with open(inner, "w") as f:
            f.write("work in progress\n")
        created(inner)
        fd, scratch = tempfile.mkstemp(dir=d)
        os.close(fd)
        created(scratch)
        print("ready", flush=True)
        time.sleep(60)
    sys.exit(0)  # not reached


def temporaryfile():
    # TemporaryFile: no name at all, while it is open or afterwards.
    root = tempfile.gettempdir()
    with tempfile.TemporaryFile() as t:
        t.write(b"anonymous\n")
        t.seek(0)
        data = t.read()
        print(f"names while open: {len(os.listdir(root))}", flush=True)
    print(f"read back: {data.decode().strip()}", flush=True)
    sys.exit(0)


def atomic_replace_exit1():
    # The atomic-write idiom: write a temp file next to the target, then os.replace it into place.
    # The program fails afterwards; the published file must survive.
    root = tempfile.gettempdir()
    final = os.path.join(root, "final.txt")
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".final.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write("published content\n")
    created(tmp)
    os.replace(tmp, final)
    print(f"published {final}", flush=True)
    sys.exit(1)


CASES = {
    "mkstemp-exit0": mkstemp_exit0,
    "named-os-exit3": named_os_exit3,
    "mkdtemp-raise": mkdtemp_raise,
    "mkdtemp-exit0": mkdtemp_exit0,
    "tempdir-sigterm": tempdir_sigterm,
    "temporaryfile": temporaryfile,
    "atomic-replace-exit1": atomic_replace_exit1,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print(f"usage: {sys.argv[0]} {'|'.join(CASES)}", file=sys.stderr)
        sys.exit(2)
    CASES[sys.argv[1]]()
