"""A container that boots a real systemd, with the project installed in it.

Its root is an overlay: the machine's own root below, read-only, and a tmpfs
above into which `meson install --destdir` puts the project (--prefix=/usr
--sysconfdir=/etc), with a fresh machine-id. systemd-nspawn boots it
(--private-network: its own network namespace, so its own conntrack table),
and the container's own systemd, dbus-daemon, polkitd and journald run the
installed unit. Commands run inside with nsenter into the container's init.
Nothing is downloaded: the image is this machine.

The calling test runs in its own mount namespace (sandbox.enter_namespaces),
where /run is a private tmpfs: the overlay and nspawn's runtime files go
away with it."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import sandbox  # noqa: E402

MACHINE = "cdsystem"


class Container:
    def __init__(self, builddir):
        self.builddir = builddir
        self.nspawn = None
        self.leader = None

    def start(self):
        sandbox.run(["mount", "-t", "tmpfs", "tmpfs", "/run"])
        self.base = "/run/cdsystem"
        self.upper, work, self.root = (os.path.join(self.base, d) for d in ("upper", "work", "root"))
        for d in (self.upper, work, self.root):
            os.makedirs(d)
        self.install_log = self._install()
        sandbox.run(["mount", "-t", "overlay", "overlay", "-o",
                     "lowerdir=/,upperdir=%s,workdir=%s" % (self.upper, work), self.root])
        with open(os.path.join(self.root, "etc", "machine-id"), "w") as f:
            f.write(sandbox.run(["systemd-id128", "new"]).stdout)
        os.makedirs(os.path.join(sandbox.BUILDDIR, "test-logs"), exist_ok=True)
        self.log = open(os.path.join(sandbox.BUILDDIR, "test-logs", "system-boot.log"), "w")
        self.nspawn = sandbox.popen(["systemd-nspawn", "-D", self.root, "--private-network",
                                     "--machine=" + MACHINE, "--register=no", "--keep-unit", "-b",
                                     "--bind-ro=" + sandbox.SRCDIR,
                                     "--console=pipe"], stdin=subprocess.DEVNULL, stdout=self.log,
                                    stderr=subprocess.STDOUT)
        # The container's init is nspawn's child once it has exec'd systemd.
        deadline = time.monotonic() + 180
        state = ""
        while time.monotonic() < deadline and not state and self.nspawn.poll() is None:
            for pid in sandbox.run(["pgrep", "-P", str(self.nspawn.pid)], check=False).stdout.split():
                try:
                    if open("/proc/%s/comm" % pid).read().strip() == "systemd":
                        self.leader = int(pid)
                except OSError:
                    pass
            if self.leader:
                state = self.sh("systemctl is-system-running --wait", timeout=180).stdout.strip()
            if not state:
                time.sleep(0.2)
        return state

    def _install(self):
        """meson install of a --prefix=/usr --sysconfdir=/etc build into the upper layer."""
        build = os.path.join(self.builddir, "system-install")
        setup = ["meson", "setup", build, "--prefix=/usr", "--sysconfdir=/etc", "-Dman=enabled",
                 "-Dcockpit=enabled"]
        if os.path.isdir(os.path.join(build, "meson-private")):
            setup.insert(2, "--reconfigure")
        r1 = sandbox.run(setup, cwd=sandbox.SRCDIR, check=False)
        staging = os.path.join(self.base, "staging")
        r2 = sandbox.run(["meson", "install", "-C", build, "--destdir", staging], check=False)
        # Merged /usr: /lib is a link to usr/lib on the machine. A real lib/
        # in the upper layer would hide it, so what meson put under a linked
        # top-level directory goes where the link points.
        for top in os.listdir(staging):
            dest = os.path.join(self.upper, os.readlink("/" + top) if os.path.islink("/" + top) else top)
            os.makedirs(dest, exist_ok=True)
            sandbox.run(["cp", "-a", os.path.join(staging, top) + "/.", dest + "/"])
        return (r1.returncode, r2.returncode, r1.stderr[-2000:] + r2.stdout[-1000:] + r2.stderr[-2000:])

    def sh(self, cmd, user=None, timeout=120, env=None, input=None):
        """Runs a shell command inside the container (as user)."""
        pre = ["nsenter", "-t", str(self.leader), "-a"]
        if user:
            pre += ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups"]
        if env:
            pre += ["env"] + ["%s=%s" % kv for kv in env.items()]
        return subprocess.run(pre + ["sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, input=input)

    def write(self, path, text, mode=0o644):
        """Writes a file into the container's root."""
        p = self.root + path
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)

    def stop(self):
        if self.nspawn and self.nspawn.poll() is None:
            self.nspawn.terminate()   # nspawn asks the container's systemd to halt
            try:
                self.nspawn.wait(60)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait()
