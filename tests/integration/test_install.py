#!/usr/bin/python3
"""Installation: `meson install` into a DESTDIR puts every file where the
ecosystem expects it; the unit verifies and is hardened; the bus accepts the
policy; the polkit policy validates; the man pages render; the dispatcher is
in place. And --exit-idle makes the service leave when nothing goes on."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
BUILD = os.path.join(sandbox.BUILDDIR, "install-check")
DEST = tempfile.mkdtemp(prefix="cd-destdir-")

EXPECTED = {
    "usr/libexec/connectionsd": "x",
    "lib/systemd/system/connectionsd.service": "f",
    "usr/share/dbus-1/system.d/org.example.Connections.conf": "f",
    "usr/share/dbus-1/system-services/org.example.Connections.service": "f",
    "usr/share/dbus-1/interfaces/org.example.Connections.xml": "f",
    "usr/share/polkit-1/actions/org.example.Connections.policy": "f",
    "usr/share/man/man8/connectionsd.8": "f",
    "usr/share/man/man5/org.example.Connections.5": "f",
    "usr/lib/NetworkManager/dispatcher.d/90-connectionsd": "x",
    "usr/lib/NetworkManager/dispatcher.d/pre-down.d/90-connectionsd": "l",
    "etc/connectionsd/uplinks": "f",
    "usr/share/doc/connectionsd/examples/mwan-offline-hook": "x",
    "usr/bin/connectionsctl": "x",
    "usr/share/man/man1/connectionsctl.1": "f",
    "usr/share/bash-completion/completions/connectionsctl": "f",
}
COCKPIT = "usr/share/cockpit/connections/"
for f in ("manifest.json", "index.html", "connections.js", "connections.css", "theme.js", "po.it.js",
          "patternfly/patternfly.min.css",
          "patternfly/assets/fonts/RedHatDisplay/RedHatDisplayVF.woff2",
          "patternfly/assets/fonts/RedHatDisplay/RedHatDisplayVF-Italic.woff2",
          "patternfly/assets/fonts/RedHatText/RedHatTextVF.woff2",
          "patternfly/assets/fonts/RedHatText/RedHatTextVF-Italic.woff2",
          "patternfly/assets/fonts/RedHatMono/RedHatMonoVF.woff2",
          "patternfly/assets/fonts/RedHatMono/RedHatMonoVF-Italic.woff2",
          "patternfly/assets/fonts/webfonts/fa-solid-900.woff2", "patternfly/assets/pficon/pf-v6-pficon.woff2",
          "patternfly/assets/images/Felt-Bkg-Generic-Dark.svg", "patternfly/assets/images/Felt-Bkg-Generic-Light.svg",
          "patternfly/assets/images/PF-Bkg-Generic-Dark.svg", "patternfly/assets/images/PF-Bkg-Generic-Light.svg"):
    EXPECTED[COCKPIT + f] = "f"


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_files():
    setup = ["meson", "setup", BUILD, "--prefix=/usr", "--sysconfdir=/etc", "-Dman=enabled", "-Dcockpit=enabled"]
    if os.path.isdir(BUILD):
        setup.insert(2, "--reconfigure")
    r = run(setup, cwd=sandbox.SRCDIR)
    tap.ok(r.returncode == 0, "meson setup --prefix=/usr", r.stderr)
    r = run(["meson", "install", "-C", BUILD, "--destdir", DEST])
    tap.ok(r.returncode == 0, "meson install --destdir", r.stdout[-2000:] + r.stderr)
    found = set()
    for root, dirs, files in os.walk(DEST):
        for f in files:
            found.add(os.path.relpath(os.path.join(root, f), DEST))
    tap.eq(sorted(found), sorted(EXPECTED), "exactly the expected files are installed")
    for path, kind in EXPECTED.items():
        p = os.path.join(DEST, path)
        ok = {"x": os.path.isfile(p) and os.access(p, os.X_OK), "f": os.path.isfile(p) and not os.path.islink(p),
              "l": os.path.islink(p)}[kind]
        tap.ok(ok, "%s is %s" % (path, {"x": "an executable", "f": "a file", "l": "a symlink"}[kind]))
    link = os.path.join(DEST, "usr/lib/NetworkManager/dispatcher.d/pre-down.d/90-connectionsd")
    tap.ok(os.path.realpath(link) == os.path.join(DEST, "usr/lib/NetworkManager/dispatcher.d/90-connectionsd"),
           "the pre-down.d link points at the dispatcher script")
    for script in ("usr/lib/NetworkManager/dispatcher.d/90-connectionsd",
                   "usr/share/doc/connectionsd/examples/mwan-offline-hook"):
        text = open(os.path.join(DEST, script)).read()
        tap.ok("CONNECTIONSCTL:-/usr/bin/connectionsctl}" in text and "@connectionsctl@" not in text,
               "%s calls the installed connectionsctl" % os.path.basename(script))
    # The installed page must not fetch anything: every url() of the bundled
    # stylesheet resolves to a bundled file, and no page file names a host.
    import re as _re
    css = open(os.path.join(DEST, COCKPIT, "patternfly/patternfly.min.css")).read()
    missing = [u for u in set(_re.findall(r'url\(["\']?([^"\')]+)', css))
               if not u.startswith("data:") and not os.path.exists(os.path.join(DEST, COCKPIT, "patternfly", u))]
    tap.eq(missing, [], "every url() of the bundled PatternFly stylesheet is a bundled file")
    remote = [f for f in ("index.html", "connections.js", "connections.css", "theme.js", "po.it.js")
              if _re.search(r"https?://", open(os.path.join(DEST, COCKPIT, f)).read())]
    tap.eq(remote, [], "the page's own files load nothing from a host")


def test_unit():
    unit = os.path.join(DEST, "lib/systemd/system/connectionsd.service")
    text = open(unit).read()
    for line in ("Type=dbus", "BusName=org.example.Connections", "ExecStart=/usr/libexec/connectionsd",
                 "CapabilityBoundingSet=CAP_NET_ADMIN", "RestrictAddressFamilies=AF_UNIX AF_NETLINK",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
                 "MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service", "RuntimeDirectory=connectionsd",
                 "LogRateLimitIntervalSec=0", "MemoryMax=2G", "TasksMax=128"):
        tap.ok(line in text.splitlines(), "the unit has %s" % line)
    tap.ok("PrivateNetwork=yes" not in text, "the unit keeps the host's network namespace")
    r = run(["systemd-analyze", "verify", "--man=no", "--recursive-errors=no", "--root=" + DEST, unit])
    tap.ok(r.returncode == 0 and not r.stderr.strip(), "systemd-analyze verify is clean", r.stderr)
    r = run(["systemd-analyze", "security", "--offline=true", "--root=" + DEST, "connectionsd.service"])
    m = re.search(r"Overall exposure level for connectionsd.service: ([\d.]+)", r.stdout)
    score = float(m.group(1)) if m else 99
    tap.ok(score <= 2.0, "systemd-analyze security: exposure %.1f (at most 2.0)" % score, r.stdout[-1500:])
    act = open(os.path.join(DEST, "usr/share/dbus-1/system-services/org.example.Connections.service")).read()
    tap.ok("Exec=/bin/false" in act and "SystemdService=connectionsd.service" in act.splitlines(),
           "D-Bus activation goes through the unit only, by its real name")
    tap.ok("Alias=" not in text, "activation needs no alias that only enabling would create")


def test_policies():
    conf = os.path.join(DEST, "usr/share/dbus-1/system.d/org.example.Connections.conf")
    with tempfile.TemporaryDirectory() as d:
        bus_conf = os.path.join(d, "bus.conf")
        with open(bus_conf, "w") as f:
            f.write('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" '
                    '"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd"><busconfig><type>system</type>'
                    '<listen>unix:path=%s/s</listen><auth>EXTERNAL</auth><include>%s</include></busconfig>' % (d, conf))
        p = sandbox.popen(["dbus-daemon", "--config-file=" + bus_conf, "--nofork", "--nopidfile", "--print-address=1"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        p.terminate()
        err = p.communicate()[1]
        # (An unprivileged fd limit warning is not about the policy.)
        bad = [l for l in err.splitlines() if "fd limit" not in l]
        tap.ok(line.startswith("unix:path=") and not bad, "dbus-daemon accepts the installed bus policy", err)
    policy = os.path.join(DEST, "usr/share/polkit-1/actions/org.example.Connections.policy")
    r = run(["xmllint", "--noout", "--dtdvalid", "/usr/share/polkit-1/policyconfig-1.dtd", policy])
    tap.ok(r.returncode == 0, "the polkit policy validates against polkit's DTD", r.stderr)
    actions = re.findall(r'<action id="([^"]+)"', open(policy).read())
    tap.eq(actions, ["org.example.connections.list", "org.example.connections.delete",
                     "org.example.connections.delete-matching", "org.example.connections.flush"],
           "the policy has the four actions")
    r = run(["xmllint", "--noout", os.path.join(DEST, "usr/share/dbus-1/interfaces/org.example.Connections.xml")])
    tap.ok(r.returncode == 0, "the introspection file is well-formed XML", r.stderr)


def test_man_pages():
    for page, words in (("usr/share/man/man8/connectionsd.8", ["connectionsd", "--exit-idle", "SEE ALSO"]),
                        ("usr/share/man/man5/org.example.Connections.5", ["DeleteMatching", "nat-address",
                                                                           "AUTHORIZATION"])):
        r = run(["man", "-l", os.path.join(DEST, page)], env=dict(os.environ, MANPAGER="cat", MANWIDTH="80"))
        tap.ok(r.returncode == 0 and all(w in r.stdout for w in words) and not r.stderr.strip(),
               "man -l %s renders" % os.path.basename(page), r.stderr)


TOOLS = os.path.join(sandbox.BUILDDIR, "tests", "tools")
CDCLIENT = os.environ.get("CD_CDCLIENT") or os.path.join(TOOLS, "cdclient")
CTFILL = os.environ.get("CD_CTFILL") or os.path.join(TOOLS, "ctfill")


def version_ok(sb):
    r = sb.busctl("get-property", sandbox.NAME, sandbox.PATH, sandbox.IFACE, "Version", check=False)
    return r.returncode == 0


def test_exit_idle(sb):
    sb.service_args = ["--exit-idle=3"]
    sb.start_service()
    pid = sb.service.pid
    answered, end = 0, time.monotonic() + 8
    while time.monotonic() < end:
        answered += version_ok(sb)
        time.sleep(0.5)
    tap.ok(sb.service.poll() is None and sb.service.pid == pid and answered >= 8,
           "--exit-idle=3: called every 0.5 s for 8 s, the same process serves (%d calls)" % answered)
    t0 = time.monotonic()
    sb.service.wait(60)
    took = time.monotonic() - t0
    tap.ok(sb.service.returncode == 0 and took > 2, "then, left alone, it exits with 0 after %.1f s" % took)
    sb.wait_name(sandbox.NAME, present=False)
    tap.ok(True, "and gave its name back")
    sb.start_service()
    w = sandbox.popen([os.path.join(TOOLS, "cdwatch")], stdout=subprocess.PIPE, text=True)
    w.stdout.readline()
    time.sleep(7)   # two idle periods
    tap.ok(sb.service.poll() is None, "a subscriber keeps it running")
    w.terminate()
    w.wait(10)
    sb.service.wait(60)
    tap.eq(sb.service.returncode, 0, "once the subscriber left, it exits")


def stopped_with_queued(sb, flood_args):
    """Freezes the service, has cdclient queue calls for it until the bus has
    passed them all on, then sends SIGTERM and lets it run: returns what the
    client got and the service's exit status."""
    os.kill(sb.service.pid, 19)   # SIGSTOP
    p = sandbox.popen([CDCLIENT, "flood"] + flood_args + ["--routed"], stdout=subprocess.PIPE, text=True)
    routed = p.stdout.readline().strip()
    sb.service.terminate()
    os.kill(sb.service.pid, 18)   # SIGCONT
    # Not communicate(): it reads the pipe itself and would lose what readline() buffered.
    out = routed + "; " + p.stdout.read().replace("\n", "; ")
    p.wait(60)
    sb.service.wait(60)
    return out, sb.service.returncode


def test_exit_answers_queued(sb):
    sb.service_args = []
    sb.start_service()
    out, rc = stopped_with_queued(sb, ["45", "--statistics"])
    tap.ok("routed 45" in out and "ok 45;" in out,
           "45 calls queued when SIGTERM came are all answered before it exits", out)
    tap.eq(rc, 0, "and it exits with 0")

    sb.start_service()
    sandbox.run([CTFILL, "100000", "--src", "10.90.0.0"])
    sandbox.run([CTFILL, "1000", "--src", "10.91.0.0"])
    out, rc = stopped_with_queued(sb, ["1", "--delete-matching", "src=s:10.90.0.0/16"])
    left = int(sandbox.run("conntrack -C").stdout)
    tap.ok("ok 1;" in out and left == 1000,
           "SIGTERM as a DeleteMatching of 100,000 starts: it finishes and is answered (%d left)" % left, out)
    log = open(sb.service_log).read()
    tap.ok(re.search(r"AUDIT .*method=DeleteMatching .*result=ok count=100000", log),
           "and is audited", log[-2000:])
    tap.eq(rc, 0, "then the service exits with 0")

    sb.start_service()
    out, rc = stopped_with_queued(sb, ["1", "--flush"])
    left = int(sandbox.run("conntrack -C").stdout)
    log = open(sb.service_log).read()
    tap.ok("ok 1;" in out and left == 0 and re.search(r"AUDIT .*method=Flush .*result=ok count=1000", log),
           "SIGTERM as a Flush starts: it finishes, is answered and audited", out)
    tap.eq(rc, 0, "then the service exits with 0")


def test_service_lifecycle():
    sb = sandbox.Sandbox().start(polkit=False)
    sb.stop_service()
    try:
        test_exit_idle(sb)
        test_exit_answers_queued(sb)
    finally:
        sb.stop()


try:
    tap.run(test_files)
    tap.run(test_unit)
    tap.run(test_policies)
    tap.run(test_man_pages)
    tap.run(test_service_lifecycle)
finally:
    subprocess.run(["rm", "-rf", DEST])
sys.exit(tap.done())
