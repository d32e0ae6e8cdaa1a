#!/usr/bin/python3
"""List against the kernel's table, with conntrack -L as the referee.

A mixed table (router with LAN and two SNATed uplinks, a DNAT, loopback TCP,
UDP, ICMP on IPv4 and IPv6, conntrack -I entries with marks, zones and other
states); then every filter key, paging, sorting and bad input."""
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import tables  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
PAGE = 7  # a small page size makes every listing below span several pages
sb = sandbox.Sandbox(service_args=["--page-size=%d" % PAGE]).start(polkit=False)


def ids(recs):
    return sorted(r["id"] for r in recs)


def compare_entry(got, ref):
    """Fields of one List record against the same entry in conntrack -L."""
    bad = []
    for k in ("family", "protocol", "state", "src", "dst", "sport", "dport", "reply_src",
              "reply_dst", "reply_sport", "reply_dport", "mark", "zone"):
        if got[k] != ref[k]:
            bad.append("%s: %r != %r" % (k, got[k], ref[k]))
    if abs(got["timeout"] - ref["timeout"]) > 60:   # seconds pass between the two reads
        bad.append("timeout %d vs %d" % (got["timeout"], ref["timeout"]))
    for flag in ("ASSURED", "UNREPLIED"):
        if (flag in got["status"]) != (flag in ref["status"]):
            bad.append("flag %s: %s vs %s" % (flag, got["status"], ref["status"]))
    return bad


def test_full_table():
    total, recs = sb.list_all()
    ref = sb.conntrack()
    tap.ok(total >= 15, "the mixed table has at least 15 entries (%d)" % total)
    tap.eq(total, len(recs), "paging through the whole table returns total entries")
    tap.eq(ids(recs), sorted(e["id"] for e in ref), "List has exactly the entries of conntrack -L")
    by_id = {e["id"]: e for e in ref}
    bad = {}
    for r in recs:
        if r["id"] in by_id:
            b = compare_entry(r, by_id[r["id"]])
            if b:
                bad[r["id"]] = b
    tap.ok(not bad, "every field agrees with conntrack -L", bad)
    protos = {r["protocol"] for r in recs}
    tap.ok({"tcp", "udp", "icmp", "icmpv6"} <= protos, "the table mixes tcp, udp, icmp, icmpv6: %s" % protos)
    icmp = [r for r in recs if r["protocol"] == "icmp"]
    tap.ok(icmp and all(r["extra"].get("icmp-type") == 8 and r["sport"] == 0 for r in icmp),
           "ICMP entries carry icmp-type 8 in extra and no ports")
    tap.eq(sb.prop("Count"), total, "Count property equals the number of entries")
    return recs


def check(flt, recs, pred, ct_args=None, desc=None, expect_some=True, ct_skip_icmp=False):
    """List(flt) equals the predicate over the full table and, where conntrack
    can express the filter, conntrack -L with ct_args."""
    desc = desc or "filter %s" % {k: v[1] for k, v in flt.items()}
    total, got = sb.list_all(flt)
    want = ids([r for r in recs if pred(r)])
    ok = tap.eq(ids(got), want, desc)
    if ok and expect_some:
        tap.ok(len(want) > 0, desc + " matches some entries")
    tap.eq(total, len(got), desc + ": total counts the matches")
    if ct_args is not None:
        ref = sb.conntrack(*ct_args)
        if ct_skip_icmp:
            # conntrack(8) decides "NATed" by comparing the two tuples, and an
            # echo request's reply tuple differs (type 8 vs 0): it lists every
            # ICMP entry under --src-nat/--dst-nat. The kernel's SRC_NAT and
            # DST_NAT status bits, which the service uses, say otherwise.
            got = [r for r in got if not r["protocol"].startswith("icmp")]
            ref = [e for e in ref if not e["protocol"].startswith("icmp")]
        tap.eq(ids(got), sorted(e["id"] for e in ref),
               desc + " agrees with conntrack -L " + " ".join(ct_args))


def in_net(addr, net):
    import ipaddress
    try:
        return ipaddress.ip_address(addr) in ipaddress.ip_network(net, strict=False)
    except ValueError:
        return False


def addrs(r):
    return (r["src"], r["dst"], r["reply_src"], r["reply_dst"])


def ports(r):
    return (r["sport"], r["dport"], r["reply_sport"], r["reply_dport"])


def test_filters(recs):
    W1, W2 = tables.WAN1, tables.WAN2
    snat = lambda r: "SRC_NAT" in r["status"]  # noqa: E731
    dnat = lambda r: "DST_NAT" in r["status"]  # noqa: E731
    check({"family": ("s", "ipv6")}, recs, lambda r: r["family"] == "ipv6", ["-f", "ipv6"])
    check({"family": ("s", "ipv4")}, recs, lambda r: r["family"] == "ipv4", ["-f", "ipv4"])
    check({"protocol": ("s", "udp")}, recs, lambda r: r["protocol"] == "udp", ["-p", "udp"])
    check({"protocol": ("s", "6")}, recs, lambda r: r["protocol"] == "tcp", ["-p", "tcp"],
          desc="protocol given as a number")
    check({"protocol": ("s", "icmpv6")}, recs, lambda r: r["protocol"] == "icmpv6", ["-p", "icmpv6"])
    check({"state": ("s", "established")}, recs, lambda r: r["state"] == "ESTABLISHED",
          ["-p", "tcp", "--state", "ESTABLISHED"], desc="state, case-insensitive")
    check({"state": ("s", "TIME_WAIT")}, recs, lambda r: r["state"] == "TIME_WAIT",
          ["-p", "tcp", "--state", "TIME_WAIT"])
    check({"status": ("as", ["ASSURED"])}, recs, lambda r: "ASSURED" in r["status"],
          ["-u", "ASSURED"])
    check({"status": ("as", ["UNREPLIED"])}, recs, lambda r: "UNREPLIED" in r["status"])
    check({"status": ("as", ["SEEN_REPLY", "SRC_NAT"])}, recs,
          lambda r: "SEEN_REPLY" in r["status"] and "SRC_NAT" in r["status"],
          desc="status with two flags: both required")
    check({"src": ("s", "10.0.0.2")}, recs, lambda r: r["src"] == "10.0.0.2", ["-s", "10.0.0.2"])
    check({"src": ("s", "10.0.0.0/24")}, recs, lambda r: in_net(r["src"], "10.0.0.0/24"),
          ["-s", "10.0.0.0/24"], desc="src as a CIDR prefix")
    check({"src": ("s", "2001:db8::/32")}, recs, lambda r: in_net(r["src"], "2001:db8::/32"),
          ["-s", "2001:db8::/32"], desc="src as an IPv6 prefix")
    check({"dst": ("s", tables.ISP1)}, recs, lambda r: r["dst"] == tables.ISP1, ["-d", tables.ISP1])
    check({"reply-src": ("s", tables.ISP2)}, recs, lambda r: r["reply_src"] == tables.ISP2,
          ["-r", tables.ISP2])
    check({"reply-dst": ("s", W1)}, recs, lambda r: r["reply_dst"] == W1, ["-q", W1])
    check({"address": ("s", "::1")}, recs, lambda r: "::1" in addrs(r))
    check({"address": ("s", "203.0.113.0/24")}, recs,
          lambda r: any(in_net(a, "203.0.113.0/24") for a in addrs(r)), desc="address as a prefix")
    check({"port": ("q", 80)}, recs, lambda r: 80 in ports(r))
    check({"port": ("u", 80)}, recs, lambda r: 80 in ports(r), desc="port given as u")
    check({"port": ("x", 80)}, recs, lambda r: 80 in ports(r), desc="port given as x")
    check({"port": ("y", 53)}, recs, lambda r: 53 in ports(r), desc="port given as y")
    check({"sport": ("q", 1111)}, recs, lambda r: r["sport"] == 1111)
    check({"dport": ("q", 443)}, recs, lambda r: r["dport"] == 443)
    check({"protocol": ("s", "tcp"), "dport": ("q", 80)}, recs,
          lambda r: r["protocol"] == "tcp" and r["dport"] == 80, ["-p", "tcp", "--dport", "80"],
          desc="protocol and dport (kernel tuple filter)")
    check({"protocol": ("s", "tcp"), "src": ("s", "10.0.0.2"), "dport": ("q", 80)}, recs,
          lambda r: r["protocol"] == "tcp" and r["src"] == "10.0.0.2" and r["dport"] == 80,
          ["-p", "tcp", "-s", "10.0.0.2", "--dport", "80"], desc="exact tuple filter")
    check({"mark": ("u", 16)}, recs, lambda r: r["mark"] == 16, ["--mark", "16"])
    check({"mark": ("u", 16), "mark-mask": ("u", 0xf0)}, recs, lambda r: r["mark"] & 0xf0 == 16,
          ["--mark", "16/240"], desc="mark with mark-mask")
    check({"mark": ("i", 48)}, recs, lambda r: r["mark"] == 48, desc="mark given as i")
    check({"zone": ("q", 5)}, recs, lambda r: r["zone"] == 5, ["--zone", "5"])
    check({"nat": ("s", "snat")}, recs, snat, ["--src-nat"], ct_skip_icmp=True)
    check({"nat": ("s", "dnat")}, recs, dnat, ["--dst-nat"], ct_skip_icmp=True)
    check({"nat": ("s", "any")}, recs, lambda r: snat(r) or dnat(r), ["--any-nat"], ct_skip_icmp=True)
    check({"nat": ("s", "none")}, recs, lambda r: not snat(r) and not dnat(r))
    check({"nat-address": ("s", W1)}, recs, lambda r: snat(r) and r["reply_dst"] == W1,
          desc="nat-address of uplink 1 (SNAT)")
    check({"nat-address": ("s", tables.ISP2)}, recs, lambda r: dnat(r) and r["reply_src"] == tables.ISP2,
          desc="nat-address of a DNAT target")
    check({"nat-address": ("s", "198.51.100.0/24")}, recs,
          lambda r: (snat(r) and in_net(r["reply_dst"], "198.51.100.0/24")) or
                    (dnat(r) and in_net(r["reply_src"], "198.51.100.0/24")),
          desc="nat-address as a prefix")
    check({"family": ("s", "ipv4"), "protocol": ("s", "udp"), "status": ("as", ["SEEN_REPLY"]),
           "address": ("s", "10.0.0.0/8")}, recs,
          lambda r: r["family"] == "ipv4" and r["protocol"] == "udp" and "SEEN_REPLY" in r["status"]
          and any(in_net(a, "10.0.0.0/8") for a in addrs(r)), desc="four keys together (AND)")
    check({"interface": ("s", "wan1")}, recs, lambda r: W1 in addrs(r), desc="interface wan1")
    check({"interface": ("s", "lo")}, recs, lambda r: any(a in ("127.0.0.1", "::1") for a in addrs(r)),
          desc="interface lo")
    check({"interface": ("s", "lan0"), "nat": ("s", "dnat")}, recs, lambda r: dnat(r) and "10.0.0.1" in addrs(r),
          desc="interface lan0 with nat dnat")
    check({"stale": ("b", True)}, recs, lambda r: False, desc="stale, with no address ever removed",
          expect_some=False)
    check({"stale": ("b", False)}, recs, lambda r: True, desc="not stale: everything")
    check({"src": ("s", "10.0.0.2"), "dst": ("s", "::1")}, recs, lambda r: False,
          desc="IPv4 and IPv6 keys together match nothing", expect_some=False)
    check({"dport": ("q", 65535)}, recs, lambda r: False, desc="a port nobody uses", expect_some=False)


def expect_invalid(flt_text, opts_text, needle, desc):
    try:
        sb.gdbus("List", flt_text, opts_text)
        tap.ok(False, desc + ": accepted")
    except sandbox.BusError as e:
        tap.ok(e.name == "org.freedesktop.DBus.Error.InvalidArgs" and needle in e.message,
               "%s -> InvalidArgs naming %r" % (desc, needle), "%s: %s" % (e.name, e.message))


def test_errors():
    E = "@a{sv} {}"
    expect_invalid("{'colour': <'red'>}", E, "colour", "unknown key")
    expect_invalid("{'port': <'80'>}", E, "port", "port as a string")
    expect_invalid("{'port': <int32 -1>}", E, "port", "negative port")
    expect_invalid("{'port': <uint32 70000>}", E, "port", "port out of range")
    expect_invalid("{'zone': <uint64 65536>}", E, "zone", "zone out of range")
    expect_invalid("{'mark': <int64 4294967296>}", E, "mark", "mark out of range")
    expect_invalid("{'mark-mask': <uint32 255>}", E, "mark-mask", "mark-mask without mark")
    expect_invalid("{'src': <'10.0.0.300'>}", E, "src", "bad IPv4 address")
    expect_invalid("{'dst': <'10.0.0.0/33'>}", E, "dst", "IPv4 prefix too long")
    expect_invalid("{'address': <'2001:db8::/129'>}", E, "address", "IPv6 prefix too long")
    expect_invalid("{'reply-src': <'10.0.0.1/'>}", E, "reply-src", "empty prefix length")
    expect_invalid("{'nat-address': <'example.com'>}", E, "nat-address", "host name")
    expect_invalid("{'protocol': <'tcpx'>}", E, "protocol", "unknown protocol")
    expect_invalid("{'protocol': <'256'>}", E, "protocol", "protocol number out of range")
    expect_invalid("{'state': <'OPENISH'>}", E, "state", "unknown state")
    expect_invalid("{'status': <['ASSURED', 'SHINY']>}", E, "SHINY", "unknown status flag")
    expect_invalid("{'status': <'ASSURED'>}", E, "status", "status as a string")
    expect_invalid("{'family': <'ipv5'>}", E, "family", "unknown family")
    expect_invalid("{'nat': <'both'>}", E, "nat", "unknown nat kind")
    expect_invalid("{'family': <<'ipv4'>>}", E, "family", "nested variant")
    expect_invalid("{'interface': <'nosuch0'>}", E, "nosuch0", "unknown interface")
    expect_invalid("{'interface': <uint32 2>}", E, "interface", "interface as a number")
    expect_invalid("{'stale': <'yes'>}", E, "stale", "stale as a string")
    expect_invalid(E, "{'sort': <'colour'>}", "sort", "unknown sort key")
    expect_invalid(E, "{'limit': <int32 -5>}", "limit", "negative limit")
    expect_invalid(E, "{'offset': <'1'>}", "offset", "offset as a string")
    expect_invalid(E, "{'reverse': <1>}", "reverse", "reverse as an integer")
    expect_invalid(E, "{'page': <uint32 2>}", "page", "unknown option")


def test_paging_and_sorting(recs):
    total, first = sb.list()
    tap.eq(len(first), PAGE, "without limit a page holds the configured page size")
    total, clamped = sb.list(opts={"limit": ("u", 1000)})
    tap.eq(len(clamped), PAGE, "a larger limit is clamped to the page size")
    _, two = sb.list(opts={"offset": ("u", 3), "limit": ("u", 2)})
    tap.eq([r["id"] for r in two], [r["id"] for r in recs[3:5]], "offset 3 limit 2 is entries 3-4 of dump order")
    t, none = sb.list(opts={"offset": ("u", total + 5)})
    tap.ok(none == [] and t == total, "an offset past the end returns no entries and the total")
    t, zero = sb.list(opts={"limit": ("u", 0)})
    tap.ok(zero == [] and t == total, "limit 0 returns only the total")

    keys = {
        "id": lambda r: r["id"], "protocol": lambda r: r["protocol"], "state": lambda r: r["state"],
        "src": lambda r: addr_key(r["src"]), "dst": lambda r: addr_key(r["dst"]),
        "sport": lambda r: r["sport"], "dport": lambda r: r["dport"],
        "timeout": lambda r: r["timeout"], "bytes": lambda r: r["bytes"] + r["reply_bytes"],
        "packets": lambda r: r["packets"] + r["reply_packets"], "start": lambda r: r["start"],
    }
    _, base = sb.list_all()  # dump order, fresh (timeouts move)
    for name, key in keys.items():
        for rev in (False, True):
            got, pages = [], []
            offset = 0
            while True:
                _, page = sb.list(opts={"sort": ("s", name), "reverse": ("b", rev), "offset": ("u", offset)})
                if not page:
                    break
                got += page
                pages.append(page)
                offset += len(page)
            if name == "timeout":
                # Entries made at nearly the same moment can tie one second and
                # not the next: over the whole table each page is sorted, and
                # the exact order across pages is checked in test_sort_by_timeout
                # on entries whose timeouts cannot cross.
                each = all([r["timeout"] for r in p] == sorted([r["timeout"] for r in p], reverse=rev)
                           for p in pages)
                tap.ok(each and len(pages) > 1, "sort by timeout%s: every page is sorted" % (" reversed" if rev else ""),
                       [[r["timeout"] for r in p] for p in pages])
                continue
            want = sorted(base, key=key, reverse=rev)
            tap.eq([r["id"] for r in got], [r["id"] for r in want],
                   "sort by %s%s across pages is a stable sort" % (name, " reversed" if rev else ""))
    _, rev = sb.list_all(None)
    _, revd = sb.list(opts={"reverse": ("b", True), "limit": ("u", 3)})
    tap.eq([r["id"] for r in revd], [r["id"] for r in rev[::-1][:3]], "reverse without sort reverses dump order")
    _, f = sb.list({"protocol": ("s", "tcp")}, {"sort": ("s", "dport"), "limit": ("u", 3)})
    want = sorted([r for r in base if r["protocol"] == "tcp"], key=lambda r: r["dport"])[:3]
    tap.eq([r["id"] for r in f], [r["id"] for r in want], "filter and sort together")


def test_sort_by_timeout():
    """Timeouts 500 s apart cannot cross while the test pages: their order
    across pages is exact, each entry once."""
    import random
    timeouts = [1000 + 500 * i for i in range(2 * PAGE + 3)]
    random.Random(7).shuffle(timeouts)
    made = {}
    for i, t in enumerate(timeouts):
        sandbox.run("conntrack -I -p udp -s 192.0.2.200 -d 192.0.2.201 --sport %d --dport 9 --mark 0x5eed -t %d"
                    % (40000 + i, t))
        made[40000 + i] = t
    flt = {"mark": ("u", 0x5eed)}
    for rev in (False, True):
        got, offset = [], 0
        while True:
            total, page = sb.list(flt, {"sort": ("s", "timeout"), "reverse": ("b", rev), "offset": ("u", offset)})
            if not page:
                break
            got += page
            offset += len(page)
        want = sorted(made, key=lambda p: made[p], reverse=rev)
        tap.eq([r["sport"] for r in got], want,
               "sort by timeout%s across %d pages: each entry once, in order" % (" reversed" if rev else "",
                                                                              -(-len(want) // PAGE)))
        tap.ok(all(made[r["sport"]] - 60 < r["timeout"] <= made[r["sport"]] for r in got),
               "and each timeout is the one it was made with, less the seconds since",
               [(r["sport"], r["timeout"], made[r["sport"]]) for r in got])
    sandbox.run("conntrack -D -m 0x5eed >/dev/null")


def test_state_names():
    """Every state name conntrack(8) takes: TCP's state 9 is printed SYN_SENT2
    and taken as LISTEN too."""
    sandbox.run("conntrack -I -p tcp -s 192.0.2.210 -d 192.0.2.211 --sport 1 --dport 2 --state LISTEN -t 600")
    ref = sb.conntrack("-p", "tcp", "--state", "LISTEN")
    tap.eq(len(ref), 1, "conntrack -I made one entry in TCP's state 9")
    for name in ("LISTEN", "listen", "SYN_SENT2"):
        total, recs = sb.list({"state": ("s", name)})
        tap.ok([r["id"] for r in recs] == [e["id"] for e in ref] and recs[0]["state"] == ref[0]["state"],
               "state %s finds it, named %s as conntrack -L names it" % (name, ref[0]["state"]),
               [(r["id"], r["state"]) for r in recs])
    sandbox.run("conntrack -D -p tcp -s 192.0.2.210 >/dev/null")


def addr_key(a):
    import ipaddress
    ip = ipaddress.ip_address(a)
    return ip.packed if ip.version == 6 else b"\0" * 10 + b"\xff\xff" + ip.packed


try:
    tables.mixed(sb)
    recs = test_full_table()
    tap.run(test_filters, recs)
    tap.run(test_errors)
    tap.run(test_paging_and_sorting, recs)
    tap.run(test_sort_by_timeout)
    tap.run(test_state_names)
finally:
    sb.finish(tap)
sys.exit(tap.done())
