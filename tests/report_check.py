#!/usr/bin/env python3
"""Reads a tmpguard JSON-lines leak report and prints one normalised line per object, for the
report tests to assert on; a line that does not parse, or breaks the format, is printed as BAD and
makes the exit status 1.

  leak API BYTES REMOVED CAUSE FUNCTION WHERE NFRAMES PATH
      WHERE: the base name of the module and its offset (native), or of the file and its line (Python)
  summary created=N removed_by_program=N removed_by_tmpguard=N bytes_reclaimed=N kept=N pid=P program=NAME

With --count first, equal lines (leaks without their paths, summaries without their pids) are
printed once, after their number: "1600x leak mkstemp ...".
"""
import json
import os
import sys

LEAK_KEYS = {"event", "pid", "program", "path", "api", "bytes", "age_s", "removed", "cause", "site", "stack"}
SUMMARY_KEYS = {"event", "pid", "program", "created", "removed_by_program", "removed_by_tmpguard",
                "bytes_reclaimed", "kept"}


def frame_ok(fr):
    if not isinstance(fr, dict):
        return False
    if "module" in fr:
        return (set(fr) <= {"module", "offset", "function"} and isinstance(fr["module"], str)
                and isinstance(fr.get("offset"), str) and fr["offset"].startswith("0x"))
    return (set(fr) <= {"file", "line", "function"} and isinstance(fr.get("file"), str)
            and isinstance(fr.get("line"), int))


def main():
    bad = 0
    count = sys.argv[1] == "--count"
    seen = {}
    with open(sys.argv[-1], "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                o = json.loads(raw.decode("utf-8"))
                ev = o["event"]
                if ev == "leak":
                    assert set(o) <= LEAK_KEYS and {"pid", "program", "path", "api", "bytes", "age_s",
                                                     "removed", "cause"} <= set(o), "keys"
                    assert o["cause"] in ("exit", "signal", "max-age", "reap", "audit"), "cause"
                    assert isinstance(o["removed"], bool) and isinstance(o["bytes"], int), "types"
                    assert isinstance(o["age_s"], (int, float)) and o["age_s"] >= 0, "age"
                    site = o.get("site")
                    stack = o.get("stack", [])
                    assert site is None or frame_ok(site), "site"
                    assert all(frame_ok(s) for s in stack) and (site or not stack), "stack"
                    if site is None:
                        where, fn = "-", "-"
                    elif "module" in site:
                        where, fn = f"{os.path.basename(site['module'])}+{site['offset']}", site.get("function", "?")
                    else:
                        where, fn = f"{os.path.basename(site['file'])}:{site['line']}", site.get("function", "?")
                    line = (f"leak {o['api']} {o['bytes']} {str(o['removed']).lower()} {o['cause']} {fn} {where} "
                            f"{len(stack) + (site is not None)}")
                    if count:
                        seen[line] = seen.get(line, 0) + 1
                    else:
                        print(f"{line} {o['path']}")
                elif ev == "summary":
                    assert set(o) == SUMMARY_KEYS, "keys"
                    keys = ("created", "removed_by_program", "removed_by_tmpguard", "bytes_reclaimed", "kept")
                    line = "summary " + " ".join(f"{k}={o[k]}" for k in keys)
                    if count:
                        seen[line] = seen.get(line, 0) + 1
                    else:
                        print(f"{line} pid={o['pid']} program={o['program']}")
                else:
                    raise AssertionError("event")
            except Exception as e:  # one report line, whatever is wrong with it
                bad += 1
                print(f"BAD line {n}: {e!r}: {raw[:300]!r}")
    for line, n in seen.items():
        print(f"{n}x {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
