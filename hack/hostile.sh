#!/usr/bin/env bash
# Runs the hostile-input corpus against a built sealift binary and prints, per case, what it
# cost: exit code, the first line of the error (or of the report), wall time and peak RSS.
#
#   hack/hostile.sh [CASE...]     all cases, or only the named ones
#
# The binary comes from $SEALIFT_BIN, else build-test/sealift, else build/sealift; nothing is
# built here. The corpus (tests/data/scan/hostile.py: tar tricks, whiteout floods, a gzip bomb,
# deep paths, huge dpkg databases, deeply nested YAML) is generated into a temporary directory
# with /usr/bin/python3 and removed at the end. Each case runs under `timeout` (CASE_TIMEOUT,
# default 60 s) and the whole run stops starting cases after HOSTILE_BUDGET seconds (default
# 1200); every process started here is stopped on exit.
#
# A case is a shell function case_NAME that calls `run NAME COMMAND...`. Cases that need a
# peer process start it with `spawn COMMAND...` (stopped on exit) and then call `run`: a
# registry whose tag list never ends (1 MiB of tags a page) and one that drips a manifest at 2
# bytes a second are two such cases (the drip costs about 150 s: 5 attempts, each cut by the
# client's low-speed limit after 30 s; run with CASE_TIMEOUT=200 to see it end).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

bin=${SEALIFT_BIN:-}
if [ -z "$bin" ]; then
  for b in build-test/sealift build/sealift; do
    [ -x "$b" ] && { bin=$src/$b; break; }
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "hostile.sh: no sealift binary (set SEALIFT_BIN)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "hostile.sh: GNU time (/usr/bin/time) is needed" >&2; exit 2; }
py=/usr/bin/python3
case_timeout=${CASE_TIMEOUT:-60}
budget=${HOSTILE_BUDGET:-1200}
started=$SECONDS

work=$(mktemp -d "${TMPDIR:-/tmp}/sealift-hostile.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn COMMAND...: starts a peer process in the background, stopped when the script ends.
spawn() {
  "$@" >>"$work/peers.log" 2>&1 &
  pids+=("$!")
}

# run NAME COMMAND...: runs one case with a time bound and prints its line.
run() {
  local name=$1
  shift
  if (( SECONDS - started > budget )); then
    printf '%-22s skipped: the %ss budget of this run is spent\n' "$name" "$budget"
    return 0
  fi
  local out=$work/$name.out err=$work/$name.err stats=$work/$name.time rc=0
  /usr/bin/time -o "$stats" -f '%e %M' timeout -k 5 "$case_timeout" "$@" >"$out" 2>"$err" || rc=$?
  local wall rss first
  read -r wall rss < <(tail -n 1 "$stats" 2>/dev/null || echo "? ?")
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    first="timed out after ${case_timeout}s"
  else
    first=$(grep -m1 -v '^\s*$' "$err" 2>/dev/null || true)
    [ -n "$first" ] || first=$(grep -m1 -E '"result"|^Result:' "$out" 2>/dev/null | tr -s ' ' || true)
  fi
  first=${first//$work\//}
  first=$(sed -E 's/(sha256:[0-9a-f]{12})[0-9a-f]{52}/\1…/g' <<<"$first")
  printf '%-22s exit=%-3s %7ss %9s KiB  %s\n' "$name" "$rc" "$wall" "$rss" "${first:0:150}"
}

# peer MODE: starts a hostile registry on a free 127.0.0.1 port (printed into $work/MODE.port):
#   tags  8192 tags of 128 bytes a page, each page linking to the next, forever
#   drip  a manifest that announces 4 MiB and sends 2 bytes a second
peer() {
  local mode=$1
  cat >"$work/peer.py" <<'PY'
import json, socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
mode, portfile = sys.argv[1], sys.argv[2]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def send(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        try:
            if self.path in ("/v2/", "/v2"):
                return self.send(200, b"{}")
            if mode == "tags" and "/tags/list" in self.path:
                page = int(self.path.rsplit("page=", 1)[1]) if "page=" in self.path else 0
                tags = ["t%07d-%s" % (page * 8192 + i, "x" * 119) for i in range(8192)]
                body = json.dumps({"name": "acme/app", "tags": tags}).encode()
                link = '</v2/acme/app/tags/list?page=%d>; rel="next"' % (page + 1)
                return self.send(200, body, extra=[("Link", link)])
            if mode == "drip" and "/manifests/" in self.path:
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Content-Length", str(4 << 20))
                self.end_headers()
                for _ in range(4 << 20):
                    self.wfile.write(b"  ")
                    self.wfile.flush()
                    time.sleep(1)
            self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
        except (BrokenPipeError, ConnectionResetError):
            pass
    do_HEAD = do_GET
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
open(portfile + ".tmp", "w").write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
  spawn "$py" "$work/peer.py" "$mode" "$work/$mode.port"
  for _ in $(seq 100); do [ -s "$work/$mode.port" ] && break; sleep 0.1; done
  cat "$work/$mode.port"
}

# a registry whose tag list never ends, 1 MiB of valid tags a page: the client stops at its bound
case_huge_tag_list() {
  local probe=$src/build-test/e2e/registry/registry_probe port
  [ -x "$probe" ] || { printf '%-22s skipped: needs build-test/e2e/registry/registry_probe\n' huge-tag-list; return 0; }
  port=$(peer tags)
  run huge-tag-list "$probe" "127.0.0.1:$port" - tags acme/app 100
}

# a registry that sends a manifest at 2 bytes a second: the copy gives up, it does not wait weeks
case_slow_drip_manifest() {
  local port
  port=$(peer drip)
  run slow-drip-manifest "$bin" copy "127.0.0.1:$port/acme/app:1" "127.0.0.1:$port/mirror/app:1" \
    --src-insecure --dest-insecure
}

scan_case() {
  run "$1" "$bin" scan "$2" --db "$db" --baseline=setuid,private-key --fail-on High
}

echo "sealift: $bin"
echo "generating the corpus in $work ..."
"$py" "$src/tests/data/scan/hostile.py" generate "$work/corpus"
# advisories: the Debian tracker records and CVE-2099-0001 (Critical, glibc < 2.36-9+deb12u4)
db=$work/db
mkdir -p "$db"
cp -r "$src/tests/data/scan/advisories/aquasecurity/vuln-list-debian/tracker" "$db/tracker"
cp "$src/tests/data/scan/osv/sample.json" "$db/"
printf '%-22s %-8s %8s %13s  %s\n' case exit wall "peak RSS" "first line of the error (or the result)"

only=" $* "
while IFS=$'\t' read -r name kind target _note; do
  if [ -n "${*:-}" ] && [[ $only != *" $name "* ]]; then
    continue
  fi
  case $kind in
    scan) scan_case "$name" "$target" ;;
    render) run "$name" "$bin" policy render "$target" ;;
  esac
done <"$work/corpus/cases.tsv"

# cases written as functions (case_NAME), e.g. ones that need a registry peer
for fn in $(declare -F | awk '{print $3}' | grep '^case_' || true); do
  name=${fn#case_}
  if [ -n "${*:-}" ] && [[ $only != *" $name "* ]]; then
    continue
  fi
  "$fn"
done
