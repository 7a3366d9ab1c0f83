#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The web dashboard (web/dist) in headless Chromium against a real
webencoded with auth-basic and real workers: an admin logs in, sees the
dashboard tick over the WebSocket, the error tracker reach POST /v1/errors,
two jobs submitted through the REST API reach "completed" live in the jobs
list and on a detail page (neither polls the job), the pipeline view; a
viewer on a phone-sized screen gets the drawer navigation, no cancel or
retry, no horizontal overflow, the live view coming back after webencoded
restarts (new ticket, re-subscribed), and a locale switch that survives a
reload. Single sign-on through a real OpenID provider (tests/oidc).
No console errors anywhere. Screenshots of every page at 1280x800 and
390x844 go to WE_SCREENSHOT_DIR (meson: meson-logs/screenshots)."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import webtest  # noqa: E402
from webtest import ADMIN, USERS, WEB_DIST, check_harness, wetest  # noqa: E402,F401


def run_dashboard_js(args, on_message=None, timeout=240):
    """Runs dashboard.js, answering its requests with on_message(msg) (a
    dict to send back); returns its report."""
    return webtest.run_driver("dashboard.js", args, on_message, timeout)


class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        check_harness()
        cls.d = webtest.start_daemon(workers=2, users=USERS)
        try:
            clip = wetest.make_clip(os.path.join(cls.d.media, "clip.mp4"), duration=4.0,
                                    width=640, height=360, fps=25, gop=25)
            r = cls.d.upload(clip, headers=ADMIN)
            assert r.status == 201, r.body
        except BaseException:
            cls.d.cleanup()
            raise
        cls.source = r.json()["url"]
        cls.shots = webtest.shots_dir()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def submit(self):
        r = self.d.post("/v1/jobs", {"source_url": self.source, "profile": "720p_h264"},
                        headers=ADMIN)
        self.assertEqual(r.status, 201, r.body)
        return r.json()["id"]

    def run_browser(self):
        jobs = []

        def answer(msg):
            if "need_job" in msg:
                jobs.append(self.submit())
                return {"job_id": jobs[-1]}
            if "need_restart" in msg:
                # the ASan build checks for leaks at exit: a clean stop is 0
                self.assertEqual(self.d.stop(), 0, self.d.tail(30))
                time.sleep(1)  # the page sees the socket closed and backs off
                self.d.start()
                return {"restarted": True}
            raise AssertionError("dashboard.js asked %r" % msg)

        report = run_dashboard_js(
            ["--base", "http://127.0.0.1:%d" % self.d.port,
             "--admin", webtest.creds("ada"), "--viewer", webtest.creds("vic"),
             "--shots", self.shots], answer)
        return jobs, report

    def test_dashboard(self):
        jobs, r = self.run_browser()
        print("screenshots in %s" % self.shots, file=sys.stderr)
        webtest.assert_clean(self, r, self.d)
        self.assertEqual(len(jobs), 2, r)
        # the REST API agrees with what the pages showed
        for job_id in jobs:
            self.assertEqual(self.d.get("/v1/jobs/" + job_id, headers=ADMIN).json()["status"],
                             "completed")
        self.assertEqual(r["statuses_seen_list"][-1], "completed", r)
        self.assertEqual(r["statuses_seen_detail"][-1], "completed", r)
        self.assertEqual(r["filter_failed_rows"], 0, r)
        self.assertEqual(r["filter_url"], "?status=completed&q=" + jobs[0][:8], r)
        t0, t1 = r["dashboard_ticks"]
        self.assertLess(t0, t1, r)  # ISO 8601 UTC stamps sort as text
        self.assertEqual(r["dashboard_workers_online"], "2", r)
        # the tracker's report was accepted, in the agreed shape
        self.assertLess(r["error_tracker"]["status"], 300, r["error_tracker"])
        body = r["error_tracker"]["body"]
        self.assertEqual(body["source_component"], "frontend")
        self.assertIn("we-dashboard-test-error", body["message"])
        self.assertTrue(body["context_data"]["url"].startswith("http://127.0.0.1:"), body)
        # admin: retry offered, no cancel on a finished job; outputs and tasks listed
        self.assertEqual(r["admin_detail"]["retry"], 1, r)
        self.assertEqual(r["admin_detail"]["cancel"], 0, r)
        self.assertGreaterEqual(r["admin_detail"]["outputs"], 1, r)
        self.assertGreaterEqual(r["admin_detail"]["tasks"], 2, r)  # scan + transcode
        self.assertEqual(r["admin_detail"]["progress"], "100", r)
        self.assertGreater(r["pipeline_elements"], 2, r)
        # viewer: neither cancel nor retry nor the pipeline view
        self.assertEqual(r["viewer_detail"], {"retry": 0, "cancel": 0, "pipeline_buttons": 0}, r)
        # phone layout: the nav is a drawer, nothing scrolls sideways
        self.assertTrue(r["phone_nav_hidden"], r)
        self.assertEqual(r["phone_overflow_free"], {"dashboard": True, "jobs": True,
                                                    "detail": True}, r)
        # over the restart: the socket closed, came back, ticks flow again
        states = r["ws_states_over_restart"]
        self.assertIn("closed", states, r)
        self.assertEqual(states[-1], "open", r)
        t0, t1 = r["dashboard_ticks_after_restart"]
        self.assertLess(t0, t1, r)
        self.assertEqual(r["locale_after_reload"], "de", r)
        self.assertEqual(r["german_back_link"], "Alle Aufträge", r)
        names = sorted(os.path.basename(s) for s in r["screenshots"])
        for page in ("login", "dashboard", "jobs", "job-detail"):
            self.assertIn("desktop-%s.png" % page, names)
            self.assertIn("phone-%s.png" % page, names)
        for s in r["screenshots"]:
            self.assertGreater(os.path.getsize(s), 5000, s)

    # The client sends X-Requested-With: XMLHttpRequest, so the service's 401
    # carries no Basic challenge and Chromium opens no dialog of its own over
    # the form, which shows the refusal.
    def test_wrong_password(self):
        r = run_dashboard_js(["--base", "http://127.0.0.1:%d" % self.d.port,
                              "--wrong-password", "ada", "--shots", self.shots])
        self.assertNotIn("error", r, r.get("error"))
        self.assertIn("Sign-in failed", r["wrong_password_error"])


class DashboardOidc(unittest.TestCase):
    """Single sign-on: the login page offers it when /v1/auth/config says so,
    the provider (tests/oidc, oidc-provider) runs its own login and consent
    forms, the dashboard takes the tokens from the URL fragment, works live
    with the bearer token, and logs out."""

    @classmethod
    def setUpClass(cls):
        check_harness()
        import test_auth_oidc
        cls.d, cls.provider = test_auth_oidc.oidc_daemon()
        cls.shots = webtest.shots_dir()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.provider.cleanup()

    def test_oidc_login(self):
        r = run_dashboard_js(["--base", "http://127.0.0.1:%d" % self.d.port, "--oidc", "ada",
                              "--shots", self.shots])
        webtest.assert_clean(self, r, self.d)
        self.assertEqual(r["oidc_role"], "admin", r)
        self.assertEqual(r["oidc_url_after"], "http://127.0.0.1:%d/" % self.d.port, r)
        self.assertEqual(r["oidc_stored"], "bearer", r)
        t0, t1 = r["dashboard_ticks"]
        self.assertLess(t0, t1, r)
        self.assertLess(r["oidc_logout_status"], 300, r)
        self.assertIsNone(r["oidc_stored_after_logout"], r)


if __name__ == "__main__":
    unittest.main()
