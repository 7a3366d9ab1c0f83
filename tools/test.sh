#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run all the tests:
#
#   tools/test.sh                    # every suite, in an ASan+UBSan build
#   tools/test.sh --suite unit       # extra arguments go to `meson test`
#
# Installs missing Debian packages like tools/setup.sh, configures the
# sanitizer build directory build-asan once (BUILDDIR overrides it), builds,
# runs `meson test`, and ends with one line "N passed, N failed" counted from
# meson's test log. Exits non-zero when anything failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
builddir="${BUILDDIR:-build-asan}"

summary() {
  echo "$1 passed, $2 failed"
}

if ! tools/install-deps.sh; then
  echo "test.sh: installing the dependencies failed" >&2
  summary 0 1
  exit 1
fi

# npm for the test helpers below
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends npm || true
fi
# tests/s3 runs s3rver; tests/browser plays HLS/DASH in Debian's chromium with
# playwright-core, hls.js and dashjs; both pinned in their package-lock.json
for dir in tests/s3 tests/browser tests/oidc; do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    if ! npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error; then
      echo "test.sh: npm ci in $dir failed" >&2
      summary 0 1
      exit 1
    fi
  fi
done
# the web dashboard: webencoded serves web/dist, the web-bundle and
# test_dashboard tests check it
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules ]; then
  if ! npm ci --prefix web --no-audit --no-fund --loglevel=error; then
    echo "test.sh: npm ci in web failed" >&2
    summary 0 1
    exit 1
  fi
fi
if ! npm run build --prefix web --silent; then
  echo "test.sh: building the web dashboard failed" >&2
  summary 0 1
  exit 1
fi

if [ ! -f "$builddir/build.ninja" ]; then
  # b_lundef=false: clang's sanitizer runtimes are not linked into shared objects
  if ! meson setup "$builddir" -Db_sanitize=address,undefined -Db_lundef=false; then
    echo "test.sh: meson setup failed" >&2
    summary 0 1
    exit 1
  fi
fi
if ! meson compile -C "$builddir"; then
  echo "test.sh: the build failed" >&2
  summary 0 1
  exit 1
fi

log="$builddir/meson-logs/testlog.json"
rm -f "$log"
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@"
rc=$?

if [ ! -s "$log" ]; then
  echo "test.sh: meson test exited with $rc and wrote no test log" >&2
  summary 0 1
  exit 1
fi

# testlog.json holds one JSON object per test run
python3 - "$log" "$rc" "${WE_TEST_NO_SKIP:-}" <<'PY'
import json
import sys

# CI sets WE_TEST_NO_SKIP: there a skip means a server or tool it should
# have provided is missing, and that must not pass for green
no_skip = bool(sys.argv[3])

passed = failed = skipped = 0
names = []
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        result = json.loads(line).get("result", "ERROR")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP" and not no_skip:
            skipped += 1
        else:
            failed += 1
            names.append(json.loads(line).get("name", "?"))
# meson failing without a failed test (e.g. no test matched) still fails
if failed == 0 and int(sys.argv[2]) != 0:
    print("test.sh: meson test exited with %s" % sys.argv[2], file=sys.stderr)
    failed = 1
if names:
    print("failed: " + ", ".join(names))
print("%d skipped" % skipped)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
