#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Restreaming (issue 11): CPU per pass-through destination, and the time
from a destination's return to frames flowing.

bench-restream.py [--build DIR] [--counts 1,2,4,8] [--window S]
                  [--outages 3] [--outage-s 5] [--gop S] [--smoke] [--keep]

Starts a real webencoded from the build directory (embedded) and local
RTMP servers (nginx with libnginx-mod-rtmp, tests/integration/wenginx.py,
each recording every publish to FLV), then:

1. CPU per destination. A 30 s 1920x1080p30 6 Mb/s H.264 + AAC MP4 (a
   keyframe every --gop s), made once with ffmpeg, is restreamed as file as
   live (POST /v1/restreams, simulate_live, loop_enabled) to N nginx
   servers. It is H.264 + AAC, so the restream worker passes it through
   (parsers, no encode). Once every destination is live and recording, the
   CPU time of the `webencode-worker --restream` child of webencoded
   (/proc/<pid>/stat utime + stime, all threads) is read over a window:
   CPU(N) in % of one core. The worker's own sends are in it, so the
   network I/O is counted. The plain alternative, measured the same way:
   one `ffmpeg -re -stream_loop -1 -i clip -c copy -f tee
   "[f=flv]rtmp://…|…"` to the same N servers. Printed: CPU(N) of both,
   their ratio and the marginal cost of a destination,
   (CPU(N) - CPU(1)) / (N - 1), against the goal <= 1 % of a core.
2. Destination back to frames flowing. A restream to 3 servers; one is
   killed (SIGKILL: a crashed server), started again on the same port after
   --outage-s s; the time from the moment it accepts connections (its port
   polled every 5 ms) to the moment its new recording holds a video frame
   (an FLV video tag with an AVC NALU, read as the file grows), --outages
   times; each and the median. Also the time until the API shows the
   destination live again (stats come once a second), and whether the two
   other destinations' recordings kept growing, in one file each, through
   every outage.

--smoke (the CI test bench-restream-smoke, ~15 s): a 6 s 640x360 clip, N = 2
for 3 s and one 2 s outage, no ffmpeg: fails when the pipeline breaks (a
destination without frames, or far below the clip's bitrate, or not back
after the outage), never on a CPU figure. Python standard library only;
ffmpeg, ffprobe and nginx with libnginx-mod-rtmp.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import BenchError, Daemon, SKIP, SOURCE_ROOT, api, log

sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "integration"))
import wenginx  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
GOAL_PCT = 1.0
FPS = 30


def env_no_preload():
    # an ASan build's preload (meson test) must not reach ffmpeg or nginx
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(ppid, arg):
    """The pids of @ppid's children with @arg in their command line."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != ppid or fields[0] == "Z":
                continue
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if arg.encode() in argv:
            found.append(int(d))
    return found


def make_clip(path, seconds, width, height, gop_s):
    """H.264 (x264, 6 Mb/s, a keyframe every @gop_s s, no B-frame reordering
    that matters here) + AAC 128 kb/s in MP4. Noise over the test pattern
    keeps the encoder at its bitrate; no CBR filler, which a parser may
    drop and ffmpeg would not (the two would not send the same bytes)."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i",
                    "testsrc2=size=%dx%d:rate=%d,noise=alls=14:allf=t" % (width, height, FPS),
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", str(gop_s * FPS), "-keyint_min", str(gop_s * FPS),
                    "-sc_threshold", "0", "-b:v", "6000k", "-maxrate", "6000k",
                    "-bufsize", "6000k", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-movflags", "+faststart", path],
                   check=True, env=env_no_preload())
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=bit_rate",
                          "-of", "csv=p=0", path], capture_output=True, text=True,
                         env=env_no_preload()).stdout.strip()
    return int(out) / 1e6 if out.isdigit() else None


def flv_has_video_frame(path):
    """Whether a (growing) FLV file holds an H.264 frame yet: a complete
    video tag with an AVC NALU packet (not just the sequence header)."""
    try:
        with open(path, "rb") as f:
            data = f.read(8 << 20)
    except OSError:
        return False
    if len(data) < 13 or data[:3] != b"FLV":
        return False
    off = int.from_bytes(data[5:9], "big") + 4
    while off + 11 <= len(data):
        kind = data[off] & 0x1F
        size = int.from_bytes(data[off + 1:off + 4], "big")
        if off + 11 + size > len(data):
            return False
        if kind == 9 and size >= 2 and data[off + 11] & 0x0F == 7 and data[off + 12] == 1:
            return True
        off += 11 + size + 4
    return False


def size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Server(wenginx.NginxRtmp):
    """A wenginx server whose (re)start is timed: the port is polled every
    5 ms and the moment it first accepts is returned."""

    def start_timed(self, timeout=10):
        with open(os.path.join(self.root, "stderr.log"), "a") as err:
            self.proc = subprocess.Popen(
                [wenginx.NGINX, "-p", self.root + "/", "-e", os.path.join(self.root, "error.log"),
                 "-c", self.conf], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, env=env_no_preload())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("nginx exited: %s" % self.error_log()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return time.monotonic()
            except OSError:
                time.sleep(0.005)
        raise BenchError("nginx did not listen on %d" % self.port)

    def recordings_of(self, key):
        return [p for p in self.recordings() if os.path.basename(p).startswith(key + "-")]

    def clear(self):
        """Drops the recordings of ended publishes (a run writes ~0.8 MB/s
        per destination)."""
        for p in self.recordings():
            os.unlink(p)


def wait_recordings(servers, keys, timeout=30, alive=None):
    """Until each server holds a recording of its key with video frames;
    returns the files."""
    deadline = time.monotonic() + timeout
    while True:
        files = []
        for s, k in zip(servers, keys):
            recs = s.recordings_of(k)
            if recs and flv_has_video_frame(recs[-1]):
                files.append(recs[-1])
        if len(files) == len(servers):
            return files
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise BenchError("only %d of %d destinations record after %d s"
                             % (len(files), len(servers), timeout))
        time.sleep(0.1)


def measure(pids, window):
    """CPU seconds the pids used over @window wall seconds, and the wall time."""
    before = [cpu_s(p) for p in pids]
    t0 = time.monotonic()
    time.sleep(window)
    after = [cpu_s(p) for p in pids]
    wall = time.monotonic() - t0
    return [a - b for a, b in zip(after, before)], wall


# --- the restream of the service ---

def create_restream(daemon, title, clip, urls):
    r = api(daemon.base, "POST", "/v1/restreams", {
        "title": title, "input_url": clip, "loop_enabled": True, "simulate_live": True,
        "output_destinations": [{"url": u} for u in urls]})
    return r["id"], [d["id"] for d in r["output_destinations"]]


def dest_states(daemon, rid):
    r = api(daemon.base, "GET", "/v1/restreams/" + rid)
    return r["status"], {k: v for k, v in (r.get("current_stats") or {}).items()
                         if isinstance(v, dict) and "state" in v}


def wait_all_live(daemon, rid, dids, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        status, stats = dest_states(daemon, rid)
        if status == "streaming" and all(stats.get(d, {}).get("state") == "live" for d in dids):
            return
        if status == "error" or time.monotonic() > deadline:
            raise BenchError("restream %s: %s, destinations %s" % (rid, status, stats))
        time.sleep(0.1)


def restream_worker(daemon, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        pids = children(daemon.proc.pid, "--restream")
        if len(pids) == 1:
            return pids[0]
        if time.monotonic() > deadline:
            raise BenchError("expected one `webencode-worker --restream` under webencoded, "
                             "found %s" % pids)
        time.sleep(0.1)


def end_restream(daemon, rid, pid, failing=False):
    """Stops and deletes the restream and waits for its worker to end;
    while an error is on its way (@failing), a further one is only logged."""
    try:
        _end_restream(daemon, rid, pid)
    except BenchError as e:
        if not failing:
            raise
        log("bench: while failing: %s" % e)


def _end_restream(daemon, rid, pid):
    api(daemon.base, "POST", "/v1/restreams/%s/stop" % rid)
    api(daemon.base, "DELETE", "/v1/restreams/" + rid)
    deadline = time.monotonic() + 15
    while pid in children(daemon.proc.pid, "--restream"):
        if time.monotonic() > deadline:
            raise BenchError("the restream worker %d did not end after stop" % pid)
        time.sleep(0.1)


def growth_check(files, before, wall, label, min_mbps=2.0):
    """Each destination received about the clip's bitrate during the
    window; returns the slowest, Mb/s."""
    rates = [(size(f) - b) * 8 / wall / 1e6 for f, b in zip(files, before)]
    if min(rates) < min_mbps:
        raise BenchError("%s: a destination received %.2f Mb/s only (%s)"
                         % (label, min(rates), ["%.2f" % r for r in rates]))
    return min(rates)


def cpu_webencode(daemon, clip, servers, n, window, settle=2.0, min_mbps=2.0):
    keys = ["we%d-%d" % (n, i) for i in range(n)]
    rid, dids = create_restream(daemon, "bench cpu %d" % n, clip,
                                [s.url(k) for s, k in zip(servers, keys)])
    pid = restream_worker(daemon)
    ok = False
    try:
        wait_all_live(daemon, rid, dids)
        files = wait_recordings(servers[:n], keys)
        # past the start (pipeline built, connections up): the steady state
        time.sleep(settle)
        before = [size(f) for f in files]
        kernel0 = cpu_s(daemon.proc.pid)
        (used,), wall = measure([pid], window)
        kernel = cpu_s(daemon.proc.pid) - kernel0
        status, stats = dest_states(daemon, rid)
        if status != "streaming" or any(stats.get(d, {}).get("state") != "live" for d in dids):
            raise BenchError("webencode N=%d: not every destination stayed live: %s"
                             % (n, stats))
        if any(len(s.recordings_of(k)) != 1 for s, k in zip(servers, keys)):
            raise BenchError("webencode N=%d: a destination reconnected during the window" % n)
        slowest = growth_check(files, before, wall, "webencode N=%d" % n, min_mbps)
        ok = True
    finally:
        end_restream(daemon, rid, pid, failing=not ok)
    return {"cpu_pct": 100 * used / wall, "kernel_pct": 100 * kernel / wall,
            "slowest_mbps": slowest, "window_s": wall}


def cpu_ffmpeg(clip, servers, n, window, tmp):
    keys = ["ff%d-%d" % (n, i) for i in range(n)]
    tee = "|".join("[f=flv]" + s.url(k) for s, k in zip(servers, keys))
    log_f = open(os.path.join(tmp, "ffmpeg-tee-%d.log" % n), "wb")
    proc = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
                             "-re", "-stream_loop", "-1", "-i", clip,
                             "-map", "0:v:0", "-map", "0:a:0", "-c", "copy",
                             # tee hands the MP4 codec tags (avc1, mp4a) to its FLV
                             # outputs, which refuse them: FLV's own ids
                             "-tag:v", "7", "-tag:a", "10", "-f", "tee", tee],
                            stdout=log_f, stderr=subprocess.STDOUT, env=env_no_preload())

    def alive():
        if proc.poll() is not None:
            raise BenchError("ffmpeg tee exited with %d" % proc.returncode)
    try:
        files = wait_recordings(servers[:n], keys, alive=alive)
        time.sleep(2)  # the same settling time as for webencode
        before = [size(f) for f in files]
        (used,), wall = measure([proc.pid], window)
        alive()
        slowest = growth_check(files, before, wall, "ffmpeg tee N=%d" % n)
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_f.close()
    return {"cpu_pct": 100 * used / wall, "slowest_mbps": slowest, "window_s": wall}


# --- 2. a destination's return ---

def bench_return(daemon, clip, servers, outages, outage_s, settle=2.0, between=3.0):
    keys = ["back-%d" % i for i in range(3)]
    victim, others = servers[1], [servers[0], servers[2]]
    other_keys = [keys[0], keys[2]]
    rid, dids = create_restream(daemon, "bench return", clip,
                                [s.url(k) for s, k in zip(servers, keys)])
    pid = restream_worker(daemon)
    runs = []
    kept = []
    ok = False
    try:
        wait_all_live(daemon, rid, dids)
        wait_recordings(servers[:3], keys)
        time.sleep(settle)
        other_files = [s.recordings_of(k)[-1] for s, k in zip(others, other_keys)]
        for i in range(outages):
            seen = set(victim.recordings_of(keys[1]))
            victim.kill()
            t_kill = time.monotonic()
            # the others through the outage: sampled every 0.5 s, each must
            # grow within every second, in the same file
            samples = [[size(f)] for f in other_files]
            while time.monotonic() - t_kill < outage_s:
                time.sleep(0.5)
                for s, f in zip(samples, other_files):
                    s.append(size(f))
            for s, f in zip(samples, other_files):
                stalls = [j for j in range(2, len(s)) if s[j] <= s[j - 2]]
                if stalls:
                    raise BenchError("outage %d: %s stopped growing (sizes %s)"
                                     % (i + 1, os.path.basename(f), s))
                kept.append((s[-1] - s[0]) * 8 / (outage_s * 1e6))
            for s, k in zip(others, other_keys):
                if len(s.recordings_of(k)) != 1:
                    raise BenchError("outage %d: another destination reconnected" % (i + 1))
            _, stats = dest_states(daemon, rid)
            state_down = stats.get(dids[1], {}).get("state")
            t_accept = victim.start_timed()
            t_frames = t_api = None
            polls = 0
            deadline = t_accept + 30
            while t_frames is None or t_api is None:
                now = time.monotonic()
                if now > deadline:
                    raise BenchError("outage %d: no frames %s, API %s 30 s after the restart: %s"
                                     % (i + 1, t_frames, t_api, victim.recordings()))
                if t_frames is None:
                    new = [p for p in victim.recordings_of(keys[1]) if p not in seen]
                    if new and flv_has_video_frame(new[-1]):
                        t_frames = time.monotonic()
                if t_api is None and polls % 10 == 0:
                    _, stats = dest_states(daemon, rid)
                    st = stats.get(dids[1], {})
                    if st.get("state") == "live" and st.get("reconnects", 0) >= i + 1:
                        t_api = time.monotonic()
                polls += 1
                time.sleep(0.01)
            run = {"frames_s": round(t_frames - t_accept, 3), "api_live_s": round(t_api - t_accept, 3),
                   "state_during_outage": state_down}
            runs.append(run)
            log("bench:   outage %d: frames %.2f s after the port accepts (API live %.2f s;"
                " during the outage: %s)" % (i + 1, run["frames_s"], run["api_live_s"],
                                              state_down))
            if i + 1 < outages:
                time.sleep(between)  # steady again before the next one
        ok = True
    finally:
        end_restream(daemon, rid, pid, failing=not ok)
    return {"runs": runs, "median_s": statistics.median(r["frames_s"] for r in runs),
            "api_median_s": statistics.median(r["api_live_s"] for r in runs),
            "others_min_mbps": min(kept)}


def smoke(daemon, clip, servers, counts, window, outages, outage_s, clip_mbps):
    """The CI run: the restream pipeline works end to end, every destination
    gets frames at about the clip's bitrate and one comes back after an
    outage. The CPU figures are printed, never judged: on a shared CI
    machine (and an ASan build) they measure the neighbours."""
    # a third of the clip's bitrate: far below it means frames are lost
    min_mbps = (clip_mbps or 3.0) / 3
    for n in counts:
        log("bench: smoke, %d destination(s), %.0f s" % (n, window))
        we = cpu_webencode(daemon, clip, servers, n, window, settle=1.0, min_mbps=min_mbps)
        log("bench:   every destination live and recording, slowest %.2f Mb/s (clip %.2f);"
            " worker %.2f %% of a core (not judged)" % (we["slowest_mbps"], clip_mbps or 0,
                                                        we["cpu_pct"]))
    log("bench: smoke, a destination's return, %d outage(s) of %.0f s" % (outages, outage_s))
    back = bench_return(daemon, clip, servers, outages, outage_s, settle=1.0)
    log("bench:   frames again %.2f s after the port accepts (API live %.2f s); the others kept"
        " growing (slowest %.2f Mb/s)" % (back["median_s"], back["api_median_s"],
                                          back["others_min_mbps"]))
    log("result: " + json.dumps({"smoke": True, "return": back, "clip_mbps": clip_mbps}))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (default: build)")
    ap.add_argument("--smoke", action="store_true",
                    help="short run (CI): fails when frames do not flow, not on CPU figures")
    ap.add_argument("--counts", default=None, help="destination counts (default 1,2,4,8)")
    ap.add_argument("--window", type=float, help="CPU window, s (default 20; smoke 3)")
    ap.add_argument("--outages", type=int, help="destination restarts (default 3; smoke 1)")
    ap.add_argument("--outage-s", type=float, help="outage length, s (default 5; smoke 2)")
    ap.add_argument("--gop", type=int, default=2, help="the clip's keyframe interval, s")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    missing = [t for t in ("ffmpeg", "ffprobe") if shutil.which(t) is None]
    if not wenginx.available():
        missing.append("nginx with libnginx-mod-rtmp")
    if missing:
        if os.environ.get("WE_TEST_NO_SKIP"):
            log("bench: FAILED: not installed: %s" % ", ".join(missing))
            return 1
        log("bench: not installed: %s; skipping" % ", ".join(missing))
        return SKIP
    build = os.path.abspath(a.build)
    counts = [int(x) for x in (a.counts or ("2" if a.smoke else "1,2,4,8")).split(",")]
    if counts[0] != 1 and not a.smoke:
        counts.insert(0, 1)  # the marginal cost is against N = 1
    window = a.window or (3.0 if a.smoke else 20.0)
    outages = a.outages or (1 if a.smoke else 3)
    outage_s = a.outage_s or (2.0 if a.smoke else 5.0)
    clip_s = 6 if a.smoke else 30
    width, height = (640, 360) if a.smoke else (1920, 1080)

    tmp = tempfile.mkdtemp(prefix="we-bench-restream-")
    daemon = None
    servers = []
    try:
        clip = os.path.join(tmp, "clip.mp4")
        log("bench: encoding a %d s %dx%d@%d H.264 6 Mb/s + AAC clip (keyframe every %d s)"
            % (clip_s, width, height, FPS, a.gop))
        t0 = time.monotonic()
        clip_mbps = make_clip(clip, clip_s, width, height, a.gop)
        log("bench:   %.1f s, %.2f Mb/s" % (time.monotonic() - t0, clip_mbps or 0))

        for i in range(max(max(counts), 3)):
            servers.append(Server(os.path.join(tmp, "nginx-%d" % i)))
            servers[-1].start_timed()
        daemon = Daemon(build, tmp, workers=1)
        health = daemon.wait_ready()
        log("bench: webencoded %s at %s, %d nginx-rtmp destinations"
            % (health.get("version"), daemon.base, len(servers)))

        load = os.getloadavg()[0]
        if a.smoke:
            return smoke(daemon, clip, servers, counts, window, outages, outage_s, clip_mbps)
        cpu = []
        for n in counts:
            log("bench: CPU, %d destination(s), %.0f s: webencode" % (n, window))
            we = cpu_webencode(daemon, clip, servers, n, window)
            log("bench: CPU, %d destination(s), %.0f s: ffmpeg -f tee" % (n, window))
            ff = cpu_ffmpeg(clip, servers, n, window, tmp)
            for s in servers:
                s.clear()
            row = {"n": n, "webencode_pct": round(we["cpu_pct"], 2),
                   "kernel_pct": round(we["kernel_pct"], 2), "ffmpeg_pct": round(ff["cpu_pct"], 2),
                   "ratio": round(we["cpu_pct"] / ff["cpu_pct"], 2) if ff["cpu_pct"] else None,
                   "slowest_mbps": round(min(we["slowest_mbps"], ff["slowest_mbps"]), 2)}
            cpu.append(row)
            log("bench:   webencode worker %.2f %% (kernel %.2f %%), ffmpeg tee %.2f %% of a core"
                % (row["webencode_pct"], row["kernel_pct"], row["ffmpeg_pct"]))
            if n == 1 and we["cpu_pct"] > 50:
                raise BenchError("the restream worker used %.0f %% of a core for one destination:"
                                 " was it passed through?" % we["cpu_pct"])
        base = cpu[0]
        for row in cpu[1:]:
            row["we_marginal_pct"] = round((row["webencode_pct"] - base["webencode_pct"])
                                           / (row["n"] - 1), 2)
            row["ff_marginal_pct"] = round((row["ffmpeg_pct"] - base["ffmpeg_pct"])
                                           / (row["n"] - 1), 2)

        log("bench: a destination's return, 3 destinations, %d outage(s) of %.0f s"
            % (outages, outage_s))
        back = bench_return(daemon, clip, servers, outages, outage_s)

        log("")
        log("Restream CPU, pass-through %dx%d@%d %.1f Mb/s H.264 + AAC, file as live, "
            "%% of one core over %.0f s (load average before: %.2f):"
            % (width, height, FPS, clip_mbps or 0, window, load))
        log("   N  webencode worker  (kernel)  ffmpeg tee  ratio  marginal/dest we  ffmpeg")
        for r in cpu:
            log("  %2d  %16.2f  %8.2f  %10.2f  %5s  %16s  %6s" % (
                r["n"], r["webencode_pct"], r["kernel_pct"], r["ffmpeg_pct"],
                "%.2f" % r["ratio"] if r["ratio"] else "-",
                "%.2f" % r["we_marginal_pct"] if "we_marginal_pct" in r else "-",
                "%.2f" % r["ff_marginal_pct"] if "ff_marginal_pct" in r else "-"))
        last = cpu[-1]
        if "we_marginal_pct" in last:
            log("  marginal cost of a destination (N=%d against N=1): webencode %.2f %%, ffmpeg "
                "%.2f %% of a core; goal <= %.0f %%: %s" % (
                    last["n"], last["we_marginal_pct"], last["ff_marginal_pct"], GOAL_PCT,
                    "met" if last["we_marginal_pct"] <= GOAL_PCT else "NOT met"))
        log("  CPU(1), input + one destination: webencode %.2f %%, ffmpeg %.2f %%"
            % (base["webencode_pct"], base["ffmpeg_pct"]))
        log("Destination back -> frames flowing (3 destinations, %.0f s outage, keyframe every"
            " %d s, werestreamsink backoff 0.25 s doubling to 2 s):" % (outage_s, a.gop))
        for i, r in enumerate(back["runs"]):
            log("  run %d: %.2f s (API shows it live after %.2f s)"
                % (i + 1, r["frames_s"], r["api_live_s"]))
        log("  median %.2f s (API %.2f s); the two others kept growing through every outage, "
            "slowest %.2f Mb/s" % (back["median_s"], back["api_median_s"],
                                   back["others_min_mbps"]))
        log("result: " + json.dumps({"cpu": cpu, "return": back, "window_s": window,
                                     "clip_mbps": clip_mbps, "gop_s": a.gop,
                                     "cpus": os.cpu_count()}))
        for r in cpu:
            if not (r["webencode_pct"] > 0 and r["ffmpeg_pct"] > 0):
                raise BenchError("a CPU figure is zero: %s" % r)
        return 0
    except (BenchError, subprocess.CalledProcessError, OSError, KeyError, ValueError) as e:
        log("bench: FAILED: %s" % e)
        if daemon is not None:
            log("bench: webencoded log:\n" + daemon.log_tail(requests=False))
        return 1
    finally:
        if daemon is not None:
            daemon.stop()
        for s in servers:
            s.stop()
        if a.keep:
            log("bench: kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
