#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""POST /v1/jobs/{id}/tasks/{task_id}/retry (docs/api.md) on real workers: a
split job whose source is corrupt in one range fails on exactly one segment;
once the source is mended, retrying that task alone finishes the job with
the other tasks untouched and a frame-exact output. Also ?requeue=true on a
running job, the 404/409 refusals with the §11 envelope, and RBAC (viewer
403). Run as is (SQLite, local workers) and with WE_TEST_CLUSTER (PostgreSQL,
NATS, S3)."""

import base64
import http.server
import json
import os
import random
import shutil
import subprocess
import threading
import time

import wetest

USERS = {"viewer": "vic", "operator": "otto"}
# short segments so small clips split: the planner still cuts only at keyframes
SPLIT = {"segment_target_s": 2.0, "segment_min_s": 1.0, "segment_max_s": 20.0}


def basic(role):
    user = USERS[role]
    token = base64.b64encode(("%s:%s-pw" % (user, user)).encode()).decode()
    return {"Authorization": "Basic " + token}


class Receiver:
    """A real HTTP endpoint for per-job webhooks: records each event type."""

    def __init__(self):
        self.events = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.events.append(json.loads(body)["event_type"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def stored_files(folder):
    """Files under @folder (an object store may leave empty folders)."""
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files]


def corrupt(path):
    """Garbles 55-75 % of the file: one segment's range, not the index."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    rnd = random.Random(7)
    for i in range(int(len(data) * 0.55), int(len(data) * 0.75)):
        data[i] = rnd.randrange(256)
    with open(path, "wb") as f:
        f.write(data)


def frames_and_duration(path):
    info = wetest.probe(path)
    v = [s for s in info["streams"] if s["codec_type"] == "video"][0]
    return int(v["nb_read_frames"]), float(info["format"]["duration"])


class TaskRetry(wetest.DaemonTestCase):
    workers = 2

    @classmethod
    def setUpClass(cls):
        d = wetest.Daemon(workers=cls.workers)
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user in USERS.values():
                pw = subprocess.run(["openssl", "passwd", "-6", user + "-pw"], check=True,
                                    capture_output=True, text=True).stdout.strip()
                f.write("%s:%s\n" % (user, pw))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": "otto=operator;vic=viewer",
        }
        cls.d = d.start()

    def setUp(self):
        # a plan splits over the slots free when it is made
        deadline = time.time() + 60
        while self.d.get("/health").json()["workers"]["free"] < self.workers:
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)

    # --- helpers: every call as the operator unless told ---

    def call(self, method, path, body=None, role="operator"):
        return self.d.request(method, path, body=body, headers=basic(role))

    def submit(self, src, webhooks=None, **overrides):
        body = {"source_url": "file://" + src, "profile": "480p_fast",
                "profile_overrides": dict(SPLIT, **overrides)}
        if webhooks:
            body["webhooks"] = webhooks
        r = self.call("POST", "/v1/jobs", body)
        self.assertEqual(r.status, 201, r.body)
        return r.json()["id"]

    def job(self, job_id):
        return self.call("GET", "/v1/jobs/" + job_id, role="viewer").json()

    def tasks(self, job_id):
        return self.call("GET", "/v1/jobs/%s/tasks" % job_id, role="viewer").json()["tasks"]

    def events(self, job_id):
        return self.call("GET", "/v1/jobs/%s/events" % job_id, role="viewer").json()["events"]

    def wait_job(self, job_id, statuses=("completed", "failed", "cancelled"), timeout=300):
        deadline = time.time() + timeout * wetest.TIME_FACTOR
        while True:
            job = self.job(job_id)
            if job["status"] in statuses:
                return job
            self.assertLess(time.time(), deadline, (job, self.d.tail(30)))
            time.sleep(0.2)

    def retry(self, job_id, task_id, role="operator", query=""):
        return self.call("POST", "/v1/jobs/%s/tasks/%s/retry%s" % (job_id, task_id, query),
                         role=role)

    def output(self, job_id):
        outs = self.call("GET", "/v1/jobs/%s/outputs" % job_id, role="viewer").json()["outputs"]
        finals = [o for o in outs if o["type"] == "final"]
        self.assertEqual(len(finals), 1, outs)
        r = self.call("GET", "/v1/jobs/%s/outputs/%s" % (job_id, finals[0]["name"]),
                      role="viewer")
        self.assertEqual(r.status, 200)
        path = os.path.join(self.d.tmp, job_id + "-" + finals[0]["name"])
        with open(path, "wb") as f:
            f.write(r.body)
        return path

    # --- the tests ---

    def test_failed_segment_retried_alone(self):
        src = wetest.make_clip(os.path.join(self.d.media, "mend.mp4"), duration=8, gop=25,
                               no_audio=True)
        good = src + ".good"
        shutil.copyfile(src, good)
        src_frames, src_duration = frames_and_duration(good)
        corrupt(src)
        rx = Receiver()
        self.addCleanup(rx.close)

        job_id = self.submit(src, webhooks=[{"url": rx.url, "events": [
            "job.created", "job.started", "job.completed", "job.failed"]}])
        failed_job = self.wait_job(job_id)
        self.assertEqual(failed_job["status"], "failed", failed_job)
        before = {t["id"]: t for t in self.tasks(job_id)}
        failed = [t for t in before.values() if t["status"] == "failed"]
        self.assertEqual(len(failed), 1, before)
        self.assertEqual(failed[0]["kind"], "segment")
        completed = [t for t in before.values() if t["status"] == "completed"]
        self.assertTrue(any(t["kind"] == "segment" for t in completed), before)
        task_id = failed[0]["id"]
        # the completed segments wait in storage for a retry
        work = self.d.stored_dir("outputs/%s/work" % job_id)
        self.assertTrue(stored_files(work), work)

        # refusals, each in the §11 envelope
        self.assertError(self.retry("no-such-job", task_id), 404, "WE-JOB-004")
        err = self.assertError(self.retry(job_id, "no-such-task"), 404, "WE-JOB-004")
        self.assertIn("no-such-task", err["details"])
        err = self.assertError(self.retry(job_id, completed[0]["id"]), 409, "WE-JOB-006")
        self.assertIn("requeue", err["details"])
        # requeue is for jobs still running: this one has finished
        self.assertError(self.retry(job_id, completed[0]["id"], query="?requeue=true"), 409,
                         "WE-JOB-006")
        self.assertError(self.retry(job_id, task_id, query="?requeue=maybe"), 400, "WE-JOB-001")
        self.assertError(self.retry(job_id, task_id, role="viewer"), 403, "WE-AUTH-004")
        r = self.d.post("/v1/jobs/%s/tasks/%s/retry" % (job_id, task_id))
        self.assertEqual(r.status, 401, r.body)
        # nothing changed by the refusals
        self.assertEqual(self.job(job_id)["status"], "failed")

        # the source is mended; only the failed task runs again
        shutil.copyfile(good, src)
        r = self.retry(job_id, task_id)
        self.assertEqual(r.status, 202, r.body)
        body = r.json()
        self.assertEqual(set(body), {"job", "task"})
        self.assertEqual(body["job"]["id"], job_id)
        self.assertEqual(body["job"]["status"], "processing")
        self.assertIsNone(body["job"].get("error_code"))
        self.assertEqual(body["task"]["id"], task_id)
        self.assertEqual(body["task"]["status"], "pending")
        self.assertGreater(body["task"]["max_attempts"], failed[0]["attempt_count"])
        # a second click while it is queued or running is a conflict
        again = self.retry(job_id, task_id)
        if again.status != 202:  # it may already have finished on a fast machine
            err = self.assertError(again, 409, "WE-SYS-409")
            self.assertRegex(err["details"], r"^task is (pending|running)$")

        done = self.wait_job(job_id)
        self.assertEqual(done["status"], "completed", (done, self.tasks(job_id), self.d.tail(40)))
        self.assertEqual(done["progress_pct"], 100)
        after = {t["id"]: t for t in self.tasks(job_id)}
        self.assertTrue(all(t["status"] == "completed" for t in after.values()), after)
        # the tasks that had completed were not run again
        for t in completed:
            self.assertEqual(after[t["id"]]["attempt_count"], t["attempt_count"], t)
            self.assertEqual(after[t["id"]]["updated_at"], t["updated_at"], t)
        self.assertEqual(after[task_id]["attempt_count"], failed[0]["attempt_count"] + 1)
        types = [e["type"] for e in self.events(job_id)]
        self.assertIn("task.retried", types)
        self.assertEqual(types.count("job.failed"), 1, types)
        self.assertEqual(types[-1], "job.completed", types)
        self.assertLess(types.index("job.failed"), types.index("task.retried"))
        # webhooks as for any transition: the job started again, then completed
        deadline = time.time() + 20 * wetest.TIME_FACTOR
        while len(rx.events) < 5 and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(rx.events, ["job.created", "job.started", "job.failed", "job.started",
                                     "job.completed"])
        # the output is whole: every frame of the mended source
        frames, duration = frames_and_duration(self.output(job_id))
        self.assertEqual(frames, src_frames)
        self.assertAlmostEqual(duration, src_duration, delta=0.07)
        # a completed job has nothing to retry
        self.assertError(self.retry(job_id, task_id), 409, "WE-JOB-006")
        # and its intermediates are gone
        deadline = time.time() + 5
        while stored_files(work) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(stored_files(work), [])

    def test_deleting_a_failed_job_deletes_its_intermediates(self):
        src = wetest.make_clip(os.path.join(self.d.media, "gone.mp4"), duration=8, gop=25,
                               no_audio=True)
        corrupt(src)
        job_id = self.submit(src)
        self.assertEqual(self.wait_job(job_id)["status"], "failed")
        work = self.d.stored_dir("outputs/%s/work" % job_id)
        self.assertTrue(stored_files(work), work)
        r = self.call("DELETE", "/v1/jobs/" + job_id)
        self.assertEqual(r.status, 204, r.body)
        self.assertEqual(stored_files(work), [])
        self.assertError(self.retry(job_id, "any"), 404, "WE-JOB-004")

    def test_requeue_completed_task_while_running(self):
        # slow enough that segments finish while the stitch still waits
        src = wetest.make_clip(os.path.join(self.d.media, "requeue.mp4"), duration=12, gop=25,
                               width=640, height=360, no_audio=True)
        src_frames, _ = frames_and_duration(src)
        job_id = self.submit(src, preset="medium")
        deadline = time.time() + 120 * wetest.TIME_FACTOR
        while True:
            tasks = self.tasks(job_id)
            segs = [t for t in tasks if t["kind"] == "segment"]
            done = [t for t in segs if t["status"] == "completed"]
            if done and any(t["status"] != "completed" for t in segs):
                break
            self.assertNotEqual(self.job(job_id)["status"], "completed",
                                "the job finished before a segment could be requeued")
            self.assertLess(time.time(), deadline, tasks)
            time.sleep(0.05)
        scan = [t for t in tasks if t["kind"] == "scan"][0]
        self.assertError(self.retry(job_id, scan["id"], query="?requeue=true"), 409, "WE-JOB-006")
        self.assertError(self.retry(job_id, done[0]["id"]), 409, "WE-JOB-006")
        # the stitch waits for every segment, so it is still pending here (a
        # segment seen running a moment ago may have completed since)
        stitch = [t for t in tasks if t["kind"] == "stitch"]
        self.assertEqual([t["status"] for t in stitch], ["pending"], tasks)
        self.assertError(self.retry(job_id, stitch[0]["id"], query="?requeue=true"), 409,
                         "WE-SYS-409")
        r = self.retry(job_id, done[0]["id"], query="?requeue=true")
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json()["task"]["status"], "pending")
        self.assertEqual(r.json()["job"]["status"], "processing")
        final = self.wait_job(job_id)
        self.assertEqual(final["status"], "completed", (final, self.d.tail(30)))
        again = [t for t in self.tasks(job_id) if t["id"] == done[0]["id"]][0]
        self.assertEqual(again["attempt_count"], done[0]["attempt_count"] + 1, again)
        frames, _ = frames_and_duration(self.output(job_id))
        self.assertEqual(frames, src_frames)

    def test_zz_clean_exit(self):
        # no leak, no sanitizer report, no crash on the way out
        rc = self.d.stop()
        self.assertEqual(rc, 0, self.d.tail())
        self.assertNotIn("Sanitizer", self.d.tail(400))
        self.d.start()


if __name__ == "__main__":
    wetest.main()
