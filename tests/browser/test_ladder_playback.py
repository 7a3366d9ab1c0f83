#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The ABR ladder packager's output, played in headless Chromium.

Runs we-gst-ladder-tool (path in WE_GST_LADDER_TOOL) on clips from
tests/media/make-clip and plays the results to the end, with no stall,
error or failed request:

- ts:      a 3-rung ladder, HLS with TS segments (hls.js)
- cmaf:    the same as HLS fMP4 + DASH sharing CMAF segments (hls.js, dash.js)
- enc:     a clip with two audio languages, every track kept, TS, AES-128
           (the key served by the test's server at the key URI) and two
           WebVTT subtitle renditions (hls.js: tracks offered, subtitles
           loaded and placed, and without the key nothing plays)
- enc4:    HLS fMP4 with AES-128 (hls.js)
- langs:   the two-language clip as HLS fMP4 + DASH with subtitles (hls.js,
           dash.js: an AdaptationSet per language, text/vtt sets)
"""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import weplayer  # noqa: E402
from test_player import MediaHandler  # noqa: E402

MAKE_CLIP = os.path.join(HERE, "..", "media", "make-clip")
DURATION = 12.0
LANG_DURATION = 8.0
LADDER = "720p:1280x720:2500,480p:854x480:1200,360p:640x360:700"
SMALL_LADDER = "360p:640x360:700,240p:426x240:400"
SIZES = [(640, 360), (852, 480), (1280, 720)]
KEY_PATH = "/keys/ladder.key"
# cue 1 of the subtitle files, where it must show on the media timeline
VTT = {
    "en": "WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nCue 1\n\n"
          "00:00:02.500 --> 00:00:03.500\nCue 2\n",
    "fr": "WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nCue 1 fra\n\n"
          "00:00:02.500 --> 00:00:03.500\nCue 2 fra\n",
}
FIRST_CUE = 0.5
# seconds buffered ahead at a stall that make it the machine's, not the media's
STARVED_AHEAD = 1.0


def package(root, tool):
    clip = os.path.join(root, "clip.mp4")
    langs = os.path.join(root, "langs.mp4")
    subprocess.run([sys.executable, MAKE_CLIP, clip, "--duration", str(DURATION),
                    "--width", "1280", "--height", "720", "--fps", "25"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, MAKE_CLIP, langs, "--duration", str(LANG_DURATION),
                    "--width", "640", "--height", "360", "--fps", "25",
                    "--audio-languages", "eng,fra"],
                   check=True, stdout=subprocess.DEVNULL)
    key = os.urandom(16)
    os.makedirs(os.path.join(root, "keys"))
    with open(os.path.join(root, KEY_PATH.lstrip("/")), "wb") as f:
        f.write(key)
    subs = []
    for lang, text in VTT.items():
        path = os.path.join(root, "sub_%s.vtt" % lang)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        subs += ["--subtitle", "sub_%s:%s:%s" % (lang, lang, path)]
    aes = ["--key", key.hex(), "--key-uri", KEY_PATH]

    results = {}
    for name, src, ladder, extra in (
            ("ts", clip, LADDER, []),
            ("cmaf", clip, LADDER, ["--fmp4", "--dash"]),
            ("enc", langs, SMALL_LADDER, ["--all-audio"] + aes + subs),
            ("enc4", langs, SMALL_LADDER, ["--fmp4"] + aes),
            ("langs", langs, SMALL_LADDER, ["--fmp4", "--dash", "--all-audio"] + subs)):
        out = subprocess.run([tool, src, os.path.join(root, name), "--ladder", ladder,
                              "--segment", "2", "--preset", "veryfast"] + extra,
                             check=True, stdout=subprocess.PIPE)
        results[name] = json.loads(out.stdout)
    return results


class TestLadderPlayback(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        weplayer.check()
        tool = os.environ.get("WE_GST_LADDER_TOOL")
        if not tool or not os.access(tool, os.X_OK):
            raise RuntimeError("WE_GST_LADDER_TOOL must name the built we-gst-ladder-tool")
        cls.tmp = tempfile.mkdtemp(prefix="we-ladder-browser-")
        cls.results = package(cls.tmp, tool)

        def handler(*args, **kwargs):
            return MediaHandler(*args, directory=cls.tmp, **kwargs)

        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        cls.server.daemon_threads = True
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()
        cls.base = "http://127.0.0.1:%d" % cls.server.server_address[1]

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        MediaHandler.missing = set()
        with MediaHandler.lock:
            MediaHandler.requests.clear()

    def play(self, path, kind, timeout=60, **kwargs):
        r = weplayer.play(self.base + path, kind, rate=4, timeout=timeout, **kwargs)
        print("%s %s: %s" % (kind, path, r), file=sys.stderr)
        return r

    def assertPlayedClean(self, r, duration=DURATION, alt_audio_ts=False):
        # hls.js binds its timeline to the lowest decode time, so the first
        # frame of a TS stream with B-frames (presented 80 ms after it is
        # decoded) leaves a hole at 0, which hls.js skips with a non-fatal
        # "bufferSeekOverHole … from 0 to 0.18"; ffmpeg's TS output gets the
        # same. Only that one, at 0, is tolerated in TS.
        tolerated = [e for e in r["errors"] if "bufferSeekOverHole" in e
                     and "seeking from 0 to" in e and "(fatal)" not in e]
        if alt_audio_ts:
            # hls.js 1.7.4 with alternate audio in TS: the first video
            # fragment's append, queued until the audio SourceBuffer exists,
            # is counted as appended "without buffered range growth" once;
            # it is then buffered and played (no stall, no fMP4 equivalent)
            tolerated += [e for e in r["errors"] if "bufferAppendNoProgress" in e
                          and e.endswith("[main 0]")]
        # A stall with seconds of media buffered ahead (both tracks: MSE's
        # buffered is their intersection) is the decoder starved at 4x on
        # a loaded 2-core machine, seen once in ~15 runs of good media; a
        # hole in the media stalls with nothing ahead.
        starved = [s for s in r["stall_sources"]
                   if "+" in s and float(s.rsplit("+", 1)[1]) >= STARVED_AHEAD]
        r = dict(r, errors=[e for e in r["errors"] if e not in tolerated],
                 stalls=r["stalls"] - len(starved))
        self.assertTrue(weplayer.clean(r), r)
        self.assertAlmostEqual(r["duration"], duration, delta=0.3, msg=r)
        self.assertAlmostEqual(r["current_time"], r["duration"], delta=0.3, msg=r)
        self.assertGreater(r["frames"]["decoded"], 0, r)
        self.assertEqual(r["console_errors"], [], r)

    def assertCmafClean(self, r, duration=DURATION):
        # fMP4 has no excuse: every track presents its first sample at 0
        self.assertEqual(r["seeks"], [], r)
        self.assertPlayedClean(r, duration)

    def assertLadder(self, r):
        # hls.js starts at the first variant (the top rung) and, on a local
        # server, has no reason to leave it: the ladder the player found is
        # what is checked, switching is not forced
        self.assertEqual(sorted((l["width"], l["height"]) for l in r["levels"]), SIZES, r)

    def assertLanguages(self, r, subtitle_lang):
        self.assertEqual([t["lang"] for t in r["audio_tracks"]], ["en", "fr"], r)
        self.assertEqual([t["lang"] for t in r["subtitle_tracks"]], ["en", "fr"], r)
        # the subtitle track asked for loaded, and its first cue sits where
        # the file puts it, in step with the media (the TS timeline starts
        # at the first decode time, 80 ms before the first frame)
        shown = [t for t in r["text_tracks"] if t["language"] == subtitle_lang
                 and t["mode"] == "showing"]
        self.assertEqual(len(shown), 1, r)
        self.assertGreaterEqual(shown[0]["cues"], 2, r)
        self.assertAlmostEqual(shown[0]["first_cue"], FIRST_CUE, delta=0.15, msg=r)

    def test_result(self):
        for name in ("ts", "cmaf"):
            res = self.results[name]
            renditions = [o for o in res["outputs"] if o["type"] == "rendition"
                          and o["kind"] == "video"]
            self.assertEqual(len(renditions), 3, res)
            self.assertEqual({o["segment_count"] for o in renditions}, {6}, res)
            self.assertAlmostEqual(res["duration_s"], DURATION, delta=0.05, msg=res)
            self.assertFalse(res["encrypted"], res)
        enc = self.results["enc"]
        self.assertTrue(enc["encrypted"], enc)
        audio = [o for o in enc["outputs"] if o.get("kind") == "audio"]
        self.assertEqual([(o["language"], o["playlist"]) for o in audio],
                         [("en", "audio_0/index.m3u8"), ("fr", "audio_1/index.m3u8")], enc)
        subs = [o for o in enc["outputs"] if o["type"] == "subtitle"]
        self.assertEqual([(o["language"], o["path"]) for o in subs],
                         [("en", "subs/sub_en/sub_en.vtt"), ("fr", "subs/sub_fr/sub_fr.vtt")],
                         enc)
        # every file named is there, relative to the output directory
        for o in enc["outputs"] + self.results["langs"]["outputs"]:
            for key in ("path", "playlist", "init"):
                if key in o:
                    root = "enc" if o in enc["outputs"] else "langs"
                    self.assertTrue(os.path.isfile(os.path.join(self.tmp, root, o[key])), o)

    def test_hls_ts(self):
        r = self.play("/ts/master.m3u8", "hls")
        self.assertPlayedClean(r)
        self.assertLadder(r)
        self.assertGreaterEqual(len(r["levels_played"]), 1, r)

    def test_hls_fmp4(self):
        r = self.play("/cmaf/master.m3u8", "hls")
        self.assertCmafClean(r)
        self.assertLadder(r)

    def test_dash(self):
        r = self.play("/cmaf/manifest.mpd", "dash")
        self.assertCmafClean(r)
        self.assertLadder(r)

    def test_hls_encrypted_languages(self):
        r = self.play("/enc/master.m3u8", "hls", subtitles="fr")
        self.assertPlayedClean(r, LANG_DURATION, alt_audio_ts=True)
        self.assertLanguages(r, "fr")
        with MediaHandler.lock:
            paths = [p for p, _ in MediaHandler.requests]
        self.assertIn(KEY_PATH, paths)
        self.assertIn("/enc/subs/sub_fr/sub_fr.vtt", paths)

    def test_hls_encrypted_needs_key(self):
        # the segments really are encrypted: without the key nothing plays
        MediaHandler.missing = {KEY_PATH}
        r = self.play("/enc/master.m3u8", "hls", timeout=30)
        self.assertFalse(r["ended"], r)
        self.assertEqual(r["frames"]["decoded"] if r.get("frames") else 0, 0, r)

    def test_hls_fmp4_encrypted(self):
        r = self.play("/enc4/master.m3u8", "hls")
        self.assertCmafClean(r, LANG_DURATION)
        with MediaHandler.lock:
            paths = [p for p, _ in MediaHandler.requests]
        self.assertIn(KEY_PATH, paths)

    def test_hls_fmp4_languages(self):
        r = self.play("/langs/master.m3u8", "hls", subtitles="en")
        self.assertCmafClean(r, LANG_DURATION)
        self.assertLanguages(r, "en")

    def test_dash_languages(self):
        r = self.play("/langs/manifest.mpd", "dash", subtitles="fr")
        self.assertCmafClean(r, LANG_DURATION)
        self.assertLanguages(r, "fr")


if __name__ == "__main__":
    unittest.main()
