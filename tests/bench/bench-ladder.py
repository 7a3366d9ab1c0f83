#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Our ABR ladder job against spec §9.4.1's single ffmpeg command.

bench-ladder.py [--build DIR] [--tool PATH] [--smoke] [--duration S] [--keep]

Generates a 1080p30 H.264+AAC source (60 s; --smoke: 6 s at 640x360 with the
ladder scaled down and 2 s segments), then in the same run, on that source:

1. the job: a real webencoded from the build directory in embedded mode (a
   free port, a temporary data directory) gets the source as file://… with a
   custom profile holding the spec's 1080p/720p/480p ladder and 6 s HLS TS
   segments; timed from POST /v1/jobs to status "completed";
2. we-gst-ladder-tool, the same packager run directly: the difference to 1
   is what the service adds (probe, scan, planning, worker, upload);
3. the spec §9.4.1 ffmpeg command.

Prints the three times and the ratios job/ffmpeg (the goal is <= 1.0) and
tool/ffmpeg, and checks that every output has the expected number of segments
in every rendition (the job's from its stored media playlists).
Python standard library only.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import BenchError, Daemon, MAKE_CLIP, SKIP, api, log, ts, wait_job


# (name, width, height, video kb/s, maxrate kb/s, bufsize kb/s, audio kb/s): spec §9.4.1
FULL = [("1080p", 1920, 1080, 5000, 5500, 10000, 192),
        ("720p", 1280, 720, 2500, 2750, 5000, 128),
        ("480p", 854, 480, 1000, 1100, 2000, 96)]
SMOKE = [("360p", 640, 360, 1000, 1100, 2000, 128),
         ("240p", 426, 240, 500, 550, 1000, 96),
         ("180p", 320, 180, 250, 275, 500, 64)]


def timed(cmd):
    start = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.monotonic() - start
    if p.returncode != 0:
        raise BenchError("%s failed (%d):\n%s" % (cmd[0], p.returncode, p.stderr[-2000:]))
    return elapsed, p.stdout


def ffmpeg_command(source, out, ladder, segment):
    """Spec §9.4.1, verbatim but for one thing: the spec maps 0:a once while
    its var_stream_map names a:0 a:1 a:2, which ffmpeg refuses ("Unable to
    map stream"); the audio is mapped once per variant as the map intends."""
    n = len(ladder)
    split = "[0:v]split=%d%s; " % (n, "".join("[v%d]" % (i + 1) for i in range(n)))
    split += "; ".join("[v%d]scale=%d:%d[v%dout]" % (i + 1, r[1], r[2], i + 1)
                       for i, r in enumerate(ladder))
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-y", "-nostdin",
           "-i", source, "-filter_complex", split]
    for i, r in enumerate(ladder):
        cmd += ["-map", "[v%dout]" % (i + 1), "-c:v:%d" % i, "libx264",
                "-b:v:%d" % i, "%dk" % r[3], "-maxrate:v:%d" % i, "%dk" % r[4],
                "-bufsize:v:%d" % i, "%dk" % r[5]]
    for _ in ladder:
        cmd += ["-map", "0:a"]
    cmd += ["-c:a", "aac"]
    for i, r in enumerate(ladder):
        cmd += ["-b:a:%d" % i, "%dk" % r[6]]
    cmd += ["-f", "hls", "-hls_time", str(segment), "-hls_list_size", "0",
            "-hls_segment_filename", os.path.join(out, "stream_%v", "segment_%03d.ts"),
            "-master_pl_name", "master.m3u8",
            "-var_stream_map", " ".join("v:%d,a:%d" % (i, i) for i in range(n)),
            os.path.join(out, "stream_%v", "playlist.m3u8")]
    return cmd


def count_segments(playlist):
    with open(playlist) as f:
        return sum(1 for line in f if line.startswith("#EXTINF:"))


def job_profile(ladder, segment):
    """The benchmark's ladder as a custom profile (src/sdk/we-profile.c): the
    encoder settings of the ffmpeg command (x264's default preset, per-rung
    bitrates, maxrates and audio bitrates; the bufsize is the ladder's own
    two seconds of the target, as the spec's)."""
    return {
        "id": "bench_ladder", "container": "mp4", "video_codec": "h264", "preset": "medium",
        "ladder": [{"name": r[0], "width": r[1], "height": r[2], "video_bitrate_kbps": r[3],
                    "max_bitrate_kbps": r[4], "audio_bitrate_kbps": r[6]} for r in ladder],
        "hls": {"enabled": True, "segment_duration_s": segment, "segment_type": "ts"},
    }


def job_phases(daemon, jid):
    """Where the job's wall time went, from its event timeline: until the
    ladder task is dispatched (probe, keyframe scan, planning), the ladder
    task (a worker's whole run: packaging and upload) and after it."""
    events = api(daemon.base, "GET", "/v1/jobs/%s/events" % jid).get("events", [])
    created = started = ended = completed = None
    for e in events:
        t = ts(e["created_at"])
        msg = e.get("message") or ""
        if e["type"] == "job.created" and created is None:
            created = t
        elif e["type"] == "task.started" and "(ladder)" in msg:
            started = t  # the last attempt's
        elif e["type"] == "task.completed" and "(ladder)" in msg:
            ended = t
        elif e["type"] == "job.completed":
            completed = t
    out = {}
    if created is not None and started is not None:
        out["before ladder"] = started - created
    if started is not None and ended is not None:
        out["ladder task"] = ended - started
    if ended is not None and completed is not None:
        out["after"] = completed - ended
    return out


def dump_job(daemon, jid):
    """What a failed job leaves to read: its events."""
    try:
        events = api(daemon.base, "GET", "/v1/jobs/%s/events" % jid).get("events", [])
    except (OSError, BenchError, ValueError) as e:
        log("  (no events: %s)" % e)
        return
    for e in events:
        log("  %s %-15s %s" % (e.get("created_at"), e.get("type"), e.get("message")))


def run_job(daemon, source, ladder, segment, expected, timeout):
    """Submits the ladder job, waits for it and checks its stored outputs;
    returns (seconds, job id, total bytes)."""
    t0 = time.monotonic()
    job = api(daemon.base, "POST", "/v1/jobs",
              {"source_url": "file://" + source, "custom_profile": job_profile(ladder, segment)})
    jid = job["id"]
    try:
        wait_job(daemon, jid, t0, timeout, label="job")
        elapsed = time.monotonic() - t0
        size = check_outputs(daemon, jid, ladder, expected)
    except BenchError:
        log("job %s events:" % jid)
        dump_job(daemon, jid)
        raise
    return elapsed, jid, size


def check_outputs(daemon, jid, ladder, expected):
    """The job's outputs list and stored files: the master playlist, and every
    rung's media playlist with @expected segments, all of them stored;
    returns the stored segments' total size."""
    stored = 0
    outputs = api(daemon.base, "GET", "/v1/jobs/%s/outputs" % jid).get("outputs", [])
    by_name = {o.get("name"): o for o in outputs}
    manifests = [n for n, o in by_name.items() if o.get("type") == "manifest"]
    if "master.m3u8" not in manifests:
        raise BenchError("job %s: no master.m3u8 manifest among its outputs: %s"
                         % (jid, sorted(by_name)))
    for r in ladder:
        name = "%s/index.m3u8" % r[0]
        o = by_name.get(name)
        if o is None or o.get("type") != "rendition":
            raise BenchError("job %s: no rendition %s among its outputs: %s"
                             % (jid, name, sorted(by_name)))
        playlist = daemon.fs_path(o.get("url"))
        if playlist is None or not os.path.isfile(playlist):
            # where storage-fs keeps a job's outputs when the URL says otherwise
            playlist = os.path.join(daemon.storage_root, "outputs", jid, name)
        if not os.path.isfile(playlist):
            raise BenchError("job %s: %s is not stored (url %s)" % (jid, name, o.get("url")))
        n = count_segments(playlist)
        if n != expected:
            raise BenchError("job: %s has %d segments, expected %d" % (r[0], n, expected))
        with open(playlist) as f:
            uris = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        files = [os.path.join(os.path.dirname(playlist), u) for u in uris]
        missing = [u for u, path in zip(uris, files) if not os.path.isfile(path)]
        if missing:
            raise BenchError("job: %s lists segments that are not stored: %s"
                             % (r[0], missing[:3]))
        stored += sum(os.path.getsize(path) for path in files)
    if stored == 0:
        raise BenchError("job %s: its stored segments are empty" % jid)
    return stored


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (default: build)")
    ap.add_argument("--tool", help="we-gst-ladder-tool (default: the build directory's)")
    ap.add_argument("--smoke", action="store_true", help="6 s 640x360 source, for CI")
    ap.add_argument("--duration", type=float, help="source duration in seconds")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the job")
    ap.add_argument("--workers", type=int, default=0,
                    help="worker slots for webencoded (default: one per core)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    if shutil.which("ffmpeg") is None:
        log("ffmpeg is not installed; skipping")
        return SKIP
    build = os.path.abspath(args.build)
    tool = args.tool or os.path.join(build, "plugins", "encoder", "gst", "we-gst-ladder-tool")
    if not os.access(tool, os.X_OK):
        raise BenchError("%s is not built" % tool)
    ladder = SMOKE if args.smoke else FULL
    segment = 2 if args.smoke else 6
    duration = args.duration or (6.0 if args.smoke else 60.0)
    width, height = (640, 360) if args.smoke else (1920, 1080)
    tmp = tempfile.mkdtemp(prefix="we-bench-ladder-")
    daemon = None
    try:
        source = os.path.join(tmp, "source.mp4")
        log("generating a %.0f s %dx%d 30 fps source" % (duration, width, height))
        subprocess.run([sys.executable, MAKE_CLIP, source, "--duration", str(duration),
                        "--width", str(width), "--height", str(height), "--fps", "30"],
                       check=True, stdout=subprocess.DEVNULL)
        expected = math.ceil(duration / segment - 1e-6)

        # 1. the job, through the service
        daemon = Daemon(build, tmp, workers=args.workers)
        health = daemon.wait_ready()
        workers = (health.get("workers") or {}).get("total", "?")
        log("webencoded %s at %s, %s workers" % (health.get("version"), daemon.base, workers))
        try:
            job_s, jid, job_bytes = run_job(daemon, source, ladder, segment, expected,
                                            args.timeout)
            phases = job_phases(daemon, jid)
        except (BenchError, OSError):
            log("webencoded log (API requests left out):\n"
                + daemon.log_tail(60, requests=False))
            raise
        # idle workers stay out of the other two timings
        daemon.stop()
        daemon = None

        # 2. the packager alone
        tool_dir = os.path.join(tmp, "tool")
        spec = ",".join("%s:%dx%d:%d:%d" % (r[0], r[1], r[2], r[3], r[4]) for r in ladder)
        # x264's default preset, as the ffmpeg command uses
        tool_s, out = timed([tool, source, tool_dir, "--ladder", spec,
                             "--segment", str(segment), "--preset", "medium"])
        result = json.loads(out)
        for r in ladder:
            n = count_segments(os.path.join(tool_dir, r[0], "index.m3u8"))
            if n != expected:
                raise BenchError("tool: %s has %d segments, expected %d" % (r[0], n, expected))

        # 3. spec §9.4.1's ffmpeg command
        ff_dir = os.path.join(tmp, "ffmpeg")
        for i in range(len(ladder)):
            os.makedirs(os.path.join(ff_dir, "stream_%d" % i))
        ff_s, _ = timed(ffmpeg_command(source, ff_dir, ladder, segment))
        ff_counts = [count_segments(os.path.join(ff_dir, "stream_%d" % i, "playlist.m3u8"))
                     for i in range(len(ladder))]
        # ffmpeg cuts at libx264's own keyframes (a 250-frame GOP), so its
        # count can be lower than ours; its renditions must still agree
        if len(set(ff_counts)) != 1:
            raise BenchError("ffmpeg: renditions differ in segment count: %s" % ff_counts)

        log("")
        log("source:  %.0f s %dx%d@30, ladder %s, %d s segments"
            % (duration, width, height, "/".join(r[0] for r in ladder), segment))
        timeline = ", ".join("%s %.2f s" % kv for kv in phases.items()) or "no timeline"
        log("job:     %7.2f s  (%d segments per rendition, %.1fx realtime, %.1f MB stored,"
            " %s workers; %s)" % (job_s, expected, duration / job_s, job_bytes / 1e6,
                                  workers, timeline))
        log("tool:    %7.2f s  (%d segments per rendition, %.1fx realtime)"
            % (tool_s, result["segment_count"], duration / tool_s))
        log("ffmpeg:  %7.2f s  (%d segments per rendition, %.1fx realtime)"
            % (ff_s, ff_counts[0], duration / ff_s))
        log("ratio job/ffmpeg:  %.2f (goal <= 1.0)" % (job_s / ff_s))
        log("ratio tool/ffmpeg: %.2f" % (tool_s / ff_s))
        log("result: " + json.dumps({
            "source_duration_s": duration, "width": width, "height": height,
            "segment_s": segment, "rungs": [r[0] for r in ladder],
            "job_s": round(job_s, 3), "tool_s": round(tool_s, 3), "ffmpeg_s": round(ff_s, 3),
            "ratio_job_ffmpeg": round(job_s / ff_s, 3),
            "ratio_tool_ffmpeg": round(tool_s / ff_s, 3),
            "job_bytes": job_bytes, "workers": workers, "cpus": os.cpu_count(),
            "job_phases": {k: round(v, 3) for k, v in phases.items()}}))
        if args.keep:
            log("kept %s" % tmp)
    finally:
        if daemon is not None:
            daemon.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print("bench-ladder: %s" % e, file=sys.stderr)
        sys.exit(1)
