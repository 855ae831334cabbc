#!/usr/bin/env bash
# Installs everything sealift's build, tests, demo and benchmarks need on a Debian machine:
# Debian packages (only those missing) and the npm test tools pinned in tests/cel's lockfile.
# Idempotent: when everything is present it only checks, in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libcurl4-openssl-dev libyaml-dev libgit2-dev libssl-dev libjansson-dev libevent-dev
  zlib1g-dev libzstd-dev
  # NaCl secretbox for cosign's encrypted private keys (docs/security.md)
  libsodium-dev
  # tools the tests drive as real components
  openssl git curl jq python3 python3-yaml python3-kubernetes zstd dpkg
  docker-registry skopeo apache2-utils clamav debootstrap openssh-server
  # SBOMs checked against the CycloneDX and SPDX JSON schemas (mvn fetches SPDX's tools-java)
  python3-jsonschema maven
  # code style, static checks and benchmarks
  clang-format shellcheck cppcheck wrk hyperfine time bc
  # Argo CD health checks (docs/health) run under Debian's Lua in the e2e tests
  lua5.4
)
# Node.js and npm run the CEL evaluator; the machines ship them, else take Debian's.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# kubectl is preinstalled on the project's machines; Debian has no package for it.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "setup: kubectl is not installed; the tests and the demo need kubectl (v1.32)" >&2
  exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The docker-registry package starts a system service on install; tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi

if [ ! -d tests/cel/node_modules/@bufbuild/cel ] || \
   [ tests/cel/package-lock.json -nt tests/cel/node_modules/.package-lock.json ]; then
  echo "setup: installing npm test tools (tests/cel)"
  (cd tests/cel && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
