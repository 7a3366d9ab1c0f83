#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The restream pages (web/src/pages/Restream*.tsx) in headless Chromium
against a real webencoded with auth-basic users (admin, operator, viewer)
whose restream worker publishes to a real nginx-rtmp server
(tests/integration/wenginx.py, recording every publish to FLV):

an operator creates a restream of a 3 s looped clip (generated) to one
nginx destination through the form (a second destination row added and
removed again, the recurring schedule's human summary read, then a
schedule a day ahead so that the Start button starts it); the answer and
every GET carry the destination URL masked only; Start → the destination
row shows state live and a bitrate > 0 within 10 s while the nginx
recording grows; a destination added through the dialog and removed again;
disable → state disabled, the recording stops growing; Stop → status
stopped; the list shows it; a phone has no sideways scrolling; a viewer
sees no Start/Stop/Delete/destination actions and cannot open the form;
Delete removes it from the API. Screenshots 1280x800 and 390x844 in
WE_SCREENSHOT_DIR; any console error or failed request fails."""

import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import webtest  # noqa: E402
import wenginx  # noqa: E402
import wetest  # noqa: E402

USERS = {"ada": ("ada-secret", "admin"), "olga": ("olga-secret", "operator"),
         "vic": ("vic-secret", "viewer")}
ADMIN = webtest.basic("ada", USERS)
# the destination's stream key: a secret the pages must never show
KEY = "webkeySECRET7f3e9a21"


class WebRestreams(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        webtest.check_harness()
        if not wenginx.available():
            if os.environ.get("WE_TEST_NO_SKIP"):
                raise AssertionError("nginx with libnginx-mod-rtmp is not installed")
            raise unittest.SkipTest("nginx with libnginx-mod-rtmp is not installed")
        cls.tmp = tempfile.mkdtemp(prefix="we-web-restream-")
        cls.clip = wetest.make_clip(os.path.join(cls.tmp, "clip.mp4"), duration=3, fps=25,
                                    width=320, height=240)
        cls.nginx = wenginx.NginxRtmp(os.path.join(cls.tmp, "nginx")).start()
        # the clip's folder is one the storage lets restreams read
        cls.d = webtest.start_daemon(workers=1, users=USERS,
                                     extra_env={"WE_PLUGIN_STORAGE_FS_BROWSE_ROOTS": cls.tmp})
        cls.shots = webtest.shots_dir()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.nginx.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def recorded(self):
        """Bytes nginx recorded of the destination's key so far."""
        return sum(os.path.getsize(f) for f in self.nginx.recordings()
                   if os.path.basename(f).startswith(KEY))

    def answer(self, msg):
        if msg.get("q") == "recorded":
            return {"bytes": self.recorded(), "files": len(self.nginx.recordings())}
        if msg.get("q") == "api":
            r = self.d.get("/v1/restreams/" + msg["id"], headers=ADMIN)
            return {"status": r.status, "body": r.json() if r.status == 200 else None}
        if msg.get("q") == "sleep":
            time.sleep(msg["s"])
            return {}
        raise AssertionError("unknown question %r" % msg)

    def test_restream_pages(self):
        r = webtest.run_driver(
            "web-restreams.js",
            ["--base", "http://127.0.0.1:%d" % self.d.port,
             "--operator", webtest.creds("olga", USERS), "--viewer", webtest.creds("vic", USERS),
             "--clip", self.clip, "--dest", self.nginx.url(KEY),
             "--dest2", self.nginx.url("second" + KEY), "--key", KEY,
             "--shots", self.shots], on_message=self.answer, timeout=240)
        print("screenshots in %s" % self.shots, file=sys.stderr)
        webtest.assert_clean(self, r, self.d)
        self.assertIn("/restreams", r["operator_nav"])

        # the form: rows added and removed, the cron summary, the request sent
        self.assertEqual(r["dest_rows_after_add"], 2)
        self.assertEqual(r["dest_rows_after_remove"], 1)
        self.assertEqual(r["cron_summary"], "Every Friday at 20:00")
        self.assertEqual(r["cron_summary_steps"], "Every 15 minutes")
        self.assertEqual(r["create_status"], 201)
        sent = r["create_request"]
        self.assertEqual(sent["input_type"], "file")
        self.assertEqual(sent["input_url"], self.clip)
        self.assertEqual(sent["output_destinations"], [{"url": self.nginx.url(KEY),
                                                        "platform": "custom", "enabled": True}])
        self.assertEqual(sent["schedule_type"], "scheduled")
        self.assertTrue(sent["schedule_config"]["at"].endswith("Z"), sent)
        self.assertTrue(sent["loop_enabled"])
        self.assertTrue(sent["simulate_live"])
        created = r["created"]
        self.assertEqual(created["status"], "stopped", "scheduled a day ahead: not started yet")
        self.assertTrue(r["detail_url"].endswith("/restreams/" + created["id"]))
        # masked everywhere: the answer, every GET, the pages' text
        self.assertNotIn(KEY, str(created))
        self.assertIn("****" + KEY[-4:], created["output_destinations"][0]["url"])
        self.assertEqual(r["bodies_with_key"], [])
        self.assertFalse(r["key_in_page"])
        self.assertEqual(r["dest_url_shown"], created["output_destinations"][0]["url"])

        # Start: live with a bitrate within 10 s, and nginx records it growing
        self.assertEqual(r["live"]["state"], "live")
        self.assertGreater(float(r["live"]["bitrate"]), 0)
        self.assertLess(r["live"]["seconds"], 10.0)
        self.assertGreater(r["recorded"][1], r["recorded"][0], r["recorded"])
        self.assertGreater(r["recorded"][0], 0)
        self.assertEqual(r["detail_status_running"], "streaming")

        # the dialog's destination, added and removed
        self.assertEqual(r["rows_after_dialog"], 2)
        self.assertIn("****" + KEY[-4:], r["added_url"])
        self.assertEqual(r["rows_after_remove"], 1)

        # disabled: the row says so, the API agrees, the recording stops
        self.assertEqual(r["disabled_state"], "disabled")
        api = r["api_after_disable"]["body"]
        self.assertFalse(api["output_destinations"][0]["enabled"], api)
        self.assertEqual(r["recorded_disabled"][1], r["recorded_disabled"][0], r["recorded_disabled"])

        self.assertEqual(r["stopped_status"], "stopped")
        self.assertEqual(r["api_after_stop"]["body"]["status"], "stopped")
        self.assertEqual(r["list_row"], {"status": "stopped", "dests": "1"})

        for name, facts in r["overflow"].items():
            self.assertFalse(facts["overflow"], (name, facts))
        for label in ("viewer", "viewer-phone"):
            v = r["viewer"][label]
            self.assertEqual(v["nav"], 1, v)
            self.assertEqual(v["new_button"], 0, v)
            self.assertEqual(v["actions"], 0, v)
            self.assertEqual(v["toggles_enabled"], 0, v)
            self.assertTrue(v["new_forbidden"], v)
            self.assertFalse(v["overflow"]["overflow"], v)

        self.assertEqual(r["delete_status"], 204)
        self.assertEqual(r["rows_after_delete"], 0)
        self.assertEqual(self.d.get("/v1/restreams/" + created["id"], headers=ADMIN).status, 404)

        names = sorted(os.path.basename(s) for s in r["screenshots"])
        for page in ("restreams", "restream-new", "restream-detail"):
            self.assertIn("desktop-%s.png" % page, names)
            self.assertIn("phone-%s.png" % page, names)
        for s in r["screenshots"]:
            self.assertGreater(os.path.getsize(s), 5000, s)


if __name__ == "__main__":
    unittest.main()
