#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pipeline introspection (issue 8) end to end: a real webencoded with a real
worker that keeps GStreamer debug logs encodes a generated clip; the pipeline
document's "command" is then run by hand (gst-launch-1.0, our elements on
GST_PLUGIN_PATH) into a temporary file, which must match the job's output.
Also: the graph as SVG and dot, the task's GStreamer log, RBAC (job.debug is
for operators), the §11 error envelope, and the logs going with the job."""

import base64
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET

import wetest

USERS = {"viewer": "vic", "operator": "otto"}
# GStreamer's default log line: time, pid, thread, level, category …
GST_LINE = re.compile(r"^\d+:\d+:\d+\.\d+ +\d+ +0x[0-9a-f]+ +(ERROR|WARN|FIXME|INFO|DEBUG|LOG)"
                      r"|^\S+ +\d+ +0x[0-9a-f]+ +(ERROR|WARN|FIXME|INFO|DEBUG|LOG) ",
                      re.MULTILINE)


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], check=True,
                          capture_output=True, text=True).stdout.strip()


def basic(user):
    token = base64.b64encode(("%s:%s-pw" % (user, user)).encode()).decode()
    return {"Authorization": "Basic " + token}


def stream_facts(path):
    """What "an equivalent output" means here: the same codecs and picture
    size, the frame count within one, the duration within one frame."""
    info = wetest.probe(path)
    video = [s for s in info["streams"] if s["codec_type"] == "video"][0]
    audio = [s["codec_name"] for s in info["streams"] if s["codec_type"] == "audio"]
    num, den = (int(x) for x in video["avg_frame_rate"].split("/"))
    return {
        "video_codec": video["codec_name"],
        "width": int(video["width"]),
        "height": int(video["height"]),
        "frames": int(video["nb_read_frames"]),
        "duration": float(info["format"]["duration"]),
        "frame_s": den / num if num else 0.04,
        "audio": audio,
        "format": info["format"]["format_name"],
    }


def launch_env(command):
    """The environment to run a pipeline document's command in. A sanitizer
    build's plugin (GST_PLUGIN_PATH) needs the sanitizer runtime preloaded
    into gst-launch-1.0, which is not built with it; an installed one does not."""
    env = dict(os.environ, GST_DEBUG="*:1")
    plugin_dir = command.split(" ", 1)[0].split("=", 1)[1].strip("'")
    lib = os.path.join(plugin_dir, "libgstwebencode.so")
    ldd = subprocess.run(["ldd", lib], capture_output=True, text=True).stdout
    runtimes = [line.split("=>")[1].split()[0] for line in ldd.splitlines()
                if "=>" in line and re.search(r"lib(asan|ubsan)\.so", line)]
    if runtimes:
        env["LD_PRELOAD"] = " ".join(runtimes)
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    return env


# filesink location=VALUE, VALUE bare or double-quoted (gst-launch syntax)
FILESINK = re.compile(r'\bfilesink\b(?:(?!!).)*?\blocation=("(?:[^"\\]|\\.)*"|[^\s!]+)', re.S)


class PipelineIntrospection(wetest.DaemonTestCase):
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
            "WE_PLUGIN_AUTH_BASIC_ROLES": "otto=operator;vic=viewer",
            # the worker keeps a GStreamer debug log per task ([worker] gst_debug)
            "WE_WORKER_GST_DEBUG": "*:4",
        }
        cls.d = d.start()
        cls.op = basic(USERS["operator"])
        src = wetest.make_clip(os.path.join(d.media, "clip.mp4"), duration=2)
        job = cls.d.request("POST", "/v1/jobs", body={"source_url": "file://" + src,
                                                       "profile": "480p_fast"},
                            headers=cls.op)
        assert job.status == 201, (job.status, job.body)
        cls.job = cls.wait(job.json()["id"])
        assert cls.job["status"] == "completed", (cls.job, cls.d.tail())
        tasks = cls.get("/v1/jobs/%s/tasks" % cls.job["id"]).json()["tasks"]
        cls.tasks = tasks
        cls.task = [t for t in tasks if t["kind"] == "transcode"][0]

    @classmethod
    def get(cls, path, user="operator"):
        return cls.d.get(path, headers=basic(USERS[user]) if user else {})

    @classmethod
    def wait(cls, job_id, timeout=240):
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = cls.get("/v1/jobs/" + job_id).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            time.sleep(0.2)
        raise AssertionError("job %s did not finish\n%s" % (job_id, cls.d.tail()))

    def pipeline_path(self, task=None, job=None):
        return "/v1/jobs/%s/tasks/%s/pipeline" % (job or self.job["id"],
                                                 task or self.task["id"])

    def document(self):
        r = self.get(self.pipeline_path())
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.headers["content-type"].startswith("application/json"))
        return r.json()

    def test_document(self):
        doc = self.document()
        self.assertEqual(doc["job_id"], self.job["id"])
        self.assertEqual(doc["task_id"], self.task["id"])
        self.assertGreaterEqual(len(doc["pipelines"]), 1)
        for p in doc["pipelines"]:
            for member in ("stage", "launch", "command", "has_graph", "recorded_at"):
                self.assertIn(member, p)
            wetest.parse_time(p["recorded_at"])
            self.assertIn("gst-launch-1.0 -e ", p["command"])
            self.assertTrue(p["command"].startswith("GST_PLUGIN_PATH="), p["command"])
            # our elements are where the command says
            plugin_dir = p["command"].split(" ", 1)[0].split("=", 1)[1].strip("'")
            self.assertTrue(os.path.exists(os.path.join(plugin_dir, "libgstwebencode.so")),
                            plugin_dir)
            # no secret query strings or passwords in what the worker recorded
            self.assertNotRegex(p["launch"], r"://[^/\s]*:[^@/\s]*@")
        # the stored row carries the attempt the task ran
        rows = self.d.sql("SELECT attempt FROM task_pipelines WHERE task_id = '%s'"
                          % self.task["id"])
        self.assertTrue(rows and all(int(a) == int(self.task["attempt_count"]) for (a,) in rows),
                        rows)

    def test_command_reproduces_the_output(self):
        doc = self.document()
        writing = [p for p in doc["pipelines"] if FILESINK.search(p["launch"])]
        self.assertTrue(writing, [p["launch"] for p in doc["pipelines"]])
        p = writing[-1]
        location = FILESINK.search(p["launch"]).group(1).strip('"')
        self.assertIn(location, p["command"])
        with tempfile.TemporaryDirectory(prefix="we-relaunch-") as tmp:
            out = os.path.join(tmp, "relaunch" + os.path.splitext(location)[1])
            command = p["command"].replace(location, out)
            run = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                                 timeout=300, env=launch_env(command))
            self.assertEqual(run.returncode, 0, (command, run.stdout[-2000:], run.stderr[-2000:]))
            self.assertTrue(os.path.getsize(out) > 0, command)
            # the daemon requires a login here (wetest's download() sends none)
            outputs = self.get("/v1/jobs/%s/outputs" % self.job["id"]).json()["outputs"]
            [final] = [o for o in outputs if o["type"] == "final"]
            r = self.get(urllib.parse.urlparse(final["download_url"]).path)
            self.assertEqual(r.status, 200, r.body[:200])
            produced = os.path.join(tmp, "produced" + os.path.splitext(final["name"])[1])
            with open(produced, "wb") as f:
                f.write(r.body)
            by_hand, by_job = stream_facts(out), stream_facts(produced)
        for key in ("video_codec", "width", "height", "audio"):
            self.assertEqual(by_hand[key], by_job[key], (key, by_hand, by_job, command))
        self.assertLessEqual(abs(by_hand["frames"] - by_job["frames"]), 1, (by_hand, by_job))
        self.assertLessEqual(abs(by_hand["duration"] - by_job["duration"]),
                             by_job["frame_s"] + 1e-3, (by_hand, by_job))

    def test_graphs(self):
        doc = self.document()
        with_graph = [p for p in doc["pipelines"] if p["has_graph"]]
        self.assertTrue(with_graph, doc)
        stage = with_graph[0]["stage"]

        r = self.get(self.pipeline_path() + "?format=dot&stage=" + stage)
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.headers["content-type"].startswith("text/vnd.graphviz"), r.headers)
        self.assertRegex(r.body.decode(), r"^\s*digraph\b")

        r = self.get(self.pipeline_path() + "?format=svg")
        self.assertEqual(r.status, 200, r.body[:500])
        self.assertTrue(r.headers["content-type"].startswith("image/svg+xml"), r.headers)
        root = ET.fromstring(r.body)
        self.assertTrue(root.tag.endswith("svg"), root.tag)
        # Graphviz drew the pipeline's elements (a cluster per element)
        self.assertIn(b"<g id=\"clust", r.body)

        self.assertError(self.get(self.pipeline_path() + "?format=png"), 400, "WE-JOB-001")
        self.assertError(self.get(self.pipeline_path() + "?format=svg&stage=no-such-stage"),
                         404, "WE-JOB-004")

    def test_log_of_the_task(self):
        r = self.get("/v1/jobs/%s/tasks/%s/logs" % (self.job["id"], self.task["id"]))
        self.assertEqual(r.status, 200, r.body[:500])
        self.assertTrue(r.headers["content-type"].startswith("text/plain"), r.headers)
        text = r.body.decode(errors="replace")
        self.assertRegex(text, GST_LINE)
        # lines of this task's pipeline (named after the task), not of another
        self.assertIn(self.task["id"], text)
        for other in self.tasks:
            if other["id"] != self.task["id"]:
                self.assertNotIn("name=%s" % other["id"], text)
        row = self.d.sql("SELECT url, size_bytes FROM task_logs WHERE task_id = '%s'"
                         % self.task["id"])
        self.assertEqual(len(row), 1, row)
        url = row[0][0]
        # beside the outputs, never listed as one
        self.assertIn("/.logs/", url)
        outputs = self.get("/v1/jobs/%s/outputs" % self.job["id"]).json()["outputs"]
        self.assertFalse([o for o in outputs if ".logs" in o["name"] or o["url"] == url])

    def test_access_and_errors(self):
        for path in (self.pipeline_path(),
                     "/v1/jobs/%s/tasks/%s/logs" % (self.job["id"], self.task["id"])):
            self.assertError(self.get(path, user="viewer"), 403, "WE-AUTH-004")
            self.assertError(self.get(path, user=None), 401, "WE-AUTH-001")
        self.assertError(self.get(self.pipeline_path(task="no-such-task")), 404, "WE-JOB-004")
        self.assertError(self.get(self.pipeline_path(job="no-such-job")), 404, "WE-JOB-004")
        self.assertError(self.get("/v1/jobs/%s/tasks/no-such-task/logs" % self.job["id"]),
                         404, "WE-JOB-004")

    def test_zz_delete_takes_the_logs(self):
        src = os.path.join(self.d.media, "clip.mp4")
        r = self.d.request("POST", "/v1/jobs", body={"source_url": "file://" + src,
                                                     "profile": "480p_fast"}, headers=self.op)
        self.assertEqual(r.status, 201, r.body)
        job = self.wait(r.json()["id"])
        self.assertEqual(job["status"], "completed", job)
        urls = [u for (u,) in self.d.sql("SELECT url FROM task_logs WHERE job_id = '%s'"
                                         % job["id"])]
        self.assertTrue(urls)
        paths = [self.d.stored_path(u) for u in urls]
        self.assertTrue(all(os.path.exists(p) for p in paths), paths)
        r = self.d.request("DELETE", "/v1/jobs/" + job["id"], headers=self.op)
        self.assertIn(r.status, (200, 204), r.body)
        deadline = time.time() + 10
        while any(os.path.exists(p) for p in paths) and time.time() < deadline:
            time.sleep(0.1)
        self.assertFalse([p for p in paths if os.path.exists(p)])
        self.assertEqual(self.d.sql("SELECT COUNT(*) FROM task_pipelines WHERE job_id = '%s'"
                                    % job["id"])[0][0] in (0, "0"), True)


# A worker speaking the local protocol (src/common/we-worker-protocol.h) that
# sends reports no real worker sends: one of another attempt and a log at a
# URL it was not given, which the kernel must ignore. Everything else here is
# real (daemon, store, storage, API); the real worker is tested above.
FAKE_WORKER = r"""#!/usr/bin/env python3
import json, os, sys, urllib.parse

def send(**msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()

def put(url, data):
    u = urllib.parse.urlsplit(url)
    path = os.path.join(os.environ["WE_DATA_DIR"], "storage", u.netloc,
                        urllib.parse.unquote(u.path.lstrip("/")))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)

for line in sys.stdin:
    msg = json.loads(line)
    if msg["type"] == "configure":
        send(type="hello", worker_id=msg["worker_id"], pid=os.getpid(), version="fake",
             capabilities={})
    elif msg["type"] == "shutdown":
        break
    elif msg["type"] == "task":
        t = msg["task"]
        tid = t["id"]
        if t["kind"] == "scan":
            send(type="failed", task_id=tid, code="WE-JOB-008", message="no scan here",
                 retryable=False)
            continue
        attempt = t["attempt"]
        send(type="pipeline", task_id=tid, stage="transcode", launch="stale ! attempt",
             dot="digraph stale {}", attempt=attempt + 7)
        send(type="pipeline", task_id=tid, stage="transcode",
             launch="videotestsrc num-buffers=5 ! fakesink", dot="digraph p { a -> b; }")
        send(type="pipeline", task_id=tid, stage="mux", launch="fakesrc ! fakesink",
             dot_omitted=True)
        send(type="pipeline", task_id="no-such-task", stage="x", launch="fakesrc ! fakesink")
        send(type="log", task_id=tid, url=t["output_url"], size_bytes=1, truncated=False)
        if t.get("log_url"):
            n = put(t["log_url"], b"0:00:00.1 1 0x1 INFO GST_INIT fake line\n")
            send(type="log", task_id=tid, url=t["log_url"], size_bytes=n, truncated=True)
        size = put(t["output_url"], b"not really a video")
        send(type="done", task_id=tid, output_url=t["output_url"], size_bytes=size)
"""


class HandMadeReports(wetest.DaemonTestCase):
    workers = 1

    @classmethod
    def setUpClass(cls):
        d = wetest.Daemon(workers=1)
        fake = os.path.join(d.tmp, "fake-worker")
        with open(fake, "w") as f:
            f.write(FAKE_WORKER)
        os.chmod(fake, 0o755)
        d.extra_env = {"WE_WORKER_BINARY": fake}
        cls.d = d.start()

    def test_reports_are_recorded_and_checked(self):
        src = wetest.make_clip(os.path.join(self.d.media, "fake.mp4"), duration=1)
        job = self.d.wait_job(self.d.submit("file://" + src, "480p_fast")["id"])
        tasks = self.d.get("/v1/jobs/%s/tasks" % job["id"]).json()["tasks"]
        task = [t for t in tasks if t["kind"] == "transcode"][0]
        base = "/v1/jobs/%s/tasks/%s/" % (job["id"], task["id"])

        doc = self.d.get(base + "pipeline").json()
        self.assertEqual([(p["stage"], p["launch"], p["has_graph"]) for p in doc["pipelines"]],
                         [("transcode", "videotestsrc num-buffers=5 ! fakesink", True),
                          ("mux", "fakesrc ! fakesink", False)], doc)
        self.assertEqual(doc["attempt"], task["attempt_count"])
        # the command runs as it is
        command = doc["pipelines"][0]["command"]
        run = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60,
                             env=launch_env(command))
        self.assertEqual(run.returncode, 0, run.stderr)
        r = self.d.get(base + "pipeline?format=svg&stage=transcode")
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(ET.fromstring(r.body).tag.endswith("svg"))
        self.assertError(self.d.get(base + "pipeline?format=dot&stage=mux"), 404, "WE-JOB-004")

        # only the log at the task's log_url counts
        r = self.d.get(base + "logs")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, b"0:00:00.1 1 0x1 INFO GST_INIT fake line\n")
        [(url, truncated)] = self.d.sql("SELECT url, truncated FROM task_logs WHERE task_id = '%s'"
                                        % task["id"])
        self.assertTrue(url.endswith("/.logs/%s-%d.log" % (task["id"], task["attempt_count"])),
                        url)
        self.assertIn(str(truncated), ("1", "t"))
        outputs = self.d.get("/v1/jobs/%s/outputs" % job["id"]).json()["outputs"]
        self.assertFalse([o for o in outputs if o["url"] == url], outputs)

        # the job's deletion takes the log along
        path = self.d.stored_path(url)
        self.assertTrue(os.path.exists(path))
        self.assertEqual(self.d.request("DELETE", "/v1/jobs/" + job["id"]).status, 204)
        deadline = time.time() + 10
        while os.path.exists(path) and time.time() < deadline:
            time.sleep(0.1)
        self.assertFalse(os.path.exists(path))
        self.assertEqual(len(self.d.sql("SELECT 1 FROM task_pipelines WHERE job_id = '%s'"
                                        % job["id"])), 0)


if __name__ == "__main__":
    wetest.main()
