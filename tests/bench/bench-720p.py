#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Whole-job time of WebEncode against one ffmpeg process, in the same run.

bench-720p.py [--build DIR] [--smoke] [--duration S] [--profile P] [--keep]

Generates a 1080p30 H.264+AAC source (60 s; --smoke: 5 s at 640x360), starts a
real webencoded from the build directory in embedded mode on a free port with
a temporary data directory, submits the source as file://… with the profile
(default 720p_h264) and measures submit → completed. Then times one ffmpeg
process encoding the same source with the same codec, bitrate, preset, size
and audio settings, and prints both times, the output sizes and the ratio
webencode/ffmpeg. Python standard library only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import BenchError, Daemon, MAKE_CLIP, SKIP, api, log, ts, wait_job


# The brief's ffmpeg baseline for 720p_h264, used where the profile is silent.
FALLBACK = {"width": 1280, "height": 720, "video_bitrate_kbps": 2500, "max_bitrate_kbps": 2750,
            "buffer_kbps": 5000, "preset": "fast", "audio_bitrate_kbps": 128,
            "audio_sample_rate": 48000, "audio_channels": 2}


def probe_duration(path):
    if shutil.which("ffprobe") is None:
        return None
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                        "-of", "default=nw=1:nk=1", path], capture_output=True, text=True)
    try:
        return float(p.stdout.strip())
    except ValueError:
        return None


def mb(n):
    return "%.1f MB" % (n / 1e6)


def run_webencode(daemon, source, profile, timeout):
    t0 = time.monotonic()
    job = api(daemon.base, "POST", "/v1/jobs",
              {"source_url": "file://" + source, "profile": profile})
    jid = job["id"]
    wait_job(daemon, jid, t0, timeout)
    elapsed = time.monotonic() - t0
    outputs = api(daemon.base, "GET", "/v1/jobs/%s/outputs" % jid).get("outputs", [])
    finals = [o for o in outputs if o.get("type") in (None, "final")] or outputs
    if not finals:
        raise BenchError("job %s completed without outputs" % jid)
    size = sum(int(o.get("size_bytes") or 0) for o in finals)
    path = daemon.fs_path(finals[0].get("url", ""))
    if path is not None and not os.path.exists(path):
        path = None
    return elapsed, size, path, jid


def phases(daemon, jid):
    """Where the job's wall time went, from its event timeline: the scan
    (probe + keyframe index), planning, encoding (segments, audio or the one
    transcode) and the stitch with its verification."""
    events = api(daemon.base, "GET", "/v1/jobs/%s/events" % jid).get("events", [])
    tasks = {t["sequence_index"]: t for t in
             api(daemon.base, "GET", "/v1/jobs/%s/tasks" % jid).get("tasks", [])}
    first = {}
    last = {}
    for e in events:
        t = ts(e["created_at"])
        kind = e["type"]
        first.setdefault(kind, t)
        last[kind] = t
    created = first.get("job.created")
    out = {}
    completions = [ts(e["created_at"]) for e in events if e["type"] == "task.completed"]
    planned = first.get("job.planned")
    if created and completions:
        out["scan"] = completions[0] - created
    if planned and completions:
        out["plan"] = planned - completions[0]
    stitch_start = None
    for e in events:
        if e["type"] == "task.started" and "stitch" in e.get("message", ""):
            stitch_start = ts(e["created_at"])
    ends = [ts(e["created_at"]) for e in events if e["type"] == "task.completed"
            and ("segment" in e["message"] or "audio" in e["message"]
                 or "transcode" in e["message"])]
    if planned and ends:
        out["encode"] = max(ends) - planned
    if stitch_start and last.get("job.completed"):
        out["stitch+verify"] = last["job.completed"] - stitch_start
    out["segments"] = sum(1 for t in tasks.values() if t.get("kind") == "segment") or 1
    return out


def ffmpeg_args(profile, source, out):
    p = dict(FALLBACK)
    p.update({k: v for k, v in profile.items() if v not in (None, 0, "")})
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", source,
            "-c:v", "libx264", "-preset", str(p["preset"]),
            "-b:v", "%dk" % p["video_bitrate_kbps"],
            "-maxrate", "%dk" % p["max_bitrate_kbps"],
            "-bufsize", "%dk" % p["buffer_kbps"],
            "-vf", "scale=%d:%d" % (p["width"], p["height"])]
    if p.get("keyframe_interval_s"):
        # the same closed GOP length as the profile asks of webencode
        args += ["-force_key_frames", "expr:gte(t,n_forced*%s)" % p["keyframe_interval_s"]]
    args += ["-c:a", "aac", "-b:a", "%dk" % p["audio_bitrate_kbps"],
             "-ar", str(p["audio_sample_rate"]), "-ac", str(p["audio_channels"]),
             "-movflags", "+faststart", out]
    return args


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (default: build)")
    ap.add_argument("--smoke", action="store_true", help="5 s 640x360 source, for CI")
    ap.add_argument("--duration", type=float, help="source duration in seconds")
    ap.add_argument("--profile", default="720p_h264")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the job")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--workers", type=int, default=0,
                    help="worker slots for webencoded (default: one per core)")
    a = ap.parse_args()

    if shutil.which("ffmpeg") is None:
        log("bench: ffmpeg is not installed; skipping")
        return SKIP
    build = os.path.abspath(a.build)
    width, height = (640, 360) if a.smoke else (1920, 1080)
    duration = a.duration or (5.0 if a.smoke else 60.0)

    tmp = tempfile.mkdtemp(prefix="we-bench-")
    daemon = None
    try:
        source = os.path.join(tmp, "source-%dp.mp4" % height)
        log("bench: generating a %.0f s %dx%d@30 H.264+AAC source" % (duration, width, height))
        subprocess.run([sys.executable, MAKE_CLIP, source, "--duration", str(duration),
                        "--width", str(width), "--height", str(height), "--fps", "30"],
                       check=True, stdout=subprocess.DEVNULL)

        daemon = Daemon(build, tmp, workers=a.workers)
        health = daemon.wait_ready()
        workers = (health.get("workers") or {}).get("total", "?")
        profile = api(daemon.base, "GET", "/v1/profiles/" + a.profile)
        log("bench: webencoded %s at %s, %s workers" % (health.get("version"), daemon.base, workers))

        we_time, we_size, we_path, jid = run_webencode(daemon, source, a.profile, a.timeout)
        log("bench: webencode job %s completed" % jid)
        split = phases(daemon, jid)
        log("bench: where the time went: " + ", ".join(
            "%s %.2f s" % (k, v) if isinstance(v, float) else "%s %s" % (k, v)
            for k, v in split.items()))
        daemon.stop()
        daemon = None

        out = os.path.join(tmp, "ffmpeg-%s.mp4" % a.profile)
        args = ffmpeg_args(profile, source, out)
        log("bench: " + " ".join(args))
        t0 = time.monotonic()
        subprocess.run(args, check=True)
        ff_time = time.monotonic() - t0
        ff_size = os.path.getsize(out)

        we_dur = probe_duration(we_path) if we_path else None
        ff_dur = probe_duration(out)
        ratio = we_time / ff_time if ff_time > 0 else float("inf")
        log("")
        log("source:    %.1f s %dx%d@30, %s" % (duration, width, height,
                                                  mb(os.path.getsize(source))))
        log("webencode: %7.2f s  output %s%s" % (we_time, mb(we_size),
                                                  ", %.2f s long" % we_dur if we_dur else ""))
        log("ffmpeg:    %7.2f s  output %s%s" % (ff_time, mb(ff_size),
                                                  ", %.2f s long" % ff_dur if ff_dur else ""))
        log("ratio webencode/ffmpeg: %.2f" % ratio)
        log("result: " + json.dumps({
            "profile": a.profile, "source_duration_s": duration, "width": width,
            "height": height, "webencode_s": round(we_time, 3), "ffmpeg_s": round(ff_time, 3),
            "ratio": round(ratio, 3), "webencode_bytes": we_size, "ffmpeg_bytes": ff_size,
            "workers": workers, "cpus": os.cpu_count(), "phases": split}))
        if we_size <= 0:
            raise BenchError("webencode's output is empty")
        if we_dur is not None and abs(we_dur - duration) > 0.5:
            raise BenchError("webencode's output lasts %.2f s, the source %.2f s"
                             % (we_dur, duration))
        return 0
    except (BenchError, subprocess.CalledProcessError, OSError, KeyError, ValueError) as e:
        log("bench: FAILED: %s" % e)
        if daemon is not None:
            log("bench: webencoded log:\n" + daemon.log_tail())
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
