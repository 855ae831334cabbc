#!/bin/sh
# `sealift version` names the version and the git commit the binary was built from; the commit
# helper refuses a folder that is not the top of its own git checkout (the build then says
# "unknown"). usage: version.sh SEALIFT VERSION SRC
set -u
bin=$1 version=$2 src=$3
fail=0
out=$("$bin" version) || { echo "FAIL sealift version exited non-zero"; fail=1; }
want=$(sh "$src/hack/build-commit.sh" "$src") || want=unknown
if [ "$out" = "sealift $version (commit $want)" ]; then
    echo "ok   sealift version: $out"
else
    echo "FAIL sealift version printed \"$out\", expected \"sealift $version (commit $want)\""
    fail=1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git init -q "$tmp/outer" && mkdir "$tmp/outer/sealift-0.1.0" "$tmp/plain"
for d in "$tmp/outer/sealift-0.1.0" "$tmp/plain"; do
    if got=$(sh "$src/hack/build-commit.sh" "$d" 2>/dev/null); then
        echo "FAIL build-commit.sh named commit \"$got\" for a tree outside its own git checkout"
        fail=1
    else
        echo "ok   build-commit.sh refuses $(basename "$d") (the build says unknown)"
    fi
done
exit $fail
