#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The ABR ladder packager against spec §9.4.1's single ffmpeg command.

bench-ladder.py --tool PATH [--smoke] [--duration S] [--keep]

Generates a 1080p30 H.264+AAC source (60 s; --smoke: 6 s at 640x360 with the
ladder scaled down and 2 s segments), then in the same run times
we-gst-ladder-tool on the spec's 1080p/720p/480p ladder with 6 s HLS TS
segments, and the spec §9.4.1 ffmpeg command on the same source. Prints both
times and the ratio ours/ffmpeg (the goal is <= 1.0), and checks that both
outputs have the expected number of segments in every rendition.
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

from benchlib import BenchError, MAKE_CLIP, SKIP, log


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True, help="we-gst-ladder-tool")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--duration", type=float)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    if shutil.which("ffmpeg") is None:
        log("ffmpeg is not installed; skipping")
        return SKIP
    if not os.access(args.tool, os.X_OK):
        raise BenchError("%s is not built" % args.tool)
    ladder = SMOKE if args.smoke else FULL
    segment = 2 if args.smoke else 6
    duration = args.duration or (6.0 if args.smoke else 60.0)
    width, height = (640, 360) if args.smoke else (1920, 1080)
    tmp = tempfile.mkdtemp(prefix="we-bench-ladder-")
    try:
        source = os.path.join(tmp, "source.mp4")
        log("generating a %.0f s %dx%d 30 fps source" % (duration, width, height))
        subprocess.run([sys.executable, MAKE_CLIP, source, "--duration", str(duration),
                        "--width", str(width), "--height", str(height), "--fps", "30"],
                       check=True, stdout=subprocess.DEVNULL)
        expected = math.ceil(duration / segment - 1e-6)

        ours_dir = os.path.join(tmp, "ours")
        spec = ",".join("%s:%dx%d:%d:%d" % (r[0], r[1], r[2], r[3], r[4]) for r in ladder)
        # x264's default preset, as the ffmpeg command uses
        ours_s, out = timed([args.tool, source, ours_dir, "--ladder", spec,
                             "--segment", str(segment), "--preset", "medium"])
        result = json.loads(out)
        for r in ladder:
            n = count_segments(os.path.join(ours_dir, r[0], "index.m3u8"))
            if n != expected:
                raise BenchError("ours: %s has %d segments, expected %d" % (r[0], n, expected))

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

        log("source:  %.0f s %dx%d@30, ladder %s, %d s segments"
            % (duration, width, height, "/".join(r[0] for r in ladder), segment))
        log("ours:    %.2f s  (%d segments per rendition, %.1fx realtime)"
            % (ours_s, result["segment_count"], duration / ours_s))
        log("ffmpeg:  %.2f s  (%d segments per rendition, %.1fx realtime)"
            % (ff_s, ff_counts[0], duration / ff_s))
        log("ratio ours/ffmpeg: %.2f (goal <= 1.0)" % (ours_s / ff_s))
        if args.keep:
            log("kept %s" % tmp)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print("bench-ladder: %s" % e, file=sys.stderr)
        sys.exit(1)
