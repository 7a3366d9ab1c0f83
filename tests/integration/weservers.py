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
    def __init__(self):
        self.binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not os.path.exists(self.binary):
            raise RuntimeError("nats-server is not installed")
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="we-nats-")
        self.proc = None

    def start(self, timeout=20):
        self.log = open(os.path.join(self.tmp, "nats.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                                      "-sd", os.path.join(self.tmp, "js")],
                                     stdout=self.log, stderr=self.log)
        atexit.register(self.stop)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
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

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port


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
