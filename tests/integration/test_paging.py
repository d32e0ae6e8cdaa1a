#!/usr/bin/python3
"""Consistent pages: the pages of one listing come from one kept result.

One client connection pages through 600 entries by 50, in dump order and
by every sort key, while entries are deleted and created between its
pages: each entry of the listing comes exactly once, total stays the
listing's, and nothing is missing against what conntrack -L had when the
listing began. Then: fresh, a caller leaving, the budget (results that do
not fit are not kept; the least recently used go)."""
import os
import re
import signal
import subprocess
import sys
import time

import dbus

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
PAGE = 50
N = 600
CTFILL = os.environ.get("CD_CTFILL") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "ctfill")
CDCLIENT = os.environ.get("CD_CDCLIENT") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "cdclient")
SORTS = [None, "id", "protocol", "state", "src", "dst", "sport", "dport", "timeout", "bytes", "packets", "start"]
sb = sandbox.Sandbox(service_args=["--page-size=%d" % PAGE]).start(polkit=False)


class Client:
    """One bus connection: one caller, as the service sees it."""

    def __init__(self):
        self.bus = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
        self.obj = self.bus.get_object(sandbox.NAME, sandbox.PATH)

    def list(self, flt=None, offset=0, sort=None, fresh=None, limit=PAGE):
        opts = {"offset": dbus.UInt32(offset), "limit": dbus.UInt32(limit)}
        if sort:
            opts["sort"] = sort
        if fresh is not None:
            opts["fresh"] = dbus.Boolean(fresh)
        total, recs = self.obj.List(dbus.Dictionary(flt or {}, signature="sv"),
                                    dbus.Dictionary(opts, signature="sv"),
                                    dbus_interface=sandbox.IFACE, timeout=120)
        return int(total), [int(r[0]) for r in recs]

    def close(self):
        self.bus.close()


def fill(src, n=N, first=0):
    r = sandbox.run([CTFILL, str(n), "--src", src, "--dst", "10.200.0.1", "--first", str(first), "--timeout", "600"],
                    check=False)
    if r.returncode != 0:
        raise RuntimeError("ctfill: %s %s" % (r.stdout, r.stderr))


def ids_now(*args):
    return sorted(e["id"] for e in sb.conntrack(*args))


def churn(k):
    """Between pages: k entries of the listing deleted, k new ones made."""
    sandbox.run("conntrack -D -s 10.100.0.0/16 -p tcp --sport %d >/dev/null 2>&1 || true" % (10000 + k))
    fill("10.101.0.0", n=7, first=k * 7)


def test_pages_while_changing():
    for sort in SORTS:
        sandbox.run("conntrack -F >/dev/null 2>&1")
        fill("10.100.0.0")
        c = Client()
        before = ids_now()
        total, got = c.list(sort=sort)
        totals, k = {total}, 0
        while len(got) < total:
            k += 1
            churn(k)
            t, page = c.list(offset=len(got), sort=sort)
            totals.add(t)
            if not page:
                break
            got += page
        after = ids_now()
        name = sort or "dump order"
        tap.ok(len(got) == len(set(got)), "%s: no entry twice across %d pages while the table changed" % (name, k + 1))
        tap.ok(sorted(got) == before and totals == {N},
               "%s: exactly the %d entries the listing began with, total steady" % (name, N),
               "missing %d, extra %d, totals %s" % (len(set(before) - set(got)), len(set(got) - set(before)), totals))
        tap.ok(after != before, "%s: (the table did change meanwhile)" % name)
        c.close()


def test_fresh_and_new_listing():
    c = Client()
    total, first = c.list()
    fill("10.102.0.0", n=25)
    t2, _ = c.list(offset=PAGE)
    tap.eq(t2, total, "a later page reads the kept listing: the same total")
    t3, _ = c.list(offset=PAGE, fresh=True)
    tap.eq(t3, total + 25, "fresh: a new listing, with the 25 new entries")
    t4, _ = c.list(offset=PAGE, sort="dport")
    tap.eq(t4, total + 25, "another sort is another listing")
    other = Client()
    t5, _ = other.list(offset=PAGE)
    tap.eq(t5, total + 25, "another caller has listings of its own")
    other.close()
    c.close()


def test_caller_leaves():
    c = Client()
    c.list()
    name = c.bus.get_unique_name()
    c.close()
    log = ""
    for _ in range(1200):   # bounded: 60 s
        log = open(sb.service_log).read()
        if re.search(r"Dropping the kept listing of \d+ entries for %s: the caller left" % re.escape(name), log):
            break
        time.sleep(0.05)
    tap.ok("for %s: the caller left the bus" % name in log, "a caller's listing goes when it leaves the bus")


def test_budget():
    sandbox.run("conntrack -F >/dev/null 2>&1")
    fill("10.100.0.0")
    # Room for one listing of 600 entries, not for two.
    sb.stop_service()
    sb.start_service(["--listing-budget=%d" % (176 * 900)])
    c = Client()
    a, b = {"protocol": "tcp"}, {"src": "10.100.0.0/16"}
    ta, _ = c.list(a)
    tb, _ = c.list(b)            # kept too: the older one, a's, goes
    fill("10.100.1.0", n=10)     # matches both
    tb2, _ = c.list(b, offset=PAGE)
    tap.eq((ta, tb, tb2), (N, N, N), "the newest listing is kept: its later page has its total")
    ta2, _ = c.list(a, offset=PAGE)
    tap.eq(ta2, N + 10, "past the budget the least recently used went: its later page lists anew")
    c.close()
    sb.stop_service()
    sb.start_service(["--listing-budget=%d" % (176 * 100)])
    c = Client()
    t, _ = c.list()
    fill("10.104.0.0", n=5)
    t2, _ = c.list(offset=PAGE)
    tap.eq((t, t2), (N + 10, N + 15), "a listing larger than the budget is not kept: each page reads the table")
    c.close()
    sb.stop_service()
    sb.start_service()


def test_early_page():
    """A table larger than the budget, listed whole in dump order: each page
    is answered once full, with the kernel's count as the total."""
    sandbox.run("conntrack -F >/dev/null 2>&1")
    fill("10.105.0.0")
    sb.stop_service()
    sb.start_service(["--listing-budget=%d" % (176 * 100)])
    order = [e["id"] for e in sb.conntrack()]
    count = int(sandbox.run("conntrack -C").stdout)
    c = Client()
    t, ids = c.list()
    tap.eq((t, ids), (count, order[:PAGE]), "first page: the table's count and the dump's first entries")
    t, ids = c.list(offset=4 * PAGE)
    tap.eq((t, ids), (count, order[4 * PAGE:5 * PAGE]), "a later page: the dump's entries at its offset")
    t, ids = c.list(limit=0)
    tap.eq((t, ids), (count, []), "limit 0: the count alone")
    log = open(sb.service_log).read()
    tap.ok("Answering 50 entries at offset 200 of the table's %d without dumping the rest" % count in log,
           "the page was answered without the rest of the dump", log[-2000:])
    t, ids = c.list({"src": "10.105.0.0/24"})
    want = [e["id"] for e in sb.conntrack("-s", "10.105.0.0/24")]
    tap.eq((t, ids), (len(want), want[:PAGE]), "a filter's total is still counted over the whole dump")
    t, ids = c.list(sort="id")
    tap.eq((t, ids), (count, sorted(order)[:PAGE]), "a sorted page still reads the whole table")
    c.close()
    sb.stop_service()
    sb.start_service()


def test_shared_walk():
    """Three callers' Lists of the same filter and sort, all with the
    service at once: one walk of the table serves them, and each gets its
    whole result."""
    fill("10.93.0.0", 300, first=50000)
    want = len(sb.conntrack("-s", "10.93.0.0/16"))
    shared = sb.log_count("reads the dump of a List of")
    pid = sb.service.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        ps = [sandbox.popen([CDCLIENT, "list", "--sort", "bytes", "--routed", "src=s:10.93.0.0/16"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        routed = [p.stdout.readline().strip() for p in ps]   # all three calls are with the service
    finally:
        os.kill(pid, signal.SIGCONT)
    # Not communicate(): it reads the pipe itself and would lose what readline() buffered.
    outs = [p.stdout.read().splitlines()[0] for p in ps]
    for p in ps:
        p.wait(120)
    tap.eq(routed, ["routed"] * 3, "three callers' Lists wait in the stopped service's queue")
    tap.eq(outs, ["total %d received %d pages %d" % (want, want, -(-want // PAGE))] * 3,
           "each caller pages through all %d entries of its result" % want)
    # Their first pages share one walk; the later pages of the two that
    # keep no listing (one is built at a time) may share theirs too.
    n = sb.log_count("reads the dump of a List of") - shared
    tap.ok(n >= 2, "the first pages of two of them read the first one's dump (%d shared walks in all)" % n)
    sandbox.run(["conntrack", "-D", "-s", "10.93.0.0/16"], check=False)


try:
    tap.run(test_pages_while_changing)
    tap.run(test_fresh_and_new_listing)
    tap.run(test_caller_leaves)
    tap.run(test_budget)
    tap.run(test_early_page)
    tap.run(test_shared_walk)
finally:
    sb.finish(tap)
sys.exit(tap.done())
