#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Install, build and start WebEncode on a Debian 12 machine:
#
#   tools/setup.sh               # installs what is missing, builds, runs webencoded
#   tools/setup.sh --no-start    # only installs and builds
#   tools/setup.sh -- --config /etc/webencode/webencoded.conf   # arguments for webencoded
#
# Run it as a normal user with sudo (apt-get is the only step that needs root)
# or as root. Safe to run again: only missing packages are installed, the
# build directory is configured once and then rebuilt incrementally.
#
# webencoded runs in the foreground from the build tree with its embedded
# defaults (SQLite, local workers, storage under its data directory,
# loopback-only access) and prints the URL of its API. Ctrl-C stops it.
#
# Environment: BUILDDIR (default: build), and everything of
# docs/configuration.md (WE_DATA_DIR, KERNEL_PORT, …).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
builddir="${BUILDDIR:-build}"
start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-start) start=0; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '3,19p' "$root/tools/setup.sh" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

tools/install-deps.sh

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir"
fi
meson compile -C "$builddir"

# the web dashboard (web/, served by webencoded from web/dist)
if command -v npm >/dev/null 2>&1; then
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules ]; then
    npm ci --prefix web --no-audit --no-fund --loglevel=error
  fi
  npm run build --prefix web --silent
else
  echo "setup.sh: npm is missing: the dashboard is not built (apt-get install npm)" >&2
fi

if [ "$start" -eq 0 ]; then
  echo "setup.sh: built in $builddir; start it with: tools/setup.sh"
  exit 0
fi

export WE_PLUGIN_DIR="${WE_PLUGIN_DIR:-$root/$builddir/plugins}"
export WE_WEB_DIR="${WE_WEB_DIR:-$root/web/dist}"
export WE_WORKER_BINARY="${WE_WORKER_BINARY:-$root/$builddir/src/worker/webencode-worker}"
echo "setup.sh: starting webencoded (Ctrl-C stops it); the CLI is $builddir/src/cli/webencode"
exec "$root/$builddir/src/daemon/webencoded" "$@"
