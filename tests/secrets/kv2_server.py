#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small OpenBao/Vault KV version 2 HTTP server for the secrets tests.

This is a FAKE: neither OpenBao nor HashiCorp Vault is packaged in Debian 12
and the tests may not download anything, so the tests talk to this instead.
It implements the real KV v2 wire format of the calls WebEncode makes
(https://openbao.org/api-docs/secret/kv/kv-v2/):

  GET    /v1/<mount>/data/<path>[?version=N]  read the latest (or Nth) version
  POST   /v1/<mount>/data/<path>              {"data": {...}, "options": {"cas": N}}
  PUT    (same as POST)
  DELETE /v1/<mount>/data/<path>              soft-delete the latest version

with the real status codes and bodies: 403 {"errors": ["permission denied"]}
for a missing or wrong X-Vault-Token (or X-Vault-Namespace when one is
required), 404 {"errors": []} for a path never written, 404 with
"data": null and the version metadata for a deleted version, 400 for a
write without "data" or a failed check-and-set, and 404 "no handler for
route" for an unknown mount.

Usage: kv2_server.py --token T [--namespace NS] [--mount secret]...
Prints the port it listens on (127.0.0.1, ephemeral) as its first line.
"""
import argparse
import datetime
import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
# (mount, path) -> {"versions": [ {data, created_time, deletion_time, destroyed} ]}
STORE = {}


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def metadata(entry, version):
    v = entry["versions"][version - 1]
    return {
        "created_time": v["created_time"],
        "custom_metadata": None,
        "deletion_time": v["deletion_time"],
        "destroyed": v["destroyed"],
        "version": version,
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kv2-fake"

    def log_message(self, fmt, *args):  # quiet: the tests read stdout
        sys.stderr.write("kv2_server: " + (fmt % args) + "\n")

    def reply(self, status, body):
        raw = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(raw)

    def envelope(self, data):
        return {
            "request_id": str(uuid.uuid4()),
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": data,
            "wrap_info": None,
            "warnings": None,
            "auth": None,
        }

    def route(self):
        """(mount, path, query) or None after replying with an error."""
        if self.headers.get("X-Vault-Token") != self.server.token:
            self.reply(403, {"errors": ["permission denied"]})
            return None
        if self.server.namespace is not None and \
                self.headers.get("X-Vault-Namespace") != self.server.namespace:
            self.reply(403, {"errors": ["permission denied"]})
            return None
        url = urlsplit(self.path)
        parts = url.path.split("/")
        # "", "v1", mount, "data", path...
        if len(parts) < 5 or parts[1] != "v1" or parts[3] != "data" or not parts[4]:
            self.reply(404, {"errors": ["no handler for route \"%s\"" % url.path.lstrip("/")]})
            return None
        mount = parts[2]
        if mount not in self.server.mounts:
            self.reply(404, {"errors": ["no handler for route \"%s\"" % url.path.lstrip("/")]})
            return None
        return mount, "/".join(parts[4:]), parse_qs(url.query)

    def do_GET(self):
        r = self.route()
        if r is None:
            return
        mount, path, query = r
        with LOCK:
            entry = STORE.get((mount, path))
            if entry is None:
                self.reply(404, {"errors": []})
                return
            version = len(entry["versions"])
            if "version" in query:
                try:
                    version = int(query["version"][0])
                except ValueError:
                    self.reply(400, {"errors": ["invalid version"]})
                    return
                if version == 0:
                    version = len(entry["versions"])
                if version < 1 or version > len(entry["versions"]):
                    self.reply(404, {"errors": []})
                    return
            v = entry["versions"][version - 1]
            meta = metadata(entry, version)
            if v["deletion_time"] or v["destroyed"]:
                self.reply(404, self.envelope({"data": None, "metadata": meta}))
                return
            self.reply(200, self.envelope({"data": v["data"], "metadata": meta}))

    def do_POST(self):
        r = self.route()
        if r is None:
            return
        mount, path, _ = r
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.reply(400, {"errors": ["failed to parse JSON input"]})
            return
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            self.reply(400, {"errors": ["no data provided"]})
            return
        options = body.get("options") or {}
        with LOCK:
            entry = STORE.setdefault((mount, path), {"versions": []})
            if "cas" in options and options["cas"] != len(entry["versions"]):
                self.reply(400, {"errors": ["check-and-set parameter did not match the current version"]})
                return
            entry["versions"].append({"data": data, "created_time": now(),
                                      "deletion_time": "", "destroyed": False})
            version = len(entry["versions"])
            self.reply(200, self.envelope(metadata(entry, version)))

    do_PUT = do_POST

    def do_DELETE(self):
        r = self.route()
        if r is None:
            return
        mount, path, _ = r
        with LOCK:
            entry = STORE.get((mount, path))
            if entry is not None:
                entry["versions"][-1]["deletion_time"] = now()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--token", required=True)
    ap.add_argument("--namespace")
    ap.add_argument("--mount", action="append")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.token = args.token
    server.namespace = args.namespace
    server.mounts = set(args.mount or ["secret"])
    print(server.server_address[1], flush=True)
    # the parent closes our stdin when it is done with us
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
