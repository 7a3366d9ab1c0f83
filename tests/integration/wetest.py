# SPDX-License-Identifier: LGPL-2.1-or-later
"""Harness for the integration tests: a real webencoded from the build tree
with its real workers, plugins and SQLite store in a temporary directory,
and media generated with tests/media/make-clip."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

BUILD = os.environ.get("WE_BUILD_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.environ.get("WE_SOURCE_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
DAEMON = os.path.join(BUILD, "src", "daemon", "webencoded")
WORKER = os.path.join(BUILD, "src", "worker", "webencode-worker")
PLUGINS = os.path.join(BUILD, "plugins")
MAKE_CLIP = os.path.join(SOURCE, "tests", "media", "make-clip")
# sanitizer builds run several times slower: latency bounds scale with this
TIME_FACTOR = float(os.environ.get("WE_TEST_TIME_FACTOR") or "1")
# WE_TEST_CLUSTER=1 runs the same tests on the cluster mode's parts: every
# daemon gets its own database on a real PostgreSQL server and its own NATS
# JetStream server (weservers.py)
CLUSTER = bool(os.environ.get("WE_TEST_CLUSTER"))
# WE_TEST_CLUSTER=pg,nats also sends every task over NATS JetStream
CLUSTER_NATS = "nats" in (os.environ.get("WE_TEST_CLUSTER") or "")
# WE_TEST_CLUSTER=pg,nats,s3 also keeps uploads and outputs in S3 (s3rver)
CLUSTER_S3 = "s3" in (os.environ.get("WE_TEST_CLUSTER") or "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_clip(path, **kw):
    args = [sys.executable, MAKE_CLIP, path]
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            args.append(flag)
        elif v is not False and v is not None:
            args += [flag, str(v)]
    subprocess.run(args, check=True, timeout=300)
    return path


def parse_time(stamp):
    """Unix seconds of an API timestamp like 2026-11-23T14:53:38.591Z."""
    import datetime
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def probe(path):
    """ffprobe as an independent check of what we produced."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-count_frames",
         "-of", "json", path], check=True, capture_output=True, text=True, timeout=120).stdout
    return json.loads(out)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode())


class Daemon:
    def __init__(self, workers=2, env=None, data_dir=None, config=None):
        self.tmp = data_dir or tempfile.mkdtemp(prefix="we-it-")
        self.port = free_port()
        self.workers = workers
        self.extra_env = env or {}
        self.config = config
        self.database_url = None
        self.nats = None
        self.s3 = None
        self.proc = None
        self.log_path = os.path.join(self.tmp, "webencoded.log")
        self.media = os.path.join(self.tmp, "media")
        os.makedirs(self.media, exist_ok=True)
        self.tls_context = None  # an ssl.SSLContext: talk HTTPS to a TLS-configured daemon

    def env(self):
        env = dict(os.environ)
        env.update({
            "KERNEL_PORT": str(self.port),
            "WE_DATA_DIR": os.path.join(self.tmp, "data"),
            "WE_PLUGIN_DIR": PLUGINS,
            "WE_WORKER_BINARY": WORKER,
            "WE_WORKERS": str(self.workers),
            "WE_PLUGIN_STORAGE_FS_BROWSE_ROOTS": self.media,
            "WE_RETRY_BASE_MS": "300",
            # tests refuse many bad credentials on purpose from one address;
            # test_rbac.py checks the limiter with its own, low setting
            "WE_LOGIN_MAX_FAILURES": "100000",
            # the live worker binds fixed ingest ports: only the tests of live
            # streaming (test_live.py) turn it on, with ports of their own
            "WE_LIVE_ENABLED": "0",
            "LOG_LEVEL": "debug" if os.environ.get("WE_TEST_VERBOSE") else "info",
        })
        if CLUSTER and "DATABASE_URL" not in self.extra_env:
            import weservers
            if self.database_url is None:
                self.database_url = weservers.postgres().create_database()
            env["DATABASE_URL"] = self.database_url
            # tasks go over NATS JetStream to `webencode-worker --nats` processes
            # (started by the kernel here, so the tests can find and kill them);
            # each daemon gets its own server, since streams are shared by name
            if CLUSTER_NATS:
                if self.nats is None:
                    self.nats = weservers.NatsServer().start()
                env["NATS_URL"] = self.nats.url
            # uploads and outputs go to S3, so media reaches the workers only
            # through the storage pillar
            if CLUSTER_S3:
                if self.s3 is None:
                    self.s3 = weservers.S3Server().start()
                env.update(self.s3.plugin_env())
                env["WE_STORAGE_DEFAULT"] = "storage-s3"
        env.update(self.extra_env)
        return env

    def start(self, timeout=30, require_worker=True):
        args = [DAEMON]
        if self.config:
            args += ["--config", self.config]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, env=self.env(), stdout=subprocess.PIPE,
                                     stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.proc.wait(timeout=10)
            raise RuntimeError("webencoded did not start: %r\n%s" % (line, self.tail()))
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                h = self.get("/health").json()
                if h["workers"]["free"] >= 1 or not require_worker:
                    return self
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise RuntimeError("webencoded has no ready worker\n" + self.tail())

    def tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc.stdout.close()
        self.log.close()
        self.proc = None
        return rc

    def sanitizer_reports(self):
        """The AddressSanitizer, LeakSanitizer and UBSan reports in this
        daemon's log, which its local workers write to as well."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return []
        marks = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error: ")
        lines = text.splitlines()
        return ["\n".join(lines[i:i + 25]) for i, line in enumerate(lines)
                if any(m in line for m in marks)]

    def cleanup(self):
        self.stop()
        # a sanitizer report from the daemon or a worker fails the test
        # that ran them, whatever the test itself checked
        reports = self.sanitizer_reports()
        if self.nats is not None:
            self.nats.stop()
        if self.s3 is not None:
            self.s3.stop()
        if not os.environ.get("WE_TEST_KEEP") and not reports:  # kept to be read
            shutil.rmtree(self.tmp, ignore_errors=True)
        if reports:
            raise AssertionError("sanitizer report(s) in %s:\n%s" % (self.log_path, reports[0]))

    def sql(self, query):
        """Rows of @query on this daemon's store (SQLite file or PostgreSQL);
        PostgreSQL hands every value back as text."""
        if self.database_url is not None or "DATABASE_URL" in self.extra_env:
            import weservers
            url = self.extra_env.get("DATABASE_URL") or self.database_url
            out = subprocess.run(
                [os.path.join(weservers._pg_bindir(), "psql"), "-X", "-A", "-t", "-q",
                 "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-c", query, url],
                check=True, capture_output=True, text=True, timeout=60).stdout
            return [tuple(line.split("\x1f")) for line in out.splitlines() if line]
        import sqlite3
        with sqlite3.connect(os.path.join(self.tmp, "data", "webencode.db")) as conn:
            return conn.execute(query).fetchall()

    def nats_mode(self):
        return "NATS_URL" in self.extra_env or (CLUSTER_NATS and "DATABASE_URL" not in
                                                self.extra_env)

    def worker_id(self, n):
        """The API's id of the @n-th worker the kernel started: local-N, or
        over NATS <kernel id as a subject token>-local-N, the kernel id
        being host:port unless WE_KERNEL_ID says otherwise."""
        if not self.nats_mode():
            return "local-%d" % n
        import re
        kernel = self.extra_env.get("WE_KERNEL_ID") or "%s:%d" % (socket.gethostname(), self.port)
        kernel = re.sub(r"[.*>\s]", "_", kernel)
        return "%s-local-%d" % (re.sub(r"[^A-Za-z0-9_-]", "-", kernel), n)

    def worker_store_id(self, n):
        """The same worker's id in the store's workers table."""
        if not self.nats_mode():
            return "%s/local-%d" % (socket.gethostname(), n)
        return self.worker_id(n)

    def stored_path(self, url):
        """Where the object behind a storage URL of ours lies on this host:
        storage-fs keeps it under the data directory, s3rver under its own
        (bucket/key._S3rver_object); a test reads it there to check what was
        stored without going through the service."""
        parsed = urllib.parse.urlsplit(url)
        key = urllib.parse.unquote(parsed.path.lstrip("/"))
        if parsed.scheme == "fs":
            return os.path.join(self.tmp, "data", "storage",
                                urllib.parse.unquote(parsed.netloc), key)
        if parsed.scheme == "s3" and self.s3 is not None:
            head, _, name = key.rpartition("/")
            return os.path.join(self.s3.tmp, "objects", parsed.netloc, head,
                                name + "._S3rver_object")
        raise ValueError("no local path for %s" % url)

    def stored_dir(self, prefix):
        """The folder on this host holding the default storage's objects
        under @prefix (a key prefix such as outputs/<job id>)."""
        if self.s3 is not None:
            return os.path.join(self.s3.tmp, "objects", self.s3.bucket, prefix)
        return os.path.join(self.tmp, "data", "storage", prefix)

    def read_stored(self, url):
        with open(self.stored_path(url), "rb") as f:
            return f.read()

    def upload_prefix(self):
        """The URL prefix of uploads: the default storage's scheme."""
        return "s3://%s/uploads/" % self.s3.bucket if self.s3 is not None else "fs://uploads/"

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-f", "webencode-worker"],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    # --- HTTP ---
    def request(self, method, path, body=None, headers=None, timeout=60):
        if self.tls_context is not None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.tls_context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def upload(self, path, filename=None, headers=None, query=None):
        q = {"filename": filename or os.path.basename(path)}
        q.update(query or {})
        with open(path, "rb") as f:
            data = f.read()
        h = {"Content-Type": "application/octet-stream"}
        h.update(headers or {})
        return self.post("/v1/files/upload?" + urllib.parse.urlencode(q), body=data, headers=h)

    def submit(self, source_url, profile, expect=201, **extra):
        body = {"source_url": source_url, "profile": profile}
        body.update(extra)
        r = self.post("/v1/jobs", body)
        if r.status != expect:
            raise AssertionError("submit: %d %s\n%s" % (r.status, r.body, self.tail(20)))
        return r.json()

    def wait_job(self, job_id, statuses=("completed", "failed", "cancelled"), timeout=240):
        deadline = time.time() + timeout
        job = None
        while time.time() < deadline:
            job = self.get("/v1/jobs/" + job_id).json()
            if job["status"] in statuses:
                return job
            time.sleep(0.2)
        raise AssertionError("job %s still %s after %ds\n%s" % (
            job_id, job and job["status"], timeout, self.tail()))

    def download(self, job_id, dest_dir):
        outs = self.get("/v1/jobs/%s/outputs" % job_id).json()["outputs"]
        paths = []
        for o in outs:
            u = urllib.parse.urlparse(o["download_url"])
            r = self.get(u.path)
            assert r.status == 200, (r.status, r.body[:200])
            p = os.path.join(dest_dir, o["name"])
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(r.body)
            paths.append((o, p))
        return paths


class DaemonTestCase(unittest.TestCase):
    workers = 2
    daemon_env = None

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(workers=cls.workers, env=cls.daemon_env)
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def wait_idle(self, timeout=30):
        """Waits until every worker slot is free, so a test does not plan
        around the tail of the one before it."""
        deadline = time.time() + timeout
        while True:
            workers = self.d.get("/health").json()["workers"]
            if workers["free"] >= self.workers:
                return
            self.assertLess(time.time(), deadline, workers)
            time.sleep(0.05)

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r.body)
        err = r.json()["error"]
        self.assertEqual(err["code"], code, err)
        for k in ("message", "details", "request_id", "timestamp", "docs_url"):
            self.assertIn(k, err)
        self.assertEqual(err["request_id"], r.headers.get("x-request-id"))
        return err


def main():
    unittest.main(verbosity=2)
