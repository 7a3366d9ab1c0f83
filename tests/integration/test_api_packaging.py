#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Packaged outputs end to end through the REST API, on real workers: an
encrypted 3-rung HLS ladder with thumbnails and subtitle files from a source
with a subtitle track, and a DASH + fMP4 HLS ladder. Checks what a player and
a user see: the outputs list with types, the master and media playlists
served by the API (rungs aligned, never upscaled), AES-128 segments that
decrypt only with the key the service serves to readers of the job, the
thumbnails, sprite and storyboard, the subtitle files, and a delete that
removes the segments too."""

import base64
import os
import re
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import wetest

SRC_W, SRC_H, FPS, SECONDS = 640, 360, 25, 6.0
SEGMENT_S = 2
LADDER = [
    # above the source: never encoded
    {"name": "720p", "width": 1280, "height": 720, "video_bitrate_kbps": 1500},
    {"name": "360p", "width": 640, "height": 360, "video_bitrate_kbps": 700},
    {"name": "240p", "width": 426, "height": 240, "video_bitrate_kbps": 350},
    {"name": "144p", "width": 256, "height": 144, "video_bitrate_kbps": 150},
]
ENCODED = {"360p": (640, 360), "240p": (426, 240), "144p": (256, 144)}


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], check=True,
                          capture_output=True, text=True).stdout.strip()


def basic(user):
    token = base64.b64encode(("%s:%s-secret" % (user, user)).encode()).decode()
    return {"Authorization": "Basic " + token}


ADMIN = basic("ada")
VIEWER = basic("vic")


def attributes(line):
    """The attribute list of an HLS tag line, quotes removed."""
    _, _, rest = line.partition(":")
    return {k: v.strip('"') for k, v in
            re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', rest)}


def media_segments(text):
    """[(duration, uri)] of a media playlist, and its EXT-X-KEY attributes."""
    segments, key, duration = [], None, None
    for line in text.splitlines():
        if line.startswith("#EXT-X-KEY:"):
            key = attributes(line)
        elif line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:"):].split(",")[0])
        elif line and not line.startswith("#"):
            segments.append((duration, line))
    return segments, key


def decrypt(data, key, iv):
    r = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", key.hex(), "-iv",
                        iv.hex()], input=data, capture_output=True)
    return r.stdout if r.returncode == 0 else None


def is_ts(data):
    return len(data) >= 188 * 2 and all(data[i] == 0x47 for i in range(0, len(data), 188))


class Packaging(wetest.DaemonTestCase):
    workers = 2

    @classmethod
    def setUpClass(cls):
        d = wetest.Daemon(workers=cls.workers)
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user in ("ada", "vic"):
                f.write("%s:%s\n" % (user, sha512_crypt(user + "-secret")))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": "ada=admin;vic=viewer",
        }
        cls.d = d.start()
        clip = wetest.make_clip(os.path.join(d.media, "talk.mkv"), duration=SECONDS,
                                width=SRC_W, height=SRC_H, fps=FPS, gop=FPS,
                                container="mkv", subtitles=True)
        r = d.upload(clip, headers=ADMIN)
        assert r.status == 201, r.body
        cls.source = r.json()["url"]
        cls.outdir = tempfile.mkdtemp(dir=d.tmp)
        cls.hls = cls.submit({
            "id": "ladder_ts", "container": "mp4", "video_codec": "h264", "preset": "ultrafast",
            "keyframe_interval_s": 1, "ladder": LADDER,
            "hls": {"enabled": True, "segment_duration_s": SEGMENT_S, "segment_type": "ts",
                    "encryption": "aes-128"},
            "thumbnails": {"poster": True, "interval_s": 2, "width": 160, "sprite": True,
                           "sprite_columns": 2, "storyboard": True},
            "subtitles": {"mode": "extract", "formats": ["vtt", "srt"]},
        })
        clip = wetest.make_clip(os.path.join(d.media, "bilingual.mkv"), duration=4,
                                width=320, height=240, fps=FPS, container="mkv",
                                subtitles=True, audio_languages="eng,fra", pattern="black")
        r = d.upload(clip, headers=ADMIN)
        assert r.status == 201, r.body
        bilingual = r.json()["url"]
        cls.keep_all = cls.submit({
            "id": "keep_all", "container": "mkv", "video_codec": "h264", "preset": "ultrafast",
            "audio": {"keep_all_tracks": True}, "subtitles": {"mode": "passthrough"},
        }, bilingual)
        cls.burn = cls.submit({
            "id": "burn", "container": "mp4", "video_codec": "h264", "preset": "ultrafast",
            "subtitles": {"mode": "burn", "burn_track": 0},
        }, bilingual)
        cls.dash = cls.submit({
            "id": "ladder_cmaf", "container": "mp4", "video_codec": "h264",
            "preset": "ultrafast", "keyframe_interval_s": 1, "ladder": LADDER[1:],
            "hls": {"enabled": True, "segment_duration_s": SEGMENT_S, "segment_type": "fmp4"},
            "dash": {"enabled": True, "segment_duration_s": SEGMENT_S},
        })

    @classmethod
    def submit(cls, profile, source=None):
        r = cls.d.post("/v1/jobs", {"source_url": source or cls.source,
                                    "custom_profile": profile}, headers=ADMIN)
        assert r.status == 201, r.body
        return r.json()["id"]

    def get(self, path, headers=ADMIN):
        return self.d.get(path, headers=headers)

    def finished(self, job_id):
        job = None
        end = time.time() + 600 * wetest.TIME_FACTOR
        while time.time() < end:
            job = self.get("/v1/jobs/" + job_id).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.3)
        self.assertEqual(job["status"], "completed", (job, self.d.tail(40)))
        self.assertEqual(job["progress_pct"], 100)
        outputs = self.get("/v1/jobs/%s/outputs" % job_id).json()["outputs"]
        return job, {o["name"]: o for o in outputs}

    def fetch(self, job_id, name, headers=ADMIN):
        r = self.get("/v1/jobs/%s/outputs/%s" % (job_id, name), headers=headers)
        self.assertEqual(r.status, 200, (name, r.body[:300]))
        return r

    # --- the encrypted TS ladder ---

    def test_hls_ladder(self):
        job, outputs = self.finished(self.hls)
        types = {}
        for o in outputs.values():
            types.setdefault(o["type"], []).append(o["name"])
            self.assertGreater(o["size_bytes"], 0, o)
        self.assertEqual(types["manifest"], ["master.m3u8"])
        renditions = sorted(n for n in types["rendition"])
        self.assertEqual(renditions, sorted("%s/index.m3u8" % n for n in ENCODED))
        # the master playlist, through the API, as a player gets it
        r = self.fetch(self.hls, "master.m3u8")
        self.assertEqual(r.headers["content-type"], "application/vnd.apple.mpegurl")
        master = r.body.decode()
        self.assertTrue(master.startswith("#EXTM3U"), master)
        variants = []
        lines = master.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("#EXT-X-STREAM-INF:"):
                variants.append((attributes(line), lines[i + 1]))
        self.assertEqual(len(variants), 3, master)
        counts, boundaries = set(), set()
        for attrs, uri in variants:
            rung = uri.split("/")[0]
            w, h = ENCODED[rung]
            self.assertEqual(attrs["RESOLUTION"], "%dx%d" % (w, h))
            self.assertGreater(int(attrs["BANDWIDTH"]), 0)
            self.assertRegex(attrs["CODECS"], r"avc1\.[0-9a-fA-F]{6},mp4a\.40\.2")
            text = self.fetch(self.hls, uri).body.decode()
            segments, key = media_segments(text)
            counts.add(len(segments))
            boundaries.add(tuple(round(d, 2) for d, _ in segments))
            # the key is named, never included
            self.assertEqual(key["METHOD"], "AES-128")
            self.assertEqual(key["URI"], "/v1/jobs/%s/key" % self.hls)
            self.assertNotIn(self.key().hex(), text.lower())
        self.assertEqual(counts, {int(SECONDS / SEGMENT_S)})
        self.assertEqual(len(boundaries), 1, boundaries)
        self.assertAlmostEqual(sum(next(iter(boundaries))), SECONDS, delta=0.1)
        self.assertEqual(job["output_config"]["ladder"]["dropped"], ["720p"])

    def key(self, headers=VIEWER):
        r = self.get("/v1/jobs/%s/key" % self.hls, headers=headers)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["cache-control"], "no-store")
        self.assertEqual(len(r.body), 16)
        return r.body

    def test_aes128(self):
        self.finished(self.hls)
        key = self.key()
        self.assertEqual(key, self.key(ADMIN))
        # no credentials, no key
        self.assertError(self.d.get("/v1/jobs/%s/key" % self.hls), 401, "WE-AUTH-001")
        text = self.fetch(self.hls, "240p/index.m3u8").body.decode()
        segments, attrs = media_segments(text)
        sequence = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1)) \
            if "#EXT-X-MEDIA-SEQUENCE" in text else 0
        for n, (_, uri) in enumerate(segments):
            data = self.fetch(self.hls, "240p/" + uri, headers=VIEWER).body
            self.assertFalse(is_ts(data), "segment %s is in the clear" % uri)
            iv = bytes.fromhex(attrs["IV"][2:]) if "IV" in attrs else \
                (sequence + n).to_bytes(16, "big")
            clear = decrypt(data, key, iv)
            self.assertIsNotNone(clear, uri)
            self.assertTrue(is_ts(clear), uri)
            wrong = decrypt(data, bytes(16), iv)
            self.assertFalse(wrong is not None and is_ts(wrong), uri)
        # the key nowhere in the store
        self.assertNotIn(key.hex(), str(self.get("/v1/jobs/" + self.hls).json()))

    def test_thumbnails(self):
        job, outputs = self.finished(self.hls)
        thumbs = {n: o for n, o in outputs.items() if o["type"] == "thumbnail"}
        self.assertIn("thumbnails/poster.jpg", thumbs)
        frames = sorted(n for n in thumbs if re.match(r"thumbnails/thumb_\d+\.jpg$", n))
        self.assertEqual(len(frames), int(SECONDS / 2))
        poster = self.fetch(self.hls, "thumbnails/poster.jpg")
        self.assertEqual(poster.headers["content-type"], "image/jpeg")
        self.assertEqual(poster.body[:3], b"\xff\xd8\xff")
        vtt = self.fetch(self.hls, "thumbnails/storyboard.vtt").body.decode()
        self.assertTrue(vtt.startswith("WEBVTT"), vtt)
        cues = re.findall(r"([\d:.]+) --> ([\d:.]+)\s*\n(\S+)", vtt)
        self.assertEqual(len(cues), int(SECONDS / 2), vtt)
        self.assertTrue(all(c[2].startswith("sprite.jpg#xywh=") for c in cues), vtt)
        self.assertIn("thumbnails/sprite.jpg", thumbs)

    def test_subtitles(self):
        job, outputs = self.finished(self.hls)
        subs = {n: o for n, o in outputs.items() if o["type"] == "subtitle"}
        vtt = [n for n in subs if n.startswith("subtitles/") and n.endswith(".vtt")]
        srt = [n for n in subs if n.startswith("subtitles/") and n.endswith(".srt")]
        self.assertEqual((len(vtt), len(srt)), (1, 1), sorted(subs))
        text = self.fetch(self.hls, vtt[0]).body.decode()
        self.assertTrue(text.startswith("WEBVTT"), text)
        self.assertIn("Cue 1", text)
        text = self.fetch(self.hls, srt[0]).body.decode()
        self.assertRegex(text, r"^1\r?\n00:00:0\d,\d{3} --> ")
        # and a subtitle rendition in the ladder
        master = self.fetch(self.hls, "master.m3u8").body.decode()
        media = [attributes(l) for l in master.splitlines()
                 if l.startswith("#EXT-X-MEDIA:") and "TYPE=SUBTITLES" in l]
        self.assertEqual(len(media), 1, master)
        self.assertEqual(media[0].get("LANGUAGE"), "eng", master)
        playlist = self.fetch(self.hls, media[0]["URI"]).body.decode()
        segments, _ = media_segments(playlist)
        self.assertEqual(len(segments), 1, playlist)
        self.assertAlmostEqual(segments[0][0], SECONDS, delta=0.1)
        folder = os.path.dirname(media[0]["URI"])
        cues = self.fetch(self.hls, os.path.join(folder, segments[0][1])).body.decode()
        self.assertTrue(cues.startswith("WEBVTT"), cues)
        self.assertIn("Cue 1", cues)

    # --- one-file encodes of the same options ---

    def final(self, job_id):
        job, outputs = self.finished(job_id)
        finals = [o for o in outputs.values() if o["type"] == "final"]
        self.assertEqual(len(finals), 1, outputs)
        # one task: only the one-pass pipeline carries every track
        tasks = self.get("/v1/jobs/%s/tasks" % job_id).json()
        kinds = sorted(t["kind"] for t in (tasks["tasks"] if isinstance(tasks, dict) else tasks))
        self.assertEqual(kinds, ["scan", "transcode"])
        path = os.path.join(self.outdir, job_id + "-" + finals[0]["name"])
        with open(path, "wb") as f:
            f.write(self.fetch(job_id, finals[0]["name"]).body)
        return path

    def test_audio_languages_and_subtitles_kept(self):
        path = self.final(self.keep_all)
        streams = wetest.probe(path)["streams"]
        audio = [s for s in streams if s["codec_type"] == "audio"]
        # Matroska stores ISO 639-2/B codes
        self.assertEqual([a.get("tags", {}).get("language") for a in audio], ["eng", "fre"])
        subs = [s for s in streams if s["codec_type"] == "subtitle"]
        self.assertEqual(len(subs), 1, streams)
        self.assertEqual(subs[0].get("tags", {}).get("language"), "eng")

    def test_burn_in(self):
        path = self.final(self.burn)
        streams = wetest.probe(path)["streams"]
        self.assertEqual([s["codec_type"] for s in streams if s["codec_type"] == "subtitle"], [])

        def bright_pixels(t):
            # the lower half of one frame, as grey bytes
            r = subprocess.run(["ffmpeg", "-v", "error", "-ss", str(t), "-i", path, "-frames:v",
                                "1", "-vf", "crop=iw:ih/2:0:ih/2,format=gray", "-f", "rawvideo",
                                "-"], capture_output=True, check=True)
            return sum(1 for b in r.stdout if b > 200)

        # cue 1 is on screen from 0.5 s to 1.5 s, cue 2 from 2.5 s; the source is black
        self.assertGreater(bright_pixels(1.0), 20)
        self.assertEqual(bright_pixels(2.0), 0)
        self.assertGreater(bright_pixels(3.0), 20)

    # --- DASH and fMP4 HLS from the same CMAF files ---

    def test_dash(self):
        job, outputs = self.finished(self.dash)
        self.assertEqual(sorted(n for n, o in outputs.items() if o["type"] == "manifest"),
                         ["manifest.mpd", "master.m3u8"])
        r = self.fetch(self.dash, "manifest.mpd")
        self.assertEqual(r.headers["content-type"], "application/dash+xml")
        mpd = ET.fromstring(r.body)
        ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
        sizes = []
        # every init segment the MPD's templates name is served
        for aset in mpd.findall(".//d:AdaptationSet", ns):
            for rep in aset.findall("d:Representation", ns):
                if rep.get("width"):
                    sizes.append((int(rep.get("width")), int(rep.get("height"))))
                init = rep.find("d:SegmentList/d:Initialization", ns).get("sourceURL")
                self.assertEqual(self.fetch(self.dash, init).body[4:8], b"ftyp", init)
                media = [u.get("media") for u in rep.findall("d:SegmentList/d:SegmentURL", ns)]
                self.assertEqual(len(media), int(SECONDS / SEGMENT_S), init)
                for m in media:
                    self.assertIn(b"moof", self.fetch(self.dash, m).body[:64], m)
        self.assertEqual(sorted(sizes), sorted(ENCODED.values()))
        # an unencrypted job has no key
        self.assertError(self.get("/v1/jobs/%s/key" % self.dash), 404, "WE-STO-001")

    def test_paths_stay_inside(self):
        self.finished(self.hls)
        for bad in ("../secret", "360p/../../x", "%2e%2e/x", "/etc/passwd", "a//b"):
            r = self.get("/v1/jobs/%s/outputs/%s" % (self.hls, bad))
            self.assertIn(r.status, (400, 404), (bad, r.status))

    def test_zz_delete_removes_segments(self):
        job, outputs = self.finished(self.dash)
        seg = self.d.stored_path(outputs["360p/index.m3u8"]["url"])
        folder = os.path.dirname(seg)
        self.assertTrue(any(n.endswith(".m4s") or n.endswith(".m4s._S3rver_object")
                            for n in os.listdir(folder)), os.listdir(folder))
        r = self.d.request("DELETE", "/v1/jobs/" + self.dash, headers=ADMIN)
        self.assertIn(r.status, (200, 204), r.body)
        left = os.listdir(folder) if os.path.isdir(folder) else []
        self.assertEqual(left, [])


if __name__ == "__main__":
    wetest.main()
