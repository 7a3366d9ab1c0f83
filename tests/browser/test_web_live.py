#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The stream studio of a broadcast (web/src/pages/StreamStudio.tsx) in
headless Chromium against a real webencoded with live ingest on (its live
worker, free RTMP/SRT ports) and a real ffmpeg publisher (test pattern
with a running timecode and a tone, x264 with a 1 s GOP, AAC, FLV over
RTMP to the URL POST /v1/streams returned). Checked: the studio shows LIVE
within seconds of the publish; the telemetry charts receive points; the
hls.js preview plays (currentTime gains at least 6 s in 8 s of wall time,
no stall over 2 s, frames decoded); the session figures (online for,
bytes in, viewers, network health, bitrates); a viewer sees no End /
Archive / recording controls and the preview plays for them too; Stop and
Start recording (read back through the API); End through its confirm
dialog until the page shows the stream offline; Archive to VOD shows the
job link, and the job completes (through the API). Screenshots 1280x800
and 390x844 in WE_SCREENSHOT_DIR; any console error or failed request
fails."""

import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import webtest  # noqa: E402
import wetest  # noqa: E402

TF = wetest.TIME_FACTOR
USERS = {"ada": ("ada-secret", "admin"), "olga": ("olga-secret", "operator"),
         "vic": ("vic-secret", "viewer")}
ADMIN = webtest.basic("ada", USERS)
OPERATOR = webtest.basic("olga", USERS)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publisher(url, tmp):
    """ffmpeg in real time (-re): a 640x360 test pattern at 25 fps with a
    running timecode burnt in (so a frozen picture would show), a 440 Hz
    tone, a keyframe every second (the live segments are 1 s)."""
    video = "testsrc=size=640x360:rate=25"
    if os.path.exists(FONT):
        video += (",drawtext=fontfile=%s:timecode='00\\:00\\:00\\:00':rate=25:fontsize=36:"
                  "fontcolor=white:box=1:boxcolor=black@0.6:x=16:y=16" % FONT)
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
           "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-t", "300", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
           "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-b:v", "800k",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-f", "flv", url]
    env = dict(os.environ)
    env["HOME"] = tmp
    # an ASan build's preload must not reach ffmpeg
    env.pop("LD_PRELOAD", None)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


class WebLive(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        webtest.check_harness()
        if shutil.which("ffmpeg") is None:
            raise AssertionError("ffmpeg is required (tools/deps-debian.txt)")
        cls.rtmp_port = wetest.free_port()
        cls.srt_port = free_udp_port()
        # one worker runs the archive's VOD job
        cls.d = webtest.start_daemon(workers=1, users=USERS, extra_env={
            "WE_LIVE_ENABLED": "1",
            "WE_LIVE_RTMP_PORT": str(cls.rtmp_port),
            "WE_LIVE_SRT_PORT": str(cls.srt_port),
            "WE_LIVE_IDLE_TIMEOUT_S": "2",
            "WE_LIVE_ARCHIVE_PROFILE": "480p_fast",
        })
        cls.shots = webtest.shots_dir()
        cls.pubs = []
        # the live worker binds its ports a moment after the API is up
        deadline = time.time() + 20 * TF
        while True:
            try:
                socket.create_connection(("127.0.0.1", cls.rtmp_port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    tail = cls.d.tail(40)
                    cls.d.cleanup()
                    raise RuntimeError("the RTMP port never opened\n" + tail)
                time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        for p in cls.pubs:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stderr.close()
        cls.d.cleanup()

    def publish(self, url):
        tmp = os.path.join(self.d.tmp, "publisher")
        os.makedirs(tmp, exist_ok=True)
        p = publisher(url, tmp)
        self.pubs.append(p)
        return p

    def wait_job(self, job_id, timeout=240):
        deadline = time.time() + timeout * TF
        while True:
            job = self.d.get("/v1/jobs/" + job_id, headers=ADMIN).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            self.assertLess(time.time(), deadline, (job, self.d.tail(30)))
            time.sleep(0.3)

    def test_studio_live(self):
        r = self.d.post("/v1/streams", {"title": "Browser live", "record": True,
                                        "archive_enabled": False}, headers=OPERATOR)
        self.assertEqual(r.status, 201, r.body)
        created = r.json()
        sid = created["id"]
        api = {}
        running = {}
        pub = []

        def answer(msg):
            if msg.get("q") == "publish":
                pub.append(self.publish(created["ingest"]["rtmp"]["url"]))
                return {"ok": True}
            if msg.get("q") == "publisher":
                running["before_end"] = bool(pub) and pub[0].poll() is None
                return {"running": running["before_end"]}
            if msg.get("q") == "stream":
                got = self.d.get("/v1/streams/" + sid, headers=ADMIN).json()
                api[msg["label"]] = got
                return {"is_live": got["is_live"],
                        "recording": (got.get("session") or {}).get("recording")}
            raise AssertionError("unknown question %r" % msg)

        rep = webtest.run_driver(
            "web-live.js",
            ["--base", "http://127.0.0.1:%d" % self.d.port,
             "--operator", webtest.creds("olga", USERS), "--viewer", webtest.creds("vic", USERS),
             "--stream", sid, "--shots", self.shots], on_message=answer, timeout=240)
        print("screenshots in %s" % self.shots, file=sys.stderr)
        webtest.assert_clean(self, rep, self.d)
        # the publisher ran until the End, and the End disconnected it
        self.assertTrue(running.get("before_end"), "the publisher stopped before the End")
        try:
            pub[0].wait(timeout=15 * TF)
        except subprocess.TimeoutExpired:
            self.fail("the End left the publisher connected")

        # on air within a few seconds of the publisher's start
        self.assertEqual(rep["offline_actions"], 0, "no recording to archive before the first publish")
        self.assertLess(rep["live_after_ms"], 10000 * TF, rep)
        self.assertEqual(rep["badge"], "Live")

        # the charts draw the samples of the socket
        tel = rep["telemetry"]
        self.assertGreaterEqual(tel["samples"], 3, tel)
        self.assertGreaterEqual(tel["bitrate_points"], 3, tel)
        self.assertGreaterEqual(tel["curves"], 1, tel)

        # the preview plays at the live pace: no freeze, frames decoded
        for label, p, wall in (("operator", rep["preview"], 8), ("viewer", rep["viewer"]["preview"], 5)):
            self.assertGreaterEqual(p["advanced_s"], wall - 2, (label, p))
            self.assertLessEqual(p["longest_stall_ms"], 2000, (label, p))
            self.assertGreater(p["frames"], 25 * (wall - 2), (label, p))
            self.assertEqual((p["width"], p["height"]), (640, 360), (label, p))
        self.assertLessEqual(rep["preview"]["waiting_events"], 1, rep["preview"])
        self.assertGreater(rep["phone_preview"]["advanced_s"], 1, rep["phone_preview"])
        self.assertEqual(rep["preview_error"], 0)
        self.assertEqual(rep["renditions"], 0, "no ladder: one media playlist, no picker")

        # the session figures
        s = rep["session"]
        self.assertGreaterEqual(s["online_s"], 3, s)
        self.assertGreaterEqual(s["online_s_later"], s["online_s"] + 2, s)
        self.assertIn("Online for", s["online_text"])
        self.assertGreater(int(s["bytes"] or 0), 100000, s)
        self.assertIn(s["health"], ("excellent", "degraded", "poor"), s)
        self.assertTrue(s["video"].endswith("kbit/s"), s)
        self.assertIn(s["video_level"], ("ok", "warn", "bad"), s)
        self.assertEqual(s["recording"], "true", "record is on: the publish records from its start")

        # viewer: no controls, the same page otherwise
        self.assertEqual(rep["viewer"]["actions"], 0, rep["viewer"])
        self.assertFalse(rep["viewer"]["overflow"]["overflow"], rep["viewer"])
        self.assertFalse(rep["overflow"]["studio_live"]["overflow"], rep["overflow"])

        # recording: stopped and started again, as the API tells
        self.assertEqual(rep["recording_failures"], [], rep)
        stop = rep["recording"]["stop"]
        self.assertEqual(stop["status"], 200, stop)
        self.assertEqual(stop["before"], "true", stop)
        self.assertEqual(stop["after"], "false", stop)
        self.assertEqual(stop["session"], "false", stop)
        self.assertEqual(stop["body"], {"stream_id": sid, "recording": False})
        self.assertIs(api["stop"]["session"]["recording"], False, api["stop"])
        start = rep["recording"]["start"]
        self.assertEqual(start["status"], 200, start)
        self.assertEqual(start["after"], "true", start)
        self.assertEqual(start["session"], "true", start)
        self.assertIs(api["start"]["session"]["recording"], True, api["start"])

        # viewers: the studio's own preview fetches the playlist; then the
        # viewer's too (another user: a second viewer)
        self.assertGreaterEqual(int(s["viewers"] or 0), 1, s)
        self.assertGreaterEqual(int(s["peak"] or 0), int(s["viewers"]), s)
        self.assertGreaterEqual(int(rep["peak_after_viewer"] or 0), 2, rep["peak_after_viewer"])
        stats = self.d.get("/v1/streams/%s/stats" % sid, headers=ADMIN).json()
        self.assertGreaterEqual(stats.get("peak_viewers", 0), 2, stats.get("peak_viewers"))

        # End: offline in the page, and in the API
        self.assertEqual(rep["end_status"], 202)
        self.assertEqual(rep["preview_after_end"], 0, "the preview stops with the End")
        self.assertLess(rep["offline_after_ms"], 15000 * TF, rep)
        self.assertEqual(rep["badge_after_end"], "Offline")
        self.assertGreaterEqual(rep["history_rows"], 1)
        got = self.d.get("/v1/streams/" + sid, headers=ADMIN).json()
        self.assertFalse(got["is_live"], got)

        # Archive: the job link, and the job completes
        self.assertEqual(rep["archive_status"], 202, rep.get("archive_body"))
        job_id = rep["archive_body"]["archive_vod_job_id"]
        self.assertEqual(rep["archive_link"], {"href": "/jobs/" + job_id, "job": job_id})
        self.assertTrue(rep["job_page"].endswith("/jobs/" + job_id), rep["job_page"])
        self.assertEqual(self.d.get("/v1/streams/" + sid, headers=ADMIN).json()["archive_vod_job_id"],
                         job_id)
        job = self.wait_job(job_id)
        self.assertEqual(job["status"], "completed", job)

        names = sorted(os.path.basename(p) for p in rep["screenshots"])
        for name in ("desktop-stream-live", "desktop-stream-live-viewer", "phone-stream-live",
                     "desktop-stream-ended"):
            self.assertIn(name + ".png", names)
        for p in rep["screenshots"]:
            self.assertGreater(os.path.getsize(p), 5000, p)

    def test_abr_rendition_picker(self):
        """A stream with a ladder: live/index.m3u8 is a master playlist (the
        source and one rung), the preview offers a picker, and each pick
        plays that rendition at its size."""
        profile = {"id": "web_live_abr", "name": "Live ABR (browser test)", "container": "mp4",
                   "video_codec": "h264",
                   "ladder": [{"name": "low", "width": 320, "height": 180,
                               "video_bitrate_kbps": 300}]}
        r = self.d.post("/v1/profiles", profile, headers=ADMIN)
        self.assertEqual(r.status, 201, r.body)
        r = self.d.post("/v1/streams", {"title": "Browser ABR", "ladder": "web_live_abr",
                                        "record": False, "archive_enabled": False},
                        headers=OPERATOR)
        self.assertEqual(r.status, 201, r.body)
        created = r.json()
        self.assertEqual(created["ladder"], "web_live_abr")

        def answer(msg):
            if msg.get("q") == "publish":
                self.publish(created["ingest"]["rtmp"]["url"])
                return {"ok": True}
            raise AssertionError("unknown question %r" % msg)

        rep = webtest.run_driver(
            "web-live.js",
            ["--mode", "abr", "--base", "http://127.0.0.1:%d" % self.d.port,
             "--operator", webtest.creds("olga", USERS), "--stream", created["id"],
             "--shots", self.shots], on_message=answer, timeout=180)
        self.assertEqual(self.d.post("/v1/streams/%s/end" % created["id"], headers=OPERATOR).status,
                         202)
        webtest.assert_clean(self, rep, self.d)
        self.assertEqual(rep["recording_failures"], [], rep)
        labels = [o["label"] for o in rep["options"]]
        self.assertEqual(rep["options"][0]["value"], "-1", labels)
        self.assertEqual(sorted(labels[1:]), ["low", "source"], labels)
        self.assertGreaterEqual(rep["auto"]["advanced_s"], 2, rep["auto"])
        sizes = {"low": (320, 180), "source": (640, 360)}
        for name, p in rep["picked"].items():
            self.assertEqual((p["width"], p["height"]), sizes[name], (name, p))
            self.assertGreaterEqual(p["advanced_s"], 2, (name, p))
            self.assertLessEqual(p["longest_stall_ms"], 2000, (name, p))


if __name__ == "__main__":
    unittest.main()
