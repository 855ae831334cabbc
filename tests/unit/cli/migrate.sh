#!/bin/sh
# `sealift migrate` on files, as a user runs it on a GitOps checkout: what it rewrites, what it
# leaves alone, --check for CI, stdin, and a file with invalid YAML named by FILE:LINE and left
# as it was while the other files are migrated. usage: migrate.sh SEALIFT SOURCE_ROOT
set -u
bin=$1
src=$2
fail=0
t=$(mktemp -d "${TMPDIR:-/tmp}/sealift-migrate.XXXXXX")
trap 'rm -rf "$t"' EXIT
bad() { echo "FAIL $*"; fail=1; }

mkdir -p "$t/repo/apps/nested" "$t/repo/.git" "$t/other"
cp "$src/tests/data/migrate/mixed.yaml" "$t/repo/apps/mixed.yaml"
chmod 640 "$t/repo/apps/mixed.yaml"
cp "$src/tests/data/api/v1alpha1-full.yaml" "$t/repo/apps/nested/full.yml"
cp "$src/tests/data/api/v1beta1-full.yaml" "$t/repo/beta.yaml"
cp "$src/tests/data/migrate/mixed.yaml" "$t/repo/notes.txt"
cp "$src/tests/data/migrate/mixed.yaml" "$t/repo/.git/config.yaml"
cp "$src/tests/data/migrate/mixed.yaml" "$t/other/linked.yaml"
ln -s "$t/other/linked.yaml" "$t/repo/linked.yaml"
snapshot() { (cd "$t" && find repo other -type f | sort | xargs md5sum); }
before=$(snapshot)

# --check: exit 1, names what it would rewrite, writes nothing
"$bin" migrate --check "$t/repo/" > "$t/out" 2> "$t/err"
rc=$?
[ $rc -eq 1 ] || bad "migrate --check on v1alpha1 files exited $rc, not 1"
[ "$(snapshot)" = "$before" ] || bad "migrate --check changed files"
grep -q "repo/apps/mixed.yaml:2: would rewrite ImageDelivery/acme-app to v1beta1" "$t/err" ||
    bad "migrate --check does not name mixed.yaml:2 ImageDelivery/acme-app: $(cat "$t/err")"
grep -q "repo/apps/nested/full.yml:264: would rewrite GitSource/full-git" "$t/err" ||
    bad "migrate --check does not walk into nested folders or .yml files"
grep -q "15 documents in 2 files need rewriting to v1beta1" "$t/err" ||
    bad "migrate --check summary: $(tail -1 "$t/err")"
if grep -q -e "notes.txt" -e ".git/" -e "linked.yaml" -e "beta.yaml" "$t/err"; then
    bad "migrate --check read a file it must skip: $(cat "$t/err")"
fi
[ -s "$t/out" ] && bad "migrate --check printed on stdout"

# the rewrite: the two files change, the rest does not; the reviewed expected text
"$bin" migrate "$t/repo" 2> "$t/err"
rc=$?
[ $rc -eq 0 ] || bad "migrate exited $rc: $(cat "$t/err")"
cmp -s "$t/repo/apps/mixed.yaml" "$src/tests/data/migrate/mixed.v1beta1.yaml" ||
    bad "mixed.yaml is not the expected v1beta1 text"
grep -q "mixed.yaml:5: warning: 2 comments inside ImageDelivery/acme-app" "$t/err" ||
    bad "no warning about the lost comments: $(cat "$t/err")"
[ "$(stat -c %a "$t/repo/apps/mixed.yaml")" = 640 ] || bad "the rewritten file lost its mode"
grep -q "apiVersion: sealift.dev/v1alpha1" "$t/repo/apps/nested/full.yml" && bad "full.yml still has v1alpha1"
for f in repo/beta.yaml repo/notes.txt repo/.git/config.yaml other/linked.yaml; do
    [ "$(cd "$t" && md5sum "$f")" = "$(printf '%s\n' "$before" | grep " $f\$")" ] || bad "$f changed"
done
[ -L "$t/repo/linked.yaml" ] || bad "the symbolic link was replaced"
[ -n "$(find "$t/repo" -name "*.migrate-*")" ] && bad "a temporary file was left behind"

# a symbolic link named on the command line: its target is rewritten, the link stays
"$bin" migrate "$t/repo/linked.yaml" 2> "$t/err"
rc=$?
[ $rc -eq 0 ] || bad "migrate of a symbolic link exited $rc: $(cat "$t/err")"
[ -L "$t/repo/linked.yaml" ] || bad "migrate replaced the symbolic link named on the command line"
cmp -s "$t/other/linked.yaml" "$src/tests/data/migrate/mixed.v1beta1.yaml" || bad "the link's target was not migrated"
grep -q "repo/linked.yaml:2: rewrote ImageDelivery/acme-app" "$t/err" || bad "the link is not named as given: $(cat "$t/err")"

# a second run finds nothing: exit 0 for --check
"$bin" migrate --check "$t/repo" 2> "$t/err"
rc=$?
[ $rc -eq 0 ] || bad "migrate --check after migrating exited $rc: $(cat "$t/err")"

# stdin to stdout
"$bin" migrate - < "$src/tests/data/migrate/mixed.yaml" > "$t/stdout" 2> "$t/err"
rc=$?
[ $rc -eq 0 ] || bad "migrate - exited $rc"
cmp -s "$t/stdout" "$src/tests/data/migrate/mixed.v1beta1.yaml" || bad "migrate - printed other text"
grep -q "(stdin):37: rewrote ScanPolicy/report-only" "$t/err" || bad "migrate - does not name (stdin):37"

# invalid YAML: FILE:LINE, file left alone, the other file still migrated, exit 2
mkdir "$t/broken"
printf 'apiVersion: sealift.dev/v1alpha1\nkind: GitSource\nmetadata:\n  name: [x\n' > "$t/broken/a.yaml"
cp "$src/tests/data/migrate/mixed.yaml" "$t/broken/b.yaml"
cp "$t/broken/a.yaml" "$t/a.orig"
"$bin" migrate "$t/broken" 2> "$t/err"
rc=$?
[ $rc -eq 2 ] || bad "migrate with invalid YAML exited $rc, not 2"
grep -q "broken/a.yaml:5 column .*(file left unchanged)" "$t/err" ||
    bad "invalid YAML not reported as FILE:LINE: $(cat "$t/err")"
cmp -s "$t/broken/a.yaml" "$t/a.orig" || bad "the invalid file was changed"
cmp -s "$t/broken/b.yaml" "$src/tests/data/migrate/mixed.v1beta1.yaml" || bad "the valid file next to it was not migrated"
[ "$(ls -a "$t/broken" | wc -l)" -eq 4 ] || bad "files left behind: $(ls -a "$t/broken")"

# usage errors
"$bin" migrate > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || bad "migrate without PATH exited $rc, not 2"
"$bin" migrate --to v1alpha1 "$t/repo" > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || bad "migrate --to v1alpha1 exited $rc, not 2"
"$bin" migrate "$t/nonexistent" > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || bad "migrate of a missing path exited $rc, not 2"
[ $fail -eq 0 ] && echo "ok   sealift migrate"
exit $fail
