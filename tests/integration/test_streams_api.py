#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Streams API (spec §10.2, issue 10 item 3) against a real webencoded
with auth-basic users of every role: create with ingest credentials that
parse as OBS and ffmpeg need them, reads and lists that never show the key
or the SRT passphrase, key rotation and the audited reveal, PATCH and
DELETE with their refusals, the RBAC matrix, pagination and ?live=. The
whole database (SQLite files, or a pg_dump with WE_TEST_CLUSTER) and the
daemon's log are searched for every key and passphrase handed out.

The ingest lookup itself (a presented key → its stream; a rotated key →
nothing) is C: src/core/we-stream-keys-test.c and the store suite's
streams/ cases, on both backends."""

import base64
import hashlib
import os
import re
import subprocess
import urllib.parse

import wetest

USERS = {"vic": "viewer", "otto": "operator", "ada": "admin"}
KEY_RE = re.compile(r"^we_live_[A-Za-z0-9]{32}$")
RTMP_PORT = 19350
SRT_PORT = 19080


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], check=True,
                          capture_output=True, text=True).stdout.strip()


def basic(user):
    token = base64.b64encode(("%s:%s-pw" % (user, user)).encode()).decode()
    return {"Authorization": "Basic " + token}


def basic_daemon(env=None):
    d = wetest.Daemon(workers=1)
    htpasswd = os.path.join(d.tmp, "htpasswd")
    with open(htpasswd, "w") as f:
        for user in USERS:
            f.write("%s:%s\n" % (user, sha512_crypt(user + "-pw")))
    d.extra_env = {
        "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
        "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
        "WE_PLUGIN_AUTH_BASIC_ROLES": ";".join("%s=%s" % kv for kv in USERS.items()),
        "WE_LIVE_RTMP_PORT": str(RTMP_PORT),
        "WE_LIVE_SRT_PORT": str(SRT_PORT),
    }
    d.extra_env.update(env or {})
    return d


def database_text(d):
    """Everything the store holds, as bytes: the SQLite files (with the WAL)
    or a data dump of the PostgreSQL database."""
    if d.database_url is not None:
        import weservers
        return subprocess.run([os.path.join(weservers._pg_bindir(), "pg_dump"), "--data-only",
                               d.database_url], check=True, capture_output=True,
                              timeout=60).stdout
    data = b""
    db_dir = os.path.join(d.tmp, "data")
    for name in os.listdir(db_dir):
        if name.startswith("webencode.db"):
            with open(os.path.join(db_dir, name), "rb") as f:
                data += f.read()
    return data


def key_hash(key):
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class StreamsApi(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        cls.d = basic_daemon().start()
        cls.secrets = []  # every key and passphrase the API handed out

    def create(self, user="otto", expect=201, headers=None, **body):
        body.setdefault("title", "Launch stream")
        h = basic(user)
        h.update(headers or {})
        r = self.d.post("/v1/streams", body, headers=h)
        self.assertEqual(r.status, expect, r.body)
        s = r.json()
        if expect == 201:
            self.remember(s)
        return s

    def remember(self, s):
        self.secrets.append(s["stream_key"])
        self.secrets.append(s["ingest"]["srt"]["passphrase"])

    def patch(self, sid, body, user="otto"):
        return self.d.request("PATCH", "/v1/streams/" + sid, body, headers=basic(user))

    def assertNoSecret(self, text, s):
        for secret in (s["stream_key"], s["stream_key"][len("we_live_"):],
                       s["ingest"]["srt"]["passphrase"]):
            self.assertNotIn(secret.encode() if isinstance(text, bytes) else secret, text)

    def assertIngest(self, s, host="127.0.0.1"):
        key = s["stream_key"]
        self.assertRegex(key, KEY_RE)
        self.assertEqual(s["stream_key_hint"], key[-4:])
        rtmp = s["ingest"]["rtmp"]
        server = urllib.parse.urlsplit(rtmp["server"])
        self.assertEqual((server.scheme, server.hostname, server.port, server.path),
                         ("rtmp", host.strip("[]"), RTMP_PORT, "/live"))
        self.assertEqual(rtmp["stream_key"], key)
        self.assertEqual(rtmp["url"], rtmp["server"] + "/" + key)
        full = urllib.parse.urlsplit(rtmp["url"])
        self.assertEqual(full.path.rsplit("/", 1), ["/live", key])
        srt = s["ingest"]["srt"]
        url = urllib.parse.urlsplit(srt["url"])
        self.assertEqual((url.scheme, url.hostname, url.port), ("srt", host.strip("[]"), SRT_PORT))
        query = urllib.parse.parse_qs(url.query, strict_parsing=True)
        self.assertEqual(query["streamid"], ["publish:" + s["id"]])
        self.assertEqual(srt["streamid"], "publish:" + s["id"])
        self.assertEqual(query["passphrase"], [srt["passphrase"]])
        # libsrt: 10..79 characters; the contract: 16 or more
        self.assertRegex(srt["passphrase"], r"^[A-Za-z0-9]{16,79}$")
        self.assertEqual(srt["latency_ms"], 200)
        # the public play name and the id are no part of the key
        self.assertNotIn(s["play_name"], key)
        self.assertNotEqual(s["play_name"], s["id"])
        self.assertNotIn(key[len("we_live_"):], s["play_name"])

    def test_create_get_list_hide_the_key(self):
        s = self.create(title="  Keynote  ", description="Day one")
        self.assertIngest(s)
        self.assertEqual(s["title"], "Keynote")
        self.assertEqual(s["description"], "Day one")
        for k, v in (("is_live", False), ("archive_enabled", True), ("record", False),
                     ("latency_mode", "normal"), ("ladder", None), ("session", None),
                     ("archive_vod_job_id", None), ("last_started_at", None),
                     ("last_ended_at", None)):
            self.assertEqual(s[k], v, k)
        self.assertTrue(s["user_id"])
        wetest.parse_time(s["created_at"])
        wetest.parse_time(s["updated_at"])

        for user in ("vic", "otto", "ada"):
            got = self.d.get("/v1/streams/" + s["id"], headers=basic(user))
            self.assertEqual(got.status, 200, got.body)
            self.assertNoSecret(got.body, s)
            g = got.json()
            self.assertNotIn("stream_key", g)
            # the public half of the ingest settings only: no key, no passphrase
            self.assertEqual(g["ingest"]["rtmp"], {"server": s["ingest"]["rtmp"]["server"]})
            self.assertEqual(g["ingest"]["srt"]["url"],
                             s["ingest"]["srt"]["url"].split("&passphrase=")[0])
            self.assertNotIn("passphrase", g["ingest"]["srt"])
            self.assertEqual(g["stream_key_hint"], s["stream_key"][-4:])
            self.assertEqual(g["play_name"], s["play_name"])
            listed = self.d.get("/v1/streams?limit=500", headers=basic(user))
            self.assertEqual(listed.status, 200, listed.body)
            self.assertNoSecret(listed.body, s)
            self.assertIn(s["id"], [x["id"] for x in listed.json()["streams"]])
            stats = self.d.get("/v1/streams/%s/stats" % s["id"], headers=basic(user))
            self.assertEqual(stats.status, 200, stats.body)
            self.assertNoSecret(stats.body, s)
            self.assertEqual(stats.json(), {"stream_id": s["id"], "is_live": False,
                                            "status": "offline", "session": None,
                                            "telemetry": None, "telemetry_history": [],
                                            "viewers": 0, "peak_viewers": 0,
                                            "history": []})

        # the store keeps the lookup hash and sealed copies, never the plaintexts
        rows = self.d.sql("SELECT key_hash, key_hint, key_sealed, srt_passphrase_sealed "
                          "FROM streams WHERE id = '%s'" % s["id"])
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][0], key_hash(s["stream_key"]))
        self.assertEqual(rows[0][1], s["stream_key"][-4:])
        self.assertTrue(rows[0][2].startswith("v1:") and rows[0][3].startswith("v1:"))
        self.assertNoSecret(repr(rows), s)
        self.assertNoSecret(database_text(self.d), s)

    def test_options_and_ladder(self):
        s = self.create(archive_enabled=False, record=True, latency_mode="low",
                        ladder="720p_h264", description=None)
        self.assertEqual((s["archive_enabled"], s["record"], s["latency_mode"], s["ladder"],
                          s["description"]), (False, True, "low", "720p_h264", None))
        r = self.d.post("/v1/streams", {"title": "x", "ladder": "no-such-profile"},
                        headers=basic("otto"))
        err = self.assertError(r, 400, "WE-STR-001")
        self.assertIn("ladder", err["details"])

    def test_host_header_names_the_ingest_host(self):
        s = self.create(headers={"Host": "studio.example:8443"})
        self.assertIngest(s, host="studio.example")
        s = self.create(headers={"Host": "[::1]:8080"})
        self.assertIngest(s, host="[::1]")
        self.assertTrue(s["ingest"]["rtmp"]["server"].startswith("rtmp://[::1]:%d/" % RTMP_PORT))

    def test_validation(self):
        cases = [
            ({}, "title"),
            ({"title": ""}, "title"),
            ({"title": "   "}, "title"),
            ({"title": None}, "title"),
            ({"title": 5}, "title"),
            ({"title": "x" * 256}, "title"),
            ({"title": "ok", "description": "d" * 5001}, "description"),
            ({"title": "ok", "latency_mode": "fast"}, "latency_mode"),
            ({"title": "ok", "archive_enabled": "yes"}, "archive_enabled"),
            ({"title": "ok", "record": 1}, "record"),
            ({"title": "ok", "ladder": 7}, "ladder"),
            ({"title": "ok", "stream_key": "we_live_mine"}, "stream_key"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                r = self.d.post("/v1/streams", body, headers=basic("otto"))
                err = self.assertError(r, 400, "WE-STR-001")
                self.assertIn(field, err["details"])
        r = self.d.request("POST", "/v1/streams", b"{not json", headers=dict(
            basic("otto"), **{"Content-Type": "application/json"}))
        self.assertError(r, 400, "WE-STR-001")
        r = self.d.request("POST", "/v1/streams", b"[1]", headers=dict(
            basic("otto"), **{"Content-Type": "application/json"}))
        self.assertError(r, 400, "WE-STR-001")

    def test_patch(self):
        s = self.create()
        r = self.patch(s["id"], {"title": "Renamed", "description": None, "record": True,
                                 "archive_enabled": False, "latency_mode": "low"})
        self.assertEqual(r.status, 200, r.body)
        p = r.json()
        self.assertEqual((p["title"], p["description"], p["record"], p["archive_enabled"],
                          p["latency_mode"]), ("Renamed", None, True, False, "low"))
        self.assertNotIn("stream_key", p)
        self.assertNoSecret(r.body, s)
        self.assertGreaterEqual(wetest.parse_time(p["updated_at"]),
                                wetest.parse_time(s["updated_at"]))
        g = self.d.get("/v1/streams/" + s["id"], headers=basic("vic")).json()
        self.assertEqual(g["title"], "Renamed")
        self.assertEqual(g["play_name"], s["play_name"])
        self.assertEqual(g["stream_key_hint"], s["stream_key_hint"])
        # an empty PATCH changes nothing and is fine
        self.assertEqual(self.patch(s["id"], {}).status, 200)
        for body, field in (({"title": ""}, "title"), ({"latency_mode": "ultra"}, "latency_mode"),
                            ({"record": "no"}, "record"), ({"is_live": True}, "is_live"),
                            ({"ladder": "no-such-profile"}, "ladder")):
            with self.subTest(body=body):
                err = self.assertError(self.patch(s["id"], body), 400, "WE-STR-001")
                self.assertIn(field, err["details"])
        self.assertError(self.patch("no-such-stream", {"title": "x"}), 404, "WE-STR-002")
        self.assertError(self.d.get("/v1/streams/no-such-stream", headers=basic("vic")), 404,
                         "WE-STR-002")
        self.assertError(self.d.get("/v1/streams/no-such-stream/stats", headers=basic("vic")),
                         404, "WE-STR-002")

    def test_rotate_and_reveal(self):
        s = self.create()
        r = self.d.post("/v1/streams/%s/reveal-key" % s["id"], headers=basic("otto"))
        self.assertEqual(r.status, 200, r.body)
        shown = r.json()
        self.assertEqual(shown["stream_key"], s["stream_key"])
        self.assertEqual(shown["ingest"]["srt"]["passphrase"], s["ingest"]["srt"]["passphrase"])
        self.assertIngest(shown)

        r = self.d.post("/v1/streams/%s/rotate-key" % s["id"], headers=basic("otto"))
        self.assertEqual(r.status, 200, r.body)
        rotated = r.json()
        self.remember(rotated)
        self.assertIngest(rotated)
        self.assertNotEqual(rotated["stream_key"], s["stream_key"])
        self.assertNotEqual(rotated["ingest"]["srt"]["passphrase"],
                            s["ingest"]["srt"]["passphrase"])
        self.assertEqual(rotated["play_name"], s["play_name"])
        self.assertEqual(rotated["stream_key_hint"], rotated["stream_key"][-4:])
        # the lookup hash is the new key's: the old key finds no stream
        rows = self.d.sql("SELECT key_hash FROM streams WHERE id = '%s'" % s["id"])
        self.assertEqual(rows[0][0], key_hash(rotated["stream_key"]))
        self.assertEqual(self.d.sql("SELECT COUNT(*) FROM streams WHERE key_hash = '%s'"
                                    % key_hash(s["stream_key"]))[0][0] in (0, "0"), True)
        again = self.d.post("/v1/streams/%s/reveal-key" % s["id"], headers=basic("ada")).json()
        self.assertEqual(again["stream_key"], rotated["stream_key"])
        self.assertNoSecret(self.d.get("/v1/streams/" + s["id"], headers=basic("otto")).body,
                            rotated)

        # reveals and rotations are audited, with who did it
        audit = self.d.get("/v1/audit?resource_id=%s" % s["id"], headers=basic("ada"))
        self.assertEqual(audit.status, 200, audit.body)
        entries = audit.json()["entries"]
        seen = [(e["action"], e["username"], e["result"]) for e in entries]
        self.assertIn(("stream.reveal", "otto", "success"), seen)
        self.assertIn(("stream.reveal", "ada", "success"), seen)
        self.assertIn(("stream.rotate", "otto", "success"), seen)
        self.assertIn(("stream.create", "otto", "success"), seen)
        for e in entries:
            self.assertEqual(e["resource_type"], "stream")
        self.assertNoSecret(audit.body, s)
        self.assertNoSecret(audit.body, rotated)

        for path in ("rotate-key", "reveal-key"):
            self.assertError(self.d.post("/v1/streams/no-such-stream/" + path,
                                         headers=basic("otto")), 404, "WE-STR-002")

    def make_live(self, sid, remote="198.51.100.7:40000"):
        # No live pipeline exists yet to put a stream on air (issue 10 items
        # 1-4), so the test writes the state it would: a session row and the
        # stream pointing at it, straight into the real store.
        session = "sess-" + sid[:8]
        self.d.sql("INSERT INTO stream_sessions (id, stream_id, protocol, remote_addr, "
                   "started_at, bytes_in) VALUES ('%s', '%s', 'rtmp', '%s', 1700000000000000, "
                   "4096)" % (session, sid, remote))
        self.d.sql("UPDATE streams SET is_live = TRUE, current_session_id = '%s', "
                   "started_at = 1700000000000000 WHERE id = '%s'" % (session, sid))
        return session

    def test_live_streams_delete_and_sessions(self):
        s = self.create()
        session = self.make_live(s["id"])
        g = self.d.get("/v1/streams/" + s["id"], headers=basic("otto")).json()
        self.assertTrue(g["is_live"])
        self.assertEqual(g["session"]["id"], session)
        self.assertEqual(g["session"]["protocol"], "rtmp")
        self.assertEqual(g["session"]["remote_addr"], "198.51.100.7:40000")
        self.assertEqual(g["session"]["bytes_in"], 4096)
        self.assertIsNone(g["session"]["ended_at"])
        self.assertEqual(wetest.parse_time(g["last_started_at"]), 1700000000.0)
        # the publisher's address is for operators
        v = self.d.get("/v1/streams/" + s["id"], headers=basic("vic")).json()
        self.assertEqual(v["session"]["id"], session)
        self.assertNotIn("remote_addr", v["session"])
        stats = self.d.get("/v1/streams/%s/stats" % s["id"], headers=basic("vic")).json()
        self.assertTrue(stats["is_live"])
        self.assertEqual(stats["session"]["id"], session)
        self.assertIsNone(stats["telemetry"])
        self.assertEqual([h["id"] for h in stats["history"]], [session])
        live = self.d.get("/v1/streams?live=true&limit=500", headers=basic("otto")).json()
        self.assertIn(s["id"], [x["id"] for x in live["streams"]])
        mine = [x for x in live["streams"] if x["id"] == s["id"]][0]
        self.assertEqual(mine["session"]["id"], session)

        # what a live pipeline was built with cannot change under it
        self.assertError(self.patch(s["id"], {"latency_mode": "low"}), 409, "WE-STR-003")
        self.assertEqual(self.patch(s["id"], {"title": "Still live"}).status, 200)
        r = self.d.request("DELETE", "/v1/streams/" + s["id"], headers=basic("otto"))
        self.assertError(r, 409, "WE-STR-003")
        r = self.d.request("DELETE", "/v1/streams/%s?force=maybe" % s["id"],
                           headers=basic("otto"))
        self.assertError(r, 400, "WE-STR-001")
        r = self.d.request("DELETE", "/v1/streams/%s?force=true" % s["id"],
                           headers=basic("otto"))
        self.assertEqual(r.status, 204, r.body)
        self.assertError(self.d.get("/v1/streams/" + s["id"], headers=basic("vic")), 404,
                         "WE-STR-002")
        rows = self.d.sql("SELECT COUNT(*) FROM stream_sessions WHERE stream_id = '%s'"
                          % s["id"])
        self.assertIn(rows[0][0], (0, "0"))

        idle = self.create()
        r = self.d.request("DELETE", "/v1/streams/" + idle["id"], headers=basic("otto"))
        self.assertEqual(r.status, 204, r.body)
        r = self.d.request("DELETE", "/v1/streams/" + idle["id"], headers=basic("otto"))
        self.assertError(r, 404, "WE-STR-002")

    def test_pagination_and_live_filter(self):
        made = [self.create(user="ada", title="page %d" % i)["id"] for i in range(5)]
        self.make_live(made[1])
        self.make_live(made[3])
        first = self.d.get("/v1/streams?limit=2", headers=basic("vic")).json()
        total = first["total"]
        self.assertGreaterEqual(total, 5)
        self.assertEqual((first["limit"], first["offset"], len(first["streams"])), (2, 0, 2))
        ids = []
        for offset in range(0, total, 2):
            page = self.d.get("/v1/streams?limit=2&offset=%d" % offset,
                              headers=basic("vic")).json()
            self.assertEqual(page["total"], total)
            ids += [x["id"] for x in page["streams"]]
        self.assertEqual(len(ids), total)
        self.assertEqual(len(set(ids)), total)
        # newest first: the five just made lead, in reverse order
        self.assertEqual(ids[:5], list(reversed(made)))
        live = self.d.get("/v1/streams?live=true&limit=500", headers=basic("vic")).json()
        self.assertTrue(all(x["is_live"] for x in live["streams"]))
        self.assertTrue({made[1], made[3]} <= {x["id"] for x in live["streams"]})
        off = self.d.get("/v1/streams?live=false&limit=500", headers=basic("vic")).json()
        self.assertFalse(any(x["is_live"] for x in off["streams"]))
        self.assertEqual(live["total"] + off["total"], total)
        for query, field in (("live=maybe", "live"), ("limit=0", "limit"),
                             ("limit=501", "limit"), ("offset=-1", "offset")):
            with self.subTest(query=query):
                err = self.assertError(self.d.get("/v1/streams?" + query, headers=basic("vic")),
                                       400, "WE-STR-001")
                self.assertIn(field, err["details"])

    def test_rbac(self):
        s = self.create()
        sid = s["id"]
        calls = [
            ("POST", "/v1/streams", {"title": "x"}),
            ("PATCH", "/v1/streams/" + sid, {"title": "x"}),
            ("DELETE", "/v1/streams/" + sid, None),
            ("POST", "/v1/streams/%s/rotate-key" % sid, None),
            ("POST", "/v1/streams/%s/reveal-key" % sid, None),
        ]
        for method, path, body in calls:
            with self.subTest(method=method, path=path):
                r = self.d.request(method, path, body, headers=basic("vic"))
                self.assertError(r, 403, "WE-AUTH-004")
                self.assertNoSecret(r.body, s)
                self.assertError(self.d.request(method, path, body), 401, "WE-AUTH-001")
        for path in ("/v1/streams", "/v1/streams/" + sid, "/v1/streams/%s/stats" % sid):
            self.assertEqual(self.d.get(path, headers=basic("vic")).status, 200)
            self.assertError(self.d.get(path), 401, "WE-AUTH-001")
        # the viewer's refusals left the stream as it was
        g = self.d.get("/v1/streams/" + sid, headers=basic("vic")).json()
        self.assertEqual(g["title"], s["title"])
        self.assertEqual(g["stream_key_hint"], s["stream_key_hint"])

    def test_zz_no_secret_in_database_or_log(self):
        # runs last (unittest orders by name): every key and passphrase the
        # other tests were handed
        s = self.create()
        self.assertGreater(len(self.secrets), 4)
        key = s["stream_key"]
        # a key pasted where it does not belong: into a URL (the access log
        # records paths) and into a dashboard error report (stored)
        r = self.d.get("/v1/streams/" + key, headers=basic("vic"))
        self.assertError(r, 404, "WE-STR-002")
        r = self.d.post("/v1/errors", {"severity": "error", "message":
                                       "OBS: rtmp://h:1935/live/%s refused" % key,
                                       "context_data": {"url": s["ingest"]["srt"]["url"]}})
        self.assertEqual(r.status, 201, r.body)
        errors = self.d.get("/v1/errors", headers=basic("ada")).json()["errors"]
        reported = [e for e in errors if e["message"].startswith("OBS: ")]
        self.assertEqual(len(reported), 1)
        self.assertIn("/live/we_live_[REDACTED] refused", reported[0]["message"])
        self.assertNoSecret(repr(reported), s)
        db = database_text(self.d)
        with open(self.d.log_path, "rb") as f:
            log = f.read()
        self.assertIn(b"/v1/streams", log)  # the access log is there to search
        self.assertIn(b"GET /v1/streams/we_live_[REDACTED] 404", log)
        for secret in self.secrets:
            for text, where in ((db, "database"), (log, "log")):
                self.assertNotIn(secret.encode(), text, where)
                self.assertNotIn(secret[-12:].encode(), text, where)


class ConfiguredHost(wetest.DaemonTestCase):
    """[live] public_host wins over the Host header."""
    workers = 1

    @classmethod
    def setUpClass(cls):
        cls.d = basic_daemon({"WE_LIVE_PUBLIC_HOST": "ingest.example.org"}).start()

    def test_public_host(self):
        r = self.d.post("/v1/streams", {"title": "x"},
                        headers=dict(basic("otto"), Host="api.example.org"))
        self.assertEqual(r.status, 201, r.body)
        s = r.json()
        self.assertEqual(s["ingest"]["rtmp"]["server"],
                         "rtmp://ingest.example.org:%d/live" % RTMP_PORT)
        self.assertTrue(s["ingest"]["srt"]["url"].startswith(
            "srt://ingest.example.org:%d?streamid=publish:" % SRT_PORT))


if __name__ == "__main__":
    wetest.main()
