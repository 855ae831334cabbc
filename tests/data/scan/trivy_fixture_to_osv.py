#!/usr/bin/python3
"""Convert Trivy's fixture vulnerability database (integration/testdata/fixtures/db/*.yaml) to
OSV records, one JSON file per advisory, for sealift's scanner tests.

usage: trivy_fixture_to_osv.py FIXTURE_DB_DIR OUT_DIR

Buckets "debian 9" / "alpine 3.10" / "alpine edge" become the OSV ecosystems "Debian:9",
"Alpine:v3.10", "Alpine:edge"; each package entry becomes an ECOSYSTEM range introduced "0"
with the FixedVersion as "fixed" (no fix: the range stays open). Entries marked not affected
(Status 1) are dropped.

Severity follows Trivy's choice so reports can be compared with its golden files: the
advisory's own vendor severity, else the vulnerability's VendorSeverity for the data source,
else NVD's, else the plain Severity. When that choice is NVD's and NVD gives a CVSS v3 vector,
the vector is emitted (OSV severity[] CVSS_V3) so the scanner computes the rating itself per the
CVSS 3.1 specification; otherwise the name goes to database_specific.severity.
Needs only the Python standard library and PyYAML.
"""
import json
import os
import sys

import yaml

SEVERITY_NAMES = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
NOT_AFFECTED = 1
DATA_SOURCE_IDS = {"debian": "debian", "alpine": "alpine", "ubuntu": "ubuntu"}


def severity_name(value):
    if isinstance(value, (int, float)):
        i = int(value)
        return SEVERITY_NAMES[i] if 0 <= i < len(SEVERITY_NAMES) else "UNKNOWN"
    return str(value).upper() if value else "UNKNOWN"


def ecosystem(bucket):
    distro, _, release = bucket.partition(" ")
    if distro == "debian":
        return "Debian:" + release
    if distro == "alpine":
        return "Alpine:" + ("edge" if release == "edge" else "v" + release)
    if distro == "ubuntu":
        return "Ubuntu:" + release
    return None


def load_vulnerabilities(db_dir):
    path = os.path.join(db_dir, "vulnerability.yaml")
    details = {}
    if not os.path.exists(path):
        return details
    with open(path) as f:
        for bucket in yaml.safe_load(f) or []:
            if bucket.get("bucket") != "vulnerability":
                continue
            for pair in bucket.get("pairs") or []:
                details[pair["key"]] = pair.get("value") or {}
    return details


def choose_severity(advisory, vuln, source_id):
    """Returns (severity name, CVSS v3 vector or None)."""
    if advisory.get("Severity"):
        return severity_name(advisory["Severity"]), None
    vendor = vuln.get("VendorSeverity") or {}
    if source_id in vendor:
        return severity_name(vendor[source_id]), None
    if "nvd" in vendor:
        vector = ((vuln.get("CVSS") or {}).get("nvd") or {}).get("V3Vector")
        return severity_name(vendor["nvd"]), vector
    return severity_name(vuln.get("Severity")), None


def convert(db_dir, out_dir):
    details = load_vulnerabilities(db_dir)
    os.makedirs(out_dir, exist_ok=True)
    count = 0
    for name in sorted(os.listdir(db_dir)):
        if not name.endswith(".yaml") or name in ("vulnerability.yaml", "data-source.yaml"):
            continue
        with open(os.path.join(db_dir, name)) as f:
            buckets = yaml.safe_load(f) or []
        for bucket in buckets:
            eco = ecosystem(bucket.get("bucket", ""))
            if not eco:
                continue
            source_id = DATA_SOURCE_IDS.get(bucket["bucket"].split(" ")[0], "")
            for pkg in bucket.get("pairs") or []:
                for pair in pkg.get("pairs") or []:
                    adv = pair.get("value") or {}
                    if adv.get("Status") == NOT_AFFECTED:
                        continue
                    vuln_id = pair["key"]
                    vuln = details.get(vuln_id, {})
                    events = [{"introduced": "0"}]
                    if adv.get("FixedVersion"):
                        events.append({"fixed": adv["FixedVersion"]})
                    sev, vector = choose_severity(adv, vuln, source_id)
                    record = {
                        "schema_version": "1.6.0",
                        "id": vuln_id,
                        "modified": "2024-01-01T00:00:00Z",
                        "affected": [{
                            "package": {"ecosystem": eco, "name": pkg["bucket"]},
                            "ranges": [{"type": "ECOSYSTEM", "events": events}],
                        }],
                        "database_specific": {"severity": sev},
                    }
                    if vuln.get("Title"):
                        record["summary"] = vuln["Title"]
                    if vector:
                        record["severity"] = [{"type": "CVSS_V3", "score": vector}]
                    fname = "%s-%s-%s.json" % (eco.replace(":", "_"), pkg["bucket"], vuln_id)
                    with open(os.path.join(out_dir, fname), "w") as f:
                        json.dump(record, f, indent=1)
                    count += 1
    return count


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    n = convert(sys.argv[1], sys.argv[2])
    print("wrote %d OSV records" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
