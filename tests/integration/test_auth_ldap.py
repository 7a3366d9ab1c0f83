#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""webencoded with auth-ldap against a real OpenLDAP slapd started by the
test (weldap.py): StartTLS, the service account's password through the file
secrets backend, roles from LDAP groups enforced by the kernel's RBAC."""

import base64
import os
import unittest

import weldap
import wetest


def basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + token}


def as_user(uid):
    return basic(uid, weldap.password(uid))


class AuthLdap(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        if not weldap.available():
            raise unittest.SkipTest("needs slapd, slapadd (Debian: slapd) and openssl")
        cls.slapd = weldap.Slapd(tls=True).start()
        d = wetest.Daemon(workers=1)
        secret_dir = os.path.join(d.tmp, "secrets")
        os.makedirs(secret_dir, mode=0o700)
        fd = os.open(os.path.join(secret_dir, "ldap-bind"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, (weldap.SERVICE_PASSWORD + "\n").encode())
        os.close(fd)
        config = os.path.join(d.tmp, "webencoded.conf")
        with open(config, "w") as f:
            f.write("[secrets]\nbackend=file\nfile_dir=%s\n\n[plugin:auth-ldap]\n" % secret_dir)
            for key, value in cls.slapd.plugin_config("file:ldap-bind").items():
                f.write("%s=%s\n" % (key, value))
        d.config = config
        # auth-basic's default mode admits every loopback client as admin:
        # this daemon must know its callers from LDAP only. webencoded does
        # not honour WE_PLUGINS_DISABLED for its own plugins yet, so
        # auth-basic also gets an htpasswd file without users (refuses all).
        htpasswd = os.path.join(d.tmp, "htpasswd.empty")
        open(htpasswd, "w").close()
        d.extra_env = {"WE_PLUGINS_DISABLED": "auth-basic",
                       "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
                       "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd}
        try:
            cls.d = d.start()
        except Exception:
            d.cleanup()
            cls.slapd.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.slapd.cleanup()

    def test_a_roles(self):
        # a viewer reads but may not submit
        self.assertEqual(self.d.get("/v1/jobs", headers=as_user("vera")).status, 200)
        body = {"source_url": "fs://x.mp4", "profile": "480p_fast"}
        self.assertError(self.d.post("/v1/jobs", body, headers=as_user("vera")), 403,
                         "WE-AUTH-004")
        # an operator (groupOfUniqueNames, mapped by cn) and an admin (posixGroup, by DN) may
        clip = wetest.make_clip(os.path.join(self.d.media, "a.mp4"), duration=1)
        self.assertError(self.d.upload(clip, headers=as_user("vera")), 403, "WE-AUTH-004")
        r = self.d.upload(clip, headers=as_user("otto"))
        self.assertEqual(r.status, 201, r.body)
        r = self.d.post("/v1/jobs", {"source_url": r.json()["url"], "profile": "480p_fast"},
                        headers=as_user("ada"))
        self.assertEqual(r.status, 201, r.body)
        job_id = r.json()["id"]
        self.assertEqual(self.d.get("/v1/jobs/" + job_id, headers=as_user("vera")).status, 200)
        self.assertEqual(self.d.post("/v1/jobs/%s/cancel" % job_id,
                                     headers=as_user("ada")).status, 200)

    def test_b_refusals(self):
        self.assertError(self.d.get("/v1/jobs"), 401, "WE-AUTH-001")
        self.assertError(self.d.get("/v1/jobs", headers=basic("ada", "wrong-pass")), 401,
                         "WE-AUTH-001")
        self.assertError(self.d.get("/v1/jobs", headers=basic("nobody", "wrong-pass")), 401,
                         "WE-AUTH-001")
        self.assertError(self.d.get("/v1/jobs", headers=basic("ada", "")), 401, "WE-AUTH-001")
        self.assertError(self.d.get("/v1/jobs", headers=basic("*", weldap.password("ada"))), 401,
                         "WE-AUTH-001")
        # a good password, but no group that grants a role
        self.assertError(self.d.get("/v1/jobs", headers=as_user("nora")), 403, "WE-AUTH-003")

    def test_c_no_plaintext_in_log(self):
        with open(self.d.log_path, "rb") as f:
            log = f.read()
        for secret in [weldap.SERVICE_PASSWORD] + [weldap.password(u) for u in weldap.USERS]:
            self.assertNotIn(secret.encode(), log)

    def test_z_directory_down(self):
        # (runs last) a user never seen before must reach the directory
        self.slapd.stop()
        try:
            self.assertError(self.d.get("/v1/jobs", headers=basic("otto", "other-pass")), 500,
                             "WE-AUTH-005")
        finally:
            self.slapd.start()
        self.assertEqual(self.d.get("/v1/jobs", headers=as_user("otto")).status, 200)


if __name__ == "__main__":
    wetest.main()
