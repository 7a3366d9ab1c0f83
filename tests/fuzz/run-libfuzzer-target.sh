#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-libfuzzer-target.sh EXE CORPUS SECONDS: fuzzes EXE with libFuzzer for
# SECONDS, starting from a copy of CORPUS. A crash, leak or sanitizer report
# fails the run and leaves the input that caused it next to the copy.
set -euo pipefail
exe=$1 corpus=$2 seconds=${WE_FUZZ_SECONDS:-$3}
work=$(mktemp -d "${TMPDIR:-/tmp}/we-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
cp -r "$corpus"/. "$work/corpus/" 2>/dev/null || true
if ! "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
     -artifact_prefix="$work/artifacts/" "$work/corpus"; then
  echo "fuzzing $(basename "$exe") failed; the input:" >&2
  for f in "$work"/artifacts/*; do
    [ -f "$f" ] && { echo "$f"; base64 "$f" | head -c 4000; echo; } >&2
  done
  exit 1
fi
