#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""auth-oidc against a real OpenID Provider (oidc-provider from npm,
tests/oidc/server.mjs) started here, with a real webencoded: valid tokens
and roles from a claim; expired, wrong-audience, tampered, foreign-issuer
and alg-none tokens refused; signing-key rotation with JWKS refetch (rate
limited); the IdP going away; and the dashboard's authorization-code + PKCE
login driven through the provider's own login and consent forms."""

import base64
import http.client
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import wetest

OIDC_DIR = os.path.join(wetest.SOURCE, "tests", "oidc")
AUDIENCE = "urn:webencode"


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token):
    h, p, s = token.split(".")
    return json.loads(b64d(h)), json.loads(b64d(p)), s


def bearer(token):
    return {"Authorization": "Bearer " + token}


def http_request(method, url, body=None, headers=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    path = u.path + ("?" + u.query if u.query else "")
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, r.getheaders(), data


class Provider:
    """tests/oidc/server.mjs: the main issuer and an unrelated one."""

    def __init__(self, redirect_uri):
        modules = os.path.join(OIDC_DIR, "node_modules", "oidc-provider")
        if not os.path.isdir(modules):
            raise RuntimeError("%s is missing: run 'npm ci --prefix %s'" % (modules, OIDC_DIR))
        self.redirect_uri = redirect_uri
        self.tmp = tempfile.mkdtemp(prefix="we-oidc-")
        self.proc = None

    def start(self, timeout=30):
        self.log = open(os.path.join(self.tmp, "provider.log"), "ab")
        # stdin is a pipe we hold: the provider exits when we do
        self.proc = subprocess.Popen(
            ["node", os.path.join(OIDC_DIR, "server.mjs"), "--redirect-uri", self.redirect_uri],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=OIDC_DIR)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("ready "):
            raise RuntimeError("server.mjs did not start: %r" % line)
        _, main, other = line.split()
        self.port, self.other_port = int(main), int(other)
        return self

    @property
    def issuer(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.log.close()
            self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def token(self, client="we-admin", resource=AUDIENCE, other=False):
        """A JWT access token by the client-credentials grant."""
        port = self.other_port if other else self.port
        auth = base64.b64encode(("%s:test-secret" % client).encode()).decode()
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": resource,
                                       "scope": "api"})
        status, _, data = http_request(
            "POST", "http://127.0.0.1:%d/token" % port, body,
            {"Authorization": "Basic " + auth,
             "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, (status, data)
        return json.loads(data)["access_token"]

    def admin(self, path, method="POST"):
        status, _, data = http_request(method, self.issuer + path)
        assert status == 200, (status, data)
        return json.loads(data)

    def jwks_fetches(self):
        return self.admin("/admin/stats", "GET")["jwks_fetches"]


def oidc_daemon(**settings):
    d = wetest.Daemon(workers=1)
    provider = Provider("http://127.0.0.1:%d/v1/auth/callback" % d.port).start()
    # auth-basic stays loaded (the kernel tries every auth provider) but in
    # basic mode with nobody in its file, so it knows no caller: the local
    # client these tests run as would otherwise be admitted by mode=none
    htpasswd = os.path.join(d.tmp, "htpasswd")
    open(htpasswd, "w").close()
    env = {
        "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
        "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
        "WE_PLUGIN_AUTH_OIDC_ISSUER": provider.issuer,
        "WE_PLUGIN_AUTH_OIDC_AUDIENCE": AUDIENCE,
        "WE_PLUGIN_AUTH_OIDC_CLIENT_ID": "we-dashboard",
        "WE_PLUGIN_AUTH_OIDC_ROLE_CLAIM": "realm_access.roles",
        "WE_PLUGIN_AUTH_OIDC_ROLE_MAP":
            "admin=webencode-admin;operator=webencode-operator;viewer=webencode-viewer",
        "WE_PLUGIN_AUTH_OIDC_SCOPES": "openid profile email offline_access api",
        "WE_PLUGIN_AUTH_OIDC_LEEWAY_S": "0",
        "WE_PLUGIN_AUTH_OIDC_JWKS_MIN_REFRESH_S": "1",
    }
    for k, v in settings.items():
        env["WE_PLUGIN_AUTH_OIDC_" + k.upper()] = str(v)
    d.extra_env = env
    try:
        d.start()
    except Exception:
        provider.cleanup()
        d.cleanup()
        raise
    return d, provider


def browser_login(d, user, redirect=None):
    """Walks /v1/auth/login → the provider's login and consent forms →
    /v1/auth/callback like a browser would; returns the callback's answer."""
    path = "/v1/auth/login"
    if redirect:
        path += "?" + urllib.parse.urlencode({"redirect": redirect})
    r = d.get(path)
    assert r.status == 302, (r.status, r.body)
    login_cookie = r.headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=Lax" in r.headers["set-cookie"]
    url = r.headers["location"]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43, q
    jar = {}
    method, body = "GET", None
    for _ in range(20):
        u = urllib.parse.urlsplit(url)
        if u.port == d.port:
            break
        headers = {"Cookie": "; ".join("%s=%s" % kv for kv in jar.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, hdrs, data = http_request(method, url, body, headers)
        for k, v in hdrs:
            if k.lower() == "set-cookie":
                name, _, value = v.split(";")[0].partition("=")
                jar[name.strip()] = value
        method, body = "GET", None
        if status in (302, 303):
            url = urllib.parse.urljoin(url, dict((k.lower(), v) for k, v in hdrs)["location"])
            continue
        assert status == 200, (status, data[:500])
        html = data.decode()
        action = re.search(r'<form[^>]*action="([^"]+)"', html).group(1)
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
        if 'name="login"' in html:
            fields.update(login=user, password="any")
        url = urllib.parse.urljoin(url, action)
        method, body = "POST", urllib.parse.urlencode(fields)
    else:
        raise AssertionError("the provider never sent the browser back")
    u = urllib.parse.urlsplit(url)
    return d.get(u.path + "?" + u.query, headers={"Cookie": login_cookie})


class OidcAuth(wetest.DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.d, cls.idp = oidc_daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.idp.cleanup()

    def test_auth_config(self):
        c = self.d.get("/v1/auth/config").json()
        self.assertTrue(c["login"])
        self.assertEqual(c["login_url"], "/v1/auth/login")
        self.assertIn({"plugin": "auth-oidc", "method": "oidc", "login": True}, c["methods"])

    def test_valid_tokens_and_roles(self):
        admin = self.idp.token("we-admin")
        me = self.d.get("/v1/auth/me", headers=bearer(admin))
        self.assertEqual(me.status, 200, me.body)
        self.assertEqual(me.json()["role"], "admin")
        self.assertEqual(me.json()["username"], "we-admin")
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(admin)).status, 200)
        # the same token again comes from the cache: same answer
        self.assertEqual(self.d.get("/v1/auth/me", headers=bearer(admin)).json(), me.json())

        viewer = self.idp.token("we-viewer")
        self.assertEqual(self.d.get("/v1/auth/me", headers=bearer(viewer)).json()["role"],
                         "viewer")
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(viewer)).status, 200)
        self.assertError(self.d.post("/v1/jobs", {"source_url": "fs://x", "profile": "p"},
                                     headers=bearer(viewer)), 403, "WE-AUTH-004")
        # no role claim and default_role=none: known, but may do nothing
        nobody = self.idp.token("we-nobody")
        self.assertError(self.d.get("/v1/jobs", headers=bearer(nobody)), 403, "WE-AUTH-004")
        # tokens are never logged
        self.assertNotIn(admin.split(".")[2], self.d.tail(2000))

    def test_refused_tokens(self):
        good = self.idp.token("we-admin")
        header, payload, sig = parts(good)
        h64, p64, _ = good.split(".")

        self.assertError(self.d.get("/v1/jobs"), 401, "WE-AUTH-001")
        self.assertError(self.d.get("/v1/jobs", headers={"Authorization": "Basic YTpi"}), 401,
                         "WE-AUTH-001")
        # wrong audience: a real token of the provider, for another resource
        other_aud = self.idp.token("we-admin", resource="urn:other")
        self.assertEqual(parts(other_aud)[1]["aud"], "urn:other")
        self.assertError(self.d.get("/v1/jobs", headers=bearer(other_aud)), 401, "WE-AUTH-001")
        # another issuer, with its own keys
        foreign = self.idp.token("we-admin", other=True)
        self.assertError(self.d.get("/v1/jobs", headers=bearer(foreign)), 401, "WE-AUTH-001")
        # tampered: a viewer's claims under an admin's signature, a flipped bit
        viewer = self.idp.token("we-viewer")
        spliced = ".".join([h64, viewer.split(".")[1], sig])
        self.assertError(self.d.get("/v1/jobs", headers=bearer(spliced)), 401, "WE-AUTH-001")
        payload["realm_access"]["roles"] = ["webencode-admin", "x"]
        forged = ".".join([h64, b64e(json.dumps(payload).encode()), sig])
        self.assertError(self.d.get("/v1/jobs", headers=bearer(forged)), 401, "WE-AUTH-001")
        raw = bytearray(b64d(sig))
        raw[10] ^= 1
        flipped = ".".join([h64, p64, b64e(bytes(raw))])
        self.assertError(self.d.get("/v1/jobs", headers=bearer(flipped)), 401, "WE-AUTH-001")
        # alg none, and HS256 keyed with the public JWKS
        for alg in ("none", "HS256"):
            h = dict(header, alg=alg)
            t = ".".join([b64e(json.dumps(h).encode()), p64, "" if alg == "none" else sig])
            self.assertError(self.d.get("/v1/jobs", headers=bearer(t)), 401, "WE-AUTH-001")
        # the good one still works
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(good)).status, 200)

    def test_expired(self):
        short = self.idp.token("we-short")  # lives one second
        time.sleep(2.2)
        err = self.assertError(self.d.get("/v1/jobs", headers=bearer(short)), 401, "WE-AUTH-002")
        self.assertIn("expired", err["details"])

    def test_key_rotation(self):
        before = self.idp.token("we-admin")
        spare_old = self.idp.token("we-admin")
        unseen_old = self.idp.token("we-admin")
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(before)).status, 200)
        old_kid = parts(before)[0]["kid"]

        # new keys, the old ones still published: both kinds of token pass
        time.sleep(1.1)  # jwks_min_refresh_s
        fetches = self.idp.jwks_fetches()
        new_kids = self.idp.admin("/admin/rotate?keep=1")["kids"]
        after = self.idp.token("we-admin")
        self.assertEqual(parts(after)[0]["kid"], new_kids[0])
        self.assertNotEqual(new_kids[0], old_kid)
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(after)).status, 200)
        self.assertEqual(self.idp.jwks_fetches(), fetches + 1)
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(spare_old)).status, 200)

        # ES256 tokens from the rotated EC key
        self.idp.admin("/admin/alg?alg=ES256")
        es = self.idp.token("we-viewer")
        self.assertEqual(parts(es)[0]["alg"], "ES256")
        self.assertEqual(self.d.get("/v1/auth/me", headers=bearer(es)).json()["role"], "viewer")
        self.idp.admin("/admin/alg?alg=RS256")

        # a hard switch: the previous keys leave the JWKS
        spare_mid = self.idp.token("we-admin")
        time.sleep(1.1)
        self.idp.admin("/admin/rotate?keep=0")
        newest = self.idp.token("we-admin")
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(newest)).status, 200)
        # signed by a key that is no longer published: refused
        self.assertError(self.d.get("/v1/jobs", headers=bearer(spare_mid)), 401, "WE-AUTH-001")
        self.assertError(self.d.get("/v1/jobs", headers=bearer(unseen_old)), 401, "WE-AUTH-001")
        # one verified before stays good from the cache until cache_ttl_s
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(spare_old)).status, 200)

        # unknown kids make us refetch at most once per jwks_min_refresh_s
        time.sleep(1.1)
        fetches = self.idp.jwks_fetches()
        h, p, s = newest.split(".")
        for i in range(6):
            hdr = dict(parts(newest)[0], kid="forged-%d" % i)
            t = ".".join([b64e(json.dumps(hdr).encode()), p, s])
            self.assertError(self.d.get("/v1/jobs", headers=bearer(t)), 401, "WE-AUTH-001")
        self.assertLessEqual(self.idp.jwks_fetches() - fetches, 1)

    def test_login_flow(self):
        r = browser_login(self.d, "ada")
        self.assertEqual(r.status, 200, r.body)
        s = r.json()
        self.assertEqual(s["user"]["role"], "admin")
        self.assertEqual(s["user"]["username"], "ada")
        self.assertEqual(s["token_type"], "Bearer")
        self.assertGreater(s["expires_at"], time.time())
        self.assertIn("max-age=0", r.headers.get("set-cookie", "").lower())
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(s["access_token"])).status, 200)
        me = self.d.get("/v1/auth/me", headers=bearer(s["access_token"])).json()
        self.assertEqual(me["email"], "ada@example.test")

        # refresh: a new access token that works too
        r = self.d.post("/v1/auth/refresh", {"refresh_token": s["refresh_token"]})
        self.assertEqual(r.status, 200, r.body)
        fresh = r.json()
        self.assertNotEqual(fresh["access_token"], s["access_token"])
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(fresh["access_token"])).status,
                         200)
        self.assertError(self.d.post("/v1/auth/refresh", {"refresh_token": "nope"}), 401,
                         "WE-AUTH-001")

        # an operator, sent back to the dashboard with the tokens in the fragment
        r = browser_login(self.d, "otto", redirect="/jobs?x=1")
        self.assertEqual(r.status, 302, r.body)
        loc = urllib.parse.urlsplit(r.headers["location"])
        self.assertEqual((loc.scheme, loc.netloc, loc.path, loc.query), ("", "", "/jobs", "x=1"))
        frag = urllib.parse.parse_qs(loc.fragment)
        otto = frag["access_token"][0]
        self.assertEqual(self.d.get("/v1/auth/me", headers=bearer(otto)).json()["role"],
                         "operator")

        # logout ends the session here and revokes the refresh token at the IdP
        time.sleep(1.1)  # tokens issued in the logout's second stay valid
        self.assertEqual(self.d.post("/v1/auth/logout", {"refresh_token": frag["refresh_token"][0]},
                                     headers=bearer(otto)).status, 204)
        self.assertError(self.d.get("/v1/jobs", headers=bearer(otto)), 401, "WE-AUTH-001")
        self.assertError(self.d.post("/v1/auth/refresh",
                                     {"refresh_token": frag["refresh_token"][0]}), 401,
                         "WE-AUTH-001")

    def test_login_refusals(self):
        for bad in ("https://evil.test/", "//evil.test/x", "/\\evil.test", "jobs"):
            r = self.d.get("/v1/auth/login?" + urllib.parse.urlencode({"redirect": bad}))
            self.assertEqual(r.status, 400, (bad, r.body))
        r = self.d.get("/v1/auth/login")
        cookie = r.headers["set-cookie"].split(";")[0]
        state = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["location"]).query)["state"][0]
        # no cookie, a wrong state, a forged cookie
        self.assertError(self.d.get("/v1/auth/callback?code=x&state=" + state), 401,
                         "WE-AUTH-001")
        self.assertError(self.d.get("/v1/auth/callback?code=x&state=other",
                                    headers={"Cookie": cookie}), 401, "WE-AUTH-001")
        name, _, value = cookie.partition("=")
        payload, _, mac = value.partition(".")
        forged = "%s=%s.%s" % (name, payload, mac[::-1])
        self.assertError(self.d.get("/v1/auth/callback?code=x&state=" + state,
                                    headers={"Cookie": forged}), 401, "WE-AUTH-001")
        # a code the IdP never issued
        self.assertError(self.d.get("/v1/auth/callback?code=x&state=" + state,
                                    headers={"Cookie": cookie}), 401, "WE-AUTH-001")


class OidcProviderDown(wetest.DaemonTestCase):
    """The IdP goes away: tokens verified before still pass from the cache,
    a token needing a key fetch gets WE-AUTH-005."""

    @classmethod
    def setUpClass(cls):
        cls.d, cls.idp = oidc_daemon(cache_ttl_s=30)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.idp.cleanup()

    def test_idp_down(self):
        known = self.idp.token("we-admin")
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(known)).status, 200)
        self.idp.admin("/admin/rotate?keep=1")
        unseen_kid = self.idp.token("we-admin")
        self.idp.stop()
        time.sleep(1.1)  # past jwks_min_refresh_s: the kernel will try the IdP
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(known)).status, 200)
        err = self.assertError(self.d.get("/v1/jobs", headers=bearer(unseen_kid)), 500,
                               "WE-AUTH-005")
        self.assertNotIn(unseen_kid, json.dumps(err))
        # and again right away (rate-limited, no fetch): still "unavailable"
        self.assertError(self.d.get("/v1/jobs", headers=bearer(unseen_kid)), 500, "WE-AUTH-005")
        self.assertEqual(self.d.get("/v1/jobs", headers=bearer(known)).status, 200)


if __name__ == "__main__":
    wetest.main()
