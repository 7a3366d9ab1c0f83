#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs the webencode CLI against a scripted HTTP server (stdlib only).

test-webencode-cli.py PATH/TO/webencode

The server plays webencoded's REST API, including the ways a server can go
wrong (error envelopes, bad JSON, wrong types, hostile output names), so the
CLI's exit statuses and messages are checked without a daemon.
"""
import base64
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse

CLI = None
UPLOADS = {}
DOWNLOAD = bytes(range(256)) * 4096  # 1 MiB
POLLS = {}
GRAPHS = []


def envelope(code, message, details):
    return {"error": {"code": code, "message": message, "details": details,
                      "request_id": "req-test", "timestamp": "2026-11-23T10:30:00Z"}}


def job(jid, status, progress=0.0, **extra):
    j = {"id": jid, "status": status, "profile": "720p_h264", "source_url": "fs://uploads/x/clip.mp4",
         "progress": progress, "progress_pct": int(progress), "fps": 120.5, "speed": 4.2,
         "eta_seconds": 3, "tasks_total": 1, "tasks_completed": 0, "error_code": None,
         "error_message": None, "retry_of": None, "created_at": "2026-11-23T10:30:00Z",
         "updated_at": "2026-11-23T10:30:01Z", "started_at": None, "finished_at": None}
    j.update(extra)
    return j


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.send_response(status)
        if data or status != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        auth = self.headers.get("Authorization")
        if auth is None or auth == "Basic " + base64.b64encode(b"alice:s3cret").decode():
            return True
        self.reply(401, envelope("WE-AUTH-001", "Unauthorized", "bad credentials"))
        return False

    def do_GET(self):
        if not self.authorized():
            return
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        if path == "/health":
            return self.reply(200, {"status": "ok", "version": "0.1.0", "mode": "embedded",
                                    "store": "sqlite", "workers": {"total": 2, "free": 1},
                                    "uptime_s": 75})
        if path == "/v1/profiles":
            return self.reply(200, {"profiles": [
                {"id": "720p_h264", "container": "mp4", "video_codec": "h264", "audio_codec": "aac",
                 "width": 1280, "height": 720, "video_bitrate_kbps": 2500},
                {"id": "odd\x1b[31m", "container": 7, "width": "wide", "crf": 30},
                "not an object"]})
        if path.startswith("/v1/profiles/"):
            pid = urllib.parse.unquote(path[len("/v1/profiles/"):])
            if pid in ("720p_h264", "fails", "garbage", "x"):
                return self.reply(200, {"id": pid, "container": "mp4"})
            return self.reply(400, envelope("WE-JOB-003", "Invalid profile",
                                            "Unknown profile: " + pid))
        if path == "/v1/jobs":
            if query.get("status") == ["bogus"]:
                return self.reply(400, envelope("WE-JOB-001", "Invalid request", "bad status"))
            return self.reply(200, {"jobs": [job("job-1", "processing", 45.25),
                                             job("job-2", "completed", 100.0)],
                                    "total": 7, "limit": 2, "offset": 0,
                                    "echo": query})
        if path == "/v1/jobs/job-1":
            n = POLLS.get("job-1", 0)
            POLLS["job-1"] = n + 1
            states = [("queued", 0), ("processing", 30.0), ("processing", 70.0), ("completed", 100.0)]
            st, pct = states[min(n, len(states) - 1)]
            return self.reply(200, job("job-1", st, pct))
        if path == "/v1/jobs/job-fail":
            return self.reply(200, job("job-fail", "failed", 12.0, error_code="WE-JOB-007",
                                       error_message="not a media file"))
        if path == "/v1/jobs/bad-json":
            return self.reply(200, raw=b"{\"id\": \"bad-json\", ")
        if path == "/v1/jobs/wrong-types":
            return self.reply(200, {"id": 5, "status": ["x"], "progress": "abc", "fps": None,
                                    "created_at": "yesterday"})
        if path == "/v1/jobs/array":
            return self.reply(200, [1, 2, 3])
        if path == "/v1/jobs/proxy":
            return self.reply(502, raw=b"<html>bad gateway</html>", ctype="text/html")
        if path in ("/v1/jobs/job-1/outputs", "/v1/jobs/evil/outputs"):
            jid = path.split("/")[3]
            names = ["out.mp4"] if jid == "job-1" else ["../escape.mp4", "a/b.mp4", "..", "ok.mp4"]
            return self.reply(200, {"job_id": jid, "status": "completed", "outputs": [
                {"name": n, "type": "final", "url": "fs://outputs/%s/%s" % (jid, n),
                 "download_url": "http://example/v1/jobs/%s/outputs/%s" % (jid, n),
                 "size_bytes": len(DOWNLOAD), "content_type": "video/mp4"} for n in names]})
        if path in ("/v1/jobs/job-1/outputs/out.mp4", "/v1/jobs/evil/outputs/ok.mp4",
                    "/v1/jobs/evil/outputs/a/b.mp4"):
            return self.reply(200, raw=DOWNLOAD, ctype="video/mp4")
        if path == "/v1/jobs/job-1/tasks":
            # out of order: the CLI takes them by sequence_index
            return self.reply(200, {"tasks": [{"id": "t2", "sequence_index": 1},
                                              {"id": "t1", "sequence_index": 0}]})
        if path == "/v1/jobs/job-1/tasks/t2/pipeline":
            fmt = query.get("format", [None])[0]
            if fmt is not None:
                GRAPHS.append((fmt, query.get("stage", [None])[0]))
            if fmt == "svg":
                return self.reply(200, raw=b"<svg>graph</svg>", ctype="image/svg+xml")
            if fmt == "dot":
                return self.reply(200, raw=b"digraph pipeline {}", ctype="text/vnd.graphviz")
            return self.reply(200, {"job_id": "job-1", "task_id": "t2", "pipelines": [
                {"stage": "transcode", "launch": "filesrc ! fakesink",
                 "command": "gst-launch-1.0 -e 'filesrc ! fakesink'", "has_graph": True,
                 "recorded_at": "2026-11-23T10:30:00Z"},
                {"stage": "evil\x1b[2J", "launch": "x", "command": "gst-launch-1.0 -e 'x\x1b[31m'",
                 "has_graph": False}]})
        if path == "/v1/jobs/job-1/tasks/t2/logs":
            return self.reply(200, raw=b"0:00:00.1 INFO line one\n0:00:00.2 \x1b[31mred\n",
                              ctype="text/plain")
        if path.startswith("/v1/jobs/"):
            return self.reply(404, envelope("WE-JOB-004", "Job not found",
                                            "No job exists with ID: " + path.split("/")[3]))
        return self.reply(404, envelope("WE-SYS-404", "Not found", "no route"))

    def do_POST(self):
        if not self.authorized():
            return
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length", "0"))
        if path == "/v1/files/upload":
            digest, left = hashlib.sha256(), length
            while left > 0:
                chunk = self.rfile.read(min(65536, left))
                if not chunk:
                    break
                digest.update(chunk)
                left -= len(chunk)
            name = query.get("filename", ["?"])[0]
            UPLOADS[name] = (length, digest.hexdigest(), self.headers.get("Content-Type"))
            return self.reply(201, {"plugin_id": "storage-fs", "url": "fs://uploads/u1/" + name,
                                    "object_key": "uploads/u1/" + name, "size": length})
        body = self.rfile.read(length) if length else b""
        if path == "/v1/jobs":
            req = json.loads(body)
            if req.get("profile") == "nope":
                return self.reply(400, envelope("WE-JOB-003", "Invalid profile",
                                                "Unknown profile: nope"))
            if req.get("profile") == "garbage":
                return self.reply(201, raw=b"\x00\xffnot json")
            if req.get("profile") == "fails":
                return self.reply(201, job("job-fail", "queued", request=req))
            return self.reply(201, job("job-1", "queued", request=req))
        if path == "/v1/jobs/job-1/cancel":
            return self.reply(409, envelope("WE-JOB-006", "Job already completed",
                                            "Job job-1 is completed"))
        if path == "/v1/jobs/job-fail/cancel":
            return self.reply(200, job("job-fail", "cancelled"))
        if path == "/v1/jobs/job-fail/retry":
            return self.reply(201, job("job-3", "queued", retry_of="job-fail"))
        return self.reply(404, envelope("WE-SYS-404", "Not found", "no route"))

    def do_DELETE(self):
        if self.path == "/v1/jobs/job-2":
            return self.reply(204)
        return self.reply(404, envelope("WE-JOB-004", "Job not found", "No job exists with ID: x"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAILURES = []


def run(args, expect_rc, out=None, err=None, not_out=None, env_extra=None):
    env = dict(os.environ)
    env.pop("WEBENCODE_USER", None)
    env.pop("WEBENCODE_PASSWORD", None)
    env["WEBENCODE_URL"] = BASE
    # REST unless a case says otherwise: a developer's session bus may have a
    # webencoded on it
    env["WEBENCODE_TRANSPORT"] = "rest"
    env.update(env_extra or {})
    p = subprocess.run([CLI] + args, capture_output=True, text=True, env=env, timeout=60,
                       stdin=subprocess.DEVNULL)
    ok = p.returncode == expect_rc
    for needle in ([out] if isinstance(out, str) else out or []):
        ok = ok and needle in p.stdout
    for needle in ([err] if isinstance(err, str) else err or []):
        ok = ok and needle in p.stderr
    for needle in ([not_out] if isinstance(not_out, str) else not_out or []):
        ok = ok and needle not in p.stdout
    # sanitizer reports must fail the test even when the exit status matches
    ok = ok and "ERROR: AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr
    ok = ok and "CRITICAL" not in p.stderr and "WARNING" not in p.stderr
    label = " ".join(args)
    print("%s: %s (rc %d)" % ("ok" if ok else "FAIL", label, p.returncode))
    if not ok:
        FAILURES.append(label)
        print("  stdout: " + p.stdout.replace("\n", "\n          "))
        print("  stderr: " + p.stderr.replace("\n", "\n          "))
    return p


def main():
    global CLI, BASE
    CLI = os.path.abspath(sys.argv[1])
    port = free_port()
    BASE = "http://127.0.0.1:%d" % port
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    with tempfile.TemporaryDirectory() as tmp:
        run(["--version"], 0, out="webencode ")
        run([], 2, err="no command")
        run(["frobnicate"], 2, err="unknown command")
        run(["status"], 2, err="usage: webencode status JOB")
        run(["--url", "ftp://x", "list"], 2, err="invalid service URL")
        run(["--url", "http://127.0.0.1:%d" % free_port(), "list"], 3,
            err="webencode: cannot reach webencoded at http://127.0.0.1:")
        run(["health"], 0, out=["ok", "embedded", "2 (1 free)", "1:15"])
        run(["profiles"], 0, out=["720p_h264", "mp4", "h264/aac", "1280x720", "2500k", "crf 30"],
            not_out="\x1b")
        p = run(["list", "--status", "processing,queued", "--limit", "2"], 0,
                out=["job-1", "processing", "45.2%", "job-2", "completed"], err="of 7 jobs")
        run(["list", "--status", "bogus"], 2, err="webencode: WE-JOB-001: Invalid request: bad status")
        run(["--json", "list", "--status", "processing,queued"], 0,
            out=['"jobs"', '"total": 7', '"status": ["processing,queued"]'])
        run(["status", "job-1"], 0, out=["job-1", "720p_h264", "fs://uploads/x/clip.mp4"])
        run(["status", "nope"], 2,
            err="webencode: WE-JOB-004: Job not found: No job exists with ID: nope")
        run(["status", "bad-json"], 2, err="invalid JSON")
        run(["status", "wrong-types"], 0, out=["status:", "yesterday"])
        run(["status", "array"], 2, err="unexpected response")
        run(["status", "proxy"], 2, err="webencode: HTTP 502")
        run(["status", "../../etc/passwd"], 2, err="WE-JOB-004")
        run(["cancel", "job-1"], 2, err="webencode: WE-JOB-006: Job already completed: Job job-1 is completed")
        run(["cancel", "job-fail"], 0, out="job-fail cancelled")
        run(["retry", "job-fail"], 0, out="job-3")
        run(["delete", "job-2"], 0, out="deleted job-2")
        run(["delete", "nope"], 2, err="WE-JOB-004")

        # auth: Basic from the options or the environment
        run(["--user", "alice", "--password", "wrong", "health"], 2, err="WE-AUTH-001")
        run(["--user", "alice", "--password", "s3cret", "health"], 0, out="ok")
        run(["health"], 0, out="ok", env_extra={"WEBENCODE_USER": "alice",
                                                "WEBENCODE_PASSWORD": "s3cret"})

        # submit a URL as is, with typed overrides
        p = run(["--json", "submit", "fs://in/clip.mp4", "--profile", "720p_h264",
                 "--override", "video_bitrate_kbps=1800", "-o", "preset=slow",
                 "-o", "prefer_hardware=false", "-o", "crf=22.5"], 0)
        if p.returncode == 0:
            req = json.loads(p.stdout).get("request", {})
            want = {"source_url": "fs://in/clip.mp4", "profile": "720p_h264",
                    "profile_overrides": {"video_bitrate_kbps": 1800, "preset": "slow",
                                          "prefer_hardware": False, "crf": 22.5}}
            if req != want:
                FAILURES.append("submit request body: %r" % req)
                print("FAIL: submit request body %r" % req)
        run(["submit", "fs://in/clip.mp4"], 2, err="--profile")
        run(["submit", "fs://in/clip.mp4", "-p", "x", "-o", "novalue"], 2, err="key=value")
        run(["submit", "fs://in/clip.mp4", "-p", "nope"], 2,
            err="webencode: WE-JOB-003: Invalid profile: Unknown profile: nope")
        run(["submit", "fs://in/clip.mp4", "-p", "garbage"], 2, err="invalid JSON")
        run(["submit", os.path.join(tmp, "missing.mp4"), "-p", "x"], 2, err="no such file")
        run(["submit", tmp, "-p", "x"], 2, err="not a regular file")
        UPLOADS.clear()
        run(["submit", CLI, "-p", "nope"], 2, err="WE-JOB-003: Invalid profile: Unknown profile: nope")
        if UPLOADS:
            FAILURES.append("uploaded before checking the profile")
            print("FAIL: uploaded before checking the profile")

        # upload: streamed, with the right length and bytes
        src = os.path.join(tmp, "my clip.mp4")
        payload = os.urandom(3 * 1024 * 1024 + 17)
        with open(src, "wb") as f:
            f.write(payload)
        p = run(["--json", "submit", src, "-p", "720p_h264"], 0)
        got = UPLOADS.get("my clip.mp4")
        if got != (len(payload), hashlib.sha256(payload).hexdigest(), "application/octet-stream"):
            FAILURES.append("upload: %r" % (got,))
            print("FAIL: upload %r" % (got,))
        elif json.loads(p.stdout).get("request", {}).get("source_url") != "fs://uploads/u1/my clip.mp4":
            FAILURES.append("upload url not submitted")
            print("FAIL: upload url not submitted: " + p.stdout)

        # wait and download
        POLLS.clear()
        out_dir = os.path.join(tmp, "out")
        run(["submit", "fs://in/clip.mp4", "-p", "720p_h264", "--download", out_dir], 0,
            out=["job-1", "processing", "completed", "saved"])
        with open(os.path.join(out_dir, "out.mp4"), "rb") as f:
            if f.read() != DOWNLOAD:
                FAILURES.append("downloaded bytes differ")
                print("FAIL: downloaded bytes differ")
        if os.path.exists(os.path.join(out_dir, "out.mp4.part")):
            FAILURES.append("partial file left behind")
        run(["submit", "fs://in/clip.mp4", "-p", "fails", "--wait"], 1,
            out="job-fail", err="webencode: job job-fail failed: WE-JOB-007: not a media file")
        POLLS.clear()
        p = run(["--json", "submit", "fs://in/clip.mp4", "-p", "720p_h264", "--wait"], 0,
                out='"status": "completed"')

        run(["outputs", "job-1"], 0, out=["out.mp4", "final", "1.0", "http://example/"])
        run(["outputs", "nope", "--download", out_dir], 2, err="WE-JOB-004")
        evil = os.path.join(tmp, "evil")
        run(["outputs", "evil", "--download", evil], 0, err="unusable name", out="saved")
        # a packaged job's outputs are relative paths: kept as folders below
        if sorted(os.listdir(evil)) != ["a", "ok.mp4"] or \
                not os.path.exists(os.path.join(evil, "a", "b.mp4")) or \
                os.path.exists(os.path.join(tmp, "escape.mp4")):
            FAILURES.append("hostile output names: %r" % os.listdir(evil))
            print("FAIL: hostile output names %r" % os.listdir(evil))

        # pipeline: the first task by sequence that has one, its stages' commands
        run(["pipeline", "job-1"], 0, out=["t2", "# stage transcode",
                                           "gst-launch-1.0 -e 'filesrc ! fakesink'"],
            not_out="\x1b")
        run(["pipeline", "job-1", "t2", "--stage", "transcode"], 0, out="filesrc",
            not_out="evil")
        run(["pipeline", "job-1", "t2", "--stage", "nope"], 2, err="no stage")
        run(["pipeline", "job-1", "t1"], 2, err="WE-JOB-004")
        run(["pipeline", "nope"], 2, err="WE-JOB-004")
        run(["--json", "pipeline", "job-1"], 0, out='"task_id": "t2"')
        del GRAPHS[:]
        svg = os.path.join(tmp, "g.svg")
        dot = os.path.join(tmp, "g.dot")
        run(["pipeline", "job-1", "--graph", svg, "--stage", "transcode"], 0, out="saved")
        run(["pipeline", "job-1", "--graph", dot], 0, out="saved")
        if GRAPHS != [("svg", "transcode"), ("dot", None)] or \
                open(svg).read() != "<svg>graph</svg>" or \
                open(dot).read() != "digraph pipeline {}":
            FAILURES.append("pipeline graphs: %r" % GRAPHS)
            print("FAIL: pipeline graphs %r" % GRAPHS)
        run(["logs", "job-1", "t2"], 0, out=["line one", "?[31mred"], not_out="\x1b")
        run(["logs", "job-1"], 2, err="usage")

        # transport choice
        nobus = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=" + os.path.join(tmp, "nobus"),
                 "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=" + os.path.join(tmp, "nobus")}
        run(["health"], 0, out="url:       " + BASE,
            env_extra=dict(nobus, WEBENCODE_TRANSPORT="auto"))
        run(["health"], 0, out=BASE, env_extra=dict(nobus, WEBENCODE_TRANSPORT=""))
        run(["health"], 2, err="WEBENCODE_TRANSPORT", env_extra={"WEBENCODE_TRANSPORT": "carrier"})
        run(["--dbus", "--rest", "health"], 2, err="--dbus cannot")
        run(["--dbus", "--url", BASE, "health"], 2, err="--dbus cannot")
        run(["--system", "--session", "health"], 2, err="exclude")
        run(["--dbus", "health"], 3, err="cannot reach", env_extra=nobus)
        run(["--dbus", "--system", "health"], 3, err="cannot reach", env_extra=nobus)
        run(["health"], 3, err="cannot reach", env_extra=dict(nobus, WEBENCODE_TRANSPORT="dbus"))
        run(["--rest", "health"], 0, out=BASE, env_extra={"WEBENCODE_TRANSPORT": "dbus"})

    server.shutdown()
    print("%d failure(s)" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
