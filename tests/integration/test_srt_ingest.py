#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""SRT ingest (issue 10, item 2): many publishers on one UDP port, each
chosen by its streamid and protected by its own passphrase.

The server side is gst-elements/srt driven the way the live pillar drives
it: we-srt-ingest-tool runs one WeSrtServer, answers publish-attempt from
its table of keys and passphrases and records every key's publish with a
"wesrtserversrc server=… stream-key=… ! filesink" pipeline, reporting each
event as a JSON line. The publishers are real: ffmpeg's libsrt output and
GStreamer's srtsink. What was recorded is checked with ffprobe."""

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import wetest  # noqa: E402

TOOL = os.path.join(wetest.BUILD, "gst-elements", "srt", "we-srt-ingest-tool")
PLUGIN_DIR = os.path.join(wetest.BUILD, "gst-elements")
TF = wetest.TIME_FACTOR


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(tmp):
    """Publishers are plain system binaries: no sanitizer preload, no
    plugin path of ours, a registry of their own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LD_PRELOAD", "GST_PLUGIN", "GST_REGISTRY"))}
    env["GST_REGISTRY"] = os.path.join(tmp, "publisher-registry.bin")
    return env


def ffmpeg_publisher(tmp, port, streamid, passphrase, seconds, size="320x240", rate=25):
    url = f"srt://127.0.0.1:{port}?streamid={streamid}&pkt_size=1316&connect_timeout=3000"
    if passphrase:
        url += f"&passphrase={passphrase}"
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
           "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", str(rate),
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts", url]
    return subprocess.Popen(cmd, env=clean_env(tmp), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def gst_publisher(tmp, port, streamid, passphrase, seconds):
    """GStreamer's srtsink in caller mode, with the access-control syntax
    (a '#' that an ffmpeg URL cannot carry)."""
    frames = int(seconds * 25)
    cmd = ["gst-launch-1.0", "-q",
           "videotestsrc", "is-live=true", f"num-buffers={frames}", "pattern=ball", "!",
           "video/x-raw,width=320,height=240,framerate=25/1", "!",
           "x264enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=25", "!",
           "h264parse", "config-interval=-1", "!", "mpegtsmux", "!",
           "srtsink", f"uri=srt://127.0.0.1:{port}", f"streamid={streamid}",
           f"passphrase={passphrase}", "wait-for-connection=false"]
    return subprocess.Popen(cmd, env=clean_env(tmp), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def duration(path):
    out = subprocess.run(["ffprobe", "-v", "quiet", "-show_entries", "format=duration",
                          "-of", "json", path], capture_output=True, text=True, timeout=60)
    try:
        return float(json.loads(out.stdout)["format"]["duration"])
    except (KeyError, ValueError):
        return 0.0


class Tool:
    """we-srt-ingest-tool and the events it reports."""

    def __init__(self, tmp, streams, idle_timeout=2000):
        self.out_dir = os.path.join(tmp, "rec")
        os.makedirs(self.out_dir, exist_ok=True)
        cmd = [TOOL, "--out-dir", self.out_dir, "--port", "0",
               "--idle-timeout", str(idle_timeout)]
        for key, passphrase in streams.items():
            cmd += ["--stream", f"{key}={passphrase}"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events = []
        self.lock = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.port = self.wait(lambda e: e["event"] == "listening", 20)["port"]
        self.assert_no_error = True

    def _read(self):
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "garbage", "line": line}
            with self.lock:
                self.events.append(event)
                self.lock.notify_all()

    def wait(self, pred, timeout, start=0):
        deadline = time.monotonic() + timeout * TF
        with self.lock:
            while True:
                for e in self.events[start:]:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self.reader.is_alive():
                    raise AssertionError(
                        f"no matching event within {timeout}s; events: {self.events}")
                self.lock.wait(min(left, 0.5))

    def find(self, **kw):
        with self.lock:
            return [e for e in self.events if all(e.get(k) == v for k, v in kw.items())]

    def close(self):
        """Stdin closed: the tool stops its pipelines and server and must
        exit 0 (ASan/LSan clean)."""
        self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout=30 * TF)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("we-srt-ingest-tool did not exit")
        self.reader.join(5)
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        if rc != 0:
            raise AssertionError(f"we-srt-ingest-tool exited {rc}:\n{err[-4000:]}")
        if "ERROR" in err or "CRITICAL" in err or "runtime error" in err:
            raise AssertionError(f"we-srt-ingest-tool complained:\n{err[-4000:]}")


class SrtIngestTest(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(TOOL):
            self.fail(f"{TOOL} was not built")
        for prog in ("ffmpeg", "ffprobe", "gst-launch-1.0"):
            if shutil.which(prog) is None:
                self.fail(f"{prog} is missing")
        self.tmp = tempfile.mkdtemp(prefix="we-srt-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in (p.stdout, p.stderr):
                if f is not None:
                    f.close()
        if not os.environ.get("WE_TEST_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def spawn(self, proc):
        self.procs.append(proc)
        return proc

    def finish(self, proc, timeout=30):
        try:
            proc.wait(timeout=timeout * TF)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        return proc.returncode, proc.stderr.read()

    def test_two_publishers_one_port(self):
        """ffmpeg (publish:<key>) and srtsink (#!::r=<key>,m=publish) at once
        on one port, each with its own passphrase: both recorded whole,
        statistics every second."""
        tool = Tool(self.tmp, {"alpha": "alpha-secret-1", "bravo": "bravo-secret-2"})
        a = self.spawn(ffmpeg_publisher(self.tmp, tool.port, "publish:alpha", "alpha-secret-1", 4))
        b = self.spawn(gst_publisher(self.tmp, tool.port, "#!::r=bravo,m=publish",
                                     "bravo-secret-2", 4))
        for key in ("alpha", "bravo"):
            tool.wait(lambda e, k=key: e["event"] == "started" and e["key"] == k, 20)
        rc, err = self.finish(a)
        self.assertEqual(rc, 0, err)
        rc, err = self.finish(b)
        self.assertEqual(rc, 0, err)
        for key in ("alpha", "bravo"):
            ended = tool.wait(lambda e, k=key: e["event"] == "ended" and e["key"] == k, 15)
            self.assertEqual(ended["reason"], "disconnected")
            eos = tool.wait(lambda e, k=key: e["event"] == "eos" and e["key"] == k, 15)
            got = duration(eos["file"])
            self.assertAlmostEqual(got, 4.0, delta=0.5, msg=f"{key}: {got} s recorded")
            stats = [e for e in tool.find(event="stats", key=key) if not e["eos"]]
            self.assertGreaterEqual(len(stats), 2, f"{key}: statistics every second")
            self.assertTrue(any(s["bitrate"] > 50000 for s in stats), stats)
            self.assertTrue(all(s["rtt_ms"] >= 0 for s in stats), stats)
            last = [e for e in tool.find(event="stats", key=key) if e["eos"]]
            self.assertEqual(len(last), 1)
            self.assertEqual(last[0]["reason"], "disconnected")
            self.assertGreater(last[0]["bytes"], 50000)
        # the two streams are the ones sent: ffmpeg's has audio, srtsink's not
        alpha = wetest.probe(os.path.join(tool.out_dir, "alpha-1.ts"))
        bravo = wetest.probe(os.path.join(tool.out_dir, "bravo-1.ts"))
        self.assertEqual(sorted(s["codec_type"] for s in alpha["streams"]), ["audio", "video"])
        self.assertEqual([s["codec_type"] for s in bravo["streams"]], ["video"])
        tool.close()

    def test_refused_publishers_record_nothing(self):
        """A wrong or missing passphrase, an unknown key, a play request and
        garbage streamids are refused in the handshake: no session, no
        byte recorded, and the right key still gets in afterwards."""
        tool = Tool(self.tmp, {"alpha": "alpha-secret-1"})
        # libsrt in the caller (ffmpeg) logs why the handshake was refused:
        # the passphrase check is SRT's own, the rest our reject reasons
        app = "Application-defined rejection reason"
        cases = [
            ("publish:alpha", "wrong-secret-9", "Incorrect passphrase"),
            ("publish:alpha", "", "Password required or unexpected"),
            ("publish:zulu", "alpha-secret-1", app),    # unknown key
            ("read:alpha", "alpha-secret-1", app),      # play request
            ("alpha", "alpha-secret-1", app),           # neither syntax
        ]
        for streamid, passphrase, why in cases:
            p = self.spawn(ffmpeg_publisher(self.tmp, tool.port, streamid, passphrase, 2))
            rc, err = self.finish(p, 30)
            self.assertNotEqual(rc, 0, f"{streamid}/{passphrase!r} was let in")
            self.assertIn(why, err, f"{streamid}/{passphrase!r}")
        p = self.spawn(gst_publisher(self.tmp, tool.port, "#!::r=alpha,m=request",
                                     "alpha-secret-1", 1))
        rc, _ = self.finish(p, 30)
        self.assertNotEqual(rc, 0, "m=request was let in")

        self.assertEqual(tool.find(event="started"), [])
        self.assertEqual(os.path.getsize(os.path.join(tool.out_dir, "alpha-1.ts")), 0)
        # the key was asked about only where the streamid was well-formed
        # and meant a publish; the unknown one was refused by the application
        self.assertEqual({e["key"] for e in tool.find(event="attempt")}, {"alpha", "zulu"})
        self.assertEqual([e["accepted"] for e in tool.find(event="attempt", key="zulu")], [False])

        p = self.spawn(ffmpeg_publisher(self.tmp, tool.port, "publish:alpha", "alpha-secret-1", 2))
        rc, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        eos = tool.wait(lambda e: e["event"] == "eos" and e["key"] == "alpha", 15)
        self.assertAlmostEqual(duration(eos["file"]), 2.0, delta=0.5)
        tool.close()

    def test_killed_publisher(self):
        """A publisher killed mid-stream ends (reason "timeout") once the idle
        timeout passes; the other publisher of the port carries on
        untouched, and the key's next publisher is taken."""
        tool = Tool(self.tmp, {"alpha": "alpha-secret-1", "bravo": "bravo-secret-2"},
                    idle_timeout=2000)
        a = self.spawn(ffmpeg_publisher(self.tmp, tool.port, "publish:alpha", "alpha-secret-1", 60))
        b = self.spawn(ffmpeg_publisher(self.tmp, tool.port, "publish:bravo", "bravo-secret-2", 7,
                                        size="640x360", rate=30))
        tool.wait(lambda e: e["event"] == "started" and e["key"] == "alpha", 20)
        tool.wait(lambda e: e["event"] == "started" and e["key"] == "bravo", 20)
        time.sleep(2.5)
        killed_at = time.monotonic()
        a.send_signal(signal.SIGKILL)
        a.wait()
        ended = tool.wait(lambda e: e["event"] == "ended" and e["key"] == "alpha", 10)
        self.assertEqual(ended["reason"], "timeout")
        self.assertLess(time.monotonic() - killed_at, 6 * TF)
        eos = tool.wait(lambda e: e["event"] == "eos" and e["key"] == "alpha", 10)
        self.assertGreater(duration(eos["file"]), 1.5)
        self.assertEqual(tool.find(event="ended", key="bravo"), [], "bravo suffered")

        rc, err = self.finish(b)
        self.assertEqual(rc, 0, err)
        ended = tool.wait(lambda e: e["event"] == "ended" and e["key"] == "bravo", 15)
        self.assertEqual(ended["reason"], "disconnected")
        eos = tool.wait(lambda e: e["event"] == "eos" and e["key"] == "bravo", 15)
        self.assertAlmostEqual(duration(eos["file"]), 7.0, delta=0.5)

        mark = len(tool.events)
        a2 = self.spawn(ffmpeg_publisher(self.tmp, tool.port, "publish:alpha", "alpha-secret-1", 2))
        tool.wait(lambda e: e["event"] == "started" and e["key"] == "alpha", 20, start=mark)
        rc, err = self.finish(a2)
        self.assertEqual(rc, 0, err)
        eos = tool.wait(lambda e: e["event"] == "eos" and e["key"] == "alpha", 15, start=mark)
        self.assertTrue(eos["file"].endswith("alpha-2.ts"), eos)
        self.assertAlmostEqual(duration(eos["file"]), 2.0, delta=0.5)
        tool.close()

    def test_same_key_takes_over(self):
        """The same key connecting again while its first connection lingers
        (a publisher whose network changed) takes over at once: the old
        connection ends "replaced", the recording goes on without an EOS
        and ends when the new publisher does."""
        tool = Tool(self.tmp, {"alpha": "alpha-secret-1"})
        first = self.spawn(ffmpeg_publisher(self.tmp, tool.port, "publish:alpha",
                                            "alpha-secret-1", 60))
        s1 = tool.wait(lambda e: e["event"] == "started", 20)
        time.sleep(2)
        second = self.spawn(ffmpeg_publisher(self.tmp, tool.port, "publish:alpha",
                                             "alpha-secret-1", 3))
        ended = tool.wait(lambda e: e["event"] == "ended" and e["session"] == s1["session"], 15)
        self.assertEqual(ended["reason"], "replaced")
        s2 = tool.wait(lambda e: e["event"] == "started" and e["session"] != s1["session"], 15)
        self.assertEqual(s2["key"], "alpha")
        # the first publisher's connection is gone
        rc, _ = self.finish(first, 20)
        self.assertNotEqual(rc, 0)
        rc, err = self.finish(second)
        self.assertEqual(rc, 0, err)
        eos = tool.wait(lambda e: e["event"] == "eos", 15)
        eos_at = tool.events.index(eos)
        self.assertEqual(eos["file"], os.path.join(tool.out_dir, "alpha-1.ts"))
        self.assertGreater(eos_at, tool.events.index(s2), "EOS before the takeover")
        self.assertEqual(len(tool.find(event="eos")), 1)
        last = [e for e in tool.find(event="stats") if e["reason"]]
        self.assertEqual([e["reason"] for e in last], ["replaced", "disconnected"])
        # both publishers' media is in the one recording
        sent = sum(e["bytes"] for e in last)
        self.assertGreater(last[0]["bytes"], 0)
        self.assertGreaterEqual(os.path.getsize(eos["file"]), sent * 0.95)
        tool.close()

    def test_gst_launch(self):
        """For debugging by hand: two wesrtserversrc on one port in one
        gst-launch-1.0 line share the listener; EOS once both publishers
        are done; we-srt-stats messages on the bus."""
        port = free_udp_port()
        env = dict(os.environ)
        env["GST_PLUGIN_PATH"] = PLUGIN_DIR
        env["GST_REGISTRY"] = os.path.join(self.tmp, "registry.bin")
        env.pop("GST_PLUGIN_PATH_1_0", None)
        env.pop("GST_REGISTRY_1_0", None)
        ldd = subprocess.run(["ldd", os.path.join(PLUGIN_DIR, "libgstwebencode.so")],
                             capture_output=True, text=True, check=True).stdout
        preload = ":".join(re.findall(r"lib(?:asan|ubsan)\.so[.\d]* => (\S+)", ldd))
        if preload:
            env["LD_PRELOAD"] = preload
            # gst-launch-1.0 and the plugin scanner are not ours to keep
            # leak-free
            env["ASAN_OPTIONS"] = "detect_leaks=0"
        cmd = ["gst-launch-1.0", "-m"]
        for key in ("one", "two"):
            cmd += ["wesrtserversrc", f"port={port}", "address=127.0.0.1", f"stream-key={key}",
                    f"passphrase={key}-passphrase", "!", "tsdemux", "!", "h264parse", "!",
                    "fakesink"]
        launch = self.spawn(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True))
        time.sleep(2 * TF)
        pubs = [self.spawn(ffmpeg_publisher(self.tmp, port, f"publish:{k}", f"{k}-passphrase", 3))
                for k in ("one", "two")]
        for p in pubs:
            rc, err = self.finish(p)
            self.assertEqual(rc, 0, err)
        try:
            out, err = launch.communicate(timeout=20 * TF)
        except subprocess.TimeoutExpired:
            launch.kill()
            out, err = launch.communicate()
            self.fail(f"gst-launch-1.0 did not reach EOS:\n{out[-3000:]}\n{err[-3000:]}")
        self.assertEqual(launch.returncode, 0, f"{out[-3000:]}\n{err[-3000:]}")
        self.assertIn("Got EOS from element", out)
        for i in (0, 1):
            self.assertRegex(out, rf'"wesrtserversrc{i}" \(element\): we-srt-stats, .*rtt-ms=')
            self.assertRegex(out, rf'"wesrtserversrc{i}" \(element\): we-srt-stats, .*'
                                  r'eos=\(boolean\)true, reason=\(string\)disconnected')


if __name__ == "__main__":
    wetest.main()
