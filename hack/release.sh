#!/usr/bin/env bash
# The release flow: sealift's own image, delivered, scanned and signed by sealift.
#
#   hack/release.sh OUT STAGE DEST --key KEY --db ADVISORIES [--creds USER:PASS] [--insecure]
#                   [--kustomization FILE]
#
#  1. hack/image.sh builds the OCI image layout into OUT/image (reproducible; see there).
#  2. `sealift copy --all-platforms oci:OUT/image:VERSION STAGE:VERSION` uploads the layout to
#     STAGE (a repository of the build's own registry, e.g. registry.example/build/sealift).
#  3. `sealift copy --all-platforms STAGE:VERSION DEST:VERSION` delivers it to the release
#     repository DEST, digest unchanged.
#  4. `sealift scan DEST@DIGEST --db ADVISORIES --fail-on High` writes OUT/scan.json; a finding
#     at or above High stops the release here (exit 1), before anything is signed.
#  5. `sealift sign DEST@DIGEST --key KEY` signs it (cosign format); `sealift verify` with the
#     same key checks the signature in the release registry.
#  6. OUT/digest gets DEST@DIGEST, and with --kustomization FILE the `images:` entry of the
#     kustomization (crds/kustomization.yaml in a release commit) is rewritten to pin
#     newName DEST and digest DIGEST, so `kubectl apply -k crds/` installs exactly this build.
#  5b. `sealift attest` attaches a signed SBOM (SPDX) and vulnerability report (cosign's vuln
#     predicate, from the same database) to it, and `sealift verify-attestation` checks both.
#
# --creds is used for both registries; --insecure allows plain HTTP (a test registry).
set -euo pipefail
die() { echo "release.sh: $*" >&2; exit 2; }
[ $# -ge 3 ] || die "usage: hack/release.sh OUT STAGE DEST --key KEY --db ADVISORIES [--creds USER:PASS] [--insecure] [--kustomization FILE]"
out=$1 stage=$2 dest=$3
shift 3
key="" db="" creds="" insecure=0 kustomization=""
while [ $# -gt 0 ]; do
  case "$1" in
    --key) key=$2; shift 2 ;;
    --db) db=$2; shift 2 ;;
    --creds) creds=$2; shift 2 ;;
    --insecure) insecure=1; shift ;;
    --kustomization) kustomization=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
[ -n "$key" ] && [ -n "$db" ] || die "--key and --db are required"
src=$(cd "$(dirname "$0")/.." && pwd)
sealift=$src/build/sealift
mkdir -p "$out"
out=$(cd "$out" && pwd)
step() { printf '==> %s\n' "$*" >&2; }

step "building the image (OCI layout in $out/image)"
digest=$(bash "$src/hack/image.sh" "$out/image")
version=$("$sealift" version | sed -n 's/^sealift \([^ ]*\) .*/\1/p')

step "uploading the layout to $stage:$version with sealift copy"
upload_args=(copy "oci:$out/image:$version" "$stage:$version" --all-platforms)
[ "$insecure" = 1 ] && upload_args+=(--dest-insecure)
[ -n "$creds" ] && upload_args+=(--dest-creds "$creds")
uploaded=$("$sealift" "${upload_args[@]}")
case "$uploaded" in *"$digest"*) ;; *) die "sealift copy uploaded '$uploaded', not $digest" ;; esac

step "delivering $stage:$version to $dest:$version with sealift copy"
copy_args=(copy "$stage:$version" "$dest:$version" --all-platforms)
[ "$insecure" = 1 ] && copy_args+=(--src-insecure --dest-insecure)
[ -n "$creds" ] && copy_args+=(--src-creds "$creds" --dest-creds "$creds")
delivered=$("$sealift" "${copy_args[@]}")
case "$delivered" in *"$digest"*) ;; *) die "sealift copy delivered '$delivered', not $digest" ;; esac

common=()
[ "$insecure" = 1 ] && common+=(--insecure)
[ -n "$creds" ] && common+=(--creds "$creds")

step "scanning $dest@$digest (report: $out/scan.json)"
if ! "$sealift" scan "$dest@$digest" --db "$db" --format json --fail-on High "${common[@]}" \
    >"$out/scan.json"; then
  echo "release.sh: the scan failed or found a vulnerability at or above High; not signed (see $out/scan.json)" >&2
  exit 1
fi

step "signing $dest@$digest"
"$sealift" sign "$dest@$digest" --key "$key" "${common[@]}" >&2
"$sealift" verify "$dest@$digest" --key "$key" "${common[@]}" >&2

step "attesting $dest@$digest (SBOM and vulnerability report)"
"$sealift" attest "$dest@$digest" --key "$key" --type sbom "${common[@]}" >&2
"$sealift" attest "$dest@$digest" --key "$key" --type vuln --db "$db" "${common[@]}" >&2
for type in sbom vuln; do
  "$sealift" verify-attestation "$dest@$digest" --key "$key" --type "$type" "${common[@]}" >&2
done

echo "$dest@$digest" >"$out/digest"
if [ -n "$kustomization" ]; then
  step "pinning $kustomization to $dest@$digest"
  /usr/bin/python3 - "$kustomization" "$dest" "$digest" <<'PY'
import re, sys
path, name, digest = sys.argv[1:]
text = open(path).read()
block = f"images:\n- name: sealift\n  newName: {name}\n  digest: {digest}\n"
new, n = re.subn(r"^images:\n(?:[- ] .*\n)*", block, text, flags=re.M)
if n != 1:
    sys.exit(f"release.sh: {path} has no images: block to pin")
open(path, "w").write(new)
PY
fi
echo "$dest@$digest"
