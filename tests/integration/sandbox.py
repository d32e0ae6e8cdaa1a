"""The test sandbox: every integration test starts here.

A test process re-executes itself in a new network and mount namespace
(enter_namespaces), then Sandbox().start() builds, inside them:
  - a tmpfs over /run (so nothing reaches the host's system bus or netns),
  - private /etc/passwd and /etc/group with the test users bind-mounted,
  - the project's polkit actions and the test rules bind-mounted over
    polkit's directories,
  - a dbus-daemon with a system-bus-like default-deny config that includes
    the project's bus policy file,
  - a real polkitd (as user polkitd) and the service itself.
The kernel's conntrack table is the namespace's own: tests fill it with real
traffic on loopback and veth pairs, or with `conntrack -I`, and use
`conntrack -L` as the referee.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("CD_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("CD_BUILDDIR") or os.path.join(SRCDIR, "build")
SERVICE = os.environ.get("CD_SERVICE") or os.path.join(BUILDDIR, "src", "connectionsd")

BUS_SOCKET = "/run/dbus/system_bus_socket"
NAME, PATH, IFACE = "org.example.Connections", "/org/example/Connections", "org.example.Connections"

# One test user per authorization outcome (see polkit-test.rules).
USERS = {"cdallow": 4101, "cddeny": 4102, "cdnobody": 4103, "cdslow": 4104, "cdmatch": 4105, "cdwan": 4106}

# Conntrack only tracks in a namespace whose ruleset needs it.
BASE_RULESET = """
table inet cdtest {
    chain input { type filter hook input priority 0; ct state invalid drop; }
    chain output { type filter hook output priority 0; ct state invalid drop; }
    chain forward { type filter hook forward priority 0; ct state invalid drop; }
}
"""

# Conntrack timeouts are per network namespace. The kernel's defaults (30 s
# for UDP and ICMP, 10 s for a closed TCP entry) let entries expire in the
# middle of a slow test (ASan, valgrind): the sandbox makes every timeout at
# least this long, so a table changes only when a test changes it. A test
# about expiry sets short ones itself (set_conntrack_timeouts).
LONG_TIMEOUT = 6 * 3600
SYSCTL_DIR = "/proc/sys/net/netfilter"


def conntrack_timeout_names():
    """The namespace's conntrack timeout sysctls (not IPv6 reassembly's)."""
    return sorted(n for n in os.listdir(SYSCTL_DIR)
                  if n.startswith("nf_conntrack_") and "_timeout" in n and "frag" not in n)


def set_conntrack_timeouts(seconds, names=None, raise_only=True):
    """Sets the timeouts named (default: all) to `seconds`; with raise_only,
    a longer default (TCP established: 5 days) is kept."""
    for n in names or conntrack_timeout_names():
        path = os.path.join(SYSCTL_DIR, n)
        with open(path) as f:
            cur = int(f.read())
        if raise_only and cur >= seconds:
            continue
        with open(path, "w") as f:
            f.write("%d\n" % seconds)


def enter_namespaces():
    """Re-executes the calling script in new network + mount namespaces."""
    if os.environ.get("CD_SANDBOX_NS") == "1":
        return
    if os.geteuid() != 0:
        print("1..0 # SKIP integration tests need root")
        sys.exit(0)
    env = dict(os.environ, CD_SANDBOX_NS="1", CD_HOST_NETNS=os.readlink("/proc/self/ns/net"))
    os.execvpe("unshare", ["unshare", "--net", "--mount", "--propagation", "private", "--",
                           "/usr/bin/python3"] + sys.argv, env)


def _die_with_parent():
    """Children of a test die with it, so nothing outlives a crashed test.
    The kernel sends the signal when the thread that started the child ends,
    not the process: start long-lived children from the main thread."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def enable_accounting():
    """Per-entry packet and byte counters for every entry made from now on
    (nf_conntrack_acct is per network namespace: this one only)."""
    with open("/proc/sys/net/netfilter/nf_conntrack_acct", "w") as f:
        f.write("1\n")


def on_pty(argv, prompt=None, answer=None, timeout=20, resend_after=None, until=()):
    """Runs argv on a new terminal; writes answer once prompt shows.
    resend_after: write it again after that many seconds without output
    (a password prompt that turns echo off may flush what came before).
    until: strings that, once all shown, end a program that runs until
    killed (else it is killed at the timeout).
    Returns (exit status, everything the terminal showed)."""
    import pty
    import select
    import signal
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    out, sent, resent, deadline = b"", None, 0, time.monotonic() + timeout
    last_output = time.monotonic()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            last_output = time.monotonic()
            if until and all(u.encode() in out for u in until):
                os.kill(pid, signal.SIGKILL)
                break
        if prompt and sent is None and prompt.encode() in out:
            os.write(fd, answer.encode())
            sent = True
        elif (sent is not None and resend_after and resent < 5
              and time.monotonic() - last_output > resend_after):
            os.write(fd, answer.encode())
            resent += 1
            last_output = time.monotonic()
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def popen(cmd, **kw):
    return subprocess.Popen(cmd, preexec_fn=_die_with_parent, **kw)


def run(cmd, check=True, **kw):
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    return subprocess.run(cmd, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)


class BusError(Exception):
    def __init__(self, name, message):
        super().__init__("%s: %s" % (name, message))
        self.name, self.message = name, message


def _busctl_args(d):
    """A Python filter dict {key: (type, value)} as busctl 'a{sv}' arguments."""
    args = [str(len(d))]
    for k, (t, v) in d.items():
        args += [k, t]
        if t == "as":
            args += [str(len(v))] + [str(x) for x in v]
        elif t == "b":
            args.append("true" if v else "false")
        else:
            args.append(str(v))
    return args


def gvariant_text(d):
    """A Python filter dict as GVariant text for gdbus."""
    def val(t, v):
        if t == "s":
            return "<%s>" % json.dumps(v)
        if t == "as":
            return "<@as [%s]>" % ", ".join(json.dumps(x) for x in v)
        if t == "b":
            return "<%s>" % ("true" if v else "false")
        names = {"y": "byte", "n": "int16", "q": "uint16", "i": "int32", "u": "uint32",
                 "x": "int64", "t": "uint64"}
        return "<%s %s>" % (names[t], v)
    if not d:
        return "@a{sv} {}"
    return "{%s}" % ", ".join("%s: %s" % (json.dumps(k), val(t, v)) for k, (t, v) in d.items())


class Sandbox:
    def __init__(self, service_args=()):
        self.service_args = list(service_args)
        self.procs = []
        self.service = None
        self.polkitd = None

    # --- setup -----------------------------------------------------------
    def start(self, polkit=True):
        run(["ip", "link", "set", "lo", "up"])
        run(["mount", "-t", "tmpfs", "tmpfs", "/run"])
        os.makedirs("/run/dbus")
        self.tmp = tempfile.mkdtemp(prefix="cdtest-", dir="/run")
        os.chmod(self.tmp, 0o755)
        self._users()
        self._polkit_files()
        self._dbus()
        if polkit:
            self.start_polkitd()
        self.nft(BASE_RULESET)
        set_conntrack_timeouts(LONG_TIMEOUT)
        self.start_service()
        return self

    def _users(self):
        passwd = open("/etc/passwd").read().rstrip("\n") + "\n"
        group = open("/etc/group").read().rstrip("\n") + "\n"
        for name, uid in USERS.items():
            passwd += "%s:x:%d:%d:connectionsd test:/nonexistent:/usr/sbin/nologin\n" % (name, uid, uid)
            group += "%s:x:%d:\n" % (name, uid)
        for f, text in (("passwd", passwd), ("group", group)):
            p = os.path.join(self.tmp, f)
            with open(p, "w") as fh:
                fh.write(text)
            os.chmod(p, 0o644)
            run(["mount", "--bind", p, "/etc/" + f])

    def _polkit_files(self):
        actions = os.path.join(self.tmp, "polkit-actions")
        rules = os.path.join(self.tmp, "polkit-rules")
        empty = os.path.join(self.tmp, "polkit-empty")
        for d in (actions, rules, empty):
            os.makedirs(d)
            os.chmod(d, 0o755)
        shutil.copy(os.path.join(SRCDIR, "policy", "org.example.Connections.policy"), actions)
        shutil.copy(os.path.join(HERE, "polkit-test.rules"), os.path.join(rules, "50-cdtest.rules"))
        for d in (actions, rules):
            for f in os.listdir(d):
                os.chmod(os.path.join(d, f), 0o644)
        run(["mount", "--bind", actions, "/usr/share/polkit-1/actions"])
        run(["mount", "--bind", rules, "/etc/polkit-1/rules.d"])
        run(["mount", "--bind", empty, "/usr/share/polkit-1/rules.d"])

    def _dbus(self):
        conf = open(os.path.join(HERE, "system-bus.conf.in")).read()
        conf = conf.replace("@SOCKET@", BUS_SOCKET).replace(
            "@POLICY@", os.path.join(SRCDIR, "data", "org.example.Connections.conf"))
        path = os.path.join(self.tmp, "system-bus.conf")
        with open(path, "w") as fh:
            fh.write(conf)
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=" + BUS_SOCKET
        # Keep every client off any session bus.
        os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        p = popen(["dbus-daemon", "--config-file=" + path, "--nofork", "--nopidfile",
                   "--print-address=1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        p.stdout.readline()
        self.procs.append(p)
        self.dbus = p

    def log_count(self, text):
        """How often the service's log (all its runs in this sandbox) says text."""
        with open(self.service_log) as f:
            return f.read().count(text)

    def wait_log(self, text, n=1, timeout=120):
        """Waits until the service's log says text at least n times (bounded:
        a test asserts on the count it returns)."""
        deadline = time.monotonic() + timeout
        while self.log_count(text) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.log_count(text)

    def wait_name(self, name, present=True, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = run(["busctl", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                     "org.freedesktop.DBus", "NameHasOwner", "s", name], check=False)
            if r.returncode == 0 and (r.stdout.strip() == "b true") == present:
                return
            time.sleep(0.05)
        raise RuntimeError("name %s did not %s" % (name, "appear" if present else "vanish"))

    def start_polkitd(self):
        log = open(os.path.join(self.tmp, "polkitd.log"), "a")
        # polkitd switches to its own user by itself.
        self.polkitd = popen(["/usr/lib/polkit-1/polkitd"] + ([] if os.environ.get("CD_POLKIT_DEBUG") else ["--no-debug"]), stdout=log, stderr=log)
        self.procs.append(self.polkitd)
        self.wait_name("org.freedesktop.PolicyKit1")

    def stop_polkitd(self):
        self._stop(self.polkitd)
        self.polkitd = None
        self.wait_name("org.freedesktop.PolicyKit1", present=False)

    def start_service(self, extra_args=()):
        self.service_log = os.path.join(self.tmp, "connectionsd.log")
        log = open(self.service_log, "a")
        state = os.path.join(self.tmp, "state")   # survives service restarts, like /run/connectionsd
        # CD_SERVICE_WRAPPER runs the service under a tool (tests/valgrind/run).
        wrapper = os.environ.get("CD_SERVICE_WRAPPER", "").split()
        self.service = popen(wrapper + [SERVICE, "--log-level=debug", "--state-dir=" + state] +
                             self.service_args + list(extra_args),
                                        stdout=log, stderr=log)
        self.procs.append(self.service)
        self.wait_name(NAME)

    def stop_service(self):
        self._stop(self.service)
        self.service = None
        self.wait_name(NAME, present=False)

    def _stop(self, p):
        if p and p.poll() is None:
            p.terminate()
            try:
                # The service answers what is queued and lets calls in
                # progress finish before it exits (at most 20 s).
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop(self):
        for p in reversed(self.procs):
            self._stop(p)
        self._end_namespace()
        self._keep_logs()

    def _end_namespace(self):
        """Nothing outlives the sandbox: a process our children left behind
        (cockpit-bridge's ssh-agent) would keep the network namespace alive,
        and with it its conntrack entries, which every later dump on the
        machine walks past (the kernel's hash table is shared). Then our
        table is emptied. Never in the host's namespace."""
        ours = os.readlink("/proc/self/ns/net")
        if ours == os.environ.get("CD_HOST_NETNS", ours):
            return
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                if os.readlink("/proc/%s/ns/net" % pid) == ours:
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass   # gone meanwhile
        subprocess.run(["conntrack", "-F"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _keep_logs(self):
        """Copies the logs out of the sandbox's /run, which dies with it."""
        logdir = os.environ.get("CD_LOGDIR") or os.path.join(BUILDDIR, "test-logs")
        name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        try:
            os.makedirs(logdir, exist_ok=True)
            for f in ("connectionsd.log", "polkitd.log"):
                src = os.path.join(self.tmp, f)
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(logdir, "%s.%s" % (name, f)))
        except OSError:
            pass

    def finish(self, tap):
        """Ends a test: the service must still be running, exit 0 on SIGTERM,
        and have logged no sanitizer report; then everything stops."""
        try:
            if self.service is not None:
                tap.ok(self.service.poll() is None, "the service is still running at the end")
                self._stop(self.service)
                tap.eq(self.service.returncode, 0, "the service exits with status 0 on SIGTERM")
                log = open(self.service_log).read()
                bad = [l for l in log.splitlines()
                       if "runtime error" in l or "Sanitizer" in l or "SUMMARY" in l]
                tap.eq(bad, [], "the service logged no sanitizer report")
        finally:
            self.stop()

    def nft(self, ruleset):
        subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, check=True)

    # --- clients ---------------------------------------------------------
    def as_user(self, user):
        if user is None or user == "root":
            return []
        uid = USERS[user]
        return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"]

    def busctl(self, *args, user=None, interactive=False, check=True, timeout=120):
        cmd = self.as_user(user) + ["busctl", "--json=short",
                                    "--allow-interactive-authorization=%s" % ("yes" if interactive else "no"),
                                    "--timeout=%d" % timeout] + list(args)
        r = run(cmd, check=False, timeout=timeout + 10)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd), r.stderr.strip()))
        return r

    def call(self, method, signature="", *args, user=None, interactive=False):
        """Calls a method with busctl and returns the reply's JSON data."""
        r = self.busctl("call", NAME, PATH, IFACE, method, *([signature] + list(args) if signature else []),
                        user=user, interactive=interactive, check=False)
        if r.returncode != 0:
            raise RuntimeError("busctl %s: %s" % (method, r.stderr.strip()))
        return json.loads(r.stdout)["data"] if r.stdout.strip() else None

    def gdbus(self, method, *args, user=None, interactive=False, timeout=60):
        """Calls a method with gdbus; returns stdout or raises BusError with the error's name."""
        cmd = self.as_user(user) + ["gdbus", "call", "--system", "--dest", NAME, "--object-path", PATH,
                                    "--method", IFACE + "." + method, "--timeout", str(timeout)]
        if interactive:
            cmd.append("--interactive")
        r = run(cmd + list(args), check=False, timeout=timeout + 10)
        if r.returncode != 0:
            m = re.search(r"GDBus\.Error:([\w.]+): (.*)", r.stderr, re.S)
            if not m:
                raise RuntimeError("gdbus %s: %s" % (method, r.stderr.strip()))
            raise BusError(m.group(1), m.group(2).strip())
        return r.stdout

    def list(self, flt=None, opts=None, user=None):
        """List(filter, options) -> (total, [record dicts])."""
        data = self.call("List", "a{sv}a{sv}", *(_busctl_args(flt or {}) + _busctl_args(opts or {})),
                         user=user)
        return data[0], [record(x) for x in data[1]]

    def list_all(self, flt=None, page=None):
        """Every matching entry, following pages."""
        out, offset = [], 0
        while True:
            opts = {"offset": ("u", offset)}
            if page:
                opts["limit"] = ("u", page)
            total, recs = self.list(flt, opts)
            out += recs
            offset += len(recs)
            if not recs or offset >= total:
                return total, out

    def listen(self, user=None, subscribe=True):
        """A subscriber.py process (as user): its first line, and the signals it gets."""
        return Listener(self, user, subscribe)

    def prop(self, name):
        r = self.busctl("get-property", NAME, PATH, IFACE, name)
        return json.loads(r.stdout)["data"]

    # --- the referee ------------------------------------------------------
    def conntrack(self, *args):
        """conntrack -L with extra arguments, parsed from its XML output."""
        r = run(["conntrack", "-L", "-o", "xml,id"] + list(args), check=False)
        if r.returncode != 0 and "0 flow entries" not in r.stderr:
            raise RuntimeError("conntrack -L %s: %s" % (" ".join(args), r.stderr))
        return parse_conntrack_xml(r.stdout)


class Listener:
    """Signals one client receives (subscriber.py), read in a thread."""

    def __init__(self, sb, user, subscribe):
        import threading
        args = ["/usr/bin/python3", os.path.join(HERE, "subscriber.py")] + ([] if subscribe else ["--no-subscribe"])
        self.p = popen(sb.as_user(user) + args, stdout=subprocess.PIPE, text=True)
        sb.procs.append(self.p)
        self.first = self.p.stdout.readline().strip()
        self.received = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.p.stdout:
            self.received.append(json.loads(line))

    def signals(self, member):
        return [s["args"] for s in list(self.received) if s["member"] == member]

    def wait(self, cond, timeout=60):
        """Waits (bounded) until cond(self) holds; the check after it says what was missing."""
        deadline = time.monotonic() + timeout
        while not cond(self) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self):
        self.p.kill()
        self.p.wait()


FIELDS = ["id", "family", "protocol", "state", "status", "src", "dst", "sport", "dport",
          "reply_src", "reply_dst", "reply_sport", "reply_dport", "timeout", "mark", "zone",
          "packets", "bytes", "reply_packets", "reply_bytes", "start", "extra"]


def record(data):
    d = dict(zip(FIELDS, data))
    d["extra"] = {k: v["data"] for k, v in d["extra"].items()}
    return d


def parse_conntrack_xml(text):
    out = []
    if not text.strip():
        return out
    for flow in ET.fromstring(text).iter("flow"):
        e = {"status": set()}
        for meta in flow.findall("meta"):
            d = meta.get("direction")
            if d in ("original", "reply"):
                pre = "" if d == "original" else "reply_"
                l3, l4 = meta.find("layer3"), meta.find("layer4")
                e["family"] = l3.get("protoname")
                e[pre + "src"], e[pre + "dst"] = l3.findtext("src"), l3.findtext("dst")
                e["protocol"] = l4.get("protoname")
                e["protonum"] = int(l4.get("protonum"))
                e[pre + "sport"] = int(l4.findtext("sport") or 0)
                e[pre + "dport"] = int(l4.findtext("dport") or 0)
                if l4.find("type") is not None and d == "original":
                    e["icmp-type"] = int(l4.findtext("type"))
                    e["icmp-code"] = int(l4.findtext("code"))
                    e["icmp-id"] = int(l4.findtext("id"))
                c = meta.find("counters")
                if c is not None:
                    e[pre + "packets"] = int(c.findtext("packets"))
                    e[pre + "bytes"] = int(c.findtext("bytes"))
            else:
                e["state"] = meta.findtext("state") or ""
                e["timeout"] = int(meta.findtext("timeout") or 0)
                e["mark"] = int(meta.findtext("mark") or 0)
                e["zone"] = int(meta.findtext("zone") or 0)
                e["id"] = int(meta.findtext("id"))
                for flag in ("assured", "unreplied"):
                    if meta.find(flag) is not None:
                        e["status"].add(flag.upper())
        if e["protocol"] == "unknown":
            e["protocol"] = str(e["protonum"])
        out.append(e)
    return out


class TAP:
    """Minimal TAP producer: the runner counts these lines."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            if diag:
                for line in str(diag).splitlines()[:40]:
                    print("# " + line)
        sys.stdout.flush()
        return cond

    def eq(self, got, want, desc):
        return self.ok(got == want, desc, "got:  %r\nwant: %r" % (got, want))

    def run(self, fn, *args):
        """Runs one test function; an exception is one failed test."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - any error is a failure to report
            import traceback
            self.ok(False, "%s raised %s" % (fn.__name__, type(e).__name__), traceback.format_exc())

    def done(self):
        print("1..%d" % self.n)
        return 1 if self.failed else 0
