#!/usr/bin/python3
"""Live changes: Subscribe, coalesced ConnectionsChanged, Count, overflow.

The subscriber is tests/tools/cdwatch, an sd-bus client that prints every
signal with a CLOCK_MONOTONIC timestamp (Python's time.monotonic())."""
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import tables  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
CDWATCH = os.environ.get("CD_CDWATCH") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "cdwatch")
CTFILL = os.environ.get("CD_CTFILL") or os.path.join(sandbox.BUILDDIR, "tests", "tools", "ctfill")
INTERVAL = 0.5
sb = sandbox.Sandbox().start()
_first = [30000]


class Watch:
    """A cdwatch process and the lines it printed."""

    def __init__(self, *args, user=None, wait=True):
        # Started from the main thread: the sandbox's children get SIGKILL
        # when the thread that started them ends (PR_SET_PDEATHSIG).
        assert threading.current_thread() is threading.main_thread()
        self.p = sandbox.popen(sb.as_user(user) + [CDWATCH] + list(args), stdout=subprocess.PIPE, text=True)
        sb.procs.append(self.p)
        self.lines = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if wait:
            self.ready.wait(10)

    def _read(self):
        for line in self.p.stdout:
            line = line.split()
            self.lines.append(line)
            if line[0] in ("ready", "error"):
                self.ready.set()
        self.ready.set()

    def changed(self, since=0.0):
        return [(int(l[1]), int(l[2]), int(l[3]), int(l[4]), l[5] == "1", float(l[6]))
                for l in list(self.lines) if l[0] == "changed" and float(l[6]) >= since]

    def counts(self):
        return [int(l[1]) for l in list(self.lines) if l[0] == "count"]

    def errors(self):
        return [l[1] for l in list(self.lines) if l[0] == "error"]

    def kill(self):
        self.p.kill()
        self.p.wait()


def quiet(w, seconds=INTERVAL * 3):
    """Waits until no signal came for `seconds`."""
    while True:
        n = len(w.changed())
        time.sleep(seconds)
        if len(w.changed()) == n:
            return


def fill(n, **kw):
    args = [CTFILL, str(n), "--first", str(_first[0])]
    for k, v in kw.items():
        args += ["--" + k, str(v)]
    _first[0] += n
    t0 = time.monotonic()
    sandbox.run(args)
    return t0, time.monotonic()


def test_no_signal_without_subscribers():
    w = Watch("--no-subscribe")
    fill(100)
    n = int(sandbox.run("conntrack -C").stdout)
    deadline = time.monotonic() + 30
    while (not w.counts() or w.counts()[-1] != n) and time.monotonic() < deadline:
        time.sleep(0.05)
    tap.ok(w.counts() and w.counts()[-1] == n,
           "Count emits PropertiesChanged (%d) though nobody is subscribed" % n, w.counts())
    time.sleep(INTERVAL * 3)
    tap.eq(w.changed(), [], "no ConnectionsChanged while nobody is subscribed")
    tap.ok(len(w.counts()) <= 3, "Count's changes are coalesced: %d signals for 100 new entries" % len(w.counts()))
    w.kill()


def test_traffic():
    w = Watch()
    tables.start(sb, ["serve", "127.0.0.1", "7101", "7102"])
    t0 = time.monotonic()
    tables.start(sb, ["connect"] + ["127.0.0.1:7101/tcp"] * 20)
    quiet(w)
    sig = w.changed(since=t0)
    tap.ok(sig and sig[0][5] - t0 <= INTERVAL + 2,
           "the first signal came %.3f s after the traffic started (interval %.1f s)" %
           (sig[0][5] - t0 if sig else -1, INTERVAL))
    tap.eq(sum(s[1] for s in sig), 20, "the signals count the 20 new connections")
    tap.ok(sum(s[2] for s in sig) >= 20, "and their updates (handshakes): %d" % sum(s[2] for s in sig))
    tap.ok(all(not s[4] for s in sig), "nothing was lost")
    gens = [s[0] for s in w.changed()]
    tap.ok(gens == list(range(gens[0], gens[0] + len(gens))), "generations grow by one: %s" % gens)
    n = int(sandbox.run("conntrack -C").stdout)
    tap.ok(w.counts() and w.counts()[-1] == n, "Count's PropertiesChanged carries the table size %d" % n,
           w.counts())

    t0 = time.monotonic()
    out = sb.gdbus("DeleteMatching", "{'port': <uint16 7101>}")
    quiet(w)
    sig = w.changed(since=t0)
    tap.eq(sum(s[3] for s in sig), 20, "DeleteMatching of the 20 flows shows as 20 destroyed (%s)" % out.strip())
    w.kill()
    return w


def test_burst():
    w = Watch()
    t0, t1 = fill(20000)
    quiet(w)
    sig = w.changed(since=t0 - 0.01)
    duration = max(s[5] for s in sig) - t0 if sig else 0
    bound = duration / INTERVAL + 2
    tap.ok(len(sig) <= bound, "20,000 connections in a burst gave %d signals over %.2f s (at most %.1f)" %
           (len(sig), duration, bound))
    lost = any(s[4] for s in sig)
    tap.ok(sum(s[1] for s in sig) == 20000 or lost, "they count 20,000 new (%d), or say events were lost" %
           sum(s[1] for s in sig))
    tap.ok(not lost, "the default buffer holds a 20,000-entry burst without loss")
    t0 = time.monotonic()
    sb.gdbus("Flush")
    quiet(w)
    sig = w.changed(since=t0)
    destroyed, lost = sum(s[3] for s in sig), any(s[4] for s in sig)
    tap.ok(destroyed >= 20000 and not lost,
           "Flush of 20,000 shows as %d destroyed without loss (default buffer)" % destroyed)
    w.kill()


def test_leaving_and_unsubscribing():
    observer = Watch("--no-subscribe")
    w = Watch()
    fill(10)
    quiet(w)
    tap.ok(len(w.changed()) >= 1, "a subscriber gets signals")
    w.p.kill()   # gone without Unsubscribe
    w.p.wait()
    time.sleep(0.3)   # the bus tells the service the name left
    n = len(observer.changed())
    fill(10)
    time.sleep(INTERVAL * 3)
    tap.eq(len(observer.changed()), n, "after the only subscriber left the bus, no more signals")

    u = Watch("--unsubscribe-after", "1")
    fill(10)
    quiet(u)
    tap.ok(any(l[0] == "unsubscribed" for l in u.lines), "Unsubscribe succeeds")
    n = len(observer.changed())
    fill(10)
    time.sleep(INTERVAL * 3)
    tap.eq(len(observer.changed()), n, "after Unsubscribe, no more signals")
    u.kill()
    observer.kill()


def test_subscribe_errors():
    w = Watch("--subscribe-twice", "--seconds", "1")
    tap.eq(w.errors(), ["org.example.Connections.Error.AlreadySubscribed"], "subscribing twice is an error")
    w.kill()
    try:
        sb.gdbus("Unsubscribe")
        tap.ok(False, "unsubscribing without a subscription is an error")
    except sandbox.BusError as e:
        tap.eq(e.name, "org.example.Connections.Error.NotSubscribed",
               "unsubscribing without a subscription is an error")
    w = Watch("--seconds", "1", user="cddeny")
    tap.eq(w.errors(), ["org.freedesktop.DBus.Error.AccessDenied"], "a user polkit denies cannot subscribe")
    w.kill()
    w = Watch("--seconds", "3", user="cdallow")
    fill(5)
    quiet(w)
    tap.ok(w.errors() == [] and sum(s[1] for s in w.changed()) == 5, "a user polkit allows gets the signals")
    w.kill()


def test_expiry():
    """The one test about expiry: a short UDP timeout on purpose, real flows
    that run out, and the service telling of it."""
    sandbox.set_conntrack_timeouts(3, ["nf_conntrack_udp_timeout"], raise_only=False)
    try:
        w = Watch()
        quiet(w)
        t0 = time.monotonic()
        tables.start(sb, ["connect"] + ["127.0.0.1:7998/udp-noreply"] * 5)
        made = sb.conntrack("-p", "udp", "--dport", "7998")
        tap.eq(len(made), 5, "five unanswered UDP flows, with a 3 s timeout")
        # conntrack -L also reaps expired entries (the kernel's collector may
        # take up to a minute): poll until they are gone, within a bound.
        while sb.conntrack("-p", "udp", "--dport", "7998") and time.monotonic() < t0 + 60:
            time.sleep(0.5)
        quiet(w)
        tap.eq(sb.conntrack("-p", "udp", "--dport", "7998"), [], "they expired")
        total, _ = sb.list({"dport": ("q", 7998)})
        tap.eq(total, 0, "List no longer has them")
        tap.eq(sb.prop("Count"), int(sandbox.run("conntrack -C").stdout), "Count follows the table")
        tap.ok(sum(s[3] for s in w.changed(since=t0)) >= 5,
               "ConnectionsChanged counts them destroyed (%d)" % sum(s[3] for s in w.changed(since=t0)))
        w.kill()
    finally:
        sandbox.set_conntrack_timeouts(sandbox.LONG_TIMEOUT, ["nf_conntrack_udp_timeout"])


def test_overflow():
    sb.stop_service()
    sb.service_args = ["--event-buffer=4096"]
    sb.start_service()
    w = Watch()
    fill(5000)
    quiet(w)
    sig = w.changed()
    tap.ok(any(s[4] for s in sig), "with a tiny buffer a burst of 5,000 gives lost=true (%d signals)" % len(sig))
    n = int(sandbox.run("conntrack -C").stdout)
    total, _ = sb.list(opts={"limit": ("u", 0)})
    tap.eq(total, n, "List still counts the whole table afterwards")
    tap.eq(sb.prop("Count"), n, "Count is right afterwards")
    tap.ok(w.counts() and w.counts()[-1] == n, "the last Count change carried the right size")
    t0 = time.monotonic()
    fill(3)
    quiet(w)
    sig = w.changed(since=t0)
    tap.ok(sig and not any(s[4] for s in sig) and sum(s[1] for s in sig) == 3,
           "small traffic afterwards is counted exactly again, lost=false")
    w.kill()


def event_backlog(portid):
    """Bytes waiting in the service's event socket (/proc/net/netlink: the
    NETLINK_NETFILTER socket of portid bound to the three conntrack groups)."""
    for line in open("/proc/net/netlink").read().splitlines()[1:]:
        f = line.split()
        if f[1] == "12" and f[2] == str(portid) and int(f[3], 16) == 7:
            return int(f[4])
    return None


def bus_queue(pid):
    """Bytes waiting to be read on the unix sockets of process pid (ss -x)."""
    out = sandbox.run(["ss", "-xHp"]).stdout
    return sum(int(l.split()[2]) for l in out.splitlines() if "pid=%d," % pid in l)


def test_overflow_before_subscribing():
    """The kernel drops events silently from an overflow until the service
    has emptied its queue, whoever subscribed meanwhile. A subscriber that
    arrives while an overflow nobody was told of is still being drained,
    then entries made while the queue is still full: it is told lost=true,
    or counts them all."""
    sb.stop_service()
    sb.service_args = []
    sb.start_service()
    pid = sb.service.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        fill(120000)            # past the default buffer, nobody subscribed
        w = Watch("--announce", wait=False)
        # Its Subscribe waits in the service's queue: cdwatch is sending the
        # call and the service's bus socket has bytes to read.
        deadline = time.monotonic() + 60
        while not (any(l[0] == "subscribing" for l in w.lines) and bus_queue(pid) > 0) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(pid, signal.SIGCONT)
        w.ready.wait(120)       # the service reads its bus and the backlog in turns
        os.kill(pid, signal.SIGSTOP)   # subscribed; the backlog, as it happens, not yet read
        subscribed = any(l[0] == "ready" for l in w.lines) and not w.errors()
        backlog = event_backlog(pid)
        fill(5000)
    finally:
        os.kill(pid, signal.SIGCONT)
    # Until the subscriber is told of a loss or has counted the 5,000 (the
    # service first reads the backlog: seconds under ASan or valgrind).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        sig = w.changed()
        new, lost = sum(s[1] for s in sig), any(s[4] for s in sig)
        if lost or new >= 5000:
            break
        time.sleep(0.1)
    tap.ok(subscribed and (lost or new >= 5000),
           "after an overflow before subscribing: %d new counted, lost=%s (subscribed: %s; %s bytes of "
           "events not yet read when the 5,000 came)" % (new, lost, subscribed, backlog), w.lines[:10])
    w.kill()
    sandbox.run("conntrack -F >/dev/null 2>&1")


try:
    tap.run(test_no_signal_without_subscribers)
    tap.run(test_traffic)
    tap.run(test_burst)
    tap.run(test_leaving_and_unsubscribing)
    tap.run(test_subscribe_errors)
    tap.run(test_expiry)
    tap.run(test_overflow)
    tap.run(test_overflow_before_subscribing)
finally:
    sb.finish(tap)
sys.exit(tap.done())
