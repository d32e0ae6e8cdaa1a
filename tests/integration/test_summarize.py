#!/usr/bin/python3
"""Summarize against the kernel's table, with conntrack -L counted by hand as
the referee.

The mixed table (a router with a LAN and two SNATed uplinks, a DNAT, loopback
TCP, UDP and ICMP on IPv4 and IPv6, conntrack -I entries with marks and
zones), with accounting on so that packets and bytes count; then every
grouping key, sort, limit and offset, filters, the cap on groups,
authorization and bad input."""
import collections
import ipaddress
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import tables  # noqa: E402

sandbox.enter_namespaces()
sandbox.enable_accounting()
tap = sandbox.TAP()
sb = sandbox.Sandbox().start()
E = "@a{sv} {}"
OTHER = "(other keys)"
KEYS = ["src", "dst", "reply-src", "reply-dst", "sport", "dport", "protocol", "state", "family",
        "mark", "zone", "nat-address", "interface"]


def summarize(flt=None, by="src", opts=None, user=None):
    """Summarize with busctl: (total, [(key, connections, packets, bytes)])."""
    data = sb.call("Summarize", "a{sv}sa{sv}",
                   *(sandbox._busctl_args(flt or {}) + [by] + sandbox._busctl_args(opts or {})),
                   user=user)
    return data[0], [tuple(g) for g in data[1]]


def interface_addresses():
    """address -> interface, from ip(8) in this namespace."""
    out = {}
    r = sandbox.run(["ip", "-j", "addr", "show"])
    for link in json.loads(r.stdout):
        for a in link.get("addr_info", []):
            out[str(ipaddress.ip_address(a["local"]))] = link["ifname"]
    return out


def key_of(e, by, owners):
    """The group of one conntrack -L entry, worked out from its tuples."""
    if by in ("src", "dst", "sport", "dport", "state", "mark", "zone", "protocol", "family"):
        return str(e.get(by.replace("-", "_"), "")) if by != "family" else e["family"]
    if by in ("reply-src", "reply-dst"):
        return e[by.replace("-", "_")]
    if by == "nat-address":
        if e["reply_dst"] != e["src"]:      # source translated (SNAT, masquerade)
            return e["reply_dst"]
        if e["reply_src"] != e["dst"]:      # destination translated (DNAT)
            return e["reply_src"]
        return ""
    if by == "interface":
        for a in (e["src"], e["dst"], e["reply_src"], e["reply_dst"]):
            if a in owners:
                return owners[a]
        return ""
    raise ValueError(by)


def reference(entries, by, owners=None):
    groups = collections.defaultdict(lambda: [0, 0, 0])
    for e in entries:
        g = groups[key_of(e, by, owners or {})]
        g[0] += 1
        g[1] += e.get("packets", 0) + e.get("reply_packets", 0)
        g[2] += e.get("bytes", 0) + e.get("reply_bytes", 0)
    return {k: tuple(v) for k, v in groups.items()}


def as_dict(groups):
    return {g[0]: tuple(g[1:]) for g in groups}


def stable(fn, *args):
    """fn() between two equal conntrack -L reads (a live table's counters
    may move): returns (fn's result, the table), retrying a few times."""
    for _ in range(10):
        before = sb.conntrack()
        got = fn(*args)
        after = sb.conntrack()
        if before == after:
            return got, after
    return got, after


def test_table():
    ref = sb.conntrack()
    tap.ok(len(ref) >= 15, "the mixed table has at least 15 entries (%d)" % len(ref))
    tap.ok(any(e.get("bytes", 0) > 0 for e in ref), "accounting is on: conntrack -L shows byte counters")
    tap.ok({e["zone"] for e in ref} >= {0, 5} and len({e["mark"] for e in ref}) >= 4,
           "the table has two zones and several marks")


def test_every_key():
    owners = interface_addresses()
    for by in KEYS:
        (total, groups), ref = stable(summarize, {}, by, {"limit": ("u", 1000)})
        want = reference(ref, by, owners)
        tap.eq(total, len(ref), "by %s: total is the number of entries (%d)" % (by, len(ref)))
        tap.eq(as_dict(groups), want, "by %s: every group's connections, packets and bytes agree with "
               "conntrack -L counted by hand" % by)
        conns = [g[1] for g in groups]
        tap.ok(conns == sorted(conns, reverse=True), "by %s: biggest groups first" % by, conns)
    # The groups a router's admin asks about, by name.
    _, g = summarize({}, "nat-address", {"limit": ("u", 1000)})
    keys = as_dict(g)
    tap.ok(set(keys) == {tables.WAN1, tables.WAN2, ""},
           "nat-address groups both uplinks' SNAT addresses and the untranslated ('')", sorted(keys))
    _, g = summarize({"dport": ("q", 8080)}, "nat-address")
    tap.eq([x[0] for x in g], [tables.WAN2], "an entry both DNATed and SNATed counts under its SNAT address")
    _, g = summarize({}, "interface", {"limit": ("u", 1000)})
    keys = as_dict(g)
    tap.ok({"wan1", "wan2", "lan0", "lo", ""} <= set(keys),
           "interface groups wan1, wan2, lan0, lo and the entries bound to none", sorted(keys))


def test_sort_limit_offset():
    for sort, col in (("connections", 1), ("packets", 2), ("bytes", 3)):
        (_, groups), ref = stable(summarize, {}, "dport", {"sort": ("s", sort), "limit": ("u", 1000)})
        vals = [g[col] for g in groups]
        tap.ok(vals == sorted(vals, reverse=True) and len(set(vals)) > 1,
               "sort %s: groups ordered by %s, biggest first" % (sort, sort), vals)
        tap.eq(as_dict(groups), reference(ref, "dport"), "sort %s: the same groups" % sort)
        (_, again), _ = stable(summarize, {}, "dport", {"sort": ("s", sort), "limit": ("u", 1000)})
        if again == groups:
            _, head = summarize({}, "dport", {"sort": ("s", sort), "limit": ("u", 3)})
            tap.eq(head, groups[:3], "sort %s, limit 3: the first three groups" % sort)
            _, mid = summarize({}, "dport", {"sort": ("s", sort), "offset": ("u", 2), "limit": ("u", 2)})
            tap.eq(mid, groups[2:4], "sort %s, offset 2 limit 2: the third and fourth groups" % sort)
    total, past = summarize({}, "dport", {"offset": ("u", 1000)})
    tap.ok(past == [] and total > 0, "an offset past the last group: no groups, the total still counted")
    _, none = summarize({}, "src", {"limit": ("u", 0)})
    tap.eq(none, [], "limit 0: no groups")


def test_filters():
    owners = interface_addresses()
    for flt, pick in (
            ({"protocol": ("s", "tcp")}, lambda e: e["protocol"] == "tcp"),
            ({"family": ("s", "ipv6")}, lambda e: e["family"] == "ipv6"),
            ({"nat-address": ("s", "198.51.100.0/24")}, lambda e: e["reply_dst"] == tables.WAN1),
            ({"zone": ("q", 5)}, lambda e: e["zone"] == 5),
            ({"interface": ("s", "wan2")}, lambda e: tables.WAN2 in (e["reply_dst"], e["src"]))):
        (total, groups), ref = stable(summarize, flt, "dst", {"limit": ("u", 1000)})
        sel = [e for e in ref if pick(e)]
        tap.ok(sel, "filter %s selects entries" % flt)
        tap.eq((total, as_dict(groups)), (len(sel), reference(sel, "dst", owners)),
               "filter %s: total and groups are those of the matching entries" % flt)
    total, groups = summarize({"src": ("s", "10.0.0.0/8"), "dst": ("s", "2001:db8::/32")}, "src")
    tap.eq((total, groups), (0, []), "a filter that matches nothing: total 0, no groups")


def test_authorization():
    _, groups = summarize({}, "protocol", user="cdallow")
    tap.ok(groups, "a user polkit allows to list gets the groups")
    for user, want in (("cddeny", "org.freedesktop.DBus.Error.AccessDenied"),
                       ("cdnobody", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")):
        try:
            sb.gdbus("Summarize", E, "src", E, user=user)
            got = "no error"
        except sandbox.BusError as e:
            got = e.name
        tap.eq(got, want, "%s: Summarize is refused with %s" % (user, want.rsplit(".", 1)[1]))


def test_bad_input():
    before = sb.conntrack()
    for args, names in (
            ((E, "colour", E), "'colour'"),
            ((E, "", E), "''"),
            ((E, "src", "{'sort': <'size'>}"), "'sort'"),
            ((E, "src", "{'sort': <uint32 1>}"), "'sort'"),
            ((E, "src", "{'limit': <'ten'>}"), "'limit'"),
            ((E, "src", "{'limit': <int32 -1>}"), "'limit'"),
            ((E, "src", "{'colour': <'red'>}"), "'colour'"),
            (("{'protocol': <'bogus'>}", "src", E), "'protocol'"),
            (("{'interface': <'nosuch0'>}", "src", E), "nosuch0")):
        try:
            sb.gdbus("Summarize", *args)
            got = ("no error", "")
        except sandbox.BusError as e:
            got = (e.name, e.message)
        tap.ok(got[0] == "org.freedesktop.DBus.Error.InvalidArgs" and names in got[1],
               "Summarize%s: InvalidArgs naming %s" % (args, names), got)
    tap.eq(len(sb.conntrack()), len(before), "bad input changed nothing")


def test_overflow():
    """More distinct keys than the cap: the rest in one counted group."""
    for i in range(110):
        sandbox.run(["conntrack", "-I", "-p", "udp", "-s", "198.18.0.%d" % (100 + i), "-d", "198.18.1.1",
                     "--sport", "2000", "--dport", "53", "-t", "600"])
    sb.stop_service()
    sb.start_service(["--summary-groups=10"])
    (total, groups), ref = stable(summarize, {}, "src", {"limit": ("u", 1000)})
    keys = [g[0] for g in groups]
    tap.eq(len(keys), 11, "with --summary-groups=10: ten groups and the overflow group")
    tap.ok(OTHER in keys, "the overflow group is reported as %r" % OTHER, keys)
    tap.eq(sum(g[1] for g in groups), total, "the groups' connections add up to the total")
    tap.eq(total, len(ref), "the total still counts every entry")
    want = reference(ref, "src")
    bad = [g for g in groups if g[0] != OTHER and want.get(g[0]) != g[1:]]
    tap.eq(bad, [], "the groups kept are counted exactly")
    sb.stop_service()
    sb.start_service()
    total, groups = summarize({}, "src")
    tap.ok(len(want) > 100 and len(groups) == 100 and total == len(ref),
           "without a limit: the first 100 of %d groups, the total of every entry" % len(want))
    _, groups = summarize({}, "sport", {"limit": ("u", 1000)})
    tap.ok(OTHER not in [g[0] for g in groups], "under the default cap there is no overflow group")


def test_moved_address():
    """An address the uplink lost still names its interface (the history)."""
    sandbox.run(["ip", "addr", "del", tables.WAN2 + "/24", "dev", "wan2"])
    _, groups = summarize({"nat-address": ("s", tables.WAN2), "dst": ("s", tables.ISP2)}, "interface")
    tap.eq([g[0] for g in groups], ["wan2"], "entries NATed to wan2's former address still group under wan2")


try:
    tables.mixed(sb)
    tap.run(test_table)
    tap.run(test_every_key)
    tap.run(test_sort_limit_offset)
    tap.run(test_filters)
    tap.run(test_authorization)
    tap.run(test_bad_input)
    tap.run(test_overflow)
    tap.run(test_moved_address)
finally:
    sb.finish(tap)
sys.exit(tap.done())
