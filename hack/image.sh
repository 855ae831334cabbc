#!/usr/bin/env bash
# Builds sealift's container image without a container daemon, as an OCI image layout in the
# folder OUT (new or empty), tagged with the version, and prints the image's digest (the image
# index's) on stdout. The binary is the release build (build/, meson buildtype release, as
# hack/demo.sh builds it); the image holds exactly the shared libraries that binary needs (the
# loader's own resolution of its dynamic section, copied from where Debian installed them, with
# their symlinks and their packages' dpkg records and copyright files), the CA certificates and
# a numeric non-root user (65532:65532); no shell, no package manager.
#
# Reproducible: the same commit built on the same machine (same Debian libraries) gives the same
# digest. Every timestamp is the commit's time (or SOURCE_DATE_EPOCH when set); entries are
# sorted, owners numeric, gzip carries no name or time.
#
#   hack/image.sh OUT
#
# Environment: SEALIFT_SOURCE_URL (the org.opencontainers.image.source annotation; default: the
# git remote "origin", else left out), SOURCE_DATE_EPOCH (the timestamps; default: the commit's).
set -euo pipefail
die() { echo "image.sh: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: hack/image.sh OUT"
out=$1
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  die "$out is not empty (an image layout is written into a new or empty folder)"
fi
cd "$(dirname "$0")/.."
src=$(pwd)

[ -f build/build.ninja ] || meson setup build -Dbuildtype=release >/dev/null
ninja -C build sealift >/dev/null

# "sealift 0.1.0 (commit <sha>)": the version and commit the binary itself reports.
line=$(build/sealift version)
version=$(sed -n 's/^sealift \([^ ]*\) (commit \([^)]*\))$/\1/p' <<<"$line")
commit=$(sed -n 's/^sealift \([^ ]*\) (commit \([^)]*\))$/\2/p' <<<"$line")
[ -n "$version" ] && [ -n "$commit" ] || die "unexpected 'sealift version' output: $line"
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  created=$SOURCE_DATE_EPOCH
elif [ "$commit" != unknown ]; then
  created=$(git -C "$src" log -1 --format=%ct "$commit")
else
  die "the build has no git commit: set SOURCE_DATE_EPOCH for the image's timestamps"
fi
source_url=${SEALIFT_SOURCE_URL-$(git -C "$src" remote get-url origin 2>/dev/null || true)}
[ -n "$source_url" ] || echo "image.sh: no SEALIFT_SOURCE_URL and no git remote: the source annotation is left out" >&2

case "$out" in /*) ;; *) out=$OLDPWD/$out ;; esac
exec /usr/bin/python3 "$src/hack/image/layout.py" "$out" "$src/build/sealift" "$version" "$commit" \
  "$created" "$source_url"
