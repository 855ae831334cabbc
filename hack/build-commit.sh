#!/bin/sh
# Prints the git commit of the source tree SRC for `sealift version` (meson's vcs_tag runs it at
# build time) and exits 0; exits 1 without output when SRC is not the top of its own git checkout,
# so a source tarball unpacked inside some other repository does not borrow that repository's
# commit (vcs_tag then writes "unknown").   usage: build-commit.sh SRC
top=$(git -C "$1" rev-parse --show-toplevel 2>/dev/null) || exit 1
[ "$top" = "$(cd "$1" && pwd -P)" ] || exit 1
exec git -C "$1" rev-parse HEAD
