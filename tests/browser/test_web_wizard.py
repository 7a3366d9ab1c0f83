#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The new-job wizard and the profile pages of the web dashboard (web/dist)
in headless Chromium (web-wizard.js) against a real webencoded with real
workers and auth-basic users: the admin uploads a clip generated here (3 s,
320x240, with audio) through the wizard, watches the upload bar reach 100 %,
double-clicks Submit (one job: Idempotency-Key) and follows the job to
"completed" live on its page; a second job from the storage browser picking
the uploaded file with a custom profile; a source the service refuses shown
on step 1; a built-in profile duplicated, its bitrate and ladder edited,
saved and reloaded (and in GET /v1/profiles/{id}); another duplicated and
deleted. A viewer on a phone sees no New-job button and the profiles
read-only. Screenshots of every wizard step and the profile pages at
1280x800 and 390x844 go to WE_SCREENSHOT_DIR; no console errors."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import webtest  # noqa: E402
from webtest import ADMIN, USERS, check_harness, wetest  # noqa: E402


def run_driver(args, timeout=420):
    """Runs web-wizard.js and returns its report."""
    return webtest.run_driver("web-wizard.js", args, timeout=timeout)


class Wizard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        check_harness()
        cls.d = webtest.start_daemon(workers=2, users=USERS)
        # the clip the browser uploads: made here, outside the browse roots
        cls.clip = wetest.make_clip(os.path.join(cls.d.tmp, "wizard-clip.mp4"), duration=3.0,
                                    width=320, height=240, fps=25, gop=25)
        # the upload cancelled half-way: 8 MiB take two minutes on the throttled line
        cls.cancel_clip = os.path.join(cls.d.tmp, "wizard-cancelled.mp4")
        with open(cls.cancel_clip, "wb") as f:
            f.write(os.urandom(8 << 20))
        cls.shots = webtest.shots_dir()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def job_count(self):
        return self.d.get("/v1/jobs?limit=1", headers=ADMIN).json()["total"]

    def test_wizard_and_profiles(self):
        before = self.job_count()
        r = run_driver(["--base", "http://127.0.0.1:%d" % self.d.port,
                        "--admin", webtest.creds("ada"), "--viewer", webtest.creds("vic"),
                        "--clip", self.clip, "--cancel-clip", self.cancel_clip,
                        "--shots", self.shots])
        print("screenshots in %s" % self.shots, file=sys.stderr)
        webtest.assert_clean(self, r, self.d)
        # exactly the two refusals provoked on purpose
        self.assertEqual(r["expected_http_errors"], ["desktop: 400 POST /v1/jobs",
                                                     "desktop: 409 POST /v1/profiles"], r)

        # step 1: the scheme check stays in the browser
        self.assertEqual(r["client_scheme_step"], "1", r)
        self.assertIn("s3://", r["client_scheme_error"])
        # the upload: the real bar went to 100 %, the source is the stored object
        self.assertEqual(r["upload_bar_final"], "100", r)
        self.assertEqual(r["upload_progress"][-1], 100, r)
        self.assertEqual(r["upload_progress"], sorted(r["upload_progress"]), r)
        self.assertTrue([v for v in r["upload_progress"] if 0 < v < 100], r["upload_progress"])
        # the cancelled upload gave no source and left nothing in storage: the
        # stored uploads are the two that finished (this one, the phone's)
        self.assertEqual(r["cancelled_source"], "none yet", r)
        if self.d.s3 is None:
            stored = []
            for root, _, files in os.walk(self.d.stored_dir("uploads")):
                stored += [os.path.join(root, f) for f in files]
            self.assertEqual(sorted(os.path.basename(f) for f in stored),
                             ["wizard-clip.mp4"] * 2, stored)
        self.assertTrue(r["uploaded_url"].startswith("fs://uploads/"), r)
        self.assertTrue(r["uploaded_url"].endswith("/wizard-clip.mp4"), r)
        self.assertEqual(r["review_source"], r["uploaded_url"], r)
        with open(self.d.stored_path(r["uploaded_url"]), "rb") as f, open(self.clip, "rb") as g:
            self.assertEqual(f.read(), g.read())
        self.assertIn("854×480", r["profile_card_summary"])

        # the double-clicked submit made one job; both wizard jobs and the refused one
        # each sent one key; the upload job is followed live (fetched once, no polling)
        self.assertEqual(self.job_count() - before, 2)
        keys = r["idempotency_keys"]
        self.assertTrue(all(keys), keys)
        self.assertEqual(len(set(keys)), 3, keys)
        self.assertLessEqual(len(keys), 4, keys)
        self.assertEqual([s[-1] for s in r["statuses_seen"]], ["completed", "completed"], r)
        self.assertLessEqual(r["upload_job_gets"], 2, r)
        job = self.d.get("/v1/jobs/" + r["upload_job"], headers=ADMIN).json()
        self.assertEqual(job["status"], "completed", job)
        self.assertEqual(job["source_url"], r["uploaded_url"])
        self.assertEqual(job["profile"], "480p_fast")
        self.assertEqual(job["priority"], 70)
        # the storage browser's pick, with the custom profile
        self.assertEqual(r["browse_picked"], r["uploaded_url"], r)
        self.assertEqual(r["review_profile"], "Custom", r)
        job = self.d.get("/v1/jobs/" + r["browse_job"], headers=ADMIN).json()
        self.assertEqual(job["status"], "completed", job)
        self.assertEqual(job["source_url"], r["uploaded_url"])
        self.assertTrue(job["output_config"].get("custom_profile"), job["output_config"])
        custom = job["output_config"]["profile"]
        self.assertEqual((custom["width"], custom["height"], custom["video_bitrate_kbps"],
                          custom["preset"]), (320, 240, 600, "ultrafast"), custom)

        # the refused source: back on step 1, the server's words inline
        self.assertEqual(r["server_error"]["step"], "1", r)
        self.assertIn("WE-JOB-002", r["server_error"]["banner"], r)
        self.assertTrue(r["server_error"]["inline"], r)

        # profiles
        self.assertGreaterEqual(r["profiles_rows"], 6, r)
        self.assertEqual(r["builtin_delete_buttons"], 0, r)
        self.assertEqual(r["builtin_editor"], {"readonly": "true", "save": 0,
                                               "duplicate": "Duplicate to edit"}, r)
        self.assertEqual(r["copy_id"], "720p_h264_copy", r)
        self.assertIn("even", r["client_field_error"])
        self.assertEqual(r["after_reload"], {"video_bitrate_kbps": "1800",
                                             "rung0": ["sd360", "640", "360", "800"],
                                             "rung1_enabled": False}, r)
        p = self.d.get("/v1/profiles/720p_h264_copy", headers=ADMIN).json()
        self.assertEqual(p["video_bitrate_kbps"], 1800, p)
        self.assertFalse(p["builtin"], p)
        self.assertEqual([(x["name"], x["width"], x["height"], x["video_bitrate_kbps"], x["enabled"])
                          for x in p["ladder"]],
                         [("sd360", 640, 360, 800, True), ("hd720", 1280, 720, 2500, False)], p)
        self.assertTrue(r["server_field_error"], r)
        self.assertEqual(self.d.get("/v1/profiles/" + r["deleted_profile"],
                                    headers=ADMIN).status, 400)

        # phone: the stepper's "Step n of 4", nothing wider than the screen
        self.assertTrue(r["phone_step_of"].startswith("Step 1 of 4"), r)
        self.assertTrue(r["phone_review_hls"].startswith("Yes"), r)
        self.assertEqual(set(r["overflow"].values()), {True}, r["overflow"])
        # the viewer: no New-job button, no wizard, profiles read-only
        self.assertEqual(r["viewer_new_job_buttons"], 0, r)
        self.assertTrue(r["viewer_wizard_forbidden"], r)
        self.assertEqual(r["viewer_profiles"], {"new": 0, "duplicate": 0, "delete": 0}, r)
        self.assertEqual(r["viewer_editor"], {"readonly": "true", "save": 0, "duplicate": 0,
                                              "bitrate_disabled": True, "rung_disabled": True,
                                              "enabled_inputs": 0}, r)

        names = sorted(os.path.basename(s) for s in r["screenshots"])
        for shot in ("wizard-1-url", "wizard-1-upload", "wizard-1-browse", "wizard-2-profile",
                     "wizard-3-output", "wizard-4-review", "profiles"):
            self.assertIn("desktop-%s.png" % shot, names)
            self.assertIn("phone-%s.png" % shot, names)
        for shot in ("desktop-profile-editor.png", "desktop-profile-builtin.png",
                     "desktop-wizard-error.png", "phone-profile-editor.png"):
            self.assertIn(shot, names)
        for s in r["screenshots"]:
            self.assertGreater(os.path.getsize(s), 5000, s)


if __name__ == "__main__":
    unittest.main()
