#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The dashboard's settings pages (web/src/pages/Webhooks, WebhookDetail,
Tokens) in headless Chromium against a real webencoded with auth-basic
users and a real HTTP receiver on a thread of this test: the admin creates
a webhook through the form (the signing secret shown once, copyable); a
Ping reaches the receiver signed with that secret and the deliveries table
shows it delivered (2xx); after Rotate secret the next ping verifies only
with the new secret; Replay resends the same event; an invalid edit shows
the API's §11 error in the dialog; Delete removes it (the API says 404).
An API token created on the page works as `Authorization: Bearer` against
GET /v1/jobs until it is revoked there (then 401). The viewer has no nav
entries for these pages, gets the forbidden notice and the page sends no
request to those APIs. Screenshots at 1280x800 and 390x844 in
WE_SCREENSHOT_DIR; nothing scrolls sideways on the phone; any console error
or unexpected HTTP error fails."""

import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import webtest  # noqa: E402
from webtest import ADMIN, USERS, check_harness, wetest  # noqa: E402


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Receiver:
    """Records every POST (path, lower-cased headers, raw body); answers 200."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.requests.append((self.path, {k.lower(): v for k, v in
                                                       self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def got(self, path):
        with self.lock:
            return [(h, b) for p, h, b in self.requests if p == path]

    def wait(self, path, count, timeout=20):
        deadline = time.time() + timeout * wetest.TIME_FACTOR
        while time.time() < deadline:
            got = self.got(path)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.got(path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run_driver(args, on_message, timeout=300):
    """Runs web-settings.js, answering its questions with on_message(msg);
    returns its report."""
    return webtest.run_driver("web-settings.js", args, on_message, timeout)


class WebSettings(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        check_harness()
        cls.d = webtest.start_daemon(workers=0, users=USERS, extra_env={
            # a retry, should one be needed, within the test's seconds
            "WE_WEBHOOK_BACKOFF_BASE_MS": "100",
        })
        cls.rx = Receiver()
        cls.shots = webtest.shots_dir()

    @classmethod
    def tearDownClass(cls):
        cls.rx.close()
        cls.d.cleanup()

    def bearer_jobs(self, token):
        req = urllib.request.Request("http://127.0.0.1:%d/v1/jobs" % self.d.port,
                                     headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return {"status": r.status, "body": json.loads(r.read())}
        except urllib.error.HTTPError as e:
            return {"status": e.code, "body": json.loads(e.read() or b"null")}

    def answer(self, msg):
        ask = msg["ask"]
        if ask == "receiver":
            return {"url": "http://127.0.0.1:%d/hook" % self.rx.port}
        if ask == "check":
            # the count-th request the receiver got, checked against the
            # secret(s) the page showed
            got = self.rx.wait("/hook", msg["count"])
            if len(got) < msg["count"]:
                return {"received": len(got)}
            headers, body = got[msg["count"] - 1]
            sig = headers.get("x-webencode-signature", "")
            payload = json.loads(body)
            return {
                "received": len(got),
                "event": headers.get("x-webencode-event"),
                "event_id": headers.get("x-webencode-event-id"),
                "payload_event": payload.get("event_type"),
                "signature": sig,
                "verifies": hmac.compare_digest(sign(msg["secret"], body), sig),
                "verifies_old": bool(msg.get("old")) and hmac.compare_digest(sign(msg["old"], body), sig),
            }
        if ask == "gone":
            r = self.d.get("/v1/webhooks/" + msg["id"], headers=ADMIN)
            return {"status": r.status}
        if ask == "token":
            return self.bearer_jobs(msg["token"])
        if ask == "seed":
            # a webhook with a long URL and one delivery, for the phone pages
            r = self.d.post("/v1/webhooks", {
                "url": "http://127.0.0.1:%d/phone/a-rather-long-path/that-should-wrap/"
                       "instead-of-scrolling-the-page-sideways" % self.rx.port,
                "description": "phone"}, headers=ADMIN)
            hook = r.json()
            r = self.d.post("/v1/webhooks/%s/ping" % hook["id"], {}, headers=ADMIN)
            return {"id": hook["id"], "ping": r.status}
        raise AssertionError("web-settings.js asked %r" % msg)

    def test_settings_pages(self):
        r = run_driver(["--base", "http://127.0.0.1:%d" % self.d.port,
                        "--admin", webtest.creds("ada"), "--viewer", webtest.creds("vic"),
                        "--shots", self.shots], self.answer)
        print("screenshots in %s" % self.shots, file=sys.stderr)
        webtest.assert_clean(self, r, self.d)
        checks = r["checks"]

        # the admin sees both entries
        self.assertIn("/settings/webhooks", r["admin_nav"])
        self.assertIn("/settings/tokens", r["admin_nav"])
        self.assertIn("job.completed", r["event_choices"])

        # created: the secret shown once, with the signature header named;
        # copy put exactly it on the clipboard
        self.assertRegex(r["first_secret"], r"^[0-9a-f]{64}$")
        self.assertIn("X-WebEncode-Signature", r["secret_dialog_text"])
        self.assertEqual(r["clipboard"], r["first_secret"])
        hook = self.d.get("/v1/webhooks", headers=ADMIN).json()["webhooks"]
        self.assertNotIn(r["webhook_id"], [h["id"] for h in hook])  # deleted at the end
        self.assertIn("job.completed", r["list_row"])
        self.assertNotIn(r["first_secret"], r["list_row"])

        # the invalid edit: the §11 code in the dialog
        self.assertEqual(r["edit_error_code"], "WE-JOB-001", r["edit_error"])

        # ping: signed with the shown secret, delivered, shown 2xx
        ping = checks["ping"]
        self.assertEqual(ping["event"], "ping", ping)
        self.assertTrue(ping["verifies"], ping)
        self.assertEqual([(d["state"], d["status"]) for d in r["after_ping"]], [("succeeded", "200")])

        # rotate: the next ping verifies with the new secret only
        rot = checks["rotated"]
        self.assertNotEqual(r["second_secret"], r["first_secret"])
        self.assertTrue(rot["verifies"], rot)
        self.assertFalse(rot["verifies_old"], rot)
        self.assertEqual(len(r["after_rotate"]), 2, r["after_rotate"])

        # replay: the same event again, a new delivery with replay_of set
        rep = checks["replay"]
        self.assertEqual(rep["event_id"], rot["event_id"], (rep, rot))
        self.assertTrue(rep["verifies"], rep)
        self.assertEqual(len(r["after_replay"]), 3, r["after_replay"])
        newest = r["after_replay"][0]
        self.assertEqual(newest["replay_of"], r["after_rotate"][0]["id"], r["after_replay"])
        self.assertIn("200", r["delivery_log"])
        self.assertEqual(r["list_last"], "200")

        # delete
        self.assertEqual(checks["gone"]["status"], 404, checks)

        # tokens: a role not above the admin's; shown once; works; revoked
        self.assertEqual(r["token_roles"], ["viewer", "operator", "admin"])
        self.assertRegex(r["token"], r"^we_[A-Za-z0-9_-]{43}$")
        self.assertEqual(checks["token_works"]["status"], 200, checks["token_works"])
        self.assertIn(r["token"][:11], r["token_row"])
        self.assertNotIn(r["token"], r["page_text_after_token"])
        self.assertNotIn("Not yet", r["token_row_after_use"])  # last used now
        self.assertEqual(checks["token_revoked"]["status"], 401, checks["token_revoked"])
        self.assertEqual(checks["token_revoked"]["body"]["error"]["code"], "WE-AUTH-001")
        listed = self.d.get("/v1/tokens", headers=ADMIN).json()
        mine = [t for t in listed if t["name"] == "ci-settings"]
        self.assertEqual(len(mine), 1, listed)
        self.assertFalse(mine[0]["active"])
        self.assertEqual(mine[0]["role"], "operator")
        self.assertIsNotNone(mine[0]["expires_at"])

        # phone: nothing scrolls sideways
        for page, ok in r["overflow"].items():
            self.assertTrue(ok, "%s overflows at 390px" % page)
        self.assertGreaterEqual(len(r["overflow"]), 6, r["overflow"])

        # viewer: no entries, the notice, and no call to the admin APIs
        for href in ("/settings/webhooks", "/settings/tokens"):
            self.assertNotIn(href, r["viewer_nav"], r["viewer_nav"])
        for href, text in r["viewer_forbidden"].items():
            self.assertIn("does not allow", text, href)
        self.assertEqual(len(r["viewer_forbidden"]), 3)
        self.assertEqual(r["viewer_api_calls"], [], r["viewer_api_calls"])

        names = sorted(os.path.basename(s) for s in r["screenshots"])
        for page in ("webhooks", "webhook-detail", "webhook-secret", "webhook-dialog", "tokens"):
            self.assertIn("desktop-%s.png" % page, names)
            self.assertIn("phone-%s.png" % page, names)
        for s in r["screenshots"]:
            self.assertGreater(os.path.getsize(s), 5000, s)


if __name__ == "__main__":
    unittest.main()
