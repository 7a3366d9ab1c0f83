#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live streaming end to end (issue 10 items 4-7): a real webencoded runs
its live worker (webencode-worker --live with the live-gst module), real
ffmpeg publishers push RTMP and SRT with the credentials POST /v1/streams
returned, a real HTTP receiver gets the webhooks and the WebSocket client
follows stream:<id>. Checked: is_live and the session in the store, the
stream.started / stream.ended / recording.ready webhooks, the first
telemetry sample within 2 s of the start, live HLS through the API with
its playlist advancing and its cache headers, path traversal refused, a
wrong key and a wrong SRT passphrase refused, a publisher killed with
SIGKILL giving a recording as long as what it sent (±1 s) and an archive
job that completes, a reconnect with the same key within the idle timeout
continuing the session, and POST /v1/streams/{id}/end and /archive."""

import glob
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wetest  # noqa: E402
from test_webhooks import Receiver  # noqa: E402
from wsclient import WsClient, Closed  # noqa: E402

TF = wetest.TIME_FACTOR
IDLE_TIMEOUT_S = 2


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ffmpeg(url, fmt, seconds, tmp):
    """A real publisher: 320x240 test pattern at 25 fps with a keyframe
    every second and a 440 Hz tone, sent in real time; -progress reports
    how much has been sent."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
           "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-progress", "pipe:1", "-stats_period", "0.2",
           "-f", fmt, url]
    env = dict(os.environ)
    env["HOME"] = tmp
    # an ASan build's preload must not reach ffmpeg
    env.pop("LD_PRELOAD", None)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


class Progress:
    """Follows ffmpeg's -progress lines: the media time sent so far."""

    def __init__(self, proc):
        self.sent_s = 0.0
        self.proc = proc
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("out_time_us="):
                try:
                    self.sent_s = max(self.sent_s, int(line.split("=", 1)[1]) / 1e6)
                except ValueError:
                    pass


class WsEvents:
    """A WebSocket client following one topic in a thread: (monotonic
    time, data) of every event."""

    def __init__(self, d, topic):
        r = d.post("/v1/ws/ticket")
        assert r.status == 201, r.body
        self.ws = WsClient(d.port, "/v1/ws?ticket=" + r.json()["ticket"])
        hello = self.ws.recv()
        assert hello["type"] == "hello", hello
        self.ws.send_json({"type": "subscribe", "topic": topic, "id": "s"})
        ack = self.ws.recv()
        assert ack == {"type": "subscribed", "topic": topic, "id": "s"}, ack
        self.events = queue.Queue()
        self.all = []
        self.stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.stop:
            try:
                msg = self.ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except (Closed, OSError):
                return
            if msg.get("type") == "event":
                item = (time.monotonic(), msg["data"])
                self.all.append(item)
                self.events.put(item)

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching event in %.1fs; got %s" %
                                     (timeout, [e for _, e in self.all][-5:]))
            try:
                at, data = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if pred(data):
                return at, data

    def close(self):
        self.stop = True
        self.thread.join(timeout=2)
        try:
            self.ws.close()
        except OSError:
            pass


class Live(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        for prog in ("ffmpeg", "ffprobe"):
            if shutil.which(prog) is None:
                if os.environ.get("WE_TEST_NO_SKIP"):
                    raise RuntimeError(prog + " is required")
                raise unittest.SkipTest(prog + " is not installed")
        cls.rtmp_port = wetest.free_port()
        cls.srt_port = free_udp_port()
        cls.rx = Receiver()
        cls.d = wetest.Daemon(workers=1, env={
            "WE_LIVE_ENABLED": "1",
            "WE_LIVE_RTMP_PORT": str(cls.rtmp_port),
            "WE_LIVE_SRT_PORT": str(cls.srt_port),
            "WE_LIVE_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
            "WE_LIVE_ARCHIVE_PROFILE": "480p_fast",
            "WE_WEBHOOK_BACKOFF_BASE_MS": "100",
        })
        cls.d.start()
        # the live worker binds its ports a moment after the API is up
        deadline = time.time() + 20 * TF
        while True:
            try:
                socket.create_connection(("127.0.0.1", cls.rtmp_port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("the RTMP port never opened\n" + cls.d.tail())
                time.sleep(0.1)
        r = cls.d.post("/v1/webhooks", {"url": cls.rx.url("/live"),
                                        "events": ["stream.started", "stream.ended",
                                                   "recording.ready"]})
        assert r.status == 201, r.body

    @classmethod
    def tearDownClass(cls):
        cls.rx.close()
        super().tearDownClass()

    # --- helpers ---

    def setUp(self):
        self.tmp = os.path.join(self.d.tmp, "pub-" + self._testMethodName)
        os.makedirs(self.tmp, exist_ok=True)

    def publish(self, url, fmt, seconds):
        p = ffmpeg(url, fmt, seconds, self.tmp)

        def reap():
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()
        self.addCleanup(reap)
        return p

    def create(self, **extra):
        body = {"title": "live test " + self._testMethodName}
        body.update(extra)
        r = self.d.post("/v1/streams", body)
        self.assertEqual(r.status, 201, r.body)
        return r.json()

    def stream(self, sid):
        r = self.d.get("/v1/streams/" + sid)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def wait_live(self, sid, live, timeout):
        deadline = time.time() + timeout * TF
        while time.time() < deadline:
            s = self.stream(sid)
            if s["is_live"] == live:
                return s
            time.sleep(0.1)
        self.fail("stream %s never became %s\n%s" % (sid, "live" if live else "offline",
                                                      self.d.tail(30)))

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

    def live_get(self, sid, name):
        return self.d.get("/v1/streams/%s/live/%s" % (sid, name))

    # --- tests ---

    def test_rtmp_session_telemetry_hls_kill_and_archive(self):
        s = self.create()
        sid = s["id"]
        ws = WsEvents(self.d, "stream:" + sid)
        self.addCleanup(ws.close)
        self.assertEqual(s["ingest"]["rtmp"]["url"],
                         "rtmp://127.0.0.1:%d/live/%s" % (self.rtmp_port, s["stream_key"]))
        pub = self.publish(s["ingest"]["rtmp"]["url"], "flv", 120)
        progress = Progress(pub)

        live = self.wait_live(sid, True, 15)
        self.assertEqual(live["session"]["protocol"], "rtmp")
        self.assertIsNone(live["session"]["ended_at"])
        hook = self.wait_hook("stream.started", sid)
        self.assertEqual(hook["data"]["protocol"], "rtmp")
        self.assertNotIn(s["stream_key"], json.dumps(hook))
        self.assertNotIn(s["stream_key"], self.d.tail(5000))

        # the first telemetry sample within 2 s of the start
        started_at, started = ws.wait(lambda e: e.get("type") == "stream.started", 10 * TF)
        self.assertEqual(started["stream_id"], sid)
        at, sample = ws.wait(lambda e: e.get("type") == "telemetry", 5 * TF)
        self.assertLessEqual(at - started_at, 2.0 * TF, sample)
        for k in ("video_bitrate_kbps", "audio_bitrate_kbps", "fps", "time"):
            self.assertIn(k, sample)
        self.assertEqual(sample["stream_id"], sid)
        # 1 Hz, with real figures once the publisher is running
        _, later = ws.wait(lambda e: e.get("type") == "telemetry" and e["fps"] > 15, 6 * TF)
        self.assertGreater(later["video_bitrate_kbps"], 10)
        self.assertGreater(later["audio_bitrate_kbps"], 10)

        # live HLS through the API, advancing
        deadline = time.time() + 15 * TF
        while True:
            r = self.live_get(sid, "index.m3u8")
            segs = [l for l in r.body.decode(errors="replace").splitlines()
                    if l and not l.startswith("#")] if r.status == 200 else []
            if len(segs) >= 2:
                break
            self.assertLess(time.time(), deadline, (r.status, r.body))
            time.sleep(0.3)
        self.assertEqual(r.headers.get("cache-control"), "no-cache")
        self.assertEqual(r.headers.get("content-type"), "application/vnd.apple.mpegurl")
        first_last = segs[-1]
        seg = self.live_get(sid, segs[-1])
        self.assertEqual(seg.status, 200)
        self.assertEqual(seg.headers.get("content-type"), "video/mp2t")
        self.assertIn("max-age", seg.headers.get("cache-control"))
        self.assertEqual(seg.body[0], 0x47)  # MPEG-TS sync byte
        deadline = time.time() + 10 * TF
        while True:
            time.sleep(0.5)
            r = self.live_get(sid, "index.m3u8")
            segs = [l for l in r.body.decode().splitlines() if l and not l.startswith("#")]
            if segs and segs[-1] != first_last:
                break
            self.assertLess(time.time(), deadline, "the live playlist does not advance")
        # nothing outside the stream's live folder
        for bad in ("..%2F..%2F..%2Fwebencode.db", "..%2Frec", "index.m3u8.bak", ".m3u8",
                    "index%00.m3u8", "a%2Fb.ts"):
            r = self.live_get(sid, bad)
            # an encoded "/" or ".." is refused before routing (400)
            self.assertIn(r.status, (400, 404), (bad, r.status, r.body))
            if r.status == 404:  # ours, or no route for the extra segment
                self.assertIn(r.json()["error"]["code"], ("WE-STR-002", "WE-SYS-404"))
        self.assertIn(self.d.get("/v1/streams/..%2F..%2Fdata/live/index.m3u8").status,
                      (400, 404))

        stats = self.d.get("/v1/streams/%s/stats" % sid).json()
        self.assertEqual(stats["status"], "live")
        self.assertIsNotNone(stats["telemetry"])
        self.assertGreaterEqual(len(stats["telemetry_history"]), 2)

        # the publisher dies without a word
        time.sleep(1.0)
        pub.send_signal(signal.SIGKILL)
        pub.wait()
        time.sleep(0.3)
        sent = progress.sent_s
        self.assertGreater(sent, 3)
        ended = self.wait_hook("stream.ended", sid, timeout=15 + IDLE_TIMEOUT_S)
        self.assertTrue(ended["data"]["reason"], ended)
        off = self.wait_live(sid, False, 10)
        self.assertIsNone(off["session"])
        stats = self.d.get("/v1/streams/%s/stats" % sid).json()
        self.assertEqual(stats["status"], "offline")
        self.assertEqual(stats["history"][0]["protocol"], "rtmp")
        self.assertIsNotNone(stats["history"][0]["ended_at"])
        self.assertTrue(stats["history"][0]["end_reason"])
        ws.wait(lambda e: e.get("type") == "stream.ended", 5 * TF)

        # the recording holds what was sent
        recs = glob.glob(os.path.join(self.d.tmp, "data", "live", sid, "rec", "*",
                                      "recording.json"))
        self.assertEqual(len(recs), 1, recs)
        with open(recs[0]) as f:
            rec = json.load(f)
        self.assertTrue(rec["complete"], rec)
        self.assertAlmostEqual(rec["duration_s"], sent, delta=1.0)

        # archived into a VOD job that completes
        ready = self.wait_hook("recording.ready", sid, timeout=30)
        job_id = ready["data"]["job_id"]
        self.assertAlmostEqual(ready["data"]["duration_s"], sent, delta=1.0)
        self.assertEqual(self.stream(sid)["archive_vod_job_id"], job_id)
        job = self.d.wait_job(job_id)
        self.assertEqual(job["status"], "completed", job)
        joined = self.d.stored_path(ready["data"]["source_url"])
        out = subprocess.run(["ffprobe", "-v", "quiet", "-show_entries", "format=duration",
                              "-of", "json", joined], capture_output=True, text=True)
        self.assertAlmostEqual(float(json.loads(out.stdout)["format"]["duration"]), sent,
                               delta=1.0)

    def test_wrong_key_refused(self):
        s = self.create()
        bad = "we_live_" + "A" * 32
        url = "rtmp://127.0.0.1:%d/live/%s" % (self.rtmp_port, bad)
        pub = self.publish(url, "flv", 5)
        try:
            rc = pub.wait(timeout=20 * TF)
        except subprocess.TimeoutExpired:
            self.fail("a publisher with a wrong key was not refused")
        self.assertNotEqual(rc, 0)
        self.assertFalse(self.stream(s["id"])["is_live"])
        self.assertEqual(self.d.get("/v1/streams/%s/stats" % s["id"]).json()["history"], [])
        self.assertNotIn(bad, self.d.tail(400))

    def test_srt_with_passphrase(self):
        s = self.create(archive_enabled=False)
        sid = s["id"]
        srt = s["ingest"]["srt"]
        # a wrong passphrase: libsrt refuses the handshake
        wrong = srt["url"].replace(srt["passphrase"], "x" * 32)
        p = self.publish(wrong + "&pkt_size=1316&connect_timeout=3000", "mpegts", 3)
        try:
            p.wait(timeout=20 * TF)
        except subprocess.TimeoutExpired:
            self.fail("a publisher with a wrong passphrase was not refused")
        self.assertFalse(self.stream(sid)["is_live"])

        pub = self.publish(srt["url"] + "&pkt_size=1316", "mpegts", 4)
        live = self.wait_live(sid, True, 15)
        self.assertEqual(live["session"]["protocol"], "srt")
        self.wait_hook("stream.started", sid)
        pub.wait(timeout=30 * TF)
        self.wait_hook("stream.ended", sid, timeout=15 + IDLE_TIMEOUT_S)
        self.wait_live(sid, False, 10)
        stats = self.d.get("/v1/streams/%s/stats" % sid).json()
        self.assertEqual([h["protocol"] for h in stats["history"]], ["srt"])
        self.assertEqual(self.stream(sid)["archive_vod_job_id"], None)
        # the passphrase crossed the worker's pipe, never the log
        self.assertNotIn(srt["passphrase"], self.d.tail(5000))

    def test_same_key_reconnect_continues_the_session(self):
        s = self.create(archive_enabled=False)
        sid = s["id"]
        ws = WsEvents(self.d, "stream:" + sid)
        self.addCleanup(ws.close)
        first = self.publish(s["ingest"]["rtmp"]["url"], "flv", 120)
        ws.wait(lambda e: e.get("type") == "telemetry", 10 * TF)
        session = self.stream(sid)["session"]["id"]
        first.send_signal(signal.SIGKILL)
        first.wait()
        # back within the idle timeout: the same session goes on
        self.publish(s["ingest"]["rtmp"]["url"], "flv", 120)
        _, again = ws.wait(lambda e: e.get("type") == "stream.started", 10 * TF)
        self.assertTrue(again.get("takeover"), again)
        self.assertEqual(again["session_id"], session)
        ws.wait(lambda e: e.get("type") == "telemetry", 10 * TF)
        self.assertTrue(self.stream(sid)["is_live"])
        self.assertEqual(self.stream(sid)["session"]["id"], session)
        self.assertEqual(self.d.post("/v1/streams/%s/end" % sid).status, 202)
        self.wait_live(sid, False, 15)
        stats = self.d.get("/v1/streams/%s/stats" % sid).json()
        self.assertEqual([h["id"] for h in stats["history"]], [session])
        self.wait_hook("stream.ended", sid)
        self.assertEqual(len(self.hooks("stream.started", sid)), 1)
        self.assertEqual(len(self.hooks("stream.ended", sid)), 1)

    def test_rotate_key_ends_the_publish(self):
        s = self.create(archive_enabled=False)
        sid = s["id"]
        self.publish(s["ingest"]["rtmp"]["url"], "flv", 120)
        self.wait_live(sid, True, 15)
        r = self.d.post("/v1/streams/%s/rotate-key" % sid)
        self.assertEqual(r.status, 200, r.body)
        ended = self.wait_hook("stream.ended", sid, timeout=15)
        self.assertEqual(ended["data"]["reason"], "stopped")
        self.wait_live(sid, False, 5)
        # the old key no longer publishes
        old = self.publish(s["ingest"]["rtmp"]["url"], "flv", 5)
        self.assertNotEqual(old.wait(timeout=20 * TF), 0)
        self.assertFalse(self.stream(sid)["is_live"])

    def live_worker_pid(self):
        out = subprocess.run(["pgrep", "-P", str(self.d.proc.pid), "-f",
                              "webencode-worker --live"], capture_output=True, text=True).stdout
        pids = [int(p) for p in out.split()]
        self.assertEqual(len(pids), 1, pids)
        return pids[0]

    def test_worker_crash_ends_sessions_and_restarts(self):
        s = self.create(archive_enabled=False)
        sid = s["id"]
        self.publish(s["ingest"]["rtmp"]["url"], "flv", 120)
        self.wait_live(sid, True, 15)
        old = self.live_worker_pid()
        os.kill(old, signal.SIGKILL)
        ended = self.wait_hook("stream.ended", sid, timeout=10)
        self.assertEqual(ended["data"]["reason"], "the live worker exited")
        self.wait_live(sid, False, 5)
        # a new worker within a few seconds, and publishing works again
        deadline = time.time() + 15 * TF
        while True:
            out = subprocess.run(["pgrep", "-P", str(self.d.proc.pid), "-f",
                                  "webencode-worker --live"], capture_output=True,
                                 text=True).stdout.split()
            if out and int(out[0]) != old:
                try:
                    socket.create_connection(("127.0.0.1", self.rtmp_port), timeout=1).close()
                    break
                except OSError:
                    pass
            self.assertLess(time.time(), deadline, "the live worker was not restarted")
            time.sleep(0.2)
        self.publish(s["ingest"]["rtmp"]["url"], "flv", 120)
        self.wait_live(sid, True, 15)
        self.assertEqual(self.d.post("/v1/streams/%s/end" % sid).status, 202)
        self.wait_live(sid, False, 15)

    def test_end_via_api(self):
        s = self.create(archive_enabled=False)
        sid = s["id"]
        # not live: nothing to end
        r = self.d.post("/v1/streams/%s/end" % sid)
        self.assertError(r, 404, "WE-STR-002")
        self.assertError(self.d.post("/v1/streams/no-such-stream/end"), 404, "WE-STR-002")
        pub = self.publish(s["ingest"]["rtmp"]["url"], "flv", 120)
        self.wait_live(sid, True, 15)
        # media flowing (a sample is a second of it), and a bit to record
        deadline = time.time() + 10 * TF
        while self.d.get("/v1/streams/%s/stats" % sid).json()["telemetry"] is None:
            self.assertLess(time.time(), deadline, "no telemetry")
            time.sleep(0.2)
        time.sleep(2)
        r = self.d.post("/v1/streams/%s/end" % sid)
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json()["status"], "ending")
        ended = self.wait_hook("stream.ended", sid, timeout=15)
        self.assertEqual(ended["data"]["reason"], "stopped")
        self.wait_live(sid, False, 10)
        stats = self.d.get("/v1/streams/%s/stats" % sid).json()
        self.assertEqual(stats["history"][0]["end_reason"], "stopped")
        # an archive on demand of that recording
        r = self.d.post("/v1/streams/%s/archive" % sid)
        self.assertEqual(r.status, 202, r.body)
        job_id = r.json()["archive_vod_job_id"]
        self.assertEqual(self.stream(sid)["archive_vod_job_id"], job_id)
        self.wait_hook("recording.ready", sid, timeout=15)
        self.assertEqual(self.d.wait_job(job_id)["status"], "completed")
        pub.kill()


if __name__ == "__main__":
    wetest.main()
