#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The plugins API (spec §19.3 "Plugins", §6.5, issue 9) against a real
webencoded and the real pillar modules of this build tree: the list and
one plugin, secrets masked (in answers, the store and the log), RBAC,
validation of a new configuration, a stored configuration that takes effect
at the next start (storage-fs writing to another root), disabling and
enabling across restarts, the refusal to disable what the service needs, and
/test with a good and a bad candidate. With WE_TEST_CLUSTER=pg the store is
a real PostgreSQL server (weservers.py)."""

import base64
import json
import os
import subprocess

import wetest

USERS = {"viewer": "vic", "operator": "otto", "admin": "ada"}
S3_SECRET = "plaintext-S3cr3t-4-tests"


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], check=True,
                          capture_output=True, text=True).stdout.strip()


def basic(user):
    token = base64.b64encode(("%s:%s-pw" % (user, user)).encode()).decode()
    return {"Authorization": "Basic " + token}


ADMIN = basic("ada")
FIELDS = {"id", "type", "version", "protocol_version", "state", "enabled", "error", "priority",
          "loaded_at", "uptime_s", "config_keys", "config", "config_source", "capabilities",
          "restart_required"}


class PluginsApi(wetest.DaemonTestCase):
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
            # a plaintext secret in the (environment) configuration of a
            # plugin that then fails to start: it must never be shown
            "WE_PLUGIN_STORAGE_S3_SECRET_ACCESS_KEY": S3_SECRET,
            "WE_PLUGIN_STORAGE_S3_ACCESS_KEY_ID_REF": "s3/access-key-id",
            # ... and cannot start: the only working storage is storage-fs
            "WE_PLUGIN_STORAGE_S3_REGION": "Not A Region",
        }
        cls.d = d.start(require_worker=False)

    def restart(self):
        self.d.stop()
        self.d.start(require_worker=False)

    def plugins(self):
        r = self.d.get("/v1/plugins", headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn(S3_SECRET.encode(), r.body)
        return {p["id"]: p for p in r.json()["plugins"]}

    def plugin(self, pid):
        r = self.d.get("/v1/plugins/" + pid, headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def put_config(self, pid, config, headers=ADMIN):
        return self.d.request("PUT", "/v1/plugins/%s/config" % pid, body={"config": config},
                              headers=headers)

    def test_01_list_and_detail(self):
        r = self.d.get("/v1/plugins", headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        listed = r.json()["plugins"]
        order = ["auth", "storage", "encoder", "live", "publisher"]
        keys = [(order.index(p["type"]), p["id"]) for p in listed]
        self.assertEqual(keys, sorted(keys))
        self.assertEqual(len({p["id"] for p in listed}), len(listed))
        by_id = {p["id"]: p for p in listed}
        for pid in ("storage-fs", "encoder-gst", "auth-basic"):
            p = by_id[pid]
            self.assertEqual(set(p), FIELDS, p)
            self.assertEqual(p["state"], "healthy", p)
            self.assertTrue(p["enabled"])
            self.assertIsNone(p["error"])
            self.assertEqual(p["protocol_version"], 1)
            self.assertTrue(p["loaded_at"].endswith("Z"))
            self.assertGreaterEqual(p["uptime_s"], 0)
            self.assertFalse(p["restart_required"], p)
            # the same object on its own
            self.assertEqual(self.plugin(pid)["config"], p["config"])

        fs = by_id["storage-fs"]
        self.assertEqual(fs["type"], "storage")
        self.assertEqual(fs["config"]["root"], os.path.join(self.d.tmp, "data", "storage"))
        self.assertEqual(fs["config"]["browse_roots"], self.d.media)
        self.assertEqual(fs["config_source"], "file")  # WE_PLUGIN_STORAGE_FS_* count as file
        self.assertIn("root", fs["config_keys"])
        self.assertTrue(fs["capabilities"]["upload"])
        self.assertEqual(fs["capabilities"]["schemes"], ["fs"])

        enc = by_id["encoder-gst"]
        self.assertIn("h264", enc["capabilities"]["video_codecs"])
        self.assertEqual(enc["config_source"], "default")
        self.assertEqual(enc["config"], {})

        auth = by_id["auth-basic"]
        self.assertEqual(auth["type"], "auth")
        self.assertEqual(auth["config"]["mode"], "basic")
        self.assertIn("interactive_login", auth["capabilities"])

        # a plugin that could not start is listed, with why
        s3 = by_id["storage-s3"]
        self.assertEqual(s3["state"], "failed", s3)
        self.assertTrue(s3["error"])
        self.assertIsNone(s3["loaded_at"])
        self.assertIsNone(s3["uptime_s"])
        self.assertEqual(s3["capabilities"], {})
        # secrets masked, references shown as they are
        self.assertEqual(s3["config"]["secret_access_key"], "********")
        self.assertEqual(s3["config"]["access_key_id_ref"], "s3/access-key-id")

    def test_02_unknown_plugin(self):
        self.assertError(self.d.get("/v1/plugins/no-such-plugin", headers=ADMIN), 404,
                         "WE-PLG-001")
        self.assertError(self.put_config("no-such-plugin", {}), 404, "WE-PLG-001")
        self.assertError(self.d.post("/v1/plugins/no-such-plugin/test", {}, headers=ADMIN), 404,
                         "WE-PLG-001")

    def test_03_rbac(self):
        calls = [("GET", "/v1/plugins", None), ("GET", "/v1/plugins/storage-fs", None),
                 ("PUT", "/v1/plugins/storage-fs/config", {"config": {}}),
                 ("POST", "/v1/plugins/encoder-gst/disable", {}),
                 ("POST", "/v1/plugins/encoder-gst/enable", {}),
                 ("POST", "/v1/plugins/storage-fs/test", {})]
        for method, path, body in calls:
            for user in ("vic", "otto"):
                with self.subTest(method=method, path=path, user=user):
                    r = self.d.request(method, path, body=body, headers=basic(user))
                    self.assertError(r, 403, "WE-AUTH-004")
            with self.subTest(method=method, path=path, user=None):
                self.assertError(self.d.request(method, path, body=body), 401, "WE-AUTH-001")
        # nothing of that reached the store
        self.assertEqual(self.d.sql("SELECT id FROM plugin_configs"), [])

    def test_04_validation(self):
        fs = self.plugin("storage-fs")
        bad = dict(fs["config"], colour="blue")
        err = self.assertError(self.put_config("storage-fs", bad), 422, "WE-PLG-003")
        self.assertIn("colour", err["details"])
        err = self.assertError(self.put_config("storage-s3", {"secret_access_key": "x-literal"}),
                               422, "WE-PLG-003")
        self.assertIn("secret_access_key_ref", err["details"])
        self.assertIn("secrets backend", err["details"])
        self.assertNotIn("x-literal", json.dumps(err))
        r = self.d.request("PUT", "/v1/plugins/storage-fs/config", body={"config": ["root"]},
                           headers=ADMIN)
        self.assertError(r, 422, "WE-PLG-003")
        r = self.d.request("PUT", "/v1/plugins/storage-fs/config", body={}, headers=ADMIN)
        self.assertError(r, 422, "WE-PLG-003")
        r = self.d.request("PUT", "/v1/plugins/storage-fs/config", body=b"{nope",
                           headers=dict(ADMIN, **{"Content-Type": "application/json"}))
        self.assertEqual(r.status // 100, 4, r.body)
        self.assertEqual(self.d.sql("SELECT id FROM plugin_configs"), [])

    def test_05_masked_secret_kept_out_of_the_store(self):
        s3 = self.plugin("storage-s3")
        cfg = dict(s3["config"], path_style="true")
        r = self.put_config("storage-s3", cfg)
        self.assertEqual(r.status, 200, r.body)
        got = r.json()
        self.assertEqual(got["config_source"], "store")
        self.assertEqual(got["config"]["path_style"], "true")
        # still effective (from the environment), still masked
        self.assertEqual(got["config"]["secret_access_key"], "********")
        self.assertNotIn(S3_SECRET.encode(), r.body)
        rows = self.d.sql("SELECT config_json FROM plugin_configs WHERE id = 'storage-s3'")
        self.assertEqual(len(rows), 1)
        stored = json.loads(rows[0][0])
        self.assertEqual(stored["path_style"], "true")
        self.assertNotIn("secret_access_key", stored)
        self.assertNotIn(S3_SECRET, rows[0][0])

    def test_06_stored_config_takes_effect_after_restart(self):
        fs = self.plugin("storage-fs")
        new_root = os.path.join(self.d.tmp, "other-root")
        cfg = dict(fs["config"], root=new_root, show_hidden="true")
        r = self.put_config("storage-fs", cfg)
        self.assertEqual(r.status, 200, r.body)
        got = r.json()
        self.assertEqual(got["config_source"], "store")
        self.assertTrue(got["restart_required"])
        self.assertEqual(got["config"]["root"], new_root)
        self.assertEqual(self.plugin("storage-fs")["config"]["root"], new_root)
        # audited, without the configuration itself
        r = self.d.get("/v1/audit?action=plugin.update", headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        entries = [e for e in r.json()["entries"] if e["resource_id"] == "storage-fs" and
                   e["result"] == "success"]
        self.assertTrue(entries, r.body)
        self.assertEqual(entries[0]["username"], "ada")
        self.assertNotIn(new_root, r.body.decode())
        self.assertTrue(entries[0]["payload_digest"].startswith("sha256:"))

        # not in effect before the restart
        clip = os.path.join(self.d.tmp, "before.bin")
        with open(clip, "wb") as f:
            f.write(b"before restart")
        up = self.d.upload(clip, headers=ADMIN)
        self.assertEqual(up.status, 201, up.body)
        self.assertFalse(os.path.exists(new_root) and any(
            "before.bin" in files for _, _, files in os.walk(new_root)))

        self.restart()
        fs = self.plugin("storage-fs")
        self.assertEqual(fs["state"], "healthy", fs)
        self.assertEqual(fs["config"]["root"], new_root)
        self.assertEqual(fs["config"]["show_hidden"], "true")
        self.assertEqual(fs["config_source"], "store")
        self.assertFalse(fs["restart_required"], fs)
        # in effect: an upload lands under the new root
        clip = os.path.join(self.d.tmp, "after.bin")
        with open(clip, "wb") as f:
            f.write(b"after restart")
        up = self.d.upload(clip, headers=ADMIN)
        self.assertEqual(up.status, 201, up.body)
        landed = [os.path.join(d, n) for d, _, files in os.walk(new_root) for n in files
                  if n == "after.bin"]
        self.assertEqual(len(landed), 1, up.body)
        with open(landed[0], "rb") as f:
            self.assertEqual(f.read(), b"after restart")
        # and the masked secret of test_05 stayed out of the log
        with open(self.d.log_path, "rb") as f:
            self.assertNotIn(S3_SECRET.encode(), f.read())

    def test_07_disable_enable(self):
        # what the service cannot do without
        err = self.assertError(self.d.post("/v1/plugins/storage-fs/disable", headers=ADMIN), 409,
                               "WE-SYS-409")
        self.assertIn("only working storage", err["details"])
        err = self.assertError(self.d.post("/v1/plugins/auth-basic/disable", headers=ADMIN), 409,
                               "WE-SYS-409")
        self.assertIn("only working auth", err["details"])

        r = self.d.post("/v1/plugins/encoder-gst/disable", headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        p = r.json()
        self.assertFalse(p["enabled"])
        self.assertTrue(p["restart_required"])
        self.assertEqual(p["state"], "healthy")  # until the restart

        self.restart()
        p = self.plugin("encoder-gst")
        self.assertEqual(p["state"], "disabled", p)
        self.assertFalse(p["enabled"])
        self.assertFalse(p["restart_required"])
        self.assertIn("disabled", p["error"])
        # the stored configuration of storage-fs survived the enabled flag
        self.assertEqual(self.plugin("storage-fs")["config_source"], "store")

        r = self.d.post("/v1/plugins/encoder-gst/enable", headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json()["enabled"])
        self.assertTrue(r.json()["restart_required"])
        self.restart()
        p = self.plugin("encoder-gst")
        self.assertEqual(p["state"], "healthy", p)
        self.assertTrue(p["enabled"])
        self.assertFalse(p["restart_required"])

    def test_08_test_connection(self):
        fs_before = self.plugin("storage-fs")
        r = self.d.post("/v1/plugins/storage-fs/test", headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        t = r.json()
        self.assertEqual(set(t), {"ok", "latency_ms", "detail", "error"})
        self.assertTrue(t["ok"], t)
        self.assertIsNone(t["error"])
        self.assertIsInstance(t["latency_ms"], int)
        self.assertTrue(t["detail"])
        # the probe leaves nothing behind in the root
        root = fs_before["config"]["root"]
        self.assertFalse([n for n in os.listdir(root) if n.startswith(".webencode-probe")])

        # a candidate whose root cannot be created (its parent is a file)
        blocker = os.path.join(self.d.tmp, "a-file")
        with open(blocker, "w") as f:
            f.write("not a directory")
        cand = dict(fs_before["config"], root=os.path.join(blocker, "root"))
        r = self.d.post("/v1/plugins/storage-fs/test", {"config": cand}, headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        t = r.json()
        self.assertFalse(t["ok"], t)
        self.assertEqual(t["error"]["code"], "WE-PLG-003")
        self.assertIn("root", t["error"]["message"])
        # a relative root is refused by the plugin itself
        r = self.d.post("/v1/plugins/storage-fs/test",
                        {"config": dict(fs_before["config"], root="relative/dir")},
                        headers=ADMIN)
        self.assertFalse(r.json()["ok"], r.body)
        # a good candidate somewhere new works and is not stored
        fresh = os.path.join(self.d.tmp, "candidate-root")
        r = self.d.post("/v1/plugins/storage-fs/test",
                        {"config": dict(fs_before["config"], root=fresh)}, headers=ADMIN)
        self.assertTrue(r.json()["ok"], r.body)
        self.assertEqual(os.listdir(fresh), [])
        # validated like a PUT
        r = self.d.post("/v1/plugins/storage-fs/test", {"config": {"colour": "blue"}},
                        headers=ADMIN)
        self.assertError(r, 422, "WE-PLG-003")
        # nothing of that changed what runs or what is stored
        fs_after = self.plugin("storage-fs")
        self.assertEqual(fs_after["config"], fs_before["config"])
        self.assertFalse(fs_after["restart_required"])

        r = self.d.post("/v1/plugins/encoder-gst/test", headers=ADMIN)
        t = r.json()
        self.assertTrue(t["ok"], t)
        self.assertIn("h264", t["detail"])
        r = self.d.post("/v1/plugins/auth-basic/test", headers=ADMIN)
        self.assertTrue(r.json()["ok"], r.body)
        r = self.d.post("/v1/plugins/auth-basic/test",
                        {"config": {"mode": "basic", "htpasswd": "/nonexistent/htpasswd"}},
                        headers=ADMIN)
        t = r.json()
        self.assertFalse(t["ok"], t)
        self.assertEqual(t["error"]["code"], "WE-PLG-003")
        # the service still answers with what it runs
        self.assertEqual(self.d.get("/v1/plugins", headers=ADMIN).status, 200)


if __name__ == "__main__":
    wetest.main()
