#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-task retry (docs/api.md POST /v1/jobs/{id}/tasks/{task_id}/retry) with
two webencoded kernels on one real PostgreSQL store: a job that failed on
kernel a is retried through kernel b, which reopens and finishes it; a
completed segment of a job a still drives is requeued through b, and a picks
the request up from the store at its next beat."""

import os
import random
import shutil
import time

import wetest
import weservers

SPLIT = {"segment_target_s": 2.0, "segment_min_s": 1.0, "segment_max_s": 20.0}


def frames(path):
    info = wetest.probe(path)
    return int([s for s in info["streams"] if s["codec_type"] == "video"][0]["nb_read_frames"])


class RetryReplicas(wetest.DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        pg = weservers.postgres()
        cls.url = pg.create_database("task_retry")
        root = wetest.Daemon(workers=1).tmp   # a directory both kernels store objects in
        cls.root = os.path.join(root, "storage")
        os.makedirs(cls.root)
        env = {"DATABASE_URL": cls.url, "WE_KERNEL_BEAT_S": "1",
               "WE_PLUGIN_STORAGE_FS_ROOT": cls.root}
        cls.a = wetest.Daemon(workers=2, env=env)
        cls.b = wetest.Daemon(workers=1, env=dict(env))
        cls.b.media = cls.a.media
        cls.b.extra_env["WE_PLUGIN_STORAGE_FS_BROWSE_ROOTS"] = cls.a.media
        cls.a.start()
        cls.b.start()
        cls.d = cls.a
        cls.a_kernel = "%s:%d" % (os.uname().nodename, cls.a.port)

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()
        cls.b.cleanup()

    def setUp(self):
        # a's plan splits over the slots free when it is made
        weservers.wait_for(lambda: self.a.get("/health").json()["workers"]["free"] == 2,
                           60, what="a's workers to be idle")

    def tasks(self, job_id):
        return self.b.get("/v1/jobs/%s/tasks" % job_id).json()["tasks"]

    def test_1_failed_on_a_retried_through_b(self):
        src = wetest.make_clip(os.path.join(self.a.media, "mend.mp4"), duration=8, gop=25,
                               no_audio=True)
        good = src + ".good"
        shutil.copyfile(src, good)
        with open(src, "rb") as f:
            data = bytearray(f.read())
        rnd = random.Random(7)
        for i in range(int(len(data) * 0.55), int(len(data) * 0.75)):
            data[i] = rnd.randrange(256)
        with open(src, "wb") as f:
            f.write(data)
        job_id = self.a.submit("file://" + src, "480p_fast", profile_overrides=SPLIT)["id"]
        failed_job = self.a.wait_job(job_id)
        self.assertEqual(failed_job["status"], "failed", failed_job)
        self.assertEqual(failed_job["kernel_id"], self.a_kernel)
        before = {t["id"]: t for t in self.tasks(job_id)}
        failed = [t for t in before.values() if t["status"] == "failed"]
        self.assertEqual(len(failed), 1, before)
        completed = [t for t in before.values() if t["status"] == "completed"]

        shutil.copyfile(good, src)
        r = self.b.post("/v1/jobs/%s/tasks/%s/retry" % (job_id, failed[0]["id"]))
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json()["job"]["status"], "processing")
        done = self.a.wait_job(job_id, timeout=300)
        self.assertEqual(done["status"], "completed", (done, self.b.tail(30)))
        after = {t["id"]: t for t in self.tasks(job_id)}
        for t in completed:
            self.assertEqual(after[t["id"]]["attempt_count"], t["attempt_count"], t)
        events = [e for e in self.a.get("/v1/jobs/%s/events" % job_id).json()["events"]]
        types = [e["type"] for e in events]
        self.assertEqual(types[-1], "job.completed", types)
        self.assertIn("task.retried", types)
        # b reopened it and drove it to the end
        self.assertIn("job.started: processing again", self.b.tail(400))
        self.assertNotIn("job.started: processing again", self.a.tail(400))
        out = self.a.download(job_id, self.a.tmp)[0][1]
        self.assertEqual(frames(out), frames(good))

    def test_2_requeue_through_b_of_a_job_a_drives(self):
        src = wetest.make_clip(os.path.join(self.a.media, "requeue.mp4"), duration=12, gop=25,
                               width=640, height=360, no_audio=True)
        job_id = self.a.submit("file://" + src, "480p_fast",
                               profile_overrides=dict(SPLIT, preset="medium"))["id"]
        deadline = time.time() + 120 * wetest.TIME_FACTOR
        while True:
            segs = [t for t in self.tasks(job_id) if t["kind"] == "segment"]
            done = [t for t in segs if t["status"] == "completed"]
            if done and any(t["status"] != "completed" for t in segs):
                break
            self.assertNotEqual(self.a.get("/v1/jobs/" + job_id).json()["status"], "completed")
            self.assertLess(time.time(), deadline, segs)
            time.sleep(0.05)
        r = self.b.post("/v1/jobs/%s/tasks/%s/retry?requeue=true" % (job_id, done[0]["id"]))
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json()["task"]["status"], "pending")
        final = self.a.wait_job(job_id, timeout=300)
        self.assertEqual(final["status"], "completed", (final, self.a.tail(30)))
        self.assertEqual(final["kernel_id"], self.a_kernel)
        again = [t for t in self.tasks(job_id) if t["id"] == done[0]["id"]][0]
        # a ran it again, one more attempt, having read b's request from the store
        self.assertEqual(again["attempt_count"], done[0]["attempt_count"] + 1, again)
        self.assertIn("runs again, as asked through another kernel", self.a.tail(400))
        self.assertNotIn("runs again, as asked through another kernel", self.b.tail(400))
        out = self.a.download(job_id, self.a.tmp)[0][1]
        self.assertEqual(frames(out), frames(src))

    def test_zz_clean_exit(self):
        for d in (self.a, self.b):
            rc = d.stop()
            self.assertEqual(rc, 0, d.tail())
            self.assertNotIn("Sanitizer", d.tail(400))


if __name__ == "__main__":
    wetest.main()
