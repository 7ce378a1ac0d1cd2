#!/usr/bin/env python3
"""A small "image service" that leaks temp files.

Each request stores an upload in a temp file, writes a resized copy to a second temp file and
deletes both when done.  Every K-th request hits a bug after the upload is stored and before the
clean-up, so it leaves exactly one file behind: 200 requests with K=50 leak 4 files.  Like a real
server it logs the error and carries on; at the end it exits 1 if any request failed.
"""
import argparse
import os
import sys
import tempfile


def handle(n, directory, fail_every):
    fd, upload = tempfile.mkstemp(prefix="upload-", suffix=".jpg", dir=directory)
    with os.fdopen(fd, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0" + bytes(i % 256 for i in range(4096)))
    if fail_every and n % fail_every == 0:
        # The simulated bug: raised before any clean-up, so the upload is left behind.
        raise ValueError(f"request {n}: corrupt image header")
    with open(upload, "rb") as f:
        data = f.read()
    with tempfile.NamedTemporaryFile(prefix="thumb-", suffix=".jpg", dir=directory, delete=False) as t:
        t.write(data[::4])  # "resize": keep every fourth byte
        thumb = t.name
    os.unlink(thumb)
    os.unlink(upload)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=200, metavar="N")
    p.add_argument("--dir", default=tempfile.gettempdir(), metavar="DIR")
    p.add_argument("--fail-every", type=int, default=50, metavar="K", help="0: never fail")
    args = p.parse_args()
    failed = 0
    for n in range(1, args.requests + 1):
        try:
            handle(n, args.dir, args.fail_every)
        except Exception as e:
            failed += 1
            print(f"leaky_service: error: {e}", file=sys.stderr)
    print(f"handled {args.requests} requests, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
