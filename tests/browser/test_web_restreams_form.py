#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The new-restream form (web/src/pages/RestreamNew.tsx) through every
input and schedule kind, in headless Chromium against a real webencoded
with auth-basic users whose restream workers publish to a real nginx-rtmp
server (tests/integration/wenginx.py, recording every publish to FLV):

- a playlist of two generated clips, typed in the wrong order and put right
  with the editor (add, move up/down, remove; the last row cannot be
  removed), immediate: the request carries `input_type: file` with the
  playlist, the detail page lists both items, it goes streaming, nginx
  records it, and it stops by itself at the end of the playlist;
- one of our streams (created through the API, not live): the detail page
  shows the worker's error while the service retries, Stop stops it;
- a file scheduled a few seconds ahead: stopped when created, streaming on
  its own at that time (not before), then stopped;
- a file recurring by cron: the detail page's human summary, the stored
  schedule_config read back from the API;
- a file, immediate and looped: a destination live with a bitrate;
- the output of a completed VOD job (made through the API first), picked
  from the job list: streaming to nginx;
then the list names each input kind, and on a phone (390x844) the form's
widest states and the playlist's detail page have no sideways scrolling.
Screenshots 1280x800 and 390x844 in WE_SCREENSHOT_DIR; any console error or
failed request fails."""

import calendar
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

USERS = {"ada": ("ada-secret", "admin"), "olga": ("olga-secret", "operator")}
ADMIN = webtest.basic("ada", USERS)
# each case's stream key on nginx: secret-looking, never shown unmasked
KEYS = {k: "form%sKEY4c1d9e" % k for k in ("pl", "st", "sc", "im", "vj")}
# which key each case of the driver publishes to (recurring never starts here)
CASE_KEY = {"playlist": "pl", "stream": "st", "scheduled": "sc", "recurring": "sc",
            "immediate": "im", "vod_job": "vj", "ingest": "st"}
CLIP_S = 3


class WebRestreamForm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        webtest.check_harness()
        if not wenginx.available():
            if os.environ.get("WE_TEST_NO_SKIP"):
                raise AssertionError("nginx with libnginx-mod-rtmp is not installed")
            raise unittest.SkipTest("nginx with libnginx-mod-rtmp is not installed")
        cls.tmp = tempfile.mkdtemp(prefix="we-web-restream-form-")
        cls.nginx = None
        cls.d = None
        try:
            cls.clip_a = wetest.make_clip(os.path.join(cls.tmp, "a.mp4"), duration=CLIP_S,
                                          fps=25, width=320, height=240)
            cls.clip_b = wetest.make_clip(os.path.join(cls.tmp, "b.mp4"), duration=CLIP_S,
                                          fps=25, width=256, height=144, pattern="ball")
            cls.nginx = wenginx.NginxRtmp(os.path.join(cls.tmp, "nginx")).start()
            # the clips' folder is one the storage lets restreams read
            cls.d = webtest.start_daemon(
                workers=1, users=USERS,
                extra_env={"WE_PLUGIN_STORAGE_FS_BROWSE_ROOTS": cls.tmp})
            # a stream of ours (never live here) and a completed job
            r = cls.d.post("/v1/streams", {"title": "Form test stream"}, headers=ADMIN)
            assert r.status == 201, r.body
            cls.stream_id = r.json()["id"]
            r = cls.d.upload(cls.clip_a, headers=ADMIN)
            assert r.status == 201, r.body
            r = cls.d.post("/v1/jobs", {"source_url": r.json()["url"], "profile": "480p_fast"},
                           headers=ADMIN)
            assert r.status == 201, r.body
            cls.job_id = r.json()["id"]
            deadline = time.time() + 120 * wetest.TIME_FACTOR
            while True:
                job = cls.d.get("/v1/jobs/" + cls.job_id, headers=ADMIN).json()
                if job["status"] in ("completed", "failed", "cancelled") or time.time() > deadline:
                    break
                time.sleep(0.2)
            assert job["status"] == "completed", (job, cls.d.tail(30))
        except BaseException:
            cls.tearDownClass()
            raise
        cls.shots = webtest.shots_dir()

    @classmethod
    def tearDownClass(cls):
        if cls.d:
            cls.d.cleanup()
        if cls.nginx:
            cls.nginx.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def recorded(self, key):
        """Bytes nginx recorded of a case's key so far."""
        return sum(os.path.getsize(f) for f in self.nginx.recordings()
                   if os.path.basename(f).startswith(KEYS[key]))

    def answer(self, msg):
        if msg.get("q") == "recorded":
            return {"bytes": self.recorded(msg["key"])}
        if msg.get("q") == "api":
            r = self.d.get("/v1/restreams/" + msg["id"], headers=ADMIN)
            return {"status": r.status, "body": r.json() if r.status == 200 else None}
        raise AssertionError("unknown question %r" % msg)

    def stored(self, case):
        r = self.d.get("/v1/restreams/" + case["created"]["id"], headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def test_form(self):
        args = ["--base", "http://127.0.0.1:%d" % self.d.port,
                "--operator", webtest.creds("olga", USERS),
                "--clip-a", self.clip_a, "--clip-b", self.clip_b,
                "--stream", self.stream_id, "--job", self.job_id,
                "--shots", self.shots]
        for k in KEYS:
            args += ["--dest-" + k, self.nginx.url(KEYS[k])]
        r = webtest.run_driver("web-restreams-form.js", args, on_message=self.answer,
                               timeout=280)
        print("screenshots in %s" % self.shots, file=sys.stderr)
        webtest.assert_clean(self, r, self.d)
        cases = r["cases"]
        for name, c in cases.items():
            if name == "studio":  # a visit, nothing created
                continue
            self.assertEqual(c["status"], 201, (name, c))
            self.assertNotIn("KEY4c1d9e", str(c["created"]), name)
            self.assertEqual(c["request"]["output_destinations"],
                             [{"url": self.nginx.url(KEYS[CASE_KEY[name]]),
                               "platform": "custom", "enabled": True}], name)

        # the playlist editor: one row that cannot go, then put in order
        ed = r["playlist_editor"]
        self.assertEqual(ed["rows_initial"], 1)
        self.assertTrue(ed["remove_disabled_single"])
        self.assertTrue(ed["up_disabled_first"])
        self.assertTrue(ed["down_disabled_last"])
        self.assertEqual(ed["order_moved"], ["/dropped/third.mp4", self.clip_a, self.clip_b])
        self.assertEqual(ed["rows_three"], 3)
        self.assertEqual(ed["order"], [self.clip_a, self.clip_b])
        pl = cases["playlist"]
        self.assertEqual(pl["request"]["input_type"], "file")
        self.assertEqual(pl["request"]["playlist"], [self.clip_a, self.clip_b])
        self.assertNotIn("input_url", pl["request"])
        self.assertEqual(pl["request"]["schedule_type"], "immediate")
        self.assertFalse(pl["request"]["loop_enabled"])
        self.assertEqual(pl["kind"], "playlist")
        self.assertEqual([os.path.basename(i) for i in pl["items"]], ["a.mp4", "b.mp4"])
        self.assertTrue(pl["saw_streaming"] and pl["saw_stopped_at_end"])
        self.assertEqual(pl["api_end"]["status"], "stopped")
        self.assertIsNone(pl["api_end"]["error"])
        self.assertGreater(pl["recorded_end"], 0)
        self.assertGreaterEqual(pl["recorded_end"], pl["recorded_streaming"])

        # a stream that is not live: the error on the page, stopped by Stop
        st = cases["stream"]
        self.assertEqual(st["request"]["input_type"], "stream")
        self.assertEqual(st["request"]["stream_id"], self.stream_id)
        self.assertNotIn("input_url", st["request"])
        self.assertTrue(st["error_shown"], st)
        self.assertEqual(st["stream_link"], 1)
        self.assertTrue(st["stopped"])
        self.assertEqual(self.stored(st)["status"], "stopped")

        # a new ingest of its own: the key shown once, hidden after a reload,
        # waiting for its publisher without an error
        ig = cases["ingest"]
        self.assertEqual(ig["request"]["input_type"], "rtmp")
        key = ig["created"]["ingest"]["rtmp"]["stream_key"]
        self.assertTrue(key.startswith("we_live_"), ig["created"]["ingest"])
        self.assertEqual(ig["key_shown"], key)
        self.assertEqual(ig["once_notice"], 1)
        self.assertTrue(ig["server_shown"].startswith("rtmp://"), ig)
        self.assertNotIn(key, ig["key_after_reload"])
        self.assertEqual(ig["masked_after_reload"], "true")
        self.assertEqual(ig["status_waiting"], "starting")
        self.assertTrue(ig["stopped"])

        # the studio's "Restream to…": the stream's restreams, the form with it chosen
        so = cases["studio"]
        self.assertGreaterEqual(so["listed"], 1)
        self.assertTrue(so["stream_checked"])
        self.assertEqual(so["preselected"], self.stream_id)

        # scheduled: not started by the creation, started at its time
        sc = cases["scheduled"]
        self.assertEqual(sc["request"]["schedule_type"], "scheduled")
        at = sc["request"]["schedule_config"]["at"]
        self.assertTrue(at.endswith("Z"), at)
        self.assertNotIn("duration_s", sc["request"]["schedule_config"])
        at_s = calendar.timegm(time.strptime(at[:19], "%Y-%m-%dT%H:%M:%S"))
        self.assertEqual(at_s * 1000, sc["at_ms"], "the form sent another time than typed")
        self.assertEqual(sc["created"]["status"], "stopped")
        self.assertEqual(sc["status_before"], "stopped")
        self.assertGreaterEqual(sc["streaming_ms"], sc["at_ms"] - 1000, sc)
        self.assertLess(sc["streaming_ms"], sc["at_ms"] + 20000, sc)
        self.assertTrue(sc["stopped"])
        self.assertGreater(self.recorded("sc"), 0)

        # recurring: the human summary on the form and the detail page
        rc = cases["recurring"]
        self.assertEqual(rc["form_summary"], "Every Monday–Friday at 06:30")
        self.assertEqual(rc["detail_summary"], "Every Monday–Friday at 06:30")
        self.assertIn("(30 6 * * 1-5)", rc["schedule_text"])
        self.assertIn("45 min", rc["schedule_text"])
        self.assertEqual(rc["detail_status"], "stopped")
        stored = self.stored(rc)
        self.assertEqual(stored["schedule_type"], "recurring")
        self.assertEqual(stored["schedule_config"], {"cron": "30 6 * * 1-5", "duration_s": 2700})

        # immediate and looped: live with a bitrate
        im = cases["immediate"]
        self.assertEqual(im["request"]["schedule_type"], "immediate")
        self.assertEqual(im["request"]["input_url"], self.clip_a)
        self.assertTrue(im["request"]["loop_enabled"])
        self.assertNotIn("schedule_config", im["request"])
        self.assertGreater(im["bitrate"], 0)
        self.assertGreater(im["recorded"], 0)
        self.assertTrue(im["stopped"])

        # the job picker lists the completed job; its output restreamed
        picker = r["job_picker"]["options"]
        self.assertIn(self.job_id, [o["value"] for o in picker])
        label = [o["label"] for o in picker if o["value"] == self.job_id][0]
        self.assertIn("480p_fast", label)
        outputs = self.d.get("/v1/jobs/%s/outputs" % self.job_id, headers=ADMIN).json()["outputs"]
        playable = [o["name"] for o in outputs if o["type"] in ("final", "manifest", "rendition")]
        self.assertTrue(playable, outputs)
        self.assertEqual(r["job_picker"]["outputs"], playable)
        vj = cases["vod_job"]
        self.assertEqual(vj["request"]["input_type"], "vod_job")
        self.assertEqual(vj["request"]["vod_job_id"], self.job_id)
        self.assertEqual(vj["request"]["vod_output"], playable[0])
        self.assertNotIn("input_url", vj["request"])
        self.assertEqual(vj["job_link"], 1)
        played = [o["url"] for o in outputs if o["name"] == playable[0]][0]
        self.assertEqual(vj["output_shown"], played)
        self.assertEqual(self.stored(vj)["input_url"], played)
        self.assertTrue(vj["saw_streaming"])
        self.assertGreater(vj["recorded"], 0)
        self.assertEqual(self.stored(vj)["vod_job_id"], self.job_id)

        self.assertEqual(r["list_kinds"], {
            "playlist": "Playlist", "stream": "Live stream", "scheduled": "File",
            "recurring": "File", "immediate": "File", "vod_job": "Output of a job",
            "ingest": "New ingest (OBS)"})
        for name, facts in r["overflow"].items():
            self.assertFalse(facts["overflow"], (name, facts))
        self.assertEqual(sorted(r["overflow"]), [
            "desktop-form", "desktop-restreams", "phone-detail-playlist", "phone-new-job",
            "phone-new-playlist"])

        names = sorted(os.path.basename(s) for s in r["screenshots"])
        for page in ("new-playlist", "new-job", "detail-playlist"):
            self.assertIn("desktop-restream-%s.png" % page, names)
            self.assertIn("phone-restream-%s.png" % page, names)
        for s in r["screenshots"]:
            self.assertGreater(os.path.getsize(s), 5000, s)


if __name__ == "__main__":
    unittest.main()
