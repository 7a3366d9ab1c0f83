#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The cluster on several hosts: the kernel, PostgreSQL, NATS JetStream and
S3 (s3rver) on this host; two `webencode-worker --nats` processes, each in a
network namespace of its own (a veth pair, 10.77.<x>.1 on this host's side,
10.77.<x>.2 inside), reaching NATS and S3 over the veth addresses only. A
source uploaded through the API is split into segments; while a segment runs
on one worker with progress > 0 that worker is lost -- its namespace cut off
(the link pulled, and plugged back in once the job is done) or its process
SIGKILLed -- and the job must still complete, frame-exact, with no task
completed twice and the lost task run again on the other worker.

Needs root (ip netns, veth): without it the test fails, saying why."""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import wetest
import weservers

TF = wetest.TIME_FACTOR
NS_TAG = "mh"
# the kernel calls a worker offline after 3 × this + 1 s; slower under
# sanitizers, where a busy worker's main loop may lag
HEARTBEAT_MS = int(500 * TF)
ACK_WAIT_S = 10             # a lost worker's JetStream delivery comes back after this
# small segments so a 12 s clip splits; "veryslow" so each lasts long enough
# to be caught running with progress > 0 (seconds, not tenths)
SPLIT = {"segment_target_s": 3.0, "segment_min_s": 1.5, "segment_max_s": 20.0,
         "preset": "veryslow"}
PROFILE = "480p_fast"


_live = []   # test cases whose cluster runs


def _exit_on_sigterm(signum, frame):
    # meson stops a test that runs over its time with SIGTERM: unittest lets
    # KeyboardInterrupt through, and the atexit hooks below and in weservers
    # stop the kernel, the workers, the servers and remove the namespaces
    raise KeyboardInterrupt("SIGTERM")


@atexit.register
def _stop_live_clusters():
    for case in list(_live):
        case.stop_cluster()


def json_lines(path):
    records = []
    try:
        with open(path, "rb") as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return records


def frames_and_duration(path):
    info = wetest.probe(path)
    v = [s for s in info["streams"] if s["codec_type"] == "video"][0]
    return int(v["nb_read_frames"]), float(info["format"]["duration"])


class Worker:
    """A webencode-worker --nats inside @ns, with the S3 endpoint and NATS
    URL on the namespace's side of its veth."""

    def __init__(self, ns, worker_id, nats, s3, tmp):
        self.ns = ns
        self.id = worker_id
        self.log_path = os.path.join(tmp, "%s.log" % worker_id)
        self.env = dict(os.environ)
        for k in ("NATS_URL", "DATABASE_URL", "WE_CONFIG", "WE_WORKER_ID", "WE_SCRATCH_DIR"):
            self.env.pop(k, None)
        self.env.update(s3.plugin_env(ns.host_address))
        self.env.update({
            "WE_PLUGIN_DIR": wetest.PLUGINS,
            "WE_STORAGE_DEFAULT": "storage-s3",
            "WE_SCRATCH_DIR": os.path.join(tmp, "scratch-" + worker_id),
            "WE_WORKER_ID": worker_id,
            "WE_HEARTBEAT_INTERVAL_MS": str(HEARTBEAT_MS),
            "LOG_LEVEL": "debug" if os.environ.get("WE_TEST_VERBOSE") else "info",
        })
        self.url = nats.url_for(ns.host_address)
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        # ip netns exec execs the program: the pid is the worker's
        self.proc = subprocess.Popen(
            self.ns.exec_args([wetest.WORKER, "--nats", self.url, "--stop-grace", "2"]),
            env=self.env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        """SIGTERM (SIGKILL after a while); the exit status, None if it
        was not running."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.terminate()
            try:
                rc = self.proc.wait(timeout=10 * TF)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = "killed after %d s" % (10 * TF)
        self.log.close()
        self.proc = None
        return rc

    def records(self):
        return json_lines(self.log_path)

    def tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


class MultiHost(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        if os.geteuid() != 0:
            raise RuntimeError("test_cluster_multihost needs root: it creates network "
                               "namespaces and veth pairs with ip(8)")
        if shutil.which("ip") is None:
            raise RuntimeError("test_cluster_multihost needs iproute2 (ip)")
        cls.tmp = tempfile.mkdtemp(prefix="we-mh-")
        cls.namespaces = []
        try:
            weservers.NetNamespace.remove_stale(NS_TAG)
            for n in (1, 2):
                cls.namespaces.append(weservers.NetNamespace(NS_TAG, n).create())
            cls.pg = weservers.postgres()
            cls.source = wetest.make_clip(os.path.join(cls.tmp, "source.mp4"), duration=12,
                                          width=640, height=360, fps=25, gop=25)
            cls.src_frames, cls.src_duration = frames_and_duration(cls.source)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for ns in cls.namespaces:
            ns.destroy()
        if not os.environ.get("WE_TEST_KEEP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- one cluster per test ------------------------------------------------

    def setUp(self):
        self.workers = []
        self.d = self.nats = self.s3 = None
        _live.append(self)
        self.addCleanup(self.stop_cluster)
        for ns in self.namespaces:
            ns.restore()   # a failed test may have left a link down
        self.nats = weservers.NatsServer(listen="0.0.0.0").start()
        self.s3 = weservers.S3Server(listen="0.0.0.0").start()
        env = {
            "DATABASE_URL": self.pg.create_database("multihost"),
            "NATS_URL": self.nats.url,
            "WE_STORAGE_DEFAULT": "storage-s3",
            "WE_WORKERS": "0",
            "WE_HEARTBEAT_INTERVAL_MS": str(HEARTBEAT_MS),
            "WE_NATS_ACK_WAIT_S": str(ACK_WAIT_S),
        }
        env.update(self.s3.plugin_env())
        self.d = wetest.Daemon(workers=0, env=env)
        self.d.start(timeout=30 * TF, require_worker=False)
        tag = self._testMethodName.split("_")[1]
        for n, ns in enumerate(self.namespaces, 1):
            w = Worker(ns, "%s-%s-w%d" % (NS_TAG, tag, n), self.nats, self.s3, self.d.tmp)
            self.workers.append(w.start())
        self.wait_for("both workers online and idle", lambda: self.health() == {
            "total": 2, "free": 2}, 30)
        listed = self.list_workers()
        for w in self.workers:
            self.assertIn(w.id, listed, listed)
            self.assertEqual(listed[w.id]["status"], "online", listed[w.id])
            # each reached the cluster from its own namespace, over its veth
            self.assertEqual(listed[w.id]["ip_address"], w.ns.address, listed[w.id])
            self.assertEqual(listed[w.id]["capabilities"].get("ip_address"), w.ns.address,
                             listed[w.id])

    def stop_cluster(self):
        if self in _live:
            _live.remove(self)
        result = getattr(self._outcome, "result", None)
        failed = result is None or any(t is self for t, _ in result.errors + result.failures)
        for w in self.workers:
            if failed:
                sys.stderr.write("--- %s\n%s" % (w.id, w.tail()))
            w.stop()
        self.workers = []
        if self.d is not None:
            if failed:
                sys.stderr.write("--- webencoded\n%s" % self.kernel_tail(80))
            self.d.cleanup()
            self.d = None
        if self.s3 is not None:
            self.s3.stop()
            self.s3 = None
        if self.nats is not None:
            self.nats.stop()
            self.nats = None

    # --- helpers -------------------------------------------------------------

    def kernel_tail(self, n=40):
        """The kernel's log without the API's request lines (we poll a lot)."""
        try:
            with open(self.d.log_path, "rb") as f:
                lines = [l for l in f.readlines() if b'"domain":"WeApi"' not in l]
        except OSError:
            return ""
        return b"".join(lines[-n:]).decode(errors="replace")

    def wait_for(self, what, predicate, timeout):
        deadline = time.time() + timeout * TF
        while True:
            value = predicate()
            if value:
                return value
            if time.time() > deadline:
                self.fail("timed out after %.0f s waiting for %s\n%s"
                          % (timeout * TF, what, self.kernel_tail()))
            time.sleep(0.1)

    def health(self):
        return self.d.get("/health").json()["workers"]

    def list_workers(self):
        r = self.d.get("/v1/workers")
        self.assertEqual(r.status, 200, r.body)
        return {w["id"]: w for w in r.json()["workers"]}

    def tasks(self, job_id):
        return self.d.get("/v1/jobs/%s/tasks" % job_id).json()["tasks"]

    def events(self, job_id):
        return self.d.get("/v1/jobs/%s/events" % job_id).json()["events"]

    def running_segment(self, job_id):
        """(task, worker) of a segment that runs with progress > 0, its
        holder as the kernel's queue sees it."""
        holders = {}
        for w in self.list_workers().values():
            if w["status"] == "online":
                for tid in w.get("task_ids") or []:
                    holders[tid] = w["id"]
        tasks = self.tasks(job_id)
        if any(t["kind"] == "transcode" for t in tasks):
            planned = [e["message"] for e in self.events(job_id) if e["type"] == "job.planned"]
            self.fail("the job was not split although both workers were idle at submit "
                      "(%s): the plan saw fewer than 2 free slots" % planned)
        for t in tasks:
            if (t["kind"] == "segment" and t["status"] == "running" and
                    t["progress_pct"] > 0 and t["id"] in holders):
                return t, holders[t["id"]]
        return None

    def claims(self):
        """(task id, attempt, worker, unix time) of every claim the kernel
        granted, from its log."""
        pattern = re.compile(r"^task (\S+) \(attempt (\d+)\) claimed by (\S+)$")
        out = []
        for rec in json_lines(self.d.log_path):
            m = pattern.match(rec.get("message", ""))
            if m:
                stamp = rec["timestamp"].rstrip("Z")
                when = wetest.parse_time(stamp[:26] + "Z" if "." in stamp else stamp + ".0Z")
                out.append((m.group(1), int(m.group(2)), m.group(3), when))
        return out

    def completions(self, job_id):
        """sequence index → number of task.completed events, from the API and
        from the store (job_events), which must agree."""
        counts = {}
        for e in self.events(job_id):
            if e["type"] == "task.completed":
                m = re.match(r"^task (\d+) ", e["message"])
                self.assertIsNotNone(m, e)
                counts[int(m.group(1))] = counts.get(int(m.group(1)), 0) + 1
        rows = self.d.sql("SELECT count(*) FROM job_events WHERE job_id = '%s' AND "
                          "type = 'task.completed'" % job_id)
        self.assertEqual(int(rows[0][0]), sum(counts.values()))
        return counts

    def worker_done(self, worker):
        """Task ids @worker says it finished (output written to storage)."""
        done = set()
        for rec in worker.records():
            if rec.get("message", "").startswith("task done:"):
                done.add(rec.get("correlation_id"))
        return done

    def stop_workers_cleanly(self, workers):
        """A worker asked to stop while idle leaves by itself, exit status 0
        (under sanitizers also without a leak or memory error report), and
        the kernel hears it leave."""
        for w in workers:
            rc = w.stop()
            self.assertEqual(rc, 0, "%s exited with %s:\n%s" % (w.id, rc, w.tail(80)))
        self.wait_for("the stopped workers to leave", lambda: self.health()["total"] == 0, 15)

    # --- the scenario --------------------------------------------------------

    def run_and_lose_a_worker(self, lose):
        """Submits the split job, loses the worker of a running segment with
        @lose(worker), and checks the job completes as if nothing happened.
        Returns (job id, victim worker, other worker, victim task, time of
        the loss)."""
        r = self.d.upload(self.source, filename="source.mp4")
        self.assertEqual(r.status, 201, r.body)
        source_url = r.json()["url"]
        self.assertTrue(source_url.startswith("s3://"), source_url)
        # a plan splits over the slots free when it is made
        self.wait_for("two free slots", lambda: self.health()["free"] == 2, 30)
        job = self.d.submit(source_url, PROFILE, profile_overrides=SPLIT)
        job_id = job["id"]

        found = self.wait_for("a segment running with progress > 0",
                              lambda: self.running_segment(job_id), 90)
        task, victim_id = found
        victim = [w for w in self.workers if w.id == victim_id][0]
        other = [w for w in self.workers if w.id != victim_id][0]
        lost_at = time.time()
        lose(victim)

        done = self.d.wait_job(job_id, timeout=180 * TF)
        self.assertEqual(done["status"], "completed", (done, self.kernel_tail()))
        self.assertEqual(done["progress_pct"], 100)
        self.assertIn("verification", done["output_config"])

        tasks = self.tasks(job_id)
        kinds = [t["kind"] for t in tasks]
        self.assertEqual(kinds[0], "scan")
        self.assertEqual(kinds[-1], "stitch")
        self.assertGreaterEqual(kinds.count("segment"), 2, tasks)
        self.assertTrue(all(t["status"] == "completed" for t in tasks), tasks)

        # frame-exact against the source, checked independently with ffprobe
        out = self.d.download(job_id, self.d.tmp)[0][1]
        frames, duration = frames_and_duration(out)
        self.assertEqual(frames, self.src_frames)
        self.assertAlmostEqual(duration, self.src_duration, delta=1.0 / 25 + 0.03)

        # no task completed twice: one task.completed per task, API and store
        counts = self.completions(job_id)
        self.assertEqual(counts, {t["sequence_index"]: 1 for t in tasks}, self.events(job_id))

        # the lost task failed on the victim (offline) and ran again elsewhere
        index = task["sequence_index"]
        failed = [e for e in self.events(job_id) if e["type"] == "task.failed" and
                  e["message"].startswith("task %d attempt" % index)]
        self.assertTrue(any(victim.id in e["message"] for e in failed), self.events(job_id))
        row = self.d.sql("SELECT attempt_count, status FROM tasks WHERE id = '%s'" % task["id"])
        attempts = int(row[0][0])
        self.assertGreaterEqual(attempts, 2, row)
        self.assertEqual(row[0][1], "completed")
        granted = [(a, w) for tid, a, w, _ in self.claims() if tid == task["id"]]
        self.assertIn((task["attempt_count"], victim.id), granted, granted)
        self.assertEqual(granted[-1], (attempts, other.id), granted)
        self.assertIn(task["id"], self.worker_done(other))
        # the kernel noticed within a few heartbeats
        noticed = min(wetest.parse_time(e["created_at"]) for e in failed)
        self.assertLess(noticed - lost_at, (3 * HEARTBEAT_MS / 1000 + 1) * 2 + 2 * TF, failed)

        # nothing granted to the lost worker after it was lost, and nothing
        # ever granted twice for the same attempt
        claims = self.claims()
        self.assertEqual([c for c in claims if c[2] == victim.id and c[3] > lost_at], [])
        self.assertEqual(len(set(c[:2] for c in claims)), len(claims), claims)
        return job_id, victim, other, task, lost_at

    def settle(self, job_id, lost_at, counts, tasks, outputs):
        """Once the lost worker's JetStream delivery has come back (AckWait
        after the loss) and been dealt with, the finished job is unchanged:
        no second completion of any task, same attempts, same output."""
        remaining = lost_at + ACK_WAIT_S + 2 * TF - time.time()
        if remaining > 0:
            time.sleep(remaining)
        self.assertEqual(self.completions(job_id), counts, self.events(job_id))
        after = {t["id"]: (t["status"], t["attempt_count"]) for t in self.tasks(job_id)}
        self.assertEqual(after, tasks)
        self.assertEqual(self.d.get("/v1/jobs/" + job_id).json()["status"], "completed")
        self.assertEqual(self.d.get("/v1/jobs/%s/outputs" % job_id).json()["outputs"], outputs)
        claims = self.claims()
        self.assertEqual(len(set(c[:2] for c in claims)), len(claims), claims)

    def snapshot(self, job_id):
        return (self.completions(job_id),
                {t["id"]: (t["status"], t["attempt_count"]) for t in self.tasks(job_id)},
                self.d.get("/v1/jobs/%s/outputs" % job_id).json()["outputs"])

    def test_a_cut_namespace(self):
        """The victim's namespace is cut off mid-segment (its host-side veth
        goes down): the worker lives on but reaches nothing. Once the job is
        done the link comes back: the worker rejoins and nothing it finished
        late counts as a second completion or changes the output."""
        def cut(worker):
            worker.ns.cut()

        job_id, victim, other, task, lost_at = self.run_and_lose_a_worker(cut)
        snapshot = self.snapshot(job_id)

        victim.ns.restore()
        # it comes back: online again, and done with what it held (a late
        # report of the lost attempt is acknowledged and dropped)
        self.wait_for("the cut-off worker to rejoin and go idle", lambda: (
            self.list_workers().get(victim.id, {}).get("status") == "online" and
            not self.list_workers()[victim.id].get("task_ids")), 60)
        self.assertIsNone(victim.proc.poll(), "the cut-off worker exited")
        self.settle(job_id, lost_at, *snapshot)
        out = self.d.download(job_id, self.d.tmp)[0][1]
        self.assertEqual(frames_and_duration(out)[0], self.src_frames)
        # and the cluster is whole again: both take work
        self.wait_for("both workers idle", lambda: self.health() == {"total": 2, "free": 2}, 30)
        self.stop_workers_cleanly(self.workers)

    def test_b_killed_worker(self):
        """The victim's process is SIGKILLed mid-segment."""
        job_id, victim, other, task, lost_at = self.run_and_lose_a_worker(lambda w: w.kill())
        self.assertNotIn(task["id"], self.worker_done(victim))
        self.settle(job_id, lost_at, *self.snapshot(job_id))
        self.wait_for("the killed worker to leave the slot count",
                      lambda: self.health() == {"total": 1, "free": 1}, 30)
        w = self.list_workers().get(victim.id)
        # listed as offline, or not at all
        self.assertTrue(w is None or "offline" in (w["status"], w["state"]), w)
        self.stop_workers_cleanly([other])


if __name__ == "__main__":
    wetest.main()
