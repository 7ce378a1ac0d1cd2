#!/usr/bin/env python3
"""Writes the seed inputs of the model fuzzer (format: tests/fuzz/fuzz_model.h).

    tests/fuzz/make-model-seeds.py [CORPUS-DIR [FINDINGS-DIR]]
        (default: tests/fuzz/corpus/model next to this script; the inputs that once showed a
        departure from the contract go there too, as regress-*)

seed-* inputs each exercise one part of the harness and go into the replayed corpus.  known-*
inputs each meet one known deviation of the shim (enum tg_model_known): they pass the default
replay and abort under `tg-fuzz-model-replay --strict`; they are not replayed by meson.  Existing
seed-*/known-* files are replaced; inputs the fuzzer added are left alone.
"""
import os
import sys

# path spec bases
ROOT, PRIV, REL, DSLASH = 0, 1, 2, 3
# names
A, B, TMP, DOT, DOTDOT, EMPTY, XY, LONG, CDOT, DOTA, DOTS, AEQB, ACOLB, DEEP, DNAME = range(15)
VAR = 15
# directories (fuzz_model.h order)
LEVEL1 = ["a", "b", "tmp", "x y"]
DIRS = ["P"] + LEVEL1 + [f"{x}/{y}" for x in LEVEL1 for y in LEVEL1] + ["deep"] + \
       [f"deep+{k}" for k in range(1, 15)]
NDIRS = len(DIRS)
assert NDIRS == 36


def d(name):
    return DIRS.index(name)


# configuration byte
OUT_UNSET, OUT_ALWAYS, OUT_NEVER, OUT_ONFAIL = 0, 1, 2, 3
FILE, ROOTS, TMPDIR, ROOTS_COLON, OUT_BAD = 0x04, 0x08, 0x10, 0x20, 0x40
# operations
CHECK, CREATE, UNLINK, RENAME, MAYHOLD, FIND, CHDIR, BULK, DROP, FORK, EXEC, READ = range(12)
MKSTEMP, MKDTEMP, EXCL, OTHER = 0, 1, 2, 3   # kind byte % 4
DIRFLAG = 4
CWD = 0                                       # dfd byte: AT_FDCWD


def dfd(name):
    return 1 + d(name)


def spec(base, *comps):
    """comps: a name, (name, reps) or ('v', length)."""
    out = bytearray()
    body = bytearray()
    n = 0
    for c in comps:
        if isinstance(c, tuple) and c[0] == "v":
            body += bytes([VAR, c[1]])
        elif isinstance(c, tuple):
            body.append(c[0] | ((c[1] - 1) << 4))
        else:
            body.append(c)
        n += 1
    assert n < 64
    out.append(base | (n << 2))
    return bytes(out + body)


def config(flags=0, roots=None, tmpdir=None, start="P", args=()):
    out = bytearray([flags | (ROOTS if roots is not None else 0) | (TMPDIR if tmpdir is not None else 0)])
    if roots is not None:
        out.append(len(roots))
        for r in roots:
            out += r
    if tmpdir is not None:
        out += tmpdir
    out.append(d(start))
    out.append(len(args))
    for form, s in args:
        out.append(form)
        out += s
    return bytes(out)


def check(s, where=CWD):
    return bytes([CHECK, where]) + s


def create(kind, s, where=CWD, dev=0):
    return bytes([CREATE, kind | (dev << 3), where]) + s


def unlink(s, where=CWD):
    return bytes([UNLINK, where]) + s


def rename(s1, s2, w1=CWD, w2=CWD):
    return bytes([RENAME, w1]) + s1 + bytes([w2]) + s2


def mayhold(s):
    return bytes([MAYHOLD]) + s


def find(s):
    return bytes([FIND]) + s


def chdir(name):
    return bytes([CHDIR, d(name)])


def bulk(count, length_class, step):
    return bytes([BULK, (count - 1) % 64, length_class, step])


def drop(stride, offset):
    return bytes([DROP, (stride - 1) | (offset << 3)])


def op(o):
    return bytes([o])


P_TMP = spec(PRIV, TMP)
P_XY = spec(PRIV, XY)
SEEDS = {}
KNOWN = {}

# --- paths: normalisation and resolution, with the default roots -----------------------------------
SEEDS["seed-normalise"] = config() + b"".join([
    check(spec(ROOT)),
    check(spec(DSLASH)),
    check(spec(ROOT, DOTDOT)),
    check(spec(ROOT, A, DOT, B, DOTDOT, DOTDOT, DOTDOT)),
    check(spec(ROOT, TMP, A, EMPTY)),
    check(spec(DSLASH, TMP, EMPTY, EMPTY, B, DOT)),
    check(spec(ROOT, TMP, DOTS, CDOT, DOTA)),
    check(spec(ROOT, TMP, DOTA, (DOTDOT, 3), TMP, XY)),
    check(spec(REL, DOTDOT, DOTDOT, A)),
    check(spec(REL, DOT)),
    check(spec(REL)),
    check(spec(REL, A, EMPTY, B, DOT, EMPTY), dfd("x y/tmp")),
    check(spec(REL, (DOTDOT, 16), TMP, A), dfd("deep+14")),
    check(spec(ROOT, (LONG, 16))),                      # 4096 bytes and more: not a path
    check(spec(ROOT, (LONG, 15), ("v", 100))),
    check(spec(ROOT, (LONG, 15), ("v", 254))),          # 4095 bytes
    check(spec(REL, (LONG, 2)), dfd("deep+14")),        # too long with its directory
    check(spec(REL, LONG, ("v", 40)), dfd("deep+14")),
    chdir("deep+13"),
    check(spec(REL, DOTDOT, DNAME, EMPTY, DOT)),
    check(spec(ROOT, VAR, ("v", 0), DOT)),
])

# --- the contract table, roots in the private directory, each outputs setting ----------------------
for name, flags in (("onfail", OUT_UNSET), ("always", OUT_ALWAYS), ("never", OUT_NEVER), ("bad", OUT_BAD)):
    SEEDS[f"seed-table-{name}"] = config(flags | FILE, roots=[P_TMP, P_XY]) + b"".join([
        create(MKSTEMP, spec(PRIV, TMP, A)),
        create(MKDTEMP, spec(PRIV, TMP, B)),
        create(EXCL, spec(PRIV, XY, A)),
        create(OTHER, spec(PRIV, XY, B)),
        create(OTHER | DIRFLAG, spec(PRIV, XY, TMP)),
        create(MKSTEMP, spec(PRIV, A, A)),
        create(MKDTEMP, spec(PRIV, A, B)),
        create(EXCL, spec(PRIV, A, TMP)),
        create(OTHER, spec(PRIV, A, XY)),
        create(OTHER, spec(PRIV, TMP)),                 # the root itself is not inside it
        create(OTHER, spec(REL, TMP, CDOT), dfd("P")),
        create(MKSTEMP, spec(REL, DOTDOT, XY, DOTS), dfd("tmp")),
        op(READ),
    ])

# --- the starting directory: a build in P/tmp/a keeps its workspace ----------------------------------
SEEDS["seed-start-dir"] = config(FILE | OUT_ALWAYS, roots=[P_TMP], start="tmp/a") + b"".join([
    create(OTHER, spec(REL, A)),
    create(MKSTEMP, spec(REL, B, XY)),
    create(OTHER, spec(REL, DOTDOT, B)),
    create(OTHER, spec(PRIV, TMP, A)),                 # the starting directory itself
    create(OTHER, spec(PRIV, TMP, AEQB)),
    chdir("tmp/b"),
    create(OTHER, spec(REL, A)),
    check(spec(REL, DOTDOT, A, XY)),
])
SEEDS["seed-start-in-root"] = config(FILE, roots=[spec(PRIV, TMP, EMPTY)], start="tmp") + b"".join([
    create(MKSTEMP, spec(REL, A)),
    create(MKSTEMP, spec(PRIV, A)),
    create(OTHER, spec(PRIV, XY, A)),
])

# --- command-line paths: whole arguments and the part after '=' --------------------------------------
SEEDS["seed-cmdline"] = config(FILE, roots=[P_TMP], start="P", args=[
    (0, spec(REL, TMP, A)),                            # tmp/a
    (1, spec(PRIV, TMP, B)),                           # --out=P/tmp/b
    (2, spec(REL, TMP, XY)),                           # -xtmp/x y (not a path of ours)
    (3, spec(REL, AEQB)),                              # -a=b: b, in the starting directory
    (1, spec(REL, TMP, DOT, CDOT, EMPTY)),             # --out=tmp/./c./
]) + b"".join([
    create(OTHER, spec(REL, TMP, A)),
    create(OTHER, spec(PRIV, TMP, B)),
    create(OTHER, spec(PRIV, TMP, CDOT)),
    create(OTHER, spec(PRIV, TMP, XY)),
    create(MKSTEMP, spec(PRIV, B)),
    create(EXCL, spec(REL, XY, DOTDOT, TMP, A)),
    check(spec(REL, TMP, ("v", 3))),
])

# --- TMPGUARD_ROOTS refused (relative, empty, "::"), TMPDIR, the defaults ----------------------------
# (with the defaults, /dev/shm holds the private directory: started in it, everything would be kept)
SEEDS["seed-roots-refused"] = config(OUT_NEVER, roots=[P_TMP, spec(REL, TMP)], tmpdir=spec(PRIV, XY),
                                      start="a") + b"".join([
    create(MKSTEMP, spec(PRIV, XY, A)),
    create(OTHER, spec(ROOT, TMP, A)),
    check(spec(ROOT, DEEP, TMP)),
])
SEEDS["seed-roots-empty"] = config(roots=[], tmpdir=spec(REL, A)) + check(spec(ROOT, TMP, A))
SEEDS["seed-roots-trailing-colon"] = config(ROOTS_COLON | FILE, roots=[P_TMP]) + create(OTHER, spec(PRIV, TMP, A))
SEEDS["seed-roots-many"] = config(roots=[spec(ROOT, ("v", i + 1)) for i in range(17)]) + check(spec(ROOT, ("v", 3), A))

# --- growth across chunks, PAD blocks, FREE-block reuse, the reader ---------------------------------
SEEDS["seed-bulk-growth"] = config(FILE, roots=[P_TMP]) + b"".join([
    bulk(64, 250, 7),                                  # long paths: chunk 0, 1, 2...
    bulk(64, 240, 13),
    op(READ),
    drop(3, 1),
    bulk(40, 250, 7),                                  # reuses what the drop freed
    drop(2, 0),
    bulk(64, 100, 1),
    op(READ),
    bulk(64, 255, 0),
    bulk(64, 255, 0),
])
SEEDS["seed-free-reuse"] = config(FILE, roots=[P_TMP]) + b"".join(
    create(MKSTEMP, spec(PRIV, TMP, ("v", n))) + unlink(spec(REL, TMP, ("v", n)), dfd("P"))
    for n in (1, 40, 60, 61, 62, 63, 64, 120, 200, 255)) + b"".join(
    create(MKSTEMP, spec(PRIV, TMP, A, ("v", n))) for n in (60, 1, 255, 62)) + bytes([READ])
SEEDS["seed-anon"] = config(OUT_ALWAYS, roots=[P_TMP]) + b"".join([
    bulk(30, 10, 50),
    drop(1, 0),
    bulk(30, 10, 50),
    op(EXEC),                                          # anonymous memory: lost across exec
    bulk(5, 1, 3),
])

# --- publishing, unlinking, duplicates, find and may_hold ---------------------------------------------
SEEDS["seed-rename"] = config(FILE, roots=[P_TMP]) + b"".join([
    create(OTHER, spec(PRIV, TMP, A)),
    create(OTHER, spec(PRIV, TMP, B)),
    rename(spec(REL, A), spec(REL, DOT, B), dfd("tmp"), dfd("tmp")),
    create(MKSTEMP, spec(PRIV, TMP, XY)),
    create(MKSTEMP, spec(PRIV, TMP, XY)),              # made again after an unseen removal
    create(MKSTEMP, spec(PRIV, TMP, XY)),
    unlink(spec(REL, TMP, XY, DOT)),                   # "." as last name: may_hold must say yes
    unlink(spec(REL, TMP, XY)),
    find(spec(PRIV, TMP, XY)),
    find(spec(PRIV, TMP, A)),
    mayhold(spec(REL, XY)),
    mayhold(spec(REL, B)),
    rename(spec(PRIV, TMP, XY), spec(PRIV, TMP, XY)),
    find(spec(PRIV, TMP, XY)),
    op(READ),
])
SEEDS["seed-find"] = config(FILE, roots=[P_TMP]) + b"".join([
    create(MKDTEMP, spec(PRIV, TMP, DOTA)),
    find(spec(PRIV, TMP, DOTA)),
    find(spec(PRIV, TMP, DOTA, EMPTY)),
    find(spec(PRIV, TMP, EMPTY, DOTA)),
    mayhold(spec(REL, DOTA)),
    mayhold(spec(REL, DOTA, EMPTY)),
    mayhold(spec(REL, A, DOTDOT)),
    unlink(spec(PRIV, TMP, B, DOTDOT, DOTA)),
    find(spec(PRIV, TMP, DOTA)),
])

# --- fork and exec -----------------------------------------------------------------------------------
SEEDS["seed-fork"] = config(FILE, roots=[P_TMP]) + b"".join([
    create(MKSTEMP, spec(PRIV, TMP, A)),
    bulk(20, 3, 9),
    op(FORK),
    op(READ),
    create(MKSTEMP, spec(PRIV, TMP, B)),
    op(FORK),
    op(EXEC),
    create(MKSTEMP, spec(PRIV, TMP, A)),
])

SEEDS["seed-exec"] = config(FILE | OUT_ALWAYS, roots=[P_TMP]) + b"".join([
    create(MKSTEMP, spec(PRIV, TMP, A)),
    create(OTHER | DIRFLAG, spec(PRIV, TMP, B)),
    bulk(30, 20, 3),                                   # within the first chunk
    drop(4, 1),
    op(EXEC),                                          # adopted: the same entries, free lists rebuilt
    create(OTHER, spec(PRIV, TMP, ("v", 2))),
    bulk(30, 20, 3),
    unlink(spec(REL, A), dfd("tmp")),
    op(EXEC),
    op(READ),
])

# --- inputs that once showed the shim departing from its contract (replayed under --strict) ---
KNOWN["regress-roots-freed-on-adoption"] = config(FILE, roots=[P_TMP]) + b"".join([
    create(MKSTEMP, spec(PRIV, TMP, A)),
    create(OTHER, spec(PRIV, TMP, B)),
    op(EXEC),                                          # the roots block becomes FREE...
    create(OTHER, spec(PRIV, TMP, ("v", 2))),          # ...and holds this entry
    op(READ),
])
KNOWN["regress-adopt-truncates"] = config(FILE, roots=[P_TMP]) + b"".join([
    bulk(30, 200, 3),                                  # 30 entries of 52 cells: past the first chunk
    op(EXEC),
])
# two roots of ~1,000 bytes: the third would not fit in the 2048-byte roots block (now refused)
LONG_ROOT = lambda n: spec(PRIV, (LONG, 3), ("v", 220 + n))  # noqa: E731
KNOWN["regress-roots-dropped"] = config(FILE, roots=[LONG_ROOT(1), LONG_ROOT(2), P_TMP]) + b"".join([
    create(OTHER, spec(PRIV, TMP, A)),
    op(READ),
])
KNOWN["regress-root-slash"] = config(FILE, roots=[spec(ROOT, TMP, DOTDOT)]) + b"".join([
    create(OTHER, spec(ROOT, A, B)),                   # outside the starting directory
    op(READ),
])
KNOWN["regress-root-colon"] = config(FILE, tmpdir=spec(PRIV, ACOLB), start="tmp") + b"".join([
    create(OTHER, spec(PRIV, ACOLB, A)),
    op(READ),
])
# an absolute argument of ~800 bytes, started ~3,550 bytes deep: the argument was skipped, and the
# file it names was tracked (fixed: a named path of any length counts)
KNOWN["regress-cmd-long"] = config(FILE | OUT_ALWAYS, roots=[P_TMP], start="deep+14",
                                 args=[(0, spec(PRIV, TMP, (LONG, 3), A))]) + b"".join([
    create(OTHER, spec(PRIV, TMP, (LONG, 3), A)),
])


def write(dirname, prefix, inputs):
    os.makedirs(dirname, exist_ok=True)
    for f in os.listdir(dirname):
        if f.startswith(prefix):
            os.unlink(os.path.join(dirname, f))
    for name, data in inputs.items():
        with open(os.path.join(dirname, name), "wb") as fh:
            fh.write(data)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "model")
    findings = sys.argv[2] if len(sys.argv) > 2 else corpus
    write(corpus, "seed-", SEEDS)
    write(findings, "regress-", KNOWN)
    print(f"{len(SEEDS)} seeds in {corpus}, {len(KNOWN)} regression inputs in {findings}")


if __name__ == "__main__":
    main()
