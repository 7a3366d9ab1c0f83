#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A flood of job submissions through the REST API in cluster mode (a real
PostgreSQL store and NATS JetStream queue, no workers, so the jobs stay
queued), with the service killed and started again in the middle of it:
every acknowledged job is in PostgreSQL exactly once, none is duplicated,
and the restarted kernel drives all of them again.

Clients retry a submit whose answer they did not get with the same
Idempotency-Key, as a real client would; that is what makes "exactly once"
checkable. WE_LOAD_JOBS overrides the count (default 10000)."""

import http.client
import json
import os
import queue
import signal
import threading
import time

import wetest
import weservers

JOBS = int(os.environ.get("WE_LOAD_JOBS") or "10000")
CLIENTS = 16


class Flood(wetest.DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        env = {"DATABASE_URL": weservers.postgres().create_database("load"),
               "NATS_URL": weservers.nats().url,
               "WE_WORKERS": "0", "WE_KERNEL_BEAT_S": "1"}
        cls.d = wetest.Daemon(workers=0, env=env)
        cls.d.extra_env["WE_WORKERS"] = "0"
        cls.src = "file://" + wetest.make_clip(os.path.join(cls.d.media, "load.mp4"),
                                               duration=1)
        cls.d.start(require_worker=False)

    def submit_all(self, on_progress):
        todo = queue.Queue()
        for i in range(JOBS):
            todo.put(i)
        acked = {}
        retries = [0]
        lock = threading.Lock()
        body = json.dumps({"source_url": self.src, "profile": "480p_fast"})

        def client():
            conn = None
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                deadline = time.time() + 300
                while True:
                    try:
                        if conn is None:
                            conn = http.client.HTTPConnection("127.0.0.1", self.d.port,
                                                              timeout=30)
                        conn.request("POST", "/v1/jobs", body=body,
                                     headers={"Content-Type": "application/json",
                                              "Idempotency-Key": "load-%d" % i})
                        r = conn.getresponse()
                        data = r.read()
                        if r.status == 201:
                            with lock:
                                acked[i] = json.loads(data)["id"]
                            on_progress(len(acked))
                            break
                        if r.status < 500:
                            raise AssertionError("submit %d: %d %s" % (i, r.status, data))
                    except (OSError, http.client.HTTPException):
                        if conn is not None:
                            conn.close()
                        conn = None
                    # no answer, or the service is going down: the same key again
                    with lock:
                        retries[0] += 1
                    if time.time() > deadline:
                        raise AssertionError("submit %d never succeeded" % i)
                    time.sleep(0.2)

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return acked, retries[0]

    def test_flood_with_a_restart(self):
        restarted = threading.Event()

        def on_progress(n):
            if n >= JOBS * 3 // 10 and not restarted.is_set():
                restarted.set()
                threading.Thread(target=self.restart).start()

        t0 = time.time()
        acked, retries = self.submit_all(on_progress)
        elapsed = time.time() - t0
        print("%d jobs acknowledged in %.1f s (%.0f/s), %d retried submits"
              % (len(acked), elapsed, len(acked) / elapsed, retries), flush=True)
        self.assertTrue(restarted.is_set())
        self.assertGreater(retries, 0, "the restart interrupted nothing")
        self.assertEqual(len(acked), JOBS)
        ids = set(acked.values())
        self.assertEqual(len(ids), JOBS, "two keys got the same job")

        # count them where they live
        rows = self.d.sql("SELECT count(*), count(DISTINCT idempotency_key) FROM jobs")
        self.assertEqual((int(rows[0][0]), int(rows[0][1])), (JOBS, JOBS))
        stored = {r[0] for r in self.d.sql("SELECT id FROM jobs")}
        self.assertEqual(stored, ids)
        rows = self.d.sql("SELECT count(*), count(DISTINCT job_id) FROM tasks WHERE kind = 'scan'")
        self.assertEqual((int(rows[0][0]), int(rows[0][1])), (JOBS, JOBS),
                         "every job has exactly one scan task")
        # the restarted kernel adopts them all (in batches, while it serves)
        kernel = "%s:%d" % (os.uname().nodename, self.d.port)
        weservers.wait_for(
            lambda: int(self.d.sql("SELECT count(*) FROM jobs WHERE owner_kernel = '%s'"
                                   % kernel)[0][0]) == JOBS,
            120 * wetest.TIME_FACTOR, interval=1, what="the kernel to own every job")
        h = self.d.get("/health").json()
        self.assertEqual(h["status"], "ok", h)

    def restart(self):
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait()
        self.d.stop()
        self.d.start(require_worker=False)


if __name__ == "__main__":
    wetest.main()
