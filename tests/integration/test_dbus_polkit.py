# SPDX-License-Identifier: LGPL-2.1-or-later
"""webencoded on a private system bus with the real polkitd deciding: the bus
runs with a system-bus-like policy plus data/dbus/org.webencode.WebEncode1.conf
and polkit's own bus policy; /usr/lib/polkit-1/polkitd reads our actions
(data/polkit/org.webencode.webencode1.policy, copied to
/usr/share/polkit-1/actions: polkitd 122 reads no other directory) and a
test rule in /etc/polkit-1/rules.d. Both files are removed (or the files they
replaced put back) at the end, also when the test fails or is killed.

Checked: root is admin without asking polkit (a rule refusing root changes
nothing); an unprivileged uid (setpriv, no login session: polkit's allow_any
applies) reads per the policy's viewer defaults and is refused operator calls
with WE-AUTH-004; with a rule granting that uid, SubmitJob works; with polkitd
gone, callers other than root are refused with WE-AUTH-005 (fail closed)."""

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import wetest

NAME = "org.webencode.WebEncode1"
PATH = "/org/webencode/WebEncode1"
IFACE = "org.webencode.WebEncode1"
POLKITD = "/usr/lib/polkit-1/polkitd"
ACTIONS = "/usr/share/polkit-1/actions/org.webencode.webencode1.policy"
RULES = "/etc/polkit-1/rules.d/10-webencode-test.rules"
POLKIT_BUS_POLICY = "/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf"
OUR_BUS_POLICY = os.path.join(wetest.SOURCE, "data", "dbus", "org.webencode.WebEncode1.conf")
OUR_ACTIONS = os.path.join(wetest.SOURCE, "data", "polkit", "org.webencode.webencode1.policy")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

# system.conf's default policy (deny by default, holes punched by the
# included files), on our own socket, with no activation
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%(socket)s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>%(polkit)s</include>
  <include>%(ours)s</include>
</busconfig>
"""

# uid 65534 is an operator; root is refused everything (and never asked)
RULE = """// installed by tests/integration/test_dbus_polkit.py, removed when it ends
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.webencode.webencode1.") != 0)
        return polkit.Result.NOT_HANDLED;
    if (subject.user == "root")
        return polkit.Result.NO;
    if (subject.user == "nobody" && action.id != "org.webencode.webencode1.admin")
        return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});
"""


class Installed:
    """Files put in system directories, and what to put back."""

    def __init__(self):
        self.saved = {}

    def put(self, path, content):
        if path not in self.saved:
            old = None
            if os.path.exists(path):
                with open(path, "rb") as f:
                    old = f.read()
            self.saved[path] = old
        with open(path, "w") as f:
            f.write(content)
        os.chmod(path, 0o644)

    def restore(self):
        for path, old in self.saved.items():
            try:
                if old is None:
                    os.unlink(path)
                else:
                    with open(path, "wb") as f:
                        f.write(old)
            except FileNotFoundError:
                pass
        self.saved = {}


class PolkitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.installed = Installed()
        cls.bus = cls.polkitd = cls.d = None
        atexit.register(cls.cleanup)
        # meson kills a test that times out with SIGTERM: clean up then too
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        try:
            cls.setup()
        except BaseException:
            cls.cleanup()
            raise

    @classmethod
    def setup(cls):
        if os.getuid() != 0:
            raise unittest.SkipTest("polkitd and another uid need root") \
                if not os.environ.get("WE_TEST_NO_SKIP") else RuntimeError("needs root")
        cls.dir = tempfile.mkdtemp(prefix="we-polkit-")
        os.chmod(cls.dir, 0o755)  # the unprivileged caller reaches the socket
        conf = os.path.join(cls.dir, "system.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG % {"socket": os.path.join(cls.dir, "bus"),
                                  "polkit": POLKIT_BUS_POLICY, "ours": OUR_BUS_POLICY})
        cls.bus = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork",
                                    "--print-address=1"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        cls.address = cls.bus.stdout.readline().strip()
        assert cls.address, "dbus-daemon gave no address"
        cls.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=cls.address)
        cls.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        with open(OUR_ACTIONS) as f:
            cls.installed.put(ACTIONS, f.read())
        cls.start_polkitd()
        cls.d = wetest.Daemon(workers=1, env={"WE_DBUS_BUS": "system",
                                              "DBUS_SYSTEM_BUS_ADDRESS": cls.address})
        cls.d.start()
        subprocess.run(["gdbus", "wait", "--system", "--timeout", "20", NAME], env=cls.env,
                       check=True, timeout=30)
        cls.long = "file://" + wetest.make_clip(os.path.join(cls.d.media, "long.mp4"),
                                                duration=30)

    @classmethod
    def start_polkitd(cls):
        cls.polkitd_log = open(os.path.join(cls.dir, "polkitd.log"), "ab")
        cls.polkitd = subprocess.Popen([POLKITD], env=cls.env, stdout=cls.polkitd_log,
                                       stderr=subprocess.STDOUT)
        subprocess.run(["gdbus", "wait", "--system", "--timeout", "20",
                        "org.freedesktop.PolicyKit1"], env=cls.env, check=True, timeout=30)

    @classmethod
    def stop_polkitd(cls):
        if cls.polkitd is not None:
            cls.polkitd.terminate()
            try:
                cls.polkitd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cls.polkitd.kill()
                cls.polkitd.wait()
            cls.polkitd = None
            cls.polkitd_log.close()

    @classmethod
    def cleanup(cls):
        # first what lives outside our temporary directory
        cls.installed.restore()
        if cls.d is not None:
            cls.d.cleanup()
            cls.d = None
        cls.stop_polkitd()
        if cls.bus is not None:
            cls.bus.terminate()
            cls.bus.wait(timeout=10)
            cls.bus.stdout.close()
            cls.bus = None
            shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls.cleanup()

    # --- helpers ---

    def gdbus(self, method, *args, path=PATH, check=True, prefix=()):
        cmd = list(prefix) + ["gdbus", "call", "--system", "--dest", NAME, "--object-path",
                              path, "--method", method] + list(args)
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr + self.d.tail())
        return r

    def submit(self, prefix=()):
        out = self.gdbus(IFACE + ".SubmitJob", "{'source_url': <'%s'>, 'profile': "
                         "<'480p_fast'>}" % self.long, prefix=prefix).stdout
        m = re.match(r"\(objectpath '([^']+)', '([^']+)'\)", out.strip())
        self.assertIsNotNone(m, out)
        return m.group(1), m.group(2)

    def assertDBusError(self, r, code):
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("org.webencode.WebEncode1.Error." + code, r.stderr)

    # --- the tests, in order: the rule comes in test_2, polkitd goes in test_3 ---

    def test_1_policy_defaults(self):
        path, job_id = self.submit()  # root: admin, polkit not asked
        try:
            # viewer: allow_any yes, so a uid with no session reads
            out = self.gdbus(IFACE + ".ListJobs", "{}", prefix=NOBODY).stdout
            self.assertIn(job_id, out)
            out = self.gdbus(IFACE + ".GetJob", job_id, prefix=NOBODY).stdout
            self.assertIn("'id': <'%s'>" % job_id, out)
            out = self.gdbus("org.freedesktop.DBus.Properties.Get",
                             "org.webencode.WebEncode1.Job", "State", path=path,
                             prefix=NOBODY).stdout
            self.assertRegex(out, r"<'(queued|processing|cancelled)'>")
            self.assertIn("'480p_fast'", self.gdbus(IFACE + ".ListProfiles",
                                                     prefix=NOBODY).stdout)
            # operator: auth_admin, and nobody to authenticate: refused
            self.assertDBusError(self.gdbus(IFACE + ".SubmitJob", "{'source_url': <'%s'>}"
                                            % self.long, check=False, prefix=NOBODY),
                                 "WE_AUTH_004")
            self.assertDBusError(self.gdbus(IFACE + ".CancelJob", job_id, check=False,
                                            prefix=NOBODY), "WE_AUTH_004")
            self.assertDBusError(self.gdbus("org.webencode.WebEncode1.Job.Cancel", path=path,
                                            check=False, prefix=NOBODY), "WE_AUTH_004")
            rows = self.d.sql("SELECT action, username FROM audit_log WHERE "
                              "error_code = 'WE-AUTH-004' AND user_agent LIKE 'D-Bus %'")
            self.assertIn(("job.create", "nobody"), [tuple(r) for r in rows])
            self.assertIn(("job.cancel", "nobody"), [tuple(r) for r in rows])
        finally:
            self.gdbus(IFACE + ".CancelJob", job_id)
        out = self.gdbus(IFACE + ".GetJob", job_id).stdout
        self.assertIn("'status': <'cancelled'>", out)

    def test_2_rule_grants_operator(self):
        self.installed.put(RULES, RULE)
        # polkitd would notice the file by itself, in its own time: restart it
        # so the test knows when the rule holds
        self.stop_polkitd()
        self.start_polkitd()
        path, job_id = self.submit(prefix=NOBODY)
        out = self.gdbus(IFACE + ".GetJob", job_id, prefix=NOBODY).stdout
        self.assertIn("'source_url': <'%s'>" % self.long, out)
        self.gdbus("org.webencode.WebEncode1.Job.Cancel", path=path, prefix=NOBODY)
        out = self.gdbus(IFACE + ".GetJob", job_id, prefix=NOBODY).stdout
        self.assertIn("'status': <'cancelled'>", out)
        rows = self.d.sql("SELECT username, success FROM audit_log WHERE action = 'job.create' "
                          "AND resource_id = '%s'" % job_id)
        self.assertEqual([(r[0], str(r[1])) for r in rows], [("nobody", "1")])
        # the rule refuses root everything: root is admin without polkit
        path, job_id = self.submit()
        self.gdbus(IFACE + ".CancelJob", job_id)
        self.installed.restore()

    def test_3_no_polkit_fails_closed(self):
        self.stop_polkitd()
        try:
            self.assertDBusError(self.gdbus(IFACE + ".ListJobs", "{}", check=False,
                                            prefix=NOBODY), "WE_AUTH_005")
            # anyone may still ask whether the service is up; root works on
            self.assertIn("'status': <'ok'>", self.gdbus(IFACE + ".GetHealth",
                                                         prefix=NOBODY).stdout)
            self.gdbus(IFACE + ".ListJobs", "{}")
        finally:
            self.start_polkitd()


if __name__ == "__main__":
    wetest.main()
