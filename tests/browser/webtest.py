# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the dashboard's browser tests share: the check that the harness can
run (web/dist built, playwright-core installed), a real webencoded with
auth-basic users serving web/dist, and running a node driver (harness.js)
while answering its questions and reading its report.

    import webtest
    d = webtest.start_daemon(workers=2, users=webtest.USERS)
    report = webtest.run_driver("web-ops.js", [...], on_message=answer)
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import wetest  # noqa: E402

WEB_DIST = os.path.abspath(os.environ.get("WE_WEB_DIR") or
                           os.path.join(HERE, "..", "..", "web", "dist"))
# every daemon started here serves it, also those whose env a helper sets
os.environ["WE_WEB_DIR"] = WEB_DIST

# user: (password, role)
USERS = {"ada": ("ada-secret", "admin"), "vic": ("vic-secret", "viewer")}


def basic(user, users=USERS):
    """The Authorization header of one of `users`."""
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, users[user][0])).encode()).decode()}


ADMIN = basic("ada")


def creds(user, users=USERS):
    """USER:PASS, as the drivers' --admin/--viewer take it."""
    return "%s:%s" % (user, users[user][0])


def check_harness():
    """Fails naming the fix when web/dist or playwright-core is missing
    (Chromium itself is checked by harness.js, which exits 3 naming it)."""
    index = os.path.join(WEB_DIST, "index.html")
    if not os.path.exists(index):
        raise AssertionError("%s is missing: build the dashboard with "
                             "`npm ci --prefix web && npm run build --prefix web`" % index)
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        raise AssertionError("playwright-core is missing: npm ci --prefix tests/browser")


def start_daemon(workers=2, users=USERS, extra_env=None):
    """A started wetest.Daemon with auth-basic `users` (htpasswd hashed by
    `openssl passwd -6`, as an operator would) serving WEB_DIST; cleaned up
    when the start fails."""
    d = wetest.Daemon(workers=workers)
    try:
        htpasswd = os.path.join(d.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user, (pw, _) in users.items():
                crypt = subprocess.run(["openssl", "passwd", "-6", pw], check=True,
                                       capture_output=True, text=True).stdout
                f.write("%s:%s\n" % (user, crypt.strip()))
        d.extra_env = {
            "WE_PLUGIN_AUTH_BASIC_MODE": "basic",
            "WE_PLUGIN_AUTH_BASIC_HTPASSWD": htpasswd,
            "WE_PLUGIN_AUTH_BASIC_ROLES": ";".join("%s=%s" % (u, r)
                                                   for u, (_, r) in users.items()),
            "WE_WEB_DIR": WEB_DIST,
        }
        d.extra_env.update(extra_env or {})
        return d.start()
    except BaseException:
        d.cleanup()
        raise


def shots_dir():
    return os.environ.get("WE_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="we-shots-")


def run_driver(script, args, on_message=None, timeout=300, hide=()):
    """Runs the node driver `script` (in tests/browser) with `args`. Every
    line it prints is one JSON object: {"step": …} is progress, {"report":
    …} the result, anything else a question answered with on_message(msg)
    (a dict sent back as one line). Returns the report; fails when the
    driver ended without one. `hide`: report keys too long to log."""
    cmd = ["node", os.path.join(HERE, script)] + args
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    report = None
    deadline = time.time() + timeout * wetest.TIME_FACTOR
    # also when the driver hangs without printing
    killer = threading.Timer(timeout * wetest.TIME_FACTOR, p.kill)
    killer.start()
    try:
        for line in p.stdout:
            print("%s:" % script, line.strip()[:300], file=sys.stderr)
            msg = json.loads(line)
            if "report" in msg:
                report = msg["report"]
            elif "step" not in msg:
                if on_message is None:
                    raise AssertionError("%s asked %r" % (script, msg))
                p.stdin.write(json.dumps(on_message(msg)) + "\n")
                p.stdin.flush()
            if time.time() > deadline:
                break
    finally:
        killer.cancel()
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stdin.close()
        p.stdout.close()
    if report is None:
        raise AssertionError("%s exited %d without a report" % (script, p.returncode))
    shown = {k: v for k, v in report.items() if k not in hide}
    print("report: %s" % json.dumps(shown, indent=1), file=sys.stderr)
    return report


def assert_clean(test, report, daemon):
    """The driver finished its scenario, and no page logged a console error,
    threw, crashed or saw a request to the service fail."""
    test.assertNotIn("error", report,
                     (report.get("error"), report.get("failure_pages"), daemon.tail(30)))
    test.assertEqual(report["console_errors"], [], report)
    test.assertEqual(report["http_errors"], [], report)
