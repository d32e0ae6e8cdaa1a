#!/usr/bin/python3
"""The Cockpit page in a real browser: Debian's chromium, driven by
playwright-core, through cockpit-ws --local-session on loopback, against the
real service on the sandbox's private bus with real traffic. The checks are
in connections.test.mjs (TAP); this sets the stage."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import sandbox  # noqa: E402
import tables  # noqa: E402
import stage  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
sb = sandbox.Sandbox().start()
try:
    sandbox.enable_accounting()   # byte figures for Top talkers
    tables.mixed(sb)
    share, err = stage.install(sb)
    tap.ok(share is not None, "meson install put the Cockpit package in place", err)
    listening, node_env = stage.serve(sb, share, ((None, 9091), ("cddeny", 9092)))
    for user, port in ((None, 9091), ("cddeny", 9092)):
        tap.ok(listening[port], "cockpit-ws (%s) listens on 127.0.0.1:%d" % (user or "root", port))

    logdir = os.environ.get("CD_LOGDIR") or os.path.join(sandbox.BUILDDIR, "test-logs")
    os.makedirs(logdir, exist_ok=True)
    node_env.update(URL=stage.url(9091), URL_DENIED=stage.url(9092),
                    SCREENSHOT=os.path.join(logdir, "cockpit-connections.png"),
                    SCREENSHOT_TALKERS=os.path.join(logdir, "cockpit-top-talkers.png"), LOGDIR=logdir,
                    CTFILL=os.environ.get("CD_CTFILL") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "ctfill"))
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
