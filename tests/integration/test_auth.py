#!/usr/bin/python3
"""Authorization of List, Summarize and GetStatistics through the real polkitd.

Users (tests/integration/polkit-test.rules): cdallow (rule says yes),
cddeny (rule says no), cdnobody (no rule: the action's defaults, which ask
for authentication), cdslow (a rule that takes 3 seconds, then yes)."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
sb = sandbox.Sandbox().start()

DENIED = "org.freedesktop.DBus.Error.AccessDenied"
INTERACTIVE = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
INVALID = "org.freedesktop.DBus.Error.InvalidArgs"
E = "@a{sv} {}"
CALLS = {"List": (E, E), "Summarize": (E, "src", E), "GetStatistics": ()}


def outcome(method, user, interactive=False, args=None):
    try:
        sb.gdbus(method, *(CALLS[method] if args is None else args), user=user, interactive=interactive)
        return "ok"
    except sandbox.BusError as e:
        return e.name


def test_matrix():
    for method in CALLS:
        tap.eq(outcome(method, None), "ok", "%s: root is served without polkit" % method)
        tap.eq(outcome(method, "cdallow"), "ok", "%s: a user a rule allows is served" % method)
        tap.eq(outcome(method, "cddeny"), DENIED, "%s: a user a rule denies gets AccessDenied" % method)
        tap.eq(outcome(method, "cddeny", interactive=True), DENIED,
               "%s: a denied user gets AccessDenied also with the interactive flag" % method)
        tap.eq(outcome(method, "cdnobody"), INTERACTIVE,
               "%s: no rule, no interactive flag: InteractiveAuthorizationRequired" % method)
        tap.eq(outcome(method, "cdnobody", interactive=True), DENIED,
               "%s: no rule, interactive flag, no agent to ask: AccessDenied" % method)


def test_data_reaches_allowed_user():
    sandbox.run("conntrack -I -p tcp -s 192.0.2.1 -d 192.0.2.2 --sport 1 --dport 2 --state ESTABLISHED -t 300")
    total, recs = sb.list(user="cdallow")
    tap.ok(total == 1 and recs[0]["src"] == "192.0.2.1", "an allowed user receives the table")


def test_validation_first():
    tap.eq(outcome("List", "cddeny", args=("{'colour': <'red'>}", E)), INVALID,
           "bad arguments are rejected before polkit is asked (denied user gets InvalidArgs)")


def test_properties_for_anyone():
    r = sb.busctl("get-property", sandbox.NAME, sandbox.PATH, sandbox.IFACE, "Count", user="cdnobody")
    tap.ok('"data":1' in r.stdout.replace(" ", ""), "properties are readable by a user without rights",
           r.stdout)


def test_slow_authorization():
    # cdslow's polkit decision takes 3 s; root's List must not wait for it.
    asked = sb.log_count("Asking polkit whether")
    slow = sandbox.popen(sb.as_user("cdslow") + ["gdbus", "call", "--system", "--dest", sandbox.NAME,
                                                  "--object-path", sandbox.PATH, "--method",
                                                  sandbox.IFACE + ".List", E, E],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sb.wait_log("Asking polkit whether", asked + 1)   # the slow check is pending
    t0 = time.monotonic()
    total, _ = sb.list()
    took = time.monotonic() - t0
    still_waiting = slow.poll() is None
    tap.ok(still_waiting, "root's List (%.3f s) was answered while the slow check was pending" % took)
    out, err = slow.communicate(timeout=30)
    tap.ok(slow.returncode == 0 and out.startswith("(uint32 1,"), "the slow caller is served once polkit says yes",
           err)


def test_polkitd_down():
    sb.stop_polkitd()
    for method in CALLS:
        tap.eq(outcome(method, "cdallow"), DENIED, "%s: polkitd down: non-root is denied" % method)
        tap.eq(outcome(method, None), "ok", "%s: polkitd down: root is still served" % method)
    tap.eq(outcome("List", "cdallow", args=("{'port': <'x'>}", E)), INVALID,
           "polkitd down: bad arguments still get InvalidArgs")
    sb.start_polkitd()
    tap.eq(outcome("List", "cdallow"), "ok", "polkitd back: the allowed user is served again")


try:
    tap.run(test_matrix)
    tap.run(test_data_reaches_allowed_user)
    tap.run(test_validation_first)
    tap.run(test_properties_for_anyone)
    tap.run(test_slow_authorization)
    tap.run(test_polkitd_down)
finally:
    sb.finish(tap)
sys.exit(tap.done())
