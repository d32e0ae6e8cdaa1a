"""The stage for the Cockpit page in a browser, shared by test_browser.py and
the bench: the project installed into a private prefix, cockpit-ws
--local-session on loopback for each user asked for (a private session bus,
so the bridge leaves nothing running), and what node scripts need to know."""
import os
import socket
import subprocess
import tempfile
import time

import sandbox

HERE = os.path.dirname(os.path.abspath(__file__))


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def install(sb):
    """meson install into a directory of the sandbox; returns (data dir that
    holds cockpit/connections or None, meson's stderr)."""
    dest = tempfile.mkdtemp(prefix="cd-cockpit-", dir=sb.tmp)
    os.chmod(dest, 0o755)
    r = sandbox.run(["meson", "install", "-C", sandbox.BUILDDIR, "--destdir", dest, "--no-rebuild"], check=False)
    share = None
    for root, dirs, files in os.walk(dest):
        if root.endswith(os.path.join("cockpit", "connections")) and "manifest.json" in files:
            share = os.path.dirname(os.path.dirname(root))
    subprocess.run(["chmod", "-R", "a+rX", dest])
    return share, r.stderr


def serve(sb, share, users):
    """cockpit-ws for each (user or None for root, port); returns
    {port: listening}, and the environment node scripts run with."""
    sess = sandbox.popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                         stdout=subprocess.PIPE, text=True)
    sb.procs.append(sess)
    session_addr = sess.stdout.readline().strip()
    home = os.path.join(sb.tmp, "home")
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o777)
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=session_addr, XDG_DATA_DIRS=share + ":/usr/share",
               HOME=home, XDG_RUNTIME_DIR=home)
    listening = {}
    for user, port in users:
        p = sandbox.popen(sb.as_user(user) + ["/usr/lib/cockpit/cockpit-ws", "--no-tls", "--address", "127.0.0.1",
                                              "--port", str(port), "--local-session=cockpit-bridge"],
                          env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(sb.tmp, "ws-%d.log" % port), "w"))
        sb.procs.append(p)
        listening[port] = wait_port(port)
    # Chromium stays off every D-Bus bus.
    node_env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    node_env.update(BUSADDR=os.environ["DBUS_SYSTEM_BUS_ADDRESS"], HOME=home)
    return listening, node_env


def url(port):
    return "http://127.0.0.1:%d/cockpit/@localhost/connections/index.html" % port
