#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every built-in profile, end to end through the REST API: upload a
generated clip, encode it on real workers, download the output and check it
with ffprobe (codec, size, frame count, duration). Then the profiles API
itself: create, replace, duplicate and delete, built-ins read-only,
validation errors, roles, and jobs with a user's profile or an inline
custom one."""

import base64
import copy
import os
import subprocess
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


# a user's profile with every packaging member set (docs/api.md "Profiles")
ABR = {
    "id": "abr_h264",
    "name": "ABR H.264",
    "description": "three rungs, HLS and DASH",
    "container": "mp4",
    "video_codec": "h264",
    "width": 1920, "height": 1080,
    "video_bitrate_kbps": 5000, "max_bitrate_kbps": 5500,
    "preset": "medium",
    "audio_codec": "aac", "audio_bitrate_kbps": 160,
    "max_attempts": 4,
    "segment_target_s": 20.0, "segment_min_s": 5.0, "segment_max_s": 60.0,
    "ladder": [
        {"name": "1080p", "width": 1920, "height": 1080, "video_bitrate_kbps": 5000,
         "max_bitrate_kbps": 5500, "audio_bitrate_kbps": 192, "enabled": True},
        {"name": "720p", "width": 1280, "height": 720, "video_bitrate_kbps": 2500,
         "max_bitrate_kbps": 2750, "audio_bitrate_kbps": 128, "enabled": False},
        {"name": "480p", "width": 854, "height": 480, "video_bitrate_kbps": 1000,
         "max_bitrate_kbps": 0, "audio_bitrate_kbps": 96, "enabled": True},
    ],
    "hls": {"enabled": True, "segment_duration_s": 4.0, "segment_type": "fmp4",
            "encryption": "aes-128"},
    "dash": {"enabled": False, "segment_duration_s": 2.0},
    "thumbnails": {"poster": True, "interval_s": 5, "width": 240, "sprite": True,
                   "sprite_columns": 8, "storyboard": True},
    "subtitles": {"mode": "extract", "formats": ["vtt", "srt"], "burn_track": 0},
    "audio": {"passthrough_when_compatible": False, "normalize_lufs": -16.0,
              "keep_all_tracks": True},
}

DEFAULT_PACKAGING = {
    "ladder": [],
    "hls": {"enabled": False, "segment_duration_s": 6.0, "segment_type": "ts",
            "encryption": "none"},
    "dash": {"enabled": False, "segment_duration_s": 6.0},
    "thumbnails": {"poster": False, "interval_s": 0, "width": 320, "sprite": False,
                   "sprite_columns": 10, "storyboard": False},
    "subtitles": {"mode": "none", "formats": ["vtt"], "burn_track": 0},
    "audio": {"passthrough_when_compatible": False, "normalize_lufs": None,
              "keep_all_tracks": False},
}


def with_changes(base, **changes):
    p = copy.deepcopy(base)
    p.update(changes)
    return p


def assert_subset(test, expected, actual):
    """Every member of @expected has its value in @actual."""
    for k, v in expected.items():
        test.assertIn(k, actual)
        test.assertEqual(actual[k], v, k)


class ProfilesApi(wetest.DaemonTestCase):
    workers = 1

    def put(self, path, body, **kw):
        return self.d.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.d.request("DELETE", path, **kw)

    def ids(self):
        r = self.d.get("/v1/profiles")
        self.assertEqual(r.status, 200, r.body)
        return [p["id"] for p in r.json()["profiles"]]

    def test_builtins_carry_the_packaging_defaults(self):
        for p in self.d.get("/v1/profiles").json()["profiles"]:
            if p["builtin"]:
                assert_subset(self, DEFAULT_PACKAGING, p)

    def test_create_get_replace_delete(self):
        r = self.d.post("/v1/profiles", ABR)
        self.assertEqual(r.status, 201, r.body)
        created = r.json()
        assert_subset(self, ABR, created)
        self.assertFalse(created["builtin"])
        # the defaults of what was left out
        self.assertFalse(created["pad"])
        self.assertEqual(created["keyframe_interval_s"], 2)

        r = self.d.get("/v1/profiles/abr_h264")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), created)
        ids = self.ids()
        self.assertIn("abr_h264", ids)
        # built-ins first, then the users' profiles
        self.assertLess(ids.index("720p_h264"), ids.index("abr_h264"))

        # an id that exists: built-in or not
        err = self.assertError(self.d.post("/v1/profiles", ABR), 409, "WE-SYS-409")
        self.assertIn("abr_h264", err["details"])
        err = self.assertError(self.d.post("/v1/profiles", with_changes(ABR, id="720p_h264")),
                               409, "WE-SYS-409")
        self.assertFalse(self.d.get("/v1/profiles/720p_h264").json()["description"]
                         == ABR["description"])

        # PUT replaces the whole profile: what it leaves out returns to the defaults
        r = self.put("/v1/profiles/abr_h264", {"name": "Plain now", "video_codec": "vp9",
                                               "container": "webm", "audio_codec": "opus"})
        self.assertEqual(r.status, 200, r.body)
        replaced = r.json()
        self.assertEqual(replaced["id"], "abr_h264")
        self.assertEqual(replaced["name"], "Plain now")
        self.assertEqual(replaced["video_codec"], "vp9")
        self.assertEqual(replaced["width"], 1280)
        self.assertEqual(replaced["max_attempts"], 3)
        assert_subset(self, DEFAULT_PACKAGING, replaced)
        self.assertEqual(self.d.get("/v1/profiles/abr_h264").json(), replaced)

        # the body may repeat the id, not change it
        r = self.put("/v1/profiles/abr_h264", with_changes(ABR, width=1280, height=720))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["width"], 1280)
        err = self.assertError(self.put("/v1/profiles/abr_h264", with_changes(ABR, id="other")),
                               400, "WE-JOB-003")
        self.assertIn("id", err["details"])
        # an invalid replacement changes nothing
        self.assertError(self.put("/v1/profiles/abr_h264", {"width": 7}), 400, "WE-JOB-003")
        self.assertEqual(self.d.get("/v1/profiles/abr_h264").json()["width"], 1280)
        err = self.assertError(self.put("/v1/profiles/nope", ABR | {"id": "nope"}), 400,
                               "WE-JOB-003")
        self.assertIn("nope", err["details"])
        self.assertError(self.put("/v1/profiles/abr_h264", b"{"), 400, "WE-JOB-001")

        r = self.delete("/v1/profiles/abr_h264")
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertError(self.d.get("/v1/profiles/abr_h264"), 400, "WE-JOB-003")
        self.assertNotIn("abr_h264", self.ids())
        self.assertError(self.delete("/v1/profiles/abr_h264"), 400, "WE-JOB-003")
        # the id is free again
        self.assertEqual(self.d.post("/v1/profiles", ABR).status, 201)
        self.assertEqual(self.delete("/v1/profiles/abr_h264").status, 204)

    def test_builtins_are_read_only(self):
        before = self.d.get("/v1/profiles/720p_h264").json()
        self.assertTrue(before["builtin"])
        err = self.assertError(self.put("/v1/profiles/720p_h264",
                                        with_changes(before, width=640, height=360)),
                               403, "WE-AUTH-003")
        self.assertIn("read-only", err["details"])
        err = self.assertError(self.delete("/v1/profiles/720p_h264"), 403, "WE-AUTH-003")
        self.assertIn("720p_h264", err["details"])
        self.assertEqual(self.d.get("/v1/profiles/720p_h264").json(), before)

    def test_duplicate(self):
        source = self.d.get("/v1/profiles/480p_fast").json()
        r = self.d.post("/v1/profiles/480p_fast/duplicate")
        self.assertEqual(r.status, 201, r.body)
        first = r.json()
        self.assertEqual(first["id"], "480p_fast_copy")
        self.assertEqual(first["name"], "480p_fast (copy)")
        self.assertFalse(first["builtin"])
        for k in source:
            if k not in ("id", "name", "builtin"):
                self.assertEqual(first[k], source[k], k)
        self.assertEqual(self.d.get("/v1/profiles/480p_fast_copy").json(), first)

        r = self.d.post("/v1/profiles/480p_fast/duplicate", {})
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["id"], "480p_fast_copy2")
        r = self.d.post("/v1/profiles/480p_fast/duplicate", {"id": "my_480", "name": "Mine"})
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual((r.json()["id"], r.json()["name"]), ("my_480", "Mine"))
        # a copy is the user's: it can change and go
        r = self.put("/v1/profiles/my_480", with_changes(r.json(), preset="slow"))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["preset"], "slow")
        # and be copied itself
        r = self.d.post("/v1/profiles/my_480/duplicate", {"name": "Mine too"})
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual((r.json()["id"], r.json()["preset"]), ("my_480_copy", "slow"))

        self.assertError(self.d.post("/v1/profiles/480p_fast/duplicate", {"id": "my_480"}),
                         409, "WE-SYS-409")
        err = self.assertError(self.d.post("/v1/profiles/480p_fast/duplicate",
                                           {"id": "Bad Id"}), 400, "WE-JOB-003")
        self.assertIn("id must be", err["details"])
        self.assertError(self.d.post("/v1/profiles/480p_fast/duplicate", {"name": ""}), 400,
                         "WE-JOB-003")
        self.assertError(self.d.post("/v1/profiles/480p_fast/duplicate", {"width": 3}), 400,
                         "WE-JOB-001")
        self.assertError(self.d.post("/v1/profiles/480p_fast/duplicate", {"id": 5}), 400,
                         "WE-JOB-001")
        self.assertError(self.d.post("/v1/profiles/nope/duplicate"), 400, "WE-JOB-003")
        for pid in ("480p_fast_copy", "480p_fast_copy2", "my_480", "my_480_copy"):
            self.assertEqual(self.delete("/v1/profiles/" + pid).status, 204, pid)
        self.assertTrue(self.d.get("/v1/profiles/480p_fast").json()["builtin"])

    def test_validation_errors(self):
        cases = [
            # (changes on ABR, a piece of the details naming the field)
            ({"id": "Has Space"}, "id must be 1-64 characters of [a-z0-9_-]"),
            ({"colour": "red"}, 'unknown profile field "colour"'),
            ({"width": "wide"}, '"width" must be an integer'),
            ({"container": "avi"}, "container must be one of mp4, webm, mkv"),
            ({"container": "webm"}, "container webm holds only vp9 or av1 video"),
            ({"preset": "warp"}, "preset must be one of"),
            ({"width": 1921}, "width and height must be even"),
            ({"height": 9000}, "height must be between 16 and 4320"),
            ({"max_bitrate_kbps": 4000}, "max_bitrate_kbps (4000) must be at least "
                                         "video_bitrate_kbps (5000)"),
            ({"segment_min_s": 30.0}, "0 < min <= target <= max"),
            ({"max_attempts": 11}, "max_attempts must be between 1 and 10"),
            ({"ladder": ABR["ladder"] + [dict(ABR["ladder"][0])]},
             'ladder[3].name "1080p" is used by an earlier rung'),
            ({"ladder": [dict(ABR["ladder"][0], name="Full HD")]}, "ladder[0].name must be"),
            ({"ladder": [dict(ABR["ladder"][0], video_bitrate_kbps=0)]},
             "ladder[0].video_bitrate_kbps must be between 1 and 200000"),
            ({"ladder": [dict(ABR["ladder"][0], max_bitrate_kbps=10)]},
             "ladder[0].max_bitrate_kbps (10) must be at least"),
            ({"ladder": [dict(ABR["ladder"][0], enabled=False)]}, "ladder has no enabled rung"),
            ({"ladder": [dict(ABR["ladder"][0], name="r%d" % i) for i in range(9)]},
             "at most 8"),
            ({"hls": dict(ABR["hls"], segment_duration_s=45)},
             "hls.segment_duration_s must be between 1 and 30"),
            ({"dash": {"segment_duration_s": 0}}, "dash.segment_duration_s must be between 1 and 30"),
            ({"hls": {"enabled": False, "encryption": "aes-128"}},
             'hls.encryption "aes-128" needs hls.enabled'),
            ({"hls": {"enabled": True, "segment_type": "ts"}, "video_codec": "hevc"},
             'hls.segment_type "ts" holds only h264 video'),
            ({"hls": {"bogus": 1}}, 'unknown profile field "hls.bogus"'),
            ({"thumbnails": {"interval_s": 0, "sprite": True}},
             "thumbnails.sprite needs thumbnails.interval_s > 0"),
            ({"thumbnails": {"width": 99}}, "thumbnails.width must be"),
            ({"subtitles": {"mode": "embed"}}, "subtitles.mode must be one of"),
            ({"subtitles": {"formats": ["ass"]}}, "subtitles.formats[] must be one of vtt, srt"),
            ({"audio": {"normalize_lufs": -90}}, "audio.normalize_lufs must be between -70 and -5"),
            ({"audio": {"normalize_lufs": -16, "passthrough_when_compatible": True}},
             "cannot be combined"),
        ]
        for changes, message in cases:
            with self.subTest(changes=changes):
                body = with_changes(ABR, **changes)
                err = self.assertError(self.d.post("/v1/profiles", body), 400, "WE-JOB-003")
                self.assertEqual(err["message"], "Invalid profile")
                self.assertIn(message, err["details"])
        self.assertError(self.d.post("/v1/profiles", {"name": "no id"}), 400, "WE-JOB-003")
        self.assertError(self.d.post("/v1/profiles", b"[1]"), 400, "WE-JOB-001")
        self.assertError(self.d.post("/v1/profiles", b"{nope"), 400, "WE-JOB-001")
        self.assertNotIn("abr_h264", self.ids())

    def test_method_not_allowed(self):
        self.assertError(self.d.request("PATCH", "/v1/profiles/720p_h264", body={}), 405,
                         "WE-SYS-405")
        self.assertError(self.put("/v1/profiles", ABR), 405, "WE-SYS-405")


class ProfileJobs(wetest.DaemonTestCase):
    """Jobs with a user's stored profile and with an inline custom one."""
    workers = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        clip = wetest.make_clip(os.path.join(cls.d.media, "src.mp4"), duration=SECONDS,
                                width=SRC_W, height=SRC_H, fps=FPS)
        r = cls.d.upload(clip, filename="clip.mp4")
        assert r.status == 201, r.body
        cls.source = r.json()["url"]
        cls.outdir = tempfile.mkdtemp(dir=cls.d.tmp)

    def encoded(self, job_id):
        job = self.d.wait_job(job_id, timeout=300)
        self.assertEqual(job["status"], "completed", job)
        outputs = self.d.download(job["id"], self.outdir)
        finals = [(o, p) for o, p in outputs if o["type"] == "final"]
        self.assertEqual(len(finals), 1, outputs)
        self.extras = [o for o, _ in outputs if o["type"] != "final"]
        out, path = finals[0]
        info = wetest.probe(path)
        return job, out, info, {s["codec_type"]: s for s in info["streams"]}

    def test_custom_profile(self):
        custom = {"id": "tiny_mkv", "name": "Tiny", "container": "mkv", "video_codec": "h264",
                  "width": 160, "height": 120, "video_bitrate_kbps": 300, "preset": "veryfast",
                  "audio_codec": "opus", "audio_bitrate_kbps": 48,
                  "thumbnails": {"poster": True}}
        job = self.post_job({"source_url": self.source, "custom_profile": custom})
        self.assertEqual(job["profile"], "tiny_mkv")
        snapshot = job["output_config"]["profile"]
        self.assertEqual((snapshot["width"], snapshot["container"]), (160, "mkv"))
        self.assertTrue(snapshot["thumbnails"]["poster"])
        self.assertTrue(job["output_config"]["custom_profile"])
        job, out, info, streams = self.encoded(job["id"])
        self.assertTrue(out["name"].endswith("-tiny_mkv.mkv"), out["name"])
        self.assertEqual(info["format"]["format_name"], "matroska,webm")
        self.assertEqual(streams["video"]["codec_name"], "h264")
        self.assertEqual((streams["video"]["width"], streams["video"]["height"]), (160, 120))
        self.assertEqual(int(streams["video"]["nb_read_frames"]), int(SECONDS * FPS))
        self.assertEqual(streams["audio"]["codec_name"], "opus")
        # the profile asks for a poster, and only for that
        self.assertEqual([(o["name"], o["type"], o["content_type"]) for o in self.extras],
                         [("thumbnails/poster.jpg", "thumbnail", "image/jpeg")])
        # a custom profile is the job's alone
        self.assertError(self.d.get("/v1/profiles/tiny_mkv"), 400, "WE-JOB-003")

        # a retry keeps it
        r = self.d.post("/v1/jobs/%s/retry" % job["id"])
        self.assertEqual(r.status, 201, r.body)
        again = r.json()
        self.assertEqual(again["retry_of"], job["id"])
        self.assertEqual(again["output_config"]["profile"], job["output_config"]["profile"])
        _, _, _, streams = self.encoded(again["id"])
        self.assertEqual((streams["video"]["width"], streams["audio"]["codec_name"]),
                         (160, "opus"))

    def test_custom_profile_without_id(self):
        job = self.post_job({"source_url": self.source,
                             "custom_profile": {"width": 192, "height": 144,
                                                "preset": "ultrafast"}})
        self.assertEqual(job["profile"], "custom")
        job, out, info, streams = self.encoded(job["id"])
        self.assertTrue(out["name"].endswith("-custom.mp4"), out["name"])
        self.assertEqual((streams["video"]["width"], streams["video"]["height"]), (192, 144))
        self.assertEqual(streams["audio"]["codec_name"], "aac")

    def test_stored_user_profile(self):
        body = {"id": "small_webm", "container": "webm", "video_codec": "vp9",
                "audio_codec": "opus", "width": 160, "height": 160, "video_bitrate_kbps": 200}
        r = self.d.post("/v1/profiles", body)
        self.assertEqual(r.status, 201, r.body)
        job = self.d.submit(self.source, "small_webm")
        self.assertEqual(job["profile"], "small_webm")
        job, out, info, streams = self.encoded(job["id"])
        self.assertEqual(info["format"]["format_name"], "matroska,webm")
        self.assertEqual(streams["video"]["codec_name"], "vp9")
        # the box is 160x160; the 4:3 source is width-limited
        self.assertEqual((streams["video"]["width"], streams["video"]["height"]), (160, 120))
        # the job keeps its snapshot when the profile goes
        self.assertEqual(self.d.request("DELETE", "/v1/profiles/small_webm").status, 204)
        self.assertEqual(self.d.get("/v1/jobs/" + job["id"]).json()["output_config"]
                         ["profile"]["video_codec"], "vp9")

    def test_custom_profile_errors(self):
        src = self.source
        err = self.assertError(self.d.post("/v1/jobs", {
            "source_url": src, "custom_profile": {"width": 161}}), 400, "WE-JOB-003")
        self.assertIn("custom_profile: width and height must be even", err["details"])
        err = self.assertError(self.d.post("/v1/jobs", {
            "source_url": src, "custom_profile": {"hls": {"enabled": True,
                                                          "segment_duration_s": 60}}}),
            400, "WE-JOB-003")
        self.assertIn("hls.segment_duration_s", err["details"])
        err = self.assertError(self.d.post("/v1/jobs", {
            "source_url": src, "custom_profile": {"id": "x"}, "profile": "720p_h264"}),
            400, "WE-JOB-001")
        self.assertIn("custom_profile", err["details"])
        self.assertError(self.d.post("/v1/jobs", {
            "source_url": src, "custom_profile": {}, "profile_overrides": {"width": 640}}),
            400, "WE-JOB-001")
        self.assertError(self.d.post("/v1/jobs", {"source_url": src, "custom_profile": "x"}),
                         400, "WE-JOB-001")
        # the overrides of a stored profile get the same checks
        err = self.assertError(self.d.post("/v1/jobs", {
            "source_url": src, "profile": "720p_h264",
            "profile_overrides": {"audio": {"normalize_lufs": 3}}}), 400, "WE-JOB-003")
        self.assertIn("audio.normalize_lufs must be between -70 and -5", err["details"])
        err = self.assertError(self.d.post("/v1/jobs", {
            "source_url": src, "profile": "720p_h264",
            "profile_overrides": {"ladder": [{"name": "a"}]}}), 400, "WE-JOB-003")
        self.assertIn("ladder[0].width", err["details"])

    def post_job(self, body):
        r = self.d.post("/v1/jobs", body)
        self.assertEqual(r.status, 201, r.body)
        return r.json()


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], check=True,
                          capture_output=True, text=True).stdout.strip()


def basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + token}


class ProfileRoles(wetest.DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        d = wetest.Daemon(workers=1)
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user in ("ada", "otto", "vic"):
                f.write("%s:%s\n" % (user, sha512_crypt(user + "-secret")))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": "ada=admin;otto=operator;vic=viewer",
        }
        cls.d = d.start()

    def test_roles(self):
        viewer, operator = basic("vic", "vic-secret"), basic("otto", "otto-secret")
        admin = basic("ada", "ada-secret")
        body = {"id": "team_720", "width": 1280, "height": 720}

        self.assertError(self.d.get("/v1/profiles"), 401, "WE-AUTH-001")
        self.assertError(self.d.post("/v1/profiles", body), 401, "WE-AUTH-001")
        self.assertError(self.d.post("/v1/profiles", body, headers=basic("vic", "wrong")), 401,
                         "WE-AUTH-001")
        # a viewer reads, and only reads
        r = self.d.get("/v1/profiles", headers=viewer)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.d.get("/v1/profiles/720p_h264", headers=viewer).status, 200)
        self.assertError(self.d.post("/v1/profiles", body, headers=viewer), 403, "WE-AUTH-004")
        self.assertError(self.d.request("PUT", "/v1/profiles/720p_h264", body=body,
                                        headers=viewer), 403, "WE-AUTH-004")
        self.assertError(self.d.request("DELETE", "/v1/profiles/720p_h264", headers=viewer),
                         403, "WE-AUTH-004")
        self.assertError(self.d.post("/v1/profiles/720p_h264/duplicate", headers=viewer), 403,
                         "WE-AUTH-004")
        self.assertError(self.d.get("/v1/profiles/team_720", headers=viewer), 400, "WE-JOB-003")

        # managing profiles is the admin's (spec §19.5): an operator only reads
        for who in (viewer, operator):
            self.assertError(self.d.post("/v1/profiles", body, headers=who), 403, "WE-AUTH-004")
            self.assertError(self.d.post("/v1/profiles/720p_h264/duplicate", headers=who), 403,
                             "WE-AUTH-004")
        self.assertEqual(self.d.get("/v1/profiles/720p_h264", headers=operator).status, 200)
        r = self.d.post("/v1/profiles", body, headers=admin)
        self.assertEqual(r.status, 201, r.body)
        self.assertError(self.d.request("PUT", "/v1/profiles/team_720", body=dict(body, crf=20),
                                        headers=operator), 403, "WE-AUTH-004")
        r = self.d.request("PUT", "/v1/profiles/team_720", body=dict(body, crf=20),
                           headers=admin)
        self.assertEqual((r.status, r.json()["crf"]), (200, 20))
        r = self.d.post("/v1/profiles/team_720/duplicate", headers=admin)
        self.assertEqual((r.status, r.json()["id"]), (201, "team_720_copy"))
        self.assertError(self.d.request("DELETE", "/v1/profiles/team_720", headers=operator),
                         403, "WE-AUTH-004")
        # built-ins stay read-only, even for an admin
        self.assertError(self.d.request("DELETE", "/v1/profiles/720p_h264", headers=admin),
                         403, "WE-AUTH-003")
        self.assertEqual(self.d.request("DELETE", "/v1/profiles/team_720_copy",
                                        headers=admin).status, 204)
        self.assertEqual(self.d.request("DELETE", "/v1/profiles/team_720",
                                        headers=admin).status, 204)

        log = self.d.tail(300)
        for line in ("audit: user=ada role=admin action=profile.create "
                     "resource=profile/team_720 result=success",
                     "audit: user=ada role=admin action=profile.update "
                     "resource=profile/team_720 result=success",
                     "audit: user=ada role=admin action=profile.duplicate "
                     "resource=profile/team_720->team_720_copy result=success",
                     "audit: user=ada role=admin action=profile.delete "
                     "resource=profile/team_720_copy result=success",
                     "audit: user=ada role=admin action=profile.delete "
                     "resource=profile/720p_h264 result=failure"):
            self.assertIn(line, log)
        # refused by role: never reached the handler, so no audit line
        self.assertNotIn("user=vic", log)


if __name__ == "__main__":
    wetest.main()
