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

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import wetest  # noqa: E402
from test_dashboard import WEB_DIST, check_harness  # noqa: E402

USERS = {"ada": ("ada-secret", "admin"), "vic": ("vic-secret", "viewer")}
ADMIN = {"Authorization": "Basic " + base64.b64encode(b"ada:ada-secret").decode()}


def run_driver(args, on_message, timeout=300):
    """Runs web-ops.js, answering its questions with on_message(msg);
    returns its report."""
    cmd = ["node", os.path.join(HERE, "web-ops.js")] + args
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    report = None
    deadline = time.time() + timeout * wetest.TIME_FACTOR
    try:
        for line in p.stdout:
            msg = json.loads(line)
            print("web-ops.js:", line.strip()[:300], file=sys.stderr)
            if "report" in msg:
                report = msg["report"]
            elif "ask" in msg:
                p.stdin.write(json.dumps(on_message(msg)) + "\n")
                p.stdin.flush()
            if time.time() > deadline:
                break
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stdin.close()
        p.stdout.close()
    if report is None:
        raise AssertionError("web-ops.js exited %d without a report" % p.returncode)
    shown = dict(report)
    shown.pop("csv", None)
    print("report: %s" % json.dumps(shown, indent=1), file=sys.stderr)
    return report


class WebOps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        check_harness()
        d = wetest.Daemon(workers=2)
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user, (pw, _) in USERS.items():
                crypt = subprocess.run(["openssl", "passwd", "-6", pw], check=True,
                                       capture_output=True, text=True).stdout
                f.write("%s:%s\n" % (user, crypt.strip()))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": ";".join("%s=%s" % (u, r)
                                                   for u, (_, r) in USERS.items()),
            "WE_WEB_DIR": WEB_DIST,
        }
        try:
            cls.d = d.start()
        except BaseException:
            d.cleanup()
            raise
        # both workers said hello (capabilities known) before the browser looks
        deadline = time.time() + 30 * wetest.TIME_FACTOR
        while time.time() < deadline:
            ws = cls.d.get("/v1/workers", headers=ADMIN).json()["workers"]
            if len(ws) == 2 and all(w.get("capabilities") for w in ws):
                break
            time.sleep(0.2)
        cls.shots = os.environ.get("WE_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="we-shots-")

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
                        "--admin", "ada:" + USERS["ada"][0], "--viewer", "vic:" + USERS["vic"][0],
                        "--shots", self.shots], self.answer)
        print("screenshots in %s" % self.shots, file=sys.stderr)
        self.assertNotIn("error", r, (r.get("error"), r.get("failure_pages"), self.d.tail(30)))
        self.assertEqual(r["console_errors"], [], r)
        self.assertEqual(r["http_errors"], [], r)

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
