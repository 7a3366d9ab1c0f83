#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-test of the browser playback harness (play.js, weplayer.py).

Packages one clip from tests/media/make-clip with ffmpeg as a two-rendition
HLS, a DASH MPD, an AES-128 HLS and a plain MP4, serves them from a local
http.server on another origin than the player page, and checks that good
media play to the end and that broken ones are reported as broken: a harness
that only ever says "played" would prove nothing in the HLS/DASH tests.
"""
import http.server
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

MAKE_CLIP = os.path.join(HERE, "..", "media", "make-clip")
DURATION = 6.0
KEY_HEADER = ("Authorization", "Bearer we-test-key-token")


class MediaHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the packaged media with byte ranges (Chromium seeks in MP4s
    with them), refuses the AES key without KEY_HEADER, and 404s the paths
    in `missing`. Every request is logged with its headers, so a test can
    check what the player really sent."""

    missing = set()
    requests = []
    lock = threading.Lock()

    extensions_map = dict(http.server.SimpleHTTPRequestHandler.extensions_map)
    extensions_map.update({
        ".m3u8": "application/vnd.apple.mpegurl",
        ".mpd": "application/dash+xml",
        ".ts": "video/mp2t",
        ".m4s": "video/iso.segment",
        ".mp4": "video/mp4",
        ".bin": "application/octet-stream",
    })

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        with self.lock:
            self.requests.append((path, dict(self.headers.items())))
        if path in self.missing:
            self.send_error(404)
            return
        if path.endswith("/key.bin") and self.headers.get(KEY_HEADER[0]) != KEY_HEADER[1]:
            self.send_error(403)
            return
        fs_path = self.translate_path(path)
        if not os.path.isfile(fs_path):
            self.send_error(404)
            return
        with open(fs_path, "rb") as f:
            data = f.read()
        start, end, status = 0, len(data) - 1, 200
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and "," not in rng:
            a, _, b = rng[6:].partition("-")
            if a:
                start = int(a)
                end = min(int(b), end) if b else end
            elif b:
                start = max(len(data) - int(b), 0)
            if start > end:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", self.guess_type(fs_path))
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, len(data)))
        self.end_headers()
        try:
            self.wfile.write(data[start:end + 1])
        except (BrokenPipeError, ConnectionResetError):
            # Chromium reads the head of an MP4 and drops the connection to
            # ask for the rest by range; nothing went wrong
            pass


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def package(root):
    clip = os.path.join(root, "clip.mp4")
    run([sys.executable, MAKE_CLIP, clip, "--duration", str(DURATION),
         "--width", "640", "--height", "360", "--fps", "25"])
    ff = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", clip]

    # (a) two renditions, 2 s TS segments, a master playlist over them;
    # keyframes every 2 s so each segment starts with one
    for v in ("v0", "v1"):
        os.makedirs(os.path.join(root, "a", v))
    run(ff + ["-filter_complex", "[0:v]split=2[v0][v1];[v1]scale=320:180[v1s]",
              "-map", "[v0]", "-map", "[v1s]", "-map", "0:a", "-map", "0:a",
              "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline",
              "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
              "-b:v:0", "800k", "-b:v:1", "300k", "-c:a", "aac", "-b:a", "64k",
              "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
              "-hls_segment_filename", os.path.join(root, "a", "v%v", "seg%d.ts"),
              "-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,a:0 v:1,a:1",
              os.path.join(root, "a", "v%v", "index.m3u8")])

    # (b) DASH, fMP4 segments, one adaptation set each for video and audio
    os.makedirs(os.path.join(root, "b"))
    run(ff + ["-map", "0:v", "-map", "0:a", "-c", "copy", "-f", "dash",
              "-seg_duration", "2", "-use_template", "1", "-use_timeline", "0",
              "-adaptation_sets", "id=0,streams=v id=1,streams=a",
              os.path.join(root, "b", "manifest.mpd")])

    # (c) AES-128: the key URI is relative, so it is fetched from the same
    # server, which hands it out only with KEY_HEADER
    c = os.path.join(root, "c")
    os.makedirs(c)
    with open(os.path.join(c, "key.bin"), "wb") as f:
        f.write(os.urandom(16))
    keyinfo = os.path.join(root, "keyinfo")
    with open(keyinfo, "w") as f:
        f.write("key.bin\n%s\n%s\n" % (os.path.join(c, "key.bin"), os.urandom(16).hex()))
    run(ff + ["-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
              "-hls_key_info_file", keyinfo,
              "-hls_segment_filename", os.path.join(c, "seg%d.ts"),
              os.path.join(c, "index.m3u8")])
    return clip


class TestPlayer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # a missing browser or node_modules fails with the fix in the message
        weplayer.check()
        if shutil.which("ffmpeg") is None:
            raise RuntimeError("ffmpeg is missing (tools/deps-debian.txt)")
        cls.tmp = tempfile.mkdtemp(prefix="we-browser-")
        package(cls.tmp)

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

    def play(self, path, kind, **kwargs):
        r = weplayer.play(self.base + path, kind, **kwargs)
        print("%s %s: %s" % (kind, path, r), file=sys.stderr)
        return r

    def requests_under(self, prefix):
        with MediaHandler.lock:
            return [(p, h) for p, h in MediaHandler.requests if p.startswith(prefix)]

    def assertPlayedClean(self, r):
        self.assertTrue(weplayer.clean(r), r)
        self.assertAlmostEqual(r["duration"], DURATION, delta=0.3, msg=r)
        self.assertAlmostEqual(r["current_time"], r["duration"], delta=0.3, msg=r)
        self.assertGreater(r["frames"]["decoded"], 0, r)
        self.assertEqual(r["console_errors"], [], r)
        self.assertEqual(r["http_errors"], [], r)

    def assertHeaderSent(self, prefix, name, value):
        reqs = self.requests_under(prefix)
        self.assertTrue(reqs)
        for p, h in reqs:
            self.assertEqual(h.get(name), value, "%s went without %s" % (p, name))

    def test_hls_ladder(self):
        r = self.play("/a/master.m3u8", "hls", headers={"X-We-Test": "hls"})
        self.assertPlayedClean(r)
        self.assertEqual(sorted((l["width"], l["height"]) for l in r["levels"]),
                         [(320, 180), (640, 360)], r)
        # xhrSetup reaches playlists and segments alike
        self.assertHeaderSent("/a/", "X-We-Test", "hls")
        self.assertTrue(any(p.endswith(".ts") for p, _ in self.requests_under("/a/")))

    def test_dash(self):
        r = self.play("/b/manifest.mpd", "dash", headers={"X-We-Test": "dash"})
        self.assertPlayedClean(r)
        self.assertEqual(len(r["levels"]), 1, r)
        self.assertEqual((r["levels"][0]["width"], r["levels"][0]["height"]), (640, 360), r)
        self.assertHeaderSent("/b/", "X-We-Test", "dash")
        self.assertTrue(any(p.endswith(".m4s") for p, _ in self.requests_under("/b/")))

    def test_mp4(self):
        shot = os.path.join(self.tmp, "mp4.png")
        r = self.play("/clip.mp4", "mp4", headers={"X-We-Test": "mp4"}, screenshot=shot)
        self.assertPlayedClean(r)
        self.assertEqual((r["video"]["width"], r["video"]["height"]), (640, 360), r)
        self.assertHeaderSent("/clip.mp4", "X-We-Test", "mp4")
        self.assertGreater(os.path.getsize(shot), 1000)

    def test_aes_with_key_header(self):
        r = self.play("/c/index.m3u8", "hls", headers=dict([KEY_HEADER]))
        self.assertPlayedClean(r)
        keys = [h for p, h in self.requests_under("/c/key.bin")]
        self.assertTrue(keys, "the key was never asked for: not encrypted?")

    def test_aes_without_key_header(self):
        r = self.play("/c/index.m3u8", "hls", timeout=20)
        self.assertFalse(r["ended"], r)
        self.assertTrue(r["fatal"] or r["errors"], r)
        self.assertTrue(any("key" in e.lower() for e in r["errors"]), r)
        self.assertIn(403, [e["status"] for e in r["http_errors"]], r)

    def test_missing_segment_fails(self):
        # the 640x360 media playlist alone: no other rendition to fall back to
        MediaHandler.missing = {"/a/v0/seg1.ts"}
        r = self.play("/a/v0/index.m3u8", "hls", timeout=10)
        self.assertFalse(weplayer.clean(r), r)
        self.assertTrue(r["errors"] or r["stalls"], r)
        self.assertIn("/a/v0/seg1.ts", [p for p, _ in self.requests_under("/a/v0/")])
        self.assertIn(404, [e["status"] for e in r["http_errors"]], r)

    def test_dash_missing_segment_fails(self):
        # dash.js jumps the hole and still fires `ended`: the stall and the
        # failed request are what must show
        MediaHandler.missing = {"/b/chunk-stream0-00002.m4s"}
        r = self.play("/b/manifest.mpd", "dash", timeout=10)
        self.assertFalse(weplayer.clean(r), r)
        self.assertTrue(r["errors"] or r["stalls"], r)
        self.assertIn(404, [e["status"] for e in r["http_errors"]], r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
