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
continuing the session, and POST /v1/streams/{id}/end and /archive; the
recording switched off and on at run time (POST …/recording) and archived
as what was recorded, bytes_in and late frames moving (a publisher that
stalls), viewers counted from playlist fetches of distinct clients, the
telemetry history kept in the store across a restart of the service, live
ABR from a ladder profile (master playlist, every rendition advancing with
aligned segments) at low latency, and a deleted stream's files gone."""

import http.client

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

    def __init__(self, d, topic, headers=None):
        r = d.post("/v1/ws/ticket", headers=headers)
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

    def get_from(self, source_ip, path):
        """A request from another loopback address: another client."""
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30,
                                          source_address=(source_ip, 0))
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return r.status, body

    def wait_sample(self, ws, pred, timeout):
        return ws.wait(lambda e: e.get("type") == "telemetry" and pred(e), timeout * TF)[1]

    def test_recording_switch_abr_viewers_and_history(self):
        # a ladder of three rungs; the 640x360 one would upscale the 320x240
        # source and is left out
        ladder = [{"name": "r180", "width": 256, "height": 180, "video_bitrate_kbps": 300},
                  {"name": "r90-low", "width": 160, "height": 90, "video_bitrate_kbps": 120},
                  {"name": "r360", "width": 640, "height": 360, "video_bitrate_kbps": 900}]
        r = self.d.post("/v1/profiles", {"id": "live_ladder", "container": "mp4",
                                         "video_codec": "h264", "preset": "ultrafast",
                                         "ladder": ladder})
        self.assertEqual(r.status, 201, r.body)
        s = self.create(archive_enabled=False, record=False, latency_mode="low",
                        ladder="live_ladder")
        sid = s["id"]
        self.assertError(self.d.post("/v1/streams/%s/recording" % sid, {"enabled": True}),
                         404, "WE-STR-002")
        self.assertError(self.d.post("/v1/streams/%s/recording" % sid, {"enabled": "yes"}),
                         400, "WE-STR-001")
        ws = WsEvents(self.d, "stream:" + sid)
        self.addCleanup(ws.close)
        pub = self.publish(s["ingest"]["rtmp"]["url"], "flv", 120)
        live = self.wait_live(sid, True, 15)
        self.assertFalse(live["session"]["recording"])
        first = self.wait_sample(ws, lambda e: e["fps"] > 15, 10)
        for k in ("bytes_in", "dropped_frames", "late_frames", "viewers", "recording"):
            self.assertIn(k, first)
        self.assertFalse(first["recording"])
        self.assertGreater(first["bytes_in"], 1000)

        # live ABR through the API: the master, then each rendition
        deadline = time.time() + 15 * TF
        while True:
            r = self.live_get(sid, "index.m3u8")
            if r.status == 200 and r.body.count(b"#EXT-X-STREAM-INF") == 3:
                break
            self.assertLess(time.time(), deadline, (r.status, r.body))
            time.sleep(0.3)
        master = r.body.decode()
        variants = {}
        lines = master.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("#EXT-X-STREAM-INF:"):
                attrs = dict(a.split("=", 1) for a in
                             line[18:].replace('"avc1', 'avc1').replace('40.2"', '40.2')
                             .replace(",mp4a", ";mp4a").split(","))
                variants[lines[i + 1]] = attrs
        self.assertEqual(sorted(variants), ["r180/index.m3u8", "r90_low/index.m3u8",
                                            "source/index.m3u8"])
        self.assertEqual(variants["source/index.m3u8"]["RESOLUTION"], "320x240")
        self.assertEqual(variants["r180/index.m3u8"]["RESOLUTION"], "240x180")
        self.assertEqual(variants["r90_low/index.m3u8"]["RESOLUTION"], "120x90")
        for v in variants.values():
            self.assertGreater(int(v["BANDWIDTH"]), 50000)
            self.assertRegex(v["CODECS"], r"^avc1\.[0-9a-f]{6};mp4a\.40\.2$")

        def media(name, may_wait=False):
            r = self.live_get(sid, name)
            if may_wait and r.status == 404:
                return None, [], []  # a rendition's first segment is not complete yet
            self.assertEqual(r.status, 200, (name, r.body))
            text = r.body.decode()
            seq = int(text.split("#EXT-X-MEDIA-SEQUENCE:")[1].split()[0])
            durs = [float(l[8:].split(",")[0]) for l in text.splitlines()
                    if l.startswith("#EXTINF:")]
            segs = [l for l in text.splitlines() if l and not l.startswith("#")]
            self.assertIn("#EXT-X-TARGETDURATION:1\n", text)  # latency_mode low
            return seq, durs, segs
        deadline = time.time() + 15 * TF
        while True:
            got = {n: media(n, True) for n in variants}
            if all(len(g[1]) >= 2 for g in got.values()):
                break
            self.assertLess(time.time(), deadline, got)
            time.sleep(0.5)
        before = got

        # two viewers: clients at two addresses fetching playlists
        for ip in ("127.0.0.2", "127.0.0.3"):
            status, _ = self.get_from(ip, "/v1/streams/%s/live/index.m3u8" % sid)
            self.assertEqual(status, 200)
        viewed = self.wait_sample(ws, lambda e: e["viewers"] >= 3, 5)
        self.assertEqual(viewed["viewers"], 3)  # and the test's own client

        # recording on, off, on again at run time
        r = self.d.post("/v1/streams/%s/recording" % sid, {"enabled": True})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"stream_id": sid, "recording": True})
        self.assertTrue(self.stream(sid)["session"]["recording"])
        on = self.wait_sample(ws, lambda e: e["recording"], 5)
        time.sleep(2.5)
        self.assertEqual(self.d.post("/v1/streams/%s/recording" % sid,
                                     {"enabled": False}).status, 200)
        off = self.wait_sample(ws, lambda e: not e["recording"], 5)
        self.assertGreater(off["bytes_in"], on["bytes_in"])
        self.assertFalse(self.stream(sid)["session"]["recording"])

        # the publisher stalls, then sends what it held: late frames
        late_before = off["late_frames"]
        pub.send_signal(signal.SIGSTOP)
        time.sleep(2.5)
        pub.send_signal(signal.SIGCONT)
        late = self.wait_sample(ws, lambda e: e["late_frames"] > late_before + 10, 8)
        self.assertGreater(late["bytes_in"], off["bytes_in"])
        self.assertEqual(self.d.post("/v1/streams/%s/recording" % sid,
                                     {"enabled": True}).status, 200)
        self.wait_sample(ws, lambda e: e["recording"], 5)
        time.sleep(2.5)

        # every rendition advanced, with segments of the same lengths
        after = {n: media(n) for n in variants}
        src_seq, src_durs, _ = after["source/index.m3u8"]
        for n, (seq, durs, segs) in after.items():
            self.assertLessEqual(len(durs), 3, n)  # latency_mode low: 3 segments
            self.assertGreater(seq, before[n][0] + 3, n)
            self.assertLessEqual(abs((seq - before[n][0]) -
                                     (src_seq - before["source/index.m3u8"][0])), 1, n)
            self.assertAlmostEqual(max(durs), max(src_durs), delta=0.1)
            seg = self.live_get(sid, n.replace("index.m3u8", segs[-1]))
            self.assertEqual(seg.status, 200)
            self.assertEqual(seg.body[0], 0x47)

        stats = self.d.get("/v1/streams/%s/stats" % sid).json()
        self.assertGreaterEqual(stats["peak_viewers"], 3)
        self.assertGreaterEqual(len(stats["telemetry_history"]), 8)
        self.assertTrue(stats["session"]["recording"])

        self.assertEqual(self.d.post("/v1/streams/%s/end" % sid).status, 202)
        self.wait_live(sid, False, 15)
        pub.kill()
        stats = self.d.get("/v1/streams/%s/stats" % sid).json()
        session = stats["history"][0]
        self.assertGreaterEqual(session["bytes_in"], late["bytes_in"])
        history = stats["telemetry_history"]
        self.assertEqual(stats["viewers"], 0)
        self.assertGreaterEqual(stats["peak_viewers"], 3)

        # the recording: two spans, the archive joins what they hold
        recs = glob.glob(os.path.join(self.d.tmp, "data", "live", sid, "rec", "*",
                                      "recording.json"))
        self.assertEqual(len(recs), 1, recs)
        with open(recs[0]) as f:
            rec = json.load(f)
        self.assertTrue(rec["complete"], rec)
        self.assertEqual(len(rec["spans"]), 2, rec)
        spans = sum(sp["end_s"] - sp["start_s"] for sp in rec["spans"])
        self.assertGreater(rec["spans"][1]["start_s"], rec["spans"][0]["end_s"] + 3)
        self.assertAlmostEqual(rec["duration_s"], spans, delta=1.0)
        self.assertGreater(spans, 3)
        r = self.d.post("/v1/streams/%s/archive" % sid)
        self.assertEqual(r.status, 202, r.body)
        ready = self.wait_hook("recording.ready", sid, timeout=15)
        joined = self.d.stored_path(ready["data"]["source_url"])
        out = subprocess.run(["ffprobe", "-v", "quiet", "-show_entries", "format=duration",
                              "-of", "json", joined], capture_output=True, text=True)
        self.assertAlmostEqual(float(json.loads(out.stdout)["format"]["duration"]), spans,
                               delta=1.0)

        # the telemetry history is in the store: a restart keeps it
        self.d.stop()
        self.d.start()
        deadline = time.time() + 20 * TF
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.rtmp_port), timeout=1).close()
                break
            except OSError:
                self.assertLess(time.time(), deadline, "the RTMP port never reopened")
                time.sleep(0.1)
        kept = self.d.get("/v1/streams/%s/stats" % sid).json()["telemetry_history"]
        self.assertEqual([h["time"] for h in kept], [h["time"] for h in history])
        self.assertEqual(kept[-1]["bytes_in"], history[-1]["bytes_in"])

        # deleted: its live and recording files go, nothing is served
        live_dir = os.path.join(self.d.tmp, "data", "live", sid)
        self.assertTrue(os.path.isdir(live_dir))
        self.assertEqual(self.d.request("DELETE", "/v1/streams/" + sid).status, 204)
        self.assertError(self.live_get(sid, "index.m3u8"), 404, "WE-STR-002")
        deadline = time.time() + 10 * TF
        while os.path.exists(live_dir):
            self.assertLess(time.time(), deadline, "the deleted stream's files stay")
            time.sleep(0.2)
        # the archive in storage stays
        self.assertTrue(os.path.exists(joined))

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
        # record: the archive on demand below needs a recording
        s = self.create(archive_enabled=False, record=True)
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
