#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A fake of the three Google endpoints publisher-youtube talks to.

This is the one fake the test suite allows: the real YouTube Data API v3 and
Google's OAuth 2.0 token endpoint cannot be reached from the build machines
(no internet), and there is no self-hostable implementation. It follows the
documented protocol strictly, so a client that is sloppy about it fails:

  POST /token                      OAuth 2.0 refresh_token grant (RFC 6749 §6)
  POST /upload/youtube/v3/videos   ?uploadType=resumable&part=snippet,status:
                                   starts a resumable session, answers its
                                   URI in Location
  PUT  <session URI>               a chunk ("Content-Range: bytes a-b/total",
                                   a must be the next byte we hold, every
                                   chunk but the last a multiple of 256 KiB)
                                   or a status query ("bytes */total"):
                                   308 Resume Incomplete + "Range: bytes=0-n",
                                   200 with the video resource when complete
  POST /upload/youtube/v3/thumbnails/set?videoId=…&uploadType=media
  PUT  /youtube/v3/videos?part=snippet,status   videos.update
  POST /youtube/v3/liveStreams?part=snippet,cdn,contentDetails,status
                                   liveStreams.insert: answers cdn.ingestionInfo
                                   (ingestionAddress, rtmpsIngestionAddress,
                                   streamName); the addresses are --ingest-url /
                                   --ingest-rtmps-url (a real RTMP server of the
                                   test's), the stream name a new random key
  POST /youtube/v3/liveBroadcasts?part=snippet,status,contentDetails
                                   liveBroadcasts.insert (snippet.title and
                                   scheduledStartTime, status.privacyStatus
                                   required)
  POST /youtube/v3/liveBroadcasts/bind?id=…&streamId=…&part=…
  POST /youtube/v3/liveBroadcasts/transition?broadcastStatus=live|complete&id=…&part=…
                                   ready → live → complete (live needs a bound
                                   stream; anything else is 403
                                   invalidTransition, as YouTube answers)

Faults are armed per test through POST /_control (JSON):
  {"drop_put": N, "drop_after": K}   the Nth chunk PUT reads K body bytes,
                                     keeps them (as Google does) and hangs up
  {"fail_put": N}                    the Nth chunk PUT reads its body and
                                     answers 503, keeping nothing
  {"expire_put": N}                  before the Nth chunk PUT every access
                                     token issued so far stops being valid
  {"throttle_ms": N}                 every chunk PUT waits N ms before it
                                     answers (a slow upload to kill a kernel in)
  {"reset": true}                    forgets everything
GET /_state answers what was received (hashes, offsets, metadata) as JSON.

Prints "ready <port>" on stdout and runs until stdin closes.
"""

import argparse
import hashlib
import json
import secrets
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK_GRANULE = 256 * 1024
lock = threading.Lock()


def fresh_state():
    return {
        "valid_tokens": set(),
        "token_requests": 0,
        "token_failures": 0,
        "sessions": {},          # upload_id -> dict
        "videos": {},            # video id -> resource
        "puts": [],              # every PUT to a session: {"range":…, "start":…, "status":…}
        "chunk_puts": 0,
        "faults": {},
        "thumbnails": {},        # video id -> {"sha256", "size", "content_type"}
        "updates": [],
        "auth_failures": 0,
        "log": [],
        "live_streams": {},      # stream id -> resource
        "broadcasts": {},        # broadcast id -> resource (+ "transitions")
    }


state = fresh_state()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeYouTube/1.0"

    def log_message(self, fmt, *args):
        # the request line holds no secrets (tokens travel in headers/bodies)
        with lock:
            state["log"].append(fmt % args)

    # ---- helpers ----

    def reply(self, status, body=None, headers=None):
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
        self.send_response(status, "Resume Incomplete" if status == 308 else None)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a kernel killed mid-upload): nothing to tell it

    def error(self, status, reason, message):
        self.reply(status, {"error": {"code": status, "message": message,
                                      "errors": [{"reason": reason, "message": message}]}})

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        with lock:
            ok = auth.startswith("Bearer ") and auth[7:] in state["valid_tokens"]
            if not ok:
                state["auth_failures"] += 1
        return ok

    def unauthorized(self):
        self.error(401, "authError", "Invalid Credentials")

    def query(self):
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)

    def route(self):
        return urllib.parse.urlsplit(self.path).path

    # ---- verbs ----

    def do_GET(self):
        if self.route() == "/_state":
            with lock:
                out = {k: v for k, v in state.items() if k not in ("valid_tokens", "sessions")}
                out["sessions"] = {
                    sid: {k: v for k, v in s.items() if k != "data"} | {
                        "sha256": hashlib.sha256(bytes(s["data"])).hexdigest(),
                        "received": len(s["data"])}
                    for sid, s in state["sessions"].items()}
            self.reply(200, out)
            return
        self.error(404, "notFound", "no such resource")

    def do_POST(self):
        route = self.route()
        if route == "/_control":
            ctl = json.loads(self.read_body() or b"{}")
            global state
            with lock:
                if ctl.pop("reset", False):
                    state = fresh_state()
                state["faults"].update(ctl)
            self.reply(200, {})
        elif route == "/token":
            self.token()
        elif route == "/upload/youtube/v3/videos":
            self.start_session()
        elif route == "/upload/youtube/v3/thumbnails/set":
            self.thumbnail()
        elif route == "/youtube/v3/liveStreams":
            self.live_stream_insert()
        elif route == "/youtube/v3/liveBroadcasts":
            self.broadcast_insert()
        elif route == "/youtube/v3/liveBroadcasts/bind":
            self.broadcast_bind()
        elif route == "/youtube/v3/liveBroadcasts/transition":
            self.broadcast_transition()
        else:
            self.read_body()
            self.error(404, "notFound", "no such resource")

    def do_PUT(self):
        route = self.route()
        q = self.query()
        if route == "/upload/youtube/v3/videos" and "upload_id" in q:
            self.session_put(q["upload_id"][0])
        elif route == "/youtube/v3/videos":
            self.update()
        else:
            self.read_body()
            self.error(404, "notFound", "no such resource")

    # ---- OAuth ----

    def token(self):
        form = urllib.parse.parse_qs(self.read_body().decode())
        get = lambda k: form.get(k, [""])[0]
        with lock:
            state["token_requests"] += 1
        if self.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
            self.reply(400, {"error": "invalid_request"})
            return
        if get("grant_type") != "refresh_token":
            self.reply(400, {"error": "unsupported_grant_type"})
            return
        if get("client_id") != self.server.client_id or get("client_secret") != self.server.client_secret:
            with lock:
                state["token_failures"] += 1
            self.reply(401, {"error": "invalid_client", "error_description": "The OAuth client was not found."})
            return
        if get("refresh_token") != self.server.refresh_token:
            with lock:
                state["token_failures"] += 1
            self.reply(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
            return
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with lock:
            state["valid_tokens"].add(token)
        self.reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer",
                         "scope": "https://www.googleapis.com/auth/youtube.upload"})

    # ---- resumable upload ----

    def start_session(self):
        body = self.read_body()
        if not self.authorized():
            self.unauthorized()
            return
        q = self.query()
        if q.get("uploadType") != ["resumable"] or sorted(q.get("part", [""])[0].split(",")) != ["snippet", "status"]:
            self.error(400, "badRequest", "uploadType=resumable and part=snippet,status expected")
            return
        try:
            total = int(self.headers["X-Upload-Content-Length"])
            meta = json.loads(body)
        except (KeyError, TypeError, ValueError):
            self.error(400, "badRequest", "X-Upload-Content-Length and a JSON body are required")
            return
        if not meta.get("snippet", {}).get("title"):
            self.error(400, "invalidTitle", "The request metadata specifies an invalid or empty video title.")
            return
        sid = secrets.token_hex(8)
        with lock:
            state["sessions"][sid] = {"total": total, "metadata": meta, "data": bytearray(),
                                      "content_type": self.headers.get("X-Upload-Content-Type"),
                                      "video_id": None}
        host = self.headers.get("Host")
        self.reply(200, None, {"Location": f"http://{host}/upload/youtube/v3/videos?uploadType=resumable&upload_id={sid}"})

    def session_put(self, sid):
        with lock:
            s = state["sessions"].get(sid)
            throttle = state["faults"].get("throttle_ms", 0)
        if throttle:
            import time
            time.sleep(throttle / 1000.0)
        if s is None:
            self.read_body()
            self.error(404, "notFound", "upload session not found")
            return
        crange = self.headers.get("Content-Range", "")
        length = int(self.headers.get("Content-Length", "0"))
        record = {"range": crange, "length": length}
        with lock:
            state["puts"].append(record)
        if not crange.startswith("bytes "):
            self.read_body()
            record["status"] = 400
            self.error(400, "badRequest", "Content-Range required")
            return
        spec, _, total = crange[6:].partition("/")
        if spec == "*":
            # a status query
            self.read_body()
            if not self.authorized():
                record["status"] = 401
                self.unauthorized()
                return
            self.status_reply(s, record)
            return
        start, _, end = spec.partition("-")
        start, end, total = int(start), int(end), int(total)
        record["start"] = start
        with lock:
            state["chunk_puts"] += 1
            n = state["chunk_puts"]
            faults = dict(state["faults"])
            if faults.get("expire_put") == n:
                state["valid_tokens"].clear()
        if not self.authorized():
            self.read_body()
            record["status"] = 401
            self.unauthorized()
            return
        if faults.get("drop_put") == n:
            # keep what arrived, then hang up mid-body like a broken network
            part = self.rfile.read(faults.get("drop_after", 1))
            with lock:
                if start == len(s["data"]):
                    s["data"] += part
            record["status"] = "dropped"
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = self.read_body()
        if faults.get("fail_put") == n:
            record["status"] = 503
            self.error(503, "backendError", "Backend Error")
            return
        with lock:
            held = len(s["data"])
        bad = None
        if total != s["total"]:
            bad = f"total {total} is not the session's {s['total']}"
        elif start != held:
            bad = f"chunk starts at {start}, expected {held}"
        elif end - start + 1 != length or len(data) != length:
            bad = "Content-Range and Content-Length disagree"
        elif end != total - 1 and length % CHUNK_GRANULE != 0:
            bad = "a chunk that is not the last must be a multiple of 256 KiB"
        if bad is not None:
            record["status"] = 400
            self.error(400, "badContent", bad)
            return
        with lock:
            s["data"] += data
        self.status_reply(s, record)

    def status_reply(self, s, record):
        with lock:
            held = len(s["data"])
            if held == s["total"] and s["video_id"] is None:
                vid = "vid" + secrets.token_hex(4)
                s["video_id"] = vid
                meta = s["metadata"]
                state["videos"][vid] = {"kind": "youtube#video", "id": vid,
                                        "snippet": meta.get("snippet", {}),
                                        "status": meta.get("status", {}) | {"uploadStatus": "uploaded"}}
            resource = state["videos"].get(s["video_id"]) if s["video_id"] else None
        if resource is not None:
            record["status"] = 200
            self.reply(200, resource)
            return
        record["status"] = 308
        self.reply(308, None, {"Range": f"bytes=0-{held - 1}"} if held else {})

    # ---- thumbnails and metadata ----

    def thumbnail(self):
        data = self.read_body()
        if not self.authorized():
            self.unauthorized()
            return
        q = self.query()
        vid = q.get("videoId", [""])[0]
        with lock:
            known = vid in state["videos"]
        if not known:
            self.error(404, "videoNotFound", "The video that you are trying to update cannot be found.")
            return
        ctype = self.headers.get("Content-Type", "")
        if ctype not in ("image/jpeg", "image/png") or len(data) > 2 * 1024 * 1024:
            self.error(400, "invalidImage", "The provided image content is invalid.")
            return
        with lock:
            state["thumbnails"][vid] = {"sha256": hashlib.sha256(data).hexdigest(),
                                        "size": len(data), "content_type": ctype}
        self.reply(200, {"kind": "youtube#thumbnailSetResponse",
                         "items": [{"default": {"url": f"https://i.ytimg.com/vi/{vid}/default.jpg"}}]})

    def update(self):
        body = self.read_body()
        if not self.authorized():
            self.unauthorized()
            return
        q = self.query()
        if sorted(q.get("part", [""])[0].split(",")) != ["snippet", "status"]:
            self.error(400, "badRequest", "part=snippet,status expected")
            return
        res = json.loads(body)
        with lock:
            video = state["videos"].get(res.get("id"))
            if video is None:
                known = False
            else:
                known = True
                if not res.get("snippet", {}).get("categoryId") or not res.get("snippet", {}).get("title"):
                    video = None
                else:
                    video["snippet"] = res["snippet"]
                    video["status"] = video["status"] | res.get("status", {})
                    state["updates"].append(res)
        if not known:
            self.error(404, "videoNotFound", "The video that you are trying to update cannot be found.")
        elif video is None:
            self.error(400, "invalidCategoryId", "snippet.title and snippet.categoryId are required")
        else:
            self.reply(200, video)


    # ---- live streaming (liveStreams, liveBroadcasts) ----

    def api_json(self, parts):
        """The JSON body of an authorised Data API call with exactly @parts
        in part=, or None after answering the error."""
        body = self.read_body()
        if not self.authorized():
            self.unauthorized()
            return None
        q = self.query()
        if sorted(q.get("part", [""])[0].split(",")) != sorted(parts):
            self.error(400, "badRequest", "part=%s expected" % ",".join(parts))
            return None
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            self.error(400, "badRequest", "a JSON body is required")
            return None
        try:
            res = json.loads(body)
        except ValueError:
            self.error(400, "parseError", "the body is not JSON")
            return None
        if not isinstance(res, dict):
            self.error(400, "parseError", "the body is not an object")
            return None
        return res

    def live_stream_insert(self):
        res = self.api_json(["snippet", "cdn", "contentDetails", "status"])
        if res is None:
            return
        cdn = res.get("cdn", {})
        if not res.get("snippet", {}).get("title"):
            self.error(400, "invalidTitle", "snippet.title is required")
            return
        if cdn.get("ingestionType") not in ("rtmp", "dash", "hls") or \
                cdn.get("resolution") is None or cdn.get("frameRate") is None:
            self.error(400, "invalidFormat", "cdn.ingestionType, resolution and frameRate are required")
            return
        sid = "stream-" + secrets.token_hex(6)
        name = "fake-" + secrets.token_hex(4) + "-" + secrets.token_hex(4)
        stream = {"kind": "youtube#liveStream", "id": sid, "snippet": res["snippet"],
                  "cdn": cdn | {"ingestionInfo": {
                      "streamName": name,
                      "ingestionAddress": self.server.ingest_url,
                      "rtmpsIngestionAddress": self.server.ingest_rtmps_url,
                      "backupIngestionAddress": self.server.ingest_url + "?backup=1"}},
                  "status": {"streamStatus": "ready"}}
        with lock:
            state["live_streams"][sid] = stream
        self.reply(200, stream)

    def broadcast_insert(self):
        res = self.api_json(["snippet", "status", "contentDetails"])
        if res is None:
            return
        snippet, status = res.get("snippet", {}), res.get("status", {})
        if not snippet.get("title") or len(snippet["title"]) > 100:
            self.error(400, "invalidTitle", "snippet.title must have 1 to 100 characters")
            return
        if not snippet.get("scheduledStartTime"):
            self.error(400, "invalidScheduledStartTime", "snippet.scheduledStartTime is required")
            return
        if status.get("privacyStatus") not in ("public", "unlisted", "private"):
            self.error(400, "invalidPrivacyStatus", "status.privacyStatus is required")
            return
        bid = "bc" + secrets.token_hex(5)
        b = {"kind": "youtube#liveBroadcast", "id": bid, "snippet": snippet,
             "status": status | {"lifeCycleStatus": "ready"},
             "contentDetails": res.get("contentDetails", {}), "transitions": []}
        with lock:
            state["broadcasts"][bid] = b
        self.reply(200, b)

    def broadcast_bind(self):
        self.read_body()
        if not self.authorized():
            self.unauthorized()
            return
        q = self.query()
        bid, sid = q.get("id", [""])[0], q.get("streamId", [""])[0]
        if not q.get("part"):
            self.error(400, "badRequest", "part is required")
            return
        with lock:
            b = state["broadcasts"].get(bid)
            stream = state["live_streams"].get(sid)
            if b is not None and stream is not None:
                b["contentDetails"]["boundStreamId"] = sid
        if b is None:
            self.error(404, "liveBroadcastNotFound", "Broadcast not found")
        elif stream is None:
            self.error(404, "liveStreamNotFound", "Stream not found")
        else:
            self.reply(200, b)

    def broadcast_transition(self):
        self.read_body()
        if not self.authorized():
            self.unauthorized()
            return
        q = self.query()
        bid, to = q.get("id", [""])[0], q.get("broadcastStatus", [""])[0]
        allowed = {"testing": ("ready",), "live": ("ready", "testing"), "complete": ("live",)}
        with lock:
            b = state["broadcasts"].get(bid)
            ok = False
            if b is not None and to in allowed and b["status"]["lifeCycleStatus"] in allowed[to] \
                    and (to == "complete" or b["contentDetails"].get("boundStreamId")):
                b["status"]["lifeCycleStatus"] = to
                b["transitions"].append(to)
                ok = True
        if b is None:
            self.error(404, "liveBroadcastNotFound", "Broadcast not found")
        elif not ok:
            self.error(403, "invalidTransition", "The broadcast cannot go to %s now" % to)
        else:
            self.reply(200, b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ingest-url", default="rtmp://127.0.0.1:1/live2",
                    help="ingestionAddress that liveStreams.insert answers")
    ap.add_argument("--ingest-rtmps-url", default="rtmps://127.0.0.1:1/live2",
                    help="rtmpsIngestionAddress that liveStreams.insert answers")
    ap.add_argument("--credentials", required=True,
                    help="a file with three lines: client id, client secret, refresh token")
    args = ap.parse_args()
    with open(args.credentials) as f:
        client_id, client_secret, refresh_token = f.read().splitlines()[:3]
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.client_id, server.client_secret, server.refresh_token = client_id, client_secret, refresh_token
    server.ingest_url, server.ingest_rtmps_url = args.ingest_url, args.ingest_rtmps_url
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"ready {server.server_address[1]}", flush=True)
    # the test holds our stdin: we go when it does, even when it crashes
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
