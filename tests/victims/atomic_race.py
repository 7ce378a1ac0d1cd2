"""Concurrent rewrites of one file, and a reader of it, for the atomic writes' tests.

  atomic_race.py write PATH N SIZE ID   rewrites PATH N times with SIZE bytes, all of them the
                                        letter of writer ID and the round (a version is uniform)
  atomic_race.py read PATH N            reads PATH N times; prints "torn T of R" (a read that is
                                        not one whole version: mixed bytes, or short)
"""
import os
import sys
import time


def write(path, n, size, ident):
    for i in range(n):
        byte = bytes([ord("a") + (ident * 7 + i) % 26])
        with open(path, "wb") as f:
            # In pieces, as a real program writes: a reader in between sees a half-written file
            # unless the write is staged.
            for _ in range(8):
                f.write(byte * (size // 8))
                f.flush()


def read(path, n, size):
    torn = reads = 0
    for _ in range(n):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        reads += 1
        if len(data) != size or data.count(data[:1]) != len(data):
            torn += 1
        time.sleep(0.001)
    print(f"torn {torn} of {reads}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        read(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
