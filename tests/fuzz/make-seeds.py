#!/usr/bin/env python3
"""Writes the seed inputs of the record-reader fuzzer (format: tests/fuzz/fuzz.h).

    tests/fuzz/make-seeds.py [DIR]      (default: tests/fuzz/corpus/record next to this script)

ok-* seeds are records the reader must accept (with entries), bad-* ones it must refuse; the
replay test (`tg-fuzz-replay --expect`) holds it to both.  The ok-*/bad-* files written here are
replaced; inputs the fuzzer added, and bad-* inputs kept after a fix, are left alone.
"""
import os
import struct
import sys

CELL = 64
HEADER_CELLS = 8
CHUNK0_CELLS = 65536 // CELL
SPLIT_AT = 65536 - 256          # TG_FUZZ_SPLIT_AT
FREE, LIVE, CLAIMED, PAD, ROOTS, SITE, PATTERNS = 0, 1, 2, 3, 4, 5, 6
MKSTEMP, MKDTEMP, EXCL, OTHER, STAGED = 1, 2, 3, 4, 5
ENDS, FAILS = 1, 2
S_IFREG, S_IFDIR = 0o100000, 0o040000

D = "/dev/shm/tgfuzz.XXXXXX"    # the harness's private directory, substituted at run time
DEV = b"@DEV@@@@"
INO = {name: b"@INO:%s@@" % name.encode() for name in "fdmr"}
PID = 2000000000                # above any pid_max: never a living process

# control byte
SIZE_64K, SIZE_192K, SIZE_448K, SIZE_EXACT = 0, 1, 2, 3
UID, SPLIT, GUARD, RACE = 0x04, 0x08, 0x10, 0x80


def cells_for(n):
    return 1 + (n + 1 + CELL - 1) // CELL


def u64(v):
    return v if isinstance(v, bytes) else struct.pack("<Q", v & (2**64 - 1))


def header(hw, pid=PID, uid=0, magic=b"TMPGREC1", version=1, header_cells=HEADER_CELLS, start_ticks=123456,
           flags=0, created_ns=1_700_000_000_000_000_000, heirs=(), nheirs=None):
    h = struct.pack("<8sIIiIQIIq", magic, version, header_cells, pid, uid, start_ticks, hw, flags, created_ns)
    h += struct.pack("<iIQ", 0, 0, 0)                       # supervisor
    h += struct.pack("<II", len(heirs) if nheirs is None else nheirs, 0)
    slots = list(heirs) + [(0, 0, 0)] * (24 - len(heirs))
    for pid_, gen, ticks in slots:
        h += struct.pack("<iIQ", pid_, gen, ticks)
    h += bytes(56)
    assert len(h) == 512
    return h


def block(state, path=b"", cells=None, kind=0, when=ENDS, owner=PID, fork_gen=0, dev=0, ino=0, mode=0,
          pathlen=None, raw_path=None):
    """A block head and its path cells.  raw_path: exact bytes after the head (no NUL added)."""
    if isinstance(path, str):
        path = path.encode()
    if pathlen is None:
        pathlen = len(path)
    if cells is None:
        cells = cells_for(len(path)) if (path or state in (LIVE, CLAIMED, ROOTS)) else 1
    head = struct.pack("<IHBBiI", state, cells, kind, when, owner, fork_gen)
    head += u64(dev) + u64(ino) + struct.pack("<qIIIH10s", 1_700_000_000_000_000_000, mode, 0, 0, pathlen, bytes(10))
    assert len(head) == 64
    tail = raw_path if raw_path is not None else path + b"\0"
    tail = tail[:(max(cells, 1) - 1) * CELL]
    return head + tail.ljust((max(cells, 1) - 1) * CELL, b"\0")


def roots(*rs, **kw):
    joined = ":".join(rs).encode()
    return block(ROOTS, joined, **kw)


def patterns(*ps, **kw):
    return block(PATTERNS, ":".join(ps).encode(), **kw)


def entry(path, kind=MKSTEMP, **kw):
    mode = S_IFDIR | 0o700 if kind == MKDTEMP else S_IFREG | 0o600
    kw.setdefault("mode", mode)
    kw.setdefault("dev", DEV)
    return block(LIVE, path, kind=kind, **kw)


def pad(cells, state=PAD):
    return block(state, cells=cells)


def record(blocks, hw=None, **hkw):
    body = b"".join(blocks)
    assert len(body) % CELL == 0
    if hw is None:
        hw = HEADER_CELLS + len(body) // CELL
    return header(hw, **hkw) + body


def pad_to(blocks, cell):
    """A PAD block from the end of BLOCKS (after the header) up to CELL."""
    at = HEADER_CELLS + sum(len(b) for b in blocks) // CELL
    assert cell > at
    return blocks + [pad(cell - at)]


def make_input(body, size=SIZE_64K, flags=UID, bufsel=0, split=None, race=None):
    """split: (part A, part B) instead of BODY; race: (trigger, offset, bytes)."""
    ctl = size | flags | (bufsel << 5)
    if size != SIZE_EXACT:  # the file is zero-filled: trailing zeros need not be in the input
        body = body.rstrip(b"\0") if body is not None else None
        split = tuple(p.rstrip(b"\0") for p in split) if split is not None else None
    out = b""
    if race is not None:
        ctl |= RACE
        trigger, off, data = race
        out += struct.pack("<BBI", trigger - 1, len(data), off) + data
    if split is not None:
        ctl |= SPLIT
        a, b = split
        out += struct.pack("<H", len(a)) + a + b
    else:
        out += body
    return bytes([ctl]) + out


def basic_entries():
    return [
        entry(D + "/f", MKSTEMP, ino=INO["f"]),
        entry(D + "/d", MKDTEMP, ino=INO["d"]),
        entry(D + "/x.1", EXCL, ino=99),
        entry(D + "/m", OTHER, ino=INO["m"], mode=S_IFDIR | 0o755),
        entry(D + "/d/g", OTHER, ino=12345, when=FAILS),
    ]


def seeds():
    s = {}
    base = [roots(D)] + basic_entries()

    # --- valid ---
    s["ok-basic"] = make_input(record(base))
    for sel in (1, 2, 3):
        s["ok-basic-buf%d" % sel] = make_input(record(base), bufsel=sel, flags=UID | GUARD)
    s["ok-pad-free-claimed"] = make_input(record([
        roots(D), pad(3), entry(D + "/f", MKSTEMP, ino=INO["f"]), pad(1, FREE), pad(2, FREE),
        block(CLAIMED, D + "/gone", kind=MKSTEMP, mode=S_IFREG | 0o600), entry(D + "/d", MKDTEMP, ino=INO["d"]),
        pad(5)]))
    s["ok-multi-roots"] = make_input(record([
        roots("/tmp", D, "/var/tmp"), entry("/tmp/tmp.AbC123", MKSTEMP), entry("/var/tmp/sub/x", OTHER),
        entry(D + "/m", OTHER, ino=INO["m"], mode=S_IFDIR | 0o700)]))
    s["ok-other-root"] = make_input(record([
        roots("/dev/shm/x"), entry("/dev/shm/x/a", EXCL), entry("/dev/shm/x/b", OTHER, mode=S_IFDIR | 0o700),
        entry("/dev/shm/x/c.XXXXXX", MKSTEMP)]))
    # mkstemp and mkdtemp results may lie outside the roots (safety is then the remover's dev/ino,
    # type and guard checks): the reader accepts them.
    s["ok-mkstemp-outside-roots"] = make_input(record([roots(D), entry("/etc/passwd", MKSTEMP, ino=1)]))
    s["ok-heirs-ended"] = make_input(record(base, heirs=[(PID + 1, 3, 5), (PID + 2, 7, 9), (-4, 1, 1)],
                                            flags=1, nheirs=27))
    s["ok-self-record"] = make_input(record([roots(D), entry(D + "/r", OTHER, ino=INO["r"])]))
    s["ok-file-longer"] = make_input(record(base), size=SIZE_192K)
    s["ok-hw-to-end"] = make_input(record(pad_to(list(base), CHUNK0_CELLS)), flags=UID | GUARD)
    long_path = D + ("/" + "n" * 200) * 19
    long_path += "/" + "n" * (4095 - len(long_path) - 1)
    assert len(long_path) == 4095
    s["ok-long-path"] = make_input(record([roots(D), entry(long_path, EXCL)]))
    # A long block starting near the end of an 8192-byte buffer: the reader must read it afresh.
    s["ok-long-path-refill"] = make_input(record(pad_to([roots(D)], 120) + [entry(long_path, EXCL)] +
                                                 [entry(D + "/f", MKSTEMP, ino=INO["f"])]))
    s["ok-long-path-refill-buf1"] = make_input(record(pad_to([roots(D)], 125) + [entry(long_path, EXCL)]), bufsel=1)
    s["ok-path-fills-block"] = make_input(record([roots(D), entry(D + "/" + "p" * (63 - len(D) - 1), EXCL),
                                                  entry(D + "/" + "q" * (64 - len(D) - 1), EXCL)]))
    # Across the first chunk boundary (the file is 192 KiB): a PAD up to the boundary, entries after it.
    a = record(pad_to([roots(D), entry(D + "/f", MKSTEMP, ino=INO["f"])], SPLIT_AT // CELL), hw=0)
    b = [pad(CHUNK0_CELLS - SPLIT_AT // CELL), entry(D + "/d", MKDTEMP, ino=INO["d"]),
         entry(D + "/m", OTHER, ino=INO["m"], mode=S_IFDIR | 0o700), pad(7, FREE)]
    hw = SPLIT_AT // CELL + sum(len(x) for x in b) // CELL
    a = header(hw) + a[512:]
    s["ok-chunk-boundary"] = make_input(None, size=SIZE_192K, split=(a, b"".join(b)))
    # A block that ends exactly on the boundary.
    b2 = [entry(D + "/" + "e" * (3 * CELL - 1 - len(D) - 1 - 1), EXCL), entry(D + "/d", MKDTEMP, ino=INO["d"])]
    assert len(b2[0]) == 4 * CELL
    hw2 = SPLIT_AT // CELL + sum(len(x) for x in b2) // CELL
    s["ok-block-ends-on-boundary"] = make_input(None, size=SIZE_192K,
                                                split=(header(hw2) + a[512:], b"".join(b2)))
    # High-water mark at the start of the third chunk, the second one all PAD.
    b3 = [pad(CHUNK0_CELLS - SPLIT_AT // CELL), pad(3 * CHUNK0_CELLS - CHUNK0_CELLS)]
    s["ok-pad-to-chunk2"] = make_input(None, size=SIZE_448K,
                                       split=(header(3 * CHUNK0_CELLS) + a[512:], b"".join(b3)))
    # Records of a living process (the harness): its heir protects entries made before its fork,
    # and a record whose owner lives is left alone.
    alive = lambda gen: b"@HEIR@" + struct.pack("<H", gen)
    heir = record(base + [entry(D + "/f", MKSTEMP, ino=INO["f"], fork_gen=9)], heirs=[(PID + 1, 1, 1), (0, 0, 0)])
    heir = heir[:72 + 16] + alive(4) + b"@TICKS@@" + heir[72 + 32:]
    s["ok-heir-alive"] = make_input(heir)
    own = record([roots(D)] + [entry(D + "/f", MKSTEMP, ino=INO["f"], owner=-1)])
    own = own[:16] + alive(0) + b"@TICKS@@" + own[32:]
    at = 512 + 2 * CELL + 8
    own = own[:at] + alive(0) + own[at + 8:]
    s["ok-owner-alive"] = make_input(own)
    # A race that rewrites a byte no check depends on (a reserved field of the first entry).
    s["ok-race-harmless"] = make_input(record(pad_to([roots(D)], 120) + [entry(long_path, EXCL)] +
                                              [entry(D + "/f", MKSTEMP, ino=INO["f"])]),
                                       race=(2, 120 * CELL + 60, b"\x01"))

    # --- refused ---
    full = record(base)
    s["bad-empty"] = b""
    s["bad-header-only"] = make_input(header(9), size=SIZE_EXACT)
    s["bad-truncated-64k-minus-1"] = make_input(None, size=SIZE_EXACT, split=(full, bytes(255)))
    s["bad-truncated-header"] = make_input(full[:300], size=SIZE_EXACT)
    s["bad-magic"] = make_input(record(base, magic=b"TMPGREC2"))
    s["bad-version"] = make_input(record(base, version=2))
    s["bad-header-cells"] = make_input(record(base, header_cells=9))
    s["bad-other-uid"] = make_input(record(base, uid=0xFFFFFFF0), flags=0)
    s["bad-pid-zero"] = make_input(record(base, pid=0))
    s["bad-pid-negative"] = make_input(record(base, pid=-5))
    s["bad-hw-beyond-size"] = make_input(record(base, hw=CHUNK0_CELLS + 1))
    s["bad-hw-huge"] = make_input(record(base, hw=0xFFFFFFFF))
    s["bad-hw-in-header"] = make_input(record(base, hw=8))
    s["bad-hw-cuts-block"] = make_input(record(base, hw=HEADER_CELLS + sum(len(x) for x in base) // CELL - 1))
    s["bad-no-roots"] = make_input(record(basic_entries()))
    s["bad-roots-relative"] = make_input(record([roots("tmp")] + basic_entries()))
    s["bad-roots-dotdot"] = make_input(record([roots("/dev/shm/../etc")] + basic_entries()))
    s["bad-roots-slash"] = make_input(record([roots("/")] + basic_entries()))
    s["bad-roots-empty-one"] = make_input(record([roots(D, "", "/tmp")] + basic_entries()))
    s["bad-roots-too-many"] = make_input(record([roots(*["/r%d" % i for i in range(17)])] + basic_entries()))
    s["bad-roots-not-nul"] = make_input(record([block(ROOTS, cells=2, pathlen=5, raw_path=b"/tmp/" + b"x" * 59)]
                                               + basic_entries()))
    s["bad-roots-pathlen-lies"] = make_input(record([block(ROOTS, D, pathlen=40, cells=2)] + basic_entries()))
    s["bad-roots-too-long"] = make_input(record([block(ROOTS, "/" + "r" * 2100)] + basic_entries()))
    s["bad-zero-cells"] = make_input(record([roots(D), entry(D + "/f", ino=INO["f"]), pad(0)], hw=None))
    s["bad-zero-cells-after-hw-gap"] = make_input(record([roots(D), entry(D + "/f", ino=INO["f"])],
                                                         hw=HEADER_CELLS + 2 + 2 + 5))
    s["bad-block-past-hw"] = make_input(record([roots(D), entry(D + "/f", ino=INO["f"]), pad(3)],
                                               hw=HEADER_CELLS + 2 + 2 + 2))
    # A LIVE entry at cell 1022 of 4 cells: crosses the chunk boundary at 1024.
    cross = [pad(1022 - SPLIT_AT // CELL), entry(D + "/" + "c" * 140, EXCL), pad(5)]
    assert len(cross[1]) == 4 * CELL
    hwc = SPLIT_AT // CELL + sum(len(x) for x in cross) // CELL
    s["bad-block-crosses-chunk"] = make_input(None, size=SIZE_192K,
                                              split=(header(hwc) + a[512:], b"".join(cross)))
    crosspad = [pad(2), pad(4), pad(3)]
    hwp = SPLIT_AT // CELL + 9
    s["bad-pad-crosses-chunk"] = make_input(None, size=SIZE_192K,
                                            split=(header(hwp) + a[512:], b"".join(crosspad)))
    s["bad-pathlen-too-long"] = make_input(record([roots(D), entry(D + "/f", ino=INO["f"], pathlen=100, cells=2)]))
    s["bad-pathlen-too-short"] = make_input(record([roots(D), entry(D + "/ffff", ino=INO["f"], pathlen=5,
                                                                    cells=2)]))
    s["bad-pathlen-zero"] = make_input(record([roots(D), entry(D + "/f", ino=INO["f"], pathlen=0, cells=2)]))
    s["bad-pathlen-4096"] = make_input(record([roots(D), block(LIVE, cells=cells_for(4096), pathlen=4096,
                                                               kind=EXCL, mode=S_IFREG,
                                                               raw_path=(D + "/" + "z" * 4073).encode())]))
    s["bad-cells-lie"] = make_input(record([roots(D), entry(D + "/f", ino=INO["f"], cells=3)]))
    s["bad-path-not-nul"] = make_input(record([roots(D), block(LIVE, cells=2, pathlen=63, kind=EXCL,
                                                               mode=S_IFREG, raw_path=(D + "/" + "w" * 41).encode())]))
    s["bad-path-early-nul"] = make_input(record([roots(D), block(LIVE, cells=2, pathlen=30, kind=EXCL,
                                                                 mode=S_IFREG, raw_path=(D + "/ab\0cdef").encode())]))
    s["bad-relative-path"] = make_input(record([roots(D), entry(D[1:] + "/f", MKSTEMP, ino=INO["f"])]))
    s["bad-dotdot"] = make_input(record([roots(D), entry(D + "/../../../etc/passwd", MKSTEMP)]))
    s["bad-dotdot-end"] = make_input(record([roots(D), entry(D + "/d/..", MKDTEMP)]))
    s["bad-dot"] = make_input(record([roots(D), entry(D + "/./f", MKSTEMP, ino=INO["f"])]))
    s["bad-double-slash"] = make_input(record([roots(D), entry(D + "//f", MKSTEMP, ino=INO["f"])]))
    s["bad-trailing-slash"] = make_input(record([roots(D), entry(D + "/d/", MKDTEMP, ino=INO["d"])]))
    s["bad-other-pid"] = make_input(record([roots(D), entry(D + "/f", MKSTEMP, ino=INO["f"], owner=PID + 1)]))
    s["bad-kind-9"] = make_input(record([roots(D), entry(D + "/f", 9, ino=INO["f"], mode=S_IFREG)]))
    s["bad-kind-0"] = make_input(record([roots(D), entry(D + "/f", 0, ino=INO["f"], mode=S_IFREG)]))
    s["bad-when-0"] = make_input(record([roots(D), entry(D + "/f", MKSTEMP, ino=INO["f"], when=0)]))
    s["bad-when-3"] = make_input(record([roots(D), entry(D + "/f", MKSTEMP, ino=INO["f"], when=3)]))
    s["bad-mkdtemp-file"] = make_input(record([roots(D), entry(D + "/f", MKDTEMP, ino=INO["f"], mode=S_IFREG)]))
    s["bad-mkstemp-dir"] = make_input(record([roots(D), entry(D + "/d", MKSTEMP, ino=INO["d"], mode=S_IFDIR)]))
    s["bad-other-symlink"] = make_input(record([roots(D), entry(D + "/l", OTHER, mode=0o120777)]))
    s["bad-etc-passwd-outside-roots"] = make_input(record([roots(D), entry("/etc/passwd", OTHER, ino=1)]))
    s["bad-excl-outside-roots"] = make_input(record([roots(D), entry("/etc/passwd", EXCL, ino=1)]))
    s["bad-root-itself"] = make_input(record([roots(D), entry(D, OTHER, mode=S_IFDIR)]))
    s["bad-root-prefix"] = make_input(record([roots(D), entry(D + "x/f", OTHER)]))
    s["bad-unknown-state"] = make_input(record([roots(D), block(7, D + "/f", kind=MKSTEMP, mode=S_IFREG)]))
    s["bad-second-roots-block"] = make_input(record([roots(D), roots(D)] + basic_entries()))
    s["bad-after-good"] = make_input(record(base + [entry(D + "/f", 9, ino=INO["f"])]))
    # Staged writes (TMPGUARD_ATOMIC): outside the roots only in the staging name's form, beside a
    # target the record's own patterns cover.
    staged = "/srv/data/.cfg.json.tmpguard-Ab3dE9"
    s["ok-staged-beside-a-pattern"] = make_input(record([roots(D), patterns("/srv/data/"), entry(staged, STAGED, ino=7)]))
    s["ok-staged-glob"] = make_input(record([roots(D), patterns("/etc/x", "/srv/*/cfg.json"),
                                             entry(staged, STAGED, ino=7)]))
    s["bad-staged-outside-patterns"] = make_input(record([roots(D), patterns("/srv/other/"),
                                                          entry(staged, STAGED, ino=7)]))
    s["bad-staged-no-patterns"] = make_input(record([roots(D), entry(staged, STAGED, ino=7)]))
    s["bad-staged-not-a-staging-name"] = make_input(record([roots(D), patterns("/srv/data/"),
                                                            entry("/srv/data/cfg.json", STAGED, ino=7)]))
    s["bad-staged-directory"] = make_input(record([roots(D), patterns("/srv/data/"),
                                                   entry(staged, STAGED, ino=7, mode=S_IFDIR | 0o700)]))
    s["bad-patterns-relative"] = make_input(record([roots(D), patterns("srv/data/"), entry(staged, STAGED, ino=7)]))
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "record")
    os.makedirs(out, exist_ok=True)
    s = seeds()
    # Only the seeds written here are replaced: a bad-* input kept after a fix (bad-race-*) stays.
    for name in os.listdir(out):
        if name.startswith(("ok-", "bad-")) and name in s:
            os.unlink(os.path.join(out, name))
    for name, data in sorted(s.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(s), out))


if __name__ == "__main__":
    main()
