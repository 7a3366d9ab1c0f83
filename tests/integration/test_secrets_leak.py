# SPDX-License-Identifier: LGPL-2.1-or-later
"""Secrets (spec §6.5, §13): storage-s3 configured with *_ref keys through the
file secrets backend, against a real s3rver that checks every SigV4
signature (so the job only completes when the kernel and the worker resolved
the real secret). Then the error paths: a reference to a missing secret and
a malformed reference. Finally every byte the service wrote or said - the
daemon log (the workers' logs join it), the SQLite database with its -wal
and -shm, everything else under the data directory, every API response and
every job's error events - is searched for the plaintext secrets."""

import json
import os
import secrets as pysecrets
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import wetest  # noqa: E402
import weservers  # noqa: E402


def random_secret(prefix):
    # letters and digits only: the same bytes in JSON, URLs, logs and SQL
    return prefix + pysecrets.token_hex(16).upper()


class RecordingDaemon(wetest.Daemon):
    """Keeps every API response (status line, headers and body)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.responses = []

    def request(self, method, path, body=None, headers=None, timeout=60):
        r = super().request(method, path, body=body, headers=headers, timeout=timeout)
        self.responses.append(("%s %s -> %d" % (method, path, r.status)).encode() + b"\n" +
                              json.dumps(r.headers).encode() + b"\n" + r.body)
        return r


class SecretsLeakTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.key_id = random_secret("WEAK")
        cls.secret_key = random_secret("WESK")
        cls.other = random_secret("WEOTHER")
        cls.s3 = weservers.S3Server(access_key=cls.key_id, secret_key=cls.secret_key).start()
        cls.tmp = tempfile.mkdtemp(prefix="we-secrets-it-")
        cls.secret_dir = os.path.join(cls.tmp, "secrets")
        os.makedirs(os.path.join(cls.secret_dir, "s3"), mode=0o700)
        for name, value in (("s3/id", cls.key_id), ("s3/secret", cls.secret_key),
                            ("ldap-bind", cls.other)):
            path = os.path.join(cls.secret_dir, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, (value + "\n").encode())
            os.close(fd)
        cls.clip = wetest.make_clip(os.path.join(cls.tmp, "clip.mp4"), duration=1)
        cls.daemons = []

    @classmethod
    def tearDownClass(cls):
        for d in cls.daemons:
            d.cleanup()
        cls.s3.stop()
        import shutil
        if not os.environ.get("WE_TEST_KEEP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def daemon(self, name, access_ref, secret_ref):
        config = os.path.join(self.tmp, name + ".conf")
        with open(config, "w") as f:
            f.write("[secrets]\nbackend=file\nfile_dir=%s\n\n"
                    "[plugin:storage-s3]\nendpoint=%s\nregion=us-east-1\nbucket=%s\n"
                    "access_key_id_ref=%s\nsecret_access_key_ref=%s\n"
                    % (self.secret_dir, self.s3.endpoint(), self.s3.bucket, access_ref,
                       secret_ref))
        d = RecordingDaemon(workers=1, config=config,
                            env={"WE_STORAGE_DEFAULT": "storage-s3"})
        self.daemons.append(d)
        d.start()
        return d

    def assert_no_plaintext(self, d, job_ids):
        needles = [self.key_id.encode(), self.secret_key.encode(), self.other.encode()]
        # the error events of every job, through the API (recorded as well)
        for job_id in job_ids:
            for suffix in ("", "/events", "/tasks"):
                r = d.get("/v1/jobs/%s%s" % (job_id, suffix))
                self.assertEqual(r.status, 200, r.body)
        d.get("/health")
        d.stop()
        blobs = {"api:%d" % i: body for i, body in enumerate(d.responses)}
        for root, _, files in os.walk(d.tmp):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    blobs[path] = f.read()
        # the searched places are the real ones: the log and the database exist
        self.assertTrue(any(p.endswith("webencoded.log") for p in blobs))
        self.assertTrue(any(p.endswith("webencode.db") for p in blobs))
        # and the search can find things: the job ids are in log, DB and API
        for job_id in job_ids:
            self.assertTrue(any(job_id.encode() in b for b in blobs.values()))
        for where, blob in blobs.items():
            for needle in needles:
                self.assertNotIn(needle, blob, "plaintext secret found in %s" % where)

    def test_secrets_never_leak(self):
        # 1. the good configuration: the job reads its upload from S3 and
        # writes its outputs there, signed with the resolved secret
        good = self.daemon("good", "file:s3/id", "s3/secret")
        r = good.upload(self.clip, filename="clip.mp4")
        self.assertEqual(r.status, 201, r.body)
        source = r.json()["url"]
        self.assertTrue(source.startswith("s3://"), source)
        job = good.wait_job(good.submit(source, "480p_fast")["id"])
        self.assertEqual(job["status"], "completed", good.tail())
        # a source that does not exist: refused with the error envelope
        r = good.post("/v1/jobs", {"source_url": "s3://%s/nope.mp4" % self.s3.bucket,
                                   "profile": "480p_fast"})
        self.assertEqual(r.status, 400, r.body)
        self.assert_no_plaintext(good, [job["id"]])

        # 2. a reference to a secret that is not there, and 3. a malformed
        # reference: uploads and jobs fail, saying which reference, never what
        for name, access_ref, secret_ref in (("missing", "file:s3/id", "file:s3/absent"),
                                             ("malformed", "file:../../etc/passwd",
                                              "s3/secret")):
            d = self.daemon(name, access_ref, secret_ref)
            r = d.upload(self.clip, filename="clip.mp4")
            self.assertGreaterEqual(r.status, 400, r.body)
            err = r.json()["error"]
            self.assertIn("_ref", err.get("message", "") + json.dumps(err))
            # the kernel checks the source first (refused), or the worker
            # fails the job: either way the reference is named
            r = d.post("/v1/jobs", {"source_url": source, "profile": "480p_fast"})
            jobs = []
            if r.status == 201:
                failed = d.wait_job(r.json()["id"])
                self.assertEqual(failed["status"], "failed")
                events = d.get("/v1/jobs/%s/events" % failed["id"]).json()["events"]
                self.assertTrue(any("_ref" in json.dumps(e) for e in events), events)
                jobs.append(failed["id"])
            else:
                self.assertGreaterEqual(r.status, 400, r.body)
                self.assertIn(b"_ref", r.body)
            self.assert_no_plaintext(d, jobs)


if __name__ == "__main__":
    wetest.main()
