#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The job detail page (web/src/pages/JobDetail.tsx) in headless Chromium
against a real webencoded with auth-basic and real workers (web-job.js
drives it): an MP4 final plays in the <video>, an HLS+DASH ladder plays
through hls.js and dash.js, an AES-128 HLS ladder with its key fetched with
the session; hovering the seek bar shows the storyboard's sprite tile for
that time; the timeline shows the states in order; every artifact link
gives the listed bytes; a task's log, pipeline and Graphviz graph; per-task
retry (a 409 shown as a toast, then a real retry that reopens a failed
job); a running job cancelled from the page (live, also on a viewer's
page) and retried as a new job; a viewer sees none of those actions.
Screenshots at 1280x800 and 390x844 go to WE_SCREENSHOT_DIR; any console
error fails."""

import json
import os
import re
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import webtest  # noqa: E402
from webtest import check_harness, wetest  # noqa: E402

USERS = {"ada": ("ada-secret", "admin"), "otto": ("otto-secret", "operator"),
         "vic": ("vic-secret", "viewer")}


def basic(user):
    return webtest.basic(user, USERS)


ADMIN = basic("ada")
LADDER = [
    {"name": "360p", "width": 640, "height": 360, "video_bitrate_kbps": 700},
    {"name": "240p", "width": 426, "height": 240, "video_bitrate_kbps": 350},
]
COMMON = {"container": "mp4", "video_codec": "h264", "preset": "ultrafast",
          "keyframe_interval_s": 1, "ladder": LADDER}
FINISHED = ("completed", "failed", "cancelled")


def vtt_cues(text):
    cues = []
    for m in re.finditer(r"([\d:.]+) --> ([\d:.]+)\s*\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)", text):
        def secs(ts):
            return sum(float(p) * 60 ** i for i, p in enumerate(reversed(ts.split(":"))))
        cues.append((secs(m.group(1)), secs(m.group(2))) + tuple(int(m.group(i)) for i in range(4, 8)))
    return cues


class WebJob(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        check_harness()
        # a GStreamer log per task, for the log view
        cls.d = webtest.start_daemon(workers=2, users=USERS,
                                     extra_env={"WE_WORKER_GST_DEBUG": "*:2"})
        try:
            cls.prepare()
        except BaseException:
            cls.d.cleanup()
            raise
        cls.shots = webtest.shots_dir()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    @classmethod
    def upload(cls, path):
        r = cls.d.upload(path, headers=ADMIN)
        assert r.status == 201, r.body
        return r.json()["url"]

    @classmethod
    def submit(cls, source, **body):
        body["source_url"] = source
        r = cls.d.post("/v1/jobs", body, headers=ADMIN)
        assert r.status == 201, r.body
        return r.json()["id"]

    @classmethod
    def wait(cls, job_id, want):
        end = time.time() + 300 * wetest.TIME_FACTOR
        while time.time() < end:
            job = cls.d.get("/v1/jobs/" + job_id, headers=ADMIN).json()
            if job["status"] in FINISHED:
                break
            time.sleep(0.3)
        assert job["status"] == want, (job, cls.d.tail(40))
        return job

    @classmethod
    def prepare(cls):
        d = cls.d
        clip = wetest.make_clip(os.path.join(d.media, "clip.mp4"), duration=6.0,
                                width=640, height=360, fps=25, gop=25)
        source = cls.upload(clip)
        cls.jobs = {
            "mp4": cls.submit(source, profile="720p_h264"),
            "ladder": cls.submit(source, custom_profile=dict(
                COMMON, id="web_ladder",
                hls={"enabled": True, "segment_duration_s": 2, "segment_type": "fmp4"},
                dash={"enabled": True, "segment_duration_s": 2},
                thumbnails={"poster": True, "interval_s": 1, "width": 160, "sprite": True,
                            "sprite_columns": 3, "storyboard": True})),
            "aes": cls.submit(source, custom_profile=dict(
                COMMON, id="web_aes",
                hls={"enabled": True, "segment_duration_s": 2, "segment_type": "ts",
                     "encryption": "aes-128"})),
        }
        # A job whose task fails for real: its source is not media. Once it
        # has failed, the stored file is replaced by a real clip, so the
        # task retried from the page succeeds.
        broken = os.path.join(d.media, "broken.mp4")
        with open(broken, "wb") as f:
            f.write(b"this is not a video\n" * 64)
        for name in ("failed_a", "failed_b"):
            url = cls.upload(broken)
            cls.jobs[name] = cls.submit(url, profile="720p_h264")
            cls.jobs[name + "_url"] = url
        for name in ("mp4", "ladder", "aes"):
            cls.wait(cls.jobs[name], "completed")
        for name in ("failed_a", "failed_b"):
            cls.wait(cls.jobs[name], "failed")
            shutil.copyfile(clip, d.stored_path(cls.jobs.pop(name + "_url")))
        cls.long_clip = wetest.make_clip(os.path.join(d.media, "long.mp4"), duration=60.0,
                                         width=640, height=360, fps=25, gop=25)

    def run_driver(self):
        def answer(msg):
            if "need_long_job" in msg:
                job_id = self.submit(self.upload(self.long_clip), profile="720p_h264")
                self.long_jobs.append(job_id)
                return {"job_id": job_id}
            raise AssertionError("web-job.js asked %r" % msg)

        self.long_jobs = []
        args = ["--base", "http://127.0.0.1:%d" % self.d.port,
                "--admin", webtest.creds("otto", USERS), "--viewer", webtest.creds("vic", USERS),
                "--shots", self.shots, "--jobs", json.dumps(self.jobs)]
        return webtest.run_driver("web-job.js", args, answer, 400)

    def assertFlow(self, steps, last):
        flow = ["queued", "processing", "stitching", "uploading", "completed"]
        self.assertEqual(steps[0], "queued", steps)
        self.assertEqual(steps[-1], last, steps)
        known = [s for s in steps if s in flow]
        self.assertEqual(known, sorted(known, key=flow.index), steps)
        self.assertIn("processing", steps)

    def assertArtifacts(self, a, groups):
        self.assertTrue(a["rows"], a)
        for row in a["rows"]:
            self.assertEqual((row["status"], row["length"]), (200, row["size"]), row)
        self.assertTrue(set(groups) <= {row["group"] for row in a["rows"]}, a)
        first = a["rows"][0]
        self.assertEqual(a["clicked"], {"name": first["name"].split("/")[-1],
                                        "size": first["size"]}, a)

    def test_job_detail(self):
        r = self.run_driver()
        webtest.assert_clean(self, r, self.d)
        # the players: time advances, no error event
        for kind in ("mp4", "hls", "dash", "aes"):
            p = r["players"][kind]
            self.assertGreater(p["current_time"], 1.0, (kind, p))
            self.assertEqual((p["errors"], p["error_box"], p["error"]), (0, 0, None), (kind, p))
            self.assertGreater(p["width"], 0, (kind, p))
        for kind in ("hls", "dash", "aes"):  # automatic + both rungs, and picking one
            self.assertEqual(r["players"][kind]["renditions"], 3, r["players"][kind])
            self.assertTrue(r["players"][kind]["picked_level"], r["players"][kind])
        self.assertTrue(r["players"]["hls"]["poster"], r["players"]["hls"])
        self.assertTrue(r["key_requests"] and set(r["key_requests"]) == {200}, r["key_requests"])
        # the sprite tile under the pointer is the storyboard's cue for that time
        vtt = self.d.get("/v1/jobs/%s/outputs/thumbnails/storyboard.vtt" % self.jobs["ladder"],
                         headers=ADMIN).body.decode()
        cues = vtt_cues(vtt)
        s = r["scrub"]
        self.assertAlmostEqual(s["time"], 0.7 * s["duration"], delta=0.3, msg=s)
        cue = next(c for c in cues if c[0] <= s["time"] < c[1])
        pos = [float(v.replace("px", "")) for v in s["position"].split()]
        self.assertEqual(pos, [-cue[2], -cue[3]], (s, cue, vtt))
        self.assertEqual((s["width"], s["height"]), ("%dpx" % cue[4], "%dpx" % cue[5]), s)
        self.assertTrue(s["image"], s)
        self.assertNotEqual(cue[2:4], (0, 0), "pick a time whose tile is not the first")
        # timeline and artifacts
        self.assertFlow(r["timeline_mp4"], "completed")
        self.assertFlow(r["timeline_ladder"], "completed")
        self.assertGreaterEqual(r["events_mp4"], 4, r)
        self.assertArtifacts(r["artifacts_mp4"], ["final"])
        self.assertArtifacts(r["artifacts_ladder"], ["manifest", "rendition", "thumbnail"])
        # debugging views
        self.assertGreater(r["log_chars"], 0, r)
        self.assertIn(" ! ", r["pipeline_launch"], r)
        self.assertGreater(r["graph_width"], 0, r)
        # per-task retry: the 409 reached the page as a toast with its code
        self.assertEqual(r["conflict_rest"], 202, r)
        self.assertEqual(r["conflict_toast"]["code"], "WE-SYS-409", r)
        self.assertTrue(any(" 409 POST " in e for e in r["expected_errors"]), r)
        self.assertIn("completed", r["retry_statuses"], r)
        self.assertIn("processing", r["retry_statuses"], r)
        for name in ("failed_a", "failed_b"):
            self.assertEqual(self.d.get("/v1/jobs/" + self.jobs[name], headers=ADMIN)
                             .json()["status"], "completed")
        task = self.d.get("/v1/jobs/%s/tasks" % self.jobs["failed_b"], headers=ADMIN).json()
        retried = [t for t in task["tasks"] if t["id"] == r["retried_task"]]
        self.assertEqual(retried[0]["status"], "completed", task)
        # cancel live, then retry as a new job
        self.assertEqual(r["admin_running"]["cancel"], 1, r)
        self.assertEqual(r["viewer_running"], {"cancel": 0, "retry": 0, "remove": 0,
                                               "task_buttons": 0}, r)
        self.assertEqual(r["timeline_cancelled"][-1], "cancelled", r)
        self.assertEqual(r["cancel_retry_tasks"], 0, r)
        self.assertEqual(r["cancelled_job"], self.long_jobs[0], r)
        self.assertEqual(self.d.get("/v1/jobs/" + self.long_jobs[0], headers=ADMIN)
                         .json()["status"], "cancelled")
        new = r["retry_job_json"]
        self.assertEqual(new["retry_of"], self.long_jobs[0], new)
        self.assertIn(r["retry_job"], r["job_retry_toast"], r)
        # ... and that one deleted from its page
        self.assertEqual(r["after_delete"], "/jobs", r)
        self.assertEqual(self.d.get("/v1/jobs/" + r["retry_job"], headers=ADMIN).status, 404)
        # the viewer
        self.assertEqual(r["viewer_done"], {"retry": 0, "remove": 0, "task_buttons": 0}, r)
        self.assertTrue(r["phone_overflow_free"], r)
        self.assertTrue(r["phone_overflow_free_tasks"], r)
        names = sorted(os.path.basename(s) for s in r["screenshots"])
        for shot in ("web-job-desktop-ladder.png", "web-job-desktop-mp4.png",
                     "web-job-desktop-scrub.png", "web-job-desktop-pipeline.png",
                     "web-job-phone-ladder.png", "web-job-phone-tasks.png"):
            self.assertIn(shot, names)
        for shot in r["screenshots"]:
            self.assertGreater(os.path.getsize(shot), 5000, shot)


if __name__ == "__main__":
    unittest.main()
