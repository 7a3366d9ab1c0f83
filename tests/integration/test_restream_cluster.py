#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Restreams in cluster mode (docs/architecture.md "Restreams in cluster
mode"): two webencoded kernels on one real PostgreSQL store (weservers.py),
restreaming to real RTMP servers (nginx with libnginx-mod-rtmp, wenginx.py,
recording every publish to an FLV file of its own).

- A looped file restream created on kernel a runs on a (one worker there,
  none on b); GET on b shows it streaming with a bitrate, and b's WebSocket
  topic restream:<id> carries a's stats.
- A destination added and one disabled through b take effect on a's worker
  (a new publish at the added nginx; the disabled one's recording stops),
  and so does a new input_url PATCHed through b (a's worker starts again:
  a new publish of the new clip's 160x120 frames).
- SIGKILL of kernel a: its worker dies with it, and b adopts the restream
  within the lease bound with a new publish at nginx; a stop through b ends
  it.
- With both kernels up, a "scheduled" restream fires exactly once (one
  publish, one worker, one kernel saying so), and a "recurring" one
  ("* * * * *", duration_s 4) starts at the next minute boundary exactly once
  and stops after its duration."""

import datetime
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import wenginx
import wetest
import weservers
from test_live import WsEvents

CLIP_S = 3
ADOPT_BOUND_S = 15   # lease (8 s) + a tick + a worker's start


def restream_workers(d):
    """pids of @d's `webencode-worker --restream` children."""
    if d.proc is None:
        return []
    out = subprocess.run(["pgrep", "-P", str(d.proc.pid), "-f", "webencode-worker --restream"],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def video_size(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                          "stream=width,height", "-of", "csv=p=0", path],
                         capture_output=True, text=True, timeout=60).stdout.strip()
    return out.split("\n")[0]


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class RestreamCluster(wetest.DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        if not wenginx.available():
            if os.environ.get("WE_TEST_NO_SKIP"):
                raise AssertionError("nginx with libnginx-mod-rtmp is not installed")
            raise unittest.SkipTest("nginx with libnginx-mod-rtmp is not installed")
        pg = weservers.postgres()
        url = pg.create_database("restream_cluster")
        # every kernel of a cluster has the same service secret: a
        # destination sealed by one is opened by the one that runs it
        env = {"DATABASE_URL": url, "WE_KERNEL_BEAT_S": "1",
               "WE_CONTENT_KEY_SECRET": "env:WE_TEST_RESTREAM_SECRET",
               "WE_TEST_RESTREAM_SECRET": "restream-cluster-test-secret-0123456789abcdef"}
        cls.a = wetest.Daemon(workers=1, env=env)
        cls.b = wetest.Daemon(workers=1, env=dict(env))
        # the clips: a folder the storage lets restreams read (its browse roots)
        cls.tmp = tempfile.mkdtemp(prefix="we-restream-cluster-")
        for k in (cls.a, cls.b):
            k.extra_env["WE_PLUGIN_STORAGE_FS_BROWSE_ROOTS"] = k.media + ";" + cls.tmp
        cls.a.start()
        cls.b.start()
        cls.d = cls.a
        cls.clip = wetest.make_clip(os.path.join(cls.tmp, "clip.mp4"), duration=CLIP_S,
                                    fps=25, width=320, height=240)
        cls.servers = []

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        try:
            cls.a.cleanup()
        finally:
            cls.b.cleanup()

    def nginx(self):
        s = wenginx.NginxRtmp(os.path.join(self.tmp, "n%d" % len(self.servers)))
        self.servers.append(s)
        return s.start()

    def get(self, d, rid):
        r = d.get("/v1/restreams/" + rid)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def wait(self, pred, what, timeout=15):
        deadline = time.time() + timeout
        while True:
            value = pred()
            if value:
                return value
            if time.time() > deadline:
                self.fail("%s: not within %d s\na: %s\nb: %s" % (
                    what, timeout, self.a.tail(15), self.b.tail(15)))
            time.sleep(0.2)

    def growing(self, n):
        """Whether @n's newest recording grows."""
        recs = n.recordings()
        if not recs:
            return False
        size = os.path.getsize(recs[-1])
        time.sleep(1.5)
        return os.path.getsize(n.recordings()[-1]) > size

    def started_here(self, d, rid, what):
        with open(d.log_path, "rb") as f:
            return sum(1 for ln in f.read().decode(errors="replace").splitlines()
                       if rid in ln and what in ln)

    def test_1_owner_commands_and_adoption(self):
        n1, n2 = self.nginx(), self.nginx()
        body = {"title": "Across kernels", "input_url": self.clip, "loop_enabled": True,
                "output_destinations": [{"url": n1.url("one")}]}
        r = self.a.post("/v1/restreams", body)
        self.assertEqual(r.status, 201, r.body)
        rid = r.json()["id"]
        d1 = r.json()["output_destinations"][0]["id"]
        ws = WsEvents(self.b, "restream:" + rid)
        self.addCleanup(ws.close)

        # b is not the owner: it shows what a stores every second
        def live_on_b():
            g = self.get(self.b, rid)
            st = g["current_stats"].get(d1)
            return (g["status"] == "streaming" and st and st["state"] == "live" and
                    st["bitrate_kbps"] > 0 and g)
        self.wait(live_on_b, "streaming with a bitrate, seen on b")
        self.assertEqual(len(restream_workers(self.a)), 1)
        self.assertEqual(restream_workers(self.b), [])
        ws.wait(lambda e: e.get("status") == "streaming" and any(
            dd.get("state") == "live" and dd.get("bitrate_kbps", 0) > 0
            for dd in (e.get("destinations") or {}).values()), 10)

        # destinations changed through b reach a's worker
        r = self.b.post("/v1/restreams/%s/destinations" % rid, {"url": n2.url("two")})
        self.assertEqual(r.status, 201, r.body)
        d2 = [d["id"] for d in r.json()["output_destinations"] if d["id"] != d1][0]
        added = time.time()
        self.wait(lambda: n2.recordings(), "a publish at the destination added through b", 8)
        self.assertLess(time.time() - added, 6)
        r = self.b.request("PATCH", "/v1/restreams/%s/destinations/%s" % (rid, d1),
                           {"enabled": False})
        self.assertEqual(r.status, 200, r.body)
        self.wait(lambda: (self.get(self.b, rid)["current_stats"].get(d1) or {}).get("state")
                  == "disabled", "disabled through b", 8)
        self.assertFalse(self.growing(n1), "a destination disabled through b still receives")
        self.wait(lambda: self.growing(n2), "the other destination growing", 12)
        self.assertEqual(restream_workers(self.b), [])

        # an edit of the input through b: a starts its worker again with it
        workers = restream_workers(self.a)
        publishes = len(n2.recordings())
        small = wetest.make_clip(os.path.join(self.tmp, "small.mp4"), duration=CLIP_S, fps=25,
                                 width=160, height=120)
        r = self.b.request("PATCH", "/v1/restreams/" + rid, {"input_url": small})
        self.assertEqual(r.status, 200, r.body)
        self.wait(lambda: len(n2.recordings()) > publishes, "a new publish of the new input", 10)
        self.wait(lambda: restream_workers(self.a) not in ([], workers), "a's new worker", 5)
        self.assertEqual(restream_workers(self.b), [])
        time.sleep(1.5)
        self.assertEqual(video_size(n2.recordings()[-1]), "160,120")

        # a dies: its worker with it, and b takes the restream over
        workers = restream_workers(self.a)
        self.assertEqual(len(workers), 1)
        publishes = len(n2.recordings())
        self.a.proc.kill()
        killed = time.time()
        self.a.stop()
        self.wait(lambda: not alive(workers[0]), "a's worker ending with its kernel", 5)
        self.wait(lambda: len(n2.recordings()) > publishes and restream_workers(self.b),
                  "b adopting the restream", ADOPT_BOUND_S + 5)
        took = time.time() - killed
        self.assertLessEqual(took, ADOPT_BOUND_S)
        self.wait(lambda: self.get(self.b, rid)["status"] == "streaming", "streaming on b")
        # b's first publish may meet nginx still holding a's dead connection
        # to the same key: the destination reconnects (2 s backoff) and grows
        self.wait(lambda: self.growing(n2), "the destination growing from b", 12)
        self.assertFalse(self.growing(n1), "the disabled destination came back on adoption")
        self.assertIn("resumed it", self.b.tail(200))

        # a comes back: the restream stays b's; a stop through a ends it on b
        self.a.start()
        time.sleep(2)
        self.assertEqual(restream_workers(self.a), [])
        self.assertEqual(len(restream_workers(self.b)), 1)
        r = self.a.post("/v1/restreams/%s/stop" % rid)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["status"], "stopped")
        self.wait(lambda: not restream_workers(self.b), "b's worker ending on a stop through a",
                  5)
        self.assertFalse(self.growing(n2))
        self.assertEqual(self.get(self.b, rid)["status"], "stopped")
        self.assertEqual(self.b.request("DELETE", "/v1/restreams/" + rid).status, 204)

    def watch_workers(self, until):
        """The most restream workers running at once over both kernels,
        sampled until @until() is true."""
        most = 0
        while not until():
            most = max(most, len(restream_workers(self.a)) + len(restream_workers(self.b)))
            time.sleep(0.1)
        return most

    def test_2_scheduled_fires_once(self):
        n = self.nginx()
        at = (datetime.datetime.now(datetime.timezone.utc) +
              datetime.timedelta(seconds=4)).replace(microsecond=0)
        body = {"title": "At a time", "input_url": self.clip, "loop_enabled": True,
                "schedule_type": "scheduled",
                "schedule_config": {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration_s": 4},
                "output_destinations": [{"url": n.url("at")}]}
        r = self.b.post("/v1/restreams", body)
        self.assertEqual(r.status, 201, r.body)
        rid = r.json()["id"]
        self.assertEqual(r.json()["status"], "stopped")
        most = self.watch_workers(lambda: self.get(self.a, rid)["status"] == "streaming" or
                                  time.time() > at.timestamp() + 15)
        self.assertEqual(self.get(self.a, rid)["status"], "streaming")
        self.assertGreaterEqual(time.time(), at.timestamp() - 0.1)
        most = max(most, self.watch_workers(
            lambda: self.get(self.b, rid)["status"] == "stopped" or
            time.time() > at.timestamp() + 25))
        self.assertEqual(self.get(self.b, rid)["status"], "stopped")
        self.assertEqual(most, 1)
        time.sleep(2)   # a second firing would show by now
        self.assertEqual(len(n.recordings()), 1, n.recordings())
        fired = (self.started_here(self.a, rid, "its schedule started it"),
                 self.started_here(self.b, rid, "its schedule started it"))
        self.assertEqual(sum(fired), 1, fired)
        self.assertEqual(self.b.request("DELETE", "/v1/restreams/" + rid).status, 204)

    def test_3_recurring_fires_once_a_minute(self):
        n = self.nginx()
        now = time.time()
        if 60 - now % 60 < 3:    # not right at a boundary: the next one is the one
            time.sleep(60 - now % 60 + 0.5)
        body = {"title": "Every minute", "input_url": self.clip, "loop_enabled": True,
                "schedule_type": "recurring",
                "schedule_config": {"cron": "* * * * *", "duration_s": 4},
                "output_destinations": [{"url": n.url("cron")}]}
        r = self.a.post("/v1/restreams", body)
        self.assertEqual(r.status, 201, r.body)
        rid = r.json()["id"]
        created = time.time()
        boundary = (int(created) // 60 + 1) * 60
        most = self.watch_workers(lambda: self.get(self.b, rid)["status"] == "streaming" or
                                  time.time() > boundary + 10)
        started = time.time()
        self.assertEqual(self.get(self.b, rid)["status"], "streaming")
        self.assertGreaterEqual(started, boundary - 0.1, "it did not wait for the next minute")
        self.assertLess(started, boundary + 6)   # a tick, a claim, a worker's first frames
        most = max(most, self.watch_workers(
            lambda: self.get(self.a, rid)["status"] == "stopped" or time.time() > boundary + 20))
        stopped = time.time()
        self.assertEqual(self.get(self.a, rid)["status"], "stopped")
        self.assertGreaterEqual(stopped - boundary, 3.5)
        self.assertLess(stopped - boundary, 12)
        self.assertEqual(most, 1)
        time.sleep(2)
        self.assertEqual(len(n.recordings()), 1, n.recordings())
        fired = (self.started_here(self.a, rid, "its schedule started it"),
                 self.started_here(self.b, rid, "its schedule started it"))
        self.assertEqual(sum(fired), 1, fired)
        # before the next minute fires it again
        self.assertEqual(self.a.request("DELETE", "/v1/restreams/" + rid).status, 204)

    def test_zz_clean_exit(self):
        for d in (self.a, self.b):
            rc = d.stop()
            self.assertEqual(rc, 0, d.tail())
            self.assertNotIn("Sanitizer", d.tail(400))


if __name__ == "__main__":
    wetest.main()
