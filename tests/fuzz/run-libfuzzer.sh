#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Fuzzes every target of tests/fuzz with libFuzzer for a bounded time: builds
# them with clang, -fsanitize=fuzzer,address,undefined in build-libfuzzer/
# (only the targets and what they link), then runs their meson tests.
#   WE_FUZZ_SECONDS=300 tests/fuzz/run-libfuzzer.sh    # longer, by hand
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir="${WE_LIBFUZZER_BUILDDIR:-$root/build-libfuzzer}"
cd "$root"
# run from `meson test` of another build: its library path and sanitizer
# options are not this build's
unset LD_LIBRARY_PATH ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS MALLOC_PERTURB_
if [ ! -f "$builddir/build.ninja" ]; then
  CC=clang meson setup "$builddir" -Dlibfuzzer=true -Dgst_elements=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false >/dev/null
fi
# an existing build directory regenerates first, so that the targets read
# below include any added since it was set up
ninja -C "$builddir" build.ninja >/dev/null
targets=$(meson introspect "$builddir" --targets |
  python3 -c 'import json,sys; print(" ".join(t["filename"][0] for t in json.load(sys.stdin) if t["name"].startswith("fuzz-")))')
# shellcheck disable=SC2086
ninja -C "$builddir" $(for t in $targets; do realpath --relative-to="$builddir" "$t"; done) >/dev/null
exec meson test -C "$builddir" --suite fuzz --no-rebuild --print-errorlogs
