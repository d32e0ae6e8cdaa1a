#!/usr/bin/python3
"""The Cockpit page in a real browser: Debian's chromium, driven by
playwright-core, through cockpit-ws --local-session on loopback, against the
real service on the sandbox's private bus with real traffic. The checks are
in connections.test.mjs (TAP); this sets the stage."""
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import sandbox  # noqa: E402
import tables  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


sb = sandbox.Sandbox().start()
try:
    sandbox.enable_accounting()   # byte figures for Top talkers
    tables.mixed(sb)
    dest = tempfile.mkdtemp(prefix="cd-cockpit-", dir=sb.tmp)
    os.chmod(dest, 0o755)
    r = sandbox.run(["meson", "install", "-C", sandbox.BUILDDIR, "--destdir", dest, "--no-rebuild"], check=False)
    share = None
    for root, dirs, files in os.walk(dest):
        if root.endswith(os.path.join("cockpit", "connections")) and "manifest.json" in files:
            share = os.path.dirname(os.path.dirname(root))
    tap.ok(share is not None, "meson install put the Cockpit package in place", r.stderr)
    subprocess.run(["chmod", "-R", "a+rX", dest])

    # A private session bus for cockpit-ws, so the bridge leaves nothing running.
    sess = sandbox.popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                         stdout=subprocess.PIPE, text=True)
    sb.procs.append(sess)
    session_addr = sess.stdout.readline().strip()
    home = os.path.join(sb.tmp, "home")
    os.makedirs(home)
    os.chmod(home, 0o777)
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=session_addr, XDG_DATA_DIRS=share + ":/usr/share",
               HOME=home, XDG_RUNTIME_DIR=home)
    for user, port in ((None, 9091), ("cddeny", 9092)):
        p = sandbox.popen(sb.as_user(user) + ["/usr/lib/cockpit/cockpit-ws", "--no-tls", "--address", "127.0.0.1",
                                              "--port", str(port), "--local-session=cockpit-bridge"],
                          env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(sb.tmp, "ws-%d.log" % port), "w"))
        sb.procs.append(p)
        tap.ok(wait_port(port), "cockpit-ws (%s) listens on 127.0.0.1:%d" % (user or "root", port))

    logdir = os.environ.get("CD_LOGDIR") or os.path.join(sandbox.BUILDDIR, "test-logs")
    os.makedirs(logdir, exist_ok=True)
    # Chromium stays off every D-Bus bus.
    node_env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    node_env.update(URL="http://127.0.0.1:9091/cockpit/@localhost/connections/index.html",
                    URL_DENIED="http://127.0.0.1:9092/cockpit/@localhost/connections/index.html",
                    SCREENSHOT=os.path.join(logdir, "cockpit-connections.png"),
                    SCREENSHOT_TALKERS=os.path.join(logdir, "cockpit-top-talkers.png"), LOGDIR=logdir,
                    CTFILL=os.environ.get("CD_CTFILL") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "ctfill"),
                    BUSADDR=os.environ["DBUS_SYSTEM_BUS_ADDRESS"], HOME=home)
    r = subprocess.run(["node", os.path.join(HERE, "connections.test.mjs")], env=node_env, cwd=HERE,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    for line in r.stdout.splitlines():
        if line.startswith("ok ") or line.startswith("not ok "):
            desc = line.split(" - ", 1)[1] if " - " in line else line
            tap.ok(line.startswith("ok "), "browser: " + desc)
        elif line.startswith("#"):
            print(line)
    tap.ok(r.returncode == 0, "the browser script finished", r.stderr[-3000:])
finally:
    sb.finish(tap)
sys.exit(tap.done())
