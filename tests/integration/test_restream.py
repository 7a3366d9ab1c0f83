#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Restream jobs in the service (issue 11, items 1 and 3): /v1/restreams
against a real daemon whose restream workers publish to real RTMP servers
(nginx with libnginx-mod-rtmp, tests/integration/wenginx.py, each recording
every publish to FLV for ffprobe).

- API: create, read, edit, destinations added, disabled and removed, the
  §11 envelope with WE-RST codes, destination URLs masked in every response
  and never stored open, RBAC with auth-basic users of every role.
- File-as-live: a 3 s H.264/AAC clip looped three times, paced in real time
  and passed through without a new encode (the same video packets), to three
  nginx destinations and one closed port. Destination 2 is killed at 2 s
  and started again at 3.5 s. Then: destinations 1 and 3 recorded every
  video frame of the three loops with monotonic timestamps spanning 9 s,
  destination 2 published again within 5 s of its restart, and the closed
  port failed alone, its error in GET /v1/restreams/{id}.
- A live stream of ours (published with ffmpeg to our RTMP ingest) restreamed
  to nginx from its live HLS, ending when the stream ends.
- A scheduled restream starts at its time and stops after its duration_s.
- A streaming restream is resumed by the next start of the service."""

import base64
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import wenginx  # noqa: E402
import wetest  # noqa: E402
from test_live import WsEvents  # noqa: E402


def _event_destinations(event):
    """The destinations of a restream:<id> event, whether listed or keyed by id."""
    dests = event.get("destinations") or []
    return list(dests.values()) if isinstance(dests, dict) else dests

USERS = {"vic": "viewer", "otto": "operator", "ada": "admin"}
CLIP_S = 3
FPS = 25
LOOPS = 3


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], check=True,
                          capture_output=True, text=True).stdout.strip()


def basic(user):
    token = base64.b64encode(("%s:%s-pw" % (user, user)).encode()).decode()
    return {"Authorization": "Basic " + token}


def closed_port():
    return wenginx.free_port()


def packets(path):
    """(codec_type, dts in ms, keyframe) of every packet."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=codec_type,dts,flags",
         "-of", "json", path], capture_output=True, text=True, timeout=60)
    data = json.loads(out.stdout or "{}")
    return [(p["codec_type"], int(p["dts"]), "K" in p.get("flags", ""))
            for p in data.get("packets", []) if p.get("dts") is not None]


def video_sizes(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=size",
         "-of", "csv=p=0", path], capture_output=True, text=True, timeout=60).stdout
    return [int(x) for x in out.split()]


def publish_time(path):
    """nginx's record_unique name: KEY-<unix time>.flv."""
    return int(re.search(r"-(\d+)\.flv$", path).group(1))


class Restreams(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        if not wenginx.available():
            if os.environ.get("WE_TEST_NO_SKIP"):
                raise AssertionError("nginx with libnginx-mod-rtmp is not installed")
            raise unittest.SkipTest("nginx with libnginx-mod-rtmp is not installed")
        d = wetest.Daemon(workers=1)
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user in USERS:
                f.write("%s:%s\n" % (user, sha512_crypt(user + "-pw")))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": ";".join("%s=%s" % kv for kv in USERS.items()),
            # a live stream of ours as an input (test_stream_input)
            "WE_LIVE_ENABLED": "1",
            "WE_LIVE_RTMP_PORT": str(wetest.free_port()),
            "WE_LIVE_SRT_PORT": str(wetest.free_port()),
        }
        # the clips: a folder the storage lets restreams read (its browse roots)
        cls.tmp = tempfile.mkdtemp(prefix="we-restream-svc-")
        d.extra_env["WE_PLUGIN_STORAGE_FS_BROWSE_ROOTS"] = d.media + ";" + cls.tmp
        cls.d = d.start()
        cls.clip = wetest.make_clip(os.path.join(cls.tmp, "clip.mp4"), duration=CLIP_S,
                                    fps=FPS, width=320, height=240)
        cls.servers = []

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()
        cls.d.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def nginx(self):
        s = wenginx.NginxRtmp(os.path.join(self.tmp, "n%d" % len(self.servers)))
        self.servers.append(s)
        return s.start()

    def api(self, method, path, body=None, user="otto", expect=None):
        r = self.d.request(method, path, body, headers=basic(user))
        if expect is not None:
            self.assertEqual(r.status, expect, r.body)
        return r

    def wait_status(self, rid, statuses, timeout=30):
        deadline = time.time() + timeout
        while True:
            r = self.api("GET", "/v1/restreams/" + rid, user="vic", expect=200).json()
            if r["status"] in statuses:
                return r
            self.assertLess(time.time(), deadline, (statuses, r, self.d.tail(20)))
            time.sleep(0.2)

    def assertMasked(self, text, keys):
        for k in keys:
            self.assertNotIn(k, text)

    # --- API ------------------------------------------------------------------------------

    def test_api(self):
        key = "live_abcdefghijklmnop1234wxyz"
        later = (datetime.datetime.now(datetime.timezone.utc) +
                 datetime.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"title": "Weekly show", "input_url": self.clip,
                "schedule_type": "scheduled", "schedule_config": {"at": later},
                "output_destinations": [
                    {"platform": "twitch", "url": "rtmp://127.0.0.1:1935/live/" + key},
                    {"platform": "custom", "url": "srt://127.0.0.1:9000?streamid=s3cr3tsid&passphrase=verysecretpassphrase",
                     "enabled": False}]}
        # viewers read, operators write
        self.d.request("GET", "/v1/restreams", headers=basic("vic"))
        self.assertError(self.api("POST", "/v1/restreams", body, user="vic"), 403,
                         "WE-AUTH-004")
        self.assertError(self.d.request("GET", "/v1/restreams"), 401, "WE-AUTH-001")
        r = self.api("POST", "/v1/restreams", body, expect=201)
        self.assertMasked(r.body.decode(), [key, "s3cr3tsid", "verysecretpassphrase"])
        rs = r.json()
        self.assertEqual(rs["status"], "stopped")
        self.assertEqual(rs["schedule_type"], "scheduled")
        self.assertEqual(rs["input_type"], "file")
        dests = rs["output_destinations"]
        self.assertEqual(dests[0]["url"], "rtmp://127.0.0.1:1935/live/****wxyz")
        self.assertEqual(dests[0]["platform"], "twitch")
        self.assertTrue(dests[0]["enabled"])
        self.assertFalse(dests[1]["enabled"])
        self.assertEqual(dests[1]["url"],
                         "srt://127.0.0.1:9000?streamid=****&passphrase=****")
        rid = rs["id"]

        listed = self.api("GET", "/v1/restreams", user="vic", expect=200)
        self.assertIn(rid, [x["id"] for x in listed.json()["restreams"]])
        self.assertMasked(listed.body.decode(), [key])

        r = self.api("PATCH", "/v1/restreams/" + rid,
                     {"title": "Daily show", "loop_enabled": True}, expect=200).json()
        self.assertEqual(r["title"], "Daily show")
        self.assertTrue(r["loop_enabled"])
        self.assertError(self.api("PATCH", "/v1/restreams/" + rid, {"bogus": 1}), 400,
                         "WE-RST-001")
        self.assertError(self.api("PATCH", "/v1/restreams/" + rid,
                                  {"schedule_type": "recurring"}), 400, "WE-RST-001")
        r = self.api("PATCH", "/v1/restreams/" + rid,
                     {"schedule_type": "recurring",
                      "schedule_config": {"cron": "30 18 * * 1-5", "duration_s": 3600}},
                     expect=200).json()
        self.assertEqual(r["schedule_config"]["cron"], "30 18 * * 1-5")

        # destinations at run time (here: stopped)
        key2 = "second_key_0000000000QRST"
        r = self.api("POST", "/v1/restreams/%s/destinations" % rid,
                     {"url": "rtmps://127.0.0.1:4443/app/" + key2}, expect=201)
        self.assertMasked(r.body.decode(), [key2])
        added = r.json()["output_destinations"][-1]
        self.assertEqual(added["url"], "rtmps://127.0.0.1:4443/app/****QRST")
        r = self.api("PATCH", "/v1/restreams/%s/destinations/%s" % (rid, added["id"]),
                     {"enabled": False}, expect=200).json()
        self.assertFalse(r["output_destinations"][-1]["enabled"])
        self.assertError(self.api("PATCH", "/v1/restreams/%s/destinations/%s" % (rid, added["id"]),
                                  {"url": "rtmp://x/y/z"}), 400, "WE-RST-001")
        self.api("DELETE", "/v1/restreams/%s/destinations/%s" % (rid, added["id"]), expect=200)
        self.assertError(self.api("DELETE", "/v1/restreams/%s/destinations/%s" % (rid, added["id"])),
                         404, "WE-RST-005")
        self.assertError(self.api("POST", "/v1/restreams/%s/destinations" % rid,
                                  {"url": "http://example.com/live"}), 422, "WE-RST-004")

        # the store keeps them sealed: no key in the database files
        data = b""
        db_dir = os.path.join(self.d.tmp, "data")
        for name in os.listdir(db_dir):
            if name.startswith("webencode.db"):
                with open(os.path.join(db_dir, name), "rb") as f:
                    data += f.read()
        for secret in (key, key2, "verysecretpassphrase", "s3cr3tsid"):
            self.assertNotIn(secret.encode(), data)
        with open(self.d.log_path, "rb") as f:
            log = f.read()
        for secret in (key, key2, "verysecretpassphrase"):
            self.assertNotIn(secret.encode(), log)

        # errors in the §11 envelope
        self.assertError(self.api("POST", "/v1/restreams", dict(body, output_destinations=[
            {"url": "ftp://127.0.0.1/x"}])), 422, "WE-RST-004")
        self.assertError(self.api("POST", "/v1/restreams", dict(body, input_url="/no/such.mp4")),
                         400, "WE-RST-001")
        # only what the storage lets a job read: not any file of the service's
        # (a destination of the caller's choosing would receive it), nor a
        # URL no storage plugin serves
        for outside in ("/etc/hostname", "file:///etc/passwd",
                        "file://" + self.clip + "/../../../etc/hostname",
                        "http://169.254.169.254/latest/meta-data"):
            err = self.api("POST", "/v1/restreams", dict(body, input_url=outside), expect=400)
            self.assertEqual(err.json()["error"]["code"], "WE-RST-001", (outside, err.body))
            listed = {k: v for k, v in body.items() if k != "input_url"}
            err = self.api("POST", "/v1/restreams", dict(listed, playlist=[self.clip, outside]),
                           expect=400)
            self.assertEqual(err.json()["error"]["code"], "WE-RST-001", (outside, err.body))
            self.assertIn("playlist", err.json()["error"]["details"], err.body)
        self.assertError(self.api("POST", "/v1/restreams", dict(body, schedule_type="scheduled",
                                                                 schedule_config={})),
                         400, "WE-RST-001")
        self.assertError(self.api("POST", "/v1/restreams", dict(
            body, schedule_type="recurring", schedule_config={"cron": "61 * * * *",
                                                              "duration_s": 5})),
            400, "WE-RST-001")
        self.assertError(self.api("POST", "/v1/restreams", {"title": "x"}), 400, "WE-RST-001")
        self.assertError(self.api("GET", "/v1/restreams/nope", user="vic"), 404, "WE-RST-002")
        self.assertError(self.api("POST", "/v1/restreams/nope/start"), 404, "WE-RST-002")

        self.assertError(self.api("DELETE", "/v1/restreams/" + rid, user="vic"), 403,
                         "WE-AUTH-004")
        self.api("DELETE", "/v1/restreams/" + rid, expect=204)
        self.assertError(self.api("GET", "/v1/restreams/" + rid), 404, "WE-RST-002")

    # --- file-as-live ---------------------------------------------------------------------------

    def test_file_as_live(self):
        n1, n2, n3 = self.nginx(), self.nginx(), self.nginx()
        keys = ["k1-secretstreamkey", "k2-secretstreamkey", "k3-secretstreamkey",
                "deadkey-secretstreamkey"]
        dead = "rtmp://127.0.0.1:%d/live/%s" % (closed_port(), keys[3])
        body = {"title": "Looped clip", "input_url": self.clip, "loop_enabled": True,
                "loop_count": LOOPS, "simulate_live": True,
                "output_destinations": [{"url": n1.url(keys[0])}, {"url": n2.url(keys[1])},
                                        {"url": n3.url(keys[2])}, {"url": dead}]}
        r = self.api("POST", "/v1/restreams", body, expect=201).json()
        rid = r["id"]
        self.assertIn(r["status"], ("starting", "streaming"))
        ids = [d["id"] for d in r["output_destinations"]]
        self.wait_status(rid, ("streaming",))
        self.assertError(self.api("POST", "/v1/restreams/%s/start" % rid), 409, "WE-RST-003")
        # every live destination has published before the kill
        deadline = time.time() + 10
        while not all(s.recordings() for s in (n1, n2, n3)):
            self.assertLess(time.time(), deadline, self.d.tail(30))
            time.sleep(0.1)
        started = time.time()
        time.sleep(2)
        n2.kill()
        time.sleep(1.5)
        n2.start()
        restarted = time.time()

        # mid-run: the dead address fails alone, with its error shown
        r = self.api("GET", "/v1/restreams/" + rid, user="vic", expect=200).json()
        self.assertEqual(r["status"], "streaming")
        stats = r["current_stats"]
        self.assertEqual(stats[ids[0]]["state"], "live", stats)
        self.assertEqual(stats[ids[2]]["state"], "live", stats)
        self.assertNotEqual(stats[ids[3]]["state"], "live", stats)
        self.assertTrue(stats[ids[3]]["last_error"], stats)
        self.assertGreater(stats[ids[0]]["bitrate_kbps"], 0, stats)
        self.assertMasked(json.dumps(r), keys)

        self.wait_status(rid, ("stopped",), timeout=CLIP_S * LOOPS + 20)
        self.assertGreater(time.time() - started, CLIP_S * LOOPS - 3)  # paced, not pushed

        # the keys reached the destinations, never the service's log (its
        # workers write there too)
        with open(self.d.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        self.assertMasked(log, keys)
        expected = CLIP_S * FPS * LOOPS
        for s in (n1, n3):
            recs = s.recordings()
            self.assertEqual(len(recs), 1, recs)
            pk = packets(recs[0])
            video = [dts for kind, dts, _ in pk if kind == "video"]
            audio = [dts for kind, dts, _ in pk if kind == "audio"]
            self.assertEqual(len(video), expected, (s.records, len(video)))
            self.assertTrue(all(b > a for a, b in zip(video, video[1:])), "video dts not monotonic")
            self.assertTrue(all(b >= a for a, b in zip(audio, audio[1:])), "audio dts not monotonic")
            span = video[-1] - video[0]
            self.assertAlmostEqual(span, CLIP_S * LOOPS * 1000 - 40, delta=120)
            self.assertGreater(len(audio), CLIP_S * LOOPS * 40)
            # H.264 + AAC in: passed through, not encoded again: the same
            # frames, a keyframe with the parameter sets in band at most
            # (the destination's h264parse repeats them at every keyframe)
            got, src = video_sizes(recs[0]), video_sizes(self.clip) * LOOPS
            self.assertEqual(len(got), len(src))
            self.assertTrue(all(0 <= g - w <= 64 for g, w in zip(got, src)), (got, src))
            self.assertGreater(sum(g == w for g, w in zip(got, src)), len(src) * 0.9)
        recs = n2.recordings()
        self.assertGreaterEqual(len(recs), 2, recs)
        self.assertLessEqual(publish_time(recs[-1]) - int(restarted), 5, recs)
        pk = packets(recs[-1])
        video = [(dts, key) for kind, dts, key in pk if kind == "video"]
        self.assertTrue(video and video[0][1], "the restarted destination starts on a keyframe")
        first = [dts for kind, dts, _ in packets(recs[0]) if kind == "video"]
        # one running time across the reconnection
        self.assertGreater(video[0][0], first[-1])

    def test_playlist(self):
        """Two files of different sizes, played once: one stream (encoded
        once, since the items differ), frames of both, monotonic timestamps;
        the end of the playlist stops it."""
        n = self.nginx()
        second = wetest.make_clip(os.path.join(self.tmp, "second.mp4"), duration=1, fps=FPS,
                                  width=256, height=144, pattern="ball")
        body = {"title": "Playlist", "playlist": [self.clip, "file://" + second],
                "output_destinations": [{"url": n.url("pl")}]}
        rid = self.api("POST", "/v1/restreams", body, expect=201).json()["id"]
        self.wait_status(rid, ("streaming",))
        r = self.wait_status(rid, ("stopped",), timeout=CLIP_S + 1 + 20)
        self.assertIsNone(r["error"])
        recs = n.recordings()
        self.assertEqual(len(recs), 1, recs)
        video = [dts for kind, dts, _ in packets(recs[0]) if kind == "video"]
        self.assertEqual(len(video), (CLIP_S + 1) * FPS)
        self.assertTrue(all(b > a for a, b in zip(video, video[1:])), "video dts not monotonic")
        self.api("DELETE", "/v1/restreams/" + rid, expect=204)

    def test_vod_job_input(self):
        """The output of a completed job of ours as the input: its final MP4,
        played once, every frame at the destination; bad references refused."""
        source = os.path.join(self.d.media, "vod-source.mp4")
        shutil.copy(self.clip, source)
        job = self.api("POST", "/v1/jobs", {"source_url": "file://" + source,
                                            "profile": "480p_fast"}, expect=201).json()
        deadline = time.time() + 240 * wetest.TIME_FACTOR
        while True:
            job = self.api("GET", "/v1/jobs/" + job["id"], expect=200).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            self.assertLess(time.time(), deadline, job)
            time.sleep(0.2)
        self.assertEqual(job["status"], "completed", job)
        outs = self.api("GET", "/v1/jobs/%s/outputs" % job["id"], expect=200).json()["outputs"]
        final = [o for o in outs if o["type"] == "final"][0]

        for bad, what in (({"vod_job_id": "no-such-job"}, "no job"),
                          ({"vod_job_id": job["id"], "vod_output": "nope.mp4"}, "no output"),
                          ({"vod_job_id": job["id"], "input_url": self.clip}, "not input_url"),
                          ({}, "needs vod_job_id")):
            body = {"title": "bad", "input_type": "vod_job", "schedule_type": "scheduled",
                    "schedule_config": {"at": "2099-01-01T00:00:00Z"}}
            body.update(bad)
            err = self.api("POST", "/v1/restreams", body, expect=400).json()["error"]
            self.assertEqual(err["code"], "WE-RST-001")
            self.assertIn(what, err["details"])

        n = self.nginx()
        body = {"title": "A job's output", "input_type": "vod_job", "vod_job_id": job["id"],
                "output_destinations": [{"url": n.url("vod")}]}
        r = self.api("POST", "/v1/restreams", body, expect=201).json()
        self.assertEqual(r["vod_job_id"], job["id"])
        self.assertEqual(r["input_url"], final["url"])
        r = self.wait_status(r["id"], ("stopped", "error"), timeout=CLIP_S + 30)
        self.assertEqual(r["status"], "stopped", r)
        self.assertIsNone(r["error"])
        recs = n.recordings()
        self.assertEqual(len(recs), 1, recs)
        video = [dts for kind, dts, _ in packets(recs[0]) if kind == "video"]
        self.assertEqual(len(video), CLIP_S * FPS)
        self.api("DELETE", "/v1/restreams/" + r["id"], expect=204)

    def test_destinations_at_run_time(self):
        """Added, disabled, enabled and removed while it streams."""
        a, b = self.nginx(), self.nginx()
        body = {"title": "Live edits", "input_url": self.clip, "loop_enabled": True,
                "output_destinations": [{"url": a.url("edit-a")}]}
        rid = self.api("POST", "/v1/restreams", body, expect=201).json()["id"]
        # the dashboard's feed: restream:<id> on the WebSocket
        ws = WsEvents(self.d, "restream:" + rid, headers=basic("vic"))
        self.addCleanup(ws.close)
        self.wait_status(rid, ("streaming",))
        _, ev = ws.wait(lambda e: e.get("type") == "restream" and e.get("status") == "streaming"
                        and any(dd.get("state") == "live" for dd in
                                _event_destinations(e)), 10)
        self.assertEqual(ev["id"], rid)
        self.assertNotIn("edit-a", json.dumps(ev), "a destination's key in a WebSocket event")
        r = self.api("POST", "/v1/restreams/%s/destinations" % rid, {"url": b.url("edit-b")},
                     expect=201).json()
        ids = [d["id"] for d in r["output_destinations"]]
        added = time.time()

        def state(dest):
            st = self.api("GET", "/v1/restreams/" + rid).json()["current_stats"].get(dest)
            return st and st["state"]

        def diagnose():
            """What the service saw, for a failure on a machine we cannot watch."""
            with open(self.d.log_path, "rb") as f:
                lines = [ln for ln in f.read().decode(errors="replace").splitlines()
                         if (rid in ln or "restream" in ln.lower() or "ERROR" in ln)
                         and "GET /v1/restreams" not in ln]
            stats = self.api("GET", "/v1/restreams/" + rid).json()["current_stats"]
            return "stats %s; recordings a=%s b=%s; log:\n%s" % (
                json.dumps(stats), a.recordings(), b.recordings(), "\n".join(lines[-30:]))

        def wait(pred, what, timeout=12):
            deadline = time.time() + timeout
            while not pred():
                if time.time() > deadline:
                    self.fail("%s: not within %d s; %s" % (what, timeout, diagnose()))
                time.sleep(0.2)

        wait(lambda: b.recordings() and state(ids[1]) == "live", "added destination live")
        self.assertLess(time.time() - added, 5)
        self.api("PATCH", "/v1/restreams/%s/destinations/%s" % (rid, ids[1]), {"enabled": False},
                 expect=200)
        wait(lambda: state(ids[1]) == "disabled", "disabled")
        self.api("PATCH", "/v1/restreams/%s/destinations/%s" % (rid, ids[1]), {"enabled": True},
                 expect=200)
        enabled = time.time()
        wait(lambda: len(b.recordings()) == 2, "a new publish after enabling")
        self.assertLess(time.time() - enabled, 5)
        r = self.api("DELETE", "/v1/restreams/%s/destinations/%s" % (rid, ids[0]),
                     expect=200).json()
        self.assertEqual([d["id"] for d in r["output_destinations"]], [ids[1]])
        time.sleep(1)
        size = os.path.getsize(a.recordings()[-1])
        time.sleep(1.5)
        self.assertEqual(os.path.getsize(a.recordings()[-1]), size, "a removed destination ends")
        self.assertEqual(state(ids[1]), "live")
        self.api("POST", "/v1/restreams/%s/stop" % rid, expect=200)

    def test_stream_input(self):
        n = self.nginx()
        s = self.api("POST", "/v1/streams", {"title": "Source"}, expect=201).json()
        pub = self.publish(s["ingest"]["rtmp"]["url"], 10)
        try:
            deadline = time.time() + 15
            while not self.api("GET", "/v1/streams/" + s["id"]).json()["is_live"]:
                self.assertLess(time.time(), deadline, self.d.tail(20))
                time.sleep(0.2)
            time.sleep(3)  # a few segments of live HLS
            self.assertError(self.api("POST", "/v1/restreams", {
                "title": "x", "input_type": "stream", "stream_id": "nope",
                "output_destinations": [{"url": n.url("x")}]}), 400, "WE-RST-001")
            r = self.api("POST", "/v1/restreams", {
                "title": "Our stream elsewhere", "input_type": "stream", "stream_id": s["id"],
                "output_destinations": [{"url": n.url("relay")}]}, expect=201).json()
            self.assertEqual(r["stream_id"], s["id"])
            self.assertEqual(r["input_type"], "stream")
            rid = r["id"]
            self.wait_status(rid, ("streaming",))
            self.assertEqual(pub.wait(timeout=30), 0, pub.stderr.read())
        finally:
            if pub.poll() is None:
                pub.kill()
                pub.wait()
            pub.stderr.close()
        # the end of the stream ends the restream
        self.wait_status(rid, ("stopped",), timeout=40)
        recs = n.recordings()
        self.assertEqual(len(recs), 1, recs)
        # started again after the stream ended: not live, so nothing is
        # sent (the ended session's HLS is still on disk)
        self.api("POST", "/v1/restreams/%s/start" % rid, expect=202)
        r = self.wait_status(rid, ("error",), timeout=20)
        self.assertIn("not live", r["error"])
        time.sleep(2)
        self.assertEqual(len(n.recordings()), 1, n.recordings())
        self.api("POST", "/v1/restreams/%s/stop" % rid, expect=200)
        video = [dts for kind, dts, _ in packets(recs[0]) if kind == "video"]
        self.assertGreater(len(video), 4 * FPS)
        # monotonic; not strictly: at the very end of the stream the
        # destination's flvmux may stamp the last frames with the last
        # audio's time (the file tests check strictly)
        self.assertTrue(all(b >= a for a, b in zip(video, video[1:])), "video dts not monotonic")
        self.assertGreater(len(set(video)), len(video) - 5)

    def publish(self, url, seconds):
        """ffmpeg publishing a test pattern and a tone over RTMP to @url."""
        env = dict(os.environ, HOME=self.tmp)
        env.pop("LD_PRELOAD", None)  # an ASan build's preload must not reach ffmpeg
        return subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
             "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
             "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-f", "flv", url], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def test_own_ingest(self):
        """input_type rtmp: a new ingest comes with the restream; OBS-style
        settings in the creating answer only; the restream waits for its
        publisher, relays it, waits again when it leaves; delete takes the
        ingest along."""
        n = self.nginx()
        r = self.api("POST", "/v1/restreams", {
            "title": "From OBS", "input_type": "rtmp",
            "output_destinations": [{"url": n.url("obs")}]}, expect=201).json()
        rid, sid = r["id"], r["stream_id"]
        ingest = r["ingest"]["rtmp"]
        self.assertTrue(ingest["stream_key"].startswith("we_live_"), ingest)
        self.assertEqual(ingest["url"], ingest["server"] + "/" + ingest["stream_key"])
        self.assertIn("passphrase", r["ingest"]["srt"])
        got = self.api("GET", "/v1/restreams/" + rid, user="vic", expect=200)
        self.assertNotIn(ingest["stream_key"], got.body.decode())
        self.assertNotIn("stream_key", got.json()["ingest"]["rtmp"])
        self.assertEqual(got.json()["status"], "starting")
        self.assertError(self.api("PATCH", "/v1/restreams/" + rid, {"input_type": "file"}),
                         400, "WE-RST-001")
        # no publisher yet: it waits without an error
        time.sleep(3)
        got = self.api("GET", "/v1/restreams/" + rid).json()
        self.assertEqual((got["status"], got["error"]), ("starting", None))

        for round_ in (1, 2):
            pub = self.publish(ingest["url"], 8)
            try:
                self.wait_status(rid, ("streaming",), timeout=30)
                deadline = time.time() + 20
                while len(n.recordings()) < round_:
                    self.assertLess(time.time(), deadline, self.d.tail(20))
                    time.sleep(0.2)
                self.assertEqual(pub.wait(timeout=30), 0, pub.stderr.read())
            finally:
                if pub.poll() is None:
                    pub.kill()
                    pub.wait()
                pub.stderr.close()
            # the publisher left: waiting again, not stopped, and the ended
            # session's HLS is not sent again meanwhile
            self.wait_status(rid, ("starting",), timeout=40)
            time.sleep(5)
            self.assertEqual(len(n.recordings()), round_, n.recordings())
            got = self.api("GET", "/v1/restreams/" + rid).json()
            self.assertEqual((got["status"], got["error"]), ("starting", None))
        recs = n.recordings()
        self.assertEqual(len(recs), 2, recs)
        for rec in recs:
            self.assertGreater(len([1 for kind, _, _ in packets(rec) if kind == "video"]), FPS)
        self.api("POST", "/v1/restreams/%s/stop" % rid, expect=200)
        self.assertEqual(self.api("GET", "/v1/restreams/" + rid).json()["status"], "stopped")
        self.api("DELETE", "/v1/restreams/" + rid, expect=204)
        self.api("GET", "/v1/streams/" + sid, expect=404)

    # --- schedules and restarts --------------------------------------------------------------

    def test_scheduled(self):
        n = self.nginx()
        # whole seconds: what "at" says is when it starts
        at = (datetime.datetime.now(datetime.timezone.utc) +
              datetime.timedelta(seconds=3)).replace(microsecond=0)
        body = {"title": "At a time", "input_url": self.clip, "loop_enabled": True,
                "schedule_type": "scheduled",
                "schedule_config": {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration_s": 3},
                "output_destinations": [{"url": n.url("sched")}]}
        r = self.api("POST", "/v1/restreams", body, expect=201).json()
        self.assertEqual(r["status"], "stopped")
        rid = r["id"]
        time.sleep(1)
        self.assertEqual(self.api("GET", "/v1/restreams/" + rid).json()["status"], "stopped")
        self.wait_status(rid, ("streaming",), timeout=15)
        self.assertGreaterEqual(time.time(), at.timestamp() - 0.1)
        # duration_s ends it
        self.wait_status(rid, ("stopped",), timeout=15)
        self.assertTrue(n.recordings())

    def test_resume_after_restart(self):
        n = self.nginx()
        body = {"title": "Forever", "input_url": self.clip, "loop_enabled": True,
                "output_destinations": [{"url": n.url("resume")}]}
        rid = self.api("POST", "/v1/restreams", body, expect=201).json()["id"]
        self.wait_status(rid, ("streaming",))
        # "streaming" is the worker's pipeline playing: its publish at nginx
        # may be a moment later, and it is the one the resumed run follows
        deadline = time.time() + 15
        while not n.recordings():
            self.assertLess(time.time(), deadline, self.d.tail(20))
            time.sleep(0.2)
        self.d.stop()
        self.d.start()
        self.wait_status(rid, ("streaming",), timeout=30)
        deadline = time.time() + 15
        while len(n.recordings()) < 2:
            self.assertLess(time.time(), deadline, n.recordings())
            time.sleep(0.2)
        r = self.api("POST", "/v1/restreams/%s/stop" % rid, expect=200).json()
        self.assertEqual(r["status"], "stopped")
        self.assertEqual(self.api("GET", "/v1/restreams/" + rid).json()["status"], "stopped")

    def test_patch_while_running(self):
        """PATCH of a running restream applies now: a new title needs no new
        worker; a new input_url starts the worker again and the destination
        receives the new clip (160x120 instead of 320x240)."""
        n = self.nginx()
        other = wetest.make_clip(os.path.join(self.tmp, "small.mp4"), duration=CLIP_S,
                                 fps=FPS, width=160, height=120)

        def restream_workers():
            out = subprocess.run(["pgrep", "-P", str(self.d.proc.pid), "-f",
                                  "webencode-worker --restream"],
                                 capture_output=True, text=True).stdout
            return [int(p) for p in out.split()]

        def size(path):
            out = subprocess.run(
                ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                 "stream=width,height", "-of", "csv=p=0", path],
                capture_output=True, text=True, timeout=60).stdout.strip()
            return out.split("\n")[0]

        body = {"title": "Switched", "input_url": self.clip, "loop_enabled": True,
                "output_destinations": [{"url": n.url("patch")}]}
        rid = self.api("POST", "/v1/restreams", body, expect=201).json()["id"]
        self.wait_status(rid, ("streaming",))
        deadline = time.time() + 10
        while not n.recordings():
            self.assertLess(time.time(), deadline, self.d.tail(20))
            time.sleep(0.2)
        workers = restream_workers()
        self.assertEqual(len(workers), 1)
        r = self.api("PATCH", "/v1/restreams/" + rid, {"title": "Renamed"}, expect=200).json()
        self.assertEqual(r["title"], "Renamed")
        self.assertEqual(r["status"], "streaming")
        time.sleep(2)
        self.assertEqual(restream_workers(), workers, "a new title started a new worker")
        self.assertEqual(len(n.recordings()), 1)

        patched = time.time()
        r = self.api("PATCH", "/v1/restreams/" + rid, {"input_url": other}, expect=200).json()
        self.assertEqual(r["input_url"], other)
        deadline = time.time() + 15
        while len(n.recordings()) < 2:
            self.assertLess(time.time(), deadline, (n.recordings(), self.d.tail(20)))
            time.sleep(0.2)
        self.assertLess(time.time() - patched, 8)
        self.assertNotEqual(restream_workers(), workers)
        self.wait_status(rid, ("streaming",))
        time.sleep(2)   # frames of the new clip recorded
        self.assertEqual(size(n.recordings()[0]), "320,240")
        self.assertEqual(size(n.recordings()[-1]), "160,120")
        self.assertEqual(len(restream_workers()), 1)
        self.api("POST", "/v1/restreams/%s/stop" % rid, expect=200)
        self.api("DELETE", "/v1/restreams/" + rid, expect=204)


if __name__ == "__main__":
    wetest.main()
