#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Publishing finished jobs (issue 11, docs/api.md "Publishing"): a real
webencoded with publisher-youtube pointed at tests/publisher/fake_youtube.py
(the one allowed fake: Google's endpoints cannot be reached from the build
machines; it follows the resumable-upload protocol strictly). Checks that
the bytes YouTube receives are the job's output, progress, retries with
backoff on 503s, no retries on a refused refresh token, a `publish` target
of POST /v1/jobs, a daemon restart in the middle of an upload, RBAC, and
that no credential reaches the logs."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import wetest  # noqa: E402
import test_rbac  # noqa: E402
import test_webhooks  # noqa: E402

FAKE = os.path.join(wetest.SOURCE, "tests", "publisher", "fake_youtube.py")
CLIENT_ID = "1234-publish-test.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-publish-test-client-secret"
REFRESH_TOKEN = "1//publish-test-refresh-token-0123456789"
USERS = {"viewer": "vic", "operator": "otto", "admin": "ada"}


class FakeYouTube:
    def __init__(self, tmp, args=()):
        creds = os.path.join(tmp, "yt-credentials")
        with open(creds, "w") as f:
            f.write("%s\n%s\n%s\n" % (CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN))
        self.proc = subprocess.Popen([sys.executable, FAKE, "--credentials", creds] + list(args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("ready "), line
        self.base = "http://127.0.0.1:%d" % int(line.split()[1])

    def call(self, method, path, body=None):
        import http.client
        u = urllib.parse.urlparse(self.base)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        out = json.loads(r.read() or b"{}")
        conn.close()
        return out

    def control(self, **kw):
        return self.call("POST", "/_control", kw)

    def state(self):
        return self.call("GET", "/_state")

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def write_secret(root, ref, value):
    path = os.path.join(root, ref)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)


class Publish(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = wetest.Daemon(workers=1)
        cls.fake = FakeYouTube(d.tmp)
        secrets = os.path.join(d.tmp, "secrets")
        os.makedirs(secrets, mode=0o700)
        write_secret(secrets, "yt/client-secret", CLIENT_SECRET)
        write_secret(secrets, "yt/refresh-token", REFRESH_TOKEN)
        write_secret(secrets, "yt/wrong-token", "1//a-token-google-revoked")
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user in USERS.values():
                f.write("%s:%s\n" % (user, test_rbac.sha512_crypt(user + "-pw")))
        cls.env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": "ada=admin;otto=operator;vic=viewer",
            "WE_SECRETS_BACKEND": "file",
            "WE_SECRETS_FILE_DIR": secrets,
            "WE_PLUGIN_PUBLISHER_YOUTUBE_CLIENT_ID": CLIENT_ID,
            "WE_PLUGIN_PUBLISHER_YOUTUBE_CLIENT_SECRET_REF": "file:yt/client-secret",
            "WE_PLUGIN_PUBLISHER_YOUTUBE_REFRESH_TOKEN_REF": "file:yt/refresh-token",
            "WE_PLUGIN_PUBLISHER_YOUTUBE_OAUTH_TOKEN_URL": cls.fake.base + "/token",
            "WE_PLUGIN_PUBLISHER_YOUTUBE_API_BASE_URL": cls.fake.base,
            "WE_PLUGIN_PUBLISHER_YOUTUBE_UPLOAD_BASE_URL": cls.fake.base,
            "WE_PLUGIN_PUBLISHER_YOUTUBE_CHUNK_SIZE_KB": "256",
            # the module gives up on the first 503 so that the kernel's own
            # retries (what is under test here) take over
            "WE_PLUGIN_PUBLISHER_YOUTUBE_MAX_RETRIES": "0",
            "WE_PLUGIN_PUBLISHER_YOUTUBE_RETRY_BASE_MS": "10",
            "WE_PUBLISH_RETRY_BASE_MS": "200",
            "WE_PUBLISH_POLL_MS": "200",
            "WE_PUBLISH_MAX_ATTEMPTS": "4",
            "LOG_LEVEL": "debug",
            # cluster variant: a killed kernel is silent for 3 s and then dead
            "WE_KERNEL_BEAT_S": "1",
        }
        d.extra_env = dict(cls.env)
        cls.d = d.start()
        # one finished job, published by several tests: big enough for
        # several 256 KiB chunks (a noise pattern does not compress)
        clip = wetest.make_clip(os.path.join(d.media, "pub.mp4"), duration=6, width=640,
                                height=360, pattern="snow")
        cls.job = cls.submit(clip)
        cls.wait_job(cls.job["id"])
        cls.final = cls.final_output(cls.job["id"])

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.cleanup()
        finally:
            cls.fake.stop()

    # --- helpers ---

    @classmethod
    def req(cls, method, path, body=None, user="operator", expect=None):
        r = cls.d.request(method, path, body=body, headers=test_rbac.basic(USERS[user]))
        if expect is not None and r.status != expect:
            raise AssertionError("%s %s: %d %s\n%s" % (method, path, r.status, r.body,
                                                       cls.d.tail(30)))
        return r

    @classmethod
    def submit(cls, clip, **extra):
        body = {"source_url": "file://" + clip, "profile": "480p_fast"}
        body.update(extra)
        return cls.req("POST", "/v1/jobs", body, expect=201).json()

    @classmethod
    def wait_job(cls, job_id, timeout=240):
        deadline = time.time() + timeout * wetest.TIME_FACTOR
        while time.time() < deadline:
            job = cls.req("GET", "/v1/jobs/" + job_id, expect=200).json()
            if job["status"] == "completed":
                return job
            if job["status"] in ("failed", "cancelled"):
                raise AssertionError("job %s" % job)
            time.sleep(0.2)
        raise AssertionError("job %s did not complete" % job_id)

    @classmethod
    def final_output(cls, job_id):
        outs = cls.req("GET", "/v1/jobs/%s/outputs" % job_id, expect=200).json()["outputs"]
        final = [o for o in outs if o["type"] == "final"][0]
        data = cls.req("GET", urllib.parse.urlparse(final["download_url"]).path,
                       expect=200).body
        return {"name": final["name"], "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data)}

    def publish(self, job_id, expect=202, **body):
        b = {"platform": "youtube", "title": "A test upload", "privacy": "unlisted"}
        b.update(body)
        return self.req("POST", "/v1/jobs/%s/publish" % job_id, b, expect=expect)

    def wait_publication(self, pub_id, statuses=("completed", "failed"), timeout=60, seen=None):
        deadline = time.time() + timeout * wetest.TIME_FACTOR
        while time.time() < deadline:
            p = self.req("GET", "/v1/publications/" + pub_id, user="viewer", expect=200).json()
            if seen is not None:
                seen.append(p)
            if p["status"] in statuses:
                return p
            time.sleep(0.05)
        raise AssertionError("publication %s still %s\n%s" % (pub_id, p, self.d.tail(40)))

    def wait_quiet(self, timeout=120):
        """Until no publication is queued or uploading (earlier tests' jobs
        publish when they complete), so that a fault armed at the fake hits
        the next upload, ours."""
        deadline = time.time() + timeout * wetest.TIME_FACTOR
        while self.d.sql("SELECT id FROM publications WHERE status IN ('queued', 'uploading')"):
            self.assertLess(time.time(), deadline, self.d.tail(20))
            time.sleep(0.1)

    def session_of(self, video_id):
        for s in self.fake.state()["sessions"].values():
            if s.get("video_id") == video_id:
                return s
        raise AssertionError("no upload session made video %s" % video_id)

    # --- tests ---

    def test_publish_final_output(self):
        self.assertGreater(self.final["size"], 3 * 256 * 1024, "the clip must need several chunks")
        receiver = test_webhooks.Receiver()
        self.addCleanup(receiver.close)
        hook = self.req("POST", "/v1/webhooks", {"url": receiver.url("/pub"),
                                                 "events": ["publish.completed",
                                                            "publish.failed"]},
                        user="admin", expect=201).json()
        self.addCleanup(self.req, "DELETE", "/v1/webhooks/" + hook["id"], user="admin")
        r = self.publish(self.job["id"], tags=["webencode", "test"], category_id="22",
                         description="uploaded by test_publish")
        pub = r.json()
        for k in ("id", "job_id", "platform", "plugin", "status", "progress", "attempts",
                  "public_url", "platform_id", "last_error", "created_at", "updated_at"):
            self.assertIn(k, pub)
        self.assertEqual(pub["status"], "queued")
        self.assertEqual(pub["plugin"], "publisher-youtube")
        self.assertEqual(pub["job_id"], self.job["id"])
        self.assertFalse(any(k.startswith("_") for k in pub), pub)
        done = self.wait_publication(pub["id"])
        self.assertEqual(done["status"], "completed", done)
        self.assertEqual(done["attempts"], 1)
        self.assertEqual(done["progress"], 1.0)
        self.assertTrue(done["public_url"].startswith("https://www.youtube.com/watch?v="), done)
        self.assertEqual(done["public_url"], "https://www.youtube.com/watch?v=" +
                         done["platform_id"])
        # YouTube holds exactly the job's output
        s = self.session_of(done["platform_id"])
        self.assertEqual(s["sha256"], self.final["sha256"])
        self.assertEqual(s["total"], self.final["size"])
        self.assertEqual(s["metadata"]["snippet"]["title"], "A test upload")
        self.assertEqual(s["metadata"]["snippet"]["tags"], ["webencode", "test"])
        self.assertEqual(s["metadata"]["status"]["privacyStatus"], "unlisted")
        # the job's publications list it; a webhook-free audit entry exists
        pubs = self.req("GET", "/v1/jobs/%s/publications" % self.job["id"], user="viewer",
                        expect=200).json()["publications"]
        self.assertIn(done["id"], [p["id"] for p in pubs])
        audit = self.req("GET", "/v1/audit?resource_id=" + done["id"], user="admin",
                         expect=200).json()
        self.assertIn("publish.completed", [e["action"] for e in audit["entries"]], audit)
        # the webhook got publish.completed with the publication
        (_, body), = receiver.wait("/pub", 1)
        event = json.loads(body)
        self.assertEqual(event["event_type"], "publish.completed")
        self.assertEqual(event["data"]["id"], done["id"])
        self.assertEqual(event["data"]["public_url"], done["public_url"])

    def test_progress_on_websocket(self):
        from wsclient import WsClient
        ticket = self.req("POST", "/v1/ws/ticket", {}, user="viewer", expect=201).json()["ticket"]
        ws = WsClient(self.d.port, "/v1/ws?ticket=" + ticket)
        try:
            self.assertEqual(ws.recv()["type"], "hello")
            ws.send_json({"type": "subscribe", "topic": "job:" + self.job["id"], "id": "1"})
            ws.wait_for(lambda m: m.get("type") == "subscribed")
            pub = self.publish(self.job["id"], title="over the socket").json()
            got = []
            deadline = time.time() + 60 * wetest.TIME_FACTOR
            while time.time() < deadline:
                msg = ws.recv(timeout=deadline - time.time())
                if msg.get("type") == "publication" and msg["data"]["id"] == pub["id"]:
                    got.append(msg["data"])
                    if msg["data"]["status"] in ("completed", "failed"):
                        break
        finally:
            ws.close()
        self.assertEqual(got[-1]["status"], "completed", got[-3:])
        # announced as chunks were acknowledged, in order, below 1 until done
        fractions = [m["progress"] for m in got if m["status"] == "uploading"]
        self.assertTrue([f for f in fractions if 0 < f < 1], got)
        self.assertEqual(fractions, sorted(fractions))
        self.assertEqual(got[-1]["progress"], 1.0)

    def test_transient_503_retried(self):
        self.wait_quiet()
        before = self.fake.state()["chunk_puts"]
        # the second chunk of the next upload answers 503: the module gives
        # up (max_retries=0), the kernel backs off and starts again
        self.fake.control(fail_put=before + 2)
        pub = self.publish(self.job["id"], title="after a 503").json()
        done = self.wait_publication(pub["id"])
        self.assertEqual(done["status"], "completed", done)
        self.assertEqual(done["attempts"], 2, done)
        self.assertEqual(self.session_of(done["platform_id"])["sha256"], self.final["sha256"])
        # the failed attempt's error was kept until the retry succeeded
        self.assertIsNone(done["last_error"])

    def test_wrong_refresh_token_fails_once(self):
        # a second daemon, same fake, the channel's token revoked
        d = wetest.Daemon(workers=1)
        env = dict(self.env)
        env["WE_PLUGIN_PUBLISHER_YOUTUBE_REFRESH_TOKEN_REF"] = "file:yt/wrong-token"
        d.extra_env = env
        d.start()
        try:
            clip = wetest.make_clip(os.path.join(d.media, "w.mp4"), duration=1)
            r = d.request("POST", "/v1/jobs", {"source_url": "file://" + clip,
                                               "profile": "480p_fast"},
                          headers=test_rbac.basic("otto"))
            self.assertEqual(r.status, 201, r.body)
            job_id = r.json()["id"]
            deadline = time.time() + 120
            while d.request("GET", "/v1/jobs/" + job_id, headers=test_rbac.basic("otto")
                            ).json()["status"] != "completed":
                self.assertLess(time.time(), deadline)
                time.sleep(0.2)
            failures = self.fake.state()["token_failures"]
            r = d.request("POST", "/v1/jobs/%s/publish" % job_id,
                          {"platform": "youtube", "title": "never"},
                          headers=test_rbac.basic("otto"))
            self.assertEqual(r.status, 202, r.body)
            pub_id = r.json()["id"]
            deadline = time.time() + 30
            while True:
                p = d.request("GET", "/v1/publications/" + pub_id,
                              headers=test_rbac.basic("vic")).json()
                if p["status"] in ("completed", "failed"):
                    break
                self.assertLess(time.time(), deadline, p)
                time.sleep(0.05)
            self.assertEqual(p["status"], "failed", p)
            self.assertEqual(p["attempts"], 1, p)
            self.assertEqual(p["last_error"]["code"], "WE-PLG-003", p)
            self.assertIn("refresh token", p["last_error"]["message"])
            time.sleep(1.0)   # five polls: nothing more happens
            self.assertEqual(self.fake.state()["token_failures"], failures + 1)
            p = d.request("GET", "/v1/publications/" + pub_id,
                          headers=test_rbac.basic("vic")).json()
            self.assertEqual((p["status"], p["attempts"]), ("failed", 1))
            # a retry is one more attempt, failing the same way
            r = d.request("POST", "/v1/publications/%s/retry" % pub_id, {},
                          headers=test_rbac.basic("otto"))
            self.assertEqual(r.status, 202, r.body)
            deadline = time.time() + 30
            while self.fake.state()["token_failures"] < failures + 2:
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            with open(d.log_path, errors="replace") as f:
                log = f.read()
        finally:
            d.cleanup()
        for secret in (CLIENT_SECRET, REFRESH_TOKEN, "1//a-token-google-revoked"):
            self.assertNotIn(secret, log)

    def test_publish_target_in_job_request(self):
        clip = wetest.make_clip(os.path.join(self.d.media, "target.mp4"), duration=1)
        job = self.submit(clip, publish=[{"platform": "youtube", "title": "from the job",
                                          "privacy": "private", "thumbnail": "poster"}])
        pubs = self.req("GET", "/v1/jobs/%s/publications" % job["id"],
                        expect=200).json()["publications"]
        self.assertEqual(len(pubs), 1)
        self.assertEqual(pubs[0]["title"], "from the job")
        self.wait_job(job["id"])
        done = self.wait_publication(pubs[0]["id"])
        self.assertEqual(done["status"], "completed", done)
        final = self.final_output(job["id"])
        self.assertEqual(self.session_of(done["platform_id"])["sha256"], final["sha256"])
        # the spec's form, keyed by platform, is accepted too
        job = self.submit(clip, publish={"youtube": {"title": "keyed"}})
        pubs = self.req("GET", "/v1/jobs/%s/publications" % job["id"],
                        expect=200).json()["publications"]
        self.assertEqual([p["platform"] for p in pubs], ["youtube"])
        self.wait_job(job["id"])
        self.assertEqual(self.wait_publication(pubs[0]["id"])["status"], "completed")
        # an invalid target refuses the whole job
        r = self.req("POST", "/v1/jobs", {"source_url": "file://" + clip,
                                          "profile": "480p_fast",
                                          "publish": [{"platform": "youtube"}]})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("title", r.json()["error"]["details"])

    def test_validation_and_errors(self):
        job_id = self.job["id"]
        r = self.publish(job_id, expect=400, privacy="secret", tags="x", extra=1)
        err = r.json()["error"]
        self.assertEqual(err["code"], "WE-JOB-001")
        for word in ("privacy", "tags", "extra"):
            self.assertIn(word, err["details"])
        r = self.publish(job_id, expect=400, publish_at="tomorrow")
        self.assertIn("publish_at", r.json()["error"]["details"])
        r = self.publish(job_id, expect=422, platform="vimeo")
        self.assertEqual(r.json()["error"]["code"], "WE-PLG-003")
        r = self.publish(job_id, expect=422, plugin="storage-fs")
        self.assertEqual(r.json()["error"]["code"], "WE-PLG-003")
        r = self.publish("no-such-job", expect=404)
        self.assertEqual(r.json()["error"]["code"], "WE-JOB-004")
        r = self.req("GET", "/v1/publications/no-such-publication", expect=404)
        self.assertEqual(r.json()["error"]["code"], "WE-JOB-004")
        # a job that has not completed yet
        clip = wetest.make_clip(os.path.join(self.d.media, "busy.mp4"), duration=1)
        job = self.submit(clip)
        r = self.publish(job["id"], expect=None)
        if r.status != 202:   # it may have completed already on a fast machine
            self.assertEqual(r.status, 409, r.body)
            self.assertEqual(r.json()["error"]["code"], "WE-JOB-005")
        self.wait_job(job["id"])
        # a completed publication cannot be retried
        pubs = self.req("GET", "/v1/jobs/%s/publications" % job_id,
                        expect=200).json()["publications"]
        done = [p for p in pubs if p["status"] == "completed"]
        if done:
            r = self.req("POST", "/v1/publications/%s/retry" % done[0]["id"], {}, expect=409)

    def test_rbac(self):
        r = self.req("POST", "/v1/jobs/%s/publish" % self.job["id"],
                     {"platform": "youtube", "title": "x"}, user="viewer")
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(r.json()["error"]["code"], "WE-AUTH-004")
        r = self.d.request("GET", "/v1/jobs/%s/publications" % self.job["id"])
        self.assertEqual(r.status, 401)
        self.req("GET", "/v1/jobs/%s/publications" % self.job["id"], user="viewer", expect=200)

    def test_z_restart_mid_upload(self):
        # the module waits a minute after the second chunk's 503: the
        # daemon is stopped while the publication is uploading
        self.wait_quiet()
        before = self.fake.state()["chunk_puts"]
        self.fake.control(fail_put=before + 2)
        self.d.stop()
        env = dict(self.env)
        env["WE_PLUGIN_PUBLISHER_YOUTUBE_MAX_RETRIES"] = "5"
        env["WE_PLUGIN_PUBLISHER_YOUTUBE_RETRY_BASE_MS"] = "60000"
        self.d.extra_env = env
        self.d.start()
        pub = self.publish(self.job["id"], title="across a restart").json()
        deadline = time.time() + 60
        while self.fake.state()["chunk_puts"] < before + 2:
            self.assertLess(time.time(), deadline, self.d.tail(20))
            time.sleep(0.05)
        p = self.req("GET", "/v1/publications/" + pub["id"], expect=200).json()
        self.assertEqual(p["status"], "uploading", p)
        rc = self.d.stop(sig=signal.SIGTERM)
        self.assertEqual(rc, 0, self.d.tail(30))
        self.d.extra_env = dict(self.env)
        self.d.start()
        done = self.wait_publication(pub["id"])
        self.assertEqual(done["status"], "completed", done)
        self.assertEqual(done["attempts"], 2, done)
        self.assertEqual(self.session_of(done["platform_id"])["sha256"], self.final["sha256"])
        with open(self.d.log_path, errors="replace") as f:
            self.assertIn("queued again", f.read())

    if wetest.CLUSTER:
        def test_z_cluster_adopt_after_kill(self):
            """Two kernels on one PostgreSQL store: the one owning the job
            (and so the publication) is killed with SIGKILL in the middle of a
            slow upload; the other adopts the publication once the dead one
            stopped beating, exactly once, and finishes it from the start."""
            self.wait_quiet()
            d2 = wetest.Daemon(workers=1)
            env = dict(self.env)
            env["DATABASE_URL"] = self.d.database_url
            # the same storage root and content key as the first kernel
            env["WE_DATA_DIR"] = os.path.join(self.d.tmp, "data")
            d2.extra_env = env
            d2.start()
            try:
                kernel1 = self.d.sql("SELECT owner_kernel FROM jobs WHERE id = '%s'"
                                     % self.job["id"])[0][0]
                self.assertEqual(self.d.sql("SELECT count(*) FROM kernels "
                                            "WHERE id <> '%s'" % kernel1)[0][0], "1")
                before = self.fake.state()["chunk_puts"]
                self.fake.control(throttle_ms=700)
                pub = self.publish(self.job["id"], title="adopted after a kill").json()
                deadline = time.time() + 60
                while self.fake.state()["chunk_puts"] < before + 2:
                    self.assertLess(time.time(), deadline, self.d.tail(20))
                    time.sleep(0.05)
                owner = self.d.sql("SELECT owner_kernel, status FROM publications WHERE id = '%s'"
                                   % pub["id"])
                self.assertEqual(owner, [(kernel1, "uploading")])
                self.d.stop(sig=signal.SIGKILL)
                killed = time.time()
                self.fake.control(throttle_ms=0)
                r = d2.request("GET", "/v1/publications/" + pub["id"],
                               headers=test_rbac.basic(USERS["viewer"]))
                self.assertEqual(r.status, 200, r.body)
                deadline = time.time() + 60 * wetest.TIME_FACTOR
                while True:
                    p = d2.request("GET", "/v1/publications/" + pub["id"],
                                   headers=test_rbac.basic(USERS["viewer"])).json()
                    if p["status"] in ("completed", "failed"):
                        break
                    self.assertLess(time.time(), deadline, (p, d2.tail(30)))
                    time.sleep(0.1)
                self.assertEqual(p["status"], "completed", p)
                # not before the dead kernel's three beats ran out (its last
                # beat was up to one beat before the kill)
                self.assertGreater(time.time() - killed, 1.5)
                self.assertEqual(p["attempts"], 2, p)
                self.assertEqual(self.session_of(p["platform_id"])["sha256"], self.final["sha256"])
                kernel2 = d2.sql("SELECT owner_kernel FROM publications WHERE id = '%s'"
                                 % pub["id"])[0][0]
                self.assertNotEqual(kernel2, kernel1)
                # exactly once: one video of that title, one adoption logged
                titles = [s["metadata"]["snippet"]["title"]
                          for s in self.fake.state()["sessions"].values() if s.get("video_id")]
                self.assertEqual(titles.count("adopted after a kill"), 1, titles)
                with open(d2.log_path, errors="replace") as f:
                    log = f.read()
                self.assertEqual(log.count("publication %s adopted from kernel" % pub["id"]), 1,
                                 d2.tail(40))
            finally:
                self.fake.control(throttle_ms=0)
                d2.cleanup()
                if self.d.proc is None:
                    self.d.extra_env = dict(self.env)
                    self.d.start()

    def test_zz_no_secret_in_logs(self):
        with open(self.d.log_path, errors="replace") as f:
            log = f.read()
        for secret in (CLIENT_SECRET, REFRESH_TOKEN):
            self.assertNotIn(secret, log)
        self.assertNotIn("ya29.fake-", log)
        rows = self.d.sql("SELECT doc FROM publications")
        self.assertTrue(rows)
        for (doc,) in rows:
            self.assertNotIn(CLIENT_SECRET, doc)
            self.assertNotIn(REFRESH_TOKEN, doc)


if __name__ == "__main__":
    wetest.main()
