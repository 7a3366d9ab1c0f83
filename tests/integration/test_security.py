#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""API tokens, the audit log, the failed-login limiter and TLS, against a
real webencoded with auth-basic and an htpasswd file."""

import base64
import csv
import hashlib
import io
import os
import ssl
import subprocess
import time

import wetest

USERS = {"ada": "admin", "otto": "operator", "vic": "viewer"}


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], check=True,
                          capture_output=True, text=True).stdout.strip()


def basic(user, password=None):
    token = base64.b64encode(("%s:%s" % (user, password or user + "-pw")).encode()).decode()
    return {"Authorization": "Basic " + token}


def bearer(token):
    return {"Authorization": "Bearer " + token}


def basic_daemon(**env):
    d = wetest.Daemon(workers=1)
    htpasswd = os.path.join(d.tmp, "htpasswd")
    with open(htpasswd, "w") as f:
        for user in USERS:
            f.write("%s:%s\n" % (user, sha512_crypt(user + "-pw")))
    d.extra_env = {
        "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
        "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
        "WE_PLUGIN_AUTH_BASIC_ROLES": ";".join("%s=%s" % kv for kv in USERS.items()),
    }
    d.extra_env.update(env)
    return d


def database_bytes(d):
    data = b""
    db_dir = os.path.join(d.tmp, "data")
    for name in os.listdir(db_dir):
        if name.startswith("webencode.db"):
            with open(os.path.join(db_dir, name), "rb") as f:
                data += f.read()
    return data


class Security(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        cls.d = basic_daemon().start()

    def test_tokens(self):
        admin = basic("ada")
        r = self.d.post("/v1/tokens", {"name": "ci", "role": "operator"}, headers=admin)
        self.assertEqual(r.status, 201, r.body)
        created = r.json()
        token = created["token"]
        self.assertTrue(token.startswith("we_"))
        self.assertEqual(created["role"], "operator")
        # shown once: never listed again, stored only as a digest
        listed = self.d.get("/v1/tokens", headers=admin)
        self.assertEqual(listed.status, 200)
        self.assertNotIn(token.encode(), listed.body)
        row = [t for t in listed.json() if t["id"] == created["id"]][0]
        self.assertTrue(row["active"])
        self.assertTrue(row["prefix"].startswith(token[:11]))
        self.assertNotIn(token.encode(), database_bytes(self.d))
        self.assertNotIn(token, open(self.d.log_path, errors="replace").read())

        # the token acts with its role: an operator's, no more
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(token)).status, 200)
        self.assertError(self.d.post("/v1/profiles", {}, headers=bearer(token)), 403,
                         "WE-AUTH-004")
        self.assertEqual(self.d.get("/v1/auth/me", headers=bearer(token)).status, 200)
        # nobody but an admin makes tokens, and none above the maker's role
        self.assertError(self.d.post("/v1/tokens", {"name": "x"}, headers=basic("otto")), 403,
                         "WE-AUTH-004")
        self.assertError(self.d.post("/v1/tokens", {"name": "x"}, headers=bearer(token)), 403,
                         "WE-AUTH-004")
        self.assertError(self.d.post("/v1/tokens", {"role": "viewer"}, headers=admin), 400,
                         "WE-JOB-001")
        self.assertError(self.d.post("/v1/tokens", {"name": "x", "role": "root"},
                                     headers=admin), 400, "WE-JOB-001")

        # revoked: refused at once
        self.assertEqual(self.d.request("DELETE", "/v1/tokens/" + created["id"],
                                        headers=admin).status, 204)
        self.assertError(self.d.get("/v1/jobs", headers=bearer(token)), 401, "WE-AUTH-001")
        self.assertError(self.d.request("DELETE", "/v1/tokens/tok_nope", headers=admin), 404,
                         "WE-SYS-404")
        # a token of the right shape that we never made
        fake = "we_" + "A" * 43
        self.assertError(self.d.get("/v1/jobs", headers=bearer(fake)), 401, "WE-AUTH-001")

    def test_token_expiry(self):
        r = self.d.post("/v1/tokens", {"name": "short", "expires_in_s": 1},
                        headers=basic("ada"))
        self.assertEqual(r.status, 201, r.body)
        token = r.json()["token"]
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(token)).status, 200)
        time.sleep(1.5)
        self.assertError(self.d.get("/v1/jobs", headers=bearer(token)), 401, "WE-AUTH-002")

    def test_audit(self):
        admin, operator = basic("ada"), basic("otto")
        body = b'{"source_url": "fs://nowhere/x.mp4", "profile": "480p_fast"}'
        r = self.d.request("POST", "/v1/jobs", body=body,
                           headers=dict(operator, **{"Content-Type": "application/json",
                                                     "User-Agent": "audit-test"}))
        # the source does not exist: refused, and recorded as a failure
        self.assertIn(r.status, (201, 400, 422), r.body)
        self.assertEqual(self.d.post("/v1/profiles/480p_fast/duplicate", {"id": "audited"},
                                     headers=admin).status, 201)
        self.assertEqual(self.d.request("DELETE", "/v1/profiles/audited",
                                        headers=admin).status, 204)

        # only admins read it
        self.assertError(self.d.get("/v1/audit", headers=operator), 403, "WE-AUTH-004")
        self.assertError(self.d.get("/v1/audit"), 401, "WE-AUTH-001")

        r = self.d.get("/v1/audit?user=otto&action=job.", headers=admin)
        self.assertEqual(r.status, 200, r.body)
        entries = r.json()["entries"]
        self.assertTrue(entries, r.body)
        e = entries[0]
        self.assertEqual(e["username"], "otto")
        self.assertEqual(e["action"], "job.create")
        self.assertEqual(e["resource_type"], "job")
        self.assertEqual(e["client_ip"], "127.0.0.1")
        self.assertEqual(e["user_agent"], "audit-test")
        self.assertEqual(e["payload_digest"], "sha256:" + hashlib.sha256(body).hexdigest())
        self.assertEqual(e["result"], "success" if r.status == 201 else e["result"])
        self.assertTrue(e["request_id"])

        r = self.d.get("/v1/audit?resource_id=audited", headers=admin)
        actions = [x["action"] for x in r.json()["entries"]]
        self.assertEqual(actions, ["profile.delete", "profile.create"])
        self.assertTrue(all(x["username"] == "ada" for x in r.json()["entries"]))
        # reads are not state changes: never recorded
        r = self.d.get("/v1/audit?action=job.read", headers=admin)
        self.assertEqual(r.json()["total"], 0)
        # date range
        r = self.d.get("/v1/audit?until=2000-01-01", headers=admin)
        self.assertEqual(r.json()["total"], 0)
        r = self.d.get("/v1/audit?since=2000-01-01&limit=1", headers=admin)
        self.assertGreaterEqual(r.json()["total"], 3)
        self.assertEqual(len(r.json()["entries"]), 1)
        self.assertError(self.d.get("/v1/audit?since=yesterday", headers=admin), 400,
                         "WE-JOB-001")

        # CSV export, spreadsheet formulas defused
        self.d.post("/v1/tokens", {"name": "=HYPERLINK(\"x\")"}, headers=admin)
        r = self.d.get("/v1/audit?format=csv", headers=admin)
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.headers["content-type"].startswith("text/csv"))
        self.assertIn("attachment", r.headers["content-disposition"])
        rows = list(csv.reader(io.StringIO(r.body.decode())))
        self.assertEqual(rows[0][:4], ["timestamp", "user_id", "username", "action"])
        self.assertTrue(any(row[3] == "profile.delete" for row in rows[1:]))
        for row in rows[1:]:
            for cell in row:
                self.assertFalse(cell[:1] in ("=", "+", "@"), row)


class RateLimit(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        cls.d = basic_daemon(WE_LOGIN_MAX_FAILURES="3", WE_LOGIN_WINDOW_S="2").start()

    def test_failed_logins_are_limited(self):
        for _ in range(3):
            self.assertError(self.d.get("/v1/jobs", headers=basic("ada", "guess")), 401,
                             "WE-AUTH-001")
        # even the right password waits now: the provider is not asked
        r = self.d.get("/v1/jobs", headers=basic("ada"))
        err = self.assertError(r, 429, "WE-SYS-005")
        self.assertIn("retry-after", r.headers)
        self.assertLessEqual(int(r.headers["retry-after"]), 2)
        self.assertNotIn("guess", err["message"])
        # no credentials is no failure, and the window ends
        time.sleep(2.2)
        self.assertEqual(self.d.get("/v1/jobs", headers=basic("ada")).status, 200)
        r = self.d.get("/v1/audit?action=auth.failed", headers=basic("ada"))
        self.assertGreaterEqual(r.json()["total"], 3)


class Tls(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        d = basic_daemon()
        cert, key = os.path.join(d.tmp, "cert.pem"), os.path.join(d.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        d.extra_env.update({"WE_TLS_CERT_FILE": cert, "WE_TLS_KEY_FILE": key})
        ctx = ssl.create_default_context(cafile=cert)
        d.tls_context = ctx
        cls.cert = cert
        cls.d = d.start()

    def test_https(self):
        r = self.d.get("/v1/jobs", headers=basic("vic"))
        self.assertEqual(r.status, 200, r.body)
        # plain HTTP to the TLS port gets nowhere
        ctx, self.d.tls_context = self.d.tls_context, None
        try:
            with self.assertRaises(Exception):
                r = self.d.get("/health", timeout=5)
                if r.status < 400:
                    raise AssertionError("plain HTTP answered %d" % r.status)
        finally:
            self.d.tls_context = ctx


if __name__ == "__main__":
    wetest.main()
