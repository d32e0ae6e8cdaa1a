#!/usr/bin/python3
"""List on a 200,000-entry table: every page against conntrack -L, a deep
sorted page (the two-pass mode), a kernel-filtered subset, and the loop
answering other calls while a big dump runs."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
CTFILL = os.environ.get("CD_CTFILL") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "ctfill")
N_MAIN, N_443 = 199000, 1000
sb = sandbox.Sandbox().start(polkit=False)
BASE = ["busctl", "call", sandbox.NAME, sandbox.PATH, sandbox.IFACE, "List", "a{sv}a{sv}"]


def conntrack_ids(*args):
    r = sandbox.run(["conntrack", "-L", "-o", "id"] + list(args), check=False)
    return sorted(int(x) for x in re.findall(r"\bid=(\d+)", r.stdout))


def test_every_page():
    total, recs = sb.list_all()
    tap.eq(total, N_MAIN + N_443, "total is the table size")
    got = sorted(r["id"] for r in recs)
    # Kernel ids are 32-bit hashes and collide on tables this big, so an
    # entry is its id with its tuple.
    idents = {(r["id"], r["src"], r["sport"], r["dst"], r["dport"], r["zone"]) for r in recs}
    tap.eq(len(idents), len(recs), "no entry comes twice across %d pages" % ((total + 9999) // 10000))
    tap.ok(got == conntrack_ids(), "the ids of all pages equal conntrack -L's (duplicate ids included)")
    tap.eq(sb.prop("Count"), total, "Count agrees")
    return recs


def test_deep_sorted_page(recs):
    want = sorted(recs, key=lambda r: r["sport"])   # stable: dump order breaks ties
    _, page = sb.list(opts={"sort": ("s", "sport"), "offset": ("u", 150000), "limit": ("u", 300)})
    tap.eq([r["id"] for r in page], [r["id"] for r in want[150000:150300]],
           "a deep sorted page (offset 150000, two passes) is the stable sort's slice")
    want = sorted(recs, key=lambda r: r["sport"], reverse=True)
    _, page = sb.list(opts={"sort": ("s", "sport"), "reverse": ("b", True), "offset": ("u", 5000),
                            "limit": ("u", 100)})
    tap.eq([r["id"] for r in page], [r["id"] for r in want[5000:5100]],
           "a reversed sorted page (offset 5000, one pass) is the slice")


def test_kernel_filtered():
    flt = {"family": ("s", "ipv4"), "protocol": ("s", "tcp"), "dport": ("q", 443)}
    total, recs = sb.list_all(flt)
    tap.eq(total, N_443, "protocol+dport (kernel tuple filter) finds the %d entries" % N_443)
    tap.eq(sorted(r["id"] for r in recs), conntrack_ids("-p", "tcp", "--dport", "443"),
           "and they are conntrack -L -p tcp --dport 443's")


def test_loop_not_blocked():
    # A sorted List over 200k entries takes a few hundred ms; property reads
    # meanwhile must be answered before it completes.
    big = sandbox.popen(BASE + ["0", "2", "sort", "s", "bytes", "limit", "u", "10000"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    answered_during = 0
    while big.poll() is None:
        r = sandbox.run(["busctl", "get-property", sandbox.NAME, sandbox.PATH, sandbox.IFACE, "Count"],
                        check=False)
        if r.returncode == 0 and big.poll() is None:
            answered_during += 1
    tap.ok(big.returncode == 0, "the big List succeeded")
    tap.ok(answered_during >= 1, "%d property reads were answered while the big List ran" % answered_during)
    # Several dumps at once, each on its own socket.
    procs = [sandbox.popen(BASE + ["0", "1", "limit", "u", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    tap.ok(all(p.returncode == 0 and o[0].startswith("ua(tsssasssqqssqquuqttttta{sv}) %d 0" % (N_MAIN + N_443))
               for p, o in zip(procs, outs)), "four concurrent full dumps all count the whole table", outs)


def test_export():
    cdclient = os.environ.get("CD_CDCLIENT") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "cdclient")
    out = sandbox.run([cdclient, "export", "json"]).stdout
    ids = sorted(int(m) for m in re.findall(r'^\{"id":(\d+),', out, re.M))
    tap.eq(len(ids), N_MAIN + N_443, "Export json of the whole table has %d lines" % (N_MAIN + N_443))
    tap.ok(ids == conntrack_ids(), "and exactly conntrack -L's entries")
    out = sandbox.run([cdclient, "export", "csv", "dport=q:443"]).stdout
    tap.eq(len(out.splitlines()), N_443 + 1, "Export csv with a filter: header and %d lines" % N_443)


def test_reply_cap():
    # With a page size of 100,000 a full page would be ~25 MiB on the bus; the
    # service cuts replies at its 16 MiB budget and clients page on by count.
    sb.stop_service()
    sb.service_args = ["--page-size=100000"]
    sb.start_service()
    r = sandbox.run(BASE + ["0", "1", "limit", "u", "100000"])
    n = r.stdout.count("ESTABLISHED")
    tap.ok(10000 < n < 100000, "a 100,000-entry page is cut short (%d entries in one reply)" % n)
    total, recs = sb.list_all()
    tap.ok(total == N_MAIN + N_443 and len(recs) == total,
           "paging by the number received still covers all %d entries (%d pages)" % (total, (total + n - 1) // n))


def test_delete_at_scale():
    sandbox.run([CTFILL, "50000", "--src", "10.210.0.0", "--dport", "8443"])
    out = sb.gdbus("DeleteMatching", "{'dport': <uint16 8443>}")
    tap.eq(out.strip(), "(uint32 50000,)", "DeleteMatching removes the 50,000 matching of 250,000 entries")
    tap.eq(conntrack_ids("-p", "tcp", "--dport", "8443"), [], "conntrack -L finds none of them left")
    tap.eq(len(conntrack_ids()), N_MAIN + N_443, "and all %d others are still there" % (N_MAIN + N_443))
    out = sb.gdbus("Flush")
    tap.eq(out.strip(), "(uint32 %d,)" % (N_MAIN + N_443), "Flush reports the %d entries it removed" % (N_MAIN + N_443))
    tap.eq(conntrack_ids(), [], "the table is empty")


try:
    r = sandbox.run([CTFILL, str(N_MAIN)])
    r = sandbox.run([CTFILL, str(N_443), "--src", "10.200.0.0", "--dport", "443"])
    recs = test_every_page()
    tap.run(test_deep_sorted_page, recs)
    tap.run(test_kernel_filtered)
    tap.run(test_loop_not_blocked)
    tap.run(test_export)
    tap.run(test_reply_cap)
    tap.run(test_delete_at_scale)
finally:
    sb.finish(tap)
sys.exit(tap.done())
