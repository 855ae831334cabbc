#!/usr/bin/env bash
# Runs every sealift test: format check, manifest check, a build with AddressSanitizer and
# UndefinedBehaviorSanitizer, the unit suite, the libFuzzer harnesses for a short time each,
# and the end-to-end suite against real components. The last line is "N passed, N failed"
# (", N skipped" when any were skipped); the exit status is non-zero when anything failed.
#
#   hack/test.sh            everything
#   hack/test.sh --unit     only format, manifests, build and unit tests (no services)
#   SEALIFT_TEST_BUILD=DIR  build directory (default: build-test)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
build=${SEALIFT_TEST_BUILD:-build-test}
only_unit=0
[ "${1:-}" = "--unit" ] && only_unit=1

bash hack/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
skipped=0
failures=()

step() { # step NAME COMMAND... : runs a check that counts as one test
  local name=$1; shift
  echo "==> $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

format_check() {
  local files
  files=$(git ls-files '*.c' '*.h')
  [ -z "$files" ] && return 0
  # shellcheck disable=SC2086
  clang-format --dry-run -Werror $files
}
step "format (clang-format)" format_check
step "manifests (CRDs and examples)" /usr/bin/python3 hack/check-manifests.py

# Every shell script under hack/ and .ci/ (a sh/bash shebang or a "shellcheck shell=" line),
# warnings and errors: the notes and style hints (A && B || C as a conditional, ls over our own
# folders) are idioms these scripts use knowingly.
shellcheck_all() {
  local files
  mapfile -t files < <(grep -rlE '^(#!.*\b(ba)?sh\b|# shellcheck shell=)' hack .ci | sort)
  shellcheck -x -S warning "${files[@]}"
}
step "shellcheck (hack/, .ci/)" shellcheck_all

# cppcheck on all C code with its warning and portability checks (style is clang-format's job,
# performance hints are not findings). jansson.h is included so its foreach macros parse.
# varFuncNullUB is suppressed: sl_log_kv's NULL sentinel is ((void *)0) with glibc, a pointer,
# not the int 0 the check warns about.
cppcheck_all() {
  cppcheck -q -j2 --std=c11 --enable=warning,portability --suppress=varFuncNullUB \
    --inline-suppr --error-exitcode=1 --include=/usr/include/jansson.h \
    -I controller -I reconcilers -I tests/unit -D_GNU_SOURCE -DSL_VERSION='"0"' \
    controller reconcilers tests/unit tests/fuzz/harnesses e2e
}
step "cppcheck (C code)" cppcheck_all

echo "==> build ($build, address+undefined sanitizers)"
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Db_sanitize=address,undefined -Dbuildtype=debugoptimized >/dev/null ||
    { echo "meson setup failed"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
fi
if ! ninja -C "$build" >"$build/ninja.log" 2>&1; then
  tail -40 "$build/ninja.log"
  echo "build failed"
  echo "$passed passed, $((failed + 1)) failed"
  exit 1
fi

count_suite() { # count_suite LOGBASE: adds the results of a meson test run to the totals
  local log="$build/meson-logs/$1.json"
  [ -f "$log" ] || return 0
  local counts
  counts=$(/usr/bin/python3 - "$log" <<'PY'
import json, sys
ok = bad = skip = 0
names = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line).get("result", "")
    if r in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif r == "SKIP":
        skip += 1
    else:
        bad += 1
        names.append(json.loads(line).get("name", "?"))
print(ok, bad, skip, " ".join(names))
PY
)
  read -r ok bad skip names <<<"$counts"
  passed=$((passed + ok))
  failed=$((failed + bad))
  skipped=$((skipped + skip))
  # shellcheck disable=SC2206 # names: test names separated by spaces, split on purpose
  [ -n "${names:-}" ] && failures+=($names)
  return 0
}

# the release build hack/demo.sh and the benches use: -O3 warns about things -O2 does not, and
# warnings are errors
release_build() {
  [ -f build/build.ninja ] || meson setup build -Dbuildtype=release >/dev/null || return 1
  ninja -C build sealift >build/ninja.log 2>&1 || { tail -20 build/ninja.log; return 1; }
}
step "release build (build/, as hack/demo.sh builds it)" release_build

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
echo "==> unit tests"
meson test -C "$build" --suite unit --logbase unit --print-errorlogs --num-processes 2
count_suite unit

if [ "$only_unit" = 0 ]; then
  echo "==> fuzz harnesses (libFuzzer, short runs)"
  step "fuzz harnesses" bash hack/fuzz.sh --quick
  echo "==> test peers (etcd, kube-apiserver: built once from the Go module proxy, cached)"
  if ! bash hack/cluster.sh build; then
    echo "building the Kubernetes test peers failed (see above); the end-to-end suite needs them"
    failed=$((failed + 1))
    failures+=("cluster.sh build")
  fi
  echo "==> test peers (cosign v3 and v2, oras, helm, refregistry, awsstandin, azurestandin, gcpstandin: built once from the Go module proxy, cached)"
  if ! bash hack/peers.sh build; then
    echo "building the client test peers failed (see above); the end-to-end suite needs them"
    failed=$((failed + 1))
    failures+=("peers.sh build")
  fi
  # Two files at a time: each file starts its own API server, registries and controller on free
  # ports under its own temporary folder, and most of a file's time is waiting on them.
  # SEALIFT_E2E_JOBS=1 runs them one by one (e.g. to read interleaved logs).
  echo "==> end-to-end tests"
  meson test -C "$build" --suite e2e --logbase e2e --print-errorlogs \
    --num-processes "${SEALIFT_E2E_JOBS:-2}"
  count_suite e2e
fi

if [ ${#failures[@]} -gt 0 ]; then
  echo "failed: ${failures[*]}"
fi
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ]
