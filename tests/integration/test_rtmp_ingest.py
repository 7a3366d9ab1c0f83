#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""RTMP ingest (issue 10 item 1) with real publishers: one gst-launch-1.0
with three wertmpserversrc on ONE port (they share the process's server),
each recording its key's FLV to a file. ffmpeg publishes to key one and
GStreamer's rtmp2sink to key two at the same time; meanwhile garbage, a
truncated handshake, a slow-loris, a chunk claiming a 16 MiB message,
malformed AMF0 and a publisher with a wrong key hit the same port. Then a
third publisher (ffmpeg, key three) proves the server still accepts new
ones. The recordings must hold every frame that was sent.

Usage: test_rtmp_ingest.py [PLUGIN_DIR] (default: $WE_BUILD_ROOT/gst-elements)"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wetest  # noqa: E402

PLUGIN_DIR = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-")
                             else os.path.join(wetest.BUILD, "gst-elements"))
# ffmpeg and rtmp2sink send 3 s of 25 fps video
FRAMES = 75
SECONDS = 3.0
# connections that send no complete message are closed after this
TIMEOUT = 3
TF = wetest.TIME_FACTOR


def sanitizer_preload(plugin):
    """An ASan build of the plugin loads into gst-launch-1.0 only with the
    sanitizer runtimes preloaded."""
    out = subprocess.run(["ldd", plugin], capture_output=True, text=True, check=True).stdout
    return ":".join(p for _, p in re.findall(r"(lib(?:asan|ubsan)\.so[.\d]*) => (\S+)", out))


def amf_string(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def chunk(csid, msg_type, payload, stream_id=0, length=None):
    """One type 0 chunk (the whole message when it fits in 128 bytes)."""
    length = len(payload) if length is None else length
    return (bytes([csid]) + b"\x00\x00\x00" + struct.pack(">I", length)[1:] + bytes([msg_type]) +
            struct.pack("<I", stream_id) + payload)


def handshake(sock):
    sock.sendall(b"\x03" + os.urandom(1536))
    got = b""
    while len(got) < 1 + 2 * 1536:
        part = sock.recv(65536)
        if not part:
            raise AssertionError("server closed during the handshake")
        got += part
    sock.sendall(got[1:1537])  # C2 echoes S1


def wait_closed(sock, seconds):
    """Seconds until the server closed @sock (EOF or reset), or None."""
    start = time.monotonic()
    sock.settimeout(0.5)
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - start
    return None


class RtmpIngest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="we-rtmp-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.plugin = os.path.join(PLUGIN_DIR, "libgstwebencode.so")
        if not os.path.exists(self.plugin):
            self.fail(f"{self.plugin} was not built")
        for tool in ["ffmpeg", "ffprobe", "gst-launch-1.0"]:
            if shutil.which(tool) is None:
                self.fail(f"{tool} is needed") if os.environ.get("WE_TEST_NO_SKIP") \
                    else self.skipTest(f"{tool} is missing")
        self.env = dict(os.environ)
        self.env["GST_PLUGIN_PATH"] = PLUGIN_DIR
        self.env["GST_REGISTRY"] = os.path.join(self.tmp, "registry.bin")
        self.env.pop("GST_PLUGIN_PATH_1_0", None)
        self.env.pop("GST_REGISTRY_1_0", None)
        # the server's g_debug lines say why it closed each connection
        self.env["G_MESSAGES_DEBUG"] = "WeRtmp"
        self.env["GST_DEBUG"] = "wertmpserversrc:4"
        self.env["GST_DEBUG_NO_COLOR"] = "1"
        preload = sanitizer_preload(self.plugin)
        if preload:
            self.env["LD_PRELOAD"] = preload
            # gst-launch-1.0 and GStreamer's caches are not ours to keep
            # leak-free; our code's leaks are checked by rtmp-proto
            self.env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
        self.port = wetest.free_port()
        self.url = f"rtmp://127.0.0.1:{self.port}/live"

    def ffmpeg(self, key, seconds=SECONDS, realtime=True):
        args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
        if realtime:
            args.append("-re")
        args += ["-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={seconds}",
                 "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                 "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
                 "-c:a", "aac", "-f", "flv", f"{self.url}/{key}"]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={k: v for k, v in self.env.items() if k != "LD_PRELOAD"})

    def rtmp2sink(self, key):
        args = ["gst-launch-1.0", "-q", "videotestsrc", f"num-buffers={FRAMES}", "is-live=true",
                "!", "video/x-raw,width=320,height=240,framerate=25/1",
                "!", "x264enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=25",
                "!", "h264parse", "!", "flvmux", "streamable=true",
                "!", "rtmp2sink", f"location={self.url}/{key}"]
        env = {k: v for k, v in self.env.items() if k not in ("LD_PRELOAD", "GST_PLUGIN_PATH")}
        env["GST_REGISTRY"] = os.path.join(self.tmp, "registry-plain.bin")
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)

    def wait_listening(self, proc):
        deadline = time.monotonic() + 30 * TF
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.fail(f"gst-launch-1.0 exited: {proc.communicate()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.fail("the RTMP port never opened")

    def probe(self, path):
        out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-of", "json",
                              "-show_entries", "stream=codec_type,codec_name,nb_read_frames:"
                              "format=duration", path],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        return json.loads(out)

    def abuse(self, results):
        """Bad clients, each on its own connection; records how long the
        server took to close each one."""
        def garbage():
            with socket.create_connection(("127.0.0.1", self.port)) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(4000))
                results["garbage"] = wait_closed(s, 10 * TF)

        def truncated_handshake():
            with socket.create_connection(("127.0.0.1", self.port)) as s:
                s.sendall(b"\x03" + os.urandom(500))
                results["truncated"] = wait_closed(s, 20 * TF)

        def slow_loris():
            # a valid handshake, then a chunk header one byte a second
            with socket.create_connection(("127.0.0.1", self.port)) as s:
                handshake(s)
                drip = chunk(3, 20, amf_string("connect") + b"\x00" * 9 + b"\x03\x00\x00\x09")
                start = time.monotonic()
                closed = None
                for b in drip:
                    try:
                        s.sendall(bytes([b]))
                    except OSError:
                        closed = time.monotonic() - start
                        break
                    closed = wait_closed(s, 1)
                    if closed is not None:
                        closed = time.monotonic() - start
                        break
                results["slow-loris"] = closed

        def huge_chunk():
            with socket.create_connection(("127.0.0.1", self.port)) as s:
                handshake(s)
                s.sendall(chunk(6, 9, b"\x17" * 100, stream_id=1, length=0xffffff))
                results["huge"] = wait_closed(s, 10 * TF)

        def bad_amf():
            with socket.create_connection(("127.0.0.1", self.port)) as s:
                handshake(s)
                # the number 1.0, then a typed object (0x10)
                number = b"\x00" + struct.pack(">d", 1.0)
                s.sendall(chunk(3, 20, amf_string("connect") + number + b"\x10\xff"))
                results["bad-amf"] = wait_closed(s, 10 * TF)

        threads = [threading.Thread(target=f) for f in
                   (garbage, truncated_handshake, slow_loris, huge_chunk, bad_amf)]
        for t in threads:
            t.start()
        return threads

    def test_ingest(self):
        outs = {k: os.path.join(self.tmp, f"{k}.flv") for k in ("one", "two", "three")}
        line = ["gst-launch-1.0"]
        for key, path in outs.items():
            line += ["wertmpserversrc", f"port={self.port}", "address=127.0.0.1", "app=live",
                     f"stream-key=key-{key}", f"timeout={TIMEOUT}", "!", "filesink",
                     f"location={path}"]
        server = subprocess.Popen(line, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=self.env)
        self.addCleanup(lambda: server.poll() is None and server.kill())
        self.wait_listening(server)

        start = time.monotonic()
        ff = self.ffmpeg("key-one")
        gst = self.rtmp2sink("key-two")
        results = {}
        threads = self.abuse(results)
        wrong = self.ffmpeg("wrong-key", seconds=1, realtime=False)
        _, wrong_err = wrong.communicate(timeout=60 * TF)
        self.assertNotEqual(wrong.returncode, 0, "a publish with a wrong key must fail")

        ff_out, ff_err = ff.communicate(timeout=60 * TF)
        self.assertEqual(ff.returncode, 0, ff_err)
        gst_out, gst_err = gst.communicate(timeout=60 * TF)
        self.assertEqual(gst.returncode, 0, gst_out + gst_err)
        # real time, not faster: both ran side by side
        self.assertLess(time.monotonic() - start, 2 * SECONDS + 10 * TF)
        for t in threads:
            t.join(timeout=60 * TF)

        # the server still takes new publishers
        third = self.ffmpeg("key-three", realtime=False)
        _, third_err = third.communicate(timeout=60 * TF)
        self.assertEqual(third.returncode, 0, third_err)

        out, err = server.communicate(timeout=60 * TF)
        self.assertEqual(server.returncode, 0, out + err[-4000:])
        self.assertNotIn("ERROR", out + err)
        self.assertNotIn("Sanitizer", err)

        print("closed after", results, file=sys.stderr)
        # every bad connection was closed, and why
        self.assertIsNotNone(results.get("garbage"), results)
        self.assertIsNotNone(results.get("huge"), results)
        self.assertIsNotNone(results.get("bad-amf"), results)
        self.assertLess(results["garbage"], 2 * TF)
        self.assertLess(results["huge"], 2 * TF)
        # the idle bound, not the 10 s handshake bound, closes these
        for name in ("truncated", "slow-loris"):
            self.assertIsNotNone(results.get(name), results)
            self.assertGreater(results[name], TIMEOUT - 1.5, name)
            self.assertLess(results[name], TIMEOUT + 2 * TF, name)
        for reason in ["RTMP version 71 in the handshake",
                       "message of 16777215 bytes is larger than",
                       "unsupported AMF0 type 0x10",
                       f"no complete RTMP message for {TIMEOUT} s",
                       "publish to application \"live\" refused"]:
            self.assertIn(reason, out + err)
        # the key never shows up in the logs
        self.assertNotIn("wrong-key", out + err)

        for key, path in outs.items():
            info = self.probe(path)
            video = [s for s in info["streams"] if s["codec_type"] == "video"]
            audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
            self.assertEqual(len(video), 1, (key, info))
            self.assertEqual(video[0]["codec_name"], "h264")
            self.assertEqual(int(video[0]["nb_read_frames"]), FRAMES, (key, info))
            self.assertAlmostEqual(float(info["format"]["duration"]), SECONDS, delta=0.2)
            if key != "two":
                # ffmpeg sends sine audio: 3 s of AAC frames of 1024 samples
                self.assertEqual(len(audio), 1, (key, info))
                self.assertGreaterEqual(int(audio[0]["nb_read_frames"]), 3 * 44100 // 1024)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
