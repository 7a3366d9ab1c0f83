#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The dashboard's files served by webencoded itself (issue 9): a temporary
web dir with index.html, a content-hashed asset, its gzip sibling and a plain
file; caching headers, 304s, SPA fallback, 404s, traversal attempts
(.., %2e%2e, a symlink out of the root, NUL), the security headers on HTML,
the API staying the API, and the page a daemon without a dashboard shows."""

import gzip
import http.client
import os
import shutil
import tempfile

import wetest

INDEX = b"<!DOCTYPE html><html><body><div id=app></div>" \
        b"<script type=module src=/assets/index-B2x_9kQa.js></script></body></html>"
ASSET = b"console.log('dashboard');\n" * 200
ASSET_NAME = "assets/index-B2x_9kQa.js"


def raw_get(port, path, method="GET"):
    """http.client sends the path as given: no client-side normalisation of
    .. or %2e%2e gets in the way of what the server must refuse."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


class WebStatic(wetest.DaemonTestCase):
    workers = 0

    @classmethod
    def setUpClass(cls):
        cls.outside = tempfile.mkdtemp(prefix="we-web-outside-")
        with open(os.path.join(cls.outside, "secret.txt"), "w") as f:
            f.write("not for the web")
        cls.web = tempfile.mkdtemp(prefix="we-web-")
        os.makedirs(os.path.join(cls.web, "assets"))
        with open(os.path.join(cls.web, "index.html"), "wb") as f:
            f.write(INDEX)
        with open(os.path.join(cls.web, ASSET_NAME), "wb") as f:
            f.write(ASSET)
        with open(os.path.join(cls.web, ASSET_NAME + ".gz"), "wb") as f:
            f.write(gzip.compress(ASSET))
        with open(os.path.join(cls.web, "robots.txt"), "wb") as f:
            f.write(b"User-agent: *\n")
        with open(os.path.join(cls.web, ".env"), "wb") as f:
            f.write(b"SECRET=1\n")
        os.symlink(os.path.join(cls.outside, "secret.txt"), os.path.join(cls.web, "leak.txt"))
        os.symlink(cls.outside, os.path.join(cls.web, "out"))
        cls.d = wetest.Daemon(workers=0, env={"WE_WEB_DIR": cls.web})
        cls.d.start(require_worker=False)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        shutil.rmtree(cls.web, ignore_errors=True)
        shutil.rmtree(cls.outside, ignore_errors=True)

    def assertHtmlHeaders(self, r):
        csp = r.headers.get("content-security-policy", "")
        self.assertIn("default-src 'self'", csp)
        self.assertIn("connect-src 'self' ws: wss:", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertEqual(r.headers.get("x-content-type-options"), "nosniff")
        self.assertEqual(r.headers.get("referrer-policy"), "same-origin")

    def test_index(self):
        r = self.d.get("/")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, INDEX)
        self.assertTrue(r.headers["content-type"].startswith("text/html"))
        self.assertEqual(r.headers["cache-control"], "no-cache")
        self.assertIn("etag", r.headers)
        self.assertIn("last-modified", r.headers)
        self.assertHtmlHeaders(r)
        self.assertEqual(self.d.get("/index.html").body, INDEX)

    def test_hashed_asset_is_immutable(self):
        r = self.d.get("/" + ASSET_NAME)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, ASSET)
        self.assertTrue(r.headers["content-type"].startswith("text/javascript"))
        self.assertEqual(r.headers["cache-control"], "public, max-age=31536000, immutable")
        self.assertEqual(r.headers.get("vary"), "Accept-Encoding")
        self.assertNotIn("content-encoding", r.headers)
        self.assertNotIn("content-security-policy", r.headers)
        self.assertEqual(r.headers.get("x-content-type-options"), "nosniff")
        self.assertEqual(int(r.headers["content-length"]), len(ASSET))

    def test_gzip_sibling(self):
        r = self.d.get("/" + ASSET_NAME, headers={"Accept-Encoding": "gzip, deflate"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("content-encoding"), "gzip")
        self.assertEqual(r.headers.get("vary"), "Accept-Encoding")
        self.assertEqual(gzip.decompress(r.body), ASSET)
        plain = self.d.get("/" + ASSET_NAME)
        self.assertNotEqual(r.headers["etag"], plain.headers["etag"])
        # q=0 refuses it
        r = self.d.get("/" + ASSET_NAME, headers={"Accept-Encoding": "gzip;q=0"})
        self.assertNotIn("content-encoding", r.headers)
        self.assertEqual(r.body, ASSET)

    def test_conditional_requests(self):
        r = self.d.get("/" + ASSET_NAME)
        etag = r.headers["etag"]
        r2 = self.d.get("/" + ASSET_NAME, headers={"If-None-Match": etag})
        self.assertEqual(r2.status, 304)
        self.assertEqual(r2.body, b"")
        self.assertEqual(r2.headers["etag"], etag)
        r3 = self.d.get("/" + ASSET_NAME, headers={"If-None-Match": '"other", ' + etag})
        self.assertEqual(r3.status, 304)
        self.assertEqual(self.d.get("/" + ASSET_NAME,
                                    headers={"If-None-Match": '"other"'}).status, 200)
        r4 = self.d.get("/", headers={"If-Modified-Since": self.d.get("/").headers[
            "last-modified"]})
        self.assertEqual(r4.status, 304)

    def test_head(self):
        r = self.d.request("HEAD", "/" + ASSET_NAME)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(int(r.headers["content-length"]), len(ASSET))

    def test_other_files_no_cache(self):
        r = self.d.get("/robots.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"User-agent: *\n")
        self.assertTrue(r.headers["content-type"].startswith("text/plain"))
        self.assertEqual(r.headers["cache-control"], "no-cache")

    def test_spa_fallback(self):
        for path in ("/jobs", "/jobs/42", "/settings/users/", "/jobs/42?tab=logs"):
            with self.subTest(path=path):
                r = self.d.get(path)
                self.assertEqual(r.status, 200, r.body)
                self.assertEqual(r.body, INDEX)
                self.assertEqual(r.headers["cache-control"], "no-cache")
                self.assertHtmlHeaders(r)

    def test_missing_asset_is_404(self):
        for path in ("/assets/index-DEADBEEF.js", "/favicon.ico", "/jobs/42.json"):
            with self.subTest(path=path):
                r = self.d.get(path)
                self.assertError(r, 404, "WE-SYS-404")

    def test_traversal_refused(self):
        for path in ("/../etc/passwd", "/assets/../../etc/passwd", "/%2e%2e/etc/passwd",
                     "/assets/%2E%2E/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd",
                     "/leak.txt", "/out/secret.txt", "/.env", "/index.html%00.png",
                     "/%00", "/assets%5c..%5c..%5cetc%5cpasswd"):
            with self.subTest(path=path):
                status, body = raw_get(self.d.port, path)
                self.assertNotIn(b"not for the web", body)
                self.assertNotIn(b"root:", body)
                self.assertNotIn(b"SECRET", body)
                # an extension-less path may fall back to the app, nothing else
                self.assertTrue(status in (400, 404) or body == INDEX, (status, body))

    def test_api_stays_api(self):
        r = self.d.get("/v1/no-such-thing")
        self.assertError(r, 404, "WE-SYS-404")
        self.assertEqual(self.d.get("/health").status, 200)
        # not routed to the files: other methods on a web path are 405
        self.assertError(self.d.post("/jobs", {}), 405, "WE-SYS-405")

    def test_not_built(self):
        d = wetest.Daemon(workers=0, env={"WE_WEB_DIR": os.path.join(self.web, "missing")})
        try:
            d.start(require_worker=False)
            r = d.get("/")
            self.assertEqual(r.status, 503)
            self.assertIn(b"not built", r.body)
            self.assertTrue(r.headers["content-type"].startswith("text/html"))
            self.assertEqual(d.get("/jobs/1").status, 503)
            self.assertEqual(d.get("/health").status, 200)
        finally:
            d.cleanup()


if __name__ == "__main__":
    wetest.main()
