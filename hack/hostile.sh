#!/usr/bin/env bash
# Runs the hostile-input corpus against a built sealift binary and prints, per case, what it
# cost: exit code, the first line of the error (or of the report), wall time and peak RSS.
#
#   hack/hostile.sh [CASE...]     all cases, or only the named ones
#
# The binary comes from $SEALIFT_BIN, else build-test/sealift, else build/sealift; nothing is
# built here. The corpus (tests/data/scan/hostile.py: tar tricks, whiteout floods, a gzip bomb,
# deep paths, huge dpkg databases, deeply nested YAML) is generated into a temporary directory
# with /usr/bin/python3 and removed at the end. Each case runs under `timeout` (CASE_TIMEOUT,
# default 60 s) and the whole run stops starting cases after HOSTILE_BUDGET seconds (default
# 1200); every process started here is stopped on exit.
#
# A case is a shell function case_NAME that calls `run NAME COMMAND...`. Cases that need a
# peer process (a registry serving a huge tag list, a slow registry) add a function that starts
# the peer with `spawn COMMAND...` (stopped on exit) and then calls `run`.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

bin=${SEALIFT_BIN:-}
if [ -z "$bin" ]; then
  for b in build-test/sealift build/sealift; do
    [ -x "$b" ] && { bin=$src/$b; break; }
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "hostile.sh: no sealift binary (set SEALIFT_BIN)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "hostile.sh: GNU time (/usr/bin/time) is needed" >&2; exit 2; }
py=/usr/bin/python3
case_timeout=${CASE_TIMEOUT:-60}
budget=${HOSTILE_BUDGET:-1200}
started=$SECONDS

work=$(mktemp -d "${TMPDIR:-/tmp}/sealift-hostile.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn COMMAND...: starts a peer process in the background, stopped when the script ends.
spawn() {
  "$@" >>"$work/peers.log" 2>&1 &
  pids+=("$!")
}

# run NAME COMMAND...: runs one case with a time bound and prints its line.
run() {
  local name=$1
  shift
  if (( SECONDS - started > budget )); then
    printf '%-22s skipped: the %ss budget of this run is spent\n' "$name" "$budget"
    return 0
  fi
  local out=$work/$name.out err=$work/$name.err stats=$work/$name.time rc=0
  /usr/bin/time -o "$stats" -f '%e %M' timeout -k 5 "$case_timeout" "$@" >"$out" 2>"$err" || rc=$?
  local wall rss first
  read -r wall rss < <(tail -n 1 "$stats" 2>/dev/null || echo "? ?")
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    first="timed out after ${case_timeout}s"
  else
    first=$(grep -m1 -v '^\s*$' "$err" 2>/dev/null || true)
    [ -n "$first" ] || first=$(grep -m1 -E '"result"|^Result:' "$out" 2>/dev/null | tr -s ' ' || true)
  fi
  first=${first//$work\//}
  first=$(sed -E 's/(sha256:[0-9a-f]{12})[0-9a-f]{52}/\1…/g' <<<"$first")
  printf '%-22s exit=%-3s %7ss %9s KiB  %s\n' "$name" "$rc" "$wall" "$rss" "${first:0:150}"
}

scan_case() {
  run "$1" "$bin" scan "$2" --db "$db" --baseline=setuid,private-key --fail-on High
}

echo "sealift: $bin"
echo "generating the corpus in $work ..."
"$py" "$src/tests/data/scan/hostile.py" generate "$work/corpus"
# advisories: the Debian tracker records and CVE-2099-0001 (Critical, glibc < 2.36-9+deb12u4)
db=$work/db
mkdir -p "$db"
cp -r "$src/tests/data/scan/advisories/aquasecurity/vuln-list-debian/tracker" "$db/tracker"
cp "$src/tests/data/scan/osv/sample.json" "$db/"
printf '%-22s %-8s %8s %13s  %s\n' case exit wall "peak RSS" "first line of the error (or the result)"

only=" $* "
while IFS=$'\t' read -r name kind target _note; do
  if [ -n "${*:-}" ] && [[ $only != *" $name "* ]]; then
    continue
  fi
  case $kind in
    scan) scan_case "$name" "$target" ;;
    render) run "$name" "$bin" policy render "$target" ;;
  esac
done <"$work/corpus/cases.tsv"

# cases written as functions (case_NAME), e.g. ones that need a registry peer
for fn in $(declare -F | awk '{print $3}' | grep '^case_' || true); do
  name=${fn#case_}
  if [ -n "${*:-}" ] && [[ $only != *" $name "* ]]; then
    continue
  fi
  "$fn"
done
