# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real servers the cluster-mode tests run against, each started on a free
loopback port in a temporary directory and stopped at exit: PostgreSQL
(initdb + pg_ctl from Debian's postgresql package) and NATS with JetStream
(Debian's nats-server)."""

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bindir():
    # Debian keeps the server tools out of PATH, beside its own psql
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for d in dirs:
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(os.path.realpath(found))
    raise RuntimeError("PostgreSQL server tools (initdb, pg_ctl) are not installed")


class PostgresServer:
    """A throw-away cluster; as root its files belong to the postgres user,
    since the server refuses to run as root."""

    def __init__(self):
        self.bindir = _pg_bindir()
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="we-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.prefix = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.databases = 0

    def _run(self, *args, **kw):
        return subprocess.run(self.prefix + list(args), check=True, capture_output=True,
                              timeout=120, **kw)

    def start(self):
        self._run(os.path.join(self.bindir, "initdb"), "-D", self.data, "-A", "trust",
                  "-U", "webencode", "--no-sync", "-E", "UTF8")
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
                % (self.port, self.tmp))
        self._run(os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-o", opts,
                  "-l", os.path.join(self.tmp, "server.log"), "-w", "start")
        atexit.register(self.stop)
        return self

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(self.prefix + [os.path.join(self.bindir, "pg_ctl"), "-D", self.data,
                                          "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def url(self, database="postgres"):
        return "postgresql://webencode@127.0.0.1:%d/%s" % (self.port, database)

    def create_database(self, prefix="we"):
        """A fresh, empty database: every daemon of a test class gets its own
        unless the test shares one on purpose."""
        self.databases += 1
        name = "%s_%d_%d" % (prefix, os.getpid(), self.databases)
        self.sql("CREATE DATABASE %s" % name)
        return self.url(name)

    def sql(self, statement, database="postgres"):
        out = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-A", "-t", "-q",
                              "-v", "ON_ERROR_STOP=1", "-c", statement, self.url(database)],
                             check=True, capture_output=True, text=True, timeout=120)
        return out.stdout.strip()


class NatsServer:
    """@listen: the address the server binds; 0.0.0.0 for clients in other
    network namespaces (url then still names loopback, url_for() another
    address of this host)."""

    def __init__(self, listen="127.0.0.1"):
        self.binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not os.path.exists(self.binary):
            raise RuntimeError("nats-server is not installed")
        self.listen = listen
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="we-nats-")
        self.proc = None

    def start(self, timeout=20):
        self.log = open(os.path.join(self.tmp, "nats.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "-js", "-a", self.listen, "-p", str(self.port),
                                      "-sd", os.path.join(self.tmp, "js")],
                                     stdout=self.log, stderr=self.log)
        atexit.register(self.stop)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with socket.create_connection((self._local_host(), self.port), timeout=1) as s:
                    if s.recv(4096).startswith(b"INFO"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start on port %d" % self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _local_host(self):
        return "127.0.0.1" if self.listen in ("0.0.0.0", "127.0.0.1") else self.listen

    @property
    def url(self):
        return "nats://%s:%d" % (self._local_host(), self.port)

    def url_for(self, host):
        """The URL under another address of this host (e.g. a veth's)."""
        return "nats://%s:%d" % (host, self.port)


_shared = {}


def nats():
    """The one NATS server of this test process, started on first use."""
    if "nats" not in _shared:
        _shared["nats"] = NatsServer().start()
    return _shared["nats"]


def postgres():
    """The one PostgreSQL server of this test process, started on first use."""
    if "pg" not in _shared:
        _shared["pg"] = PostgresServer().start()
    return _shared["pg"]


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# --- S3 (s3rver) and network namespaces, for the multi-host tests ----------

SOURCE_ROOT = os.environ.get("WE_SOURCE_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
# the same credentials as plugins/storage/s3/we-storage-s3-test.c
S3_KEY_ID = "WETESTKEY"
S3_SECRET = "we/test+secret=key"


class S3Server:
    """s3rver behind tests/s3/start-s3rver.js, which checks every SigV4
    signature; objects live in a temporary directory. @listen: the bind
    address (0.0.0.0 for clients in other network namespaces)."""

    def __init__(self, listen="127.0.0.1", buckets=("webencode",), access_key=S3_KEY_ID,
                 secret_key=S3_SECRET):
        self.node = shutil.which("node")
        if self.node is None:
            raise RuntimeError("node is not installed (needed for s3rver)")
        self.script = os.path.join(SOURCE_ROOT, "tests", "s3", "start-s3rver.js")
        modules = os.path.join(SOURCE_ROOT, "tests", "s3", "node_modules", "s3rver")
        if not os.path.isdir(modules):
            raise RuntimeError("%s is missing: run 'npm ci --prefix %s'"
                               % (modules, os.path.join(SOURCE_ROOT, "tests", "s3")))
        self.listen = listen
        self.buckets = list(buckets)
        self.bucket = self.buckets[0]
        self.access_key = access_key
        self.secret_key = secret_key
        self.tmp = tempfile.mkdtemp(prefix="we-s3-")
        self.port = None
        self.proc = None

    def start(self, timeout=30):
        import select
        self.log = open(os.path.join(self.tmp, "s3rver.log"), "ab")
        args = [self.node, self.script, "--host", self.listen, "--port", "0",
                "--directory", os.path.join(self.tmp, "objects"),
                "--access-key", self.access_key, "--secret-key", self.secret_key]
        for b in self.buckets:
            args += ["--bucket", b]
        os.makedirs(os.path.join(self.tmp, "objects"))
        # stdin is a pipe we hold: the server exits when we do, even on a crash
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log)
        atexit.register(self.stop)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("ready "):
            self.log.flush()
            with open(os.path.join(self.tmp, "s3rver.log"), "rb") as f:
                err = f.read()[-2000:].decode(errors="replace")
            raise RuntimeError("start-s3rver.js did not start (said %r)\n%s" % (line, err))
        self.port = int(line.split()[1])
        return self

    def endpoint(self, host=None):
        if host is None:
            host = "127.0.0.1" if self.listen in ("0.0.0.0", "127.0.0.1") else self.listen
        return "http://%s:%d" % (host, self.port)

    def plugin_env(self, host=None):
        """storage-s3's settings for a process that reaches us at @host."""
        return {
            "WE_PLUGIN_STORAGE_S3_ENDPOINT": self.endpoint(host),
            "WE_PLUGIN_STORAGE_S3_REGION": "us-east-1",
            "WE_PLUGIN_STORAGE_S3_BUCKET": self.bucket,
            "WE_PLUGIN_STORAGE_S3_ACCESS_KEY_ID": self.access_key,
            "WE_PLUGIN_STORAGE_S3_SECRET_ACCESS_KEY": self.secret_key,
        }

    def stop(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.log.close()
            self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)


def _ip(*args, check=True):
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise RuntimeError("ip %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                  (p.stderr or p.stdout).strip()))
    return p.stdout


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class NetNamespace:
    """A network namespace standing for another host: a veth pair with
    10.77.<x>.1/24 on this host's side and 10.77.<x>.2/24 inside, loopback
    up inside. Names carry our pid (we-<tag>-<pid>-<n>) so parallel runs do
    not collide and leftovers of a dead run can be recognised; <x> is a
    subnet no interface of this host uses yet. Needs root (CAP_SYS_ADMIN and
    CAP_NET_ADMIN); a refusal raises RuntimeError saying so."""

    _used = set()

    def __init__(self, tag, n):
        pid = os.getpid()
        self.tag = tag
        self.name = "we-%s-%d-%d" % (tag, pid, n)
        self.host_if = "we%dh%d" % (pid, n)   # at most 15 characters
        self.ns_if = "we%dn%d" % (pid, n)
        self.subnet = None
        self.created = False

    @staticmethod
    def remove_stale(tag):
        """Namespaces of earlier runs whose process is gone (a SIGKILLed test
        cannot clean up): their processes are killed and the namespaces
        deleted, which deletes their veth pairs."""
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            name = line.split()[0] if line.split() else ""
            parts = name.split("-")
            if len(parts) != 4 or parts[0] != "we" or parts[1] != tag:
                continue
            try:
                pid = int(parts[2])
            except ValueError:
                continue
            if _pid_alive(pid):
                continue
            NetNamespace._kill_inside(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

    @staticmethod
    def _kill_inside(name):
        out = subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                             text=True).stdout
        for p in out.split():
            try:
                os.kill(int(p), 9)
            except (ValueError, ProcessLookupError):
                pass

    def _pick_subnet(self):
        used = set(NetNamespace._used)
        for line in _ip("-o", "-4", "addr", "show").splitlines():
            f = line.split()
            if "inet" in f:
                a = f[f.index("inet") + 1].split("/")[0].split(".")
                if a[0] == "10" and a[1] == "77":
                    used.add(int(a[2]))
        start = os.getpid() % 250
        for i in range(250):
            x = (start + i) % 250 + 1
            if x not in used:
                NetNamespace._used.add(x)
                return x
        raise RuntimeError("no free 10.77.x.0/24 subnet for a test namespace")

    def create(self):
        try:
            _ip("netns", "add", self.name)
        except RuntimeError as e:
            raise RuntimeError("cannot create network namespace %s (the multi-host test needs "
                               "root with CAP_SYS_ADMIN/CAP_NET_ADMIN and iproute2): %s"
                               % (self.name, e))
        self.created = True
        atexit.register(self.destroy)
        self.subnet = self._pick_subnet()
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if,
            "netns", self.name)
        _ip("addr", "add", "%s/24" % self.host_address, "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        self.ip("addr", "add", "%s/24" % self.address, "dev", self.ns_if)
        self.ip("link", "set", self.ns_if, "up")
        self.ip("link", "set", "lo", "up")
        return self

    @property
    def host_address(self):
        """This host as the namespace reaches it."""
        return "10.77.%d.1" % self.subnet

    @property
    def address(self):
        return "10.77.%d.2" % self.subnet

    def ip(self, *args):
        return _ip("-n", self.name, *args)

    def exec_args(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def cut(self):
        """Pulls the cable: the namespace keeps running but reaches nothing."""
        _ip("link", "set", self.host_if, "down")

    def restore(self):
        _ip("link", "set", self.host_if, "up")

    def pids(self):
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                             text=True).stdout
        return [int(p) for p in out.split()]

    def destroy(self):
        if not self.created:
            return
        self.created = False
        NetNamespace._kill_inside(self.name)
        _ip("link", "del", self.host_if, check=False)
        _ip("netns", "del", self.name, check=False)
        NetNamespace._used.discard(self.subnet)
