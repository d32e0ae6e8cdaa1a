#!/usr/bin/python3
"""The demo: connectionsd in the test sandbox, its table shown live.

Every refresh calls List over the sandbox's system bus (as an admin's
busctl would), prints the page, then opens one more flow from the LAN so
the table changes while you watch."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import tables  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--seconds", type=int, default=20, help="how long to run (0: until Ctrl-C)")
ap.add_argument("--interval", type=float, default=2.0)
args = ap.parse_args()

sandbox.enter_namespaces()
sb = sandbox.Sandbox().start()


def show():
    total, recs = sb.list(opts={"sort": ("s", "protocol"), "limit": ("u", 40)})
    print("\033[2J\033[H" if sys.stdout.isatty() else "", end="")
    print("connectionsd %s on a private system bus; %d connections (Count=%d)   %s" %
          (sb.prop("Version"), total, sb.prop("Count"), time.strftime("%H:%M:%S")))
    print("busctl call %s %s %s List 'a{sv}a{sv}' 0 2 sort s protocol limit u 40\n" %
          (sandbox.NAME, sandbox.PATH, sandbox.IFACE))
    print("%-7s %-12s %-38s %-38s %-34s %s" % ("proto", "state", "source", "destination",
                                              "NAT (reply)", "flags"))
    for r in recs:
        def ep(a, p):
            return ("[%s]:%d" % (a, p) if ":" in a else "%s:%d" % (a, p)) if p else a
        nat = []
        if "DST_NAT" in r["status"]:
            nat.append("dnat " + ep(r["reply_src"], r["reply_sport"]))
        if "SRC_NAT" in r["status"]:
            nat.append("snat " + r["reply_dst"])
        nat = ", ".join(nat)
        flags = ",".join(f for f in r["status"] if f in ("ASSURED", "UNREPLIED"))
        print("%-7s %-12s %-38s %-38s %-34s %s" % (r["protocol"], r["state"] or "-",
                                                  ep(r["src"], r["sport"]), ep(r["dst"], r["dport"]),
                                                  nat, flags))
    sys.stdout.flush()


try:
    tables.mixed(sb)
    deadline = time.time() + args.seconds if args.seconds else None
    n = 0
    while deadline is None or time.time() < deadline:
        show()
        time.sleep(args.interval)
        # One more VoIP-like flow through an uplink, alternating.
        target = tables.ISP1 if n % 2 == 0 else tables.ISP2
        tables.start(sb, ["connect", "%s:5060/udp" % target], ns="lan")
        n += 1
    show()
except KeyboardInterrupt:
    pass
finally:
    sb.stop()
