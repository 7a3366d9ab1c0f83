#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Platform destinations of restreams (issue 11, docs/api.md "Restreams"):
{"platform": "twitch"} and {"platform": "youtube"} instead of a URL, on a
real daemon whose restream worker publishes to real RTMP servers (nginx with
libnginx-mod-rtmp, wenginx.py).

- twitch: publisher-rtmp's preset, its ingest URL pointed at an nginx of the
  test's, the stream key from the file secrets backend; added while the
  restream runs.
- youtube: publisher-youtube with OAuth makes a broadcast through the Data
  API (liveStreams.insert, liveBroadcasts.insert and .bind) on
  tests/publisher/fake_youtube.py (the one allowed fake: Google cannot be
  reached from here), whose ingestion address is another nginx of the
  test's; the broadcast goes live once the destination is, and complete
  when the restream stops.
- A platform without a publisher, or without a stream key, is refused at
  create with WE-RST-004; a key gone by the time the worker starts shows as
  the destination's last_error.
- Keys are never in a response, the store or the log."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import wenginx  # noqa: E402
import wetest  # noqa: E402
from test_publish import FakeYouTube, write_secret, CLIENT_ID, CLIENT_SECRET, \
    REFRESH_TOKEN  # noqa: E402
from test_restream import basic, sha512_crypt  # noqa: E402

USERS = {"vic": "viewer", "otto": "operator"}
TWITCH_KEY = "live_123456_twitchsecretkeyWXYZ"


class PlatformRestreams(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not wenginx.available():
            if os.environ.get("WE_TEST_NO_SKIP"):
                raise AssertionError("nginx with libnginx-mod-rtmp is not installed")
            raise unittest.SkipTest("nginx with libnginx-mod-rtmp is not installed")
        cls.tmp = tempfile.mkdtemp(prefix="we-restream-plat-")
        cls.twitch = wenginx.NginxRtmp(os.path.join(cls.tmp, "twitch")).start()
        cls.youtube = wenginx.NginxRtmp(os.path.join(cls.tmp, "youtube")).start()
        d = wetest.Daemon(workers=1)
        cls.fake = FakeYouTube(d.tmp, ["--ingest-url",
                                       "rtmp://127.0.0.1:%d/live" % cls.youtube.port])
        cls.secrets = os.path.join(d.tmp, "secrets")
        os.makedirs(cls.secrets, mode=0o700)
        write_secret(cls.secrets, "yt/client-secret", CLIENT_SECRET)
        write_secret(cls.secrets, "yt/refresh-token", REFRESH_TOKEN)
        write_secret(cls.secrets, "twitch-key", TWITCH_KEY)
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user in USERS:
                f.write("%s:%s\n" % (user, sha512_crypt(user + "-pw")))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": ";".join("%s=%s" % kv for kv in USERS.items()),
            "WE_SECRETS_BACKEND": "file",
            "WE_SECRETS_FILE_DIR": cls.secrets,
            "WE_PLUGIN_PUBLISHER_RTMP_TWITCH_INGEST_URL":
                "rtmp://127.0.0.1:%d/live" % cls.twitch.port,
            "WE_PLUGIN_PUBLISHER_RTMP_TWITCH_STREAM_KEY_SECRET_REF": "file:twitch-key",
            "WE_PLUGIN_PUBLISHER_YOUTUBE_CLIENT_ID": CLIENT_ID,
            "WE_PLUGIN_PUBLISHER_YOUTUBE_CLIENT_SECRET_REF": "file:yt/client-secret",
            "WE_PLUGIN_PUBLISHER_YOUTUBE_REFRESH_TOKEN_REF": "file:yt/refresh-token",
            "WE_PLUGIN_PUBLISHER_YOUTUBE_OAUTH_TOKEN_URL": cls.fake.base + "/token",
            "WE_PLUGIN_PUBLISHER_YOUTUBE_API_BASE_URL": cls.fake.base,
            "WE_PLUGIN_PUBLISHER_YOUTUBE_UPLOAD_BASE_URL": cls.fake.base,
            # the fake's rtmpsIngestionAddress leads nowhere: plain RTMP to nginx
            "WE_PLUGIN_PUBLISHER_YOUTUBE_LIVE_INGEST_PROTOCOL": "rtmp",
            "WE_PLUGIN_PUBLISHER_YOUTUBE_LIVE_PRIVACY": "unlisted",
            # the clip's folder: one the storage lets restreams read
            "WE_PLUGIN_STORAGE_FS_BROWSE_ROOTS": d.media + ";" + cls.tmp,
        }
        cls.d = d.start()
        cls.clip = wetest.make_clip(os.path.join(cls.tmp, "clip.mp4"), duration=3, fps=25,
                                    width=320, height=240)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.cleanup()
        finally:
            cls.fake.stop()
            cls.twitch.stop()
            cls.youtube.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def api(self, method, path, body=None, user="otto", expect=None):
        r = self.d.request(method, path, body, headers=basic(user))
        if expect is not None:
            self.assertEqual(r.status, expect, r.body)
        return r

    def wait(self, pred, what, timeout=20):
        deadline = time.time() + timeout * wetest.TIME_FACTOR
        while True:
            v = pred()
            if v:
                return v
            if time.time() > deadline:
                self.fail("%s: not within %d s\n%s" % (what, timeout, self.d.tail(30)))
            time.sleep(0.2)

    def stats(self, rid):
        return self.api("GET", "/v1/restreams/" + rid, user="vic", expect=200).json()

    def broadcasts(self):
        return self.fake.state()["broadcasts"]

    def test_refused_at_create(self):
        for dest, words in (({"platform": "kick"}, "kick_stream_key_secret_ref"),
                            ({"platform": "vimeo"}, "no preset for vimeo"),
                            ({"platform": "Twitch TV"}, "lower-case"),
                            ({}, "needs a url")):
            r = self.api("POST", "/v1/restreams",
                         {"title": "refused", "input_url": self.clip,
                          "output_destinations": [dest]})
            self.assertEqual(r.status, 422, r.body)
            err = r.json()["error"]
            self.assertEqual(err["code"], "WE-RST-004", err)
            self.assertIn(words, err["details"])
        self.assertEqual(self.d.sql("SELECT id FROM restreams WHERE doc LIKE '%refused%'"), [])

    def test_twitch_and_youtube(self):
        body = {"title": "Platform show", "description": "from the test",
                "input_url": self.clip, "loop_enabled": True,
                "output_destinations": [{"platform": "youtube"}]}
        r = self.api("POST", "/v1/restreams", body, expect=201).json()
        rid = r["id"]
        yt = r["output_destinations"][0]
        self.assertEqual((yt["platform"], yt["url"]), ("youtube", "****"))

        # a broadcast was made and bound, named after the restream
        bc = self.wait(lambda: list(self.broadcasts().values()), "a YouTube broadcast")
        self.assertEqual(len(bc), 1, bc)
        b = bc[0]
        self.assertEqual(b["snippet"]["title"], "Platform show")
        self.assertEqual(b["snippet"]["description"], "from the test")
        self.assertEqual(b["status"]["privacyStatus"], "unlisted")
        stream_id = b["contentDetails"]["boundStreamId"]
        name = self.fake.state()["live_streams"][stream_id]["cdn"]["ingestionInfo"]["streamName"]

        # the stream reaches the ingestion address under the stream name, and
        # the broadcast goes live once the destination is
        self.wait(lambda: [x for x in self.youtube.recordings()
                           if os.path.basename(x).startswith(name + "-")],
                  "a publish to the YouTube ingest under the stream name")
        self.wait(lambda: self.broadcasts()[b["id"]]["status"]["lifeCycleStatus"] == "live",
                  "the broadcast live")
        self.assertEqual(self.broadcasts()[b["id"]]["transitions"], ["live"])

        # twitch, added while it runs: the preset's URL with the key from secrets
        r = self.api("POST", "/v1/restreams/%s/destinations" % rid, {"platform": "twitch"},
                     expect=201).json()
        tw = [x for x in r["output_destinations"] if x["platform"] == "twitch"][0]
        self.assertEqual(tw["url"], "rtmp://127.0.0.1:%d/live/****WXYZ" % self.twitch.port)
        self.wait(lambda: [x for x in self.twitch.recordings()
                           if os.path.basename(x).startswith(TWITCH_KEY + "-")],
                  "a publish to the Twitch ingest with the key")
        self.wait(lambda: (lambda s: all(s.get(i, {}).get("state") == "live" and
                                         s[i]["bitrate_kbps"] > 0 for i in (tw["id"], yt["id"])))(
                                             self.stats(rid)["current_stats"]),
                  "both live with bytes acknowledged")

        # stopped: the broadcast is complete
        self.api("POST", "/v1/restreams/%s/stop" % rid, expect=200)
        self.wait(lambda: self.broadcasts()[b["id"]]["status"]["lifeCycleStatus"] == "complete",
                  "the broadcast complete")

        # no key in a response, the store or the log
        text = json.dumps(self.stats(rid))
        for secret in (TWITCH_KEY, name):
            self.assertNotIn(secret, text)
        for (doc,) in self.d.sql("SELECT doc FROM restreams"):
            self.assertNotIn(TWITCH_KEY, doc)
            self.assertNotIn(name, doc)
        with open(self.d.log_path, errors="replace") as f:
            log = f.read()
        for secret in (TWITCH_KEY, name, CLIENT_SECRET, REFRESH_TOKEN):
            self.assertNotIn(secret, log)

    def test_key_gone_at_start(self):
        """Checked at create, missing when the worker starts: the
        destination's last_error says so and the others go on."""
        body = {"title": "Key gone", "input_url": self.clip, "loop_enabled": True,
                "schedule_type": "scheduled",
                "schedule_config": {"at": "2099-01-01T00:00:00Z"},
                "output_destinations": [{"platform": "twitch"},
                                        {"url": "rtmp://127.0.0.1:%d/live/other-key"
                                                % self.youtube.port}]}
        r = self.api("POST", "/v1/restreams", body, expect=201).json()
        rid = r["id"]
        tw = r["output_destinations"][0]["id"]
        path = os.path.join(self.secrets, "twitch-key")
        os.rename(path, path + ".away")
        try:
            self.api("POST", "/v1/restreams/%s/start" % rid, expect=202)
            st = self.wait(lambda: (lambda s: s if s.get(tw, {}).get("state") == "error"
                                    else None)(self.stats(rid)["current_stats"]),
                           "the destination's error")
            self.assertIn("twitch_stream_key", st[tw]["last_error"])
            self.assertNotIn(TWITCH_KEY, json.dumps(st))
            self.wait(lambda: self.stats(rid)["status"] == "streaming", "the others stream")
        finally:
            os.rename(path + ".away", path)
            self.api("POST", "/v1/restreams/%s/stop" % rid, expect=200)


if __name__ == "__main__":
    wetest.main()
