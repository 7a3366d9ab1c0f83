#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs "$@" on a private D-Bus session bus with a real gnome-keyring-daemon
# (Secret Service) unlocked with a throw-away password, in a throw-away
# HOME, and sets WE_TEST_SECRET_SERVICE=1 so the test enables its Secret
# Service cases. Fails (never skips) when the pieces are missing: install
# the dbus and gnome-keyring packages (tools/deps-debian.txt).
set -eu
for tool in dbus-run-session gnome-keyring-daemon; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "with-keyring.sh: $tool not found (apt-get install dbus gnome-keyring)" >&2
    exit 1
  fi
done
home=$(mktemp -d "${TMPDIR:-/tmp}/we-keyring-XXXXXX")
trap 'rm -rf "$home"' EXIT
export HOME="$home" XDG_DATA_HOME="$home/data" XDG_CONFIG_HOME="$home/config" \
  XDG_CACHE_HOME="$home/cache" XDG_RUNTIME_DIR="$home/run"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
dbus-run-session -- sh -c '
  # --unlock reads the login keyring password on stdin and creates it
  printf "%s" "we-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  # the daemon leaves with the bus when dbus-run-session ends
  WE_TEST_SECRET_SERVICE=1 exec "$@"
' sh "$@"
