#!/usr/bin/env bash
# Builds sealift's libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang, ASan and UBSan in
# build-fuzz/ and runs each over its seed corpus and then fuzzes it.
#   hack/fuzz.sh              fuzz every harness for 60 s
#   hack/fuzz.sh --quick      5 s each (used by hack/test.sh)
#   hack/fuzz.sh NAME [SECS]  one harness
#   hack/fuzz.sh --grow [SECS] [NAME]
#                             fuzz (default 60 s each), then merge the inputs that reach new
#                             coverage into tests/fuzz/corpus/NAME (libFuzzer -merge=1, inputs of
#                             at most 4 KiB), so the unit suite's corpus replays cover them
set -euo pipefail
cd "$(dirname "$0")/.."
secs=60
only=""
grow=0
case "${1:-}" in
  --quick) secs=5 ;;
  --grow) grow=1; secs=${2:-60}; only=${3:-} ;;
  "") ;;
  *) only=$1; secs=${2:-60} ;;
esac
build="build-fuzz"
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi
# only the harnesses (the rest of the tree is built by the sanitizer build already)
targets=$(ninja -C "$build" -t targets all | sed -n 's/^\(tests\/fuzz\/fuzz_[a-z0-9_]*\): .*/\1/p')
# shellcheck disable=SC2086
ninja -C "$build" $targets >"$build/ninja.log" 2>&1 || { tail -30 "$build/ninja.log"; exit 1; }
# fuzz_one EXE: fuzzes one harness from a copy of its corpus; with --grow, merges what reached
# new coverage back into the corpus. Non-zero when the harness crashed or the merge failed.
fuzz_one() {
  local exe=$1 name work corpus rc=0 before
  name=${exe##*/fuzz_}
  corpus=tests/fuzz/corpus/$name
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  echo "fuzz $name (${secs}s)"
  local maxlen=()
  [ "$grow" = 1 ] && maxlen=(-max_len=4096)
  if ! "$exe" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=0 "${maxlen[@]}" \
      "$work" >"$build/fuzz_$name.log" 2>&1; then
    echo "fuzz $name found a crash:"
    tail -40 "$build/fuzz_$name.log"
    rc=1
  elif [ "$grow" = 1 ]; then
    mkdir -p "$corpus"
    before=$(ls "$corpus" | wc -l)
    "$exe" -merge=1 -max_len=4096 -rss_limit_mb=2048 "$corpus" "$work" \
      >>"$build/fuzz_$name.log" 2>&1 || { echo "merge for $name failed"; rc=1; }
    echo "  corpus $name: $before -> $(ls "$corpus" | wc -l) inputs"
  fi
  rm -rf "$work"
  return $rc
}

# One harness per core at a time (each is a single-threaded process).
jobs_max=$(nproc 2>/dev/null || echo 1)
status=0
found=0
running=0
for exe in "$build"/tests/fuzz/fuzz_*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  [ -n "$only" ] && [ "${exe##*/fuzz_}" != "$only" ] && continue
  found=1
  if [ "$running" -ge "$jobs_max" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
  fuzz_one "$exe" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
[ "$found" = 1 ] || echo "no fuzz harnesses built yet"
exit $status
