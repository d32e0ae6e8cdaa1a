#!/usr/bin/python3
"""Counts every test case of a meson test run (TAP subtests, or the test
itself when it printed none) and prints "N passed, N failed" last.
Exits non-zero when anything failed or nothing ran."""
import json
import re
import sys

passed = failed = 0
failures = []
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        out = t.get("stdout") or ""
        ok = len(re.findall(r"^ok \d+", out, re.M))
        bad = re.findall(r"^not ok \d+.*$", out, re.M)
        passed += ok
        failed += len(bad)
        failures += ["%s: %s" % (t["name"], b) for b in bad]
        if t["result"] != "OK" and not bad:
            failed += 1   # crashed, timed out or failed outside any TAP line
            failures.append("%s: %s" % (t["name"], t["result"]))
        elif t["result"] == "OK" and ok == 0 and not bad:
            passed += 1
for f in failures:
    print("FAILED " + f)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or passed == 0 else 0)
