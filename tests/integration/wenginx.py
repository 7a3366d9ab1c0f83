# SPDX-License-Identifier: LGPL-2.1-or-later
"""nginx with the RTMP module (Debian's nginx + libnginx-mod-rtmp) as a
real RTMP destination for the restream tests.

Each NginxRtmp is one nginx process of the test's own: its own prefix,
configuration, pid and error log in a temporary directory, listening on an
unprivileged port of 127.0.0.1, never the system service. It runs in the
foreground as a single process (master_process off), so SIGSTOP and
SIGKILL hit the process holding the connections, and it records every
publish of application "live" to FLV files (record all, record_unique on:
one file per publish, named KEY-<unix time>.flv) for ffprobe to count.
With tls=True it also serves RTMPS: the stream module (libnginx-mod-stream)
terminates TLS on tls_port with a self-signed certificate for 127.0.0.1
and passes the connection on to the RTMP port."""

import os
import shutil
import signal
import socket
import subprocess
import time

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"

CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
load_module {module};
events {{ worker_connections 64; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    chunk_size 4096;
    # acknowledge every 64 KiB (nginx's default is 5 MB) so the sender's
    # acknowledged-bytes bitrate moves every second
    ack_window 65536;
    application live {{
      live on;
      record all;
      record_path {records};
      record_unique on;
    }}
  }}
}}
"""


TLS_CONF = """\
stream {{
  server {{
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {root}/cert.pem;
    ssl_certificate_key {root}/key.pem;
    proxy_pass 127.0.0.1:{port};
  }}
}}
"""


def available(tls=False):
    """Whether nginx and its RTMP (and for tls, stream) module are installed."""
    return (os.access(NGINX, os.X_OK) and os.path.exists(MODULE) and
            (not tls or os.path.exists(STREAM_MODULE)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NginxRtmp:
    def __init__(self, root, port=None, tls=False):
        self.root = root
        self.port = port or free_port()
        self.tls_port = free_port() if tls else None
        self.records = os.path.join(root, "records")
        self.proc = None
        os.makedirs(self.records, exist_ok=True)
        self.conf = os.path.join(root, "nginx.conf")
        conf = CONF.format(root=root, module=MODULE, port=self.port, records=self.records)
        if tls:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                 "-keyout", os.path.join(root, "key.pem"),
                 "-out", os.path.join(root, "cert.pem")],
                check=True, capture_output=True, timeout=60)
            conf = (f"load_module {STREAM_MODULE};\n" + conf +
                    TLS_CONF.format(root=root, tls_port=self.tls_port, port=self.port))
        with open(self.conf, "w") as f:
            f.write(conf)

    def url(self, key):
        return f"rtmp://127.0.0.1:{self.port}/live/{key}"

    def tls_url(self, key):
        return f"rtmps://127.0.0.1:{self.tls_port}/live/{key}"

    def start(self, timeout=10):
        """Starts nginx and waits until it accepts connections."""
        with open(os.path.join(self.root, "stderr.log"), "a") as err:
            self.proc = subprocess.Popen(
                [NGINX, "-p", self.root + "/", "-e", os.path.join(self.root, "error.log"),
                 "-c", self.conf],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen on {self.port}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        """Dies like a crashed server: no goodbye to the publishers."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def recordings(self):
        """The FLV files recorded so far, oldest first."""
        files = [os.path.join(self.records, f) for f in os.listdir(self.records)
                 if f.endswith(".flv")]
        return sorted(files, key=os.path.getmtime)

    def error_log(self):
        try:
            with open(os.path.join(self.root, "error.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""
