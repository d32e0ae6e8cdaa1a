#!/usr/bin/python3
"""Hostile input, resource limits and faults against the live service.

Every bad call must get the right error, leave the table exactly as it was,
and leave the service answering. Then: flooding clients hit the limits and
cannot starve others; callers that vanish mid-call; polkitd dying
mid-check; the bus going away; no CAP_NET_ADMIN."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import tables  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
CDCLIENT = os.environ.get("CD_CDCLIENT") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "cdclient")
CDWATCH = os.environ.get("CD_CDWATCH") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "cdwatch")
CTFILL = os.environ.get("CD_CTFILL") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "ctfill")
sb = sandbox.Sandbox(service_args=["--max-subscribers=3"]).start()

INVALID = "org.freedesktop.DBus.Error.InvalidArgs"
DENIED = "org.freedesktop.DBus.Error.AccessDenied"
INTERACTIVE = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
LIMITS = "org.freedesktop.DBus.Error.LimitsExceeded"
NOT_FOUND = "org.example.Connections.Error.NotFound"
E = "@a{sv} {}"
checked = [0]


def snapshot():
    return sorted((e["id"], e["src"], e["sport"]) for e in sb.conntrack())


def alive():
    r = sb.busctl("get-property", sandbox.NAME, sandbox.PATH, sandbox.IFACE, "Version", check=False)
    return r.returncode == 0


def busctl_error(method, sig, *args, user=None):
    """busctl prints only the message; the name comes from gdbus-style mapping below."""
    r = sb.busctl("call", sandbox.NAME, sandbox.PATH, sandbox.IFACE, method,
                  *([sig] + list(args) if sig else []), user=user, check=False)
    return r.returncode, r.stderr.strip()


def bad(desc, method, *args, want=INVALID, needle=None, user=None, raw=None):
    """One hostile call: the right error, nothing changed, still answering."""
    before = snapshot()
    if raw is not None:   # busctl with a raw signature: sd-bus itself checks it
        rc, msg = busctl_error(method, *raw, user=user)
        name_ok = rc != 0 and (needle or "") in msg
        got = "busctl: " + msg
    else:
        try:
            sb.gdbus(method, *args, user=user)
            name_ok, got = False, "accepted"
        except sandbox.BusError as e:
            name_ok = e.name == want and (needle is None or needle in e.message)
            got = "%s: %s" % (e.name, e.message[:300])
    after = snapshot()
    checked[0] += 1
    tap.ok(name_ok and before == after and alive(),
           "%s -> %s%s, table unchanged, service answers" % (desc, want.split(".")[-1] if raw is None else "refused",
                                                              " naming %r" % needle if needle else ""), got)


def test_bad_calls():
    # Wrong signatures: refused by sd-bus before any of our code runs.
    bad("List with a string", "List", raw=("s", "hello"), needle="a{sv}a{sv}")
    bad("List with one dictionary", "List", raw=("a{sv}", "0"), needle="a{sv}a{sv}")
    bad("List with a{ss}", "List", raw=("a{ss}a{sv}", "1", "port", "80", "0"), needle="a{sv}a{sv}")
    bad("DeleteMatching with a number", "DeleteMatching", raw=("u", "7"), needle="a{sv}")
    bad("Delete without arguments", "Delete", raw=("",), needle="a{sv}")
    bad("Flush with an argument", "Flush", raw=("s", "now"), needle="Flush")
    bad("Export without a format", "Export", raw=("a{sv}", "0"), needle="a{sv}s")
    bad("GetStatistics with an argument", "GetStatistics", raw=("b", "true"), needle="GetStatistics")
    bad("Subscribe with an argument", "Subscribe", raw=("u", "1"), needle="Subscribe")
    bad("an unknown method", "Nuke", want=UNKNOWN_METHOD)
    # Wrong variant types.
    bad("port as a string", "List", "{'port': <'80'>}", E, needle="port")
    bad("port as a double", "List", "{'port': <80.0>}", E, needle="port")
    bad("mark as a boolean", "DeleteMatching", "{'mark': <true>}", needle="mark")
    bad("family as a number", "List", "{'family': <uint32 4>}", E, needle="family")
    bad("status as integers", "DeleteMatching", "{'status': <[1, 2]>}", needle="status")
    bad("stale as a string", "List", "{'stale': <'yes'>}", E, needle="stale")
    bad("limit as a string", "List", E, "{'limit': <'10'>}", needle="limit")
    bad("reverse as an integer", "List", E, "{'reverse': <1>}", needle="reverse")
    # Out of range.
    bad("port 65536", "List", "{'port': <uint32 65536>}", E, needle="port")
    bad("port -1", "DeleteMatching", "{'port': <-1>}", needle="port")
    bad("zone 70000", "List", "{'zone': <70000>}", E, needle="zone")
    bad("mark 2^32", "DeleteMatching", "{'mark': <int64 4294967296>}", needle="mark")
    bad("Delete id 2^32", "Delete", "{'id': <uint64 4294967296>}", needle="id")
    bad("offset -1", "List", E, "{'offset': <-1>}", needle="offset")
    bad("limit 2^32", "List", E, "{'limit': <uint64 4294967296>}", needle="limit")
    # Bad and oversized addresses and prefixes.
    bad("src 999.1.1.1", "List", "{'src': <'999.1.1.1'>}", E, needle="src")
    bad("a 10,000-character address", "DeleteMatching", "{'src': <'%s'>}" % ("1" * 10000), needle="src")
    bad("dst /33", "List", "{'dst': <'10.0.0.0/33'>}", E, needle="dst")
    bad("address ::/129", "DeleteMatching", "{'address': <'::/129'>}", needle="address")
    bad("a scoped IPv6 address", "List", "{'nat-address': <'fe80::1%eth0'>}", E, needle="nat-address")
    bad("an address with a space", "List", "{'src': <' 10.0.0.1'>}", E, needle="src")
    bad("Delete with a prefix", "Delete", "{'protocol': <'tcp'>, 'src': <'10.0.0.0/8'>, 'dst': <'10.0.0.1'>, "
        "'sport': <uint16 1>, 'dport': <uint16 2>}", needle="src")
    # Unknown names.
    bad("an unknown filter key", "DeleteMatching", "{'everything': <true>}", needle="everything")
    bad("an unknown protocol", "List", "{'protocol': <'tcpp'>}", E, needle="tcpp")
    bad("an unknown state", "DeleteMatching", "{'state': <'HALF_OPEN'>}", needle="HALF_OPEN")
    bad("an unknown status flag", "List", "{'status': <['ASSURED', 'SHINY']>}", E, needle="SHINY")
    bad("an unknown sort key", "List", E, "{'sort': <'colour'>}", needle="colour")
    bad("an unknown option", "List", E, "{'page': <uint32 2>}", needle="page")
    bad("an unknown nat kind", "DeleteMatching", "{'nat': <'masquerade'>}", needle="masquerade")
    bad("an unknown interface", "DeleteMatching", "{'interface': <'eth99'>}", needle="eth99")
    bad("an unknown export format", "Export", E, "'xml'", needle="xml")
    bad("an unknown grouping key", "Summarize", E, "'colour'", E, needle="colour")
    # Huge and deep input.
    flags = ", ".join(["'ASSURED'"] * 10000 + ["'BOGUS'"])   # one argv string: < 128 KiB
    bad("a status list of 10,001 flags, the last one bogus", "DeleteMatching", "{'status': <[%s]>}" % flags,
        needle="BOGUS")
    dup = ", ".join(["'port': <uint16 %d>" % i for i in range(3000)])
    bad("a filter with the same key 3,000 times", "DeleteMatching", "{%s}" % dup, needle="more than once")
    bad("a 60,000-character key", "List", "{'%s': <1>}" % ("k" * 60000), E, needle="Unknown filter key")
    bad("a port nested 30 variants deep", "DeleteMatching", "{'port': %s80%s}" % ("<" * 30, ">" * 30), needle="port")
    bad("an empty filter to DeleteMatching", "DeleteMatching", E, needle="Flush")
    # Partial tuples for Delete.
    bad("Delete with protocol and src only", "Delete", "{'protocol': <'tcp'>, 'src': <'10.0.0.2'>}", needle="dst")
    bad("Delete tcp without dport", "Delete", "{'protocol': <'tcp'>, 'src': <'10.0.0.2'>, 'dst': <'10.0.0.3'>, "
        "'sport': <uint16 1>}", needle="dport")
    bad("Delete icmp without icmp-id", "Delete", "{'protocol': <'icmp'>, 'src': <'10.0.0.2'>, 'dst': <'10.0.0.3'>, "
        "'icmp-type': <byte 8>, 'icmp-code': <byte 0>}", needle="icmp-id")
    bad("Delete icmp with ports", "Delete", "{'protocol': <'icmp'>, 'src': <'10.0.0.2'>, 'dst': <'10.0.0.3'>, "
        "'icmp-type': <byte 8>, 'icmp-code': <byte 0>, 'icmp-id': <uint16 1>, 'sport': <uint16 1>}", needle="sport")
    bad("Delete of an entry that does not exist", "Delete", "{'protocol': <'udp'>, 'src': <'10.9.9.9'>, "
        "'dst': <'10.9.9.8'>, 'sport': <uint16 1>, 'dport': <uint16 2>}", want=NOT_FOUND)
    # Callers without rights.
    bad("Flush by a user polkit denies", "Flush", want=DENIED, user="cddeny")
    bad("DeleteMatching by a user without a rule", "DeleteMatching", "{'protocol': <'udp'>}", want=INTERACTIVE,
        user="cdnobody")
    bad("Delete by a user polkit denies", "Delete", "{'id': <uint32 1>}", want=DENIED, user="cddeny")
    tap.ok(checked[0] >= 40, "%d distinct bad calls were made" % checked[0])


def test_vanishing_callers():
    before = snapshot()
    r = sandbox.run([CDCLIENT, "flood", "10", "--no-wait"], check=False)
    r2 = sandbox.run(sb.as_user("cdslow") + [CDCLIENT, "flood", "5", "--no-wait"], check=False)
    tap.ok(r.returncode == 0 and r2.returncode == 0 and alive(),
           "callers that hang up before the reply, and while polkit decides, do no harm")
    # Their checks end with them (or when the slow rule answers): a limit
    # still held would refuse this caller for good, so asking again within a
    # bound is the test.
    deadline = time.monotonic() + 60
    while True:
        r = sandbox.run(sb.as_user("cdslow") + [CDCLIENT, "list", "--max", "1"], check=False, timeout=60)
        if r.returncode == 0 or LIMITS not in r.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    tap.ok(r.returncode == 0, "their limits were released: the same user is served again", r.stderr)
    tap.eq(snapshot(), before, "and the table is unchanged")


def test_limits():
    # Polkit checks pending per caller: polkitd frozen, so every check waits.
    os.kill(sb.polkitd.pid, 19)   # SIGSTOP
    p = sandbox.popen(sb.as_user("cdallow") + [CDCLIENT, "flood", "30", "--statistics", "--routed"],
                      stdout=subprocess.PIPE, text=True)
    routed = p.stdout.readline().strip()   # all 30 are with the service
    t0 = time.monotonic()
    total, _ = sb.list(opts={"limit": ("u", 1)})
    took = time.monotonic() - t0
    tap.ok(p.poll() is None and total > 0,
           "while 30 checks of one caller wait, root's List is answered (%.2f s)" % took)
    os.kill(sb.polkitd.pid, 18)   # SIGCONT
    out = routed + "; " + p.stdout.read()
    p.wait(60)
    tap.ok(routed == "routed 30" and "ok 16" in out and "error %s 14" % LIMITS in out,
           "a caller gets 16 pending authorizations, the 14 others LimitsExceeded at once", out)

    # Calls in progress per user, on a table big enough for dumps to overlap.
    sandbox.run([CTFILL, "150000"])
    start = time.monotonic()
    p = sandbox.popen(sb.as_user("cdallow") + [CDCLIENT, "flood", "40", "--routed", "--times"],
                      stdout=subprocess.PIPE, text=True)
    routed = p.stdout.readline().strip()
    t0 = time.monotonic()
    other = sandbox.run(sb.as_user("cdmatch") + [CDCLIENT, "list", "family=s:ipv4", "protocol=s:tcp",
                                                  "src=s:10.64.0.1", "sport=q:12345", "dport=q:80"], check=False)
    t1 = time.monotonic()
    out = p.stdout.read()
    p.wait(300)
    answers = [float(l.split()[1]) for l in out.splitlines() if l.startswith("answered ")]
    ok = sum(int(l.split()[1]) for l in out.splitlines() if l.startswith("ok "))
    tap.ok(routed == "routed 40" and ok >= 8 and LIMITS in out, "a flooding user gets 8 calls in progress at a time, "
           "the rest LimitsExceeded: %s" % "; ".join(l for l in out.splitlines() if not l.startswith("answered")))
    tap.ok(other.returncode == 0 and "total 1 " in other.stdout and answers and max(answers) > t1,
           "another user's List is answered before the flood's last answer (%.2f s, %.2f s after the flood began)"
           % (t1 - t0, t0 - start), other.stderr)
    # Root's lane has no such limit: its calls wait for a slot, never refused.
    r = sandbox.run([CDCLIENT, "flood", "20"], check=False, timeout=600)
    tap.eq(r.stdout.split(), ["ok", "20"], "root's 20 whole-table Lists at once are all answered, none refused")
    sb.gdbus("DeleteMatching", "{'src': <'10.64.0.0/16'>}")

    # Subscribers (the sandbox runs the service with --max-subscribers=3).
    ws = [sandbox.popen([CDWATCH, "--seconds", "120"], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    firsts = sorted(w.stdout.readline().split()[0] for w in ws)
    tap.eq(firsts, ["error", "ready", "ready", "ready"], "a fourth subscriber is refused")
    for w in ws:
        w.kill()
        w.wait()
    # The bus tells the service they left; until then a fifth is still refused.
    deadline = time.monotonic() + 60
    while True:
        w = sandbox.popen([CDWATCH, "--seconds", "1"], stdout=subprocess.PIPE, text=True)
        first = w.stdout.readline().split()[0]
        w.wait()
        if first == "ready" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    tap.eq(first, "ready", "once they left, a subscriber is accepted again")


def test_flood_by_one_user():
    """One user keeps 8 Lists in flight on each of 12 connections (an
    answered or refused call goes out again at once) until told to stop, on
    a 100,000-entry table: limits are per user, so the flood gets one user's
    share; root's work (the failover cleanup) is done while the flood goes
    on, and another user is served too. (Before, root's cleanup waited until
    the flood ended.) The flood stops after 120 s at the latest."""
    sandbox.run([CTFILL, "100000", "--src", "10.70.0.0"])
    sandbox.run([CTFILL, "100", "--src", "10.71.0.0", "--dport", "7777"])
    floods = [sandbox.popen(sb.as_user("cdallow") + [CDCLIENT, "flood", "8", "--routed", "--times", "--keep", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(12)]
    routed = [p.stdout.readline().strip() for p in floods]
    t0 = time.monotonic()
    root = sandbox.run([CDCLIENT, "delete-matching", "family=s:ipv4", "protocol=s:tcp", "dport=q:7777"], check=False)
    t1 = time.monotonic()
    other = sandbox.run(sb.as_user("cdmatch") + [CDCLIENT, "list", "family=s:ipv4", "protocol=s:tcp",
                                                  "src=s:10.70.0.1", "sport=q:12345", "dport=q:80"], check=False)
    t2 = time.monotonic()
    flooding = [p.poll() is None for p in floods]
    for p in floods:
        p.terminate()   # stop sending; the calls in flight are answered
    # Not communicate(): it reads the pipe itself and would lose what readline() buffered.
    outs = [p.stdout.read() for p in floods]
    for p in floods:
        p.wait(60)
    lines = [l for o in outs for l in o.splitlines()]
    answers = [float(l.split()[1]) for l in lines if l.startswith("answered ")]
    ok = sum(int(l.split()[1]) for l in lines if l.startswith("ok "))
    refused = sum(int(l.split()[2]) for l in lines if l.startswith("error " + LIMITS))
    during = sum(1 for t in answers if t0 < t < t1)
    tap.ok(routed == ["routed 8"] * 12, "12 connections of one user keep 96 Lists in flight")
    tap.ok(root.returncode == 0 and root.stdout.strip() == "100" and all(flooding),
           "root's DeleteMatching of 100 entries is done while the flood goes on (%.2f s)" % (t1 - t0), root.stderr)
    # Root's dump goes first: the flood's dumps pause meanwhile, and its
    # waiting Lists cannot start and end; at most the ones already running
    # (4 of one user) may have been finishing.
    tap.ok(during <= 4 and answers and max(answers) > t1,
           "root's cleanup ends before the flood's work: %d of its %d answers came during root's call" %
           (during, len(answers)))
    tap.ok(other.returncode == 0 and "total 1 " in other.stdout and all(flooding),
           "another user's filtered List is served during the flood (%.2f s)" % (t2 - t1), other.stderr)
    tap.ok(ok > 0 and refused > ok and ok == len(answers),
           "the flooding user gets its share, %d answered, and LimitsExceeded for %d" % (ok, refused),
           "\n".join(l for l in lines if not l.startswith("answered")))
    sb.gdbus("DeleteMatching", "{'src': <'10.70.0.0/16'>}")


def test_polkit_dies_midcheck():
    asked = sb.log_count("Asking polkit whether")
    os.kill(sb.polkitd.pid, 19)
    p = sandbox.popen(sb.as_user("cdallow") + ["gdbus", "call", "--system", "--dest", sandbox.NAME,
                                               "--object-path", sandbox.PATH, "--method",
                                               sandbox.IFACE + ".List", E, E],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sb.wait_log("Asking polkit whether", asked + 1)   # the check is with polkitd
    sb.polkitd.kill()
    sb.polkitd.wait()
    out, err = p.communicate(timeout=30)
    tap.ok(p.returncode != 0 and "AccessDenied" in err, "polkitd dying during a check is a denial", err)
    sb.start_polkitd()
    try:
        sb.gdbus("List", E, E, user="cdallow")
        tap.ok(True, "polkitd back: the next check succeeds")
    except sandbox.BusError as e:
        tap.ok(False, "polkitd back: the next check succeeds", e)


def test_checks_end():
    """Polkit checks nobody answers (polkitd frozen) end: at once when their
    caller leaves the bus, else at the bus's method timeout (25 s)."""
    def count(text):
        return open(sb.service_log).read().count(text)

    def wait_count(text, n):
        deadline = time.monotonic() + 30
        while count(text) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return count(text)

    asked, ended = count("Asking polkit whether"), count("ended: the caller left the bus")
    os.kill(sb.polkitd.pid, 19)   # SIGSTOP
    try:
        p = sandbox.popen(sb.as_user("cdallow") + [CDCLIENT, "flood", "16", "--statistics"],
                          stdout=subprocess.DEVNULL)
        pending = wait_count("Asking polkit whether", asked + 16) - asked
        p.kill()
        p.wait()
        n = wait_count("ended: the caller left the bus", ended + 16) - ended
        tap.ok(pending == 16 and n == 16,
               "%d pending checks whose caller left the bus end at once (%d)" % (pending, n))
        t0 = time.monotonic()
        try:
            sb.gdbus("GetStatistics", user="cdallow", timeout=120)
            tap.ok(False, "a check nobody answers ends with AccessDenied")
        except sandbox.BusError as e:
            tap.ok(e.name == DENIED and "no answer in time" in e.message,
                   "a check nobody answers ends with AccessDenied after %.0f s" % (time.monotonic() - t0),
                   "%s: %s" % (e.name, e.message))
    finally:
        os.kill(sb.polkitd.pid, 18)   # SIGCONT
    sb.gdbus("List", E, E, user="cdallow")
    tap.ok(True, "polkitd going on: checks are answered again")


def test_no_cap_net_admin():
    r = sandbox.run(["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", sb_service(),
                     "--state-dir=" + os.path.join(sb.tmp, "state2")], check=False, timeout=20)
    tap.ok(r.returncode == 1 and "Cannot read the conntrack table: Operation not permitted" in r.stderr,
           "without CAP_NET_ADMIN the service says so and exits 1", r.stderr)


def sb_service():
    return sandbox.SERVICE


def test_bus_goes_away():
    sb.dbus.kill()
    sb.dbus.wait()
    try:
        sb.service.wait(10)
    except subprocess.TimeoutExpired:
        pass
    log = open(sb.service_log).read()
    tap.ok(sb.service.returncode == 1 and "Disconnected from the bus" in log,
           "when the bus goes away the service exits with 1 (for Restart=on-failure)",
           "returncode %s" % sb.service.returncode)
    tap.ok(not any(w in log for w in ("runtime error", "Sanitizer")), "and cleanly: no sanitizer report")
    sb.service = None


try:
    tables.mixed(sb)
    tap.run(test_bad_calls)
    tap.run(test_vanishing_callers)
    tap.run(test_limits)
    tap.run(test_flood_by_one_user)
    tap.run(test_polkit_dies_midcheck)
    tap.run(test_checks_end)
    tap.run(test_no_cap_net_admin)
    tap.run(test_bus_goes_away)
finally:
    sb.finish(tap)
sys.exit(tap.done())
