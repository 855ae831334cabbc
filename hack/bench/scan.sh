#!/bin/sh
# scan bench (DESIGN.md section 7): a Debian bookworm minbase image (debootstrap, packed as one
# gzip layer of an OCI layout), `sealift scan oci:...` vs `gzip -dc` of the same layer to
# /dev/null, alternating, several rounds in one run. Prints per-round wall time and peak RSS,
# then the median time ratio (sealift / gzip) and sealift's peak RSS.
# Bars: time ratio <= 1.3, peak RSS <= 32 MiB.
#
# usage: hack/bench/scan.sh [ROUNDS]        (default 5)
# env:   BUILD_DIR (default build-bench, configured --buildtype=release if missing)
#        SEALIFT_BIN (use this binary, skip the build)
#        DEBIAN_MIRROR (default http://deb.debian.org/debian)
# The debootstrap tarball and the OCI layout are cached in $BUILD_DIR/bench-cache/ (debootstrap
# needs root and the Debian mirror the first time only).
set -eu

SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC_DIR/hack/bench/lib/common.sh"
ROUNDS=${1:-5}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PY=/usr/bin/python3
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "scan.sh: $TIME missing (Debian package 'time')" >&2; exit 2; }

bench_sealift
mkdir -p "$BUILD_DIR/bench-cache"
CACHE="$BUILD_DIR/bench-cache/debian-bookworm-minbase"

if [ ! -f "$CACHE/layer.tar.gz" ]; then
    echo "debootstrap --variant=minbase bookworm (once, cached in $CACHE)"
    rm -rf "$CACHE.tmp"
    mkdir -p "$CACHE.tmp"
    debootstrap --variant=minbase bookworm "$CACHE.tmp/rootfs" "$MIRROR" >"$CACHE.tmp/log" 2>&1 ||
        { tail -n 20 "$CACHE.tmp/log" >&2; exit 2; }
    # like a published image: no downloaded .debs or apt lists; numeric owners, sorted names
    rm -rf "$CACHE.tmp/rootfs/var/cache/apt/archives/"*.deb "$CACHE.tmp/rootfs/var/lib/apt/lists/"*
    tar -C "$CACHE.tmp/rootfs" --numeric-owner --sort=name -cf - . | gzip -6 >"$CACHE.tmp/layer.tar.gz"
    rm -rf "$CACHE.tmp/rootfs"
    mv "$CACHE.tmp" "$CACHE"
fi
if [ ! -f "$CACHE/oci/index.json" ]; then
    $PY - "$CACHE/layer.tar.gz" "$CACHE/oci" <<'PYEOF'
import gzip, hashlib, json, os, shutil, sys
layer, out = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)
h, diff = hashlib.sha256(), hashlib.sha256()
with open(layer, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
with gzip.open(layer, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        diff.update(chunk)
ldigest = h.hexdigest()
shutil.copy(layer, os.path.join(out, "blobs", "sha256", ldigest))
cfg = {"architecture": "amd64", "os": "linux", "config": {"User": "0"},
       "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff.hexdigest()]}}
cd, cs = put(json.dumps(cfg).encode())
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": "sha256:" + ldigest, "size": os.path.getsize(layer)}]}
md, ms = put(json.dumps(man).encode())
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": man["mediaType"], "digest": md,
               "size": ms, "annotations": {"org.opencontainers.image.ref.name": "minbase"}}]}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
PYEOF
fi

# advisories: the Debian tracker records and OSV/tracker excerpts from the test data
DB="$SRC_DIR/tests/data/scan/advisories/aquasecurity/vuln-list-debian"
LAYER="$CACHE/layer.tar.gz"
WORK=$(mktemp -d "$BUILD_DIR/bench-scan.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

echo "layer: $(du -h "$LAYER" | cut -f1) compressed, $(gzip -dc "$LAYER" | wc -c | awk '{printf "%.0f MiB", $1/1048576}') uncompressed"
echo "round  gzip_s  gzip_rss_kib  sealift_s  sealift_rss_kib"
i=1
while [ "$i" -le "$ROUNDS" ]; do
    $TIME -f "%e %M" -o "$WORK/g" gzip -dc "$LAYER" >/dev/null
    rc=0
    $TIME -f "%e %M" -o "$WORK/s" "$SEALIFT" scan "oci:$CACHE/oci:minbase" --db "$DB" \
        --format json >"$WORK/report.json" 2>"$WORK/err" || rc=$?
    if [ "$rc" -gt 1 ]; then
        echo "scan.sh: sealift scan failed (exit $rc): $(cat "$WORK/err")" >&2
        exit 2
    fi
    printf '%5d  %6s  %12s  %9s  %15s\n' "$i" "$(cut -d' ' -f1 "$WORK/g")" "$(cut -d' ' -f2 "$WORK/g")" \
        "$(cut -d' ' -f1 "$WORK/s")" "$(cut -d' ' -f2 "$WORK/s")"
    cat "$WORK/g" >>"$WORK/gzip.all"
    cat "$WORK/s" >>"$WORK/sealift.all"
    i=$((i + 1))
done
$PY - "$WORK/gzip.all" "$WORK/sealift.all" "$WORK/report.json" <<'PYEOF'
import json, statistics, sys
def load(p):
    rows = [l.split() for l in open(p) if l.strip()]
    return [float(r[0]) for r in rows], [int(r[1]) for r in rows]
gt, _ = load(sys.argv[1])
st, srss = load(sys.argv[2])
rep = json.load(open(sys.argv[3]))
ratio = statistics.median(st) / max(statistics.median(gt), 1e-3)
rss_mib = max(srss) / 1024.0
print("packages scanned: %d, findings: %d" % (rep["packages"], len(rep["vulnerabilities"])))
print("time ratio (median sealift / median gzip -dc): %.2f   bar <= 1.3  %s"
      % (ratio, "ok" if ratio <= 1.3 else "MISSED"))
print("sealift peak RSS: %.1f MiB   bar <= 32 MiB  %s" % (rss_mib, "ok" if rss_mib <= 32 else "MISSED"))
PYEOF
