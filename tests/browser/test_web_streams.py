#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The streams pages (web/src/pages/Streams*.tsx) in headless Chromium
against a real webencoded with auth-basic users (admin, operator, viewer):
an operator creates a stream through the form; the studio shows the RTMP
server and SRT URL of the API's answer with the key masked by its hint;
Reveal shows the key the creation returned (no GET ever carries it), Copy
puts it on the clipboard, it hides itself after 60 s; Rotate shows the new
key once and the API no longer knows the old one; the title is edited
inline; the list's offline tab shows it; a phone has no sideways scrolling;
a viewer gets no key and no actions; the delete removes it from the API.
The live parts (preview, telemetry, live controls) must stay hidden: no
stream is on air here. Screenshots 1280x800 and 390x844 in
WE_SCREENSHOT_DIR; any console error or failed request fails."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import webtest  # noqa: E402

USERS = {"ada": ("ada-secret", "admin"), "olga": ("olga-secret", "operator"),
         "vic": ("vic-secret", "viewer")}
ADMIN = webtest.basic("ada", USERS)


class WebStreams(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        webtest.check_harness()
        # streams need no workers; one, because the harness waits for a ready one
        cls.d = webtest.start_daemon(workers=1, users=USERS)
        cls.shots = webtest.shots_dir()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_streams_pages(self):
        r = webtest.run_driver(
            "web-streams.js",
            ["--base", "http://127.0.0.1:%d" % self.d.port,
             "--operator", webtest.creds("olga", USERS), "--viewer", webtest.creds("vic", USERS),
             "--shots", self.shots], timeout=240)
        print("screenshots in %s" % self.shots, file=sys.stderr)
        self.assertNotIn("error", r, (r.get("error"), r.get("failure_pages"), self.d.tail(30)))
        self.assertEqual(r["console_errors"], [], r)
        self.assertEqual(r["http_errors"], [], r)
        self.assertIn("/streams", r["operator_nav"])

        created = r["created"]
        sid, key = created["id"], created["stream_key"]
        self.assertEqual(r["create_status"], 201)
        self.assertTrue(key.startswith("we_live_"), created)
        self.assertTrue(r["studio_url"].endswith("/streams/" + sid), r["studio_url"])
        # the API agrees with what the form sent
        api = self.d.get("/v1/streams/" + sid, headers=ADMIN)
        self.assertEqual(api.status, 404, "deleted at the end")

        # masked: the server and the SRT URL of the API, the key only by hint
        m = r["masked"]
        ingest = created["ingest"]
        self.assertEqual(m["rtmp_server"], ingest["rtmp"]["server"])
        self.assertEqual(m["key_masked"], "true")
        self.assertIn(key[-4:], m["key"])
        self.assertNotIn(key, m["key"])
        self.assertEqual(m["key_copy_buttons"], 0)
        srt = ingest["srt"]["url"]
        self.assertTrue(srt.startswith(m["srt"].split("&passphrase=")[0] + "&passphrase="), (m, srt))
        self.assertNotIn(ingest["srt"]["passphrase"], m["srt"])
        self.assertFalse(r["key_shown_before_reveal"])
        self.assertEqual(m["live_actions"], 0, "live-only parts shown off air")
        self.assertEqual(m["status_live"], "false")
        self.assertEqual(m["info_record"], "On")
        # no GET the pages made carried a key
        self.assertEqual(r["get_bodies_with_key"], [])

        # reveal: the key of the creation, and the SRT URL with its passphrase
        self.assertEqual(r["revealed"]["key"], key)
        self.assertEqual(r["revealed"]["srt"], srt)
        self.assertEqual(r["clipboard"], key)
        self.assertFalse(r["key_shown_after_timeout"])

        # rotate: a new key shown once; the old one is gone from page and API
        new = r["rotated_key"]
        self.assertTrue(new.startswith("we_live_") and new != key, new)
        self.assertFalse(r["old_key_after_rotate"])
        self.assertEqual(r["main_key_masked_after_rotate"], "true")
        self.assertFalse(r["new_key_after_close"])
        self.assertIn(new[-4:], r["masked_after_rotate"])

        self.assertEqual(r["edited"]["title"], "Browser keynote (renamed)")
        self.assertEqual(r["edited"]["archive"], "Off")
        self.assertEqual(r["list_past"], {"title": "Browser keynote (renamed)", "live": "false",
                                          "badge": "Offline"})
        self.assertEqual(r["list_active_rows"], 0)

        for name, facts in r["overflow"].items():
            self.assertFalse(facts["overflow"], (name, facts))
        for label in ("viewer", "viewer-phone"):
            v = r["viewer"][label]
            self.assertEqual(v["nav_streams"], 1, v)
            self.assertEqual(v["new_button"], 0, v)
            self.assertEqual(v["actions"], 0, v)
            self.assertFalse(v["key_text"], v)
            self.assertFalse(v["overflow"]["overflow"], v)
            self.assertTrue(v["new_forbidden"], v)
            self.assertEqual(v["title"], "Browser keynote (renamed)")

        self.assertEqual(r["delete_status"], 204)
        self.assertEqual(r["rows_after_delete"], 0)

        names = sorted(os.path.basename(s) for s in r["screenshots"])
        for page in ("streams", "stream-new", "stream-studio"):
            self.assertIn("desktop-%s.png" % page, names)
            self.assertIn("phone-%s.png" % page, names)
        for s in r["screenshots"]:
            self.assertGreater(os.path.getsize(s), 5000, s)

    def test_rotation_retires_the_old_key(self):
        """What the page's rotate relies on, through the API itself: after a
        rotation, reveal answers the new key, and GET never a key."""
        r = self.d.post("/v1/streams", {"title": "api rotation"}, headers=webtest.basic("olga", USERS))
        self.assertEqual(r.status, 201, r.body)
        s = r.json()
        rot = self.d.post("/v1/streams/%s/rotate-key" % s["id"], {}, headers=ADMIN).json()
        rev = self.d.post("/v1/streams/%s/reveal-key" % s["id"], {}, headers=ADMIN).json()
        self.assertNotEqual(rot["stream_key"], s["stream_key"])
        self.assertEqual(rev["stream_key"], rot["stream_key"])
        got = self.d.get("/v1/streams/" + s["id"], headers=ADMIN)
        self.assertNotIn(b"we_live_", got.body)
        self.assertEqual(self.d.request("DELETE", "/v1/streams/" + s["id"], headers=ADMIN).status, 204)


if __name__ == "__main__":
    unittest.main()
