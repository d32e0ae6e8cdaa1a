#!/usr/bin/python3
"""Counts every test case of meson test runs (TAP subtests, or the test
itself when it printed none) and prints "N passed, N failed" last.
Arguments: one testlog.json per build directory.
Exits non-zero when anything failed or nothing ran."""
import json
import re
import sys


def count(path, failures):
    passed = failed = 0
    build = path.split("/")[0]
    if path.endswith("valgrind.json"):
        build += " (valgrind)"
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            name = "%s: %s" % (build, t["name"])
            out = t.get("stdout") or ""
            ok = len(re.findall(r"^ok \d+", out, re.M))
            bad = re.findall(r"^not ok \d+.*$", out, re.M)
            passed += ok
            failed += len(bad)
            failures += ["%s: %s" % (name, b) for b in bad]
            if t["result"] != "OK" and not bad:
                failed += 1   # crashed, timed out or failed outside any TAP line
                failures.append("%s: %s" % (name, t["result"]))
            elif t["result"] == "OK" and ok == 0 and not bad:
                passed += 1
    return passed, failed


failures = []
totals = [count(p, failures) for p in sys.argv[1:]]
passed, failed = sum(t[0] for t in totals), sum(t[1] for t in totals)
for f in failures:
    print("FAILED " + f)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or passed == 0 else 0)
