#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The built "webencode" plugin as a user meets it: gst-inspect-1.0 lists the
plugin and weprogress with its properties, and gst-launch-1.0 -m shows the
messages weprogress posts. GST_PLUGIN_PATH points at the build directory
and GST_REGISTRY at a file of this test's own, so the user's registry is
not touched.

Usage: gst-inspect-test.py PLUGIN_DIR"""

import os
import re
import subprocess
import sys
import tempfile

PROPERTIES = ["interval", "silent", "duration", "frames", "bytes", "position"]


def sanitizer_preload(plugin):
    """An ASan build of the plugin only loads into gst-inspect-1.0 (a plain
    binary) with the sanitizer runtimes preloaded."""
    out = subprocess.run(["ldd", plugin], capture_output=True, text=True, check=True).stdout
    libs = re.findall(r"(lib(?:asan|ubsan)\.so[.\d]*) => (\S+)", out)
    return ":".join(path for _, path in libs)


def run(cmd, env):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def main():
    plugin_dir = os.path.abspath(sys.argv[1])
    plugin = os.path.join(plugin_dir, "libgstwebencode.so")
    if not os.path.exists(plugin):
        sys.exit(f"{plugin} was not built")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env["GST_PLUGIN_PATH"] = plugin_dir
        env["GST_REGISTRY"] = os.path.join(tmp, "registry.bin")
        env.pop("GST_PLUGIN_PATH_1_0", None)
        env.pop("GST_REGISTRY_1_0", None)
        preload = sanitizer_preload(plugin)
        if preload:
            env["LD_PRELOAD"] = preload
            # gst-inspect-1.0 and the plugin scanner are not ours to keep
            # leak-free
            env["ASAN_OPTIONS"] = "detect_leaks=0"

        out = run(["gst-inspect-1.0", "weprogress"], env)
        for needle in ["Factory Details", "WebEncode progress", "Plugin Details",
                       "webencode", "LGPL", "SINK template: 'sink'", "SRC template: 'src'"]:
            if needle not in out:
                sys.exit(f"gst-inspect-1.0 weprogress does not show {needle!r}:\n{out}")
        for prop in PROPERTIES:
            if not re.search(rf"^\s+{prop}\s+: ", out, re.M):
                sys.exit(f"gst-inspect-1.0 weprogress does not list property {prop}:\n{out}")
        for prop in ["frames", "bytes", "position"]:
            block = re.search(rf"^\s+{prop}\s+: .*?flags: ([^\n]*)", out, re.M | re.S)
            if block is None or "readable" not in block.group(1) or "writable" in block.group(1):
                sys.exit(f"property {prop} should be read-only:\n{out}")
        if not re.search(r"^\s+interval\s+: .*?Default: 1000000000", out, re.M | re.S):
            sys.exit(f"interval should default to a second:\n{out}")

        out = run(["gst-inspect-1.0", "webencode"], env)
        # the count is not pinned: other elements join the plugin
        if ("weprogress: WebEncode progress" not in out or
                "wertmpserversrc: WebEncode RTMP server source" not in out):
            sys.exit(f"gst-inspect-1.0 webencode does not list its elements:\n{out}")

        out = run(["gst-inspect-1.0", "wertmpserversrc"], env)
        for needle in ["Source/Network", "SRC template: 'src'", "video/x-flv"]:
            if needle not in out:
                sys.exit(f"gst-inspect-1.0 wertmpserversrc does not show {needle!r}:\n{out}")
        for prop in ["port", "address", "app", "stream-key", "server", "timeout", "bound-port"]:
            if not re.search(rf"^\s+{prop}\s+: ", out, re.M):
                sys.exit(f"gst-inspect-1.0 wertmpserversrc does not list property {prop}:\n{out}")

        out = run(["gst-launch-1.0", "-m", "videotestsrc", "num-buffers=30", "!",
                   "weprogress", "name=progress", "interval=0", "!", "fakesink"], env)
        msgs = [line for line in out.splitlines() if "we-progress" in line]
        # one per buffer and one at EOS
        if len(msgs) != 31:
            sys.exit(f"expected 31 we-progress messages, got {len(msgs)}:\n{out}")
        if not all('element "progress"' in m for m in msgs):
            sys.exit(f"messages should come from the weprogress named progress:\n{out}")
        last = msgs[-1]
        # 30 frames of videotestsrc's default 30 fps: one second
        for field in ["eos=(boolean)true", "frames=(guint64)30", "position=(guint64)1000000000"]:
            if field not in last:
                sys.exit(f"last message lacks {field}: {last}")
        if "eos=(boolean)true" in msgs[-2] or "frames=(guint64)30" not in msgs[-2]:
            sys.exit(f"the message of the last buffer is wrong: {msgs[-2]}")
    print("ok")


if __name__ == "__main__":
    main()
