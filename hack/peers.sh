#!/usr/bin/env bash
# Test peers other than the Kubernetes control plane (hack/cluster.sh builds that): real client
# tools the tests and benches run next to sealift, built once from the Go module proxy at the
# versions pinned in hack/tools/<name>/go.mod and cached outside the work tree. Never part of
# the product, never downloaded as binaries.
#
#   hack/peers.sh build [NAME...]   build (once) the named peers, or all; prints each path
#   hack/peers.sh path NAME         print the cached binary's path (exit 1 when not built yet)
#   hack/peers.sh list              the known peers: NAME MODULE-DIR PACKAGE
#
# Environment: SEALIFT_TOOLS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/sealift/tools).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SEALIFT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sealift/tools}

# NAME MODULE-DIR(under hack/tools) PACKAGE: one line per peer. The version is the one go.mod
# pins for the package's module.
peers() {
  cat <<'EOF'
cosign cosign github.com/sigstore/cosign/v3/cmd/cosign
cosign2 cosign2 github.com/sigstore/cosign/v2/cmd/cosign
oras oras oras.land/oras/cmd/oras
helm helm helm.sh/helm/v4/cmd/helm
refregistry refregistry sealift.dev/hack/tools/refregistry
awsstandin cloudstandin sealift.dev/hack/tools/cloudstandin/aws
azurestandin cloudstandin sealift.dev/hack/tools/cloudstandin/azure
gcpstandin cloudstandin sealift.dev/hack/tools/cloudstandin/gcp
syft syft github.com/anchore/syft/cmd/syft
EOF
}

die() { echo "peers.sh: $*" >&2; exit 1; }

lookup() { # lookup NAME: prints "DIR PACKAGE" of a known peer
  local n d p
  while read -r n d p; do
    [ "$n" = "$1" ] && { echo "$d $p"; return 0; }
  done < <(peers)
  die "unknown peer '$1' (known: $(peers | cut -d' ' -f1 | tr '\n' ' '))"
}

version_of() { # version_of DIR PACKAGE: the version go.mod pins for the package's module
  local dir=$1 pkg=$2 mod v
  mod=$(cd "$here/tools/$dir" && GOFLAGS=-mod=mod go list -f '{{.Module.Path}} {{.Module.Version}}' "$pkg" 2>/dev/null) ||
    die "cannot resolve $pkg in hack/tools/$dir"
  v=${mod#* }
  echo "$v"
}

source_hash() { # source_hash DIR: 12 hex digits of the hash of DIR's .go files (all below it,
  # by path), go.mod and go.sum
  local dir=$1
  {
    find "$dir" -type f -name '*.go' -print0 | LC_ALL=C sort -z | xargs -0 -r cat
    cat "$dir/go.mod" "$dir/go.sum"
  } | sha256sum | cut -c1-12
}

out_path() { # out_path NAME: where the binary of NAME is cached
  local dp dir pkg v
  dp=$(lookup "$1"); dir=${dp% *}; pkg=${dp#* }
  # A peer whose main package lives in the module hack/tools/<dir> itself: the version is the
  # hash of the module's sources (every .go file below it, so that a change to a package the
  # peers of one module share rebuilds them all) and its go.mod and go.sum.
  case "$pkg" in sealift.dev/hack/tools/*)
    echo "$cache/$1-src$(source_hash "$here/tools/$dir")/$1"
    return 0 ;;
  esac
  # The version is read from go.mod directly (fast, no module download).
  v=$(awk -v m="$(module_of "$pkg" "$dir")" '$1 == m || ($1 == "require" && $2 == m) { print ($1 == "require" ? $3 : $2); exit }' \
    "$here/tools/$dir/go.mod")
  [ -n "$v" ] || v=$(version_of "$dir" "$pkg")
  echo "$cache/$1-$v/$1"
}

module_of() { # module_of PACKAGE DIR: the module in DIR's go.mod that PACKAGE belongs to
  local pkg=$1 dir=$2 m best=""
  while read -r m; do
    case "$pkg" in "$m" | "$m"/*) [ ${#m} -gt ${#best} ] && best=$m ;; esac
  done < <(awk '/^require \(/ { in_req = 1; next } in_req && /^\)/ { in_req = 0 }
    in_req { print $1 } /^require [^(]/ { print $2 }' "$here/tools/$dir/go.mod")
  echo "$best"
}

build_peer() { # build_peer NAME
  local name=$1 dp dir pkg out tmp
  dp=$(lookup "$name"); dir=${dp% *}; pkg=${dp#* }
  out=$(out_path "$name")
  if [ ! -x "$out" ]; then
    command -v go >/dev/null || die "go is needed to build $name (the project's machines have it)"
    echo "peers.sh: building $name from the Go module proxy (once; cached in $(dirname "$out"))" >&2
    tmp=$(mktemp -d)
    if ! (cd "$here/tools/$dir" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$tmp/$name" "$pkg") \
        >"$tmp/build.log" 2>&1; then
      tail -30 "$tmp/build.log" >&2
      rm -rf "$tmp"
      die "building $name ($pkg) failed"
    fi
    mkdir -p "$(dirname "$out")"
    mv "$tmp/$name" "$out"
    rm -rf "$tmp"
  fi
  echo "$out"
}

cmd=${1:-}
shift || true
case "$cmd" in
  build)
    if [ $# -eq 0 ]; then
      # shellcheck disable=SC2046
      set -- $(peers | cut -d' ' -f1)
    fi
    for n in "$@"; do build_peer "$n"; done
    ;;
  path)
    [ $# -eq 1 ] || die "usage: peers.sh path NAME"
    p=$(out_path "$1")
    [ -x "$p" ] || die "$1 is not built yet (run: hack/peers.sh build $1)"
    echo "$p"
    ;;
  list) peers ;;
  *) die "usage: peers.sh build [NAME...] | path NAME | list" ;;
esac
