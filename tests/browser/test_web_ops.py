#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The dashboard's operations pages (web/src/pages/Workers, WorkerDetail,
Plugins, Audit, ErrorEvents and the dashboard's health card and charts) in
headless Chromium against a real webencoded with two real local workers and
auth-basic users: the charts draw points that grow with the 1 Hz
`dashboard` topic; the workers list shows both workers live; the admin
drains one (the row turns "draining" live and GET /v1/workers agrees) and
undrains it; the worker detail shows its capabilities; the plugins page
lists the loaded plugins, refuses to save invalid JSON, warns about inline
secrets and tests storage-fs; the audit log lists the drain and its CSV
export downloads a file holding it; a front-end error posted to
POST /v1/errors shows on the errors page and is marked resolved; the viewer
sees the workers read-only, no plugins/audit/errors entries and the
forbidden message on those URLs. Screenshots at 1280x800 and 390x844 in
WE_SCREENSHOT_DIR; any console error or unexpected HTTP error fails."""

import os
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import webtest  # noqa: E402
from webtest import ADMIN, USERS, check_harness, wetest  # noqa: E402


def run_driver(args, on_message, timeout=300):
    """Runs web-ops.js, answering its questions with on_message(msg);
    returns its report."""
    return webtest.run_driver("web-ops.js", args, on_message, timeout, hide=("csv",))


class WebOps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        check_harness()
        cls.d = webtest.start_daemon(workers=2, users=USERS)
        # both workers said hello (capabilities known) before the browser looks
        deadline = time.time() + 30 * wetest.TIME_FACTOR
        while time.time() < deadline:
            ws = cls.d.get("/v1/workers", headers=ADMIN).json()["workers"]
            if len(ws) == 2 and all(w.get("capabilities") for w in ws):
                break
            time.sleep(0.2)
        cls.shots = webtest.shots_dir()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def answer(self, msg):
        if msg["ask"] == "worker":
            r = self.d.get("/v1/workers/" + msg["id"], headers=ADMIN)
            self.assertEqual(r.status, 200, r.body)
            return r.json()
        if msg["ask"] == "plugins":
            return {"status": self.d.get("/v1/plugins", headers=ADMIN).status}
        if msg["ask"] == "report_error":
            self.error_message = "we-web-ops-%s" % uuid.uuid4().hex[:8]
            r = self.d.post("/v1/errors", {
                "source_component": "frontend", "severity": "error",
                "message": self.error_message,
                "stack_trace": "Error: %s\n    at opsTest (ops.js:1:1)" % self.error_message,
                "context_data": {"url": "http://127.0.0.1/ops-test"}})
            self.assertEqual(r.status, 201, r.body)
            return {"id": r.json()["id"], "message": self.error_message}
        raise AssertionError("web-ops.js asked %r" % msg)

    def test_ops_pages(self):
        r = run_driver(["--base", "http://127.0.0.1:%d" % self.d.port,
                        "--admin", webtest.creds("ada"), "--viewer", webtest.creds("vic"),
                        "--shots", self.shots], self.answer)
        print("screenshots in %s" % self.shots, file=sys.stderr)
        webtest.assert_clean(self, r, self.d)

        # dashboard: the charts grew with the ticks and drew a line
        dash = r["dashboard"]
        p0, p1 = dash["points"]
        self.assertGreaterEqual(p1, p0 + 3, dash)
        self.assertGreaterEqual(dash["jobs_points"], p1, dash)
        self.assertTrue(dash["line_path"].startswith("M"), dash)
        # the system/health members (when the service sends them) are drawn
        snap = self.dashboard_event()
        if "system" in snap:
            self.assertGreater(dash["cpu_points"], 0, dash)
            # local workers report the machine's resources: mini-charts drawn
            self.assertGreaterEqual(r["detail"]["cpu_chart_points"], 2, r["detail"])
        else:
            self.assertEqual(dash["cpu_points"], 0, dash)
        if "health" in snap:
            self.assertEqual(dash["health_reported"], "true", dash)
            self.assertEqual(dash["database"], "ok", dash)
        else:
            self.assertEqual(dash["database"], "unknown", dash)
        # the samples outlived the visit to the other pages (a fresh store
        # would hold one or two)
        self.assertGreaterEqual(r["points_after_return"], p1, r)

        # workers: both listed live, the admin may drain and remove
        ids = sorted(w["id"] for w in r["workers"])
        self.assertEqual(ids, ["local-1", "local-2"], r["workers"])
        for w in r["workers"]:
            self.assertIn(w["status"], ("online", "busy"), w)
            self.assertTrue(w["drain"] and w["remove"], w)
        self.assertEqual(r["rest_after_drain"], "draining", r)
        self.assertEqual(r["rest_after_undrain"], "online", r)
        now = self.d.get("/v1/workers/" + r["drained_id"], headers=ADMIN).json()
        self.assertEqual(now["status"], "online", now)
        # the detail page shows what the worker announced
        caps = self.d.get("/v1/workers/" + r["workers"][1]["id"], headers=ADMIN).json()["capabilities"]
        for codec in caps["video_codecs"]:
            self.assertIn(codec, r["detail"]["video"], r["detail"])
        self.assertEqual(r["detail"]["cores"], str(caps["cores"]), r["detail"])
        self.assertEqual(r["detail"]["drain"], 1, r["detail"])

        # plugins (the page needs GET /v1/plugins; until the service has
        # it, the page shows the API's error)
        if r["plugins_status"] == 200:
            listed = self.d.get("/v1/plugins", headers=ADMIN).json()["plugins"]
            self.assertEqual(sorted(r["plugin_ids"]), sorted(p["id"] for p in listed), r)
            self.assertIn("storage-fs", r["plugin_ids"])
            self.assertTrue(r["invalid_json_save_disabled"], r)
            self.assertTrue(r["secret_warning"], r)
            self.assertIn("WE-PLG-003", r["plugin_save_error"])
            # nothing was stored
            fs = self.d.get("/v1/plugins/storage-fs", headers=ADMIN).json()
            self.assertNotIn("password", fs["config"], fs)
            self.assertEqual(r["plugin_test_ok"], "true", r["plugin_test_text"])
        else:
            self.assertEqual(r["plugins_status"], 404, r)

        # audit: the drain listed, and in the CSV the browser saved
        # undrain shares drain's RBAC action, so both are "worker.drain" lines
        self.assertEqual(r["audit_rows"].count(["worker.drain", "worker/" + r["drained_id"]]), 2,
                         r["audit_rows"])
        self.assertTrue(all(a.startswith("worker.") for a, _ in r["audit_rows"]), r)
        self.assertEqual(r["csv_name"], "audit.csv")
        rows = [line for line in r["csv"].splitlines() if "worker.drain" in line]
        self.assertTrue(rows and r["drained_id"] in rows[0], r["csv"][:2000])

        # errors: shown with its stack, resolved, and the API agrees
        self.assertIn("at opsTest", r["error_detail"])
        errs = self.d.get("/v1/errors?resolved=true", headers=ADMIN).json()["errors"]
        mine = [e for e in errs if e["id"] == r["error_id"]]
        self.assertEqual(len(mine), 1, errs)
        self.assertEqual(mine[0]["resolved_by"], "ada", mine)

        # phone: nothing scrolls sideways
        for page, ok in r["overflow"].items():
            self.assertTrue(ok, "%s overflows at 390px" % page)

        # viewer: workers read-only, no admin pages
        for href in ("/settings/plugins", "/settings/audit", "/settings/errors"):
            self.assertNotIn(href, r["viewer_nav"], r["viewer_nav"])
            self.assertIn("does not allow", r["viewer_forbidden"][href])
        self.assertIn("/workers", r["viewer_nav"])
        self.assertEqual(len(r["viewer_workers"]), 2)
        for w in r["viewer_workers"]:
            self.assertFalse(w["drain"] or w["remove"], w)

        names = sorted(os.path.basename(s) for s in r["screenshots"])
        for page in ("dashboard", "workers", "worker-detail", "plugins", "audit", "errors"):
            self.assertIn("desktop-%s.png" % page, names)
            self.assertIn("phone-%s.png" % page, names)
        for s in r["screenshots"]:
            self.assertGreater(os.path.getsize(s), 5000, s)

    def dashboard_event(self):
        """One `dashboard` event, read over the WebSocket like the page."""
        from wsclient import WsClient
        ws = WsClient(self.d.port, "/v1/ws", headers=ADMIN)
        try:
            ws.recv()  # hello
            ws.send_json({"type": "subscribe", "topic": "dashboard", "id": "d1"})
            ev, _ = ws.wait_for(lambda m: m.get("type") == "event" and m.get("topic") == "dashboard")
            return ev["data"]
        finally:
            ws.close()


if __name__ == "__main__":
    unittest.main()
