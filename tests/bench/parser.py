#!/usr/bin/python3
"""Our own dump parser (src/ctparse.c) against libnetfilter_conntrack's
(src/ctparse-nfct.c, built with -Dparser=libnetfilter_conntrack), end to end:
the same table, the same calls, the two services taking turns. Prints the
median of each and the ratio, after checking that both give the same
entries. Not part of the test suite.

  /usr/bin/python3 tests/bench/parser.py [--entries N] [--reps R]

Needs build/ and build-nfct/ (meson setup build-nfct -Dparser=libnetfilter_conntrack)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import sandbox  # noqa: E402
import dbus  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--entries", type=int, default=200000)
ap.add_argument("--reps", type=int, default=5)
args = ap.parse_args()

SERVICES = {
    "own": os.path.join(sandbox.SRCDIR, "build", "src", "connectionsd"),
    "libnetfilter_conntrack": os.path.join(sandbox.SRCDIR, "build-nfct", "src", "connectionsd"),
}
CDCLIENT = os.path.join(sandbox.BUILDDIR, "tests", "tools", "cdclient")
CTFILL = os.path.join(sandbox.BUILDDIR, "tests", "tools", "ctfill")
CALLS = [
    ("List: one page, total of the whole table",
     ["busctl", "call", sandbox.NAME, "/org/example/Connections", "org.example.Connections", "List",
      "a{sv}a{sv}", "0", "2", "limit", "u", "1", "fresh", "b", "false"]),
    ("List: all entries, page by page", [CDCLIENT, "list"]),
    ("Export: all entries as JSON lines", [CDCLIENT, "export", "json"]),
]

sandbox.enter_namespaces()
sb = sandbox.Sandbox().start()


def use(kind):
    sb.stop_service()
    sandbox.SERVICE = SERVICES[kind]
    sb.start_service()


def export_entries():
    """Export's entries without the timeout (it counts down between the two reads)."""
    obj = dbus.SystemBus().get_object(sandbox.NAME, "/org/example/Connections")
    fd = obj.Export(dbus.Dictionary({}, signature="sv"), "json", dbus_interface="org.example.Connections").take()
    with os.fdopen(fd) as f:
        rows = [json.loads(line) for line in f]
    for r in rows:
        r.pop("timeout", None)
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


try:
    subprocess.run([CTFILL, str(args.entries), "--src", "10.64.0.0", "--dst", "10.128.0.1"], check=True,
                   stdout=subprocess.DEVNULL)
    sandbox.run("conntrack -I -p icmp -s 10.1.0.1 -d 10.1.0.2 --icmp-type 8 --icmp-code 0 --icmp-id 7 -t 600 "
                "--mark 5; conntrack -I -p tcp -s 2001:db8::1 -d 2001:db8::2 --sport 1 --dport 2 "
                "--state ESTABLISHED -t 600", check=False)
    same = {}
    for kind in SERVICES:
        use(kind)
        same[kind] = export_entries()
    print("# both parsers give the same %d entries: %s" % (len(same["own"]), same["own"] == same["libnetfilter_conntrack"]))
    times = {(c, k): [] for c, _ in CALLS for k in SERVICES}
    for _ in range(args.reps):
        for kind in SERVICES:
            use(kind)
            for name, cmd in CALLS:
                t0 = time.monotonic()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                times[(name, kind)].append(time.monotonic() - t0)
    print("| %d entries, median of %d | own parser | libnetfilter_conntrack | library / own |" % (args.entries, args.reps))
    print("|---|---|---|---|")
    for name, _ in CALLS:
        own = statistics.median(times[(name, "own")])
        lib = statistics.median(times[(name, "libnetfilter_conntrack")])
        print("| %s | %.3f s | %.3f s | %.2f× |" % (name, own, lib, lib / own))
finally:
    sb.stop()
