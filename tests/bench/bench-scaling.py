#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Cluster scaling: one worker pinned to one core against two workers pinned to
two cores, on the same job.

bench-scaling.py [--build DIR] [--smoke] [--duration S] [--profile P]
                 [--cores A,B] [--segment-target S] [--repeat N] [--min-speedup X]
                 [--keep]

Generates one 1080p30 H.264+AAC source (60 s; --smoke: 6 s at 640x360) with
tests/media/make-clip, then runs the same job twice on a cluster-mode
webencoded from the build directory: a NATS JetStream server (nats-server -js)
carries the tasks, the store is SQLite in a temporary data directory and the
storage is storage-fs on a directory kernel and workers share (one host, so no
S3 is needed). The first run has one `webencode-worker --nats` started with
`taskset -c A`, the second two, with `taskset -c A` and `taskset -c B`. The
kernel and nats-server run under `taskset -c A,B` in both runs: they do no
media work, and pinning them to the same two cores keeps the second run from
borrowing a third core a bigger machine would have; the first run may use
core B for them for free, so the speedup is, if anything, understated.

Each run starts its own cluster, waits until every worker has joined, runs
one small warm-up job per worker (a fresh kernel holds claims back until it
has heard every worker, and a fresh worker loads its plugins on its first
task: neither belongs in the measurement), then submits the source as
file://… with the profile (default 720p_h264) and segment overrides that let
the two-worker plan split (target 10 s on 60 s; --segment-target), and
measures submit → completed. It prints both times, the speedup (goal ≥ 1.85;
with --repeat N, of the median rounds) and, per run, the phases from the
job's task timeline (scan, plan, encode, stitch + verify), the segment count,
each worker's busy time and how long dispatched tasks waited to be claimed
(from the workers' logs), and any task that failed and was retried. Exits 1
when a run fails or the two-worker run did not split; with --min-speedup also
when the speedup is lower. Python standard library only.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import BenchError, MAKE_CLIP, SKIP, api, free_port, log, ts

GOAL = 1.85


def probe(path):
    """(video frames, duration) by ffprobe, or None without it."""
    if shutil.which("ffprobe") is None or path is None:
        return None
    p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                        "-show_entries", "stream=nb_read_frames:format=duration",
                        "-of", "json", path], capture_output=True, text=True)
    try:
        info = json.loads(p.stdout)
        return int(info["streams"][0]["nb_read_frames"]), float(info["format"]["duration"])
    except (ValueError, KeyError, IndexError):
        return None


def json_lines(path):
    out = []
    try:
        with open(path, "rb") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


class Proc:
    """A child with its output in a log file, stopped with SIGTERM."""

    def __init__(self, name, args, env, log_path):
        self.name = name
        self.log_path = log_path
        self.log_file = open(log_path, "wb")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def alive(self):
        return self.proc.poll() is None

    def tail(self, lines=30):
        self.log_file.flush()
        with open(self.log_path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


class Cluster:
    """nats-server + webencoded (SQLite, storage-fs, NATS queue, no local
    workers) + N `webencode-worker --nats`, each under taskset on its core."""

    def __init__(self, build, tmp, name, worker_cores, control_cores, media_dir):
        self.tmp = os.path.join(tmp, name)
        os.makedirs(self.tmp)
        self.build = build
        self.procs = []
        self.workers = []
        self.storage_root = os.path.join(self.tmp, "storage")
        nats_bin = shutil.which("nats-server") or "/usr/sbin/nats-server"
        nats_port = free_port()
        self.nats_url = "nats://127.0.0.1:%d" % nats_port
        taskset_ctl = ["taskset", "-c", control_cores]

        self.nats = self._spawn("nats-server", taskset_ctl + [
            nats_bin, "-js", "-a", "127.0.0.1", "-p", str(nats_port),
            "-sd", os.path.join(self.tmp, "jetstream")], dict(os.environ))
        self._wait_port(nats_port, b"INFO", "nats-server")

        env = dict(os.environ)
        for k in ("WE_CONFIG", "DATABASE_URL", "WE_WORKER_ID", "WE_SCRATCH_DIR"):
            env.pop(k, None)
        env.update({
            "NATS_URL": self.nats_url,
            "WE_PLUGIN_DIR": os.path.join(build, "plugins"),
            "WE_STORAGE_DEFAULT": "storage-fs",
            "WE_PLUGIN_STORAGE_FS_ROOT": self.storage_root,
            "WE_PLUGIN_STORAGE_FS_BROWSE_ROOTS": media_dir,
        })
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        kernel_env = dict(env)
        kernel_env.update({
            "WE_DATA_DIR": os.path.join(self.tmp, "data"),
            "KERNEL_PORT": str(self.port),
            "KERNEL_HOST": "127.0.0.1",
            "WE_WORKERS": "0",
        })
        self.kernel = self._spawn("webencoded", taskset_ctl + [
            os.path.join(build, "src", "daemon", "webencoded")], kernel_env)
        worker_exe = os.path.join(build, "src", "worker", "webencode-worker")
        for i, core in enumerate(worker_cores):
            wenv = dict(env)
            wid = "bench-w%d-cpu%s" % (i + 1, core)
            wenv.update({"WE_WORKER_ID": wid,
                         "WE_SCRATCH_DIR": os.path.join(self.tmp, "scratch")})
            w = self._spawn(wid, ["taskset", "-c", str(core), worker_exe,
                                  "--nats", self.nats_url], wenv)
            w.worker_id = wid
            w.core = core
            self.workers.append(w)

    def _spawn(self, name, args, env):
        p = Proc(name, args, env, os.path.join(self.tmp, name + ".log"))
        self.procs.append(p)
        return p

    @staticmethod
    def _wait_port(port, greeting, what, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(4096).startswith(greeting):
                        return
            except OSError:
                time.sleep(0.05)
        raise BenchError("%s did not start on port %d" % (what, port))

    def wait_ready(self, timeout=60):
        """Until every worker has joined and is idle."""
        want = len(self.workers)
        deadline = time.monotonic() + timeout
        health = None
        while time.monotonic() < deadline:
            for p in self.procs:
                if not p.alive():
                    raise BenchError("%s exited with %d:\n%s" % (p.name, p.proc.returncode,
                                                                  p.tail()))
            try:
                health = api(self.base, "GET", "/health", timeout=2)
                w = health.get("workers") or {}
                if w.get("total") == want and w.get("free") == want:
                    return health
            except (OSError, BenchError, ValueError):
                pass
            time.sleep(0.1)
        raise BenchError("the workers did not all join within %d s (health: %s):\n%s"
                         % (timeout, health, self.kernel.tail()))

    def stop(self):
        for p in reversed(self.procs):
            p.stop()


def warm_up(cluster, clip, profile, timeout=300):
    """One small job per worker, all at once, before the timed run: a kernel
    holds claims back until it has heard every live worker (a few heartbeats
    after it connects), and each worker process loads its GStreamer plugins
    on its first task. Neither belongs in the measurement."""
    t0 = time.monotonic()
    jids = [api(cluster.base, "POST", "/v1/jobs", {"source_url": "file://" + clip,
                                                   "profile": profile})["id"]
            for _ in cluster.workers]
    for jid in jids:
        while True:
            job = api(cluster.base, "GET", "/v1/jobs/" + jid)
            if job.get("status") in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() - t0 > timeout:
                raise BenchError("warm-up job %s still %s after %d s"
                                 % (jid, job.get("status"), timeout))
            time.sleep(0.1)
        if job["status"] != "completed":
            raise BenchError("warm-up job %s %s: %s: %s" % (jid, job["status"],
                                                            job.get("error_code"),
                                                            job.get("error_message")))
    # every slot free again before the timed job is planned
    deadline = time.monotonic() + 60
    want = len(cluster.workers)
    while (api(cluster.base, "GET", "/health").get("workers") or {}).get("free") != want:
        if time.monotonic() > deadline:
            raise BenchError("the workers did not all become free after the warm-up")
        time.sleep(0.1)
    return time.monotonic() - t0


def run_job(cluster, source, profile, overrides, timeout, label):
    t0 = time.monotonic()
    job = api(cluster.base, "POST", "/v1/jobs",
              {"source_url": "file://" + source, "profile": profile,
               "profile_overrides": overrides})
    jid = job["id"]
    last = None
    while True:
        job = api(cluster.base, "GET", "/v1/jobs/" + jid)
        status = job.get("status")
        if status in ("completed", "failed", "cancelled"):
            break
        if time.monotonic() - t0 > timeout:
            raise BenchError("job %s still %s after %d s" % (jid, status, timeout))
        pct = int(job.get("progress_pct") or job.get("progress") or 0) // 10 * 10
        if (status, pct) != last:
            log("  %s: %-10s %3d%%  (%.1f s)" % (label, status, pct, time.monotonic() - t0))
            last = (status, pct)
        time.sleep(0.1)
    elapsed = time.monotonic() - t0
    if status != "completed":
        raise BenchError("%s: job %s %s: %s: %s" % (label, jid, status, job.get("error_code"),
                                                    job.get("error_message")))
    return elapsed, jid


def timeline(cluster, jid):
    """Per task (by sequence index): kind, dispatch and completion times
    from the job's events, plus the job's plan message and retries."""
    events = api(cluster.base, "GET", "/v1/jobs/%s/events" % jid).get("events", [])
    tasks = {t["sequence_index"]: t for t in
             api(cluster.base, "GET", "/v1/jobs/%s/tasks" % jid).get("tasks", [])}
    spans = {i: {"kind": t["kind"], "start": None, "end": None, "id": t["id"],
                 "attempts": t.get("attempt_count")} for i, t in tasks.items()}
    info = {"created": None, "planned": None, "completed": None, "plan": "", "failures": []}
    for e in events:
        t = ts(e["created_at"])
        kind, msg = e["type"], e.get("message") or ""
        m = re.match(r"^task (\d+) ", msg)
        idx = int(m.group(1)) if m else None
        if kind == "job.created":
            info["created"] = t
        elif kind == "job.planned":
            info["planned"] = t
            info["plan"] = msg
        elif kind == "job.completed":
            info["completed"] = t
        elif kind == "task.started" and idx in spans:
            spans[idx]["start"] = t          # the last dispatch: the attempt that ran
        elif kind == "task.completed" and idx in spans:
            spans[idx]["end"] = t
        elif kind == "task.failed":
            info["failures"].append(msg)
    return spans, info


def phases(spans, info):
    out = {}
    scan = [s for s in spans.values() if s["kind"] == "scan"]
    enc = [s for s in spans.values() if s["kind"] in ("segment", "audio", "transcode")]
    stitch = [s for s in spans.values() if s["kind"] == "stitch"]
    if scan and scan[0]["end"] and info["created"]:
        out["scan"] = scan[0]["end"] - info["created"]
        if info["planned"]:
            out["plan"] = info["planned"] - scan[0]["end"]
    if enc and all(s["start"] and s["end"] for s in enc):
        out["encode"] = max(s["end"] for s in enc) - min(s["start"] for s in enc)
    if stitch and stitch[0]["start"] and info["completed"]:
        out["stitch+verify"] = info["completed"] - stitch[0]["start"]
    out["segments"] = sum(1 for s in spans.values() if s["kind"] == "segment") or 1
    return out


def worker_busy(cluster, spans):
    """Seconds each worker spent on this job's tasks, claim → report
    delivered, from the workers' own logs; and how long each task's last
    dispatch waited for a worker to claim it (task.started → claimed)."""
    ids = {s["id"]: s for s in spans.values()}
    busy = {}
    claimed = {}
    for w in cluster.workers:
        started = {}
        total = 0.0
        for rec in json_lines(w.log_path):
            tid = rec.get("correlation_id")
            if tid not in ids or "timestamp" not in rec:
                continue
            msg = rec.get("message", "")
            t = ts(rec["timestamp"])
            if re.search(r"\(attempt \d+\) claimed$", msg):
                started[tid] = t
                claimed[tid] = t
            elif re.search(r": (done|failed|cancelled) report delivered$", msg) and tid in started:
                total += t - started.pop(tid)
        busy[w.worker_id] = total
    waits = [claimed[tid] - s["start"] for tid, s in ids.items()
             if tid in claimed and s["start"] is not None]
    return busy, waits


def fmt_phases(p):
    return ", ".join("%s %.2f s" % (k, v) if isinstance(v, float) else "%s %s" % (k, v)
                     for k, v in p.items())


def output_path(cluster, jid):
    outs = api(cluster.base, "GET", "/v1/jobs/%s/outputs" % jid).get("outputs", [])
    finals = [o for o in outs if o.get("type") in (None, "final")] or outs
    if not finals:
        raise BenchError("job %s completed without outputs" % jid)
    url = finals[0].get("url", "")
    if url.startswith("fs://"):
        path = os.path.join(cluster.storage_root, url[len("fs://"):])
        if os.path.exists(path):
            return path, int(finals[0].get("size_bytes") or 0)
    return None, int(finals[0].get("size_bytes") or 0)


def one_run(build, tmp, name, worker_cores, control_cores, source, a, overrides):
    label = "%d worker%s" % (len(worker_cores), "s" if len(worker_cores) > 1 else "")
    cluster = Cluster(build, tmp, name, worker_cores, control_cores, os.path.dirname(source))
    try:
        health = cluster.wait_ready()
        log("bench: %s: webencoded %s at %s, workers on core(s) %s, kernel and NATS on %s"
            % (label, health.get("version"), cluster.base,
               ",".join(str(c) for c in worker_cores), control_cores))
        warm = warm_up(cluster, a.warm_clip, a.profile)
        log("bench: %s: warm-up jobs took %.2f s (not measured)" % (label, warm))
        elapsed, jid = run_job(cluster, source, a.profile, overrides, a.timeout, label)
        spans, info = timeline(cluster, jid)
        result = {
            "label": label, "seconds": elapsed, "job": jid, "plan": info["plan"],
            "phases": phases(spans, info), "failures": info["failures"],
        }
        result["busy"], waits = worker_busy(cluster, spans)
        result["claim_wait"] = {"max": max(waits) if waits else 0.0, "total": sum(waits)}
        result["output"], result["bytes"] = output_path(cluster, jid)
        result["probe"] = probe(result["output"])
        if result["output"]:
            kept = os.path.join(tmp, "%s-%s" % (name, os.path.basename(result["output"])))
            shutil.copyfile(result["output"], kept)
            result["output"] = kept
        log("bench: %s: %.2f s; %s" % (label, elapsed, info["plan"]))
        log("bench: %s: phases: %s" % (label, fmt_phases(result["phases"])))
        log("bench: %s: worker busy: %s; dispatch → claim waits: total %.2f s, longest "
            "%.2f s" % (label, ", ".join("%s %.2f s" % kv for kv in result["busy"].items()),
                        result["claim_wait"]["total"], result["claim_wait"]["max"]))
        for f in info["failures"]:
            log("bench: %s: NOTE retried after: %s" % (label, f))
        return result
    except BenchError as e:
        raise BenchError("%s\nkernel log:\n%s" % (e, cluster.kernel.tail()))
    finally:
        cluster.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (default: build)")
    ap.add_argument("--smoke", action="store_true", help="6 s 640x360 source, for CI")
    ap.add_argument("--duration", type=float, help="source duration in seconds")
    ap.add_argument("--profile", default="720p_h264")
    ap.add_argument("--cores", help="the two cores to pin to, A,B (default: the first two "
                                    "this process may run on)")
    ap.add_argument("--segment-target", type=float,
                    help="segment_target_s override (default: duration / 6, at most 10 s)")
    ap.add_argument("--min-speedup", type=float,
                    help="exit 1 when the speedup is below this (default: report only)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of both runs; the medians are compared (default: 1)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for each job")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")

    for tool in ("taskset",):
        if shutil.which(tool) is None:
            log("bench: %s is not installed (util-linux); skipping" % tool)
            return SKIP
    if not (shutil.which("nats-server") or os.path.exists("/usr/sbin/nats-server")):
        log("bench: nats-server is not installed; skipping")
        return SKIP
    if a.cores:
        cores = [c.strip() for c in a.cores.split(",")]
        if len(cores) != 2:
            ap.error("--cores takes two cores, e.g. 0,1")
    else:
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) < 2:
            log("bench: needs two cores, this process may use %s; skipping" % allowed)
            return SKIP
        cores = [str(allowed[0]), str(allowed[1])]
    build = os.path.abspath(a.build)
    for exe in (("src", "daemon", "webencoded"), ("src", "worker", "webencode-worker")):
        if not os.access(os.path.join(build, *exe), os.X_OK):
            log("bench: FAILED: %s is not built (see --build)" % os.path.join(build, *exe))
            return 1
    width, height = (640, 360) if a.smoke else (1920, 1080)
    duration = a.duration or (6.0 if a.smoke else 60.0)
    target = a.segment_target or max(1.0, min(10.0, duration / 6))
    # min half the target, so a plan over two slots may shrink towards it
    overrides = {"segment_target_s": target, "segment_min_s": target / 2,
                 "segment_max_s": max(3 * target, 20.0)}

    tmp = tempfile.mkdtemp(prefix="we-bench-scaling-")
    try:
        media = os.path.join(tmp, "media")
        os.makedirs(media)
        source = os.path.join(media, "source-%dp.mp4" % height)
        log("bench: generating a %.0f s %dx%d@30 H.264+AAC source" % (duration, width, height))
        subprocess.run([sys.executable, MAKE_CLIP, source, "--duration", str(duration),
                        "--width", str(width), "--height", str(height), "--fps", "30"],
                       check=True, stdout=subprocess.DEVNULL)
        src_probe = probe(source)
        a.warm_clip = os.path.join(media, "warm-up.mp4")
        subprocess.run([sys.executable, MAKE_CLIP, a.warm_clip, "--duration", "1",
                        "--width", "320", "--height", "240", "--fps", "30"],
                       check=True, stdout=subprocess.DEVNULL)
        control = ",".join(cores)
        log("bench: profile %s, overrides %s" % (a.profile, json.dumps(overrides)))

        ones, twos = [], []
        for i in range(a.repeat):
            if a.repeat > 1:
                log("bench: round %d of %d" % (i + 1, a.repeat))
            ones.append(one_run(build, tmp, "one-%d" % i, cores[:1], control, source, a,
                                overrides))
            twos.append(one_run(build, tmp, "two-%d" % i, cores, control, source, a,
                                overrides))
        # the median round of each (the only one with --repeat 1)
        one = sorted(ones, key=lambda r: r["seconds"])[(len(ones) - 1) // 2]
        two = sorted(twos, key=lambda r: r["seconds"])[(len(twos) - 1) // 2]

        speedup = one["seconds"] / two["seconds"] if two["seconds"] > 0 else float("inf")
        log("")
        log("source:      %.1f s %dx%d@30, %.1f MB%s" % (
            duration, width, height, os.path.getsize(source) / 1e6,
            ", %d frames" % src_probe[0] if src_probe else ""))
        for r, rounds in ((one, ones), (two, twos)):
            log("%-12s %7.2f s  (%s; %s)" % (r["label"] + ":", r["seconds"], r["plan"],
                                             fmt_phases(r["phases"])))
            if len(rounds) > 1:
                log("%-12s %s (median above)" % ("", ", ".join(
                    "%.2f s" % x["seconds"] for x in rounds)))
        log("speedup:     %.2f  (goal >= %.2f: %s)" % (speedup, GOAL,
                                                      "met" if speedup >= GOAL else "NOT met"))
        log("result: " + json.dumps({
            "profile": a.profile, "source_duration_s": duration, "width": width,
            "height": height, "cores": cores, "cpus": os.cpu_count(),
            "one_worker_s": round(one["seconds"], 3), "two_workers_s": round(two["seconds"], 3),
            "rounds": {"one_worker_s": [round(r["seconds"], 3) for r in ones],
                       "two_workers_s": [round(r["seconds"], 3) for r in twos]},
            "speedup": round(speedup, 3), "goal": GOAL,
            "one_worker": {"plan": one["plan"], "phases": one["phases"], "busy": one["busy"],
                           "claim_wait_s": one["claim_wait"], "retries": one["failures"]},
            "two_workers": {"plan": two["plan"], "phases": two["phases"], "busy": two["busy"],
                            "claim_wait_s": two["claim_wait"], "retries": two["failures"]},
            "overrides": overrides}))

        failed = False
        for r in ones + twos:
            if r["bytes"] <= 0:
                log("bench: FAILED: %s: the output is empty" % r["label"])
                failed = True
            if src_probe and r["probe"]:
                frames, dur = r["probe"]
                if frames != src_probe[0] or abs(dur - src_probe[1]) > 0.5:
                    log("bench: FAILED: %s: output has %d frames / %.2f s, the source %d / %.2f s"
                        % (r["label"], frames, dur, src_probe[0], src_probe[1]))
                    failed = True
        for r in twos:
            if r["phases"].get("segments", 1) < 2:
                log("bench: FAILED: the two-worker job was not split (%s), so it measures one "
                    "worker twice" % r["plan"])
                failed = True
        if a.min_speedup is not None and speedup < a.min_speedup:
            log("bench: FAILED: speedup %.2f < %.2f" % (speedup, a.min_speedup))
            failed = True
        return 1 if failed else 0
    except (BenchError, subprocess.CalledProcessError, OSError, KeyError, ValueError) as e:
        log("bench: FAILED: %s" % e)
        return 1
    finally:
        if a.keep:
            log("bench: kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
