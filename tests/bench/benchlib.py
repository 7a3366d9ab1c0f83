# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the benchmark scripts share: paths, logging, a free port, the REST
client, API timestamps, an embedded webencoded from the build directory and
the wait for a job. Python standard library only."""

import datetime
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
MAKE_CLIP = os.path.join(SOURCE_ROOT, "tests", "media", "make-clip")
SKIP = 77  # meson's "skipped"


class BenchError(Exception):
    pass


def log(msg):
    # flushed at once: meson shows a benchmark's output as it runs
    print(msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base, method, path, body=None, timeout=30):
    """A JSON request to webencoded; an HTTP error becomes a BenchError
    carrying the error envelope."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raise BenchError("%s %s: HTTP %d: %s" % (method, path, e.code,
                                                  e.read().decode(errors="replace")))
    return json.loads(raw) if raw else None


def ts(text):
    """Unix seconds of an API timestamp."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Daemon:
    """A real webencoded from the build directory in embedded mode, on a free
    port, with its data and storage-fs root in @tmp; @workers worker slots
    (0: one per core); @extra_env overrides the environment (e.g. the live
    benchmark turns WE_LIVE_ENABLED on with ports of its own)."""

    def __init__(self, build, tmp, workers=0, extra_env=None):
        self.exe = os.path.join(build, "src", "daemon", "webencoded")
        if not os.access(self.exe, os.X_OK):
            raise BenchError("%s is not built (see --build)" % self.exe)
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(tmp, "webencoded.log")
        self.storage_root = os.path.join(tmp, "storage")
        env = dict(os.environ)
        env.update({
            "WE_DATA_DIR": os.path.join(tmp, "data"),
            "KERNEL_PORT": str(self.port),
            "KERNEL_HOST": "127.0.0.1",
            "WE_PLUGIN_DIR": os.path.join(build, "plugins"),
            "WE_WORKER_BINARY": os.path.join(build, "src", "worker", "webencode-worker"),
            "WE_PLUGIN_STORAGE_FS_ROOT": self.storage_root,
            "WE_PLUGIN_STORAGE_FS_BROWSE_ROOTS": tmp,
            # VOD benchmarks: no live worker on the fixed ingest ports
            "WE_LIVE_ENABLED": "0",
        })
        if workers:
            env["WE_WORKERS"] = str(workers)
        env.update(extra_env or {})
        env.pop("WE_CONFIG", None)
        env.pop("DATABASE_URL", None)
        env.pop("NATS_URL", None)
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.exe], env=env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("webencoded exited with %d:\n%s" % (self.proc.returncode,
                                                                      self.log_tail()))
            try:
                health = api(self.base, "GET", "/health", timeout=2)
                if health and health.get("status") == "ok":
                    return health
            except (OSError, BenchError, ValueError):
                pass
            time.sleep(0.1)
        raise BenchError("webencoded did not answer /health within %d s:\n%s"
                         % (timeout, self.log_tail()))

    def fs_path(self, url):
        """The file behind a storage-fs URL (fs://key, percent-encoded), or
        None for any other scheme."""
        if not url or not url.startswith("fs://"):
            return None
        return os.path.join(self.storage_root, urllib.parse.unquote(url[len("fs://"):]))

    def log_tail(self, lines=30, requests=True):
        """The log's last @lines lines; without @requests, less the access
        log of the API (a benchmark's polling buries everything else)."""
        self.log_file.flush()
        with open(self.log_path, "rb") as f:
            text = f.read().splitlines()
        if not requests:
            text = [l for l in text
                    if not (b'"level":"info"' in l and b'"domain":"WeApi"' in l)]
        return b"\n".join(text[-lines:]).decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


def wait_job(daemon, jid, t0, timeout, label="webencode"):
    """Polls the job every 0.1 s until it ends, logging each status and
    10 % step; returns its last JSON. A job that ends other than completed
    is a BenchError carrying its error."""
    last = None
    while True:
        job = api(daemon.base, "GET", "/v1/jobs/" + jid)
        status = job.get("status")
        if status in ("completed", "failed", "cancelled"):
            break
        if time.monotonic() - t0 > timeout:
            raise BenchError("job %s still %s after %d s" % (jid, status, timeout))
        pct = int(job.get("progress_pct") or 0) // 10 * 10
        if (status, pct) != last:
            log("  %s: %-10s %3d%%  (%.1f s)" % (label, status, pct, time.monotonic() - t0))
            last = (status, pct)
        time.sleep(0.1)
    if status != "completed":
        raise BenchError("job %s %s: %s: %s" % (jid, status, job.get("error_code"),
                                                job.get("error_message")))
    return job
