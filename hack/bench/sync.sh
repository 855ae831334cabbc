#!/bin/sh
# sync bench (DESIGN.md section 7): cold copy of a 256 MiB, 8-layer image between two local
# docker-registry processes, `sealift copy` vs `skopeo copy` (docker:// -> docker://), several
# alternating rounds in one run. Prints per-round wall time and peak RSS, then the ratios of the
# medians (sealift / skopeo). Bars: time ratio <= 1.0, RSS ratio <= 0.33. Last, the peak RSS of
# processes that do no copy work (`sealift version`, `curl` of the registry's /v2/, a program that
# only calls curl_global_init), to show how much of the figure is the floor set by Debian's shared
# libcurl and its dependencies; `skopeo --version` as skopeo's floor, and what one copy adds
# above each program's own floor (issue 17's bar: sealift's <= 0.5x skopeo's), and the same
# above `copy --help` of each, which sets up the HTTP stack and exits (one-time set-up left out).
# Then the same copies' anonymous memory (RssAnon), without the code pages peak RSS counts.
#
# usage: hack/bench/sync.sh [ROUNDS]        (default 3)
# env:   BUILD_DIR (default build-bench, configured --buildtype=release if missing)
#        SYNC_LAYERS (8), SYNC_LAYER_MIB (32), SEALIFT_BIN (use this binary, skip the build)
set -eu

SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC_DIR/hack/bench/lib/common.sh"
ROUNDS=${1:-3}
LAYERS=${SYNC_LAYERS:-8}
LAYER_MIB=${SYNC_LAYER_MIB:-32}
PY=/usr/bin/python3
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "sync.sh: $TIME missing (Debian package 'time')" >&2; exit 2; }

bench_sealift
mkdir -p "$BUILD_DIR"

CACHE="$BUILD_DIR/bench-cache/sync-${LAYERS}x${LAYER_MIB}"
if [ ! -f "$CACHE/index.json" ]; then
    echo "building the ${LAYERS}x${LAYER_MIB} MiB test image in $CACHE (once)"
    rm -rf "$CACHE.tmp"
    $PY "$SRC_DIR/hack/bench/lib/make_image.py" "$CACHE.tmp" bench "$LAYERS" "$LAYER_MIB" >/dev/null
    mv "$CACHE.tmp" "$CACHE"
fi

WORK=$(mktemp -d "$BUILD_DIR/bench-sync.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

start_registry vendor alice alice-pw
A_PORT=$REG_PORT
A="127.0.0.1:$A_PORT"
echo "pushing the image to $A"
skopeo copy --quiet --dest-tls-verify=false --dest-creds alice:alice-pw \
    "oci:$CACHE:bench" "docker://$A/bench/image:1"
DIGEST=$(skopeo inspect --raw --tls-verify=false --creds alice:alice-pw \
    "docker://$A/bench/image:1" | sha256sum | cut -d' ' -f1)
echo "source digest sha256:$DIGEST"

# a fresh, empty target registry for every run, so nothing is already there (cold)
B_PID=""
fresh_target() {
    [ -z "$B_PID" ] || stop_pid "$B_PID"
    rm -rf "$WORK/customer"
    start_registry customer bob bob-pw
    B_PID=$REG_PID
    B="127.0.0.1:$REG_PORT"
}

run_sealift() { # round
    fresh_target
    $TIME -f "%e,%M" -o "$WORK/t" "$SEALIFT" copy "$A/bench/image:1" "$B/sealift$1/image:1" \
        --src-creds alice:alice-pw --dest-creds bob:bob-pw --src-insecure --dest-insecure \
        > "$WORK/out" 2> "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    [ "$(cat "$WORK/out")" = "sha256:$DIGEST" ] || { echo "sealift: wrong digest" >&2; exit 1; }
    tail -n1 "$WORK/t" >> "$WORK/sealift.csv"
    echo "round $1 sealift: $(tail -n1 "$WORK/t" | awk -F, '{printf "%.2f s, %d KiB", $1, $2}')"
}

run_skopeo() {
    fresh_target
    $TIME -f "%e,%M" -o "$WORK/t" skopeo copy --quiet --src-tls-verify=false \
        --dest-tls-verify=false --src-creds alice:alice-pw --dest-creds bob:bob-pw \
        "docker://$A/bench/image:1" "docker://$B/skopeo$1/image:1" \
        > "$WORK/out" 2> "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    tail -n1 "$WORK/t" >> "$WORK/skopeo.csv"
    echo "round $1 skopeo:  $(tail -n1 "$WORK/t" | awk -F, '{printf "%.2f s, %d KiB", $1, $2}')"
}

: > "$WORK/sealift.csv"
: > "$WORK/skopeo.csv"
r=1
while [ $r -le "$ROUNDS" ]; do
    if [ $((r % 2)) -eq 1 ]; then run_sealift $r; run_skopeo $r; else run_skopeo $r; run_sealift $r; fi
    r=$((r + 1))
done

median() { # file column
    cut -d, -f"$2" "$1" | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
ST=$(median "$WORK/sealift.csv" 1); SR=$(median "$WORK/sealift.csv" 2)
KT=$(median "$WORK/skopeo.csv" 1); KR=$(median "$WORK/skopeo.csv" 2)
echo "median sealift: ${ST} s, ${SR} KiB peak RSS"
echo "median skopeo:  ${KT} s, ${KR} KiB peak RSS"
awk -v st="$ST" -v kt="$KT" -v sr="$SR" -v kr="$KR" 'BEGIN {
    tr = st / kt; rr = sr / kr;
    printf "time ratio (sealift/skopeo): %.3f (bar <= 1.0) %s\n", tr, tr <= 1.0 ? "PASS" : "FAIL";
    printf "RSS ratio  (sealift/skopeo): %.3f (bar <= 0.33) %s\n", rr, rr <= 0.33 ? "PASS" : "FAIL";
}'

# Where the RSS goes: the floor that linking Debian's libcurl sets before any copy work. Each
# process below is measured like the copies (peak RSS from /usr/bin/time).
floor() { # label command...
    l=$1; shift
    $TIME -f "%M" -o "$WORK/f" "$@" > /dev/null 2>&1 || true
    awk -v l="$l" -v m="$(tail -n1 "$WORK/f")" -v kr="$KR" \
        'BEGIN { printf "  %-52s %6d KiB = %.2f of skopeo\n", l, m, m / kr }'
}
echo "peak RSS floors (no copy work):"
floor "sealift version (libraries loaded, nothing run)" "$SEALIFT" version
floor "curl GET /v2/ (Debian's libcurl and its deps)" curl -s "http://$A/v2/"
floor "skopeo --version (skopeo's own floor)" skopeo --version
SF=$(tail -n1 "$WORK/f")
VF=$($TIME -f "%M" -o "$WORK/f" "$SEALIFT" version > /dev/null 2>&1; tail -n1 "$WORK/f")
# what one copy adds above each program's own floor: the memory a copy holds, which is what
# concurrent deliveries in a controller multiply (issue bar: sealift's <= 0.5x skopeo's)
awk -v sr="$SR" -v vf="$VF" -v kr="$KR" -v sf="$SF" 'BEGIN {
    a = sr - vf; b = kr - sf; r = b > 0 ? a / b : 0;
    printf "added by one copy above its floor: sealift %d KiB, skopeo %d KiB, ratio %.2f (bar <= 0.5) %s\n",
        a, b, r, r <= 0.5 ? "PASS" : "FAIL";
}'
# The same above a process that has set up its HTTP stack and exits (`copy --help`: main()
# initialises libcurl, and so OpenSSL, before any command runs; median of 3): sealift's one-time
# set-up, mostly OpenSSL's initialisation (its error strings, cipher and digest name tables and
# configuration: about 2 MB of libcrypto pages and heap, once per process however many copies
# run), is left out; skopeo (Go) sets up the same either way.
init_floor() { # label command...
    l=$1; shift
    for _i in 1 2 3; do
        $TIME -f "%M" -o "$WORK/f" "$@" > /dev/null 2>&1 || true
        tail -n1 "$WORK/f"
    done | sort -n | sed -n 2p > "$WORK/f3"
    awk -v l="$l" -v m="$(cat "$WORK/f3")" -v kr="$KR" \
        'BEGIN { printf "  %-52s %6d KiB = %.2f of skopeo\n", l, m, m / kr }'
}
init_floor "sealift copy --help (libcurl and OpenSSL set up)" "$SEALIFT" copy --help
SIF=$(cat "$WORK/f3")
init_floor "skopeo copy --help" skopeo copy --help
KIF=$(cat "$WORK/f3")
awk -v sr="$SR" -v vf="$SIF" -v kr="$KR" -v sf="$KIF" 'BEGIN {
    a = sr - vf; b = kr - sf; r = b > 0 ? a / b : 0;
    printf "added above the set-up floor (one-time set-up left out): sealift %d KiB, skopeo %d KiB, ratio %.2f\n",
        a, b, r;
}'
if command -v cc > /dev/null; then
    printf '#include <curl/curl.h>\nint main(void) { return curl_global_init(CURL_GLOBAL_DEFAULT) != 0; }\n' \
        > "$WORK/curlinit.c"
    if cc -O2 -o "$WORK/curlinit" "$WORK/curlinit.c" -lcurl 2> /dev/null; then
        floor "a program that only calls curl_global_init" "$WORK/curlinit"
    fi
fi

# Anonymous memory (RssAnon: heap, stacks, private data), sampled every 2 ms by
# hack/bench/lib/anonmem.py: peak RSS above counts the code pages each program touched (for
# sealift mostly libcrypto's, set up once per process), RssAnon is what grows with the work and
# what each of several concurrent copies in one controller would hold. The floor is the same
# program set up for the copy and waiting on a registry that never answers.
echo "anonymous memory (RssAnon, median of $ROUNDS):"
anon_copy() { # sealift|skopeo round
    fresh_target
    if [ "$1" = sealift ]; then
        $PY "$SRC_DIR/hack/bench/lib/anonmem.py" peak "$SEALIFT" copy "$A/bench/image:1" \
            "$B/anon$2/image:1" --src-creds alice:alice-pw --dest-creds bob:bob-pw \
            --src-insecure --dest-insecure 2> /dev/null | tail -n1 >> "$WORK/anon-sealift"
    else
        $PY "$SRC_DIR/hack/bench/lib/anonmem.py" peak skopeo copy --quiet \
            --src-tls-verify=false --dest-tls-verify=false --src-creds alice:alice-pw \
            --dest-creds bob:bob-pw "docker://$A/bench/image:1" "docker://$B/anon$2/image:1" \
            2> /dev/null | tail -n1 >> "$WORK/anon-skopeo"
    fi
}
: > "$WORK/anon-sealift"
: > "$WORK/anon-skopeo"
: > "$WORK/idle-sealift"
: > "$WORK/idle-skopeo"
r=1
while [ $r -le "$ROUNDS" ]; do
    anon_copy sealift $r
    anon_copy skopeo $r
    $PY "$SRC_DIR/hack/bench/lib/anonmem.py" idle "$SEALIFT" copy "{STALL}/bench/image:1" \
        "$B/idle/image:1" --src-creds alice:alice-pw --dest-creds bob:bob-pw --src-insecure \
        --dest-insecure | sed 's/$/,x/' >> "$WORK/idle-sealift"
    $PY "$SRC_DIR/hack/bench/lib/anonmem.py" idle skopeo copy --quiet --src-tls-verify=false \
        --dest-tls-verify=false --src-creds alice:alice-pw --dest-creds bob:bob-pw \
        "docker://{STALL}/bench/image:1" "docker://$B/idle/image:1" \
        | sed 's/$/,x/' >> "$WORK/idle-skopeo"
    r=$((r + 1))
done
AS=$(median "$WORK/anon-sealift" 2); AK=$(median "$WORK/anon-skopeo" 2)
IS=$(median "$WORK/idle-sealift" 1); IK=$(median "$WORK/idle-skopeo" 1)
awk -v as="$AS" -v ak="$AK" -v is="$IS" -v ik="$IK" 'BEGIN {
    printf "  peak during the copy:               sealift %6d KiB, skopeo %6d KiB, ratio %.2f\n", as, ak, as / ak;
    printf "  set up, waiting on the registry:    sealift %6d KiB, skopeo %6d KiB\n", is, ik;
    a = as - is; b = ak - ik;
    printf "  added by the copy above that:       sealift %6d KiB, skopeo %6d KiB, ratio %.2f\n", a, b, (b > 0 ? a / b : 0);
}'
