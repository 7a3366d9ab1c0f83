#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""RBAC (spec section 19.5) on every route: each entry of tests/rbac-matrix.json
(which src/api/we-api-routes-test.c keeps equal to the route table) is called
as nobody, viewer, operator and admin against a real webencoded with
auth-basic and an htpasswd file. Below the route's role the answer is 401
WE-AUTH-001 (nobody) or 403 WE-AUTH-004; from it on, never 401 or 403."""

import base64
import json
import os
import subprocess

import wetest

ROLES = ["none", "viewer", "operator", "admin"]
USERS = {"viewer": "vic", "operator": "otto", "admin": "ada"}


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], check=True,
                          capture_output=True, text=True).stdout.strip()


def basic(user):
    token = base64.b64encode(("%s:%s-pw" % (user, user)).encode()).decode()
    return {"Authorization": "Basic " + token}


def concrete(path):
    # ids that exist nowhere: a permitted call then fails on the id (404)
    # or the body (400), never on the role
    return path.replace("{**}", "no-such-worker").replace("{}", "no-such-id")


class Rbac(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        d = wetest.Daemon(workers=1)
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user in USERS.values():
                f.write("%s:%s\n" % (user, sha512_crypt(user + "-pw")))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": "ada=admin;otto=operator;vic=viewer",
        }
        cls.d = d.start()
        with open(os.path.join(os.environ.get("WE_SOURCE_ROOT", os.path.join(
                os.path.dirname(__file__), "..", "..")), "tests", "rbac-matrix.json")) as f:
            cls.matrix = json.load(f)["routes"]

    def call(self, route, role):
        headers = basic(USERS[role]) if role != "none" else {}
        body = None
        if route["method"] in ("POST", "PUT", "PATCH"):
            body = {}
        if route["path"] == "/v1/files/upload":
            headers["Content-Type"] = "application/octet-stream"
            body = b""
        return self.d.request(route["method"], concrete(route["path"]), body=body,
                              headers=headers)

    def test_every_route_and_role(self):
        self.assertGreater(len(self.matrix), 40)
        checked = 0
        for route in self.matrix:
            need = ROLES.index(route["role"])
            for have, role in enumerate(ROLES):
                with self.subTest(method=route["method"], path=route["path"], role=role):
                    r = self.call(route, role)
                    if have < need and route["method"] == "HEAD":
                        # no body to read the code from
                        self.assertEqual(r.status, 401 if role == "none" else 403)
                    elif have < need:
                        if role == "none":
                            self.assertError(r, 401, "WE-AUTH-001")
                        else:
                            self.assertError(r, 403, "WE-AUTH-004")
                    elif need == 0:
                        # public routes may refuse bad login input with
                        # 401, but never for want of a role
                        self.assertNotEqual(r.status, 403, r.body)
                    else:
                        self.assertNotIn(r.status, (401, 403), r.body)
                    checked += 1
        self.assertEqual(checked, 4 * len(self.matrix))

    def test_refusals_are_audited(self):
        self.assertEqual(self.d.post("/v1/profiles", {}, headers=basic("vic")).status, 403)
        r = self.d.get("/v1/audit?action=profile.create", headers=basic("ada"))
        self.assertEqual(r.status, 200, r.body)
        refused = [e for e in r.json()["entries"] if e["username"] == "vic"]
        self.assertTrue(refused, r.body)
        self.assertEqual(refused[0]["result"], "failure")
        self.assertEqual(refused[0]["error_code"], "WE-AUTH-004")


if __name__ == "__main__":
    wetest.main()
