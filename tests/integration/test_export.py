#!/usr/bin/python3
"""Export: every matching entry as JSON lines or CSV in a sealed memfd,
against List and conntrack -L."""
import csv
import fcntl
import io
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import tables  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
CTFILL = os.environ.get("CD_CTFILL") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "ctfill")
CDCLIENT = os.environ.get("CD_CDCLIENT") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "cdclient")
sb = sandbox.Sandbox().start()
NAMES = ["id", "family", "protocol", "state", "status", "src", "dst", "sport", "dport", "reply-src",
         "reply-dst", "reply-sport", "reply-dport", "timeout", "mark", "zone", "packets", "bytes",
         "reply-packets", "reply-bytes", "start", "extra"]


def export(fmt, *flt, user=None):
    r = sandbox.run(sb.as_user(user) + [CDCLIENT, "export", fmt] + list(flt), check=False)
    return r.returncode, r.stdout, r.stderr


def as_list_record(d):
    """A JSON object with List's field names (underscores) for comparison."""
    return {k.replace("-", "_"): v for k, v in d.items()}


def comparable(r):
    r = dict(r)
    r.pop("timeout")   # ticks between the two calls
    return r


def test_json():
    _, recs = sb.list_all()
    rc, out, err = export("json")
    tap.eq(rc, 0, "Export json succeeds")
    rows = [json.loads(line) for line in out.splitlines()]
    tap.eq(len(rows), len(recs), "one JSON line per entry (%d)" % len(rows))
    tap.ok(all(list(r.keys()) == NAMES for r in rows), "each line has the record's names as keys, in order")
    want = sorted((comparable(r) for r in recs), key=lambda r: r["id"])
    got = sorted((comparable(as_list_record(r)) for r in rows), key=lambda r: r["id"])
    tap.ok(got == want, "the JSON records equal List's", [(a, b) for a, b in zip(got, want) if a != b][:2])
    tap.eq(sorted(r["id"] for r in rows), sorted(e["id"] for e in sb.conntrack()),
           "the JSON ids are conntrack -L's")


def test_csv():
    _, recs = sb.list_all()
    rc, out, err = export("csv")
    tap.eq(rc, 0, "Export csv succeeds")
    reader = csv.DictReader(io.StringIO(out))
    rows = list(reader)
    tap.eq(reader.fieldnames, NAMES, "the CSV header is the record's names")
    tap.eq(len(rows), len(recs), "one CSV line per entry")
    by_id = {r["id"]: r for r in recs}
    bad = []
    for row in rows:
        r = by_id.get(int(row["id"]))
        if not r or row["src"] != r["src"] or int(row["dport"]) != r["dport"] or \
                row["status"].split("|") != r["status"] or row["protocol"] != r["protocol"] or \
                int(row["mark"]) != r["mark"] or row["reply-dst"] != r["reply_dst"]:
            bad.append(row)
    tap.eq(bad, [], "every CSV row agrees with List")
    icmp = [row for row in rows if row["protocol"] == "icmp"]
    tap.ok(icmp and all("icmp-type=8" in row["extra"] for row in icmp), "ICMP details are in extra")


def test_filtered():
    for flt, ct in ((["protocol=s:tcp"], {"protocol": ("s", "tcp")}),
                    (["nat-address=s:" + tables.WAN1], {"nat-address": ("s", tables.WAN1)}),
                    (["family=s:ipv6", "status=as:ASSURED"], {"family": ("s", "ipv6"), "status": ("as", ["ASSURED"])})):
        _, recs = sb.list_all(ct)
        rc, out, _ = export("json", *flt)
        ids = sorted(json.loads(l)["id"] for l in out.splitlines())
        tap.ok(rc == 0 and ids == sorted(r["id"] for r in recs) and ids, "Export %s equals List's" % " ".join(flt))
    rc, out, _ = export("csv", "dport=q:65000")
    tap.ok(rc == 0 and out.splitlines() == [",".join(NAMES)], "an Export matching nothing is the CSV header alone")


def test_errors_and_auth():
    for args, needle, desc in ((["xml"], "xml", "an unknown format"),
                               (["json", "port=s:80"], "port", "a bad filter")):
        rc, _, err = export(*args)
        tap.ok(rc != 0 and "InvalidArgs" in err and needle in err, "Export with %s: InvalidArgs naming %r" % (desc, needle), err)
    rc, _, err = export("json", user="cddeny")
    tap.ok(rc != 0 and "AccessDenied" in err, "a user polkit denies gets AccessDenied", err)
    rc, out, err = export("json", user="cdallow")
    tap.ok(rc == 0 and len(out.splitlines()) > 0, "a user polkit allows gets the data", err)


def test_sealed():
    # dbus-python receives the descriptor itself, so its seals can be inspected.
    code = r"""
import dbus, fcntl, os
bus = dbus.SystemBus()
obj = bus.get_object("org.example.Connections", "/org/example/Connections")
fd = obj.Export(dbus.Dictionary({}, signature="sv"), "json",
                dbus_interface="org.example.Connections").take()
seals = fcntl.fcntl(fd, 1034)  # F_GET_SEALS
try:
    os.write(fd, b"x"); wrote = True
except OSError:
    wrote = False
print(seals, wrote, os.lseek(fd, 0, os.SEEK_CUR), len(os.read(fd, 1 << 20)) > 0)
"""
    r = sandbox.run(["/usr/bin/python3", "-c", code], check=False)
    parts = r.stdout.split()
    want = 0x1 | 0x2 | 0x4 | 0x8   # SEAL, SHRINK, GROW, WRITE
    tap.ok(len(parts) == 4 and int(parts[0]) & want == want, "the memfd is sealed (seals %s)" % parts[:1], r.stderr)
    tap.ok(len(parts) == 4 and parts[1] == "False", "writing to it fails")
    tap.ok(len(parts) == 4 and parts[2] == "0" and parts[3] == "True", "it is handed over at offset 0, with data")


BUDGET_SCRIPT = r"""
import dbus, os, sys
bus = dbus.SystemBus()
obj = bus.get_object("org.example.Connections", "/org/example/Connections")
held, out = [], []
def export():
    try:
        fd = obj.Export(dbus.Dictionary({}, signature="sv"), "json",
                        dbus_interface="org.example.Connections").take()
        held.append(fd)
        out.append("ok %d" % os.fstat(fd).st_size)
    except dbus.DBusException as e:
        out.append("error %s %s" % (e.get_dbus_name(), e.get_dbus_message()))
for _ in range(3):
    export()
for fd in held:
    os.close(fd)
bus.call_blocking("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId", "", [])
import time
for _ in range(1200):   # the service hears of the close through inotify: bounded, 60 s
    export()
    if out[-1].startswith("ok"):
        break
    time.sleep(0.05)
print("\n".join(out))
"""


def test_budget():
    """An Export's memfd is charged to its user until every holder closed it:
    with an 8 MiB budget, a user holding two 3.5 MiB exports is refused a
    third, and closing them frees the budget (for root and another user)."""
    sb.stop_service()
    sb.service_args = ["--export-budget=%d" % (8 << 20)]
    sb.start_service()
    sandbox.run([CTFILL, "10000", "--src", "10.60.0.0"])
    for user in (None, "cdallow"):
        r = sandbox.run(sb.as_user(user) + ["/usr/bin/python3", "-c", BUDGET_SCRIPT], check=False)
        lines = r.stdout.splitlines()
        who = user or "root"
        tap.ok(len(lines) >= 4 and lines[0].startswith("ok ") and lines[1].startswith("ok ")
               and int(lines[0].split()[1]) > 3 << 20, "%s: two exports of 10,000 entries, held" % who, r.stdout + r.stderr)
        tap.ok(len(lines) >= 4 and lines[2].startswith("error org.freedesktop.DBus.Error.LimitsExceeded")
               and "8 MiB" in lines[2], "%s: a third while they are open is refused, naming the budget" % who, lines[2:3])
        tap.ok(len(lines) >= 4 and lines[-1].startswith("ok "), "%s: once they are closed, Export works again" % who,
               lines[3:])
    sb.gdbus("DeleteMatching", "{'src': <'10.60.0.0/16'>}")
    sb.stop_service()
    sb.service_args = []
    sb.start_service()


try:
    tables.mixed(sb)
    tap.run(test_json)
    tap.run(test_csv)
    tap.run(test_filtered)
    tap.run(test_errors_and_auth)
    tap.run(test_sealed)
    tap.run(test_budget)
finally:
    sb.finish(tap)
sys.exit(tap.done())
