#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The dashboard WebSocket (GET /v1/ws, docs/api.md "WebSocket") against a
real webencoded with auth-basic and a real worker: tickets (single use,
expiry, refusals with the §11 envelope), hello, ping, RBAC-checked
subscriptions, job events while a real encode runs, the dashboard and
workers ticks, bad frames closing the socket, and a restart of the service
after which a new connection follows the same job to its end."""

import base64
import json
import os
import subprocess
import time

import wetest
from wsclient import Closed, Refused, WsClient

USERS = {"viewer": "vic", "operator": "otto"}
TTL = 3  # WE_WS_TICKET_TTL_S: short, so expiry is seen quickly
SLOW = {"preset": "medium"}
SLACK = wetest.TIME_FACTOR


def basic(role):
    user = USERS[role]
    token = base64.b64encode(("%s:%s-pw" % (user, user)).encode()).decode()
    return {"Authorization": "Basic " + token}


class Ws(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        d = wetest.Daemon(workers=1)
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
            "WE_WS_TICKET_TTL_S": str(TTL),
        }
        cls.d = d.start()
        cls.clip = "file://" + wetest.make_clip(os.path.join(d.media, "ws.mp4"), duration=12,
                                                width=640, height=360, fps=25)

    def ticket(self, role="viewer"):
        r = self.d.post("/v1/ws/ticket", headers=basic(role))
        self.assertEqual(r.status, 201, r.body)
        body = r.json()
        self.assertTrue(body["ticket"].startswith("wst_"), body)
        self.assertEqual(body["expires_in"], TTL)
        return body["ticket"]

    def connect(self, role="viewer"):
        ws = WsClient(self.d.port, "/v1/ws?ticket=" + self.ticket(role))
        self.addCleanup(ws.close)
        hello = ws.recv()
        self.assertEqual(hello["type"], "hello", hello)
        self.assertEqual(hello["user"]["username"], USERS[role])
        self.assertEqual(hello["user"]["role"], role)
        self.assertIn("version", hello)
        return ws

    def assertRefused(self, path, headers=None, status=401, code="WE-AUTH-001"):
        with self.assertRaises(Refused) as cm:
            WsClient(self.d.port, path, headers=headers)
        self.assertEqual(cm.exception.status, status, cm.exception.body)
        err = cm.exception.json()["error"]
        self.assertEqual(err["code"], code, err)
        for k in ("message", "request_id", "timestamp"):
            self.assertIn(k, err)

    def subscribe(self, ws, topic, cid):
        ws.send_json({"type": "subscribe", "topic": topic, "id": cid})
        ack, _ = ws.wait_for(lambda m: m.get("id") == cid)
        self.assertEqual(ack, {"type": "subscribed", "topic": topic, "id": cid})

    # --- tickets and the upgrade ---

    def test_tickets(self):
        # no credentials at all: refused before the upgrade, with the envelope
        self.assertRefused("/v1/ws")
        self.assertRefused("/v1/ws?ticket=wst_00")
        self.assertError(self.d.post("/v1/ws/ticket"), 401, "WE-AUTH-001")
        # a ticket works once
        t = self.ticket()
        ws = WsClient(self.d.port, "/v1/ws?ticket=" + t)
        self.assertEqual(ws.recv()["type"], "hello")
        ws.close()
        self.assertRefused("/v1/ws?ticket=" + t)
        # and only for its lifetime
        t = self.ticket()
        time.sleep(TTL + 0.5)
        self.assertRefused("/v1/ws?ticket=" + t)
        # non-browser clients may send the Authorization header instead
        ws = WsClient(self.d.port, "/v1/ws", headers=basic("operator"))
        hello = ws.recv()
        self.assertEqual(hello["user"]["role"], "operator")
        ws.close()
        bad = {"Authorization": "Basic " + base64.b64encode(b"vic:wrong").decode()}
        self.assertRefused("/v1/ws", headers=bad)
        # an authenticated request that is not a handshake is a bad request
        r = self.d.get("/v1/ws", headers=basic("viewer"))
        self.assertError(r, 400, "WE-JOB-001")

    # --- messages ---

    def test_ping_and_errors(self):
        ws = self.connect()
        ws.send_json({"type": "ping", "id": "p1"})
        self.assertEqual(ws.recv(), {"type": "pong", "id": "p1"})
        ws.send_json({"type": "subscribe", "topic": "secrets", "id": "s1"})
        err = ws.recv()
        self.assertEqual(err["type"], "error", err)
        self.assertEqual(err["id"], "s1")
        self.assertEqual(err["error"]["code"], "WE-JOB-001")
        # a job that does not exist: subscribed, then an error instead of a snapshot
        self.subscribe(ws, "job:no-such-job", "s2")
        err = ws.recv()
        self.assertEqual(err["type"], "error", err)
        self.assertEqual(err["error"]["code"], "WE-JOB-004")
        ws.send_json({"type": "unsubscribe", "topic": "job:no-such-job", "id": "u1"})
        self.assertEqual(ws.recv(), {"type": "unsubscribed", "topic": "job:no-such-job",
                                     "id": "u1"})
        # still open after refusals
        ws.send_json({"type": "ping", "id": "p2"})
        self.assertEqual(ws.recv(), {"type": "pong", "id": "p2"})

    def test_malformed_frames_close(self):
        for payload, opcode, code in ((b"{not json", 0x1, 1008),
                                      (b'{"type":"launch"}', 0x1, 1008),
                                      (b'{"type":"subscribe","topic":5}', 0x1, 1008),
                                      (b"\x00\x01", 0x2, 1008),
                                      (json.dumps({"type": "ping", "id": "x" * 70000}).encode(),
                                       0x1, 1009)):
            with self.subTest(payload=payload[:30]):
                ws = self.connect()
                ws.send_frame(opcode, payload)
                with self.assertRaises(Closed) as cm:
                    ws.recv()
                self.assertEqual(cm.exception.code, code)
        # past 256 KiB the server does not even read the frame: it hangs up
        ws = self.connect()
        ws.send_frame(0x1, b" " * (300 * 1024), header_only=True)
        with self.assertRaises(Closed) as cm:
            ws.recv()
        self.assertIsNone(cm.exception.code)

    # --- topics ---

    def test_dashboard_and_workers(self):
        ws = self.connect()
        self.subscribe(ws, "dashboard", "d")
        self.subscribe(ws, "workers", "w")
        dash, workers, stamps = [], [], []
        t0 = time.time()
        while time.time() - t0 < 3.5:
            m = ws.recv(timeout=2 * SLACK)
            self.assertEqual(m["type"], "event", m)
            if m["topic"] == "dashboard":
                dash.append(m["data"])
                stamps.append(time.time())
            else:
                self.assertEqual(m["topic"], "workers")
                workers.append(m["data"])
        self.assertGreaterEqual(len(dash), 3, dash)
        self.assertGreaterEqual(len(workers), 3)
        for a, b in zip(stamps, stamps[1:]):
            self.assertLess(b - a, 1.5 * SLACK)
        d = dash[-1]
        self.assertEqual(set(d), {"jobs_24h", "active_jobs", "workers", "recent_jobs", "time",
                                  "system", "health"})
        self.assertEqual(set(d["jobs_24h"]), {"total", "completed", "failed", "cancelled",
                                              "queued", "processing", "avg_processing_s",
                                              "succeeded_pct"})
        self.assertEqual(set(d["workers"]), {"total", "online", "busy", "draining", "offline"})
        self.assertGreaterEqual(d["workers"]["online"], 1)
        self.assertLessEqual(len(d["recent_jobs"]), 10)
        wetest.parse_time(d["time"])
        # the same workers GET /v1/workers lists
        rest = self.d.get("/v1/workers", headers=basic("viewer")).json()["workers"]
        self.assertEqual(sorted(w["id"] for w in workers[-1]["workers"]),
                         sorted(w["id"] for w in rest))
        wid = rest[0]["id"]
        self.subscribe(ws, "worker:" + wid, "w1")
        m, _ = ws.wait_for(lambda m: m.get("topic") == "worker:" + wid, timeout=3 * SLACK)
        self.assertEqual(m["data"]["id"], wid)

    def test_job_events_and_restart(self):
        ws = self.connect()
        self.subscribe(ws, "jobs", "j")
        r = self.d.post("/v1/jobs", {"source_url": self.clip, "profile": "1080p_h264",
                                     "profile_overrides": SLOW}, headers=basic("operator"))
        self.assertEqual(r.status, 201, r.body)
        job_id = r.json()["id"]
        m, _ = ws.wait_for(lambda m: m.get("topic") == "jobs" and m["data"]["id"] == job_id)
        self.assertIn(m["data"]["status"], ("queued", "processing"))

        # a second tab follows just this job: snapshot first, as GET returns it
        ws2 = self.connect()
        self.subscribe(ws2, "job:" + job_id, "one")
        snap = ws2.recv()
        self.assertEqual(snap["type"], "event")
        self.assertEqual(snap["topic"], "job:" + job_id)
        rest = self.d.get("/v1/jobs/" + job_id, headers=basic("viewer")).json()
        self.assertEqual(set(snap["data"]), set(rest))
        # while processing: at least one event a second, progress moving
        stamps, progress = [], []
        deadline = time.time() + 120 * SLACK
        while len(progress) < 6:
            self.assertLess(time.time(), deadline, self.d.tail())
            m = ws2.recv(timeout=2 * SLACK)
            if m["data"]["status"] == "processing":
                stamps.append(time.time())
                progress.append(m["data"]["progress"])
            else:
                self.assertEqual(m["data"]["status"], "queued", m)
        for a, b in zip(stamps, stamps[1:]):
            self.assertLess(b - a, 1.5 * SLACK, stamps)
        # and at most 4 a second however often the worker reports
        self.assertLessEqual((len(stamps) - 1) / (stamps[-1] - stamps[0]), 4.5, stamps)
        self.assertGreaterEqual(progress[-1], progress[0])
        self.assertIn("eta_seconds", m["data"])

        # the service restarts mid-encode: the sockets close, a new one works
        # and the job topic continues where it was
        self.assertEqual(self.d.stop(), 0, self.d.tail())
        with self.assertRaises(Closed) as cm:
            ws2.wait_for(lambda m: False, timeout=10)
        self.assertEqual(cm.exception.code, 1001)
        self.d.start(require_worker=False)  # the resumed encode may take the one worker at once
        ws3 = self.connect()
        self.subscribe(ws3, "job:" + job_id, "again")
        final = None
        deadline = time.time() + 240 * SLACK
        while final is None:
            self.assertLess(time.time(), deadline, self.d.tail())
            m = ws3.recv(timeout=3 * SLACK)
            self.assertEqual(m["topic"], "job:" + job_id, m)
            if m["data"]["status"] in ("completed", "failed", "cancelled"):
                final = m["data"]
        self.assertEqual(final["status"], "completed", final)
        self.assertEqual(final["progress"], 100)


if __name__ == "__main__":
    wetest.main()
