#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Outputs of the service itself, played in headless Chromium the way a
viewer's browser would: a real webencoded with basic auth packages a clip
into an AES-128 encrypted 3-rung HLS ladder (TS) and a DASH ladder, and
hls.js and dash.js play them from the REST API to the end, with the
credentials on every playlist, key and segment request."""

import base64
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import weplayer  # noqa: E402
import wetest  # noqa: E402

SECONDS, FPS = 6.0, 25
LADDER = [
    {"name": "360p", "width": 640, "height": 360, "video_bitrate_kbps": 700},
    {"name": "240p", "width": 426, "height": 240, "video_bitrate_kbps": 350},
    {"name": "144p", "width": 256, "height": 144, "video_bitrate_kbps": 150},
]
AUTH = {"Authorization": "Basic " + base64.b64encode(b"vic:vic-secret").decode()}
ADMIN = {"Authorization": "Basic " + base64.b64encode(b"ada:ada-secret").decode()}


class ServicePlayback(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        weplayer.check()
        d = wetest.Daemon(workers=2)
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user in ("ada", "vic"):
                crypt = subprocess.run(["openssl", "passwd", "-6", user + "-secret"],
                                       check=True, capture_output=True, text=True).stdout
                f.write("%s:%s\n" % (user, crypt.strip()))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": "ada=admin;vic=viewer",
        }
        cls.d = d.start()
        clip = wetest.make_clip(os.path.join(d.media, "clip.mp4"), duration=SECONDS,
                                width=640, height=360, fps=FPS, gop=FPS)
        r = d.upload(clip, headers=ADMIN)
        assert r.status == 201, r.body
        source = r.json()["url"]
        common = {"container": "mp4", "video_codec": "h264", "preset": "ultrafast",
                  "keyframe_interval_s": 1, "ladder": LADDER}
        cls.jobs = {}
        for name, extra in (
                ("hls", {"hls": {"enabled": True, "segment_duration_s": 2,
                                 "segment_type": "ts", "encryption": "aes-128"}}),
                ("dash", {"dash": {"enabled": True, "segment_duration_s": 2}})):
            profile = dict(common, id="play_" + name, **extra)
            r = d.post("/v1/jobs", {"source_url": source, "custom_profile": profile},
                       headers=ADMIN)
            assert r.status == 201, r.body
            cls.jobs[name] = r.json()["id"]

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def completed(self, name):
        end = time.time() + 600 * wetest.TIME_FACTOR
        while time.time() < end:
            job = self.d.get("/v1/jobs/" + self.jobs[name], headers=AUTH).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.3)
        self.assertEqual(job["status"], "completed", (job, self.d.tail(40)))
        return job

    def play(self, name, manifest, kind):
        self.completed(name)
        url = "http://127.0.0.1:%d/v1/jobs/%s/outputs/%s" % (self.d.port, self.jobs[name],
                                                             manifest)
        r = weplayer.play(url, kind, rate=4, timeout=90, headers=AUTH)
        print("%s: %s" % (kind, r), file=sys.stderr)
        self.assertTrue(weplayer.clean(r), r)
        self.assertAlmostEqual(r["duration"], SECONDS, delta=0.3, msg=r)
        self.assertAlmostEqual(r["current_time"], r["duration"], delta=0.3, msg=r)
        self.assertGreater(r["frames"]["decoded"], 0, r)
        self.assertEqual(sorted((l["width"], l["height"]) for l in r["levels"]),
                         [(256, 144), (426, 240), (640, 360)], r)
        return r

    def test_encrypted_hls(self):
        self.play("hls", "master.m3u8", "hls")

    def test_dash(self):
        self.play("dash", "manifest.mpd", "dash")

    def test_without_credentials_nothing_plays(self):
        self.completed("hls")
        url = "http://127.0.0.1:%d/v1/jobs/%s/outputs/master.m3u8" % (self.d.port,
                                                                      self.jobs["hls"])
        r = weplayer.play(url, "hls", rate=4, timeout=30)
        self.assertFalse(r["ended"], r)
        self.assertTrue(r["fatal"] or r["errors"], r)


if __name__ == "__main__":
    unittest.main()
