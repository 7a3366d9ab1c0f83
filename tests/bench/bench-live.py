#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live streaming: glass-to-glass latency RTMP -> live HLS, and CPU per ingest.

bench-live.py [--build DIR] [--smoke] [--duration S] [--cpu-duration S]
              [--streams 1,4] [--no-player] [--keep]

Starts a real webencoded from the build directory (embedded, live ingest on,
ports of its own) and:

1. Latency. A publisher (ffmpeg fed raw frames by this script) sends 1280x720
   at 30 fps, x264 veryfast/zerolatency, 3 Mb/s, a keyframe every second,
   in real time over RTMP. Each frame carries the wall-clock time at which it
   was handed to the encoder, burnt into its top 32 rows as 40 black/white
   blocks of 32x32 (32 bits of the time in ms and an 8-bit check).
   (a) segment availability: the live playlist is polled through the API
   every 50 ms; when a segment appears it is fetched and decoded, and the
   latency is the time it appeared minus the time burnt into its last frame
   (its first frame is a segment older);
   (b) player: hls.js in headless Chromium (bench-live-player.js) plays the
   playlist at the live edge, the shown frame is drawn to a canvas every
   250 ms and read; latency = now - burnt time. Half the run with the studio
   preview's settings (3 segments behind the edge), half 1 segment behind.
   Median and p95 of each, against the goal <= 3 s.
2. CPU per ingest without transcoding: N (default 1 and 4) publishers each
   send a prepared 720p30 3 Mb/s H.264+AAC clip (1 s GOP) with `-c copy` in
   real time; the live worker's CPU time (/proc/<pid>/stat of
   `webencode-worker --live`, all threads) over a window once all are live,
   as % of one core per stream. The same publishers then go to one
   `ffmpeg -listen 1 -i rtmp://... -c copy` per stream writing the same live
   HLS (1 s segments, 6 in the playlist) and a 2 s segment recording: the
   plain alternative, measured the same way. Both and the ratio.

--smoke: a 10 s run of (1a) and N=1 of (2) for 5 s, with loose bounds only
(latency < 15 s, the numbers parse): what `meson test --suite bench` runs.
Python standard library only; ffmpeg, and for (1b) node, Chromium and
`npm ci --prefix tests/browser`.
"""
import argparse
import glob
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from benchlib import BenchError, Daemon, SKIP, SOURCE_ROOT, api, free_port, log

PLAYER_JS = os.path.join(SOURCE_ROOT, "tests", "bench", "bench-live-player.js")
CHROMIUM = os.environ.get("WE_CHROMIUM", "/usr/bin/chromium")
GOAL_S = 3.0
SMOKE_MAX_S = 15.0

WIDTH, HEIGHT, FPS = 1280, 720, 30
# the burnt clock: 40 blocks across the top (32 bits of the time in ms, MSB
# first, then the four bytes XORed with 0xa5), black 16 / white 235
BLOCK, BITS = 32, 40
BLACK, WHITE = 16, 235
CLK_TCK = os.sysconf("SC_CLK_TCK")


def env_no_preload():
    # an ASan build's preload (meson test) must not reach ffmpeg or node
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def encode_clock(ms):
    v = ms & 0xFFFFFFFF
    b = [(v >> 24) & 0xFF, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF]
    b.append(b[0] ^ b[1] ^ b[2] ^ b[3] ^ 0xA5)
    bits = []
    for byte in b:
        bits += [(byte >> (7 - i)) & 1 for i in range(8)]
    return bits


def decode_clock(band):
    """The burnt time's low 32 bits from the top BLOCK rows of a frame (8-bit
    luma, WIDTH wide), or None when its check fails."""
    bytes_ = [0] * 5
    q = BLOCK // 4
    for bit in range(BITS):
        total = n = 0
        for y in range(q, 3 * q, 2):
            row = y * WIDTH
            for x in range(bit * BLOCK + q, bit * BLOCK + 3 * q, 2):
                total += band[row + x]
                n += 1
        if total / n > 128:
            bytes_[bit >> 3] |= 0x80 >> (bit & 7)
    if bytes_[0] ^ bytes_[1] ^ bytes_[2] ^ bytes_[3] ^ 0xA5 != bytes_[4]:
        return None
    return (bytes_[0] << 24) | (bytes_[1] << 16) | (bytes_[2] << 8) | bytes_[3]


def unwrap(low32, now_ms):
    """The full ms time of a burnt low-32-bit value read at now_ms."""
    return now_ms - ((now_ms - low32) & 0xFFFFFFFF)


def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def summary(values):
    if not values:
        return None
    return {"n": len(values), "median_s": round(statistics.median(values), 3),
            "p95_s": round(pct(values, 95), 3), "min_s": round(min(values), 3),
            "max_s": round(max(values), 3)}


class Publisher:
    """ffmpeg publishing frames this script draws, in real time: each frame
    gets the wall-clock time at which it is written to ffmpeg. The silent
    audio (both tracks are required by the live pipeline) comes through a
    second pipe in step with the video, so neither waits for the other in
    ffmpeg's interleaving."""

    def __init__(self, url, seconds, tmp):
        self.seconds = seconds
        self.frames = 0
        self.error = None
        vr, self.vw = os.pipe()
        ar, self.aw = os.pipe()
        cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
               "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "%dx%d" % (WIDTH, HEIGHT),
               "-framerate", str(FPS), "-i", "pipe:%d" % vr,
               "-f", "s16le", "-ar", "48000", "-ac", "2", "-i", "pipe:%d" % ar,
               "-map", "0:v", "-map", "1:a",
               "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
               "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0",
               "-b:v", "3000k", "-maxrate", "3000k", "-bufsize", "3000k", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-b:a", "128k", "-f", "flv", url]
        env = env_no_preload()
        env["HOME"] = tmp
        self.log = open(os.path.join(tmp, "publisher.log"), "wb")
        self.proc = subprocess.Popen(cmd, env=env, pass_fds=(vr, ar), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        os.close(vr)
        os.close(ar)
        # the picture under the clock: a static gradient (the clock rows are
        # what changes); chroma neutral
        rest = bytearray(WIDTH * (HEIGHT - BLOCK))
        for y in range(HEIGHT - BLOCK):
            v = 40 + (y * 160) // HEIGHT
            rest[y * WIDTH:(y + 1) * WIDTH] = bytes([v]) * WIDTH
        self.rest = bytes(rest) + bytes([128]) * (WIDTH * HEIGHT // 2)
        self.audio = bytes(48000 // FPS * 4)
        # one thread per pipe: ffmpeg reads its inputs in turn while it
        # probes them, so one writer feeding both would deadlock
        self.t0 = time.monotonic() + 0.2
        self.threads = [threading.Thread(target=self._video, daemon=True),
                        threading.Thread(target=self._audio, daemon=True)]
        for t in self.threads:
            t.start()

    def _pace(self, n):
        delay = self.t0 + n / FPS - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return n < self.seconds * FPS

    @staticmethod
    def _write(fd, data):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    def _video(self):
        try:
            while self._pace(self.frames):
                ms = int(time.time() * 1000)
                row = b"".join(bytes([WHITE if bit else BLACK]) * BLOCK
                               for bit in encode_clock(ms))
                self._write(self.vw, row * BLOCK + self.rest)
                self.frames += 1
        except OSError as e:
            self.error = e
        finally:
            os.close(self.vw)

    def _audio(self):
        n = 0
        try:
            while self._pace(n):
                self._write(self.aw, self.audio)
                n += 1
        except OSError as e:
            self.error = e
        finally:
            os.close(self.aw)

    def stop(self):
        self.seconds = 0
        for t in self.threads:
            t.join(timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def segments_of(playlist):
    return [l for l in playlist.decode(errors="replace").splitlines()
            if l and not l.startswith("#")]


def decode_segment(path):
    """The burnt values of every frame of a segment, in order."""
    p = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v:0",
                        "-vf", "crop=%d:%d:0:0" % (WIDTH, BLOCK), "-pix_fmt", "gray",
                        "-f", "rawvideo", "-"], capture_output=True, env=env_no_preload())
    if p.returncode != 0:
        raise BenchError("ffmpeg could not decode %s: %s" % (path, p.stderr.decode()))
    size = WIDTH * BLOCK
    return [decode_clock(p.stdout[i:i + size]) for i in range(0, len(p.stdout) - size + 1, size)]


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """Whether a TCP socket listens on @port. Read from /proc rather than by
    connecting: `ffmpeg -listen 1` serves exactly one connection."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def wait_port(port, proc_alive, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(port):
            return
        proc_alive()
        time.sleep(0.1)
    raise BenchError("nothing listens on port %d after %d s" % (port, timeout))


def wait_live(daemon, sids, live=True, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(api(daemon.base, "GET", "/v1/streams/" + s)["is_live"] == live for s in sids):
            return
        time.sleep(0.1)
    raise BenchError("streams %s never became %s" % (sids, "live" if live else "offline"))


def create_stream(daemon, title):
    # recorded (as the ffmpeg alternative records), not archived: an archive
    # job would encode beside the measurement
    return api(daemon.base, "POST", "/v1/streams",
               {"title": title, "archive_enabled": False, "record": True})


def daemon_alive(daemon):
    def check():
        if daemon.proc.poll() is not None:
            raise BenchError("webencoded exited with %d" % daemon.proc.returncode)
    return check


# --- 1. latency ---

# The hls.js settings played: the studio preview's own
# (web/src/components/streams/LivePreview.tsx; hls.js keeps 3 segments behind
# the live edge), and the same one segment behind, to show what the player's
# distance from the edge costs.
PLAYERS = [
    ("studio preview", {"enableWorker": False, "lowLatencyMode": True}),
    ("1 segment behind", {"enableWorker": False, "lowLatencyMode": True,
                          "liveSyncDurationCount": 1, "liveMaxLatencyDurationCount": 4}),
]


def player_available():
    """None, or why the hls.js viewer cannot run here."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return CHROMIUM + " is missing (apt-get install chromium)"
    if not os.path.isdir(os.path.join(SOURCE_ROOT, "tests", "browser", "node_modules",
                                      "playwright-core")):
        return "tests/browser/node_modules is missing (npm ci --prefix tests/browser)"
    return None


class Player:
    """bench-live-player.js (hls.js in headless Chromium) in the background
    for @seconds."""

    def __init__(self, label, config, url, seconds, tmp):
        self.label = label
        self.seconds = seconds
        self.stem = os.path.join(tmp, "player-%d" % abs(hash(label)))
        self.out = open(self.stem + ".json", "wb")
        self.err = open(self.stem + ".log", "wb")
        self.proc = subprocess.Popen(["node", PLAYER_JS, "--url", url, "--seconds", str(seconds),
                                      "--config", json.dumps(config)],
                                     stdout=self.out, stderr=self.err, env=env_no_preload(),
                                     start_new_session=True)

    def running(self):
        return self.proc.poll() is None

    def kill(self):
        if self.running():
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait()
        self.out.close()
        self.err.close()

    def report(self):
        try:
            self.proc.wait(timeout=self.seconds + 120)
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        with open(self.stem + ".log", errors="replace") as f:
            stderr = f.read()
        if self.proc.returncode == 3:
            raise BenchError("the player could not run: " + stderr.strip())
        with open(self.stem + ".json") as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        if self.proc.returncode != 0 or not lines:
            raise BenchError("bench-live-player.js exited with %s:\n%s"
                             % (self.proc.returncode, stderr))
        r = json.loads(lines[-1])
        lat = [(now - unwrap(v, now)) / 1000 for now, v, _, _ in r["samples"] if v is not None]
        est = [h for _, _, _, h in r["samples"] if h is not None]
        return {"label": self.label, "config": r["config"], "latency": summary(lat),
                "unreadable_samples": sum(1 for _, v, _, _ in r["samples"] if v is None),
                "hlsjs_latency_median_s": round(statistics.median(est), 3) if est else None,
                "errors": r["errors"] + r["console_errors"] + (
                    [r["error"]] if r.get("error") else []),
                "waiting": r["waiting"]}


def bench_latency(daemon, seconds, with_player, tmp):
    s = create_stream(daemon, "bench latency")
    sid = s["id"]
    pub = Publisher(s["ingest"]["rtmp"]["url"], seconds + 30, tmp)
    player = None
    reports = []
    try:
        wait_live(daemon, [sid])
        base = "%s/v1/streams/%s/live/" % (daemon.base, sid)
        # the playlist's first segments (publisher start-up, the encoder's
        # ramp) are not counted: only those that appear while we watch
        deadline = time.monotonic() + 20
        seen = set()
        while True:
            try:
                seen = set(segments_of(http_get(base + "index.m3u8")))
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
            if seen:
                break
            if time.monotonic() > deadline:
                raise BenchError("no live playlist 20 s after the publish")
            time.sleep(0.05)
        # the players one after the other, each for its share of the run
        queue = list(PLAYERS) if with_player else []
        share = seconds / max(1, len(queue))
        newest, oldest, bad = [], [], 0
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            if pub.proc.poll() is not None:
                raise BenchError("the publisher exited with %d" % pub.proc.returncode)
            if player is not None and not player.running():
                reports.append(player.report())
                player = None
            if player is None and queue and t_end - time.monotonic() > share / 2:
                label, config = queue.pop(0)
                player = Player(label, config, base + "index.m3u8",
                                min(share, t_end - time.monotonic()), tmp)
            playlist = http_get(base + "index.m3u8")
            appeared_ms = int(time.time() * 1000)
            for name in segments_of(playlist):
                if name in seen:
                    continue
                seen.add(name)
                path = os.path.join(tmp, "seg.ts")
                with open(path, "wb") as f:
                    f.write(http_get(base + name))
                values = decode_segment(path)
                good = [v for v in values if v is not None]
                bad += len(values) - len(good)
                if not values or values[-1] is None or values[0] is None:
                    continue
                newest.append((appeared_ms - unwrap(values[-1], appeared_ms)) / 1000)
                oldest.append((appeared_ms - unwrap(values[0], appeared_ms)) / 1000)
            time.sleep(0.05)
        if player is not None:
            reports.append(player.report())
            player = None
    finally:
        if player is not None:
            player.kill()
        pub.stop()
    wait_live(daemon, [sid], live=False, timeout=30)
    if pub.error is not None:
        raise BenchError("the publisher's pipe broke: %s" % pub.error)
    return {"segment_newest_frame": summary(newest), "segment_oldest_frame": summary(oldest),
            "segments": len(newest), "unreadable_frames": bad, "players": reports}


# --- 2. CPU per ingest ---

def cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def live_worker_pid(daemon):
    out = subprocess.run(["pgrep", "-P", str(daemon.proc.pid), "-f", "webencode-worker --live"],
                         capture_output=True, text=True).stdout.split()
    if len(out) != 1:
        raise BenchError("expected one live worker under webencoded, found %s" % out)
    return int(out[0])


def make_clip(path, seconds):
    """720p30 H.264 3 Mb/s (CBR with filler, 1 s GOP) + AAC in FLV: what a
    publisher sends, encoded once so that the publishers cost nothing."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    # the preset does not matter to a remux, the bitrate
                    # does (CBR with filler): the quickest one
                    "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
                    "-b:v", "3000k", "-minrate", "3000k", "-maxrate", "3000k",
                    "-bufsize", "3000k", "-x264-params", "nal-hrd=cbr", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "128k", "-f", "flv", path],
                   check=True, env=env_no_preload())


def copy_publishers(clip, urls, tmp):
    procs = []
    for i, url in enumerate(urls):
        log_f = open(os.path.join(tmp, "copy-pub-%d.log" % i), "wb")
        procs.append((subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", clip,
             "-c", "copy", "-f", "flv", url], stdout=log_f, stderr=subprocess.STDOUT,
            env=env_no_preload()), log_f))
    return procs


def reap(procs, timeout=30, stop=False):
    """Waits for each process; with @stop, asks it to end first (ffmpeg
    ends a publish cleanly on SIGTERM)."""
    for p, _ in procs:
        if stop and p.poll() is None:
            p.terminate()
    for p, log_f in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log_f.close()


def measure(pids, window):
    """CPU seconds each pid used over @window wall seconds."""
    before = [cpu_s(p) for p in pids]
    t0 = time.monotonic()
    time.sleep(window)
    after = [cpu_s(p) for p in pids]
    wall = time.monotonic() - t0
    return sum(a - b for a, b in zip(after, before)), wall


def cpu_webencode(daemon, clip, n, window, tmp):
    streams = [create_stream(daemon, "bench cpu %d/%d" % (i + 1, n)) for i in range(n)]
    sids = [s["id"] for s in streams]
    worker = live_worker_pid(daemon)
    pubs = copy_publishers(clip, [s["ingest"]["rtmp"]["url"] for s in streams], tmp)
    try:
        wait_live(daemon, sids)
        # past the start (pipelines built, first segments): the steady state
        time.sleep(1.5)
        kernel0 = cpu_s(daemon.proc.pid)
        used, wall = measure([worker], window)
        kernel = cpu_s(daemon.proc.pid) - kernel0
        for sid in sids:
            if not api(daemon.base, "GET", "/v1/streams/" + sid)["is_live"]:
                raise BenchError("stream %s ended during the measurement" % sid)
            if not segments_of(http_get("%s/v1/streams/%s/live/index.m3u8" % (daemon.base, sid))):
                raise BenchError("stream %s has no live segments" % sid)
            # the same work as the alternative's: live HLS and a recording
            if not glob.glob(os.path.join(tmp, "data", "live", sid, "rec", "*", "part*.ts")):
                raise BenchError("stream %s records nothing" % sid)
    finally:
        reap(pubs, stop=True)
    wait_live(daemon, sids, live=False, timeout=30)
    for sid in sids:
        api(daemon.base, "DELETE", "/v1/streams/" + sid)
    return {"worker_pct_per_stream": round(100 * used / wall / n, 2),
            "kernel_pct_per_stream": round(100 * kernel / wall / n, 2),
            "window_s": round(wall, 2)}


def cpu_ffmpeg(clip, n, window, tmp):
    """One `ffmpeg -listen 1` RTMP server per stream, remuxing to live HLS
    (1 s, 6 in the playlist, as our live pipeline) and a 2 s recording."""
    servers, ports = [], []
    try:
        for i in range(n):
            port = free_port()
            d = os.path.join(tmp, "ff-%d-%d" % (n, i))
            os.makedirs(os.path.join(d, "live"))
            os.makedirs(os.path.join(d, "rec"))
            log_f = open(os.path.join(tmp, "ff-server-%d-%d.log" % (n, i)), "wb")
            servers.append((subprocess.Popen(
                ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
                 "-listen", "1", "-i", "rtmp://127.0.0.1:%d/live/s" % port,
                 "-map", "0", "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_list_size", "6",
                 "-hls_flags", "delete_segments",
                 "-hls_segment_filename", os.path.join(d, "live", "segment%05d.ts"),
                 os.path.join(d, "live", "index.m3u8"),
                 "-map", "0", "-c", "copy", "-f", "segment", "-segment_time", "2",
                 "-segment_format", "mpegts", os.path.join(d, "rec", "part%05d.ts")],
                stdout=log_f, stderr=subprocess.STDOUT, env=env_no_preload()), log_f))
            ports.append(port)
        for (p, _), port in zip(servers, ports):
            def alive(p=p):
                if p.poll() is not None:
                    raise BenchError("ffmpeg -listen exited with %d" % p.returncode)
            wait_port(port, alive)
        pubs = copy_publishers(clip, ["rtmp://127.0.0.1:%d/live/s" % p for p in ports], tmp)
        try:
            deadline = time.monotonic() + 20
            while not all(os.path.exists(os.path.join(tmp, "ff-%d-%d" % (n, i), "live",
                                                      "index.m3u8")) for i in range(n)):
                if time.monotonic() > deadline:
                    raise BenchError("ffmpeg wrote no live playlist in 20 s")
                time.sleep(0.1)
            # the same settling time as for webencode, counted from live
            time.sleep(1.5)
            used, wall = measure([p.pid for p, _ in servers], window)
            for i in range(n):
                if not glob.glob(os.path.join(tmp, "ff-%d-%d" % (n, i), "rec", "part*.ts")):
                    raise BenchError("ffmpeg -listen %d records nothing" % i)
        finally:
            reap(pubs, stop=True)
    finally:
        reap(servers, timeout=15)
    return {"ffmpeg_pct_per_stream": round(100 * used / wall / n, 2), "window_s": round(wall, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (default: build)")
    ap.add_argument("--smoke", action="store_true", help="short run with loose bounds, for CI")
    ap.add_argument("--duration", type=float, help="latency measurement, s (default 60; smoke 10)")
    ap.add_argument("--cpu-duration", type=float, help="CPU window, s (default 20; smoke 5)")
    ap.add_argument("--streams", default=None, help="publisher counts (default 1,4; smoke 1)")
    ap.add_argument("--no-player", action="store_true", help="skip the hls.js latency (1b)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    if shutil.which("ffmpeg") is None:
        if os.environ.get("WE_TEST_NO_SKIP"):
            log("bench: FAILED: ffmpeg is not installed")
            return 1
        log("bench: ffmpeg is not installed; skipping")
        return SKIP
    build = os.path.abspath(a.build)
    duration = a.duration or (10.0 if a.smoke else 60.0)
    cpu_window = a.cpu_duration or (5.0 if a.smoke else 20.0)
    counts = [int(x) for x in (a.streams or ("1" if a.smoke else "1,4")).split(",")]
    with_player = not a.smoke and not a.no_player

    tmp = tempfile.mkdtemp(prefix="we-bench-live-")
    daemon = None
    try:
        clip = os.path.join(tmp, "clip-720p.flv")
        log("bench: encoding a %.0f s 720p30 3 Mb/s publisher clip" % (cpu_window + 10))
        make_clip(clip, cpu_window + 10)

        rtmp_port = free_port()
        daemon = Daemon(build, tmp, workers=1, extra_env={
            "WE_LIVE_ENABLED": "1",
            "WE_LIVE_RTMP_PORT": str(rtmp_port),
            "WE_LIVE_SRT_PORT": str(free_udp_port()),
            "WE_LIVE_IDLE_TIMEOUT_S": "2",
        })
        health = daemon.wait_ready()
        wait_port(rtmp_port, daemon_alive(daemon))
        log("bench: webencoded %s at %s, RTMP ingest on %d"
            % (health.get("version"), daemon.base, rtmp_port))

        log("bench: latency, %.0f s of 720p30 over RTMP%s" % (
            duration, " with an hls.js viewer" if with_player else ""))
        if with_player and player_available():
            raise BenchError("the player latency cannot be measured: %s (--no-player skips it)"
                             % player_available())
        lat = bench_latency(daemon, duration, with_player, tmp)
        log("bench:   segments read: %d, players: %d" % (lat["segments"], len(lat["players"])))

        cpu = []
        for n in counts:
            log("bench: CPU, %d publisher(s) for %.0f s: webencode" % (n, cpu_window))
            we = cpu_webencode(daemon, clip, n, cpu_window, tmp)
            log("bench: CPU, %d publisher(s) for %.0f s: ffmpeg -listen" % (n, cpu_window))
            ff = cpu_ffmpeg(clip, n, cpu_window, tmp)
            ratio = (we["worker_pct_per_stream"] / ff["ffmpeg_pct_per_stream"]
                     if ff["ffmpeg_pct_per_stream"] > 0 else float("inf"))
            cpu.append({"streams": n, **we, "ffmpeg_pct_per_stream": ff["ffmpeg_pct_per_stream"],
                        "ratio": round(ratio, 2)})
            log("bench:   webencode %.2f %%, ffmpeg %.2f %% of a core per stream"
                % (we["worker_pct_per_stream"], ff["ffmpeg_pct_per_stream"]))

        def fmt(s):
            return ("median %.2f s, p95 %.2f s (min %.2f, max %.2f, n=%d)"
                    % (s["median_s"], s["p95_s"], s["min_s"], s["max_s"], s["n"])
                    if s else "no samples")
        log("")
        log("glass-to-glass latency, RTMP -> live HLS (1 s segments), goal <= %.0f s:" % GOAL_S)
        log("  segment available (its newest frame): %s" % fmt(lat["segment_newest_frame"]))
        log("  segment available (its oldest frame): %s" % fmt(lat["segment_oldest_frame"]))
        for r in lat["players"]:
            log("  hls.js player, %-17s %s" % (r["label"] + ":", fmt(r["latency"])))
            log("    (hls.js's own latency estimate: median %s s; waiting events %d)"
                % (r["hlsjs_latency_median_s"], r["waiting"]))
        if not lat["players"]:
            log("  hls.js player: not measured (--smoke or --no-player)")
        log("  for comparison, the spec's figures (not run here: neither is packaged for"
            " Debian): Owncast >= 6 s, Restreamer ~8 s")
        log("CPU per ingest without transcoding (720p30 3 Mb/s, % of one core per stream):")
        for c in cpu:
            log("  N=%d: webencode live worker %.2f %% (kernel %.2f %%), ffmpeg -listen "
                "-c copy %.2f %%, ratio %.2f" % (c["streams"], c["worker_pct_per_stream"],
                                                 c["kernel_pct_per_stream"],
                                                 c["ffmpeg_pct_per_stream"], c["ratio"]))
        log("result: " + json.dumps({"latency": lat, "cpu": cpu, "cpus": os.cpu_count(),
                                     "duration_s": duration, "cpu_window_s": cpu_window}))

        # sanity: the numbers exist and are plausible (a benchmark, not a gate,
        # except in --smoke where a broken path must fail CI)
        s = lat["segment_newest_frame"]
        if s is None or s["n"] < max(3, int(duration / 2)):
            raise BenchError("too few segments read: %s" % (s,))
        if lat["unreadable_frames"] > 0:
            raise BenchError("%d frames had an unreadable clock" % lat["unreadable_frames"])
        if not (0 < s["min_s"] and s["max_s"] < SMOKE_MAX_S):
            raise BenchError("implausible latency %s" % (s,))
        for r in lat["players"]:
            # 4 samples a second, less the browser start
            if r["latency"] is None or r["latency"]["n"] < 2 * duration / len(PLAYERS):
                raise BenchError("the player (%s) read too few frames: %s %s"
                                 % (r["label"], r["latency"], r["errors"]))
            if r["errors"]:
                raise BenchError("the player (%s) reported errors: %s" % (r["label"], r["errors"]))
        for c in cpu:
            if not (c["worker_pct_per_stream"] > 0 and c["ffmpeg_pct_per_stream"] > 0):
                raise BenchError("a CPU figure is zero: %s" % c)
        return 0
    except (BenchError, subprocess.CalledProcessError, OSError, KeyError, ValueError) as e:
        log("bench: FAILED: %s" % e)
        if daemon is not None:
            log("bench: webencoded log:\n" + daemon.log_tail(requests=False))
        return 1
    finally:
        if daemon is not None:
            daemon.stop()
        if a.keep:
            log("bench: kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
