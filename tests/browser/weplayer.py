# SPDX-License-Identifier: LGPL-2.1-or-later
"""Play an HLS/DASH/MP4 URL in headless Chromium from a Python test.

    import weplayer
    r = weplayer.play("http://127.0.0.1:8080/v1/jobs/…/master.m3u8", "hls",
                      headers={"Authorization": "Bearer …"})
    assert r["ended"] and r["stalls"] == 0 and not r["errors"], r

play() runs play.js (beside this file) and returns its report; see README.md
for the fields. A run that played badly is a report, not an exception:
WePlayerUnavailable means the harness could not run at all, and says what to
install.
"""
import json
import os
import shutil
import signal
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
PLAY_JS = os.path.join(HERE, "play.js")
CHROMIUM = os.environ.get("WE_CHROMIUM", "/usr/bin/chromium")
# the modules play.js loads; a missing one means `npm ci` was not run
MODULES = ("playwright-core", "hls.js", "dashjs")


class WePlayerUnavailable(RuntimeError):
    """node, Chromium or tests/browser/node_modules is missing."""


class WePlayerFailed(RuntimeError):
    """play.js ran but gave no report (it crashed or hung)."""


def check():
    """Raise WePlayerUnavailable naming the fix when something is missing."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node is not installed (Debian: apt-get install nodejs)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("%s is missing: apt-get install chromium" % CHROMIUM)
    for m in MODULES:
        if not os.path.isdir(os.path.join(HERE, "node_modules", m)):
            missing.append("tests/browser/node_modules/%s is missing: "
                           "npm ci --prefix tests/browser" % m)
            break
    if missing:
        raise WePlayerUnavailable("the browser playback harness cannot run: "
                                  + "; ".join(missing))


def _header_args(headers):
    if not headers:
        return []
    items = headers.items() if isinstance(headers, dict) else (
        h.split(":", 1) for h in headers)
    args = []
    for name, value in items:
        args += ["--header", "%s: %s" % (name.strip(), value.strip())]
    return args


def play(url, kind, rate=4, timeout=60, headers=None, screenshot=None,
         strict_cors=False, subtitles=None):
    """Play url (kind "hls", "dash" or "mp4") to its end, a fatal error or
    timeout seconds, and return play.js's report as a dict.

    headers: {"Name": "value"} or ["Name: value", …], sent with every
    playlist, manifest, key and segment request to the media.
    subtitles: a language; the subtitle track in it is selected and shown,
    so the report's text_tracks show whether its cues loaded.
    """
    if kind not in ("hls", "dash", "mp4"):
        raise ValueError("kind must be hls, dash or mp4, not %r" % (kind,))
    check()
    cmd = ["node", PLAY_JS, "--url", url, "--kind", kind,
           "--rate", str(rate), "--timeout", str(timeout)]
    cmd += _header_args(headers)
    if screenshot:
        cmd += ["--screenshot", str(screenshot)]
    if strict_cors:
        cmd.append("--strict-cors")
    if subtitles:
        cmd += ["--subtitles", subtitles]

    # play.js gives up by itself 60 s after its timeout; this is the backstop
    # for a node that does not even do that
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout + 90)
    except subprocess.TimeoutExpired:
        # SIGTERM first: playwright closes its Chromium on it, a SIGKILL
        # would leave the browser to notice its pipe closing
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        raise WePlayerFailed("play.js hung past %d s on %s\n%s"
                             % (timeout + 90, url, err.decode(errors="replace")))
    err = err.decode(errors="replace")
    if proc.returncode == 3:
        raise WePlayerUnavailable(err.strip())
    if proc.returncode != 0:
        raise WePlayerFailed("play.js exited with %d on %s\n%s"
                             % (proc.returncode, url, err))
    lines = [l for l in out.decode(errors="replace").splitlines() if l.strip()]
    if not lines:
        raise WePlayerFailed("play.js printed no report for %s\n%s" % (url, err))
    return json.loads(lines[-1])


def clean(report):
    """True when the run ended with no player error, no stall and no failed
    request (dash.js reaches `ended` across a segment it could not load)."""
    return (report["ended"] and not report["fatal"] and not report["errors"]
            and report["stalls"] == 0 and not report.get("http_errors"))
