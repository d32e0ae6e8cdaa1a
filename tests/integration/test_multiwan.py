#!/usr/bin/python3
"""MultiWAN failover cleans up by itself: the 'interface' and 'stale' keys,
the address history across a service restart, and the NetworkManager
dispatcher script run with the environment NetworkManager gives it.

Router (this namespace): LAN behind wan1 (SNAT to 198.51.100.2) and wan2
(SNAT to 203.0.113.2). Uplink 1 is renumbered to 198.51.100.3, then goes down."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import tables  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
# As meson configured it; it finds connectionsctl through $CONNECTIONSCTL here.
DISPATCHER = os.path.join(sandbox.BUILDDIR, "data", "connectionsd-dispatcher")
os.environ["CONNECTIONSCTL"] = os.environ.get("CD_CTL") or os.path.join(sandbox.BUILDDIR, "src", "ctl", "connectionsctl")
sb = sandbox.Sandbox().start(polkit=False)
NEW1 = "198.51.100.3"


def flows():
    return sb.conntrack()


def via(addr):
    return {e["id"] for e in flows() if e["reply_dst"] == addr}


def local_ids():
    return {e["id"] for e in flows() if e["src"] in ("127.0.0.1", "::1")}


def dispatch(iface, action):
    conf = os.path.join(sb.tmp, "uplinks")
    with open(conf, "w") as f:
        f.write("# the uplinks of this router\nwan1\n# wan2 is left to the admin\n")
    env = dict(os.environ, CONNECTIONSD_UPLINKS=conf, DEVICE_IFACE=iface, DEVICE_IP_IFACE=iface,
               CONNECTION_ID="uplink-" + iface, CONNECTION_UUID="5b6e2c1e-0000-4000-8000-00000000000%d" % len(iface),
               NM_DISPATCHER_ACTION=action, PATH=os.environ["PATH"])
    r = sandbox.run([DISPATCHER, iface, action], check=False, env=env)
    return r.returncode, r.stderr.strip()


def lan_flows(*targets):
    tables.start(sb, ["connect"] + list(targets), ns="lan")


def test_interface_filter():
    total, recs = sb.list_all({"interface": ("s", "wan1")})
    want = sorted(e["id"] for e in flows() if tables.WAN1 in (e["src"], e["dst"], e["reply_src"], e["reply_dst"]))
    tap.ok(total > 0 and sorted(r["id"] for r in recs) == want,
           "List interface=wan1 is every entry bound to wan1's address (%d)" % total)
    total, _ = sb.list({"stale": ("b", True)})
    tap.eq(total, 0, "nothing is stale before any address changed")


def test_renumber():
    old = via(tables.WAN1)
    up2 = via(tables.WAN2)
    local = local_ids()
    tap.ok(old and up2 and local, "flows through uplink 1 (%d), uplink 2 (%d) and local ones (%d)" %
           (len(old), len(up2), len(local)))
    # Renumber uplink 1 as a new DHCP lease does, and NAT to the new address.
    sandbox.run(["ip", "addr", "del", tables.WAN1 + "/24", "dev", "wan1"])
    sandbox.run(["ip", "addr", "add", NEW1 + "/24", "dev", "wan1"])
    sandbox.run("nft flush chain ip cdnat post && nft add rule ip cdnat post oifname wan1 snat to %s && "
                "nft add rule ip cdnat post oifname wan2 snat to %s" % (NEW1, tables.WAN2))
    lan_flows(tables.ISP1 + ":80/tcp", tables.ISP1 + ":5060/udp")
    new = via(NEW1)
    tap.ok(len(new) >= 2, "new flows use the new address (%d)" % len(new))

    # The service restarts before the dispatcher runs: it must still know .2 was wan1's.
    sb.stop_service()
    sb.start_service()
    total, recs = sb.list_all({"stale": ("b", True)})
    tap.eq(sorted(r["id"] for r in recs), sorted(old), "after a restart, entries on the old address are stale")

    rc, log = dispatch("wan1", "dhcp4-change")
    tap.eq(rc, 0, "dispatcher dhcp4-change exits 0")
    tap.ok("deleted %d connections" % len(old) in log, "it logs what it deleted: %s" % log)
    after = {e["id"] for e in flows()}
    tap.ok(not (old & after), "every flow on uplink 1's old address is gone")
    tap.ok(new <= after, "flows on uplink 1's new address stay")
    tap.ok(up2 <= after, "flows through uplink 2 stay")
    tap.ok(local <= after, "local flows stay")

    rc, log = dispatch("wan1", "dhcp4-change")
    tap.ok(rc == 0 and "deleted 0 connections" in log, "running it again deletes nothing: %s" % log)
    return new, up2, local


def test_down(new, up2, local):
    rc, log = dispatch("wan2", "down")
    tap.ok(rc == 0 and log == "" and up2 <= {e["id"] for e in flows()},
           "an interface not listed as an uplink is left alone")
    sandbox.run(["ip", "link", "set", "wan1", "down"])
    rc, log = dispatch("wan1", "down")
    after = {e["id"] for e in flows()}
    tap.ok(rc == 0 and "deleted" in log, "dispatcher down exits 0 and logs: %s" % log)
    tap.ok(not (new & after), "down removes every flow bound to uplink 1")
    tap.ok(up2 <= after and local <= after, "uplink 2 and local flows stay")
    rc, log = dispatch("wan1", "pre-down")
    tap.ok(rc == 0 and "deleted 0 connections" in log, "pre-down afterwards deletes nothing: %s" % log)


def test_service_absent():
    sb.stop_service()
    rc, log = dispatch("wan1", "down")
    tap.ok(rc == 0 and "could not delete" in log, "with the service gone the script still exits 0: %s" % log)
    sb.start_service()


def restart_with_state(state_dir):
    sb.stop_service()
    sb.service_args = ["--state-dir=" + state_dir]
    sb.start_service()


def test_state_file():
    """The address history's file: written from the loop, never through a
    link planted at its temporary name, and a write that fails (a full file
    system) leaves nothing behind."""
    d = os.path.join(sb.tmp, "state-safe")
    os.makedirs(d)
    restart_with_state(d)
    victim = os.path.join(sb.tmp, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    os.symlink(victim, os.path.join(d, "addresses.tmp"))
    sandbox.run(["ip", "addr", "add", "192.0.2.251/32", "dev", "lo"])
    sandbox.run(["ip", "addr", "del", "192.0.2.251/32", "dev", "lo"])
    path = os.path.join(d, "addresses")
    tap.ok(wait_for(lambda: "192.0.2.251" in open(path).read()), "an address change is saved")
    tap.eq(open(victim).read(), "precious\n", "a link planted at the temporary name is not followed")
    # The add and the delete are two saves: the second may still be writing
    # its temporary file when the first has put the address in place.
    tap.ok(wait_for(lambda: not os.path.islink(path) and not os.path.lexists(path + ".tmp")),
           "the state file is a plain file, and no temporary file is left")

    tiny = os.path.join(sb.tmp, "state-tiny")
    os.makedirs(tiny)
    sandbox.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", tiny])
    restart_with_state(tiny)
    sandbox.run(["ip", "link", "add", "cdfill0", "type", "veth", "peer", "name", "cdfill1"])
    batch = "".join("addr add 198.18.%d.%d/32 dev cdfill0\n" % (i // 250, i % 250 + 1) for i in range(300))
    subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True)
    log = lambda: open(sb.service_log).read()  # noqa: E731
    tap.ok(wait_for(lambda: "Cannot write %s/addresses" % tiny in log()), "a full file system: the write fails")
    total, _ = sb.list({"interface": ("s", "cdfill0")}, {"limit": ("u", 0)})
    tap.ok(sb.service.poll() is None and not os.path.lexists(os.path.join(tiny, "addresses.tmp")),
           "the service goes on, and leaves no temporary file behind")
    sandbox.run(["ip", "link", "del", "cdfill0"])
    restart_with_state(os.path.join(sb.tmp, "state"))


def listed_ids(flt):
    return {r["id"] for r in sb.list_all(flt)[1]}


def test_address_history():
    """A floating address belongs to whoever holds it now; the history of
    lost addresses is bounded in age and count."""
    sandbox.run("conntrack -I -p tcp -s 192.0.2.77 -d 192.0.2.1 --sport 7 --dport 7 --state ESTABLISHED -t 600")
    moved = {e["id"] for e in sb.conntrack("-s", "192.0.2.77")}
    sandbox.run(["ip", "addr", "add", "192.0.2.77/32", "dev", "wan1"])
    sandbox.run(["ip", "addr", "del", "192.0.2.77/32", "dev", "wan1"])
    sandbox.run(["ip", "addr", "add", "192.0.2.77/32", "dev", "wan2"])
    tap.ok(moved and not moved & listed_ids({"interface": ("s", "wan1")}),
           "an address that moved from wan1 to wan2: 'interface wan1' no longer matches its flows")
    tap.ok(moved <= listed_ids({"interface": ("s", "wan2")}), "'interface wan2' does")
    tap.ok(not moved & listed_ids({"stale": ("b", True)}), "and they are not stale")
    sandbox.run(["ip", "addr", "del", "192.0.2.77/32", "dev", "wan2"])
    sandbox.run("conntrack -D -s 192.0.2.77 >/dev/null")

    d = os.path.join(sb.tmp, "state-bounded")
    os.makedirs(d)
    sb.stop_service()
    sb.service_args = ["--state-dir=" + d, "--address-max-age=20", "--address-history-max=3"]
    sb.start_service()
    for i in range(80, 86):
        sandbox.run(["ip", "addr", "add", "192.0.2.%d/32" % i, "dev", "lo"])
        sandbox.run(["ip", "addr", "del", "192.0.2.%d/32" % i, "dev", "lo"])
    sandbox.run("conntrack -I -p tcp -s 192.0.2.85 -d 192.0.2.1 --sport 8 --dport 8 --state ESTABLISHED -t 600")
    last = {e["id"] for e in sb.conntrack("-s", "192.0.2.85")}
    tap.ok(last and last <= listed_ids({"stale": ("b", True)}), "a lost address is stale at first")
    path = os.path.join(d, "addresses")
    kept = lambda: sorted(l.split()[2] for l in open(path) if "192.0.2.8" in l)  # noqa: E731
    tap.ok(wait_for(lambda: kept() == ["192.0.2.83", "192.0.2.84", "192.0.2.85"]),
           "with --address-history-max=3, the three lost last are kept of six", kept())
    tap.ok(wait_for(lambda: not last & listed_ids({"stale": ("b", True)}), timeout=90),
           "with --address-max-age=20, it is forgotten once that old")
    tap.ok(wait_for(lambda: kept() == [], timeout=90), "and gone from the state file", kept())
    sandbox.run("conntrack -D -s 192.0.2.85 >/dev/null")
    sb.stop_service()
    sb.service_args = []
    sb.start_service()


def wait_for(cond, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


try:
    tables.multiwan(sb)
    tables.local(sb)
    tap.run(test_interface_filter)
    new, up2, local = test_renumber()
    tap.run(test_down, new, up2, local)
    tap.run(test_service_absent)
    tap.run(test_state_file)
    tap.run(test_address_history)
finally:
    sb.finish(tap)
sys.exit(tap.done())
