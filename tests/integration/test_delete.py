#!/usr/bin/python3
"""Delete, DeleteMatching and Flush against the kernel's table.

After every call, conntrack -L must show exactly the targeted entries gone
and every other entry still there; denied and invalid calls change nothing."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import tables  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
sb = sandbox.Sandbox().start()
NOT_FOUND = "org.example.Connections.Error.NotFound"
INVALID = "org.freedesktop.DBus.Error.InvalidArgs"
DENIED = "org.freedesktop.DBus.Error.AccessDenied"
INTERACTIVE = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"

_sport = [20000]


def key(e):
    """An entry's identity (ids alone can collide)."""
    return (e["id"], e["src"], e["sport"], e["dst"], e["dport"], e["zone"])


def table():
    return {key(e): e for e in sb.conntrack()}


def insert(args):
    _sport[0] += 1
    sandbox.run("conntrack -I %s --sport %d -t 600" % (args, _sport[0]))


def populate():
    """A fresh set of varied entries, added to whatever the table holds."""
    for a in ("-p tcp -s 192.0.2.10 -d 192.0.2.20 --dport 443 --state ESTABLISHED -u SEEN_REPLY,ASSURED --mark 16",
              "-p tcp -s 192.0.2.11 -d 192.0.2.20 --dport 80 --state TIME_WAIT -u SEEN_REPLY --mark 17",
              "-p udp -s 192.0.2.12 -d 192.0.2.21 --dport 53 --mark 32 --zone 5",
              "-p udp -s 192.0.2.13 -d 192.0.2.21 --dport 53 -u SEEN_REPLY",
              "-p tcp -s 2001:db8::10 -d 2001:db8::20 --dport 22 --state SYN_SENT --zone 5",
              "-p udp -s 2001:db8::11 -d 2001:db8:1::53 --dport 53 -u SEEN_REPLY --mark 48",
              "-p tcp -s 198.18.0.1 -d 198.18.1.1 --dport 5060 --state ESTABLISHED --mark 0x100",
              "-p tcp -s 198.18.0.2 -d 198.18.1.1 --dport 5060 --state ESTABLISHED --mark 0x1ff",
              "-p tcp -s 198.18.0.3 -d 198.18.1.1 --dport 5060 --state ESTABLISHED --mark 0x200"):
        insert(a)
    # Real flows: NATed through both uplinks, a DNAT, and local ones.
    tables.start(sb, ["connect", tables.ISP1 + ":80/tcp", tables.ISP1 + ":5060/udp",
                      tables.ISP2 + ":80/tcp", tables.ISP2 + ":5060/udp", "10.0.0.1:8080/tcp"], ns="lan")
    tables.start(sb, ["connect", "127.0.0.1:7001/tcp", "[::1]:7001/tcp"])
    sandbox.run("ping -c1 -W2 127.0.0.1 >/dev/null")


def gone_exactly(before, after, want, desc):
    """The entries gone are exactly want (the sandbox's timeouts are long:
    nothing expires by itself during a test)."""
    gone = set(before) - set(after)
    extra = gone - want
    tap.ok(want <= gone and not extra, desc,
           "not deleted: %s\ndeleted too: %s" % (want - gone, extra))


def call(method, *args, user=None, interactive=False):
    try:
        return "ok", sb.gdbus(method, *args, user=user, interactive=interactive)
    except sandbox.BusError as e:
        return e.name, e.message


def text_filter(d):
    return sandbox.gvariant_text(d)


# --- Delete ------------------------------------------------------------------

def find(pred):
    return [e for e in sb.conntrack() if pred(e)]


def delete_spec(e, with_id=False, zone=None):
    d = {"protocol": ("s", e["protocol"]), "src": ("s", e["src"]), "dst": ("s", e["dst"])}
    if e["protocol"].startswith("icmp"):
        d.update({"icmp-type": ("y", e["icmp-type"]), "icmp-code": ("y", e["icmp-code"]),
                  "icmp-id": ("q", e["icmp-id"])})
    else:
        d.update({"sport": ("q", e["sport"]), "dport": ("q", e["dport"])})
    if with_id:
        d["id"] = ("u", e["id"])
    if zone is not None:
        d["zone"] = ("q", zone)
    return d


def expect_delete(spec, target, desc):
    before = table()
    res, msg = call("Delete", text_filter(spec))
    after = table()
    tap.eq(res, "ok", desc + ": succeeds")
    gone_exactly(before, after, {key(target)}, desc + ": exactly that entry is gone")


def expect_unchanged(method, args, want_error, desc, user=None, interactive=False):
    before = table()
    res, msg = call(method, *args, user=user, interactive=interactive)
    after = table()
    tap.eq(res, want_error, desc + ": " + want_error.split(".")[-1])
    tap.ok(set(before) - set(after) == set(), desc + ": nothing deleted",
           "%s\ngone: %s" % (msg, sorted(set(before) - set(after))))
    return msg


def icmp_entries():
    # conntrack's XML does not carry ICMP identity: take it from List.
    total, recs = sb.list_all({"protocol": ("s", "icmp")})
    return [dict(r, **{"icmp-type": r["extra"]["icmp-type"], "icmp-code": r["extra"]["icmp-code"],
                       "icmp-id": r["extra"]["icmp-id"]}) for r in recs]


def test_delete():
    populate()
    e = find(lambda e: e["src"] == "192.0.2.10")[0]
    expect_delete(delete_spec(e), e, "Delete by tuple")
    populate()
    e = find(lambda e: e["src"] == "192.0.2.10")[0]
    expect_delete(delete_spec(e, with_id=True), e, "Delete by tuple and its id")
    populate()
    e = find(lambda e: e["src"] == "192.0.2.10")[0]
    spec = delete_spec(e)
    spec["id"] = ("u", (e["id"] + 1) % 2**32)
    expect_unchanged("Delete", [text_filter(spec)], NOT_FOUND, "Delete by tuple with another entry's id")
    expect_delete({"id": ("u", e["id"])}, e, "Delete by id alone")
    expect_unchanged("Delete", [text_filter({"id": ("u", e["id"])})], NOT_FOUND, "Delete of an id that is gone")
    e = find(lambda e: e["src"] == "2001:db8::10")[0]
    expect_unchanged("Delete", [text_filter(delete_spec(e))], NOT_FOUND, "Delete of a zone-5 entry without its zone")
    expect_delete(delete_spec(e, zone=5), e, "Delete of an IPv6 entry in zone 5")
    e = find(lambda e: e["src"] == "::1" and e["protocol"] == "tcp")[0]
    expect_delete(delete_spec(e, with_id=True), e, "Delete of an IPv6 loopback TCP flow")
    icmp = icmp_entries()
    tap.ok(len(icmp) >= 1, "there are ICMP entries to delete")
    expect_delete(delete_spec(icmp[0]), icmp[0], "Delete of an ICMP entry by type, code and id")
    e = find(lambda e: e["src"] == "192.0.2.11")[0]
    for spec, needle, desc in (
        ({}, "protocol", "an empty connection"),
        ({"protocol": ("s", "tcp"), "src": ("s", e["src"]), "dst": ("s", e["dst"])}, "sport", "no ports"),
        ({"protocol": ("s", "tcp"), "src": ("s", e["src"] + "/32"), "dst": ("s", e["dst"]),
          "sport": ("q", e["sport"]), "dport": ("q", e["dport"])}, "src", "a prefix instead of an address"),
        ({"protocol": ("s", "tcp"), "src": ("s", e["src"]), "dst": ("s", "::1"),
          "sport": ("q", e["sport"]), "dport": ("q", e["dport"])}, "dst", "mixed families"),
        ({"protocol": ("s", "icmp"), "src": ("s", e["src"]), "dst": ("s", e["dst"]),
          "sport": ("q", 1), "icmp-type": ("y", 8), "icmp-code": ("y", 0), "icmp-id": ("q", 1)}, "sport",
         "ports for ICMP"),
        ({"protocol": ("s", "gre"), "src": ("s", e["src"]), "dst": ("s", e["dst"])}, "id", "GRE by tuple"),
        ({"id": ("s", "12")}, "id", "an id as a string"),
        ({"id": ("t", 2**40)}, "id", "an id out of range"),
        ({"colour": ("s", "red")}, "colour", "an unknown key"),
    ):
        msg = expect_unchanged("Delete", [text_filter(spec)], INVALID, "Delete with " + desc)
        tap.ok(needle in msg, "Delete with %s: the error names %r" % (desc, needle), msg)


# --- DeleteMatching -------------------------------------------------------------

def expect_matching(flt, desc, must_match=True):
    populate()
    if callable(flt):   # a filter that depends on what populate() made
        flt = flt()
    before = table()
    _, listed = sb.list_all(flt)
    want = {(r["id"], r["src"], r["sport"], r["dst"], r["dport"], r["zone"]) for r in listed}
    res, out = call("DeleteMatching", text_filter(flt))
    after = table()
    n = int(re.search(r"uint32 (\d+)", out).group(1)) if res == "ok" else -1
    tap.ok(res == "ok" and n == len(want) and (len(want) > 0 or not must_match),
           "DeleteMatching %s: deletes %d, as many as List showed" % (desc, n), out)
    gone_exactly(before, after, want, "DeleteMatching %s: exactly List's entries are gone" % desc)
    return before, after


def test_delete_matching():
    W1, W2 = tables.WAN1, tables.WAN2
    cases = [
        ({"family": ("s", "ipv6")}, "family"),
        ({"protocol": ("s", "udp")}, "protocol"),
        ({"state": ("s", "TIME_WAIT")}, "state"),
        ({"status": ("as", ["UNREPLIED"])}, "status UNREPLIED"),
        ({"status": ("as", ["ASSURED"])}, "status ASSURED"),
        ({"address": ("s", "192.0.2.20")}, "address"),
        ({"src": ("s", "192.0.2.0/28")}, "src prefix"),
        ({"dst": ("s", "192.0.2.21")}, "dst"),
        ({"reply-src": ("s", tables.ISP2)}, "reply-src"),
        ({"reply-dst": ("s", "192.0.2.12")}, "reply-dst"),
        ({"port": ("q", 53)}, "port"),
        (lambda: {"sport": ("q", _sport[0] - 5)}, "sport"),   # populate()'s 4th entry
        ({"dport": ("u", 443)}, "dport given as u"),
        ({"protocol": ("s", "tcp"), "dport": ("q", 80)}, "protocol+dport (kernel tuple filter)"),
        ({"mark": ("u", 16)}, "mark"),
        ({"zone": ("q", 5)}, "zone"),
        ({"nat": ("s", "dnat")}, "nat dnat"),
        ({"nat": ("s", "snat")}, "nat snat"),
        ({"nat": ("s", "none"), "protocol": ("s", "icmp")}, "nat none + protocol"),
    ]
    for flt, desc in cases:
        expect_matching(flt, desc)
    expect_matching({"dport": ("q", 65000)}, "matching nothing", must_match=False)

    # MultiWAN: uplink 1 failed; drop what is NATed to its address.
    before, after = expect_matching({"nat-address": ("s", W1)}, "nat-address of uplink 1")
    up1 = [k for k, e in before.items() if e["reply_dst"] == W1]
    up2 = [k for k, e in before.items() if e["reply_dst"] == W2]
    local = [k for k, e in before.items() if e["src"] in ("127.0.0.1", "::1")]
    tap.ok(up1 and not any(k in after for k in up1), "every flow NATed to uplink 1 is gone")
    tap.ok(up2 and all(k in after for k in up2), "flows NATed to uplink 2 stay")
    tap.ok(local and all(k in after for k in local), "local flows stay")

    # Mark-based MultiWAN (mwan3 style: the uplink in bits 8-15).
    before, after = expect_matching({"mark": ("u", 0x100), "mark-mask": ("u", 0xff00)}, "mark/mask of uplink 1")
    tap.ok(all((e["mark"] & 0xff00 == 0x100) != (k in after) for k, e in before.items()),
           "entries with another uplink's mark stay, uplink 1's are gone")

    for flt, needle, desc in (({}, "Flush", "an empty filter"),
                              ({"port": ("s", "53")}, "port", "a bad filter"),
                              ({"interface": ("s", "nosuch0")}, "nosuch0", "an unknown interface")):
        msg = expect_unchanged("DeleteMatching", [text_filter(flt)], INVALID, "DeleteMatching with " + desc)
        tap.ok(needle in msg, "DeleteMatching with %s: the error names %r" % (desc, needle), msg)


# --- Flush, authorization, signal, audit ------------------------------------------

def test_authorization():
    populate()
    e = find(lambda e: e["src"] == "192.0.2.13")[0]
    calls = {"Delete": [text_filter(delete_spec(e))],
             "DeleteMatching": [text_filter({"protocol": ("s", "udp")})],
             "Flush": []}
    for method, args in calls.items():
        expect_unchanged(method, args, DENIED, "%s by a denied user" % method, user="cddeny")
        expect_unchanged(method, args, DENIED, "%s by a denied user, interactive" % method, user="cddeny",
                         interactive=True)
        expect_unchanged(method, args, INTERACTIVE, "%s by a user without a rule" % method, user="cdnobody")
        expect_unchanged(method, args, DENIED, "%s by a user without a rule, interactive" % method,
                         user="cdnobody", interactive=True)
    expect_unchanged("Delete", [text_filter({"protocol": ("s", "tcpx")})], INVALID,
                     "Delete with bad arguments by a denied user (validated before polkit)", user="cddeny")
    before = table()
    res, _ = call("Delete", *calls["Delete"], user="cdallow")
    gone_exactly(before, table(), {key(e)}, "Delete by a user a rule allows")
    populate()
    before = table()
    res, out = call("DeleteMatching", *calls["DeleteMatching"], user="cdallow")
    tap.ok(res == "ok" and not any(x["protocol"] == "udp" for x in table().values()),
           "DeleteMatching by a user a rule allows", out)
    sb.stop_polkitd()
    for method, args in calls.items():
        expect_unchanged(method, args, DENIED, "%s with polkitd down" % method, user="cdallow")
    sb.start_polkitd()
    populate()
    n = len(sb.conntrack())
    res, out = call("Flush", user="cdallow")
    left = sb.conntrack()
    tap.ok(res == "ok" and not left, "Flush by a user a rule allows empties the table", out)
    tap.eq(int(re.search(r"uint32 (\d+)", out).group(1)), n, "Flush reports how many entries there were")
    populate()
    n = len(sb.conntrack())
    res, out = call("Flush")
    tap.ok(res == "ok" and not sb.conntrack(), "Flush by root empties the table", out)
    tap.eq(sb.prop("Count"), 0, "Count is 0 after Flush")


def test_authorization_follows_effect():
    W1 = tables.WAN1
    for flt, desc in (({"status": ("as", [])}, "an empty status list"),
                      ({"mark": ("u", 0), "mark-mask": ("u", 0)}, "mark-mask 0"),
                      ({"address": ("s", "0.0.0.0/0")}, "address 0.0.0.0/0"),
                      ({"stale": ("b", False)}, "stale false, nothing stale"),
                      ({"family": ("s", "ipv4"), "src": ("s", "::/0")}, "family and a /0 prefix")):
        populate()
        expect_unchanged("DeleteMatching", [text_filter(flt)], DENIED,
                         "DeleteMatching with %s is a flush: refused to a user who may not flush" % desc,
                         user="cdmatch")
    populate()
    res, out = call("DeleteMatching", text_filter({"status": ("as", [])}))
    tap.ok(res == "ok" and not sb.conntrack(), "root may, and it empties the table", out)
    populate()
    before = table()
    res, out = call("DeleteMatching", text_filter({"protocol": ("s", "udp")}), user="cdmatch")
    gone_exactly(before, table(), {k for k, e in before.items() if e["protocol"] == "udp"},
                 "a filter that narrows: the same user deletes what it matches")
    # A rule that reads the details: cdwan may delete what is bound to wan1 only.
    populate()
    before = table()
    res, out = call("DeleteMatching", text_filter({"interface": ("s", "wan1")}), user="cdwan")
    tap.ok(res == "ok", "a rule that reads the details (interface, filter, polkit.message) allows "
           "delete-matching for interface=wan1 alone", out)
    gone_exactly(before, table(), {k for k, e in before.items() if W1 in (e["src"], e["dst"], e["reply_src"], e["reply_dst"])},
                 "and exactly wan1's connections are gone")
    for flt, desc in (({"interface": ("s", "wan2")}, "interface=wan2"), ({"dport": ("q", 80)}, "dport=80")):
        expect_unchanged("DeleteMatching", [text_filter(flt)], DENIED, "the same rule, %s: refused" % desc,
                         user="cdwan")


def test_signal_and_audit():
    sub = sb.listen()                                  # root, subscribed
    bystander = sb.listen(subscribe=False)             # root, match rules only
    denied = sb.listen(user="cddeny")                  # polkit denies list
    tap.eq([sub.first, bystander.first, denied.first],
           ["ready", "ready", "subscribe-error org.freedesktop.DBus.Error.AccessDenied"],
           "listeners: subscribed, not subscribed, and one polkit refuses")
    populate()
    e = find(lambda e: e["src"] == "192.0.2.12")[0]
    call("Delete", text_filter(delete_spec(e, zone=5)))
    res, out = call("DeleteMatching", text_filter({"protocol": ("s", "tcp"), "port": ("q", 5060)}))
    n = int(re.search(r"uint32 (\d+)", out).group(1))
    call("Flush")
    sub.wait(lambda l: len(l.signals("ConnectionsDeleted")) >= 3)
    sig = sub.signals("ConnectionsDeleted")
    tap.eq(len(sig), 3, "a subscriber gets three ConnectionsDeleted signals")
    tap.ok(len(sig) == 3 and sig[0][0] == "Delete" and sig[0][1].get("zone") == 5 and sig[0][2] == 1,
           "Delete's signal carries the connection and count 1", sig)
    tap.ok(len(sig) == 3 and sig[1][0] == "DeleteMatching" and sig[1][1] == {"protocol": "tcp", "port": 5060}
           and sig[1][2] == n, "DeleteMatching's signal carries the filter and count", sig)
    tap.ok(len(sig) == 3 and sig[2][0] == "Flush" and sig[2][1] == {}, "Flush's signal has an empty filter", sig)
    # Signals are addressed to subscribers: a match rule alone receives nothing.
    bystander.wait(lambda l: l.received, timeout=2)
    tap.eq(bystander.received, [], "a client that did not subscribe receives no signal, match rule or not")
    tap.eq(denied.received, [], "nor does a user polkit refuses the list right")
    for l in (sub, bystander, denied):
        l.stop()
    log = open(sb.service_log).read()
    audits = [l for l in log.splitlines() if l.startswith("AUDIT ")]
    tap.ok(any("method=DeleteMatching uid=0 pid=" in l and "filter='protocol=tcp port=5060'" in l and
               "result=ok count=%d" % n in l for l in audits), "DeleteMatching is audited with caller and filter",
           "\n".join(audits[-5:]))
    tap.ok(any("method=Flush uid=%d" % sandbox.USERS["cddeny"] in l and "AccessDenied" in l for l in audits),
           "a denied Flush is audited too")
    tap.ok(all(re.search(r"name=:\d+\.\d+ ", l) for l in audits), "audit records name the caller's bus name")
    tap.ok(audits and all(re.search(r" uid=\d+ pid=[1-9]\d* ", l) for l in audits),
           "every audit record has the caller's uid and pid", [l for l in audits if "uid=-1" in l or "pid=0" in l])


def test_audit_names_the_human():
    # As `sudo busctl` from user 4101's login session: root's uid, the
    # session's login uid (set as pam_loginuid would, before the exec).
    populate()
    login = sandbox.USERS["cdallow"]
    r = sandbox.run(["sh", "-c", 'echo %d > /proc/self/loginuid && exec gdbus call --system --dest %s '
                     '--object-path %s --method %s.DeleteMatching "{\'mark\': <uint32 16>}"'
                     % (login, sandbox.NAME, sandbox.PATH, sandbox.IFACE)], check=False)
    tap.ok(r.returncode == 0, "DeleteMatching as root from a login session", r.stderr)
    log = open(sb.service_log).read()
    rec = [l for l in log.splitlines() if l.startswith("AUDIT method=DeleteMatching uid=0 ") and "filter='mark=16'" in l]
    tap.ok(rec and re.search(r" loginuid=%d session=[1-9]\d* " % login, rec[-1]),
           "the audit record names the login uid %d and its session" % login, rec)
    tap.ok(all(" loginuid=-1 session=-1 " in l for l in log.splitlines()
               if l.startswith("AUDIT ") and "filter='mark=16'" not in l),
           "callers without a login session are recorded as loginuid=-1 session=-1")
    # Refused while parsing: audited too, with who asked.
    call("DeleteMatching", text_filter({"port": ("s", "53")}), user="cdallow")
    call("Delete", text_filter({"colour": ("s", "red")}), user="cddeny")
    log = open(sb.service_log).read()
    tap.ok(re.search(r"AUDIT method=DeleteMatching uid=%d .*result=org.freedesktop.DBus.Error.InvalidArgs count=0"
                     % sandbox.USERS["cdallow"], log),
           "a DeleteMatching refused for a bad filter is audited")
    tap.ok(re.search(r"AUDIT method=Delete uid=%d .*filter='colour=red' result=org.freedesktop.DBus.Error.InvalidArgs"
                     % sandbox.USERS["cddeny"], log),
           "a Delete refused for a bad connection is audited, with what was asked")


try:
    tables.multiwan(sb)
    tables.local(sb)
    tap.run(test_delete)
    tap.run(test_delete_matching)
    tap.run(test_authorization)
    tap.run(test_authorization_follows_effect)
    tap.run(test_signal_and_audit)
    tap.run(test_audit_names_the_human)
finally:
    sb.finish(tap)
sys.exit(tap.done())
