# SPDX-License-Identifier: LGPL-2.1-or-later
"""The D-Bus API (dbus/org.webencode.WebEncode1.xml) of a real webencoded on a
private session bus (the test re-runs itself under dbus-run-session), driven
with the standard tools: gdbus call, gdbus
monitor, gdbus introspect and busctl. OpenOutput/UploadSource pass file
descriptors, which gdbus cannot: a short PyGObject client (/usr/bin/python3,
python3-gi) does those."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import wetest

NAME = "org.webencode.WebEncode1"
PATH = "/org/webencode/WebEncode1"
IFACE = "org.webencode.WebEncode1"
SYSTEM_PYTHON = "/usr/bin/python3"

# session.conf, and any uid may connect: the bus must let another user in so
# that the service itself is what refuses them
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class DBusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # main() started the bus with dbus-run-session
        cls.address = os.environ["DBUS_SESSION_BUS_ADDRESS"]
        cls.env = dict(os.environ)
        cls.d = wetest.Daemon(workers=1, env={"WE_DBUS_BUS": "session",
                                              "DBUS_SESSION_BUS_ADDRESS": cls.address})
        cls.d.start()
        subprocess.run(["gdbus", "wait", "--session", "--timeout", "20", NAME], env=cls.env,
                       check=True, timeout=30)
        cls.short = "file://" + wetest.make_clip(os.path.join(cls.d.media, "short.mp4"),
                                                 duration=1)
        cls.long = "file://" + wetest.make_clip(os.path.join(cls.d.media, "long.mp4"),
                                                duration=30)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    # --- helpers ---

    def gdbus(self, *args, path=PATH, method=None, check=True, prefix=()):
        cmd = list(prefix) + ["gdbus", "call", "--session", "--dest", NAME,
                              "--object-path", path, "--method", method] + list(args)
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr + self.d.tail())
        return r

    def call(self, method, *args, **kw):
        return self.gdbus(*args, method=IFACE + "." + method, **kw).stdout

    def submit(self, source):
        out = self.call("SubmitJob", "{'source_url': <'%s'>, 'profile': <'480p_fast'>}" % source)
        m = re.match(r"\(objectpath '([^']+)', '([^']+)'\)", out.strip())
        self.assertIsNotNone(m, out)
        return m.group(1), m.group(2)

    def assertDBusError(self, r, code):
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("org.webencode.WebEncode1.Error." + code, r.stderr)

    # --- the tests ---

    def test_01_submit_and_watch(self):
        monitor = subprocess.Popen(["gdbus", "monitor", "--session", "--dest", NAME],
                                   env=self.env, stdout=subprocess.PIPE, text=True)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(iter(monitor.stdout.readline, "")),
                                  daemon=True)
        reader.start()
        try:
            time.sleep(0.5)  # the monitor's match rules are in place
            path, job_id = self.submit(self.short)
            self.assertEqual(path, "/org/webencode/WebEncode1/Job/" + job_id.replace("-", "_"))
            props = {}
            states = []
            deadline = time.time() + 120 * wetest.TIME_FACTOR
            seen = 0
            while time.time() < deadline:
                for line in lines[seen:]:
                    if not line.startswith(path + ": org.freedesktop.DBus.Properties."
                                           "PropertiesChanged"):
                        continue
                    for key, value in re.findall(r"'(State|Progress)': <([^>]+)>", line):
                        props[key] = value
                        if key == "State":
                            states.append(value)
                seen = len(lines)
                if props.get("State") in ("'completed'", "'failed'"):
                    break
                time.sleep(0.1)
        finally:
            monitor.terminate()
            monitor.wait(timeout=10)
            monitor.stdout.close()
        self.assertEqual(props.get("State"), "'completed'", "".join(lines) + self.d.tail())
        self.assertEqual(float(props["Progress"]), 100.0)
        self.assertIn("'processing'", states)
        self.assertTrue(any("JobStateChanged" in line and job_id in line for line in lines))
        # the properties, read back
        out = self.gdbus("org.webencode.WebEncode1.Job", "State", path=path,
                         method="org.freedesktop.DBus.Properties.Get").stdout
        self.assertIn("'completed'", out)
        # Outputs follows from the store once the job completed
        deadline = time.time() + 10
        while time.time() < deadline:
            out = self.gdbus("org.webencode.WebEncode1.Job", "Outputs", path=path,
                             method="org.freedesktop.DBus.Properties.Get").stdout
            if "'name'" in out:
                break
            time.sleep(0.1)
        self.assertIn("'url'", out)
        out = self.call("GetJob", job_id)
        self.assertIn("'status': <'completed'>", out)
        self.assertIn("'id': <'%s'>" % job_id, out)
        outs = self.call("ListOutputs", job_id)
        self.assertIn("'download_url'", outs)
        type(self).done_id = job_id
        type(self).done_output = re.search(r"'name': <'([^']+)'>", outs).group(1)

    def test_02_cancel(self):
        path, job_id = self.submit(self.long)
        out = self.call("CancelJob", job_id)
        self.assertIn("'status': <'cancelled'>", out)
        deadline = time.time() + 30
        while time.time() < deadline:
            out = self.gdbus("org.webencode.WebEncode1.Job", "State", path=path,
                             method="org.freedesktop.DBus.Properties.Get").stdout
            if "'cancelled'" in out:
                break
            time.sleep(0.1)
        self.assertIn("'cancelled'", out)
        # the Job object's own Retry makes a new job
        out = self.gdbus(path=path, method="org.webencode.WebEncode1.Job.Retry").stdout
        self.assertRegex(out, r"objectpath '/org/webencode/WebEncode1/Job/")
        new_path = re.search(r"'([^']+)'", out).group(1)
        self.gdbus(path=new_path, method="org.webencode.WebEncode1.Job.Cancel")
        # and the manager's RetryJob too
        out = self.call("RetryJob", job_id)
        m = re.match(r"\(objectpath '([^']+)', '([^']+)'\)", out.strip())
        self.assertIsNotNone(m, out)
        self.assertNotEqual(m.group(2), job_id)
        self.call("CancelJob", m.group(2))
        self.call("DeleteJob", m.group(2))
        self.assertDBusError(self.gdbus(m.group(2), method=IFACE + ".GetJob", check=False),
                             "WE_JOB_004")

    def test_03_lists_and_health(self):
        out = self.call("ListJobs", "{'limit': <int64 10>}")
        self.assertRegex(out, r"^\(\[\{.*'id': <'.*\}\], int64 \d+\)$")
        self.assertIn("'name': <'480p_fast'>", self.call("ListProfiles"))
        self.assertIn("'slots_total'", self.call("ListWorkers"))
        health = self.call("GetHealth")
        self.assertIn("'status': <'ok'>", health)
        self.assertIn("'version'", health)
        self.assertDBusError(self.gdbus("{'limit': <int64 100000>}", method=IFACE + ".ListJobs",
                                        check=False), "WE_JOB_001")

    def test_04_errors(self):
        for method in ("GetJob", "CancelJob", "RetryJob", "ListOutputs"):
            self.assertDBusError(self.gdbus("00000000-0000-4000-8000-000000000000",
                                            method=IFACE + "." + method, check=False),
                                 "WE_JOB_004")
        self.assertDBusError(self.gdbus("{'profile': <'480p_fast'>}",
                                        method=IFACE + ".SubmitJob", check=False), "WE_JOB_001")

    def test_05_introspection(self):
        out = subprocess.run(["gdbus", "introspect", "--session", "--dest", NAME,
                              "--object-path", PATH], env=self.env, capture_output=True,
                             text=True, check=True, timeout=30).stdout
        for text in ("interface org.webencode.WebEncode1", "SubmitJob(", "CancelJob(",
                     "ListProfiles(", "signal", "JobProgress(", "JobStateChanged(",
                     "readonly s Version", "readonly u ActiveJobs",
                     "interface org.freedesktop.DBus.ObjectManager"):
            self.assertIn(text, out)
        out = subprocess.run(["busctl", "--address=" + self.address, "introspect", NAME, PATH],
                             capture_output=True, text=True, check=True, timeout=30).stdout
        for text in ("org.webencode.WebEncode1", ".SubmitJob", ".RetryJob", ".Version",
                     ".JobStateChanged"):
            self.assertIn(text, out)
        # a job object, through the object manager
        path, job_id = self.submit(self.long)
        out = subprocess.run(["busctl", "--address=" + self.address, "introspect", NAME, path],
                             capture_output=True, text=True, check=True, timeout=30).stdout
        for text in ("org.webencode.WebEncode1.Job", ".State", ".Progress", ".Eta", ".Profile",
                     ".Outputs", ".Cancel"):
            self.assertIn(text, out)
        managed = self.gdbus(method="org.freedesktop.DBus.ObjectManager.GetManagedObjects").stdout
        self.assertIn(path, managed)
        self.call("CancelJob", job_id)

    def test_06_fds(self):
        if not os.path.exists(SYSTEM_PYTHON) or subprocess.run(
                [SYSTEM_PYTHON, "-c", "import gi"]).returncode != 0:
            self.fail("python3-gi is needed (tools/deps-debian.txt)")
        if not hasattr(type(self), "done_id"):
            self.test_01_submit_and_watch()
        script = r"""
import sys, os
from gi.repository import Gio, GLib
bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
def call(method, args, fds=None):
    return bus.call_with_unix_fd_list_sync(sys.argv[1], sys.argv[2], sys.argv[3], method, args,
        None, Gio.DBusCallFlags.NONE, -1, fds, None)
reply, fds = call("OpenOutput", GLib.Variant("(ss)", (sys.argv[4], sys.argv[5])))
fd = fds.get(reply.unpack()[0])
data = b""
while True:
    chunk = os.read(fd, 65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write("%d\n" % len(data))
r, w = os.pipe()
os.write(w, b"uploaded bytes")
os.close(w)
fdl = Gio.UnixFDList.new_from_array([r])
reply, _ = call("UploadSource", GLib.Variant("(hs)", (0, "../clip one.mp4")), fdl)
up = reply.unpack()[0]
sys.stdout.write("%s %d %s\n" % (up["object_key"], up["size_bytes"], up["url"]))
"""
        r = subprocess.run([SYSTEM_PYTHON, "-c", script, NAME, PATH, IFACE, self.done_id,
                            self.done_output], env=self.env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        size_line, upload_line = r.stdout.splitlines()
        outputs = self.d.get("/v1/jobs/%s/outputs" % self.done_id).json()["outputs"]
        expected = [o for o in outputs if o["name"] == self.done_output][0]
        self.assertEqual(int(size_line), expected["size_bytes"])
        key, size, url = upload_line.split()
        self.assertRegex(key, r"^uploads/[0-9a-f-]+/clip_one\.mp4$")
        self.assertEqual(int(size), len(b"uploaded bytes"))

    def test_07_other_user_refused(self):
        if os.getuid() != 0:
            self.skipTest("needs root to run a caller as another uid") \
                if not os.environ.get("WE_TEST_NO_SKIP") else self.fail("needs root")
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        r = self.gdbus("{}", method=IFACE + ".ListJobs", check=False, prefix=nobody)
        self.assertDBusError(r, "WE_AUTH_004")
        r = self.gdbus("{'source_url': <'%s'>}" % self.short, method=IFACE + ".SubmitJob",
                       check=False, prefix=nobody)
        self.assertDBusError(r, "WE_AUTH_004")
        # anyone may ask whether the service is up
        r = self.gdbus(method=IFACE + ".GetHealth", prefix=nobody)
        self.assertIn("'status': <'ok'>", r.stdout)
        # refusals are audited like REST's
        rows = self.d.sql("SELECT action FROM audit_log WHERE error_code = 'WE-AUTH-004' "
                          "AND user_agent LIKE 'D-Bus %'")
        self.assertIn(("job.create",), [tuple(r) for r in rows])

    def test_08_properties_need_job_read(self):
        """Properties.Get/GetAll and GetManagedObjects say what GetJob says:
        another uid on the session bus is refused them as it is GetJob."""
        if os.getuid() != 0:
            self.fail("needs root to run a caller as another uid")
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        path, job_id = self.submit(self.long)
        try:
            r = self.gdbus("org.webencode.WebEncode1.Job", "State", path=path, check=False,
                           method="org.freedesktop.DBus.Properties.Get", prefix=nobody)
            self.assertDBusError(r, "WE_AUTH_004")
            self.assertNotIn("queued", r.stdout + r.stderr)
            r = self.gdbus("org.webencode.WebEncode1.Job", path=path, check=False,
                           method="org.freedesktop.DBus.Properties.GetAll", prefix=nobody)
            self.assertDBusError(r, "WE_AUTH_004")
            r = self.gdbus(method="org.freedesktop.DBus.ObjectManager.GetManagedObjects",
                           check=False, prefix=nobody)
            self.assertDBusError(r, "WE_AUTH_004")
            self.assertNotIn(job_id, r.stdout)
            # the owner reads them, with GDBus's own answers for mistakes
            out = self.gdbus("org.webencode.WebEncode1.Job", path=path,
                             method="org.freedesktop.DBus.Properties.GetAll").stdout
            self.assertIn("'Id': <'%s'>" % job_id, out)
            self.assertIn("'State': <", out)
            r = self.gdbus("org.webencode.WebEncode1.Job", "Nope", path=path, check=False,
                           method="org.freedesktop.DBus.Properties.Get")
            self.assertIn("org.freedesktop.DBus.Error.InvalidArgs", r.stderr)
            r = self.gdbus("org.webencode.WebEncode1.Job", "State", check=False,
                           path=PATH + "/Job/nothing_here",
                           method="org.freedesktop.DBus.Properties.Get")
            self.assertNotEqual(r.returncode, 0)
            managed = self.gdbus(
                method="org.freedesktop.DBus.ObjectManager.GetManagedObjects").stdout
            self.assertIn("'%s': {'org.webencode.WebEncode1.Job': {'Id'" % path, managed)
        finally:
            self.call("CancelJob", job_id)

    def gi(self, script, *args, env=None):
        """Runs @script under the system python with PyGObject: fds and GErrors."""
        if not os.path.exists(SYSTEM_PYTHON) or subprocess.run(
                [SYSTEM_PYTHON, "-c", "import gi"]).returncode != 0:
            self.fail("python3-gi is needed (tools/deps-debian.txt)")
        r = subprocess.run([SYSTEM_PYTHON, "-c", script] + list(args),
                           env=dict(self.env, **(env or {})), capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        return r.stdout

    def test_09_ladder_open_output(self):
        """OpenOutput serves what GET /v1/jobs/{id}/outputs/{name} serves:
        the files below a ladder's manifest too, with the same path checks."""
        clip = wetest.make_clip(os.path.join(self.d.media, "ladder.mp4"), duration=2,
                                width=320, height=240, gop=25)
        r = self.d.post("/v1/jobs", {"source_url": "file://" + clip, "custom_profile": {
            "id": "dbus_ladder", "container": "mp4", "video_codec": "h264",
            "preset": "ultrafast", "keyframe_interval_s": 1,
            "ladder": [{"name": "240p", "width": 320, "height": 240,
                        "video_bitrate_kbps": 300},
                       {"name": "144p", "width": 192, "height": 144,
                        "video_bitrate_kbps": 150}],
            "hls": {"enabled": True, "segment_duration_s": 1, "segment_type": "ts"}}})
        self.assertEqual(r.status, 201, r.body)
        job_id = r.json()["id"]
        job = self.d.wait_job(job_id, timeout=180 * wetest.TIME_FACTOR)
        self.assertEqual(job["status"], "completed", self.d.tail())
        playlist = self.d.get("/v1/jobs/%s/outputs/144p/index.m3u8" % job_id)
        self.assertEqual(playlist.status, 200, playlist.body)
        segment = [line for line in playlist.body.decode().splitlines()
                   if line and not line.startswith("#")][0]
        self.assertNotIn("/", segment)
        names = ["master.m3u8", "144p/index.m3u8", "144p/" + segment]
        script = r"""
import sys, os
from gi.repository import Gio, GLib
bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
for name in sys.argv[2:]:
    try:
        reply, fds = bus.call_with_unix_fd_list_sync(
            "org.webencode.WebEncode1", "/org/webencode/WebEncode1", "org.webencode.WebEncode1",
            "OpenOutput", GLib.Variant("(ss)", (sys.argv[1], name)), None,
            Gio.DBusCallFlags.NONE, -1, None, None)
    except GLib.Error as e:
        sys.stdout.buffer.write(b"E %s\n" % Gio.dbus_error_get_remote_error(e).encode())
        continue
    fd = fds.get(reply.unpack()[0])
    data = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    sys.stdout.buffer.write(b"D %d\n" % len(data) + data + b"\n")
"""
        unsafe = ["../master.m3u8", "144p/../../" + segment, "/144p/" + segment,
                  "144p/nothing.ts"]
        out = self.gi(script, job_id, *(names + unsafe))
        for name in names:
            self.assertTrue(out.startswith(b"D "), (name, out[:200]))
            size, _, out = out[2:].partition(b"\n")
            data, out = out[:int(size)], out[int(size) + 1:]
            expected = self.d.get("/v1/jobs/%s/outputs/%s" % (job_id, name))
            self.assertEqual(expected.status, 200, name)
            self.assertGreater(len(data), 0, name)
            self.assertEqual(data, expected.body, name)
        self.assertTrue(names[2].endswith(".ts") and data[0] == 0x47, data[:4])
        self.assertEqual(out.decode().splitlines(),
                         ["E org.webencode.WebEncode1.Error.WE_STO_001"] * len(unsafe))

    def test_10_errors_are_we_error(self):
        """The SDK registers the interface's error names for WE_ERROR: a GDBus
        client with it loaded gets the domain and code back, not a name."""
        sdk = os.path.join(wetest.BUILD, "src", "sdk", "libwebencode-sdk.so")
        env = {}
        linked = subprocess.run(["ldd", sdk], capture_output=True, text=True).stdout
        if "libasan" in linked:
            # a sanitized library in an uninstrumented python: its runtime first
            libs = [subprocess.run(["gcc", "-print-file-name=" + name], capture_output=True,
                                   text=True).stdout.strip()
                    for name in ("libasan.so", "libubsan.so")]
            env = {"LD_PRELOAD": " ".join(libs), "ASAN_OPTIONS": "detect_leaks=0"}
        script = r"""
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.we_error_quark.restype = ctypes.c_uint32
lib.we_error_code_to_string.restype = ctypes.c_char_p
quark = lib.we_error_quark()
from gi.repository import Gio, GLib
bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
for method, arg in (("GetJob", "00000000-0000-4000-8000-000000000000"),
                    ("CancelJob", "00000000-0000-4000-8000-000000000000")):
    try:
        bus.call_sync("org.webencode.WebEncode1", "/org/webencode/WebEncode1",
                      "org.webencode.WebEncode1", method, GLib.Variant("(s)", (arg,)), None,
                      Gio.DBusCallFlags.NONE, -1, None)
        print("no error")
    except GLib.Error as e:
        print(e.domain, e.code == 0 or lib.we_error_code_to_string(e.code).decode(),
              Gio.dbus_error_get_remote_error(e))
"""
        out = self.gi(script, sdk, env=env).decode().splitlines()
        self.assertEqual(out, ["we-error-quark WE-JOB-004 "
                               "org.webencode.WebEncode1.Error.WE_JOB_004"] * 2)

def run_under_dbus_run_session():
    """Re-runs this file inside `dbus-run-session` with BUS_CONFIG, whose
    socket lies in a directory another uid can reach."""
    bus_dir = tempfile.mkdtemp(prefix="we-dbus-")
    try:
        os.chmod(bus_dir, 0o755)
        conf = os.path.join(bus_dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG % bus_dir)
        env = dict(os.environ, WE_TEST_DBUS_INNER="1")
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        return subprocess.call(["dbus-run-session", "--config-file=" + conf, "--",
                                sys.executable] + sys.argv, env=env)
    finally:
        shutil.rmtree(bus_dir, ignore_errors=True)


if __name__ == "__main__":
    if os.environ.get("WE_TEST_DBUS_INNER"):
        wetest.main()
    else:
        sys.exit(run_under_dbus_run_session())
