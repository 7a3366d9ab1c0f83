#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""REST basics: health, profiles, the error envelope, request validation
(WE-JOB-001/002/003) and path traversal, against a real webencoded."""

import os

import wetest


class ApiBasics(wetest.DaemonTestCase):
    workers = 1

    def test_health(self):
        r = self.d.get("/health")
        self.assertEqual(r.status, 200)
        h = r.json()
        self.assertEqual(h["status"], "ok")
        if wetest.CLUSTER:
            self.assertEqual(h["mode"], "cluster")
            self.assertEqual(h["store"], "postgresql")
        else:
            self.assertEqual(h["mode"], "embedded")
            self.assertEqual(h["store"], "sqlite")
        self.assertEqual(h["workers"]["total"], 1)
        self.assertTrue(r.headers["x-request-id"].startswith("req-"))

    def test_request_id_is_reused(self):
        r = self.d.get("/health", headers={"X-Request-Id": "trace-42"})
        self.assertEqual(r.headers["x-request-id"], "trace-42")
        r = self.d.get("/health", headers={"X-Request-Id": "bad id\twith spaces"})
        self.assertNotEqual(r.headers["x-request-id"], "bad id\twith spaces")

    def test_profiles(self):
        r = self.d.get("/v1/profiles")
        self.assertEqual(r.status, 200)
        ids = [p["id"] for p in r.json()["profiles"]]
        for pid in ("1080p_h264", "720p_h264", "480p_fast", "720p_vp9", "1080p_av1", "4k_hevc"):
            self.assertIn(pid, ids)
        p = self.d.get("/v1/profiles/720p_vp9").json()
        self.assertEqual((p["container"], p["video_codec"], p["audio_codec"]),
                         ("webm", "vp9", "opus"))
        self.assertTrue(p["builtin"])
        self.assertError(self.d.get("/v1/profiles/nope"), 400, "WE-JOB-003")

    def test_unknown_route_and_method(self):
        self.assertError(self.d.get("/v1/nothing-here"), 404, "WE-SYS-404")
        self.assertError(self.d.request("PUT", "/v1/jobs"), 405, "WE-SYS-405")

    def test_ids_are_decoded_once(self):
        # an escaped "%" stays a "%" of the id, and a lone one is just a character
        err = self.assertError(self.d.get("/v1/jobs/abc%2525x"), 404, "WE-JOB-004")
        self.assertIn("abc%25x", err["details"])
        err = self.assertError(self.d.get("/v1/jobs/abc%25x"), 404, "WE-JOB-004")
        self.assertIn("abc%x", err["details"])

    def test_malformed_json(self):
        r = self.d.post("/v1/jobs", body=b"{not json", headers={"Content-Type": "application/json"})
        err = self.assertError(r, 400, "WE-JOB-001")
        self.assertIn("malformed JSON", err["details"])
        self.assertError(self.d.post("/v1/jobs", body=b"[1,2]"), 400, "WE-JOB-001")
        self.assertError(self.d.post("/v1/jobs", body=b""), 400, "WE-JOB-001")
        self.assertError(self.d.post("/v1/jobs", {"profile": "720p_h264"}), 400, "WE-JOB-001")
        self.assertError(self.d.post("/v1/jobs", {"source_url": 5, "profile": "x"}), 400,
                         "WE-JOB-001")
        self.assertError(self.d.post("/v1/jobs", {"source_url": "fs://a", "profile": "720p_h264",
                                                  "bogus": 1}), 400, "WE-JOB-001")

    def test_oversized_body(self):
        big = b'{"source_url":"' + b"a" * (2 * 1024 * 1024) + b'"}'
        self.assertError(self.d.post("/v1/jobs", body=big,
                                     headers={"Content-Type": "application/json"}),
                         413, "WE-SYS-413")

    def test_unknown_source(self):
        err = self.assertError(self.d.post("/v1/jobs", {"source_url": "fs://missing/file.mp4",
                                                        "profile": "720p_h264"}), 400, "WE-JOB-002")
        self.assertIn("fs://missing/file.mp4", err["details"])
        err = self.assertError(self.d.post("/v1/jobs", {"source_url": "ftp://host/x.mp4",
                                                        "profile": "720p_h264"}), 400, "WE-JOB-002")
        self.assertIn("ftp", err["details"])
        self.assertError(self.d.post("/v1/jobs", {"source_url": "/no/scheme.mp4",
                                                  "profile": "720p_h264"}), 400, "WE-JOB-002")

    def test_unknown_profile(self):
        clip = wetest.make_clip(os.path.join(self.d.media, "p.mp4"), duration=1)
        err = self.assertError(self.d.post("/v1/jobs", {"source_url": "file://" + clip,
                                                        "profile": "9000p"}), 400, "WE-JOB-003")
        self.assertIn("9000p", err["details"])
        self.assertError(self.d.post("/v1/jobs", {"source_url": "file://" + clip,
                                                  "profile": "720p_h264",
                                                  "profile_overrides": {"width": 7}}),
                         400, "WE-JOB-003")

    def test_path_traversal_refused(self):
        # sources outside the storage roots, directly or through ../ and symlinks
        for url in ("file:///etc/passwd", "fs://../../../../etc/passwd",
                    "file://" + self.d.media + "/../../../../etc/passwd",
                    "fs://uploads/%2e%2e/%2e%2e/%2e%2e/etc/passwd"):
            r = self.d.post("/v1/jobs", {"source_url": url, "profile": "720p_h264"})
            self.assertError(r, 400, "WE-JOB-002")
        link = os.path.join(self.d.media, "escape")
        if not os.path.exists(link):
            os.symlink("/etc", link)
        self.assertError(self.d.post("/v1/jobs", {"source_url": "file://" + link + "/passwd",
                                                  "profile": "720p_h264"}), 400, "WE-JOB-002")
        # browse
        r = self.d.get("/v1/files/browse?plugin=storage-fs&path=/etc")
        self.assertError(r, 403, "WE-STO-002")
        r = self.d.get("/v1/files/browse?plugin=storage-fs&path=" + self.d.media + "/../..")
        self.assertEqual(r.status, 403, r.body)
        # upload keys
        clip = wetest.make_clip(os.path.join(self.d.media, "t.mp4"), duration=1)
        for key in ("../evil.mp4", "/abs/evil.mp4", "a/../../evil.mp4", "a/./b"):
            r = self.d.upload(clip, query={"object_key": key})
            self.assertError(r, 403, "WE-STO-002")
        self.assertEqual(self.d.get("/health").status, 200)

    def test_files(self):
        caps = self.d.get("/v1/files/capabilities").json()
        fs = [c for c in caps if c["plugin_id"] == "storage-fs"][0]
        self.assertTrue(fs["supports_browse"] and fs["supports_upload"])
        roots = self.d.get("/v1/files/roots").json()
        self.assertIn(self.d.media, [r["path"] for r in roots])
        wetest.make_clip(os.path.join(self.d.media, "browse-me.mp4"), duration=1)
        b = self.d.get("/v1/files/browse?plugin=storage-fs&media_only=true&search=BROWSE&path="
                       + self.d.media).json()
        names = [e["name"] for e in b["entries"]]
        self.assertEqual(names, ["browse-me.mp4"])
        self.assertTrue(b["entries"][0]["is_video"])
        self.assertTrue(b["entries"][0]["url"].startswith("file://"))

    def test_upload_raw_and_multipart(self):
        clip = wetest.make_clip(os.path.join(self.d.media, "up.mp4"), duration=1)
        data = open(clip, "rb").read()
        r = self.d.upload(clip)
        self.assertEqual(r.status, 201, r.body)
        up = r.json()
        self.assertEqual(up["size"], len(data))
        self.assertTrue(up["url"].startswith(self.d.upload_prefix()), up)
        self.assertEqual(self.d.read_stored(up["url"]), data)
        self.assertTrue(up["url"].endswith("/up.mp4"))
        # multipart, with a split boundary-like sequence inside the data
        boundary = "----webencodeTestBoundary7MA4YWxk"
        payload = data + b"\r\n------webencodeTestBoundary7MA4YWx" + data[:1000]
        body = (("--%s\r\nContent-Disposition: form-data; name=\"object_key\"\r\n\r\n"
                 "mine/clip.bin\r\n--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                 "filename=\"c:\\\\videos\\\\clip.bin\"\r\nContent-Type: application/octet-stream"
                 "\r\n\r\n") % (boundary, boundary)).encode() + payload + \
            ("\r\n--%s--\r\n" % boundary).encode()
        r = self.d.post("/v1/files/upload", body=body,
                        headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["url"], self.d.upload_prefix().replace("uploads/", "mine/clip.bin"))
        self.assertEqual(r.json()["size"], len(payload))
        self.assertEqual(self.d.read_stored(r.json()["url"]), payload)
        # a multipart body without its closing boundary stores nothing
        r = self.d.post("/v1/files/upload", body=body[:-10],
                        headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.assertError(r, 400, "WE-JOB-001")
        r = self.d.post("/v1/files/upload", body=b"x",
                        headers={"Content-Type": "multipart/form-data"})
        self.assertError(r, 400, "WE-JOB-001")

    def test_workers_are_recorded(self):
        import time
        rows = []
        deadline = time.time() + 10
        while time.time() < deadline and not rows:
            rows = self.d.sql("SELECT id, hostname, capabilities, is_healthy FROM workers")
            time.sleep(0.3)
        self.assertEqual(len(rows), 1, rows)
        # NATS workers the kernel starts are named <host>-<pid>-local-N
        self.assertTrue(rows[0][0].endswith("local-1"), rows)
        self.assertIn('"h264"', rows[0][2])
        self.assertIn(str(rows[0][3]), ("1", "t"))

    def test_jobs_listing(self):
        r = self.d.get("/v1/jobs?limit=0")
        self.assertError(r, 400, "WE-JOB-001")
        self.assertError(self.d.get("/v1/jobs?status=bogus"), 400, "WE-JOB-001")
        r = self.d.get("/v1/jobs?status=completed,failed&limit=5&offset=0")
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertEqual(body["limit"], 5)
        self.assertIsInstance(body["jobs"], list)
        self.assertError(self.d.get("/v1/jobs/00000000-0000-0000-0000-000000000000"),
                         404, "WE-JOB-004")
        self.assertError(self.d.post("/v1/jobs/nope/cancel"), 404, "WE-JOB-004")
        self.assertError(self.d.post("/v1/jobs/nope/retry"), 404, "WE-JOB-004")
        self.assertError(self.d.request("DELETE", "/v1/jobs/nope"), 404, "WE-JOB-004")
        self.assertError(self.d.get("/v1/jobs/nope/outputs"), 404, "WE-JOB-004")


if __name__ == "__main__":
    wetest.main()
