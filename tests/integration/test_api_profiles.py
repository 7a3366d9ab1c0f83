#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every built-in profile, end to end through the REST API: upload a
generated clip, encode it on real workers, download the output and check it
with ffprobe (codec, size, frame count, duration)."""

import os
import tempfile

import wetest

# 4:3 source, so every box is height-limited and the expected sizes are exact
SRC_W, SRC_H, FPS, SECONDS = 320, 240, 10, 1.0

EXPECT = {
    # profile: (container format, video codec, width, height, audio codec)
    "1080p_h264": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 1920, 1080, "aac"),   # padded to the full box
    "720p_h264": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 960, 720, "aac"),
    "480p_fast": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 640, 480, "aac"),
    "720p_vp9": ("matroska,webm", "vp9", 960, 720, "opus"),
    "1080p_av1": ("mov,mp4,m4a,3gp,3g2,mj2", "av1", 1440, 1080, "opus"),
    "4k_hevc": ("mov,mp4,m4a,3gp,3g2,mj2", "hevc", 2880, 2160, "aac"),
}


class Profiles(wetest.DaemonTestCase):
    workers = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        clip = wetest.make_clip(os.path.join(cls.d.media, "src.mp4"), duration=SECONDS,
                                width=SRC_W, height=SRC_H, fps=FPS)
        r = cls.d.upload(clip, filename="my source.mp4")
        assert r.status == 201, r.body
        cls.source = r.json()["url"]
        cls.outdir = tempfile.mkdtemp(dir=cls.d.tmp)
        # submit all at once: the two workers share them
        cls.jobs = {p: cls.d.submit(cls.source, p)["id"] for p in EXPECT}

    def check(self, profile):
        fmt, vcodec, w, h, acodec = EXPECT[profile]
        job = self.d.wait_job(self.jobs[profile], timeout=600)
        self.assertEqual(job["status"], "completed", job)
        self.assertEqual(job["progress_pct"], 100)
        self.assertEqual(job["tasks_completed"], job["tasks_total"])
        self.assertIsNotNone(job["finished_at"])
        self.assertAlmostEqual(job["source_media"]["duration_s"], SECONDS, delta=0.1)
        outputs = self.d.download(job["id"], self.outdir)
        self.assertEqual(len(outputs), 1)
        out, path = outputs[0]
        self.assertEqual(out["type"], "final")
        self.assertEqual(out["size_bytes"], os.path.getsize(path))
        self.assertTrue(out["name"].startswith("my_source-" + profile + "."), out["name"])
        info = wetest.probe(path)
        self.assertEqual(info["format"]["format_name"], fmt)
        streams = {s["codec_type"]: s for s in info["streams"]}
        v = streams["video"]
        self.assertEqual(v["codec_name"], vcodec)
        self.assertEqual((v["width"], v["height"]), (w, h))
        self.assertEqual(int(v["nb_read_frames"]), int(SECONDS * FPS))
        self.assertEqual(streams["audio"]["codec_name"], acodec)
        # within one video frame plus one audio frame of the source
        self.assertAlmostEqual(float(info["format"]["duration"]), SECONDS,
                               delta=1.0 / FPS + 0.025)
        return job, path

    def test_1080p_h264(self):
        _, path = self.check("1080p_h264")
        v = [s for s in wetest.probe(path)["streams"] if s["codec_type"] == "video"][0]
        self.assertEqual(v["profile"], "High")

    def test_720p_h264(self):
        job, path = self.check("720p_h264")
        # range requests on the download
        out = self.d.get("/v1/jobs/%s/outputs" % job["id"]).json()["outputs"][0]
        url = "/v1/jobs/%s/outputs/%s" % (job["id"], out["name"])
        whole = open(path, "rb").read()
        r = self.d.get(url, headers={"Range": "bytes=10-99"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, whole[10:100])
        self.assertEqual(r.headers["content-range"], "bytes 10-99/%d" % len(whole))
        r = self.d.get(url, headers={"Range": "bytes=-16"})
        self.assertEqual((r.status, r.body), (206, whole[-16:]))
        r = self.d.get(url, headers={"Range": "bytes=%d-" % (len(whole) + 5)})
        self.assertEqual(r.status, 416)
        self.assertEqual(r.json()["error"]["code"], "WE-SYS-416")
        r = self.d.request("HEAD", url)
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(int(r.headers["content-length"]), len(whole))
        self.assertEqual(r.headers["accept-ranges"], "bytes")
        r = self.d.get(url, headers={"If-None-Match": r.headers["etag"]})
        self.assertEqual(r.status, 304)
        self.assertEqual(self.d.get(url + "x").status, 404)

    def test_480p_fast(self):
        self.check("480p_fast")

    def test_720p_vp9(self):
        self.check("720p_vp9")

    def test_1080p_av1(self):
        self.check("1080p_av1")

    def test_4k_hevc(self):
        self.check("4k_hevc")

    def test_zz_delete(self):
        job = self.d.wait_job(self.jobs["480p_fast"], timeout=600)
        out = self.d.get("/v1/jobs/%s/outputs" % job["id"]).json()["outputs"][0]
        stored = self.d.stored_path(out["url"])
        self.assertTrue(os.path.exists(stored))
        r = self.d.request("DELETE", "/v1/jobs/" + job["id"])
        self.assertEqual(r.status, 204, r.body)
        self.assertFalse(os.path.exists(stored))
        self.assertEqual(self.d.get("/v1/jobs/" + job["id"]).status, 404)


if __name__ == "__main__":
    wetest.main()
