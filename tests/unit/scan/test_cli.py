#!/usr/bin/python3
"""`sealift scan` end to end on OCI layouts built at test time (no network): Debian tracker
records on a bookworm image (current glibc: nothing; older glibc: both advisories), Alpine secdb
entries, whiteouts across layers, zstd layers, baseline rules, the EICAR test file with a .hsb
signature (cross-checked with clamscan), SARIF 2.1.0 shape, and input errors (exit 2).

usage: test_cli.py SEALIFT_BINARY DATA_DIR"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SEALIFT = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SEALIFT_BIN", "sealift")
DATA = sys.argv[2] if len(sys.argv) > 2 else "tests/data/scan"
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, DATA)
import ociimage  # noqa: E402

ADV = os.path.join(DATA, "advisories")
BOOKWORM = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\n' \
           'VERSION_CODENAME=bookworm\nID=debian\n'
# assembled at run time so this file is not itself flagged by virus scanners
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-" + "ANTIVIRUS-TEST-FILE!$H+H*"


class ScanCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sl-scan-cli-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def layout(self, name, layers, config=None, tag="t"):
        path = os.path.join(self.tmp, name)
        ociimage.write_layout(path, [{"tag": tag, "layers": layers, "config": config or {}}])
        return path

    def debian_db(self):
        db = os.path.join(self.tmp, "debian-db")
        os.makedirs(db, exist_ok=True)
        src = os.path.join(ADV, "aquasecurity", "vuln-list-debian", "tracker")
        for sub, name in [("CVE/2023", "CVE-2023-4911.json"), ("CVE/2024", "CVE-2024-5535.json"),
                          ("DSA", "DSA-5514-1.json"), ("DSA", "DSA-5673-1.json"),
                          ("DSA", "DSA-5724-1.json")]:
            shutil.copy(os.path.join(src, sub, name), os.path.join(db, name))
        shutil.copy(os.path.join(ADV, "google", "osv.dev", "vulnfeeds", "test_data", "debian",
                                 "debian_security_tracker_mock.json"), db)
        return db

    def scan(self, image, db, *args, fmt="json"):
        p = subprocess.run([SEALIFT, "scan", image, "--db", db, "--format", fmt, *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        out = None
        if fmt in ("json", "sarif") and p.returncode in (0, 1):
            try:
                out = json.loads(p.stdout)
            except ValueError:
                self.fail("exit %d without a JSON report: %s" % (p.returncode, p.stderr))
        return p, out

    def bookworm(self, libc_version):
        status = ociimage.dpkg_status([("libc6", libc_version, "glibc"),
                                       ("libc-bin", libc_version, "glibc"),
                                       ("openssh-client", "1:9.2p1-2+deb12u3", "openssh"),
                                       ("bash", "5.2.15-2+b7", None)])
        tar = ociimage.make_tar([
            {"path": "etc", "type": "dir"},
            {"path": "usr/lib/os-release", "content": BOOKWORM},
            {"path": "etc/os-release", "type": "symlink", "link": "../usr/lib/os-release"},
            {"path": "var/lib/dpkg/status", "content": status}])
        return self.layout("bookworm-" + libc_version, [(tar, "gzip")],
                           {"config": {"User": "1000"}})

    def test_debian_tracker_current_and_old_glibc(self):
        db = self.debian_db()
        p, out = self.scan("oci:" + self.bookworm("2.36-9+deb12u13") + ":t", db)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out["os"]["ecosystem"], "debian:12")
        self.assertEqual(out["packages"], 4)
        glibc = [v for v in out["vulnerabilities"] if v["sourcePackage"] == "glibc"]
        self.assertEqual(glibc, [])
        p, out = self.scan("oci:" + self.bookworm("2.36-9+deb12u1") + ":t", db,
                           "--fail-on", "Low")
        found = {(v["package"], v["id"], v["fixedVersion"]) for v in out["vulnerabilities"]}
        for pkg in ("libc6", "libc-bin"):
            self.assertIn((pkg, "CVE-2023-4911", "2.36-9+deb12u3"), found)
            self.assertIn((pkg, "CVE-2024-2961", "2.36-9+deb12u6"), found)
        # tracker records carry no severity: Unknown never meets a threshold
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(all(v["severity"] == "Unknown" for v in out["vulnerabilities"]))

    def test_mixed_formats_and_docs(self):
        # tracker entries, tracker JSON, Alpine secdb YAML/JSON and OSV in one directory tree,
        # with documentation files that are skipped
        db = self.debian_db()
        shutil.copytree(os.path.join(ADV, "aquasecurity", "vuln-list"), os.path.join(db, "alpine"))
        shutil.copytree(os.path.join(ADV, "anchore"), os.path.join(db, "anchore"))
        shutil.copy(os.path.join(ADV, "SOURCES.md"), db)
        shutil.copy(os.path.join(DATA, "osv", "sample.json"), db)
        with open(os.path.join(db, "README"), "w") as f:
            f.write("Advisories for: the scanner\n")
        image = "oci:" + self.bookworm("2.36-9+deb12u1") + ":t"
        p, out = self.scan(image, db)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertGreater(out["database"]["records"], 100)
        self.assertTrue(out["database"]["digest"].startswith("sha256:"))
        ids = {v["id"] for v in out["vulnerabilities"]}
        self.assertIn("CVE-2023-4911", ids)
        self.assertIn("CVE-2099-0001", ids)  # OSV, introduced 2.36-1, fixed 2.36-9+deb12u4
        # a file of no known format fails the load, naming the file
        with open(os.path.join(db, "notes.json"), "w") as f:
            f.write('{"hello": "world"}')
        p, _ = self.scan(image, db)
        self.assertEqual(p.returncode, 2)
        self.assertIn("notes.json", p.stderr)

    def test_alpine_secdb(self):
        db = os.path.join(self.tmp, "alpine-db")
        os.makedirs(db)
        for rel in ("3.22/main/musl.json", "3.22/main/busybox.json", "3.22/main/openssl.json"):
            shutil.copy(os.path.join(ADV, "aquasecurity", "vuln-list", "alpine", rel),
                        os.path.join(db, rel.replace("/", "_")))
        installed = ociimage.apk_installed([("musl", "1.2.5-r9", "musl"),
                                            ("musl-utils", "1.2.5-r9", "musl"),
                                            ("libcrypto3", "3.5.0-r0", "openssl")])
        tar = ociimage.make_tar([
            {"path": "etc/os-release", "content": "ID=alpine\nVERSION_ID=3.22.1\n"},
            {"path": "lib/apk/db/installed", "content": installed}])
        image = "oci:" + self.layout("alpine", [(tar, "gzip")]) + ":t"
        p, out = self.scan(image, db)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out["os"]["ecosystem"], "alpine:3.22")
        ids = {(v["package"], v["id"], v["fixedVersion"]) for v in out["vulnerabilities"]}
        for pkg in ("musl", "musl-utils"):
            self.assertIn((pkg, "CVE-2025-26519", "1.2.5-r10"), ids)
            self.assertIn((pkg, "CVE-2026-6042", "1.2.5-r11"), ids)
            self.assertNotIn((pkg, "CVE-2020-28928", "1.2.2_pre2-r0"), ids)
        with open(os.path.join(db, "3.22_main_openssl.json")) as f:
            secfixes = json.load(f)["secfixes"]
        want_openssl = {cve for fixed, cves in secfixes.items() if fixed != "0" for cve in cves}
        got_openssl = {v["id"] for v in out["vulnerabilities"] if v["package"] == "libcrypto3"}
        self.assertTrue(got_openssl <= want_openssl)

    def test_whiteout_and_zstd_layers(self):
        db = self.debian_db()
        base = ociimage.make_tar([
            {"path": "etc/os-release", "content": BOOKWORM},
            {"path": "var/lib/dpkg/status",
             "content": ociimage.dpkg_status([("libc6", "2.36-9+deb12u1", "glibc")])},
            {"path": "usr/bin/sudo", "content": "elf", "mode": 0o4755}])
        upper = ociimage.make_tar([
            {"path": "var/lib/dpkg/status",
             "content": ociimage.dpkg_status([("libc6", "2.36-9+deb12u10", "glibc")])},
            {"path": "usr/bin/.wh.sudo", "content": ""}])
        image = "oci:" + self.layout("layers", [(base, "gzip"), (upper, "zstd")]) + ":t"
        p, out = self.scan(image, db, "--baseline=setuid")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out["vulnerabilities"], [])
        self.assertEqual([b for b in out["baseline"] if b["rule"] == "setuid"], [])
        # the base layer alone still has both
        image = "oci:" + self.layout("base", [(base, "none")]) + ":t"
        p, out = self.scan(image, db, "--baseline=setuid")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(out["failed"], ["baseline"])
        self.assertIn({"rule": "setuid", "subject": "usr/bin/sudo", "enforced": True},
                      out["baseline"])
        self.assertGreater(len(out["vulnerabilities"]), 0)

    def test_baseline_rules(self):
        db = self.debian_db()
        key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----\n"
        tar = ociimage.make_tar([
            {"path": "etc/os-release", "content": BOOKWORM},
            {"path": "srv/app/key.pem", "content": key},
            {"path": "srv/app/cert.pem", "content": "-----BEGIN CERTIFICATE-----\nx\n"}])
        cfg = {"config": {"User": "", "Env": ["PATH=/usr/bin", "DB_PASSWORD=hunter2",
                                              "API_TOKEN=", "PASSWORD_FILE=/run/secrets/pw"]}}
        image = "oci:" + self.layout("baseline", [(tar, "gzip")], cfg) + ":t"
        p, out = self.scan(image, db)
        self.assertEqual(p.returncode, 0, p.stderr)  # reported, not enforced
        rules = {(b["rule"], b["subject"], b["enforced"]) for b in out["baseline"]}
        self.assertEqual(rules, {("root-user", "(unset: root)", False),
                                 ("secret-env", "DB_PASSWORD", False),
                                 ("private-key", "srv/app/key.pem", False)})
        self.assertNotIn("hunter2", p.stdout)
        p, out = self.scan(image, db, "--baseline")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(out["failed"], ["baseline"])
        p, _ = self.scan(image, db, "--baseline", fmt="table")
        self.assertIn("Result: FAIL (baseline rules violated)", p.stdout)
        self.assertNotIn("hunter2", p.stdout)

    def test_eicar_malware_agrees_with_clamscan(self):
        db = self.debian_db()
        digest = hashlib.sha256(EICAR.encode()).hexdigest()
        hsb = os.path.join(self.tmp, "sigs.hsb")
        with open(hsb, "w") as f:
            f.write("# test signatures\n%s:%d:Eicar-Test-Signature-sealift\n" %
                    (digest, len(EICAR)))
        eicar_file = os.path.join(self.tmp, "eicar.com")
        with open(eicar_file, "w") as f:
            f.write(EICAR)
        clam = subprocess.run(["clamscan", "--no-summary", "-d", hsb, eicar_file],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(clam.returncode, 1, clam.stdout + clam.stderr)  # 1 = found
        self.assertIn("Eicar-Test-Signature-sealift", clam.stdout)
        tar = ociimage.make_tar([
            {"path": "etc/os-release", "content": BOOKWORM},
            {"path": "opt/payload/eicar.com", "content": EICAR},
            {"path": "opt/payload/other.txt", "content": EICAR[:-1] + "!"}])
        image = "oci:" + self.layout("malware", [(tar, "gzip")]) + ":t"
        p, out = self.scan(image, db, "--malware", hsb)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(out["malware"], [{"path": "opt/payload/eicar.com",
                                           "signature": "Eicar-Test-Signature-sealift"}])
        self.assertEqual(out["failed"], ["malware"])
        # without signatures nothing is reported
        p, out = self.scan(image, db)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(out["malware"], [])

    def test_sarif_shape(self):
        db = self.debian_db()
        image = "oci:" + self.bookworm("2.36-9+deb12u1") + ":t"
        p, sarif = self.scan(image, db, "--baseline=setuid", fmt="sarif")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sarif["version"], "2.1.0")
        self.assertIn("sarif-2.1.0", sarif["$schema"])
        run = sarif["runs"][0]
        self.assertEqual(run["tool"]["driver"]["name"], "sealift")
        rules = run["tool"]["driver"]["rules"]
        rule_ids = [r["id"] for r in rules]
        self.assertEqual(len(rule_ids), len(set(rule_ids)))
        self.assertIn("CVE-2023-4911", rule_ids)
        for res in run["results"]:
            self.assertEqual(rule_ids[res["ruleIndex"]], res["ruleId"])
            self.assertIn(res["level"], ("error", "warning", "note"))
            self.assertTrue(res["message"]["text"])
            self.assertTrue(res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])

    def test_image_index_platforms(self):
        db = self.debian_db()
        path = os.path.join(self.tmp, "multiarch")
        # two single-image layouts written side by side, then an index over both manifests
        manifests = []
        for arch, libc in (("arm64", "2.36-9+deb12u1"), ("amd64", "2.36-9+deb12u13")):
            tar = ociimage.make_tar([
                {"path": "etc/os-release", "content": BOOKWORM},
                {"path": "var/lib/dpkg/status",
                 "content": ociimage.dpkg_status([("libc6", libc, "glibc")])}])
            ociimage.write_layout(path, [{"tag": arch, "layers": [(tar, "gzip")],
                                          "config": {"architecture": arch}}])
            with open(os.path.join(path, "index.json")) as f:
                desc = json.load(f)["manifests"][0]
            desc["platform"] = {"os": "linux", "architecture": arch}
            del desc["annotations"]
            manifests.append(desc)
        index = json.dumps({"schemaVersion": 2, "manifests": manifests,
                            "mediaType": "application/vnd.oci.image.index.v1+json"}).encode()
        idigest = hashlib.sha256(index).hexdigest()
        with open(os.path.join(path, "blobs", "sha256", idigest), "wb") as f:
            f.write(index)
        with open(os.path.join(path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [{
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": "sha256:" + idigest, "size": len(index),
                "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}, f)
        # default platform linux/amd64: the current glibc, nothing to report
        p, out = self.scan("oci:%s:multi" % path, db)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out["vulnerabilities"], [])
        self.assertEqual(out["digest"], manifests[1]["digest"])
        p, out = self.scan("oci:%s:multi" % path, db, "--platform", "linux/arm64")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out["digest"], manifests[0]["digest"])
        self.assertIn("CVE-2023-4911", {v["id"] for v in out["vulnerabilities"]})
        p, _ = self.scan("oci:%s:multi" % path, db, "--platform", "linux/s390x")
        self.assertEqual(p.returncode, 2)
        self.assertIn("no linux/s390x image", p.stderr)

    def test_input_errors(self):
        db = self.debian_db()
        image = "oci:" + self.bookworm("2.36-9+deb12u1") + ":t"
        cases = [
            ([image], "--db is required"),
            ([image, "--db", "/nonexistent-sealift-db"], "not found"),
            ([image, "--db", db, "--format", "xml"], "--format"),
            ([image, "--db", db, "--fail-on", "Severe"], "--fail-on"),
            (["oci:" + self.tmp + "/nope:t", "--db", db], "index.json"),
            ([image[:-2] + ":missing", "--db", db], "tag \"missing\""),
            ([image, "--db", os.path.join(DATA, "pkgdb")], "not an advisory document"),
            (["127.0.0.1:1/x:1", "--db", db, "--platform", "linux"], "--platform"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                p = subprocess.run([SEALIFT, "scan", *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, timeout=60)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(msg, p.stderr)
                self.assertEqual(p.stdout, "")
        # registry images: an unreachable registry is a remote error (exit 3), no network
        # needed (127.0.0.1:1 refuses connections)
        p = subprocess.run([SEALIFT, "scan", "127.0.0.1:1/x:1", "--db", db], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("127.0.0.1:1", p.stderr)
        self.assertIn("unreachable", p.stderr)

    def test_empty_database_is_refused(self):
        # an empty folder, documentation only, or records for ecosystems the scanner does not
        # match: no verdict can rest on that, for `scan` (even with --fail-on) and `db push`
        image = "oci:" + self.bookworm("2.36-9+deb12u1") + ":t"
        empty = os.path.join(self.tmp, "empty-db")
        os.makedirs(empty)
        docs = os.path.join(self.tmp, "docs-db")
        os.makedirs(os.path.join(docs, "sub"))
        for name in ("README.md", "notes.txt", "sub/LICENSE"):
            with open(os.path.join(docs, name), "w") as f:
                f.write("not advisories\n")
        pypi = os.path.join(self.tmp, "pypi-db")
        os.makedirs(pypi)
        with open(os.path.join(pypi, "PYSEC-2024-1.json"), "w") as f:
            json.dump({"id": "PYSEC-2024-1", "modified": "2024-01-01T00:00:00Z", "affected": [
                {"package": {"ecosystem": "PyPI", "name": "requests"},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                             {"fixed": "2.31.0"}]}]}]}, f)
        cases = [(empty, ["0 advisory files read"]),
                 (docs, ["passed over as not advisories: README.md, notes.txt, sub/LICENSE"]),
                 (pypi, ["1 advisory files read, 1 entries skipped"])]
        for db, msgs in cases:
            with self.subTest(db=db):
                for fmt in ("table", "json"):
                    p = subprocess.run([SEALIFT, "scan", image, "--db", db, "--fail-on", "low",
                                        "--format", fmt], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, timeout=60)
                    self.assertEqual(p.returncode, 2, p.stderr)
                    self.assertEqual(p.stdout, "")
                    self.assertNotIn("PASS", p.stderr)
                    self.assertIn("advisory database %s: no advisory records" % db, p.stderr)
                    self.assertIn("OSV JSON records", p.stderr)
                    self.assertIn("Debian security tracker JSON", p.stderr)
                    self.assertIn("Alpine secdb", p.stderr)
                    for m in msgs:
                        self.assertIn(m, p.stderr)
                # db push refuses before contacting the registry (127.0.0.1:1 refuses
                # connections: a contact would be exit 3)
                p = subprocess.run([SEALIFT, "db", "push", db, "127.0.0.1:1/advisories:1"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   timeout=60)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertEqual(p.stdout, "")
                self.assertIn("%s: no advisory records" % db, p.stderr)
                self.assertNotIn("pushed", p.stderr)
                for m in msgs:
                    self.assertIn(m, p.stderr)
        # one real record next to the documentation is enough
        shutil.copy(os.path.join(self.debian_db(), "CVE-2023-4911.json"), docs)
        p, out = self.scan(image, docs, "--fail-on", "low")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertGreater(out["database"]["records"], 0)

    def test_hack_advisory_db_builds_a_loadable_directory(self):
        # hack/advisory-db.sh from downloaded-style files: an osv.dev export zip, a Debian
        # tracker JSON, an Alpine secdb YAML, a vuln-list-debian entry; `scan` loads the result
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                              "hack", "advisory-db.sh")
        import zipfile
        export = os.path.join(self.tmp, "all.zip")
        with open(os.path.join(DATA, "osv", "sample.json")) as f:
            records = json.load(f)
        with zipfile.ZipFile(export, "w") as z:
            for rec in records:
                z.writestr(rec["id"] + ".json", json.dumps(rec))
        tracker = os.path.join(ADV, "google", "osv.dev", "vulnfeeds", "test_data", "debian",
                               "debian_security_tracker_mock.json")
        secdb = os.path.join(ADV, "anchore", "vunnel", "tests", "unit", "providers", "alpine",
                             "test-fixtures", "input", "secdb", "v3.15", "main.yaml")
        entry = os.path.join(ADV, "aquasecurity", "vuln-list-debian", "tracker", "DSA",
                             "DSA-5514-1.json")
        out = os.path.join(self.tmp, "built-db")
        # a file it does not recognise: exit 2 naming it, nothing written
        junk = os.path.join(self.tmp, "notes.json")
        with open(junk, "w") as f:
            f.write('{"hello": "world"}')
        p = subprocess.run(["bash", script, out, export, junk], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(junk, p.stderr)
        self.assertFalse(os.path.exists(out))
        p = subprocess.run(["bash", script, out, export, tracker, secdb, entry],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("3 OSV records", p.stdout)
        self.assertIn("1 Alpine secdb files", p.stdout)
        p, rep = self.scan("oci:" + self.bookworm("2.36-9+deb12u1") + ":t", out,
                           "--fail-on", "Critical")
        self.assertEqual(p.returncode, 1, p.stderr)
        ids = {v["id"] for v in rep["vulnerabilities"]}
        self.assertIn("CVE-2099-0001", ids)  # from the zip export
        self.assertIn("CVE-2023-4911", ids)  # from the DSA entry

    def test_result_says_what_was_evaluated(self):
        # glibc 2.36-9+deb12u1 has advisories (no severity in tracker data: Unknown)
        db = self.debian_db()
        image = "oci:" + self.bookworm("2.36-9+deb12u1") + ":t"
        p, _ = self.scan(image, db, fmt="table")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("PASS", p.stdout)
        self.assertRegex(p.stdout, r"Result: not evaluated \(no --fail-on given\): \d+ Unknown\n")
        p, out = self.scan(image, db)
        self.assertEqual(out["result"], "not-evaluated")
        self.assertIsNone(out["failOn"])
        p, out = self.scan(image, db, fmt="sarif")
        self.assertEqual(out["runs"][0]["properties"]["result"], "not-evaluated")
        p, out = self.scan(image, db, "--fail-on", "low")
        self.assertEqual((p.returncode, out["result"]), (0, "pass"))
        p, _ = self.scan(image, db, "--fail-on", "low", fmt="table")
        self.assertIn("Result: PASS (nothing at or above Low)\n", p.stdout)
        # a failing baseline rule without --fail-on: FAIL for the rule, the vulnerabilities
        # listed as not judged
        tar = ociimage.make_tar([{"path": "usr/lib/os-release", "content": BOOKWORM}])
        root = "oci:" + self.layout("root", [(tar, "gzip")], {"config": {"User": ""}}) + ":t"
        p, _ = self.scan(root, db, "--baseline=root-user", fmt="table")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("Result: FAIL (baseline rules violated); vulnerabilities not evaluated "
                      "(no --fail-on given): no vulnerabilities found\n", p.stdout)

    def test_vex_suppresses_findings(self):
        # CVE-2099-0001 (Critical) in glibc fails the scan until the vendor's OpenVEX document
        # says the image is not affected; the report names the statement's justification
        db = os.path.join(self.tmp, "osv-db")
        os.makedirs(db)
        shutil.copy(os.path.join(DATA, "osv", "sample.json"), db)
        image = "oci:" + self.bookworm("2.36-9+deb12u1") + ":t"
        p, out = self.scan(image, db, "--fail-on", "High")
        self.assertEqual(p.returncode, 1, p.stderr)
        digest = out["digest"]

        def vex_file(name, status, product, **extra):
            stmt = {"vulnerability": {"name": "CVE-2099-0001"}, "products": [{"@id": product}],
                    "status": status, **extra}
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                json.dump({"@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:x:" + name,
                           "author": "Vendor", "timestamp": "2026-01-10T08:00:00Z",
                           "version": 1, "statements": [stmt]}, f)
            return path
        purl = "pkg:oci/app@" + digest.replace(":", "%3A")
        good = vex_file("vendor.json", "not_affected", purl,
                        justification="vulnerable_code_not_in_execute_path")
        p, out = self.scan(image, db, "--fail-on", "High", "--vex", good)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        sup = [v for v in out["vulnerabilities"] if v["id"] == "CVE-2099-0001"]
        self.assertTrue(sup and all(v["vexSuppressed"] for v in sup), out["vulnerabilities"])
        self.assertEqual(sup[0]["vex"], {"status": "not_affected",
                                         "justification": "vulnerable_code_not_in_execute_path",
                                         "impactStatement": None, "document": good})
        self.assertEqual(out["summary"]["Critical"], 0)
        self.assertEqual(out["summary"]["vexSuppressed"], len(sup))
        p, _ = self.scan(image, db, "--fail-on", "High", "--vex", good, fmt="table")
        self.assertIn("VEX not_affected: vulnerable_code_not_in_execute_path", p.stdout)
        self.assertIn("Result: PASS", p.stdout)
        # a statement for another image, or "affected", changes nothing
        other = vex_file("other.json", "not_affected", "sha256:" + "1" * 64,
                         justification="component_not_present")
        affected = vex_file("affected.json", "affected", digest)
        for path in (other, affected):
            p, out = self.scan(image, db, "--fail-on", "High", "--vex", path)
            self.assertEqual(p.returncode, 1, path)
        # a later "affected" statement in a second document overrides the first
        later = vex_file("later.json", "affected", purl, timestamp="2026-02-01T00:00:00Z")
        p, _ = self.scan(image, db, "--fail-on", "High", "--vex", good, "--vex", later)
        self.assertEqual(p.returncode, 1)
        # invalid VEX is an input error, never a silent pass
        bad = vex_file("bad.json", "not_affected", purl)
        p, _ = self.scan(image, db, "--fail-on", "High", "--vex", bad)
        self.assertEqual(p.returncode, 2)
        self.assertIn("invalid VEX document: " + bad + ": statements[0]: Required value: a "
                      "not_affected statement needs a justification", p.stderr)
        p, _ = self.scan(image, db, "--vex", os.path.join(self.tmp, "missing.json"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("missing.json: cannot be read", p.stderr)

    def test_corrupt_and_bomb_layers(self):
        db = self.debian_db()
        bomb = ociimage.make_tar([{"path": "zeros", "content": b"\0" * (24 << 20)}])
        image = "oci:" + self.layout("bomb", [(bomb, "gzip")]) + ":t"
        p, _ = self.scan(image, db)
        self.assertEqual(p.returncode, 2)
        self.assertIn("decompression ratio exceeds 100:1", p.stderr)
        # a layer blob whose bytes do not match its digest
        path = self.bookworm("2.36-9+deb12u1")
        with open(os.path.join(path, "index.json")) as f:
            mdigest = json.load(f)["manifests"][0]["digest"].split(":")[1]
        with open(os.path.join(path, "blobs", "sha256", mdigest)) as f:
            ldigest = json.load(f)["layers"][0]["digest"].split(":")[1]
        with open(os.path.join(path, "blobs", "sha256", ldigest), "ab") as f:
            f.write(b"\0" * 512)
        p, _ = self.scan("oci:" + path + ":t", db)
        self.assertEqual(p.returncode, 2)
        self.assertIn("does not match its digest", p.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
