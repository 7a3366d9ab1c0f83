#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every page of the web dashboard, in headless Chromium against a real
webencoded with real workers and a finished job: as an admin and as a
viewer, at 1280x800 and on a 390x844 phone, and as an admin in each of
the five locales. No page may log a console error or make a request that
fails, scroll sideways, stay "loading", or show a message key instead of
its text; pages an admin may see show their heading to the admin, and
the admin-only ones show the viewer the forbidden notice instead.
Screenshots of every page at both sizes go to WE_SCREENSHOT_DIR."""

import json
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import webtest  # noqa: E402
from webtest import ADMIN, wetest  # noqa: E402
import test_dashboard  # noqa: E402  (the daemon set-up with a clip)


class Pages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        webtest.check_harness()
        test_dashboard.Dashboard.setUpClass.__func__(cls)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_every_page(self):
        r = self.d.post("/v1/jobs", {"source_url": self.source, "profile": "720p_h264"},
                        headers=ADMIN)
        self.assertEqual(r.status, 201, r.body)
        job_id = r.json()["id"]
        deadline = time.time() + 240 * wetest.TIME_FACTOR
        while True:
            job = self.d.get("/v1/jobs/" + job_id, headers=ADMIN).json()
            if job["status"] in ("completed", "failed", "cancelled") or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(job["status"], "completed", (job, self.d.tail(30)))
        workers = self.d.get("/v1/workers", headers=ADMIN).json()["workers"]
        self.assertTrue(workers)
        profile = self.d.get("/v1/profiles", headers=ADMIN).json()["profiles"][0]["id"]
        # the studio needs a stream (offline: no live parts)
        r = self.d.post("/v1/streams", {"title": "Pages test stream"}, headers=ADMIN)
        self.assertEqual(r.status, 201, r.body)
        stream_id = r.json()["id"]
        # a restream that waits for its schedule (a day ahead: never started here)
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
        r = self.d.post("/v1/restreams", {
            "title": "Pages test restream", "input_type": "file", "input_url": job["source_url"],
            "schedule_type": "scheduled", "schedule_config": {"at": at},
            "output_destinations": [{"platform": "custom",
                                     "url": "rtmp://127.0.0.1:9/live/pages-key"}]},
            headers=ADMIN)
        self.assertEqual(r.status, 201, r.body)
        restream_id = r.json()["id"]
        routes = [
            ["dashboard", "/", "viewer"],
            ["jobs", "/jobs", "viewer"],
            ["new-job", "/jobs/new", "operator"],
            ["job-detail", "/jobs/" + job["id"], "viewer"],
            ["workers", "/workers", "viewer"],
            ["worker-detail", "/workers/" + urllib.parse.quote(workers[0]["id"], safe=""),
             "viewer"],
            ["profiles", "/settings/profiles", "viewer"],
            ["profile-new", "/settings/profiles/new", "admin"],
            ["profile-edit", "/settings/profiles/" + profile, "viewer"],
            ["plugins", "/settings/plugins", "admin"],
            ["audit", "/settings/audit", "admin"],
            ["errors", "/settings/errors", "admin"],
            ["webhooks", "/settings/webhooks", "admin"],
            ["tokens", "/settings/tokens", "admin"],
            ["streams", "/streams", "viewer"],
            ["stream-new", "/streams/new", "operator"],
            ["stream-studio", "/streams/" + stream_id, "viewer"],
            ["restreams", "/restreams", "viewer"],
            ["restream-new", "/restreams/new", "operator"],
            ["restream-detail", "/restreams/" + restream_id, "viewer"],
            ["not-found", "/no/such/page", "viewer"],
        ]
        report = webtest.run_driver(
            "web-pages.js",
            ["--base", "http://127.0.0.1:%d" % self.d.port,
             "--admin", webtest.creds("ada"), "--viewer", webtest.creds("vic"),
             "--shots", self.shots, "--routes", json.dumps(routes)],
            timeout=600, hide=("visits",))
        print("screenshots in %s" % self.shots, file=sys.stderr)
        self.assertNotIn("error", report, report.get("error"))
        least = {name: who for name, _, who in routes}
        problems = []
        for v in report["visits"]:
            where = "%s %s" % (v["label"], v.get("route", v["name"]))
            if v["console_errors"]:
                problems.append("%s: console errors %s" % (where, v["console_errors"]))
            if v["http_errors"]:
                problems.append("%s: failed requests %s" % (where, v["http_errors"]))
            if v["name"] == "(between pages)":
                continue
            if v.get("overflow"):
                problems.append("%s: scrolls sideways (%d px)" % (where, v["scroll_width"]))
            if v.get("still_loading"):
                problems.append("%s: still loading" % where)
            if v.get("ws_not_open"):
                problems.append("%s: live connection not open" % where)
            if v.get("key_shown"):
                problems.append("%s: shows the message key %s" % (where, v["key_shown"]))
            viewer = v["label"].startswith("viewer")
            if v["name"] != "not-found":
                if viewer and least[v["name"]] != "viewer":
                    if not v["forbidden"]:
                        problems.append("%s: a viewer is not told it is forbidden" % where)
                elif not v["h1"]:
                    problems.append("%s: no heading" % where)
                elif v["forbidden"]:
                    problems.append("%s: forbidden for a role that may see it" % where)
        self.assertEqual(problems, [], "\n".join(problems))
        self.assertEqual(len(report["visits"]), 8 * len(routes))
        names = {os.path.basename(s) for s in report["screenshots"]}
        for name, _, _ in routes:
            for size in ("desktop", "phone"):
                self.assertIn("%s-%s.png" % (size, name), names)


if __name__ == "__main__":
    unittest.main()
