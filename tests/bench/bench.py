#!/usr/bin/python3
"""connectionsd against conntrack-tools, side by side in one run.

Builds a sandbox table of N entries (200,000 by default), then times each
pair alternately, R times, and prints medians, ratios and the targets.
With N of 500,000 or more it runs the big-table set instead: the unfiltered
first page, Export, a prefix's first page, and the service's CPU with the
Cockpit page open in live mode while the table changes (tests/bench/run
raises nf_conntrack_max for it). Clients: cdclient (sd-bus, discards what it
receives), conntrack(8) with output to /dev/null, and Debian's chromium
through cockpit-ws for the page."""
import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "browser"))
import sandbox  # noqa: E402
import stage  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--entries", type=int, default=200000, help="table size (default 200000)")
ap.add_argument("--live-seconds", type=int, default=90, help="big-table set: how long the page stays in live mode")
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--flood-only", action="store_true", help="only section 10: root's work during one user's flood")
ap.add_argument("--out", default=os.path.join(sandbox.BUILDDIR, "bench-results.md"))
args = ap.parse_args()

sandbox.enter_namespaces()
TOOLS = os.path.join(sandbox.BUILDDIR, "tests", "tools")
CTFILL, CDCLIENT, CDWATCH = (os.path.join(TOOLS, t) for t in ("ctfill", "cdclient", "cdwatch"))
CTL = os.path.join(sandbox.BUILDDIR, "src", "ctl", "connectionsctl")
MAX = int(open("/proc/sys/net/netfilter/nf_conntrack_max").read())
N = args.entries
if N > MAX * 0.95:
    sys.exit("bench: %d entries do not fit nf_conntrack_max=%d (tests/bench/run raises it)" % (N, MAX))
BIG = N >= 500000
QUARTER = N // 4
rows = []


def sh(cmd):
    return subprocess.run(cmd, shell=isinstance(cmd, str), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, check=True)


def build():
    """N entries: 3/4 to 10.128.0.1, 1/4 to 10.129.0.1 (DeleteMatching's
    quarter); 1,000 of them to port 8443 (the exact tuple filter)."""
    sh("conntrack -F 2>/dev/null || true")
    sh([CTFILL, str(N - QUARTER - 1000), "--src", "10.64.0.0", "--dst", "10.128.0.1"])
    sh([CTFILL, str(QUARTER), "--src", "10.96.0.0", "--dst", "10.129.0.1"])
    sh([CTFILL, "1000", "--src", "10.99.0.0", "--dst", "10.128.0.1", "--dport", "8443"])


def timed(cmd):
    t0 = time.monotonic()
    sh(cmd)
    return time.monotonic() - t0


def met(cond):
    return "yes" if cond else "**no**"


def report(name, ours, theirs, target, theirs_label=""):
    """One row of the table and its line on the terminal; target None: a figure only."""
    ratio = ours / theirs
    rows.append((name, "%.3f s" % ours, "%.3f s%s" % (theirs, theirs_label), "%.3f×" % ratio,
                 "" if target is None else "≤ %.2f×" % target, "" if target is None else met(ratio <= target)))
    print("%-48s %8.3f s %8.3f s %6.3f×  %s" % (name, ours, theirs, ratio, "" if target is None else
                                               "target ≤ %.2f×" % target), flush=True)


def pair(name, ours, theirs, target, rebuild=False):
    """Medians of ours and theirs, alternating."""
    a, b = [], []
    for _ in range(args.reps):
        for cmd, acc in ((ours, a), (theirs, b)):
            if rebuild:
                build()
            acc.append(timed(cmd))
    report(name, statistics.median(a), statistics.median(b), target)


def later_pages():
    """A listing's page round trips: the first, and the later ones (medians
    over the reps of cdclient's mean of pages 2..)."""
    firsts, laters = [], []
    for _ in range(args.reps):
        out = sh([CDCLIENT, "list"]).stdout.split()
        firsts.append(float(out[out.index("first") + 1]))
        laters.append(float(out[out.index("later-mean") + 1]))
    report("1. a later page of the listing vs its first", statistics.median(laters), statistics.median(firsts),
           0.1, " (first)")


def rss(pid, key):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def uss(pid):
    """Private memory (USS), MiB: what the service alone holds."""
    kib = 0
    for line in open("/proc/%d/smaps_rollup" % pid):
        if line.startswith(("Private_Clean:", "Private_Dirty:", "Private_Hugetlb:")):
            kib += int(line.split()[1])
    return kib / 1024.0


def peak_during(pid, cmd):
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5\n")   # resets VmHWM
    sh(cmd)
    return rss(pid, "VmHWM")


def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().split(")")[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def shmem_mib():
    for line in open("/proc/meminfo"):
        if line.startswith("Shmem:"):
            return int(line.split()[1]) / 1024
    return 0


STORM = r"""
import dbus, os
bus = dbus.SystemBus()
obj = bus.get_object("org.example.Connections", "/org/example/Connections")
held, total = [], 0
while len(held) < 100:
    try:
        fd = obj.Export(dbus.Dictionary({}, signature="sv"), "json", dbus_interface="org.example.Connections").take()
    except dbus.DBusException as e:
        print("refused", len(held), total, e.get_dbus_message())
        break
    held.append(fd)
    total += os.fstat(fd).st_size
print("held", len(held), total, flush=True)
input()
"""


def flood():
    """Section 10: one user keeps 8 Lists (each a whole-table read) in flight
    on each of 12 connections, sending each again once answered or refused;
    meanwhile root's DeleteMatching of 100 entries, root's 15 counts at once,
    and another user's filtered List. Returns its rows."""
    sh([CTFILL, "100", "--src", "10.71.0.0", "--dport", "7777"])
    floods = [sandbox.popen(sb.as_user("cdallow") + [CDCLIENT, "flood", "8", "--routed", "--keep", "600"],
                            stdout=subprocess.PIPE, text=True) for _ in range(12)]
    for p in floods:
        p.stdout.readline()
    t_root = timed([CDCLIENT, "delete-matching", "family=s:ipv4", "protocol=s:tcp", "dport=q:7777"])
    t = time.monotonic()
    counts = sandbox.run([CDCLIENT, "flood", "15", "--count"], check=False).stdout.split()
    t_counts = time.monotonic() - t
    t_other = timed(sb.as_user("cdmatch") + [CDCLIENT, "list", "family=s:ipv4", "protocol=s:tcp",
                                              "dport=q:8443"])
    flooding = all(p.poll() is None for p in floods)
    for p in floods:
        p.terminate()   # stop sending again; what is in flight is answered
    outs = [p.stdout.read() for p in floods]
    for p in floods:
        p.wait()
    ok = sum(int(l.split()[1]) for o in outs for l in o.splitlines() if l.startswith("ok "))
    refused = sum(int(l.split()[2]) for o in outs for l in o.splitlines() if "LimitsExceeded" in l)
    counted = int(counts[1]) if counts[:1] == ["ok"] else 0
    root_target = 1 if N <= 200000 else 3
    print("10. one user keeps 12 connections x 8 Lists in flight: root's DeleteMatching of 100 answered in "
          "%.3f s, root's 15 counts at once in %.3f s (%d answered), another user's filtered List in %.3f s "
          "(the flood still going: %s); the flooder got %d answered, %d LimitsExceeded"
          % (t_root, t_counts, counted, t_other, flooding, ok, refused), flush=True)
    return [
        "| 10. root's DeleteMatching of 100 during one user's flood | %.3f s | | | < %d s | %s |" %
        (t_root, root_target, met(t_root < root_target)),
        "| 10. root's 15 counts (List limit 0) at once during the flood | %.3f s, %d of 15 answered | | | "
        "none refused | %s |" % (t_counts, counted, met(counted == 15)),
        "| 10. another user's filtered List during the flood | %.3f s | | | < 1 s | %s |" % (t_other, met(t_other < 1)),
        "| 10. the flooder's Lists (8 in flight on each of 12 connections) | %d answered, %d LimitsExceeded | | | "
        "its share | |" % (ok, refused),
    ]


def storm():
    """Section 11: one user exports and keeps every descriptor until
    refused; the memory that holds."""
    before = shmem_mib()
    p = sandbox.popen(sb.as_user("cdallow") + ["/usr/bin/python3", "-c", STORM], stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, text=True)
    lines = [p.stdout.readline().split(), p.stdout.readline().split()]
    held_shmem, svc_rss = shmem_mib() - before, rss(sb.service.pid, "VmRSS")
    p.communicate("\n", timeout=60)
    refused_after = lines[0][1] if lines[0][0] == "refused" else "none"
    held_mib = int(lines[-1][2]) / 2**20
    print("11. export storm by one user keeping every descriptor: refused after %s exports; "
          "%.0f MiB held in memfds (budget 512 MiB), Shmem grew %.0f MiB; service RSS %.1f MiB"
          % (refused_after, held_mib, held_shmem, svc_rss), flush=True)
    return refused_after, held_mib, svc_rss


def standard(pid, idle, idle_uss):
    """The 200,000-entry set; returns the result file's further rows."""
    ct = "conntrack -L >/dev/null 2>&1"
    pair("1. all entries through List pages", [CDCLIENT, "list"], ct, 1.5)
    later_pages()
    pair("2. all entries through Export (json)", "%s export json >/dev/null" % CDCLIENT, ct, 0.6)
    pair("3. List, exact tuple (tcp dport 8443)",
         [CDCLIENT, "list", "family=s:ipv4", "protocol=s:tcp", "dport=q:8443"],
         "conntrack -L -p tcp --dport 8443 >/dev/null 2>&1", 0.15)
    pair("3. List, protocol and port, no family (tcp dport 8443)",
         [CDCLIENT, "list", "protocol=s:tcp", "dport=q:8443"],
         "conntrack -L -p tcp --dport 8443 >/dev/null 2>&1", 0.2)
    pair("4. List, CIDR (src 10.96.0.0/16) through all pages", [CDCLIENT, "list", "src=s:10.96.0.0/16"],
         "conntrack -L -s 10.96.0.0/16 >/dev/null 2>&1", 1.0)
    pair("5. first 100 sorted by bytes vs full conntrack -L",
         [CDCLIENT, "list", "--sort", "bytes", "--limit", "100", "--max", "100"], ct, 0.55)
    pair("6. DeleteMatching 25% (dst 10.129.0.1)", [CDCLIENT, "delete-matching", "dst=s:10.129.0.1"],
         "conntrack -D -d 10.129.0.1 >/dev/null 2>&1", 0.3, rebuild=True)
    pair("7. Flush", "gdbus call --system --dest %s --object-path %s --method %s.Flush >/dev/null" %
         (sandbox.NAME, sandbox.PATH, sandbox.IFACE), "conntrack -F >/dev/null 2>&1", 1.05, rebuild=True)

    build()
    need = N * 190 / 2**20   # what the returned data needs in the service, at most (records of a page)
    p_list = peak_during(pid, [CDCLIENT, "list"])
    p_export = peak_during(pid, "%s export json >/dev/null" % CDCLIENT)
    p_sorted = peak_during(pid, [CDCLIENT, "list", "--sort", "bytes"])
    print("\n8. service RSS: idle %.1f MiB; peak during List pages (one listing kept) %.1f MiB, Export %.1f MiB, "
          "sorted List pages %.1f MiB" % (idle, p_list, p_export, p_sorted), flush=True)
    # Kept listings go 30 s after their last use: is the memory given back?
    kept_rss, kept_uss = rss(pid, "VmRSS"), uss(pid)
    time.sleep(32)
    back_rss, back_uss = rss(pid, "VmRSS"), uss(pid)
    print("8. service USS idle %.1f MiB; with a 200,000-entry listing kept %.1f MiB (RSS %.1f); 32 s later, "
          "the listing expired: USS %.1f MiB, RSS %.1f MiB" % (idle_uss, kept_uss, kept_rss, back_uss, back_rss),
          flush=True)

    sh("conntrack -F")
    # The watcher runs until the last signal is surely out (SIGTERM below),
    # however long the fill takes on a busy machine.
    w = sandbox.popen([CDWATCH, "--seconds", "120"], stdout=subprocess.PIPE, text=True)
    w.stdout.readline()
    c0, t0 = cpu(pid), time.monotonic()
    for i in range(10):
        s = time.monotonic()
        sh([CTFILL, "20000", "--first", str(i * 20000), "--src", "10.32.0.0", "--timeout", "60"])
        time.sleep(max(0, 1 - (time.monotonic() - s)))
    wall = time.monotonic() - t0
    time.sleep(1.5)
    used = cpu(pid) - c0
    time.sleep(2)
    w.terminate()
    out = w.communicate()[0]
    sig = [l.split() for l in out.splitlines() if l.startswith("changed")]
    new, lost = sum(int(s[2]) for s in sig), sum(1 for s in sig if s[5] == "1")
    cpu_pct = 100 * used / wall
    print("9. event flood, 20,000 new/s for 10 s, one subscriber: %.1f%% of one core; %d of 200000 "
          "counted, %d signals with lost=true" % (cpu_pct, new, lost), flush=True)
    build()
    flood_rows = flood()
    refused_after, held_mib, storm_rss = storm()
    build()
    summarize = ("busctl call %s %s %s Summarize 'a{sv}sa{sv}' 0 %%s 0 >/dev/null" %
                 (sandbox.NAME, sandbox.PATH, sandbox.IFACE))
    pair("12. Summarize by src (7 groups) vs conntrack -L", summarize % "src", ct, 1.0)
    pair("12. Summarize by sport (50,000 groups)", summarize % "sport", ct, 1.0)
    pair("13. connectionsctl list: the whole table as a table", "%s list >/dev/null" % CTL, ct, 1.5)
    pair("13. connectionsctl list --json", "%s list --json >/dev/null" % CTL, ct, 1.5)

    return [
        "| 8. idle RSS | %.1f MiB | | | ≤ 4 MiB | %s |" % (idle, met(idle <= 4)),
        "| 8. idle USS | %.1f MiB | | | ≤ 1.5 MiB | %s |" % (idle_uss, met(idle_uss <= 1.5)),
        "| 8. USS once kept listings expired | %.1f MiB (%.1f MiB while kept) | | | idle level | %s |" %
        (back_uss, kept_uss, met(back_uss <= idle_uss + 1)),
        "| 8. peak RSS during List pages, one 200,000-entry listing kept | %.1f MiB | | | ≤ 64 MiB | %s |" %
        (p_list, met(p_list <= 64)),
        "| 8. peak RSS during Export | %.1f MiB | | | ≤ 24 MiB + data | %s |" % (p_export, met(p_export <= 24 + need)),
        "| 8. peak RSS during sorted List pages | %.1f MiB | | | ≤ 64 MiB | %s |" % (p_sorted, met(p_sorted <= 64)),
        "| 9. CPU at 20,000 new/s, one subscriber | %.1f%% of a core | | | ≤ 15%% | %s |" % (cpu_pct, met(cpu_pct <= 15)),
        "| 9. events counted / lost | %d of 200,000 / %d signals lost=true | | | no undetected loss | %s |" %
        (new, lost, met(new == 200000 or lost)),
    ] + flood_rows + [
        "| 11. export storm by one user | refused after %s exports, %.0f MiB held; RSS %.1f MiB | | | "
        "≤ 512 MiB held | %s |" % (refused_after, held_mib, storm_rss, met(held_mib <= 512)),
    ]


def churn(stop, per_second):
    """A table that keeps changing: per_second new entries each second, each
    gone 10 s later (their timeout)."""
    first = 0
    while not stop.is_set():
        t = time.monotonic()
        sh([CTFILL, str(per_second), "--first", str(first), "--src", "10.200.0.0", "--timeout", "10"])
        first = (first + per_second) % 5000000
        stop.wait(max(0, 1 - (time.monotonic() - t)))


def big_table(pid):
    """The big-table set: what must not wait for, or keep reading, the whole table."""
    ct = "conntrack -L >/dev/null 2>&1"
    pair("B1. unfiltered first page (10,000 entries)", [CDCLIENT, "list", "--max", "1"], ct, 0.02)
    pair("B1. the Cockpit page's first page (100 entries)", [CDCLIENT, "list", "--limit", "100", "--max", "1"], ct, 0.02)
    pair("B1. the count alone (List limit 0)", [CDCLIENT, "list", "--limit", "0"], ct, None)
    pair("B2. Export (json)", "%s export json >/dev/null" % CDCLIENT, ct, 0.6)
    pair("B3. a /24 prefix's first page of 100", [CDCLIENT, "list", "--limit", "100", "--max", "100",
                                                  "src=s:10.64.1.0/24"], "conntrack -L -s 10.64.1.0/24 >/dev/null 2>&1", None)
    p_first = peak_during(pid, [CDCLIENT, "list", "--max", "1"])
    p_export = peak_during(pid, "%s export json >/dev/null" % CDCLIENT)

    share, err = stage.install(sb)
    if share is None:
        sys.exit("bench: meson install gave no Cockpit package: " + err)
    listening, node_env = stage.serve(sb, share, ((None, 9091),))
    if not listening[9091]:
        sys.exit("bench: cockpit-ws did not listen")
    node_env.update(URL=stage.url(9091), SECONDS_OPEN=str(args.live_seconds))
    stop = threading.Event()
    changer = threading.Thread(target=churn, args=(stop, 1000))
    changer.start()
    try:
        page = sandbox.popen(["node", os.path.join(HERE, "live.mjs")], env=node_env, stdout=subprocess.PIPE, text=True)
        if page.stdout.readline().strip() != "live":
            sys.exit("bench: the page did not go live")
        c0, t0 = cpu(pid), time.monotonic()
        result = page.stdout.readline().split()
        used, wall = cpu(pid) - c0, time.monotonic() - t0
        page.wait()
    finally:
        stop.set()
        changer.join()
    pct = 100 * used / wall
    refreshes, wait = int(result[1]), int(result[3])
    print("B4. Cockpit page in live mode for %.0f s, 1,000 new entries/s: service %.1f%% of a core; "
          "%d refreshes, each then %.1f s apart" % (wall, pct, refreshes, wait / 1000), flush=True)
    return [
        "| B4. service CPU, Cockpit page in live mode %.0f s, 1,000 new entries/s | %.1f%% of a core "
        "(%d refreshes, %.1f s apart) | | | ≤ 10%% | %s |" % (wall, pct, refreshes, wait / 1000, met(pct <= 10)),
        "| B5. peak RSS: first page / Export | %.1f / %.1f MiB | | | | |" % (p_first, p_export),
    ] + flood()


sb = sandbox.Sandbox().start()
try:
    pid = sb.service.pid
    time.sleep(0.5)
    idle, idle_uss = rss(pid, "VmRSS"), uss(pid)
    t = time.monotonic()
    build()
    print("table: %d entries (made in %.0f s); %d repetitions, alternating; medians\n" %
          (N, time.monotonic() - t, args.reps), flush=True)
    extra = flood() if args.flood_only else big_table(pid) if BIG else standard(pid, idle, idle_uss)
    with open(args.out, "w") as f:
        f.write("Table of %d entries, %d repetitions alternating, medians (%s, %d cores).\n\n" %
                (N, args.reps, time.strftime("%Y-%m-%d"), os.cpu_count()))
        f.write("| measurement | connectionsd | conntrack-tools | ratio | target | met |\n|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| %s |\n" % " | ".join(r))
        for line in extra:
            f.write(line + "\n")
    print("\nwritten to %s" % args.out)
finally:
    sb.stop()
