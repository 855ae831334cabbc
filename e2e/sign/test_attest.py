"""`sealift attest` against a real docker-registry with auth, checked by the real cosign v3.1.3
(hack/peers.sh): `cosign verify-attestation --key PUB --type spdxjson|cyclonedx|vuln` accepts what
sealift wrote, and refuses it with another key. The CycloneDX SBOM validates against the
CycloneDX 1.5 JSON schema (python3-jsonschema). The image is Debian-like (os-release and a dpkg
status with libc6 2.36-9+deb12u1 and zlib1g); the advisories are the Debian tracker records of
the test data, pushed with `sealift db push`. The SPDX SBOM validates against the SPDX 2.3 JSON
schema (the SPDX project's own, from its tools-java Maven artifact)."""
import json
import os
import subprocess
import sys
import unittest

import procs
import registry as reglib

sys.path.insert(0, os.path.join(procs.SRC, "e2e", "scan"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attestlib  # noqa: E402
import scanlib  # noqa: E402

OLD_LIBC = "2.36-9+deb12u1"


class AttestCliTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.reg = reglib.Registry(self, "registry", users={"acme": "s3cret"})
        self.creds = self.reg.creds()
        layout = scanlib.debian_layout(os.path.join(self.tmp, "layout"), {"1.0": OLD_LIBC})
        self.image = f"{self.reg.host}/acme/app:1.0"
        scanlib.skopeo_push(layout, "1.0", self.image, self.creds)
        self.digest = reglib.sha256_digest(reglib.inspect_raw(self.image, self.creds))
        adv = scanlib.advisory_dir(os.path.join(self.tmp, "adv"))
        self.db = f"{self.reg.host}/security/advisories:latest"
        self.db_digest, _ = scanlib.db_push(adv, self.db, creds=self.creds)
        for name in ("sl", "other"):
            procs.run([procs.SEALIFT, "keygen", "--out", os.path.join(self.tmp, name)])
        self.key = os.path.join(self.tmp, "sl.key")
        self.pub = os.path.join(self.tmp, "sl.pub")
        self.other_pub = os.path.join(self.tmp, "other.pub")
        self.cosign = attestlib.Cosign(self.tmp, {self.reg.host: self.creds})

    def attest(self, *args, image=None):
        return subprocess.run([procs.SEALIFT, "attest", image or self.image, "--key", self.key,
                               "--creds", self.creds, "--insecure", *args],
                              capture_output=True, text=True, timeout=300)

    def verified(self, typ, pub=None):
        r = self.cosign.verify_attestation(self.image, pub or self.pub, typ)
        self.assertEqual(r.returncode, 0, f"cosign verify-attestation --type {typ}:\n{r.stderr}")
        sts = [s for s in attestlib.statements(r.stdout)
               if s["predicateType"] == attestlib.COSIGN_TYPES[typ]]
        self.assertTrue(sts, r.stdout)
        for s in sts:
            self.assertEqual(s["subject"][0]["digest"]["sha256"], self.digest[7:])
            self.assertEqual(s["subject"][0]["name"], f"{self.reg.host}/acme/app")
        return sts

    def test_sboms_verify_with_cosign_and_validate(self):
        r = self.attest("--type", "sbom")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{self.digest} attested: https://spdx.dev/Document (2 packages", r.stdout)
        r = self.attest("--type", "sbom", "--sbom-format", "cyclonedx")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 attestations at sha256-", r.stdout)

        spdx = self.verified("spdxjson")[-1]["predicate"]
        self.assertEqual(spdx["spdxVersion"], "SPDX-2.3")
        pkgs = {p["name"]: p for p in spdx["packages"]}
        self.assertEqual(pkgs["libc6"]["versionInfo"], OLD_LIBC)
        self.assertEqual(pkgs["zlib1g"]["versionInfo"], "1:1.2.13.dfsg-1")
        self.assertEqual(pkgs["debian"]["primaryPackagePurpose"], "OPERATING_SYSTEM")

        cdx = self.verified("cyclonedx")[-1]["predicate"]
        comps = {c["name"]: c for c in cdx["components"]}
        self.assertEqual(comps["libc6"]["purl"],
                         "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?distro=debian-12")
        validator, why = attestlib.cyclonedx_validator(self.tmp)
        if validator is None:
            self.skipTest(why)
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}"
                  for e in validator.iter_errors(cdx)]
        self.assertEqual(errors, [])
        # the schema check is real: a document it must refuse
        cdx["serialNumber"] = "not-a-uuid"
        self.assertTrue(list(validator.iter_errors(cdx)))
        spdx_validator, why = attestlib.spdx_validator(self.tmp)
        if spdx_validator is None:
            self.skipTest(why)
        self.assertEqual(attestlib.schema_errors(spdx_validator, spdx), [])
        # the SPDX schema check is real too: a document it must refuse
        broken = json.loads(json.dumps(spdx))
        broken["packages"][0]["primaryPackagePurpose"] = "LIB"
        self.assertTrue(attestlib.schema_errors(spdx_validator, broken))

        # another key verifies nothing
        r = self.cosign.verify_attestation(self.image, self.other_pub, "spdxjson")
        self.assertNotEqual(r.returncode, 0, r.stdout)

    def test_vuln_report_verifies_with_cosign(self):
        r = self.attest("--type", "vuln", "--db", self.db)
        self.assertEqual(r.returncode, 0, r.stderr)
        pred = self.verified("vuln")[-1]["predicate"]
        self.assertEqual(pred["scanner"]["db"]["version"], self.db_digest)
        self.assertEqual(pred["scanner"]["version"], procs.run([procs.SEALIFT, "version"])
                         .stdout.split()[1])
        self.assertLessEqual(pred["metadata"]["scanStartedOn"], pred["metadata"]["scanFinishedOn"])
        found = {(f["id"], f["package"]): f for f in pred["scanner"]["result"]["findings"]}
        self.assertEqual(found[("CVE-2023-4911", "libc6")]["fixedVersion"], "2.36-9+deb12u3")
        self.assertEqual(found[("CVE-2023-4911", "libc6")]["installedVersion"], OLD_LIBC)
        self.assertEqual(sum(pred["scanner"]["result"]["summary"].values()),
                         len([f for f in found.values() if not f["allowlisted"]]))
        # a second report is added next to the first; both verify, the newest is last
        r = self.attest("--type", "vuln", "--db", self.db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.verified("vuln")), 2)

    def test_vex_marks_findings_suppressed(self):
        """--vex: a finding the vendor's OpenVEX says the image is not affected by is in the
        signed report with suppressed: true and the statement (admission does not count it)."""
        from test_vex import JUSTIFICATION, openvex
        vex = os.path.join(self.tmp, "app.openvex.json")
        with open(vex, "w") as f:
            f.write(openvex(self.digest, f"{self.reg.host}/acme/app",
                            justification=JUSTIFICATION))
        r = self.attest("--type", "vuln", "--db", self.db, "--vex", vex)
        self.assertEqual(r.returncode, 0, r.stderr)
        pred = self.verified("vuln")[-1]["predicate"]
        libc = [f for f in pred["scanner"]["result"]["findings"] if f["id"] == "CVE-2023-4911"]
        self.assertEqual(len(libc), 1, pred)
        self.assertTrue(libc[0]["suppressed"])
        self.assertEqual(libc[0]["vex"]["justification"], JUSTIFICATION)
        # without --vex the same finding is not suppressed
        r = self.attest("--type", "vuln", "--db", self.db)
        self.assertEqual(r.returncode, 0, r.stderr)
        pred = self.verified("vuln")[-1]["predicate"]
        libc = [f for f in pred["scanner"]["result"]["findings"] if f["id"] == "CVE-2023-4911"]
        self.assertFalse(libc[0]["suppressed"])
        # --vex is for vulnerability reports, and an invalid document is a usage error
        r = self.attest("--type", "sbom", "--vex", vex)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--vex applies to --type vuln only", r.stderr)
        with open(vex, "w") as f:
            f.write('{"@context": "https://openvex.dev/ns/v0.2.0", "statements": 5}')
        r = self.attest("--type", "vuln", "--db", self.db, "--vex", vex)
        self.assertEqual(r.returncode, 2)
        self.assertIn("invalid VEX document", r.stderr)

    def test_bundle_format_verifies_with_cosign(self):
        r = self.attest("--type", "sbom", "--format", "bundle")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(".att", r.stdout)
        self.verified("spdxjson")

    def test_index_every_platform(self):
        """A multi-platform tag: attest (no --platform) writes one attestation per platform;
        verify-attestation on the index wants every platform attested and names the one that
        is not, as admission does."""
        lay = reglib.Layout(os.path.join(self.tmp, "multi"))
        idx = lay.index([lay.image([2048], arch="amd64", seed=1),
                         lay.image([2048], arch="arm64", seed=2)])
        lay.tag(idx, "1.0")
        image = f"{self.reg.host}/acme/multi:1.0"
        reglib.push(lay.path, "1.0", image, self.creds, all_platforms=True)

        def verify():
            return subprocess.run([procs.SEALIFT, "verify-attestation", image, "--key", self.pub,
                                   "--type", "sbom", "--creds", self.creds, "--insecure"],
                                  capture_output=True, text=True, timeout=120)
        r = self.attest("--type", "sbom", "--platform", "linux/amd64", image=image)
        self.assertEqual(r.returncode, 0, r.stderr)
        v = verify()
        self.assertEqual(v.returncode, 1, v.stderr)
        self.assertIn("platform linux/arm64", v.stderr)
        self.assertIn("no sbom attestation", v.stderr)

        r = self.attest("--type", "sbom", image=image)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertEqual(len(lines), 2, r.stdout)
        self.assertIn("linux/amd64", lines[0])
        self.assertIn("linux/arm64", lines[1])
        v = verify()
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertIn("every platform of the index (2)", v.stderr)

    def test_exit_codes(self):
        r = self.attest("--type", "vuln")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--type vuln needs --db", r.stderr)
        r = subprocess.run([procs.SEALIFT, "attest", self.image, "--key", self.key, "--type",
                            "sbom", "--creds", "acme:wrong", "--insecure"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 3, r.stderr)
        r = subprocess.run([procs.SEALIFT, "attest", self.image, "--key", self.pub, "--type",
                            "sbom", "--creds", self.creds, "--insecure"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.attest("--type", "sbom", "--platform", "linux")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn('--platform must be OS/ARCH[/VARIANT], not "linux"', r.stderr)
        r = subprocess.run([procs.SEALIFT, "attest", "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        for flag in ("--type", "--sbom-format", "--db", "--format", "Exit codes", "Example"):
            self.assertIn(flag, r.stdout)


if __name__ == "__main__":
    unittest.main()
