#!/usr/bin/python3
"""The installed product under a real systemd (container.py): D-Bus
activation right after install, the unit's sandbox, polkit with real rules,
the journal's audit records, connectionsctl with polkit's text agent in a
login session, the address history across a restart, the NetworkManager
dispatcher script and the mwan hook, and idle exit."""
import json
import os
import re
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import sandbox  # noqa: E402
from container import Container  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
BUS = "org.example.Connections /org/example/Connections org.example.Connections"
AUDIT_ID = "7d1f6ad2c4b84f5e9a0e3c5d2b7f1e40"
RULES = """// connectionsd's system tests: cdsysallow may do everything, others get the defaults.
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.example.connections.") == 0 && subject.user == "cdsysallow")
        return polkit.Result.YES;
});
"""
RULESET = """
table inet cdsys {
    chain input { type filter hook input priority 0; ct state invalid drop; }
    chain output { type filter hook output priority 0; ct state invalid drop; }
}
"""
c = Container(sandbox.BUILDDIR)


def call(method, sig="", *args, user=None):
    """busctl call inside the container; returns the CompletedProcess."""
    argv = " ".join("'%s'" % a for a in ([sig] if sig else []) + [str(a) for a in args])
    return c.sh("busctl --allow-interactive-authorization=no --timeout=60 call %s %s %s" % (BUS, method, argv),
                user=user)


def count():
    r = call("List", "a{sv}a{sv}", 0, 1, "limit", "u", 0)
    m = re.match(r"ua\S+ (\d+) 0", r.stdout)
    return int(m.group(1)) if m else -1


def prop(unit, name):
    return c.sh("systemctl show -P %s %s" % (name, unit)).stdout.strip()


def insert(args):
    r = c.sh("conntrack -I %s -t 600" % args)
    if r.returncode != 0:
        raise RuntimeError("conntrack -I %s: %s" % (args, r.stderr))


def ct_count(args=""):
    r = c.sh("conntrack -L %s 2>/dev/null | wc -l" % args)
    return int(r.stdout.strip() or 0)


def test_activation():
    tap.eq(prop("connectionsd.service", "ActiveState"), "inactive", "installed, nothing enabled: not running")
    c.sh("nft -f -", input=RULESET)
    for i in range(5):
        insert("-p tcp -s 192.0.2.%d -d 198.51.100.1 --sport 1000 --dport 443 --state ESTABLISHED" % (10 + i))
    n = count()
    tap.eq(n, 5, "the first call (List) activates the service and answers: the container's 5 entries")
    tap.eq(prop("connectionsd.service", "ActiveState"), "active", "the unit is active")
    pid = prop("connectionsd.service", "MainPID")
    caps = c.sh("grep CapEff /proc/%s/status" % pid).stdout.split()
    tap.ok(pid != "0" and caps[-1:] == ["0000000000001000"], "it runs with CAP_NET_ADMIN alone (%s)" % caps)
    r = c.sh("systemd-analyze security connectionsd.service --no-pager")
    m = re.search(r"Overall exposure level for connectionsd.service: ([\d.]+)", r.stdout)
    tap.ok(m and float(m.group(1)) <= 2.0, "systemd-analyze security of the running unit: exposure %s"
           % (m.group(1) if m else "?"), r.stdout[-1500:] + r.stderr)


def test_polkit():
    for u in ("cdsysallow", "cdsysnobody"):
        c.sh("useradd -M -s /usr/sbin/nologin %s" % u)
    c.write("/etc/polkit-1/rules.d/50-cdsys.rules", RULES)
    r = call("List", "a{sv}a{sv}", 0, 1, "limit", "u", 0, user="cdsysallow")
    tap.ok(r.returncode == 0 and r.stdout.startswith("ua"), "an unprivileged user a rule allows lists", r.stderr)
    r = call("List", "a{sv}a{sv}", 0, 1, "limit", "u", 0, user="cdsysnobody")
    tap.ok(r.returncode != 0 and "Interactive authentication" in r.stderr,
           "a user without a rule, outside any session, is asked to authenticate", r.stderr)
    r = call("DeleteMatching", "a{sv}", 1, "src", "s", "192.0.2.10", user="cdsysnobody")
    tap.ok(r.returncode != 0 and count() == 5, "and cannot delete", r.stderr)
    r = call("DeleteMatching", "a{sv}", 1, "src", "s", "192.0.2.10", user="cdsysallow")
    tap.ok(r.returncode == 0 and r.stdout.strip() == "u 1" and count() == 4, "the allowed user can", r.stderr)
    # polkit's text agent, as connectionsctl runs it on a terminal of a login
    # session (su -l: pam_systemd makes one): the password asked for is root's.
    c.sh("useradd -m -s /bin/sh cdsysagent && echo 'root:cd-system-test' | chpasswd")
    for password, want_rc, what in (("wrong", 1, "a wrong password: refused"),
                                    ("cd-system-test", 0, "root's password: the listing")):
        rc, out = sandbox.on_pty(["nsenter", "-t", str(c.leader), "-a", "su", "-l", "cdsysagent", "-c",
                                  "script -qfec 'connectionsctl --no-legend list; echo rc=$?' /dev/null"],
                                 "Password:", password + "\n", timeout=60, resend_after=3)
        tap.ok("AUTHENTICATING FOR org.example.connections.list" in out and ("rc=%d" % want_rc) in out
               and (want_rc == 1 or "192.0.2." in out),
               "connectionsctl on a terminal asks for a password through pkttyagent; %s" % what, out[-800:])
    # The installed client, as the same users.
    r = c.sh("connectionsctl list --json", user="cdsysallow")
    tap.ok(r.returncode == 0 and len(r.stdout.splitlines()) == 4 and '"src":"192.0.2.' in r.stdout,
           "/usr/bin/connectionsctl lists the table for the allowed user", r.stderr)
    r = c.sh("connectionsctl --no-ask-password list", user="cdsysnobody")
    tap.ok(r.returncode == 1 and "authorization needed" in r.stderr, "and tells a user without a rule why not",
           r.stderr)


def test_journal():
    # As `sudo busctl` from the session of login uid 1000 would.
    r = c.sh("echo 1000 > /proc/self/loginuid && exec busctl call %s DeleteMatching 'a{sv}' 1 src s 192.0.2.11" % BUS)
    tap.ok(r.returncode == 0 and r.stdout.strip() == "u 1", "DeleteMatching as root from login uid 1000", r.stderr)
    recs = []
    for _ in range(600):   # journald may take a moment to have it (bounded: 60 s)
        out = c.sh("journalctl --no-pager -o json MESSAGE_ID=%s" % AUDIT_ID).stdout
        recs = [json.loads(l) for l in out.splitlines() if l.strip()]
        recs = [x for x in recs if x.get("CONNECTIONSD_FILTER") == "src=192.0.2.11"]
        if recs:
            break
        time.sleep(0.1)
    rec = recs[-1] if recs else {}
    tap.ok(rec.get("CONNECTIONSD_METHOD") == "DeleteMatching" and rec.get("CONNECTIONSD_CALLER_UID") == "0"
           and rec.get("CONNECTIONSD_CALLER_LOGIN_UID") == "1000" and rec.get("CONNECTIONSD_RESULT") == "ok"
           and rec.get("CONNECTIONSD_COUNT") == "1" and rec.get("_SYSTEMD_UNIT") == "connectionsd.service",
           "journalctl shows the structured audit record, with the login uid 1000",
           {k: v for k, v in rec.items() if k.startswith("CONNECTIONSD_") or k == "_SYSTEMD_UNIT"})


def test_history_and_dispatcher():
    c.sh("ip link add cdup0 type veth peer name cdup1 && ip link set cdup0 up && ip link set cdup1 up")
    c.sh("ip addr add 198.51.100.2/24 dev cdup0")
    insert("-p tcp -s 10.0.0.5 -d 198.51.100.1 -r 198.51.100.1 -q 198.51.100.2 --sport 4000 --dport 5060 "
           "--reply-port-src 5060 --reply-port-dst 4000 --state ESTABLISHED")
    insert("-p udp -s 10.0.0.6 -d 198.51.100.1 -r 198.51.100.1 -q 198.51.100.2 --sport 4001 --dport 5060 "
           "--reply-port-src 5060 --reply-port-dst 4001")
    insert("-p tcp -s 10.0.0.7 -d 203.0.113.1 --sport 4002 --dport 443 --state ESTABLISHED --mark 0x100")
    insert("-p tcp -s 10.0.0.8 -d 203.0.113.1 --sport 4003 --dport 443 --state ESTABLISHED --mark 0x200")
    r = call("List", "a{sv}a{sv}", 1, "interface", "s", "cdup0", 1, "limit", "u", 0)
    tap.ok(r.stdout.startswith("ua") and " 2 0" in r.stdout, "two flows are bound to cdup0's address", r.stdout + r.stderr)
    c.sh("ip addr del 198.51.100.2/24 dev cdup0")
    old = prop("connectionsd.service", "MainPID")
    c.sh("systemctl restart connectionsd.service")
    new = prop("connectionsd.service", "MainPID")
    r = call("List", "a{sv}a{sv}", 1, "stale", "b", "true", 1, "limit", "u", 0)
    tap.ok(old != new and r.stdout.strip() == "ua(tsssasssqqssqquuqttttta{sv}) 2 0",
           "after a restart the service still knows the address cdup0 lost: its 2 flows are stale",
           r.stdout + r.stderr)
    c.write("/etc/connectionsd/uplinks", "# the uplinks of this router\ncdup0\n")
    env = {"DEVICE_IFACE": "cdup0", "DEVICE_IP_IFACE": "cdup0", "CONNECTION_ID": "uplink-1",
           "CONNECTION_UUID": "5b6e2c1e-0000-4000-8000-000000000001", "NM_DISPATCHER_ACTION": "down"}
    before = ct_count()
    r = c.sh("/usr/lib/NetworkManager/dispatcher.d/90-connectionsd cdup0 down", env=env)
    tap.ok(r.returncode == 0 and "deleted 2 connections" in r.stderr and ct_count() == before - 2
           and ct_count("-q 198.51.100.2") == 0,
           "the dispatcher script, run as NetworkManager runs it for an uplink going down, deletes its 2 flows",
           r.stderr)
    r = c.sh("/usr/share/doc/connectionsd/examples/mwan-offline-hook mark 0x100 0xff00")
    tap.ok(r.returncode == 0 and ct_count("--mark 0x100") == 0 and ct_count("--mark 0x200") == 1
           and ct_count() == before - 3, "the mwan hook deletes the marked uplink's flow and nothing else",
           r.stdout + r.stderr)


def test_idle_exit():
    c.write("/etc/systemd/system/connectionsd.service.d/50-idle.conf",
            "[Service]\nExecStart=\nExecStart=/usr/libexec/connectionsd --exit-idle=4\n")
    c.sh("systemctl daemon-reload && systemctl restart connectionsd.service")
    pid = prop("connectionsd.service", "MainPID")
    same = True
    for _ in range(8):
        r = c.sh("busctl get-property %s Version" % BUS)
        same = same and r.returncode == 0 and prop("connectionsd.service", "MainPID") == pid
        time.sleep(1)
    tap.ok(pid != "0" and same, "--exit-idle=4: called every second for 8 s, MainPID stays %s" % pid)
    deadline = time.monotonic() + 60
    while prop("connectionsd.service", "ActiveState") != "inactive" and time.monotonic() < deadline:
        time.sleep(0.2)
    tap.ok(prop("connectionsd.service", "ActiveState") == "inactive" and prop("connectionsd.service", "Result") == "success",
           "left alone, it exits, and the unit's result is success")
    # 45 calls fired around the moment it leaves: each is answered, by it or by the next instance.
    failures = []
    for delay in (3.7, 3.9, 4.0, 4.1, 4.3):
        call("GetStatistics")
        r = c.sh("sleep %s; for i in $(seq 45); do (busctl --timeout=60 call %s GetStatistics >/dev/null 2>&1 "
                 "&& echo answered || echo failed) & done; wait" % (delay, BUS), timeout=180)
        failures.append(45 - r.stdout.count("answered"))
    tap.eq(failures, [0] * 5, "45 calls fired as it leaves (5 times, 3.7-4.3 s after the last call) are all answered")
    # Root's counts fired as it leaves: a count reads no table and takes no
    # work slot, and root is never refused for its own concurrency.
    failures = []
    for delay in (3.8, 4.0, 4.2):
        call("GetStatistics")
        r = c.sh("sleep %s; for i in $(seq 15); do (busctl --timeout=60 call %s List 'a{sv}a{sv}' 0 1 limit u 0 "
                 "2>&1 && echo answered) & done; wait" % (delay, BUS), timeout=180)
        # An answer: the count, no records ("ua(...) N 0"); anything else is what busctl said.
        failures += [l for l in r.stdout.splitlines()
                     if l.strip() and l != "answered" and not re.match(r"ua\(\S+\) \d+ 0$", l)]
        failures += ["%d answered" % r.stdout.count("answered")] if r.stdout.count("answered") != 15 else []
    tap.eq(failures, [], "15 root counts (List limit 0) at once, fired as it leaves (3 times), are all answered")
    c.sh("rm /etc/systemd/system/connectionsd.service.d/50-idle.conf && systemctl daemon-reload")


def test_cockpit():
    """Cockpit for real: cockpit.socket, a password login, limited and
    administrative access (sudo), list, delete, flush; the audit record
    names the user."""
    c.sh("useradd -m -s /bin/bash -G sudo cdadmin && echo cdadmin:cd-Pass-2026 | chpasswd")
    uid = c.sh("id -u cdadmin").stdout.strip()
    r = c.sh("systemctl start cockpit.socket")
    tap.ok(r.returncode == 0, "cockpit.socket starts in the container", r.stderr)
    for i in range(3):
        insert("-p udp -s 192.0.2.%d -d 198.51.100.9 --sport 2000 --dport 53" % (100 + i))
    node = shutil.which("node") or "node"
    shot = "/var/tmp/cockpit-login.png"
    r = c.sh("cd %s && %s cockpit-login.test.mjs" % (os.path.join(sandbox.SRCDIR, "tests", "browser"), node),
             env={"URL": "http://127.0.0.1:9090", "LOGIN": "cdadmin", "PASSWORD": "cd-Pass-2026",
                  "SCREENSHOT": shot, "HOME": "/var/tmp"}, timeout=600)
    for line in r.stdout.splitlines():
        if line.startswith("ok ") or line.startswith("not ok "):
            tap.ok(line.startswith("ok "), "cockpit: " + line.split(" - ", 1)[-1])
        elif line.startswith("#"):
            print(line)
    tap.ok(r.returncode == 0, "the Cockpit login script finished", r.stderr[-3000:])
    for name in ("cockpit-login.png", "cockpit-login-limited.png", "cockpit-login-dark.png"):
        try:
            shutil.copy(c.root + os.path.join(os.path.dirname(shot), name), os.path.join(sandbox.BUILDDIR, "test-logs", name))
        except OSError:
            pass
    out = c.sh("journalctl --no-pager -o json MESSAGE_ID=%s CONNECTIONSD_METHOD=Flush" % AUDIT_ID).stdout
    recs = [json.loads(l) for l in out.splitlines() if l.strip()]
    tap.ok(any(x.get("CONNECTIONSD_CALLER_UID") == "0" and x.get("CONNECTIONSD_CALLER_LOGIN_UID") == uid
               and x.get("CONNECTIONSD_RESULT") == "ok" for x in recs),
           "the audit record of the Flush names the Cockpit user (login uid %s) behind root" % uid,
           [{k: v for k, v in x.items() if k.startswith("CONNECTIONSD_")} for x in recs][-2:])


try:
    state = c.start()
    tap.ok(c.install_log[:2] == (0, 0), "meson install --destdir into the container's upper layer", c.install_log[2])
    tap.ok(state in ("running", "degraded"), "a real systemd boots in the container: %s" % state,
           c.sh("systemctl --failed --no-pager").stdout)
    tap.run(test_activation)
    tap.run(test_polkit)
    tap.run(test_journal)
    tap.run(test_history_and_dispatcher)
    tap.run(test_idle_exit)
    tap.run(test_cockpit)
finally:
    c.stop()
sys.exit(tap.done())
