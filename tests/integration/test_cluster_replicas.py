#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two webencoded kernels on one real PostgreSQL store: each drives the jobs
it was given and never one the other drives; when one is killed the other
adopts its jobs and finishes them; a cancel sent to either kernel stops the
job wherever it runs."""

import os
import signal
import time

import wetest
import weservers

SLOW = {"preset": "medium", "segment_target_s": 30.0}


class Replicas(wetest.DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        pg = weservers.postgres()
        cls.url = pg.create_database("replicas")
        root = wetest.Daemon(workers=1).tmp   # a directory both kernels store objects in
        cls.root = os.path.join(root, "storage")
        os.makedirs(cls.root)
        env = {"DATABASE_URL": cls.url, "WE_KERNEL_BEAT_S": "1",
               "WE_PLUGIN_STORAGE_FS_ROOT": cls.root}
        cls.a = wetest.Daemon(workers=1, env=env)
        cls.b = wetest.Daemon(workers=1, env=env)
        cls.b.media = cls.a.media   # sources live in a's media folder, browsable by both
        cls.b.extra_env["WE_PLUGIN_STORAGE_FS_BROWSE_ROOTS"] = cls.a.media
        cls.a.start()
        cls.b.start()
        cls.d = cls.a

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()
        cls.b.cleanup()

    def clip(self, name, duration=4, **kw):
        return wetest.make_clip(os.path.join(self.a.media, name + ".mp4"), duration=duration,
                                gop=25, **kw)

    def wait_running(self, daemon, job_id, timeout=60):
        return weservers.wait_for(
            lambda: any(t["status"] == "running" and t["kind"] != "scan" for t in
                        daemon.get("/v1/jobs/%s/tasks" % job_id).json()["tasks"]),
            timeout, what="a running encode task of job %s" % job_id)

    def test_1_each_kernel_drives_its_own_jobs(self):
        src = self.clip("own")
        jobs = []
        for i in range(4):
            d = (self.a, self.b)[i % 2]
            jobs.append((d, d.submit("file://" + src, "480p_fast")["id"]))
        kernels = set()
        for d, job_id in jobs:
            # either kernel serves any job: the store is shared
            done = self.b.wait_job(job_id, timeout=240)
            self.assertEqual(done["status"], "completed", done)
            self.assertEqual(done["kernel_id"], "%s:%d" % (os.uname().nodename, d.port), done)
            kernels.add(done["kernel_id"])
            tasks = d.get("/v1/jobs/%s/tasks" % job_id).json()["tasks"]
            self.assertTrue(all(t["attempt_count"] == 1 for t in tasks), tasks)
            events = [e["type"] for e in d.get("/v1/jobs/%s/events" % job_id).json()["events"]]
            self.assertNotIn("job.resumed", events)
        self.assertEqual(len(kernels), 2)
        rows = self.a.sql("SELECT count(*) FROM kernels")
        self.assertEqual(int(rows[0][0]), 2)

    def test_2_cancel_through_the_other_kernel(self):
        src = self.clip("cancel", duration=12, width=640, height=360)
        job_id = self.a.submit("file://" + src, "1080p_h264", profile_overrides=SLOW)["id"]
        self.wait_running(self.a, job_id)
        r = self.b.post("/v1/jobs/%s/cancel" % job_id)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["status"], "cancelled")
        # a hears of it at its next store write (progress, about once a second)
        weservers.wait_for(lambda: self.a.get("/health").json()["workers"]["free"] == 1,
                           10 * wetest.TIME_FACTOR, what="a's worker to stop the cancelled job")
        time.sleep(1.5)
        job = self.a.get("/v1/jobs/" + job_id).json()
        self.assertEqual(job["status"], "cancelled", job)
        statuses = {t["status"] for t in self.a.get("/v1/jobs/%s/tasks" % job_id).json()["tasks"]
                    if t["kind"] != "scan"}
        self.assertTrue(statuses <= {"cancelled", "pending", "completed"}, statuses)

    def test_3_a_killed_kernel_s_jobs_are_adopted(self):
        src = self.clip("adopt", duration=8, width=640, height=360)
        job_id = self.a.submit("file://" + src, "480p_fast", profile_overrides=SLOW)["id"]
        queued = self.a.submit("file://" + self.clip("adopt2"), "480p_fast")["id"]
        self.wait_running(self.a, job_id)
        a_kernel = "%s:%d" % (os.uname().nodename, self.a.port)
        b_kernel = "%s:%d" % (os.uname().nodename, self.b.port)
        workers = self.a.worker_pids()
        self.a.proc.send_signal(signal.SIGKILL)
        self.a.proc.wait()
        for pid in workers:   # its workers go down with it, as on a lost host
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.a.stop()
        t0 = time.time()
        for jid in (job_id, queued):
            done = self.b.wait_job(jid, timeout=300)
            self.assertEqual(done["status"], "completed", (done, self.b.tail(40)))
            self.assertEqual(done["kernel_id"], b_kernel)
            events = self.b.get("/v1/jobs/%s/events" % jid).json()["events"]
            resumed = [e for e in events if e["type"] == "job.resumed"]
            self.assertEqual(len(resumed), 1, events)
            self.assertIn(b_kernel, resumed[0]["message"])
            # adopted within a few beats of a's silence (3 s)
            adopted_at = wetest.parse_time(resumed[0]["created_at"])
            self.assertLess(adopted_at - t0, 10 * wetest.TIME_FACTOR, resumed)
        out = self.b.download(job_id, self.b.tmp)[0][1]
        frames = int([s for s in wetest.probe(out)["streams"]
                      if s["codec_type"] == "video"][0]["nb_read_frames"])
        self.assertEqual(frames, 200)
        # a comes back under its old name and takes nothing back from b
        self.a.start()
        time.sleep(3)
        rows = self.a.sql("SELECT owner_kernel FROM jobs WHERE id IN ('%s', '%s')"
                          % (job_id, queued))
        self.assertEqual({r[0] for r in rows}, {b_kernel})
        self.assertNotEqual(a_kernel, b_kernel)


if __name__ == "__main__":
    wetest.main()
