#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Job lifecycle against a real webencoded: live progress, cancel, retry,
sources that are not usable media (WE-JOB-007), a worker killed mid-encode,
the service killed mid-encode and restarted, and a clean SIGTERM."""

import os
import shutil
import signal
import time

import wetest

SLOW = {"preset": "medium"}   # makes the encodes long enough to act on mid-way


class Lifecycle(wetest.DaemonTestCase):
    workers = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        m = cls.d.media
        cls.long = "file://" + wetest.make_clip(os.path.join(m, "long.mp4"), duration=20,
                                                width=640, height=360, fps=25)
        cls.short = "file://" + wetest.make_clip(os.path.join(m, "short.mp4"), duration=1)

    def wait_progress(self, job_id, pct=3, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.d.get("/v1/jobs/" + job_id).json()
            if job["status"] == "processing" and job["progress_pct"] >= pct:
                return job
            self.assertNotIn(job["status"], ("failed", "completed", "cancelled"), job)
            time.sleep(0.1)
        self.fail("no progress on %s\n%s" % (job_id, self.d.tail()))

    def test_progress_and_cancel(self):
        job = self.d.submit(self.long, "1080p_h264", profile_overrides=SLOW)
        self.assertEqual(job["status"], "queued")
        # past the scan and the encoders' start-up, into the encode proper
        self.wait_progress(job["id"], pct=8, timeout=120)
        # progress is fresh at least once a second and carries fps, speed and ETA
        seen = set()
        values = []
        t0 = time.time()
        while time.time() - t0 < 3:
            j = self.d.get("/v1/jobs/" + job["id"]).json()
            seen.add(j["updated_at"])
            values.append(j["progress"])
            time.sleep(0.25)
        self.assertGreaterEqual(len(seen), 3, seen)
        self.assertGreater(values[-1], values[0])
        self.assertGreater(j["fps"], 0)
        self.assertGreater(j["speed"], 0)
        self.assertIsNotNone(j["eta_seconds"])

        t0 = time.time()
        r = self.d.post("/v1/jobs/%s/cancel" % job["id"])
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["status"], "cancelled")
        # "within a second", stretched for sanitizer builds
        self.wait_idle(timeout=1.0 * wetest.TIME_FACTOR)
        self.assertError(self.d.post("/v1/jobs/%s/cancel" % job["id"]), 409, "WE-JOB-005")
        self.assertEqual(self.d.get("/v1/jobs/%s/outputs" % job["id"]).json()["outputs"], [])
        self.assertEqual(self.d.get("/v1/jobs/" + job["id"]).json()["status"], "cancelled")

    def test_idempotency_key(self):
        body = {"source_url": self.short, "profile": "480p_fast"}
        first = self.d.post("/v1/jobs", body, headers={"Idempotency-Key": "lifecycle-1"})
        self.assertEqual(first.status, 201, first.body)
        # a client retrying after a lost answer gets the same job, not a second one
        again = self.d.post("/v1/jobs", body, headers={"Idempotency-Key": "lifecycle-1"})
        self.assertEqual(again.status, 201, again.body)
        self.assertEqual(again.json()["id"], first.json()["id"])
        other = self.d.post("/v1/jobs", body, headers={"Idempotency-Key": "lifecycle-2"})
        self.assertNotEqual(other.json()["id"], first.json()["id"])
        self.assertError(self.d.post("/v1/jobs", body, headers={"Idempotency-Key": "x" * 256}),
                         400, "WE-JOB-001")
        for job_id in (first.json()["id"], other.json()["id"]):
            self.assertEqual(self.d.wait_job(job_id)["status"], "completed")

    def test_retry(self):
        # retrying a running job cancels it and queues a copy
        job = self.d.submit(self.long, "480p_fast", profile_overrides=SLOW)
        r = self.d.post("/v1/jobs/%s/retry" % job["id"])
        self.assertEqual(r.status, 201, r.body)
        copy = r.json()
        self.assertNotEqual(copy["id"], job["id"])
        self.assertEqual(copy["retry_of"], job["id"])
        self.assertEqual(copy["output_config"]["profile_overrides"], SLOW)
        self.assertEqual(self.d.get("/v1/jobs/" + job["id"]).json()["status"], "cancelled")
        self.assertEqual(self.d.post("/v1/jobs/%s/cancel" % copy["id"]).status, 200)
        # retrying a finished job runs it again to completion
        done = self.d.wait_job(self.d.submit(self.short, "480p_fast")["id"])
        self.assertEqual(done["status"], "completed")
        self.assertError(self.d.post("/v1/jobs/%s/cancel" % done["id"]), 409, "WE-JOB-006")
        again = self.d.post("/v1/jobs/%s/retry" % done["id"]).json()
        self.assertEqual(self.d.wait_job(again["id"])["status"], "completed")

    def test_bad_media_fails_the_job_not_the_service(self):
        m = self.d.media
        junk = os.path.join(m, "junk.mp4")
        with open(junk, "wb") as f:
            f.write(os.urandom(200000))
        full = wetest.make_clip(os.path.join(m, "full.mp4"), duration=2)
        trunc = os.path.join(m, "truncated.mp4")
        data = open(full, "rb").read()
        with open(trunc, "wb") as f:
            f.write(data[: len(data) // 2])
        audio = wetest.make_clip(os.path.join(m, "audio.mp4"), duration=1, no_video=True)
        good = self.d.submit(self.short, "480p_fast")
        bad = {name: self.d.submit("file://" + path, "480p_fast")
               for name, path in (("junk", junk), ("truncated", trunc), ("audio", audio))}
        for name, job in bad.items():
            j = self.d.wait_job(job["id"])
            self.assertEqual(j["status"], "failed", (name, j))
            self.assertEqual(j["error_code"], "WE-JOB-007", (name, j))
            self.assertTrue(j["error_message"], j)
        self.assertIn("video", self.d.get("/v1/jobs/" + bad["audio"]["id"]).json()
                      ["error_message"].lower())
        tasks = self.d.get("/v1/jobs/%s/tasks" % bad["junk"]["id"]).json()["tasks"]
        self.assertEqual(tasks[0]["attempt_count"], 1)   # input errors are not retried
        self.assertEqual(self.d.wait_job(good["id"])["status"], "completed")
        self.assertEqual(self.d.get("/health").status, 200)

    def test_killed_worker_job_still_completes(self):
        job = self.d.submit(self.long, "480p_fast", profile_overrides=SLOW)
        self.wait_progress(job["id"], pct=5)
        pids = self.d.worker_pids()
        self.assertEqual(len(pids), 2)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        done = self.d.wait_job(job["id"], timeout=300)
        self.assertEqual(done["status"], "completed", done)
        events = self.d.get("/v1/jobs/%s/events" % job["id"]).json()["events"]
        failed = [e for e in events if e["type"] == "task.failed"]
        self.assertTrue(any("WE-WRK-004" in e["message"] for e in failed), events)
        tasks = self.d.get("/v1/jobs/%s/tasks" % job["id"]).json()["tasks"]
        self.assertTrue(all(t["status"] == "completed" for t in tasks), tasks)
        # the interrupted encode ran again; nothing else did
        self.assertIn(2, [t["attempt_count"] for t in tasks if t["kind"] != "scan"], tasks)
        self.assertNotEqual(set(self.d.worker_pids()) & set(pids), set(pids))


class Priority(wetest.DaemonTestCase):
    workers = 1

    def test_priority_orders_dispatch(self):
        m = self.d.media
        blocker_src = "file://" + wetest.make_clip(os.path.join(m, "b.mp4"), duration=8,
                                                   width=640, height=360)
        short = "file://" + wetest.make_clip(os.path.join(m, "s.mp4"), duration=1)
        blocker = self.d.submit(blocker_src, "480p_fast", profile_overrides=SLOW)
        low = self.d.submit(short, "480p_fast", priority=10)
        high = self.d.submit(short, "480p_fast")
        self.assertEqual(low["priority"], 10)
        self.assertEqual(high["priority"], 50)
        # raised while queued, the later job overtakes; bad values are refused
        self.assertError(self.d.request("PATCH", "/v1/jobs/" + high["id"], {"priority": 101}),
                         400, "WE-JOB-001")
        self.assertError(self.d.request("PATCH", "/v1/jobs/" + high["id"], {"status": "x"}),
                         400, "WE-JOB-001")
        r = self.d.request("PATCH", "/v1/jobs/" + high["id"], {"priority": 95})
        self.assertEqual((r.status, r.json()["priority"]), (200, 95), r.body)
        self.assertError(self.d.request("PATCH", "/v1/jobs/nope", {"priority": 1}), 404,
                         "WE-JOB-004")
        jobs = [self.d.wait_job(j["id"]) for j in (blocker, low, high)]
        self.assertTrue(all(j["status"] == "completed" for j in jobs), jobs)
        self.assertLess(jobs[2]["started_at"], jobs[1]["started_at"])
        self.assertError(self.d.request("PATCH", "/v1/jobs/" + low["id"], {"priority": 1}), 409,
                         "WE-JOB-006")


class Restart(wetest.DaemonTestCase):
    workers = 1

    def test_service_killed_mid_job_resumes(self):
        src = wetest.make_clip(os.path.join(self.d.media, "r.mp4"), duration=12,
                               width=640, height=360)
        job = self.d.submit("file://" + src, "480p_fast", profile_overrides=SLOW)
        deadline = time.time() + 60
        while self.d.get("/v1/jobs/" + job["id"]).json()["progress_pct"] < 5:
            self.assertLess(time.time(), deadline)
            time.sleep(0.1)
        workers = self.d.worker_pids()
        self.d.stop(sig=signal.SIGKILL)
        # orphaned workers notice their closed pipe and exit
        deadline = time.time() + 10
        while any(os.path.exists("/proc/%d" % p) and
                  open("/proc/%d/stat" % p).read().split()[2] != "Z" for p in workers):
            self.assertLess(time.time(), deadline, "workers outlived the service")
            time.sleep(0.1)
        self.d.start()
        done = self.d.wait_job(job["id"], timeout=300)
        self.assertEqual(done["status"], "completed", done)
        types = [e["type"] for e in self.d.get("/v1/jobs/%s/events" % job["id"]).json()["events"]]
        self.assertIn("job.resumed", types)
        # no half-written scratch files are left behind
        scratch = os.path.join(self.d.tmp, "data", "scratch")
        self.assertEqual([f for f in os.listdir(scratch) if f.endswith(".part")], [])

    def test_zz_sigterm_is_clean(self):
        t0 = time.time()
        rc = self.d.stop(sig=signal.SIGTERM)
        self.assertEqual(rc, 0, self.d.tail())
        self.assertLess(time.time() - t0, 10)
        self.d.start()


if __name__ == "__main__":
    wetest.main()
