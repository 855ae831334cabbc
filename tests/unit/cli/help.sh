#!/bin/sh
# Every subcommand answers --help with its usage on stdout and exit 0, and the top-level help
# lists every subcommand. usage: help.sh SEALIFT
set -u
bin=$1
fail=0
top=$("$bin" --help) || { echo "FAIL sealift --help exited non-zero"; fail=1; }
for cmd in controller copy sign verify scan scanner-adapter "db push" "policy render" keygen; do
    out=$($bin $cmd --help 2>/dev/null)
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "FAIL sealift $cmd --help: exit $rc"; fail=1
    elif ! printf '%s\n' "$out" | grep -q "usage: sealift $cmd"; then
        echo "FAIL sealift $cmd --help: no \"usage: sealift $cmd\" on stdout"; fail=1
    else
        echo "ok   sealift $cmd --help"
    fi
    first=${cmd%% *}
    printf '%s\n' "$top" | grep -q "^  $first " || { echo "FAIL sealift --help does not list $first"; fail=1; }
done
# an unknown flag is a usage error (exit 2), not help
$bin policy render --no-such-flag > /dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL an unknown flag did not exit 2"; fail=1; }
exit $fail
