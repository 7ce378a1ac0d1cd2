#!/usr/bin/env python3
"""A small "image service" that leaks temp files.

Each request stores an upload in a temp file, writes a resized copy to a second temp file and
deletes both when done.  Every K-th request hits a bug after the upload is stored and before the
clean-up, so it leaves exactly one file behind: 200 requests with K=50 leak 4 files.  Like a real
server it logs the error and carries on; at the end it exits 1 if any request failed.

As a long-running service (--seconds, or --stop FILE), it serves a request every --interval
seconds and says "leaked PATH AT" (CLOCK_MONOTONIC seconds) for each file it leaves behind; a
request whose own upload is gone or changed when it reads it back is "broken" (tmpguard must never
take a file in use).
"""
import argparse
import os
import sys
import tempfile
import time

PAYLOAD = b"\xff\xd8\xff\xe0" + bytes(i % 256 for i in range(4096))


class Broken(Exception):
    pass


def handle(n, directory, fail_every):
    fd, upload = tempfile.mkstemp(prefix="upload-", suffix=".jpg", dir=directory)
    with os.fdopen(fd, "wb") as f:
        f.write(PAYLOAD)
    if fail_every and n % fail_every == 0:
        # The simulated bug: raised before any clean-up, so the upload is left behind.
        raise ValueError(f"request {n}: corrupt image header", upload)
    try:
        with open(upload, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise Broken(f"request {n}: its own upload {upload} is gone")
    if data != PAYLOAD:
        raise Broken(f"request {n}: its own upload {upload} changed")
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
    p.add_argument("--seconds", type=float, default=0, help="serve for this long instead of N requests")
    p.add_argument("--stop", metavar="FILE", help="serve until FILE exists instead of N requests")
    p.add_argument("--interval", type=float, default=0, metavar="S", help="pause between requests")
    args = p.parse_args()
    failed = broken = n = 0
    long_running = args.seconds or args.stop
    end = time.monotonic() + args.seconds
    print("ready", flush=True)
    while True:
        n += 1
        if long_running:
            if (args.seconds and time.monotonic() >= end) or (args.stop and os.path.exists(args.stop)):
                n -= 1
                break
        elif n > args.requests:
            n -= 1
            break
        try:
            handle(n, args.dir, args.fail_every)
        except Broken as e:
            broken += 1
            print(f"leaky_service: BROKEN: {e}", file=sys.stderr)
        except Exception as e:
            failed += 1
            print(f"leaky_service: error: {e.args[0]}", file=sys.stderr)
            if long_running and len(e.args) > 1:
                print(f"leaked {e.args[1]} {time.monotonic():.3f}", flush=True)
        if args.interval:
            time.sleep(args.interval)
    print(f"handled {n} requests, {failed} failed, {broken} broken")
    return 1 if failed or broken else 0


if __name__ == "__main__":
    sys.exit(main())
