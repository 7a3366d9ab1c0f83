#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Authentication and RBAC on every route, with auth-basic in basic mode and
an htpasswd file, against a real webencoded."""

import base64
import os
import subprocess

import wetest


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], check=True,
                          capture_output=True, text=True).stdout.strip()


def basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + token}


class Auth(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        d = wetest.Daemon(workers=1)
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user in ("ada", "otto", "vic"):
                f.write("%s:%s\n" % (user, sha512_crypt(user + "-secret")))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": "ada=admin;otto=operator;vic=viewer",
        }
        cls.d = d.start()

    def test_health_needs_nothing(self):
        self.assertEqual(self.d.get("/health").status, 200)

    def test_missing_or_bad_credentials(self):
        for path in ("/v1/jobs", "/v1/profiles", "/v1/files/roots"):
            err = self.assertError(self.d.get(path), 401, "WE-AUTH-001")
            self.assertNotIn("secret", err["details"])
        r = self.d.get("/v1/jobs", headers=basic("ada", "wrong"))
        self.assertError(r, 401, "WE-AUTH-001")
        self.assertIn("basic", r.headers.get("www-authenticate", "").lower())
        self.assertError(self.d.get("/v1/jobs", headers=basic("nobody", "x")), 401, "WE-AUTH-001")
        self.assertError(self.d.get("/v1/jobs", headers={"Authorization": "Basic !!!"}), 401,
                         "WE-AUTH-001")
        self.assertError(self.d.get("/v1/jobs", headers={"Authorization": "Bearer abc"}), 401,
                         "WE-AUTH-001")

    def test_roles(self):
        viewer, operator = basic("vic", "vic-secret"), basic("otto", "otto-secret")
        self.assertEqual(self.d.get("/v1/jobs", headers=viewer).status, 200)
        self.assertEqual(self.d.get("/v1/profiles", headers=viewer).status, 200)
        body = {"source_url": "fs://x.mp4", "profile": "480p_fast"}
        self.assertError(self.d.post("/v1/jobs", body, headers=viewer), 403, "WE-AUTH-004")
        self.assertError(self.d.post("/v1/jobs/x/cancel", headers=viewer), 403, "WE-AUTH-004")
        self.assertError(self.d.request("DELETE", "/v1/jobs/x", headers=viewer), 403,
                         "WE-AUTH-004")
        clip = wetest.make_clip(os.path.join(self.d.media, "a.mp4"), duration=1)
        self.assertError(self.d.upload(clip, headers=viewer), 403, "WE-AUTH-004")
        self.assertError(self.d.upload(clip), 401, "WE-AUTH-001")
        # nothing of the refused uploads reached storage
        uploads = self.d.stored_dir("uploads")
        self.assertFalse(os.path.exists(uploads) and os.listdir(uploads))
        # an operator may
        r = self.d.upload(clip, headers=operator)
        self.assertEqual(r.status, 201, r.body)
        r = self.d.post("/v1/jobs", {"source_url": r.json()["url"], "profile": "480p_fast"},
                        headers=operator)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(self.d.post("/v1/jobs/%s/cancel" % r.json()["id"],
                                     headers=basic("ada", "ada-secret")).status, 200)


if __name__ == "__main__":
    wetest.main()
