#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live ingest in cluster mode (issue 10 items 4-5): two real webencoded
kernels on one real PostgreSQL store and one real NATS server, and one
`webencode-worker --live --nats` process running the live pillar, all on
this host with the live output folder shared ([live] output_dir). A real
ffmpeg publishes over RTMP; checked: a wrong key refused through the
cluster's decision, is_live and the session seen through both kernels,
telemetry on the WebSocket of the kernel that did not decide, live HLS
served by both, the kernel that decided killed with SIGKILL while the
other goes on relaying telemetry, that kernel restarted learning from the
live worker's heartbeat that the stream is live, exactly one
stream.started webhook, then the publisher killed with SIGKILL: the
stream ends on both kernels, once (one stream.ended webhook) and its
archive job completes. Then a recording switched on through one kernel
(shown in the telemetry the other relays), and the live worker killed
with SIGKILL: after [workers] offline_ms of silence its stream ends on
both kernels, once; a new live worker joins. Last the live worker killed
and restarted at once under the same id: its old streams end all the
same."""

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wetest  # noqa: E402
import weservers  # noqa: E402
from test_live import WsEvents, ffmpeg, free_udp_port, Progress  # noqa: E402
from test_webhooks import Receiver  # noqa: E402

TF = wetest.TIME_FACTOR
IDLE_TIMEOUT_S = 2
HEARTBEAT_MS = 500
OFFLINE_MS = 2500


def nats_request(url, subject, payload, timeout=10):
    """One request over the NATS text protocol (no client library here):
    the reply's payload, or None without one in time."""
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    body = json.dumps(payload).encode()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        f = sock.makefile("rb")
        f.readline()   # INFO
        sock.sendall(b'CONNECT {"verbose":false,"headers":false}\r\n'
                     b"SUB _INBOX.lctest 1\r\n"
                     b"PUB %s _INBOX.lctest %d\r\n%s\r\n" % (subject.encode(), len(body), body))
        while True:
            line = f.readline()
            if not line:
                return None
            if line.startswith(b"PING"):
                sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                size = int(line.split()[-1])
                return f.read(size + 2)[:size]


class LiveCluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for prog in ("ffmpeg", "ffprobe"):
            if shutil.which(prog) is None:
                if os.environ.get("WE_TEST_NO_SKIP"):
                    raise RuntimeError(prog + " is required")
                raise unittest.SkipTest(prog + " is not installed")
        cls.tmp = tempfile.mkdtemp(prefix="we-live-cluster-")
        cls.live_dir = os.path.join(cls.tmp, "live")       # shared by all, as on NFS
        cls.storage = os.path.join(cls.tmp, "storage")     # shared storage-fs root
        os.makedirs(cls.storage)
        cls.nats = weservers.NatsServer().start()
        db = weservers.postgres().create_database("livecluster")
        cls.rtmp_port = wetest.free_port()
        cls.srt_port = free_udp_port()
        live_env = {
            "WE_LIVE_ENABLED": "1",
            "WE_LIVE_OUTPUT_DIR": cls.live_dir,
            "WE_LIVE_RTMP_PORT": str(cls.rtmp_port),
            "WE_LIVE_SRT_PORT": str(cls.srt_port),
            "WE_LIVE_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
            "WE_HEARTBEAT_INTERVAL_MS": str(HEARTBEAT_MS),
            "WE_WORKER_OFFLINE_MS": str(OFFLINE_MS),
        }
        cls.live_env = live_env
        env = dict(live_env)
        env.update({
            "DATABASE_URL": db,
            "NATS_URL": cls.nats.url,
            "WE_KERNEL_BEAT_S": "1",
            "WE_PLUGIN_STORAGE_FS_ROOT": cls.storage,
            "WE_LIVE_ARCHIVE_PROFILE": "480p_fast",
            "WE_WEBHOOK_BACKOFF_BASE_MS": "100",
        })
        cls.a = wetest.Daemon(workers=1, env=env)
        cls.b = wetest.Daemon(workers=1, env=env)
        cls.a.start()
        cls.b.start()

        cls.worker_log_path = os.path.join(cls.tmp, "live-worker.log")
        cls.worker_log = open(cls.worker_log_path, "ab")
        cls.start_worker()
        cls.rx = Receiver()
        r = cls.a.post("/v1/webhooks", {"url": cls.rx.url("/live"),
                                        "events": ["stream.started", "stream.ended",
                                                   "recording.ready"]})
        assert r.status == 201, r.body

    @classmethod
    def start_worker(cls):
        """The live worker: its own process, as on an ingest host."""
        wenv = dict(os.environ)
        for k in ("NATS_URL", "DATABASE_URL", "WE_CONFIG", "WE_WORKER_ID"):
            wenv.pop(k, None)
        wenv.update(cls.live_env)
        wenv.update({"WE_PLUGIN_DIR": wetest.PLUGINS, "WE_WORKER_ID": "live-ingest-1",
                     "LOG_LEVEL": "debug" if os.environ.get("WE_TEST_VERBOSE") else "info"})
        cls.worker = subprocess.Popen([wetest.WORKER, "--live", "--nats", cls.nats.url],
                                      env=wenv, stdin=subprocess.DEVNULL,
                                      stdout=cls.worker_log, stderr=cls.worker_log)
        deadline = time.time() + 30 * TF
        while True:
            try:
                socket.create_connection(("127.0.0.1", cls.rtmp_port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or cls.worker.poll() is not None:
                    raise RuntimeError("the live worker never listened\n" + cls.worker_tail())
                time.sleep(0.1)

    @classmethod
    def worker_tail(cls, n=60):
        try:
            with open(cls.worker_log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    @classmethod
    def tearDownClass(cls):
        problems = []
        if cls.worker.poll() is None:
            cls.worker.send_signal(signal.SIGTERM)
            try:
                cls.worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                cls.worker.kill()
                cls.worker.wait()
                problems.append("the live worker did not stop on SIGTERM")
        if cls.worker.returncode not in (0, None):
            problems.append("the live worker exited %s" % cls.worker.returncode)
        cls.worker_log.close()
        with open(cls.worker_log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error: "):
            if mark in text:
                problems.append("sanitizer report in the live worker's log %s"
                                % cls.worker_log_path)
        cls.rx.close()
        for d in (cls.a, cls.b):
            try:
                d.cleanup()
            except AssertionError as e:
                problems.append(str(e))
        cls.nats.stop()
        if not problems and not os.environ.get("WE_TEST_KEEP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if problems:
            raise AssertionError("\n".join(problems))

    # --- helpers ---

    def publish(self, url, seconds):
        p = ffmpeg(url, "flv", seconds, self.tmp)

        def reap():
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()
        self.addCleanup(reap)
        return p

    def stream(self, d, sid):
        r = d.get("/v1/streams/" + sid)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def wait_live(self, d, sid, live, timeout):
        deadline = time.time() + timeout * TF
        while time.time() < deadline:
            s = self.stream(d, sid)
            if s["is_live"] == live:
                return s
            time.sleep(0.1)
        self.fail("stream %s never became %s on kernel :%d\n%s\n%s"
                  % (sid, "live" if live else "offline", d.port, d.tail(30), self.worker_tail()))

    def hooks(self, event, sid):
        out = []
        for _, body in self.rx.got("/live"):
            doc = json.loads(body)
            if doc.get("event_type") == event and doc.get("data", {}).get("stream_id") == sid:
                out.append(doc)
        return out

    def wait_hook(self, event, sid, timeout=15):
        deadline = time.time() + timeout * TF
        while time.time() < deadline:
            got = self.hooks(event, sid)
            if got:
                return got[0]
            time.sleep(0.1)
        self.fail("no %s webhook for %s; got %s" % (event, sid, self.rx.got("/live")))

    def playlist(self, d, sid, min_segments=2, timeout=15):
        deadline = time.time() + timeout * TF
        while True:
            r = d.get("/v1/streams/%s/live/index.m3u8" % sid)
            segs = [l for l in r.body.decode(errors="replace").splitlines()
                    if l and not l.startswith("#")] if r.status == 200 else []
            if len(segs) >= min_segments:
                return segs
            self.assertLess(time.time(), deadline, (d.port, r.status, r.body))
            time.sleep(0.3)

    def decided(self, d):
        with open(d.log_path, "rb") as f:
            return b"deciding a rtmp publish attempt for the cluster" in f.read()

    # --- tests ---

    def test_1_wrong_key_refused(self):
        r = self.a.post("/v1/streams", {"title": "refused"})
        self.assertEqual(r.status, 201, r.body)
        sid = r.json()["id"]
        bad = "we_live_" + "B" * 32
        pub = self.publish("rtmp://127.0.0.1:%d/live/%s" % (self.rtmp_port, bad), 5)
        try:
            rc = pub.wait(timeout=20 * TF)
        except subprocess.TimeoutExpired:
            self.fail("a publisher with a wrong key was not refused")
        self.assertNotEqual(rc, 0)
        # a kernel was asked and said no (not a timeout of nobody)
        self.assertTrue(self.decided(self.a) or self.decided(self.b),
                        self.a.tail(20) + self.b.tail(20))
        self.assertFalse(self.stream(self.b, sid)["is_live"])
        self.assertEqual(self.b.get("/v1/streams/%s/stats" % sid).json()["history"], [])
        for text in (self.a.tail(2000), self.b.tail(2000), self.worker_tail(2000)):
            self.assertNotIn(bad, text)

    def test_2_publish_through_the_cluster(self):
        r = self.a.post("/v1/streams", {"title": "cluster live", "archive_enabled": True})
        self.assertEqual(r.status, 201, r.body)
        s = r.json()
        sid = s["id"]
        ws = {d.port: WsEvents(d, "stream:" + sid) for d in (self.a, self.b)}
        for w in ws.values():
            self.addCleanup(w.close)
        # what test 1 logged is not this decision
        marks = {d.port: os.path.getsize(d.log_path) for d in (self.a, self.b)}

        pub = self.publish(s["ingest"]["rtmp"]["url"], 120)
        progress = Progress(pub)
        for d in (self.a, self.b):
            live = self.wait_live(d, sid, True, 15)
            self.assertEqual(live["session"]["protocol"], "rtmp")
        # the same session through both kernels: one row in the store
        self.assertEqual(self.stream(self.a, sid)["session"]["id"],
                         self.stream(self.b, sid)["session"]["id"])

        def decided_since(d):
            with open(d.log_path, "rb") as f:
                f.seek(marks[d.port])
                return b"deciding a rtmp publish attempt for the cluster" in f.read()
        deciders = [d for d in (self.a, self.b) if decided_since(d)]
        self.assertEqual(len(deciders), 1, "exactly one kernel decides")
        decider = deciders[0]
        other = self.b if decider is self.a else self.a

        # telemetry reaches the WebSocket of the kernel that did not decide
        _, sample = ws[other.port].wait(lambda e: e.get("type") == "telemetry", 10 * TF)
        self.assertEqual(sample["stream_id"], sid)
        _, sample = ws[other.port].wait(
            lambda e: e.get("type") == "telemetry" and e.get("fps", 0) > 15, 8 * TF)
        self.assertGreater(sample["video_bitrate_kbps"], 10)
        ws[decider.port].wait(lambda e: e.get("type") == "telemetry", 5 * TF)

        # live HLS through both kernels, from the shared output folder
        for d in (self.a, self.b):
            segs = self.playlist(d, sid)
            seg = d.get("/v1/streams/%s/live/%s" % (sid, segs[-1]))
            self.assertEqual(seg.status, 200)
            self.assertEqual(seg.body[0], 0x47)  # MPEG-TS sync byte

        started = self.wait_hook("stream.started", sid)
        self.assertEqual(started["data"]["protocol"], "rtmp")
        self.assertNotIn(s["stream_key"], json.dumps(started))

        # the kernel that decided dies: the other still relays telemetry
        decider.proc.send_signal(signal.SIGKILL)
        decider.proc.wait()
        for pid in decider.worker_pids():   # its local task workers go with it
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        decider.stop()
        killed_at = time.monotonic()
        after = []
        while len(after) < 2:   # samples queued before the kill do not count
            at, _ = ws[other.port].wait(lambda e: e.get("type") == "telemetry", 5 * TF)
            if at > killed_at:
                after.append(at)
        self.assertTrue(self.stream(other, sid)["is_live"])
        self.assertTrue(self.playlist(other, sid))

        # it comes back and learns what is live from the worker's heartbeat
        ws[decider.port].close()
        decider.start()
        deadline = time.time() + 10 * TF
        while True:
            stats = decider.get("/v1/streams/%s/stats" % sid).json()
            if stats.get("telemetry"):
                break
            self.assertLess(time.time(), deadline, (stats, decider.tail(30)))
            time.sleep(0.3)
        self.assertEqual(stats["status"], "live")
        back_ws = WsEvents(decider, "stream:" + sid)
        self.addCleanup(back_ws.close)
        back_ws.wait(lambda e: e.get("type") == "telemetry", 5 * TF)
        # one session started once, whichever kernels saw it
        time.sleep(1)
        self.assertEqual(len(self.hooks("stream.started", sid)), 1,
                         self.hooks("stream.started", sid))

        # the publisher dies without a word: the stream ends everywhere
        time.sleep(1.0)
        pub.send_signal(signal.SIGKILL)
        pub.wait()
        time.sleep(0.3)
        sent = progress.sent_s
        self.assertGreater(sent, 5)
        ended = self.wait_hook("stream.ended", sid, timeout=15 + IDLE_TIMEOUT_S)
        self.assertTrue(ended["data"]["reason"], ended)
        for d in (self.a, self.b):
            off = self.wait_live(d, sid, False, 10)
            self.assertIsNone(off["session"])
        ws[other.port].wait(lambda e: e.get("type") == "stream.ended", 5 * TF)
        back_ws.wait(lambda e: e.get("type") == "stream.ended", 5 * TF)
        stats = other.get("/v1/streams/%s/stats" % sid).json()
        self.assertEqual(stats["status"], "offline")
        self.assertEqual(len(stats["history"]), 1, stats["history"])
        self.assertIsNotNone(stats["history"][0]["ended_at"])

        # archived once into a VOD job that completes
        ready = self.wait_hook("recording.ready", sid, timeout=30)
        job_id = ready["data"]["job_id"]
        self.assertAlmostEqual(ready["data"]["duration_s"], sent, delta=1.0)
        self.assertEqual(self.stream(other, sid)["archive_vod_job_id"], job_id)
        job = other.wait_job(job_id)
        self.assertEqual(job["status"], "completed", job)

        # the lifecycle messages again, as a worker whose first answer came
        # late would send them: the store knows the session, nothing repeats
        session = stats["history"][0]
        for msg in ({"type": "stream_started", "new": True}, {"type": "stream_ended",
                                                              "reason": "disconnected"}):
            msg.update({"stream_id": sid, "session_id": session["id"], "protocol": "rtmp",
                        "worker_id": "live-ingest-1", "started_at_us": 1})
            self.assertIsNotNone(nats_request(self.nats.url, "livectl.lifecycle", msg))
        time.sleep(1.5)
        self.assertEqual(len(self.hooks("stream.started", sid)), 1)
        self.assertEqual(len(self.hooks("stream.ended", sid)), 1)
        self.assertEqual(len(self.hooks("recording.ready", sid)), 1)
        again = self.stream(other, sid)
        self.assertFalse(again["is_live"])
        self.assertEqual(again["archive_vod_job_id"], job_id)
        self.assertEqual(len(other.get("/v1/streams/%s/stats" % sid).json()["history"]), 1)

    def test_3_a_dead_live_worker_ends_its_streams(self):
        r = self.b.post("/v1/streams", {"title": "worker dies", "archive_enabled": False})
        self.assertEqual(r.status, 201, r.body)
        s = r.json()
        sid = s["id"]
        self.publish(s["ingest"]["rtmp"]["url"], 60)
        for d in (self.a, self.b):
            self.wait_live(d, sid, True, 15)
        # a command reaches the worker holding the stream through any kernel:
        # the recording switched on through a shows in the telemetry b relays
        deadline = time.time() + 10 * TF
        while True:
            t = self.b.get("/v1/streams/%s/stats" % sid).json().get("telemetry") or {}
            if "recording" in t:
                break
            self.assertLess(time.time(), deadline, t)
            time.sleep(0.3)
        self.assertFalse(t["recording"], t)   # neither record nor archive_enabled
        r = self.a.post("/v1/streams/%s/recording" % sid, {"enabled": True})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"stream_id": sid, "recording": True})
        deadline = time.time() + 10 * TF
        while True:
            t = self.b.get("/v1/streams/%s/stats" % sid).json().get("telemetry") or {}
            if t.get("recording") is True:
                break
            self.assertLess(time.time(), deadline, t)
            time.sleep(0.3)
        # the ingest host is lost: no stream_ended ever comes from it
        type(self).worker.send_signal(signal.SIGKILL)
        type(self).worker.wait()
        killed_at = time.time()
        for d in (self.a, self.b):
            self.wait_live(d, sid, False, 10)
        # noticed after [workers] offline_ms of silence, not before
        self.assertGreater(time.time() - killed_at, OFFLINE_MS / 1000.0 - 0.5)
        ended = self.wait_hook("stream.ended", sid)
        self.assertEqual(ended["data"]["reason"], "the live worker exited")
        stats = self.a.get("/v1/streams/%s/stats" % sid).json()
        self.assertEqual(stats["history"][0]["end_reason"], "the live worker exited")
        time.sleep(1.5)
        self.assertEqual(len(self.hooks("stream.ended", sid)), 1, self.hooks("stream.ended", sid))
        # no live worker left in the cluster: ingest is unavailable
        r = self.a.post("/v1/streams/%s/end" % sid)
        self.assertEqual(r.status, 500, r.body)
        self.assertEqual(r.json()["error"]["code"], "WE-STR-006")
        # a new one joins (and stops cleanly at the end, leak-checked)
        type(self).start_worker()
        deadline = time.time() + 10 * TF
        while self.a.post("/v1/streams/%s/end" % sid).status != 404:
            self.assertLess(time.time(), deadline, "the new live worker was not heard")
            time.sleep(0.2)

    def test_4_a_live_worker_restarted_at_once(self):
        # back under the same id before its silence counts: the new
        # process's heartbeat says the old one's streams are gone
        r = self.a.post("/v1/streams", {"title": "worker restarts", "archive_enabled": False})
        self.assertEqual(r.status, 201, r.body)
        s = r.json()
        sid = s["id"]
        self.publish(s["ingest"]["rtmp"]["url"], 60)
        for d in (self.a, self.b):
            self.wait_live(d, sid, True, 15)
        type(self).worker.send_signal(signal.SIGKILL)
        type(self).worker.wait()
        type(self).start_worker()
        for d in (self.a, self.b):
            self.wait_live(d, sid, False, 10)
        ended = self.wait_hook("stream.ended", sid)
        self.assertEqual(ended["data"]["reason"], "the live worker exited")
        time.sleep(1.5)
        self.assertEqual(len(self.hooks("stream.ended", sid)), 1, self.hooks("stream.ended", sid))


if __name__ == "__main__":
    wetest.main()
