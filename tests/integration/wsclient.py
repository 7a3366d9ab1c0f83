# SPDX-License-Identifier: LGPL-2.1-or-later
"""A minimal RFC 6455 client for the tests: the handshake, masked client
frames, text/binary/ping/pong/close. Written here (not a library) so the
tests depend on nothing the CI image lacks and can send broken frames."""

import base64
import hashlib
import json
import os
import socket
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Refused(Exception):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status, headers, body):
        super().__init__("HTTP %d: %r" % (status, body[:200]))
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__("closed %s %r" % (code, reason))
        self.code = code
        self.reason = reason


class WsClient:
    def __init__(self, port, path, headers=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.close_code = None
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port,
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13",
                 "Origin: http://127.0.0.1:%d" % port]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("iso-8859-1").split("\r\n")
        status = int(status_line.split()[1])
        hdrs = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if status != 101:
            body = self._read_exact(int(hdrs.get("content-length", "0")))
            self.sock.close()
            raise Refused(status, hdrs, body)
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        assert hdrs.get("sec-websocket-accept") == accept, hdrs
        self.headers = hdrs

    # --- raw I/O ---
    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(marker, 1)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send_frame(self, opcode, payload, fin=True, mask=True, header_only=False):
        header = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            header += bytes([mbit | n])
        elif n < 65536:
            header += bytes([mbit | 126]) + struct.pack("!H", n)
        else:
            header += bytes([mbit | 127]) + struct.pack("!Q", n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            header += key
        self.sock.sendall(header if header_only else header + payload)

    def read_frame(self, timeout=10):
        self.sock.settimeout(timeout)
        b0, b1 = self._read_exact(2)
        opcode = b0 & 0x0F
        n = b1 & 0x7F
        assert not b1 & 0x80, "the server must not mask"
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        return opcode, self._read_exact(n)

    # --- messages ---
    def send_json(self, obj):
        self.send_frame(0x1, json.dumps(obj).encode())

    def recv(self, timeout=10):
        """The next JSON message; answers pings; raises Closed on a close."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no message within %ss" % timeout)
            try:
                opcode, payload = self.read_frame(timeout=left)
            except ConnectionError:
                raise Closed(self.close_code, "connection lost")
            if opcode == 0x9:
                self.send_frame(0xA, payload)
            elif opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.close_code = code
                try:
                    self.send_frame(0x8, payload[:2])
                except OSError:
                    pass
                raise Closed(code, payload[2:].decode(errors="replace"))
            elif opcode == 0x1:
                return json.loads(payload)

    def wait_for(self, pred, timeout=10):
        """Messages until one satisfies @pred; returns (it, the ones before)."""
        deadline = time.time() + timeout
        skipped = []
        while True:
            msg = self.recv(timeout=max(0.01, deadline - time.time()))
            if pred(msg):
                return msg, skipped
            skipped.append(msg)

    def close(self, code=1000):
        try:
            self.send_frame(0x8, struct.pack("!H", code))
            self.sock.settimeout(2)
            while True:
                opcode, _ = self.read_frame(timeout=2)
                if opcode == 0x8:
                    break
        except (OSError, ConnectionError, AssertionError, ValueError):
            pass
        self.sock.close()
