# SPDX-License-Identifier: LGPL-2.1-or-later
"""The webencode CLI over both transports against one real webencoded that
serves REST and, on a private session bus (a dbus-daemon the test starts),
the D-Bus API: the same commands must print the same thing either way (ids
and times aside), auto-selection must pick D-Bus when the name is on the bus
and REST when not, and the D-Bus paths that differ in kind (a local file
uploaded as a file descriptor, --wait following signals, downloads through
OpenOutput) must work."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import wetest

CLI = os.path.join(wetest.BUILD, "src", "cli", "webencode")
NAME = "org.webencode.WebEncode1"
PROFILE = "480p_fast"
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?")


def normalize_text(text):
    return STAMP.sub("TIME", UUID.sub("ID", text))


def normalize_json(value):
    """The API's JSON with ids and times masked; members whose value is null
    dropped, since D-Bus dictionaries leave them out."""
    if isinstance(value, dict):
        return {k: normalize_json(v) for k, v in value.items()
                if v is not None and k not in ("uptime_s", "request_id")}
    if isinstance(value, list):
        return [normalize_json(v) for v in value]
    if isinstance(value, str):
        return normalize_text(value)
    return value


class CliTransportsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bus_dir = tempfile.mkdtemp(prefix="we-cli-dbus-")
        conf = os.path.join(cls.bus_dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG % os.path.join(cls.bus_dir, "bus"))
        cls.bus = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork",
                                    "--print-address=1"], stdout=subprocess.PIPE, text=True)
        cls.address = cls.bus.stdout.readline().strip()
        assert cls.address, "dbus-daemon gave no address"
        cls.d = wetest.Daemon(workers=1, env={"WE_DBUS_BUS": "session",
                                              "DBUS_SESSION_BUS_ADDRESS": cls.address})
        cls.d.start()
        subprocess.run(["gdbus", "wait", "--session", "--timeout", "20", NAME],
                       env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS=cls.address),
                       check=True, timeout=30)
        # a space in the name, as users have them (make-clip cannot write one)
        cls.clip = os.path.join(cls.bus_dir, "my clip.mp4")
        shutil.move(wetest.make_clip(os.path.join(cls.bus_dir, "clip.mp4"), duration=1), cls.clip)
        cls.url = "http://127.0.0.1:%d" % cls.d.port

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.bus.terminate()
        cls.bus.wait(timeout=10)
        cls.bus.stdout.close()
        shutil.rmtree(cls.bus_dir, ignore_errors=True)

    def cli(self, *args, transport=None, bus=True, rc=0):
        """Runs the CLI; @transport "rest" or "dbus" is forced by option,
        None leaves the choice to it; @bus False hides the session bus."""
        env = dict(os.environ)
        for k in ("WEBENCODE_URL", "WEBENCODE_USER", "WEBENCODE_PASSWORD", "WEBENCODE_TRANSPORT",
                  "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(k, None)
        env["WEBENCODE_URL"] = self.url
        # no system bus either: only the test's session bus may be found
        env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=" + os.path.join(self.bus_dir, "none")
        if bus:
            env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        flags = ["--" + transport] if transport else []
        p = subprocess.run([CLI] + flags + list(args), capture_output=True, text=True, env=env,
                           timeout=120, stdin=subprocess.DEVNULL)
        msg = "webencode %s %s: rc %d\nstdout: %s\nstderr: %s" % (
            transport, " ".join(args), p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, rc, msg)
        self.assertNotIn("AddressSanitizer", p.stderr, msg)
        self.assertNotIn("runtime error:", p.stderr, msg)
        self.assertNotIn("CRITICAL", p.stderr, msg)
        return p

    def both(self, *args, rc=0, json_out=False):
        """The same command over REST and D-Bus: equal outputs."""
        rest = self.cli(*args, transport="rest", rc=rc)
        dbus = self.cli(*args, transport="dbus", rc=rc)
        if json_out:
            self.assertEqual(normalize_json(json.loads(rest.stdout)),
                             normalize_json(json.loads(dbus.stdout)), args)
        else:
            self.assertEqual(normalize_text(rest.stdout), normalize_text(dbus.stdout), args)
        self.assertEqual(normalize_text(rest.stderr), normalize_text(dbus.stderr), args)
        return rest, dbus

    def submit(self, transport, *extra):
        p = self.cli("submit", self.clip, "-p", PROFILE, *extra, transport=transport)
        job = UUID.search(p.stdout)
        self.assertIsNotNone(job, p.stdout)
        return job.group(0), p

    def test_same_output_both_ways(self):
        self.both("profiles")
        self.both("--json", "profiles", json_out=True)
        self.both("--json", "health", json_out=True)
        self.both("status", "no-such-job", rc=2)
        self.both("cancel", "no-such-job", rc=2)
        self.both("list", "--status", "bogus", rc=2)

        # a local file: a streamed POST over REST, a file descriptor over D-Bus;
        # --wait polls over REST and follows JobStateChanged/JobProgress over D-Bus
        rest_job, rest = self.submit("rest", "--wait")
        dbus_job, dbus = self.submit("dbus", "--wait")
        self.assertIn("completed", dbus.stdout)
        self.assertEqual(self.d.get("/v1/jobs/" + dbus_job).json()["status"], "completed")
        self.assertRegex(self.d.get("/v1/jobs/" + dbus_job).json()["source_url"],
                         r"my[_ ]clip\.mp4$")

        for job in (rest_job, dbus_job):
            self.both("status", job)
            self.both("--json", "status", job, json_out=True)
            self.both("outputs", job)
            self.both("--json", "outputs", job, json_out=True)
            self.both("cancel", job, rc=2)  # completed: WE-JOB-006 either way
        self.both("list", "--status", "completed", "--limit", "2")
        self.both("--json", "list", "--status", "completed", json_out=True)

        # downloads: the same bytes by HTTP and through OpenOutput
        outs = {}
        for transport in ("rest", "dbus"):
            dest = os.path.join(self.bus_dir, "out-" + transport)
            p = self.cli("outputs", dbus_job, "--download", dest, transport=transport)
            self.assertIn("saved", p.stdout)
            names = sorted(os.listdir(dest))
            self.assertTrue(names and not any(n.endswith(".part") for n in names), names)
            outs[transport] = {n: open(os.path.join(dest, n), "rb").read() for n in names}
        self.assertEqual(outs["rest"], outs["dbus"])
        self.assertGreater(len(next(iter(outs["dbus"].values()))), 1000)

        # retry and delete: new ids, same shape
        r1 = self.cli("retry", rest_job, transport="rest").stdout.strip()
        r2 = self.cli("retry", dbus_job, transport="dbus").stdout.strip()
        self.assertRegex(r1, UUID)
        self.assertRegex(r2, UUID)
        self.assertEqual(self.cli("delete", r1, transport="rest").stdout.replace(r1, "ID"),
                         self.cli("delete", r2, transport="dbus").stdout.replace(r2, "ID"))
        self.cli("status", r2, transport="dbus", rc=2)

    def test_pipeline_both_ways(self):
        job, _ = self.submit("dbus", "--wait")
        # the recorded pipeline, and its graph
        self.both("pipeline", job)
        self.both("--json", "pipeline", job, json_out=True)
        for transport in ("rest", "dbus"):
            svg = os.path.join(self.bus_dir, "graph-%s.svg" % transport)
            self.cli("pipeline", job, "--graph", svg, transport=transport)
            with open(svg, "rb") as f:
                self.assertIn(b"<svg", f.read())
        p = self.cli("pipeline", job, transport="dbus")
        self.assertIn("gst-launch-1.0", p.stdout)
        p = self.cli("logs", job, "x", transport="dbus", rc=2)
        self.assertIn("not available over D-Bus", p.stderr)


    def test_auto_selection(self):
        # the name is on the session bus: D-Bus; no bus: REST at the URL
        self.assertIn("dbus:session", self.cli("health").stdout)
        self.assertIn(self.url, self.cli("health", bus=False).stdout)
        self.assertIn(self.url, self.cli("health", transport="rest").stdout)
        self.assertIn(self.url, self.cli("--url", self.url, "health").stdout)
        # forced D-Bus with no service there: unreachable, exit 3
        p = self.cli("--dbus", "--system", "health", rc=3)
        self.assertIn("cannot reach", p.stderr)
        p = self.cli("--dbus", "--rest", "health", rc=2)

    def test_submit_url_over_dbus_json(self):
        # a URL is submitted as it is: it must be in the service's browse roots
        src = "file://" + os.path.join(self.d.media, "clip.mp4")
        shutil.copy(self.clip, src[len("file://"):])
        p = self.cli("--json", "submit", src, "-p", PROFILE, "--wait", transport="dbus")
        job = json.loads(p.stdout)
        self.assertEqual(job["status"], "completed")
        self.assertEqual(job["source_url"], src)
        p = self.cli("submit", src, "-p", "no-such-profile", transport="dbus", rc=2)
        self.assertIn("WE-JOB-003", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
