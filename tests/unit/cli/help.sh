#!/bin/sh
# Every subcommand the dispatcher lists (`sealift --help`) answers --help on stdout with exit 0:
# its usage, its flags, its exit codes and an example; so do the sub-subcommands. An unknown
# flag is a usage error (exit 2). usage: help.sh SEALIFT
set -u
bin=$1
fail=0
top=$("$bin" --help) || { echo "FAIL sealift --help exited non-zero"; fail=1; }
cmds=$(printf '%s\n' "$top" | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' | grep -v '^version$')
[ "$(printf '%s\n' "$cmds" | wc -l)" -ge 9 ] || { echo "FAIL sealift --help lists too few commands: $cmds"; fail=1; }
printf '%s\n' "$top" | grep -q 'COMMAND --help' || { echo "FAIL sealift --help does not point at COMMAND --help"; fail=1; }
check() {
    out=$($bin "$@" --help 2>/dev/null)
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "FAIL sealift $* --help: exit $rc"; fail=1; return
    fi
    for want in "usage: sealift $1" "Exit codes:" "Example" "--help"; do
        printf '%s\n' "$out" | grep -q -e "$want" || { echo "FAIL sealift $* --help: no \"$want\""; fail=1; return; }
    done
    echo "ok   sealift $* --help"
}
for cmd in $cmds; do
    check "$cmd"
done
check db push
check policy render
# the flags each credentialed command takes are described in its help
for cmd in copy sign verify verify-attestation scan scanner-adapter "db push"; do
    # shellcheck disable=SC2086
    out=$($bin $cmd --help)
    for flag in creds-file SEALIFT_; do
        printf '%s\n' "$out" | grep -q -e "$flag" || { echo "FAIL sealift $cmd --help does not describe $flag"; fail=1; }
    done
done
# an unknown flag is a usage error (exit 2), not help
for cmd in "policy render" copy "db push" sign scan; do
    # shellcheck disable=SC2086
    $bin $cmd --no-such-flag > /dev/null 2>&1
    rc=$?
    [ $rc -eq 2 ] || { echo "FAIL sealift $cmd --no-such-flag exited $rc, not 2"; fail=1; }
done
# scanner-adapter: --client-ca (mutual TLS) is described, and needs --tls-cert-dir (exit 2)
$bin scanner-adapter --help | grep -q -e "--client-ca FILE" || { echo "FAIL sealift scanner-adapter --help does not describe --client-ca"; fail=1; }
out=$($bin scanner-adapter --listen 127.0.0.1:0 --db /nonexistent --no-auth --client-ca /nonexistent 2>&1)
rc=$?
[ $rc -eq 2 ] || { echo "FAIL sealift scanner-adapter --client-ca without --tls-cert-dir exited $rc, not 2"; fail=1; }
printf '%s\n' "$out" | grep -q -e "--client-ca needs --tls-cert-dir" || { echo "FAIL scanner-adapter --client-ca without --tls-cert-dir: $out"; fail=1; }
# hack/demo.sh --help prints its options and starts nothing
demo=$(dirname "$0")/../../../hack/demo.sh
out=$(bash "$demo" --help) || { echo "FAIL hack/demo.sh --help exited non-zero"; fail=1; }
printf '%s\n' "$out" | grep -q -e "--keep" || { echo "FAIL hack/demo.sh --help does not describe --keep"; fail=1; }
exit $fail
