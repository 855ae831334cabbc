#!/bin/bash
# Assembles an advisory database directory for `sealift scan --db` / `sealift db push` from
# files downloaded beforehand (this script downloads nothing); see docs/advisories.md.
#
# usage: hack/advisory-db.sh OUTDIR FILE...
#   FILE: an OSV record or array (.json), an osv.dev export (.zip of OSV records), the Debian
#   security tracker JSON (split here into parts below sealift's 16 MiB per-file limit), an
#   Alpine secdb file (.json or .yaml), or a vuln-list-debian tracker entry.
# Each file is recognised by content; one that is not recognised stops the script (exit 2)
# before anything is written. OUTDIR must be new or empty.
set -euo pipefail

usage() { sed -n 2,10p "$0" | sed 's/^# \{0,1\}//'; }
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    usage
    exit 0
fi
if [ $# -lt 2 ]; then
    usage >&2
    exit 2
fi
exec /usr/bin/python3 - "$@" <<'PY'
import json
import os
import sys
import zipfile

MAX = 16 << 20          # sealift's per-file limit (SL_ADVDB_MAX_FILE)
PART = 8 << 20          # tracker parts are kept well below it
out, files = sys.argv[1], sys.argv[2:]


def die(msg):
    print("advisory-db.sh: " + msg, file=sys.stderr)
    sys.exit(2)


def is_osv(doc):
    return isinstance(doc, dict) and "id" in doc and ("affected" in doc or "modified" in doc)


def kind_of(path, data):
    """'osv-zip', 'osv', 'tracker', 'tracker-entry', 'secdb', or None."""
    if data[:4] == b"PK\x03\x04":
        return "osv-zip"
    text = data.lstrip()
    if text[:1] in (b"{", b"["):
        try:
            doc = json.loads(data)
        except ValueError as exc:
            die("%s: not valid JSON (%s)" % (path, exc))
        if isinstance(doc, list):
            return "osv" if doc and all(is_osv(r) for r in doc) else None
        if is_osv(doc):
            return "osv"
        if "Header" in doc and "Annotations" in doc:
            return "tracker-entry"
        if "packages" in doc or "secfixes" in doc:
            return "secdb"
        first = next(iter(doc.values()), None)
        if isinstance(first, dict):
            rec = next(iter(first.values()), None)
            if isinstance(rec, dict) and "releases" in rec:
                return "tracker"
        return None
    # YAML: Alpine secdb (distroversion / packages / secfixes keys at the top level)
    head = text[:4096].decode("utf-8", "replace")
    if any(line.startswith(k) for line in head.splitlines()
           for k in ("distroversion:", "packages:", "secfixes:", "name:")):
        return "secdb"
    return None


plan = []
for path in files:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        die("%s: %s" % (path, exc.strerror))
    kind = kind_of(path, data)
    if kind is None:
        die("%s: not an OSV record or export, Debian security tracker JSON or Alpine secdb "
            "file" % path)
    if kind != "osv-zip" and kind != "tracker" and len(data) > MAX:
        die("%s: larger than 16 MiB; split it first" % path)
    plan.append((path, kind, data))

if os.path.exists(out) and os.listdir(out):
    die("%s: exists and is not empty" % out)
os.makedirs(out, exist_ok=True)
counts = {}
for n, (path, kind, data) in enumerate(plan, 1):
    base = os.path.basename(path)
    if kind == "osv-zip":
        dest = os.path.join(out, "osv", "%02d-%s" % (n, os.path.splitext(base)[0]))
        os.makedirs(dest, exist_ok=True)
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = os.path.basename(info.filename)
                if info.is_dir() or not name.endswith(".json") or info.file_size > MAX:
                    continue
                with open(os.path.join(dest, name), "wb") as f:
                    f.write(z.read(info))
                counts["OSV records"] = counts.get("OSV records", 0) + 1
    elif kind == "tracker":
        doc = json.loads(data)
        dest = os.path.join(out, "debian-tracker")
        os.makedirs(dest, exist_ok=True)
        part, size, idx = {}, 0, 0
        items = sorted(doc.items())
        for i, (pkg, cves) in enumerate(items):
            blob = json.dumps({pkg: cves}, separators=(",", ":"))
            if len(blob) > MAX:
                die("%s: package %s alone is larger than 16 MiB" % (path, pkg))
            part[pkg] = cves
            size += len(blob)
            if size >= PART or i == len(items) - 1:
                idx += 1
                with open(os.path.join(dest, "%02d-tracker-%03d.json" % (n, idx)), "w") as f:
                    json.dump(part, f, separators=(",", ":"))
                part, size = {}, 0
        counts["Debian tracker parts"] = counts.get("Debian tracker parts", 0) + idx
    else:
        sub = {"osv": "osv", "tracker-entry": "debian-tracker", "secdb": "alpine"}[kind]
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        with open(os.path.join(out, sub, "%02d-%s" % (n, base)), "wb") as f:
            f.write(data)
        label = {"osv": "OSV files", "tracker-entry": "Debian tracker entries",
                 "secdb": "Alpine secdb files"}[kind]
        counts[label] = counts.get(label, 0) + 1
if not counts:
    die("no advisory file written to %s" % out)
print("%s: %s" % (out, ", ".join("%d %s" % (v, k) for k, v in sorted(counts.items()))))
PY
