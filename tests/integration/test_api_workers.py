#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""/v1/workers against a real webencoded and its real worker processes:
listing with capabilities, drain and undrain steering real jobs, removal of
idle and busy workers, workers only the store remembers (offline), errors
and RBAC."""

import base64
import os
import socket
import subprocess
import time
import urllib.parse

import wetest

SLOW = {"preset": "medium"}   # long enough to act on while it runs


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], check=True,
                          capture_output=True, text=True).stdout.strip()


def basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + token}


def quoted(worker_id):
    return urllib.parse.quote(worker_id, safe="")


class WorkerHelpers:
    def list_workers(self, query="", **kw):
        r = self.d.get("/v1/workers" + query, **kw)
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["total"], len(body["workers"]))
        return {w["id"]: w for w in body["workers"]}

    def health(self):
        return self.d.get("/health").json()["workers"]

    def wait_for(self, what, predicate, timeout=30):
        deadline = time.time() + timeout * wetest.TIME_FACTOR
        while True:
            value = predicate()
            if value:
                return value
            self.assertLess(time.time(), deadline, "%s\n%s" % (what, self.d.tail(30)))
            time.sleep(0.1)

    def tasks(self, job_id):
        return self.d.get("/v1/jobs/%s/tasks" % job_id).json()["tasks"]

    def running_task(self, job_id):
        for t in self.tasks(job_id):
            if t["status"] == "running" and t["assigned_worker_id"]:
                return t
        return None


class Workers(WorkerHelpers, wetest.DaemonTestCase):
    workers = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        m = cls.d.media
        cls.short = "file://" + wetest.make_clip(os.path.join(m, "short.mp4"), duration=1)
        cls.long = "file://" + wetest.make_clip(os.path.join(m, "long.mp4"), duration=20,
                                                width=640, height=360, fps=25)

    def setUp(self):
        self.w1, self.w2 = self.d.worker_id(1), self.d.worker_id(2)

    def test_1_list(self):
        workers = self.list_workers()
        self.assertEqual(sorted(workers), [self.w1, self.w2])
        pids = self.d.worker_pids()
        for w in workers.values():
            self.assertEqual(w["status"], "online", w)
            self.assertIn(w["state"], ("idle", "busy"), w)
            self.assertFalse(w["draining"])
            self.assertEqual(w["hostname"], socket.gethostname())
            # a NATS worker names the address it reaches the cluster from
            self.assertEqual(w["ip_address"], "127.0.0.1" if self.d.nats_mode() else None)
            self.assertEqual(w["version"], self.d.get("/health").json()["version"])
            self.assertIn(w["pid"], pids)
            self.assertEqual(w["slots_total"], 1)
            self.assertIsInstance(w["task_ids"], list)
            self.assertNotIn("task_id", w)
            self.assertEqual(w["restarts"], 0)
            caps = w["capabilities"]
            self.assertIn("h264", caps["video_codecs"])
            self.assertIn("aac", caps["audio_codecs"])
            self.assertGreater(caps["cores"], 0)
            if "memory_bytes" in caps:
                # the machine as the worker's we_worker_caps_collect() sees it
                self.assertEqual(caps["cores"], len(os.sched_getaffinity(0)))
                total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                self.assertLessEqual(abs(caps["memory_bytes"] - total), total // 100)
                self.assertEqual(caps["hostname"], socket.gethostname())
                self.assertEqual(caps["max_parallel_tasks"], 1)
                self.assertIsInstance(caps["hw_encoders"], list)
                self.assertIn("gpu_accelerated", caps)
            for key in ("last_heartbeat", "started_at"):
                age = time.time() - wetest.parse_time(w[key])
                self.assertTrue(-1 < age < 600, (key, w[key]))
        # the mirror has written them by now, so they carry a registration time
        self.wait_for("registered_at", lambda: all(
            w["registered_at"] for w in self.list_workers().values()), timeout=10)

        self.assertEqual(sorted(self.list_workers("?status=online")), [self.w1, self.w2])
        self.assertEqual(self.list_workers("?status=offline"), {})
        self.assertEqual(self.list_workers("?status=draining,offline"), {})
        self.assertError(self.d.get("/v1/workers?status=sleepy"), 400, "WE-JOB-001")

    def test_2_get_and_unknown(self):
        r = self.d.get("/v1/workers/" + self.w2)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["id"], self.w2)
        self.assertIn("h264", r.json()["capabilities"]["video_codecs"])
        self.assertError(self.d.get("/v1/workers/local-9"), 404, "WE-WRK-001")
        self.assertError(self.d.post("/v1/workers/local-9/drain"), 404, "WE-WRK-001")
        self.assertError(self.d.post("/v1/workers/local-9/undrain"), 404, "WE-WRK-001")
        self.assertError(self.d.request("DELETE", "/v1/workers/local-9"), 404, "WE-WRK-001")
        self.assertError(self.d.request("DELETE", "/v1/workers/%s?force=maybe" % self.w1), 400,
                         "WE-JOB-001")
        self.assertError(self.d.request("PUT", "/v1/workers/" + self.w1), 405, "WE-SYS-405")
        # the store's name for a worker leads to the same worker
        r = self.d.get("/v1/workers/" + quoted(self.d.worker_store_id(2)))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["id"], self.w2)

    def run_jobs_on(self, expected_worker, count=2):
        jobs = [self.d.submit(self.short, "480p_fast") for _ in range(count)]
        for job in jobs:
            self.assertEqual(self.d.wait_job(job["id"])["status"], "completed")
            used = {t["assigned_worker_id"] for t in self.tasks(job["id"])}
            self.assertEqual(used, {expected_worker}, self.tasks(job["id"]))

    def test_3_drain_and_undrain(self):
        self.wait_idle()
        self.assertEqual(self.health(), {"total": 2, "free": 2})
        r = self.d.post("/v1/workers/%s/drain" % self.w1)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["status"], "draining")
        self.assertTrue(r.json()["draining"])
        self.assertEqual(r.json()["slots_free"], 0)
        self.assertEqual(self.health(), {"total": 2, "free": 1})
        self.assertEqual(list(self.list_workers("?status=draining")), [self.w1])
        self.assertEqual(list(self.list_workers("?status=online")), [self.w2])
        # draining again changes nothing
        self.assertEqual(self.d.post("/v1/workers/%s/drain" % self.w1).status, 200)

        self.run_jobs_on(self.w2)

        r = self.d.post("/v1/workers/%s/undrain" % self.w1)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["status"], "online")
        self.assertFalse(r.json()["draining"])
        self.wait_idle()
        self.assertEqual(self.health(), {"total": 2, "free": 2})
        # and it takes work again: with the other one drained, it takes all of it
        self.assertEqual(self.d.post("/v1/workers/%s/drain" % self.w2).status, 200)
        self.run_jobs_on(self.w1)
        self.assertEqual(self.d.post("/v1/workers/%s/undrain" % self.w2).status, 200)
        self.wait_idle()
        # an audit trail of who did what
        log = self.d.tail(400)
        self.assertIn("action=worker.drain resource=worker/%s result=success" % self.w1, log)
        self.assertIn("action=worker.undrain resource=worker/%s result=success" % self.w1, log)

    def test_4_delete_busy_is_refused(self):
        self.wait_idle()
        job = self.d.submit(self.long, "1080p_h264", profile_overrides=SLOW)
        task = self.wait_for("a running task", lambda: self.running_task(job["id"]), 120)
        worker = task["assigned_worker_id"]
        w = self.list_workers()[worker]
        self.assertEqual(w["state"], "busy")
        self.assertIn(task["id"], w["task_ids"])
        self.assertEqual(w["slots_free"], 0)
        err = self.assertError(self.d.request("DELETE", "/v1/workers/" + worker), 409,
                               "WE-WRK-002")
        self.assertIn(task["id"], err["details"])
        self.assertIn(worker, self.list_workers())
        # a busy worker drains: it keeps its task, and gets no new one
        self.assertEqual(self.d.post("/v1/workers/%s/drain" % worker).status, 200)
        w = self.list_workers()[worker]
        self.assertEqual((w["state"], w["status"]), ("draining", "draining"))
        self.assertIn(task["id"], w["task_ids"])
        self.assertEqual(self.d.post("/v1/workers/%s/undrain" % worker).status, 200)
        self.assertEqual(self.d.post("/v1/jobs/%s/cancel" % job["id"]).status, 200)
        self.wait_idle()

    def test_5_force_delete_busy(self):
        self.wait_idle()
        job = self.d.submit(self.long, "1080p_h264", profile_overrides=SLOW)
        task = self.wait_for("a running task", lambda: self.running_task(job["id"]), 120)
        worker = task["assigned_worker_id"]
        other = ({self.w1, self.w2} - {worker}).pop()
        pid = self.list_workers()[worker]["pid"]
        r = self.d.request("DELETE", "/v1/workers/%s?force=true" % worker)
        self.assertEqual(r.status, 204, r.body)
        self.assertEqual(list(self.list_workers()), [other])
        self.assertEqual(self.health()["total"], 1)
        self.wait_for("the removed worker's process to end",
                      lambda: pid not in self.d.worker_pids())
        # its task failed over to the other worker and the job still completes
        done = self.d.wait_job(job["id"], timeout=400)
        self.assertEqual(done["status"], "completed", done)
        attempts = [t for t in self.tasks(job["id"]) if t["id"] == task["id"]][0]
        self.assertGreaterEqual(attempts["attempt_count"], 2)
        self.assertEqual(attempts["assigned_worker_id"], other)
        self.assertIn("action=worker.delete(force) resource=worker/%s result=success" % worker,
                      self.d.tail(400))

    def test_6_delete_idle(self):
        self.wait_for("an idle pool", lambda: self.health()["free"] == self.health()["total"])
        remaining = list(self.list_workers())
        self.assertEqual(len(remaining), 1)
        worker = remaining[0]
        pid = self.list_workers()[worker]["pid"]
        r = self.d.request("DELETE", "/v1/workers/" + worker)
        self.assertEqual(r.status, 204, r.body)
        self.assertEqual(self.list_workers(), {})
        self.assertEqual(self.health(), {"total": 0, "free": 0})
        self.wait_for("the removed worker's process to end",
                      lambda: pid not in self.d.worker_pids())
        self.assertError(self.d.get("/v1/workers/" + worker), 404, "WE-WRK-001")
        # not restarted, and not brought back as offline by the store's mirror
        time.sleep(3)
        self.assertEqual(self.list_workers(), {})
        self.assertEqual(self.d.worker_pids(), [])


class StoreOnlyWorkers(WorkerHelpers, wetest.DaemonTestCase):
    """A worker of an earlier run of the service, which this one no longer has."""

    @classmethod
    def setUpClass(cls):
        first = wetest.Daemon(workers=3).start()
        deadline = time.time() + 20 * wetest.TIME_FACTOR
        rows = []
        # a worker's row may be written before its capability probe has
        # reported: wait for the probed rows, which the test reads back
        while time.time() < deadline and len(rows) < 3:
            rows = first.sql("SELECT id FROM workers WHERE CAST(capabilities AS TEXT) LIKE '%video_codecs%'")
            time.sleep(0.2)
        first.stop()
        assert len(rows) == 3, rows
        # the same data directory, store and port (so the same kernel id,
        # whose workers keep their ids), with one worker less
        cls.d = wetest.Daemon(workers=2, data_dir=first.tmp)
        cls.d.port = first.port
        cls.d.database_url = first.database_url
        cls.d.nats = first.nats
        cls.d.s3 = first.s3
        cls.d.start()
        # every live worker has joined, so none is listed from the store alone
        deadline = time.time() + 30 * wetest.TIME_FACTOR
        while cls.d.get("/health").json()["workers"]["total"] < 2:
            assert time.time() < deadline, cls.d.tail(30)
            time.sleep(0.1)

    def test_offline_worker(self):
        gone = self.d.worker_store_id(3)
        live = [self.d.worker_id(1), self.d.worker_id(2)]
        workers = self.list_workers()
        self.assertEqual(sorted(workers), sorted(live + [gone]))
        w = workers[gone]
        self.assertEqual((w["status"], w["state"]), ("offline", "offline"))
        self.assertIsNone(w["pid"])
        self.assertEqual(w["slots_free"], 0)
        self.assertEqual(w["task_ids"], [])
        self.assertIn("h264", w["capabilities"]["video_codecs"])
        self.assertEqual(w["hostname"], socket.gethostname())
        age = time.time() - wetest.parse_time(w["last_heartbeat"])
        self.assertTrue(0 <= age < 600, w["last_heartbeat"])
        self.assertIsNotNone(w["registered_at"])
        self.assertEqual(list(self.list_workers("?status=offline")), [gone])
        self.assertEqual(sorted(self.list_workers("?status=online")), live)
        # the live ones are not listed twice under their store names
        self.assertEqual(len(workers), 3)

        path = "/v1/workers/" + quoted(gone)
        r = self.d.get(path)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["id"], gone)
        # unescaped, the slash is part of the id all the same
        self.assertEqual(self.d.get("/v1/workers/" + gone).json()["id"], gone)
        self.assertError(self.d.post(path + "/drain"), 410, "WE-WRK-003")
        self.assertError(self.d.post(path + "/undrain"), 410, "WE-WRK-003")
        # only live capacity counts
        self.assertEqual(self.health()["total"], 2)
        # removing it forgets it for good
        self.assertEqual(self.d.request("DELETE", path).status, 204)
        self.assertNotIn(gone, self.list_workers())
        self.assertError(self.d.get(path), 404, "WE-WRK-001")
        self.assertError(self.d.request("DELETE", path), 404, "WE-WRK-001")


class WorkerRoles(WorkerHelpers, wetest.DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        d = wetest.Daemon(workers=1)
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user in ("ada", "otto", "vic"):
                f.write("%s:%s\n" % (user, sha512_crypt(user + "-secret")))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": "ada=admin;otto=operator;vic=viewer",
        }
        cls.d = d.start()

    def test_roles(self):
        viewer, operator = basic("vic", "vic-secret"), basic("otto", "otto-secret")
        admin = basic("ada", "ada-secret")
        w1 = self.d.worker_id(1)
        self.assertError(self.d.get("/v1/workers"), 401, "WE-AUTH-001")
        # a viewer sees the workers, read-only
        self.assertEqual(list(self.list_workers(headers=viewer)), [w1])
        self.assertEqual(self.d.get("/v1/workers/" + w1, headers=viewer).status, 200)
        for who in (viewer, operator):
            self.assertError(self.d.post("/v1/workers/%s/drain" % w1, headers=who), 403,
                             "WE-AUTH-004")
            self.assertError(self.d.post("/v1/workers/%s/undrain" % w1, headers=who), 403,
                             "WE-AUTH-004")
            self.assertError(self.d.request("DELETE", "/v1/workers/" + w1, headers=who), 403,
                             "WE-AUTH-004")
        # refused requests changed nothing
        self.assertEqual(self.list_workers(headers=viewer)[w1]["status"], "online")
        # an admin may
        r = self.d.post("/v1/workers/%s/drain" % w1, headers=admin)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["status"], "draining")
        self.assertEqual(self.d.post("/v1/workers/%s/undrain" % w1, headers=admin).status, 200)
        self.assertIn("audit: user=ada role=admin action=worker.drain resource=worker/%s "
                      "result=success" % w1, self.d.tail(200))


if __name__ == "__main__":
    wetest.main()
