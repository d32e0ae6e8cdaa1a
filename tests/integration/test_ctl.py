#!/usr/bin/python3
"""connectionsctl against the real service, conntrack -L as the referee.

The sandbox's mixed table; every filter option of list beside conntrack -L
with the same options; the table, JSON and CSV outputs; summary, stats,
export; delete, delete-matching, flush; errors and exit codes; users
without the right; on a terminal; watch; the bash completion. (polkit's
text agent needs a login session: tests/system tests it.)"""
import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import tables  # noqa: E402

sandbox.enter_namespaces()
sandbox.enable_accounting()
tap = sandbox.TAP()
sb = sandbox.Sandbox().start()
CTL = os.environ.get("CD_CTL") or os.path.join(sandbox.BUILDDIR, "src", "ctl", "connectionsctl")
COMPLETION = os.path.join(sandbox.SRCDIR, "data", "connectionsctl.bash")
FIELDS = ["id", "family", "protocol", "state", "status", "src", "dst", "sport", "dport", "reply-src",
          "reply-dst", "reply-sport", "reply-dport", "timeout", "mark", "zone", "packets", "bytes",
          "reply-packets", "reply-bytes", "start", "extra"]


def ctl(*args, user=None, env=None, stdin=subprocess.DEVNULL):
    e = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    e.update(env or {})
    return subprocess.run(sb.as_user(user) + [CTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=e, stdin=stdin, timeout=120)


def json_lines(text):
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def ids(entries):
    return sorted(e["id"] for e in entries)


def test_options_against_conntrack():
    ref_all = sb.conntrack()
    r = ctl("list", "--json")
    recs = json_lines(r.stdout)
    tap.ok(r.returncode == 0 and ids(recs) == ids(ref_all) and len(recs) >= 15,
           "list --json: exactly the entries of conntrack -L (%d)" % len(ref_all), r.stderr)
    tap.ok(all(list(x) == FIELDS for x in recs), "every JSON line has Export's field names, in order")
    by_id = {e["id"]: e for e in ref_all}
    bad = [x["id"] for x in recs if x["id"] in by_id and
           (x["src"], x["dst"], x["sport"], x["dport"], x["reply-dst"], x["state"], x["mark"], x["zone"]) !=
           tuple(by_id[x["id"]][k] for k in ("src", "dst", "sport", "dport", "reply_dst", "state", "mark", "zone"))]
    tap.eq(bad, [], "every entry's fields agree with conntrack -L")
    # The same options, given to both tools.
    for opts in (["-p", "tcp"], ["-p", "udp"], ["-p", "icmp"], ["-s", "10.0.0.2"], ["-s", "10.0.0.0/24"],
                 ["-d", tables.ISP1], ["-r", tables.ISP2], ["-q", tables.WAN1], ["-f", "ipv6"],
                 ["-f", "ipv6", "-d", "2001:db8::/32"], ["-p", "tcp", "--sport", "1111"],
                 ["-p", "tcp", "--dport", "80"], ["-p", "tcp", "--state", "ESTABLISHED"],
                 ["-p", "tcp", "--state", "TIME_WAIT"], ["-u", "ASSURED"], ["-u", "SEEN_REPLY,ASSURED"],
                 ["-m", "16"], ["-m", "32/0xf0"], ["--zone", "5"], ["-p", "udp", "--zone", "5"]):
        ref = sandbox.run(["conntrack", "-L", "-o", "xml,id"] + opts, check=False)
        want = ids(sandbox.parse_conntrack_xml(ref.stdout))
        r = ctl("list", "--json", *opts)
        got = ids(json_lines(r.stdout))
        tap.ok(r.returncode == 0 and got == want and (want or opts == ["-p", "tcp", "--state", "TIME_WAIT"]),
               "list %s: the %d entries conntrack -L %s lists" % (" ".join(opts), len(want), " ".join(opts)),
               "got %s\nwant %s\n%s" % (got, want, r.stderr))
    # Beyond conntrack(8): worked out from conntrack -L.
    four = lambda e: (e["src"], e["dst"], e["reply_src"], e["reply_dst"])  # noqa: E731
    for opts, pick in (
            (["--address", "10.0.0.2"], lambda e: "10.0.0.2" in four(e)),
            (["--port", "5060"], lambda e: 5060 in (e["sport"], e["dport"], e["reply_sport"], e["reply_dport"])),
            (["--nat", "snat"], lambda e: e["reply_dst"] != e["src"]),
            (["--nat", "none"], lambda e: e["reply_dst"] == e["src"] and e["reply_src"] == e["dst"]),
            (["--nat-address", tables.WAN2], lambda e: e["reply_dst"] == tables.WAN2),
            (["--interface", "wan1"], lambda e: tables.WAN1 in four(e)),
            (["--interface", "lo"], lambda e: {"127.0.0.1", "::1"} & set(four(e)))):
        want = ids([e for e in ref_all if pick(e)])
        r = ctl("list", "--json", *opts)
        tap.ok(r.returncode == 0 and want and ids(json_lines(r.stdout)) == want,
               "list %s: the %d matching entries" % (" ".join(opts), len(want)), r.stderr)
    r = ctl("list", "--json", "--stale")
    tap.ok(r.returncode == 0 and r.stdout == "", "list --stale: nothing is stale yet", r.stderr)


def test_table():
    n = len(sb.conntrack())
    r = ctl("list", env={"COLUMNS": "250"})
    lines = r.stdout.splitlines()
    tap.ok(r.returncode == 0 and lines[0].split()[:4] == ["PROTO", "STATE", "SOURCE", "DESTINATION"],
           "list prints a header", r.stdout[:300])
    tap.ok(len(lines) == n + 3 and lines[-1] == "%d connections listed." % n,
           "one line per connection and a closing count", r.stdout[-300:])
    cols = [m.start() for m in re.finditer(r"\S+", lines[0])]
    dst = lines[0].index("DESTINATION")
    tap.ok(all(len(l) > dst and l[dst - 2:dst] == "  " for l in lines[1:n + 1]),
           "columns are aligned (every row's destination starts under its header)", "\n".join(lines[:6]))
    tap.ok(any("as " + tables.WAN1 in l for l in lines) and any("UNREPLIED" in l for l in lines),
           "the NAT column names the translated address, the flags UNREPLIED", cols)
    fwd = [l for l in lines if "10.0.0.1:8080" in l]
    tap.ok(len(fwd) == 1 and "to %s:80, as %s" % (tables.ISP2, tables.WAN2) in fwd[0],
           "a port forward leaving through a SNATed uplink shows both translations", fwd)
    tap.ok("MARK" in lines[0] and "ZONE" in lines[0], "mark and zone columns appear as the table has both")
    r = ctl("list", env={"COLUMNS": "72"})
    narrow = r.stdout.splitlines()
    too_long = [l for l in narrow if len(l) > 72]
    tap.ok(r.returncode == 0 and not too_long and "SOURCE" in narrow[0] and len(narrow) == n + 3,
           "with 72 columns every line fits, less important columns left out", "\n".join(too_long[:5]))
    r = ctl("list", "--no-legend", env={"COLUMNS": "250"})
    tap.ok(len(r.stdout.splitlines()) == n and "PROTO" not in r.stdout, "--no-legend: the rows alone")
    r = ctl("list", "--limit", "3", env={"COLUMNS": "250"})
    tap.ok(len(r.stdout.splitlines()) == 3 + 3 and "3 of %d connections listed." % n in r.stdout,
           "--limit 3: three rows, and how many matched", r.stdout)
    r = ctl("list", "-o", "csv")
    rows = r.stdout.splitlines()
    tap.ok(rows[0] == ",".join(FIELDS) and len(rows) == n + 1, "-o csv: Export's header, one line each")
    r = ctl("list", "--json", "--sort", "dport", "--reverse")
    ports = [x["dport"] for x in json_lines(r.stdout)]
    tap.ok(len(ports) == n and ports == sorted(ports, reverse=True), "--sort dport --reverse orders by port, biggest first")
    paged = ids(json_lines(ctl("list", "--json", "--sort", "id").stdout))
    tap.ok(paged == ids(json_lines(ctl("list", "--json").stdout)) and len(paged) == n,
           "sorted (List, page by page) and unsorted (one Export) listings hold the same entries")
    small = ["--limit", "5"]
    r = ctl("list", "--json", "--sort", "bytes", "--reverse", *small)
    top = [x["bytes"] + x["reply-bytes"] for x in json_lines(r.stdout)]
    everything = sorted((e.get("bytes", 0) + e.get("reply_bytes", 0) for e in sb.conntrack()), reverse=True)
    tap.ok(len(top) == 5 and top == everything[:5], "--sort bytes --reverse --limit 5: the five biggest", top)


def test_export_summary_stats():
    r = ctl("export")
    exported = json_lines(r.stdout)
    listed = json_lines(ctl("list", "--json").stdout)
    tap.ok(r.returncode == 0 and ids(exported) == ids(listed) and len(exported) > 0,
           "export: every connection, as list --json has them")
    r = ctl("export", "-o", "csv", "-p", "udp")
    rows = r.stdout.splitlines()
    udp = [e for e in sb.conntrack() if e["protocol"] == "udp"]
    tap.ok(rows[0] == ",".join(FIELDS) and len(rows) == len(udp) + 1, "export -o csv -p udp: header and the udp entries")
    r = ctl("summary", "--by", "dport", "--json", "--limit", "1000")
    groups = {g["key"]: g["connections"] for g in json_lines(r.stdout)}
    want = {}
    for e in sb.conntrack():
        want[str(e["dport"])] = want.get(str(e["dport"]), 0) + 1
    tap.eq(groups, want, "summary --by dport --json: the groups of conntrack -L counted by hand")
    r = ctl("summary", "-b", "nat-address", env={"COLUMNS": "120"})
    lines = r.stdout.splitlines()
    tap.ok(r.returncode == 0 and lines[0].split()[:3] == ["NAT-ADDRESS", "CONNECTIONS", "SHARE"]
           and any(l.startswith(tables.WAN1) for l in lines) and "connections match" in lines[-1],
           "summary as a table: key, connections, share; a closing line", r.stdout)
    r = ctl("summary", "-b", "colour")
    tap.ok(r.returncode == 2 and "colour" in r.stderr and len(r.stderr.splitlines()) == 1,
           "summary --by colour: exit 2, one line naming it", r.stderr)
    r = ctl("stats")
    stats = dict(l.split() for l in r.stdout.splitlines())
    count = int(sandbox.run(["conntrack", "-C"]).stdout)
    tap.ok(r.returncode == 0 and int(stats["count"]) == count and "drop" in stats and "max" in stats,
           "stats: the table's count (%d, as conntrack -C) and the kernel's counters" % count, r.stdout)
    r = ctl("stats", "--json")
    tap.ok(r.returncode == 0 and json.loads(r.stdout)["count"] == count, "stats --json: one JSON object")


def test_errors():
    for args, code, needle in (
            (["list", "--interface", "nosuch0"], 2, "nosuch0"),
            (["list", "-p", "tcp", "--state", "HALF_OPEN"], 2, "HALF_OPEN"),
            (["list", "-s", "10.0.0.300"], 2, "10.0.0.300"),
            (["list", "--sport", "70000"], 2, "--sport"),
            (["list", "-m", "1/zz"], 2, "-m/--mark"),
            (["list", "-u", "ASSURED,SHINY"], 2, "SHINY"),
            (["list", "--id", "5"], 2, "--id"),
            (["list", "--bogus"], 2, "--bogus"),
            (["frobnicate"], 2, "frobnicate"),
            (["list", "extra"], 2, "extra"),
            ([], 2, "no command"),
            (["delete-matching"], 2, "filter"),
            (["flush", "-p", "tcp"], 2, "--proto"),
            (["delete", "-p", "tcp", "-s", "192.0.2.200", "-d", "192.0.2.201", "--sport", "1", "--dport", "2"],
             4, "")):
        r = ctl(*args)
        tap.ok(r.returncode == code and needle in r.stderr and len(r.stderr.splitlines()) == 1 and not r.stdout,
               "%s: exit %d, one line on stderr naming %r" % (" ".join(args) or "(nothing)", code, needle),
               "rc=%d stderr=%r stdout=%r" % (r.returncode, r.stderr, r.stdout[:200]))
    r = ctl("list", "-s", "10.0.0.300")
    tap.ok("(given as --src)" in r.stderr, "a service message about a filter key names the option", r.stderr)
    r = ctl("--help")
    tap.ok(r.returncode == 0 and "delete-matching" in r.stdout, "--help: the commands, exit 0")
    r = ctl("--version")
    tap.ok(r.returncode == 0 and r.stdout.startswith("connectionsctl "), "--version")


def test_users():
    r = ctl("list", "--json", user="cdallow")
    tap.ok(r.returncode == 0 and len(json_lines(r.stdout)) > 0, "a user polkit allows lists")
    before = len(sb.conntrack())
    for user, needle in (("cddeny", "not"), ("cdmatch", "not")):
        args = ["list"] if user == "cddeny" else ["flush", "--yes"]
        r = ctl(*args, user=user)
        tap.ok(r.returncode == 1 and len(r.stderr.splitlines()) == 1 and not r.stdout,
               "%s %s: refused, exit 1, one line" % (user, " ".join(args)), r.stderr)
    tap.eq(len(sb.conntrack()), before, "refused calls changed nothing")
    r = ctl("--no-ask-password", "list", user="cdnobody")
    tap.ok(r.returncode == 1 and "authorization needed" in r.stderr, "--no-ask-password: no prompt, says why",
           r.stderr)


def on_pty(args, user=None, answer=(None, None), timeout=60, until=()):
    """connectionsctl on a terminal (as user): (exit status, what it showed)."""
    return sandbox.on_pty(["env", "COLUMNS=200"] + sb.as_user(user) + [CTL] + args, answer[0], answer[1], timeout,
                          until=until)


def test_terminal():
    # polkit finds a text agent through the caller's login session, which this
    # sandbox has none of (no logind): the call is still answered, refused.
    # The prompt itself is tested under a real systemd (tests/system).
    rc, out = on_pty(["list"], user="cdnobody")
    tap.ok(rc == 1 and "Not authorized" in out, "on a terminal outside a login session: refused, exit 1",
           out[-300:])
    before = len(sb.conntrack())
    rc, out = on_pty(["flush"], answer=("[y/N]", "n\n"))
    tap.ok("Delete all %d connections" % before in out and rc == 1 and len(sb.conntrack()) == before,
           "flush on a terminal asks first, says how many; 'n' deletes nothing", out)


def test_watch():
    p = sandbox.popen([CTL, "watch"], stdout=subprocess.PIPE, text=True)
    sb.procs.append(p)
    first = p.stdout.readline().strip()
    tap.ok(first.startswith("watching count="), "watch (not on a terminal) starts with the count", first)
    sandbox.run("conntrack -I -p udp -s 192.0.2.150 -d 192.0.2.151 --sport 7 --dport 9 -t 600")
    line = p.stdout.readline().strip()
    tap.ok(re.match(r"changed generation=\d+ new=1 updated=\d+ destroyed=0 lost=no count=\d+$", line),
           "a new connection: one 'changed' line with new=1", line)
    r = ctl("delete-matching", "-s", "192.0.2.150")
    tap.ok(r.returncode == 0 and r.stdout.strip() == "Deleted 1 connection.", "delete-matching prints how many",
           r.stdout + r.stderr)
    seen = [p.stdout.readline().strip() for _ in range(2)]
    tap.ok("deleted method=DeleteMatching count=1" in seen, "watch shows the deletion", seen)
    p.send_signal(signal.SIGTERM)
    tap.eq(p.wait(10), 0, "watch ends with status 0 on SIGTERM")
    rc, out = on_pty(["watch"], until=("connections in the table", "PROTO"))
    tap.ok("connections in the table" in out and "PROTO" in out, "on a terminal, watch draws a view", out[-500:])


def test_deletes():
    before = sb.conntrack()
    r = ctl("delete", "-p", "tcp", "-s", "192.0.2.10", "-d", "192.0.2.20", "--sport", "1111", "--dport", "443")
    after = sb.conntrack()
    gone = set(ids(before)) - set(ids(after))
    want = {e["id"] for e in before if e["src"] == "192.0.2.10"}
    tap.ok(r.returncode == 0 and gone == want and len(after) == len(before) - 1,
           "delete by tuple: that connection and nothing else", r.stderr)
    r = ctl("delete", "-p", "tcp", "-s", "192.0.2.10", "-d", "192.0.2.20", "--sport", "1111", "--dport", "443")
    tap.ok(r.returncode == 4 and len(r.stderr.splitlines()) == 1, "again: no such connection, exit 4", r.stderr)
    target = next(e for e in after if e["src"] == "192.0.2.11")
    r = ctl("delete", "--id", str(target["id"]))
    tap.ok(r.returncode == 0 and target["id"] not in ids(sb.conntrack()), "delete --id", r.stderr)
    before = sb.conntrack()
    zone5 = [e["id"] for e in before if e["zone"] == 5]
    r = ctl("delete-matching", "--zone", "5")
    after = sb.conntrack()
    tap.ok(r.stdout.strip() == "Deleted %d connections." % len(zone5) and
           set(ids(before)) - set(ids(after)) == set(zone5) and len(zone5) == 2,
           "delete-matching --zone 5: exactly the zone's 2 connections, and says so", r.stdout + r.stderr)
    r = ctl("flush", "--yes")
    tap.ok(r.returncode == 0 and r.stdout.startswith("Deleted ") and sb.conntrack() == [],
           "flush --yes empties the table", r.stdout + r.stderr)


def complete(line):
    """COMPREPLY of the completion function for a command line (cursor at its end)."""
    script = ('source %s; COMP_LINE=%s; read -ra COMP_WORDS <<<"$COMP_LINE"; '
              '[[ $COMP_LINE == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
              'COMP_POINT=${#COMP_LINE}; _connectionsctl; printf "%%s\\n" "${COMPREPLY[@]}"'
              % (COMPLETION, json.dumps(line)))
    return sorted(x for x in subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE,
                                            text=True).stdout.splitlines() if x)


def test_completion():
    r = subprocess.run(["bash", "-n", COMPLETION], stderr=subprocess.PIPE, text=True)
    tap.ok(r.returncode == 0, "bash -n: the completion script parses", r.stderr)
    r = subprocess.run(["bash", "-c", "source %s; complete -p connectionsctl" % COMPLETION],
                       stdout=subprocess.PIPE, text=True)
    tap.ok("-F _connectionsctl" in r.stdout, "it registers a completion for connectionsctl", r.stdout)
    tap.eq(complete("connectionsctl de"), ["delete", "delete-matching"], "commands complete")
    tap.eq(complete("connectionsctl list --sta"), ["--stale", "--state", "--status"], "options complete")
    states = complete("connectionsctl list -p tcp --state ESTAB")
    tap.eq(states, ["ESTABLISHED"], "state names complete")
    tap.eq(complete("connectionsctl -u ASSURED,SEEN"), ["ASSURED,SEEN_REPLY"], "status flags complete after a comma")
    ifaces = complete("connectionsctl delete-matching --interface ")
    tap.ok({"lo", "lan0", "wan1", "wan2"} <= set(ifaces), "--interface completes interface names", ifaces)
    tap.eq(complete("connectionsctl summary --sort "), ["bytes", "connections", "packets"],
           "summary's --sort completes its own keys")


try:
    tables.mixed(sb)
    tap.run(test_options_against_conntrack)
    tap.run(test_table)
    tap.run(test_export_summary_stats)
    tap.run(test_errors)
    tap.run(test_users)
    tap.run(test_terminal)
    tap.run(test_watch)
    tap.run(test_deletes)
    tap.run(test_completion)
finally:
    sb.finish(tap)
sys.exit(tap.done())
