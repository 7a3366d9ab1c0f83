# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the benchmark scripts share: paths, logging, a free port, the REST
client and API timestamps. Python standard library only."""

import datetime
import json
import os
import socket
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
MAKE_CLIP = os.path.join(SOURCE_ROOT, "tests", "media", "make-clip")
SKIP = 77  # meson's "skipped"


class BenchError(Exception):
    pass


def log(msg):
    # flushed at once: meson shows a benchmark's output as it runs
    print(msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base, method, path, body=None, timeout=30):
    """A JSON request to webencoded; an HTTP error becomes a BenchError
    carrying the error envelope."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raise BenchError("%s %s: HTTP %d: %s" % (method, path, e.code,
                                                  e.read().decode(errors="replace")))
    return json.loads(raw) if raw else None


def ts(text):
    """Unix seconds of an API timestamp."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
