#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Split & stitch through the REST API on real workers: sources with
B-frames, variable frame rate, late audio, no audio and odd GOPs come out
frame-exact; a killed worker, a killed service and a cancel mid-job behave."""

import os
import signal
import time

import wetest

# short segments so small clips split: the planner still cuts only at keyframes
SPLIT = {"segment_target_s": 2.0, "segment_min_s": 1.0, "segment_max_s": 20.0}
SLOW = dict(SPLIT, preset="medium")


def frames_and_duration(path):
    info = wetest.probe(path)
    v = [s for s in info["streams"] if s["codec_type"] == "video"][0]
    return int(v["nb_read_frames"]), float(info["format"]["duration"]), info


def stored_files(folder):
    """Files under @folder (an object store may leave empty folders)."""
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files]


class Split(wetest.DaemonTestCase):
    workers = 2

    def setUp(self):
        # a plan splits over the slots free when it is made
        self.wait_idle()

    def tasks(self, job_id):
        return self.d.get("/v1/jobs/%s/tasks" % job_id).json()["tasks"]

    def encode_and_check(self, name, fps=25, **clip):
        src = wetest.make_clip(os.path.join(self.d.media, name + ".mp4"), **clip)
        src_frames, src_duration, _ = frames_and_duration(src)
        job = self.d.submit("file://" + src, "480p_fast", profile_overrides=SPLIT)
        done = self.d.wait_job(job["id"], timeout=300)
        self.assertEqual(done["status"], "completed", (done, self.d.tail(30)))
        kinds = [t["kind"] for t in self.tasks(job["id"])]
        self.assertEqual(kinds[0], "scan")
        self.assertEqual(kinds[-1], "stitch")
        self.assertGreaterEqual(kinds.count("segment"), 2, kinds)
        self.assertEqual(kinds.count("audio"), 0 if clip.get("no_audio") else 1)
        self.assertEqual(done["progress_pct"], 100)
        self.assertIn("verification", done["output_config"])
        out = self.d.download(job["id"], self.d.tmp)[0][1]
        frames, duration, info = frames_and_duration(out)
        self.assertEqual(frames, src_frames, (name, info))
        self.assertAlmostEqual(duration, src_duration, delta=1.0 / fps + 0.03)
        # intermediates are gone once the job is done
        work = self.d.stored_dir("outputs/%s/work" % job["id"])
        deadline = time.time() + 5
        while stored_files(work) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(stored_files(work), [])
        return done

    def test_bframes(self):
        self.encode_and_check("bframes", duration=6, bframes=2, gop=25)

    def test_odd_gop(self):
        self.encode_and_check("oddgop", duration=6, gop=37)

    def test_no_audio(self):
        self.encode_and_check("noaudio", duration=6, gop=25, no_audio=True)

    def test_late_audio(self):
        self.encode_and_check("lateaudio", duration=6, gop=25, audio_delay=0.5)

    def test_vfr(self):
        self.encode_and_check("vfr", duration=6, gop=25, vfr=True)

    def test_corrupt_range_fails_without_retries(self):
        import random
        src = wetest.make_clip(os.path.join(self.d.media, "corrupt.mp4"), duration=8, gop=25,
                               no_audio=True)
        data = bytearray(open(src, "rb").read())
        rnd = random.Random(7)
        for i in range(int(len(data) * 0.55), int(len(data) * 0.75)):
            data[i] = rnd.randrange(256)
        with open(src, "wb") as f:
            f.write(data)
        job = self.d.submit("file://" + src, "480p_fast", profile_overrides=SPLIT)
        done = self.d.wait_job(job["id"])
        self.assertEqual(done["status"], "failed", done)
        self.assertEqual(done["error_code"], "WE-JOB-007", done)
        self.assertIn("corrupt", done["error_message"])
        failed = [t for t in self.tasks(job["id"]) if t["status"] == "failed"]
        self.assertEqual(len(failed), 1, failed)
        self.assertEqual(failed[0]["kind"], "segment")
        self.assertEqual(failed[0]["attempt_count"], 1)
        self.assertEqual(self.d.get("/health").json()["status"], "ok")

    def test_every_codec_splits(self):
        src = wetest.make_clip(os.path.join(self.d.media, "codecs.mp4"), duration=4, gop=25)
        src_frames, src_duration, _ = frames_and_duration(src)
        quick = dict(SPLIT, segment_target_s=1.0, segment_min_s=0.5)
        # one at a time: a plan only splits over the slots free when it is made
        for profile in ("720p_vp9", "4k_hevc", "1080p_av1"):
            job_id = self.d.submit("file://" + src, profile, profile_overrides=quick)["id"]
            done = self.d.wait_job(job_id, timeout=600)
            self.assertEqual(done["status"], "completed", (profile, done))
            kinds = [t["kind"] for t in self.tasks(job_id)]
            self.assertGreaterEqual(kinds.count("segment"), 2, (profile, kinds))
            out = self.d.download(job_id, self.d.tmp)[0][1]
            frames, duration, _ = frames_and_duration(out)
            self.assertEqual(frames, src_frames, profile)
            self.assertAlmostEqual(duration, src_duration, delta=0.07)

    def test_mpegts_is_encoded_in_one_task(self):
        # documented limitation: TS segments do not stitch frame-exactly yet
        src = wetest.make_clip(os.path.join(self.d.media, "ts.ts"), duration=6, gop=25,
                               container="ts")
        job = self.d.submit("file://" + src, "480p_fast", profile_overrides=SPLIT)
        done = self.d.wait_job(job["id"])
        self.assertEqual(done["status"], "completed", done)
        self.assertEqual([t["kind"] for t in self.tasks(job["id"])], ["scan", "transcode"])

    def test_cancel_mid_job(self):
        src = wetest.make_clip(os.path.join(self.d.media, "cancel.mp4"), duration=12,
                               width=640, height=360, gop=25)
        job = self.d.submit("file://" + src, "1080p_h264", profile_overrides=SLOW)
        deadline = time.time() + 60
        while True:
            running = [t for t in self.tasks(job["id"])
                       if t["kind"] == "segment" and t["status"] == "running"]
            if len(running) >= 2:
                break
            self.assertLess(time.time(), deadline, self.tasks(job["id"]))
            time.sleep(0.1)
        t0 = time.time()
        r = self.d.post("/v1/jobs/%s/cancel" % job["id"])
        self.assertEqual(r.status, 200)
        # "within a second", stretched for sanitizer builds; over NATS the
        # cancel and the worker's report each cross the message server, and
        # the freed slot is counted from the report
        bound = (1.5 if self.d.nats_mode() else 1.0) * wetest.TIME_FACTOR
        while self.d.get("/health").json()["workers"]["free"] < 2:
            self.assertLess(time.time() - t0, bound, "tasks still running after a cancel")
            time.sleep(0.05)
        statuses = {t["status"] for t in self.tasks(job["id"]) if t["kind"] != "scan"}
        self.assertTrue(statuses <= {"cancelled", "completed"}, statuses)
        # the segments written so far are deleted, in S3 as on disk
        work = self.d.stored_dir("outputs/" + job["id"])
        deadline = time.time() + 5
        while stored_files(work):
            self.assertLess(time.time(), deadline, stored_files(work))
            time.sleep(0.1)

    def test_killed_worker_mid_segment(self):
        src = wetest.make_clip(os.path.join(self.d.media, "kill.mp4"), duration=12,
                               width=640, height=360, gop=25)
        # two long segments, so there is time to kill their workers mid-way
        job = self.d.submit("file://" + src, "480p_fast",
                            profile_overrides=dict(SLOW, segment_target_s=6, preset="slow"))
        deadline = time.time() + 60
        while not any(t["kind"] == "segment" and t["status"] == "running" and
                      t["progress_pct"] > 5 for t in self.tasks(job["id"])):
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        for pid in self.d.worker_pids():
            os.kill(pid, signal.SIGKILL)
        done = self.d.wait_job(job["id"], timeout=300)
        self.assertEqual(done["status"], "completed", done)
        tasks = self.tasks(job["id"])
        self.assertIn(2, [t["attempt_count"] for t in tasks if t["kind"] == "segment"], tasks)
        src_frames, _, _ = frames_and_duration(src)
        out = self.d.download(job["id"], self.d.tmp)[0][1]
        self.assertEqual(frames_and_duration(out)[0], src_frames)


class SplitResume(wetest.DaemonTestCase):
    workers = 2

    def test_service_killed_mid_job(self):
        src = wetest.make_clip(os.path.join(self.d.media, "resume.mp4"), duration=16,
                               width=640, height=360, gop=25)
        job = self.d.submit("file://" + src, "480p_fast", profile_overrides=SLOW)
        deadline = time.time() + 120
        while True:
            tasks = self.d.get("/v1/jobs/%s/tasks" % job["id"]).json()["tasks"]
            done_segments = [t for t in tasks if t["kind"] == "segment" and
                             t["status"] == "completed"]
            if done_segments and any(t["status"] == "running" for t in tasks):
                break
            self.assertLess(time.time(), deadline, tasks)
            time.sleep(0.05)
        before = {t["id"]: (t["attempt_count"], t["updated_at"]) for t in done_segments}
        self.d.stop(sig=signal.SIGKILL)
        time.sleep(0.5)
        self.d.start()
        done = self.d.wait_job(job["id"], timeout=300)
        self.assertEqual(done["status"], "completed", done)
        after = {t["id"]: t for t in
                 self.d.get("/v1/jobs/%s/tasks" % job["id"]).json()["tasks"]}
        for task_id, (attempts, updated) in before.items():
            # finished segments are never encoded again
            self.assertEqual(after[task_id]["attempt_count"], attempts)
            self.assertEqual(after[task_id]["updated_at"], updated)
        src_frames, _, _ = frames_and_duration(src)
        out = self.d.download(job["id"], self.d.tmp)[0][1]
        self.assertEqual(frames_and_duration(out)[0], src_frames)


if __name__ == "__main__":
    wetest.main()
