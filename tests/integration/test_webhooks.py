#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Webhooks (spec §20): registration, HMAC signatures checked with the secret
the API showed once, retries with backoff until the receiver answers, the
delivery log, replays, secret rotation, per-job webhooks, job transitions of
real jobs, and deliveries that survive a restart of the service. The
receiver is a real HTTP server in a thread of this test."""

import hashlib
import hmac
import http.server
import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import wetest  # noqa: E402

SERVICE_SECRET = "webhooks-test-service-secret-0123456789abcdef"
BASE_ENV = {
    # short backoff so retries happen within the test: 100 ms, 200 ms, 400 ms …
    "WE_WEBHOOK_BACKOFF_BASE_MS": "100",
    # give up after 6 s (the service default is 24 h)
    "WE_WEBHOOK_RETRY_WINDOW_S": "6",
    # a known service secret, so the test can derive the per-user secret of
    # per-job webhooks independently of the service (docs/api.md)
    "WE_CONTENT_KEY_SECRET": "env:WE_TEST_WEBHOOK_SERVICE_SECRET",
    "WE_TEST_WEBHOOK_SERVICE_SECRET": SERVICE_SECRET,
}


class Receiver:
    """Records every POST (path, headers, raw body); answers each path with
    the statuses queued for it, then 200."""

    def __init__(self, port=0):
        self.requests = []
        self.plans = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append((self.path, {k.lower(): v for k, v in
                                                       self.headers.items()}, body))
                    plan = outer.plans.get(self.path) or []
                    status = plan.pop(0) if plan else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def plan(self, path, statuses):
        with self.lock:
            self.plans[path] = list(statuses)

    def got(self, path):
        with self.lock:
            return [(h, b) for p, h, b in self.requests if p == path]

    def wait(self, path, count, timeout=20):
        deadline = time.time() + timeout * wetest.TIME_FACTOR
        while time.time() < deadline:
            got = self.got(path)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError("%s: %d of %d requests" % (path, len(self.got(path)), count))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def user_secret(user_id):
    """The documented derivation of per-job webhooks' secret."""
    msg = ("webencode webhook secret\nuser:%s" % (user_id or "")).encode()
    return hmac.new(SERVICE_SECRET.encode(), msg, hashlib.sha256).hexdigest()


class WebhookCase(wetest.DaemonTestCase):
    workers = 1
    daemon_env = BASE_ENV

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rx = Receiver()

    @classmethod
    def tearDownClass(cls):
        cls.rx.close()
        super().tearDownClass()

    def register(self, path, **extra):
        body = {"url": self.rx.url(path)}
        body.update(extra)
        r = self.d.post("/v1/webhooks", body)
        self.assertEqual(r.status, 201, r.body)
        hook = r.json()
        self.addCleanup(self.d.request, "DELETE", "/v1/webhooks/" + hook["id"])
        return hook

    def deliveries(self, hook_id):
        r = self.d.get("/v1/webhooks/%s/deliveries" % hook_id)
        self.assertEqual(r.status, 200, r.body)
        return r.json()["deliveries"]

    def wait_delivery(self, hook_id, pred, timeout=20):
        deadline = time.time() + timeout * wetest.TIME_FACTOR
        ds = None
        while time.time() < deadline:
            ds = self.deliveries(hook_id)
            if ds and pred(ds[0]):
                return ds[0]
            time.sleep(0.1)
        raise AssertionError("delivery not as expected: %s" % json.dumps(ds, indent=1))

    def assertSigned(self, headers, body, secret):
        self.assertEqual(headers["x-webencode-signature"], sign(secret, body))
        self.assertEqual(headers["content-type"], "application/json")

    # --- registration ---

    def test_registration_and_validation(self):
        for bad in ({"url": "ftp://example.com/x"}, {"url": "file:///etc/passwd"},
                    {"url": "not a url"}, {"url": "http:///nohost"}, {},
                    {"url": "http://user:pw@example.com/"},
                    {"url": self.rx.url("/v"), "events": ["job.exploded"]},
                    {"url": self.rx.url("/v"), "events": "job.created"},
                    {"url": self.rx.url("/v"), "bogus": 1},
                    {"url": self.rx.url("/v"), "enabled": "yes"},
                    {"url": "http://x/" + "a" * 5000}):
            self.assertError(self.d.post("/v1/webhooks", bad), 400, "WE-JOB-001")
        hook = self.register("/v", events=["job.completed"], description="mine")
        self.assertRegex(hook["secret"], "^[0-9a-f]{64}$")
        self.assertTrue(hook["secret_set"])
        got = self.d.get("/v1/webhooks/" + hook["id"]).json()
        self.assertNotIn("secret", got)
        self.assertNotIn(hook["secret"], self.d.get("/v1/webhooks").body.decode())
        self.assertEqual(got["events"], ["job.completed"])
        self.assertEqual(got["description"], "mine")
        self.assertIn(hook["id"], [h["id"] for h in self.d.get("/v1/webhooks").json()["webhooks"]])
        # PATCH
        r = self.d.request("PATCH", "/v1/webhooks/" + hook["id"],
                           {"events": [], "enabled": False, "url": self.rx.url("/v2")})
        self.assertEqual(r.status, 200, r.body)
        got = r.json()
        self.assertEqual((got["events"], got["enabled"], got["url"]),
                         ([], False, self.rx.url("/v2")))
        self.assertNotIn("secret", got)
        self.assertError(self.d.request("PATCH", "/v1/webhooks/" + hook["id"],
                                        {"url": "gopher://x"}), 400, "WE-JOB-001")
        # the secret never reaches the store
        rows = self.d.sql("SELECT * FROM webhooks")
        self.assertNotIn(hook["secret"], repr(rows))
        self.assertEqual(self.d.request("DELETE", "/v1/webhooks/" + hook["id"]).status, 204)
        self.assertEqual(self.d.get("/v1/webhooks/" + hook["id"]).status, 404)
        self.assertEqual(self.d.post("/v1/webhooks/nope/ping").status, 404)

    # --- delivery ---

    def test_signature_ping_and_log(self):
        hook = self.register("/ping")
        r = self.d.post("/v1/webhooks/%s/ping" % hook["id"])
        self.assertEqual(r.status, 202, r.body)
        delivery_id = r.json()["id"]
        (headers, body), = self.rx.wait("/ping", 1)
        self.assertSigned(headers, body, hook["secret"])
        self.assertNotEqual(headers["x-webencode-signature"], sign("wrong", body))
        self.assertEqual(headers["x-webencode-event"], "ping")
        self.assertEqual(headers["x-webencode-delivery"], delivery_id)
        self.assertLess(abs(int(headers["x-webencode-timestamp"]) - time.time()), 60)
        payload = json.loads(body)
        self.assertEqual(sorted(payload), ["data", "event_id", "event_type", "timestamp"])
        self.assertEqual(payload["event_type"], "ping")
        self.assertRegex(payload["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        d = self.wait_delivery(hook["id"], lambda d: d["state"] == "succeeded")
        self.assertEqual(d["attempts"], 1)
        self.assertEqual(d["last_status"], 200)
        self.assertEqual(len(d["log"]), 1)
        self.assertEqual(d["payload"], payload)

    def test_retries_until_success_exactly_once_more(self):
        hook = self.register("/flaky")
        self.rx.plan("/flaky", [500, 500, 500])
        t0 = time.time()
        self.d.post("/v1/webhooks/%s/ping" % hook["id"])
        got = self.rx.wait("/flaky", 4)
        d = self.wait_delivery(hook["id"], lambda d: d["state"] == "succeeded")
        # nothing more once it succeeded, not even after a few polls
        time.sleep(2.5)
        got = self.rx.got("/flaky")
        self.assertEqual(len(got), 4, [h for h, _ in got])
        self.assertEqual(len({b for _, b in got}), 1)
        self.assertEqual(len({h["x-webencode-delivery"] for h, _ in got}), 1)
        for h, b in got:
            self.assertSigned(h, b, hook["secret"])
        self.assertEqual(d["attempts"], 4)
        self.assertEqual([e["status"] for e in d["log"]], [500, 500, 500, 200])
        # backoff: 100 + 200 + 400 ms at least between the first and the last
        self.assertGreater(time.time() - t0, 0.7)

    def test_dead_receiver_is_retried_logged_then_given_up(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        r = self.d.post("/v1/webhooks", {"url": "http://127.0.0.1:%d/dead" % dead})
        hook = r.json()
        self.addCleanup(self.d.request, "DELETE", "/v1/webhooks/" + hook["id"])
        self.d.post("/v1/webhooks/%s/ping" % hook["id"])
        d = self.wait_delivery(hook["id"], lambda d: d["attempts"] >= 3)
        self.assertEqual(d["state"], "pending", d)
        self.assertIsNone(d["last_status"])
        self.assertTrue(d["last_error"])
        self.assertTrue(all(e["error"] and e["status"] == 0 for e in d["log"]), d["log"])
        # the retry window (6 s here, 24 h by default) ends in "failed"
        d = self.wait_delivery(hook["id"], lambda d: d["state"] == "failed", timeout=20)
        n = d["attempts"]
        self.assertGreaterEqual(n, 4)
        time.sleep(1.5)
        self.assertEqual(self.deliveries(hook["id"])[0]["attempts"], n)

    def test_replay_resends_once(self):
        hook = self.register("/replay")
        first = self.d.post("/v1/webhooks/%s/ping" % hook["id"]).json()
        self.rx.wait("/replay", 1)
        self.wait_delivery(hook["id"], lambda d: d["state"] == "succeeded")
        r = self.d.post("/v1/webhooks/%s/deliveries/%s/replay" % (hook["id"], first["id"]))
        self.assertEqual(r.status, 202, r.body)
        replay = r.json()
        self.assertEqual(replay["replay_of"], first["id"])
        self.assertEqual(replay["event_id"], first["event_id"])
        got = self.rx.wait("/replay", 2)
        time.sleep(1.5)
        got = self.rx.got("/replay")
        self.assertEqual(len(got), 2)
        self.assertEqual(got[0][1], got[1][1])
        self.assertEqual(got[1][0]["x-webencode-delivery"], replay["id"])
        ds = self.deliveries(hook["id"])
        self.assertEqual(len(ds), 2)
        self.assertEqual(self.d.post("/v1/webhooks/%s/deliveries/nope/replay" %
                                     hook["id"]).status, 404)
        other = self.register("/other")
        self.assertEqual(self.d.post("/v1/webhooks/%s/deliveries/%s/replay" %
                                     (other["id"], first["id"])).status, 404)
        # pagination of the log
        page = self.d.get("/v1/webhooks/%s/deliveries?limit=1&offset=1" % hook["id"]).json()
        self.assertEqual((page["total"], len(page["deliveries"])), (2, 1))
        self.assertError(self.d.get("/v1/webhooks/%s/deliveries?limit=x" % hook["id"]), 400,
                         "WE-JOB-001")

    def test_rotate_secret(self):
        hook = self.register("/rotate")
        r = self.d.post("/v1/webhooks/%s/rotate-secret" % hook["id"])
        self.assertEqual(r.status, 200, r.body)
        new = r.json()["secret"]
        self.assertNotEqual(new, hook["secret"])
        self.assertRegex(new, "^[0-9a-f]{64}$")
        self.d.post("/v1/webhooks/%s/ping" % hook["id"])
        (h, b), = self.rx.wait("/rotate", 1)
        self.assertSigned(h, b, new)
        self.assertNotEqual(h["x-webencode-signature"], sign(hook["secret"], b))

    # --- jobs ---

    def events_of(self, path, job_id):
        return [(json.loads(b), h) for h, b in self.rx.got(path)
                if json.loads(b)["data"].get("job_id") == job_id]

    def test_job_transitions_and_per_job_webhooks(self):
        hook = self.register("/jobs", events=["job.created", "job.started", "job.completed",
                                              "job.failed"])
        only_done = self.register("/jobs-done", events=["job.completed"])
        clip = wetest.make_clip(os.path.join(self.d.media, "hook.mp4"), duration=1)
        for bad in (["ftp://x/y"], [{"url": self.rx.url("/x"), "events": ["nope"]}],
                    [{"events": ["job.created"]}], [5], "http://x/"):
            self.assertError(self.d.post("/v1/jobs", {"source_url": "file://" + clip,
                                                      "profile": "480p_fast",
                                                      "webhooks": bad}), 400, "WE-JOB-001")
        job = self.d.submit("file://" + clip, "480p_fast", webhooks=[
            self.rx.url("/perjob-all"),
            {"url": self.rx.url("/perjob-done"), "events": ["job.completed"]}])
        done = self.d.wait_job(job["id"])
        self.assertEqual(done["status"], "completed")
        self.rx.wait("/jobs", 3)
        deadline = time.time() + 10
        while len(self.events_of("/jobs", job["id"])) < 3 and time.time() < deadline:
            time.sleep(0.1)
        events = self.events_of("/jobs", job["id"])
        self.assertEqual([e["event_type"] for e, _ in events],
                         ["job.created", "job.started", "job.completed"])
        for e, h in events:
            self.assertEqual(h["x-webencode-event"], e["event_type"])
            self.assertEqual(e["data"]["user_id"], job["user_id"])
        self.assertEqual([e["data"]["status"] for e, _ in events],
                         ["queued", "processing", "completed"])
        outputs = events[2][0]["data"]["outputs"]
        self.assertTrue(outputs)
        for o in outputs:
            self.assertGreater(o["size_bytes"], 0)
            self.assertIn("/v1/jobs/%s/outputs/" % job["id"], o["url"])
            self.assertTrue(o["format"])
        for h, b in self.rx.got("/jobs"):
            self.assertSigned(h, b, hook["secret"])
        done_events = self.rx.wait("/jobs-done", 1)
        self.assertEqual([json.loads(b)["event_type"] for _, b in done_events
                          if json.loads(b)["data"]["job_id"] == job["id"]], ["job.completed"])
        self.assertSigned(*done_events[0], only_done["secret"])
        # per-job webhooks: signed with the owner's secret
        secret = user_secret(job["user_id"])
        all_events = self.rx.wait("/perjob-all", 3)
        self.assertEqual([json.loads(b)["event_type"] for _, b in all_events],
                         ["job.created", "job.started", "job.completed"])
        (h, b), = self.rx.wait("/perjob-done", 1)
        self.assertEqual(json.loads(b)["event_type"], "job.completed")
        for h, b in all_events + [(h, b)]:
            self.assertSigned(h, b, secret)
        per_job = self.d.get("/v1/webhooks?job_id=" + job["id"]).json()["webhooks"]
        self.assertEqual(sorted(h["url"] for h in per_job),
                         [self.rx.url("/perjob-all"), self.rx.url("/perjob-done")])
        self.assertEqual({h["secret_source"] for h in per_job}, {"user"})
        time.sleep(1)
        self.assertEqual(len(self.rx.got("/perjob-done")), 1)
        for h in per_job:
            self.d.request("DELETE", "/v1/webhooks/" + h["id"])

    def test_job_failed(self):
        self.register("/fail", events=["job.failed"])
        junk = os.path.join(self.d.media, "junk-hook.mp4")
        with open(junk, "wb") as f:
            f.write(os.urandom(100000))
        job = self.d.submit("file://" + junk, "480p_fast")
        self.assertEqual(self.d.wait_job(job["id"])["status"], "failed")
        self.rx.wait("/fail", 1)
        time.sleep(0.5)
        events = [json.loads(b) for _, b in self.rx.got("/fail")
                  if json.loads(b)["data"]["job_id"] == job["id"]]
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["event_type"], "job.failed")
        self.assertEqual(events[0]["data"]["status"], "failed")
        self.assertEqual(events[0]["data"]["error"]["code"], "WE-JOB-007")


class WebhookRestartCase(unittest.TestCase):
    """A delivery pending while the service stops goes out, once, after it
    starts again."""

    def test_pending_delivery_survives_restart(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(BASE_ENV)
        env["WE_WEBHOOK_RETRY_WINDOW_S"] = "600"
        env["WE_WEBHOOK_BACKOFF_BASE_MS"] = "300"
        d = wetest.Daemon(workers=1, env=env)
        self.addCleanup(d.cleanup)
        d.start()
        hook = d.post("/v1/webhooks", {"url": "http://127.0.0.1:%d/later" % port}).json()
        delivery = d.post("/v1/webhooks/%s/ping" % hook["id"]).json()
        deadline = time.time() + 20
        while time.time() < deadline:
            ds = d.get("/v1/webhooks/%s/deliveries" % hook["id"]).json()["deliveries"]
            if ds[0]["attempts"] >= 2:
                break
            time.sleep(0.1)
        self.assertGreaterEqual(ds[0]["attempts"], 2, ds)
        self.assertEqual(d.stop(), 0, d.tail())
        rx = Receiver(port)
        self.addCleanup(rx.close)
        d.start()
        got = rx.wait("/later", 1, timeout=30)
        time.sleep(2)
        got = rx.got("/later")
        self.assertEqual(len(got), 1)
        h, b = got[0]
        self.assertEqual(h["x-webencode-delivery"], delivery["id"])
        self.assertEqual(h["x-webencode-signature"], sign(hook["secret"], b))
        deadline = time.time() + 10
        while time.time() < deadline:
            ds = d.get("/v1/webhooks/%s/deliveries" % hook["id"]).json()["deliveries"]
            if ds[0]["state"] == "succeeded":
                break
            time.sleep(0.1)
        self.assertEqual(ds[0]["state"], "succeeded", ds)
        self.assertEqual(ds[0]["log"][-1]["status"], 200)


if __name__ == "__main__":
    wetest.main()
