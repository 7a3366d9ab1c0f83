# SPDX-License-Identifier: LGPL-2.1-or-later
"""The D-Bus API (dbus/org.webencode.WebEncode1.xml) of a real webencoded on a
private session bus, driven with the standard tools: gdbus call, gdbus
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
  <listen>unix:path=%s</listen>
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
        cls.bus_dir = tempfile.mkdtemp(prefix="we-dbus-")
        os.chmod(cls.bus_dir, 0o755)
        conf = os.path.join(cls.bus_dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG % os.path.join(cls.bus_dir, "bus"))
        cls.bus = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork",
                                    "--print-address=1"], stdout=subprocess.PIPE, text=True)
        cls.address = cls.bus.stdout.readline().strip()
        assert cls.address, "dbus-daemon gave no address"
        cls.env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=cls.address)
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
        cls.bus.terminate()
        cls.bus.wait(timeout=10)
        cls.bus.stdout.close()
        shutil.rmtree(cls.bus_dir, ignore_errors=True)

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

if __name__ == "__main__":
    wetest.main()
