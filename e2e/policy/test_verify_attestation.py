"""`sealift verify-attestation` on what the real cosign v3.1.3 `cosign attest` wrote into a
docker-registry with Basic auth: the legacy .att tag and cosign v3's bundle referrers, the
newest by signed time, maxAge, findings, other keys and other types."""
import json
import os
import unittest

import procs
import registry as reglib
from attestlib import Cosign, vuln_predicate


class VerifyAttestationTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.reg = reglib.Registry(self, "vendor", users={"acme": "pw-acme"})
        layout = os.path.join(self.tmp, "layout")
        lay = reglib.Layout(layout)
        lay.tag(lay.image([1024], seed=41), "1.0")
        reglib.push(layout, "1.0", f"{self.reg.host}/acme/app:1.0", creds=self.reg.creds())
        self.digest = reglib.sha256_digest(reglib.inspect_raw(f"{self.reg.host}/acme/app:1.0",
                                                              self.reg.creds()))
        self.image = f"{self.reg.host}/acme/app@{self.digest}"
        self.cosign = Cosign(self.tmp, self.reg.host, self.reg.creds())
        self.pub = self.cosign.keypair("vendor")
        self.other_pub = self.cosign.keypair("other")

    def verify(self, *args, key=None):
        return procs.run([procs.SEALIFT, "verify-attestation", f"{self.reg.host}/acme/app:1.0",
                          "--key", key or self.pub, "--creds", self.reg.creds(), "--insecure",
                          *args], check=False)

    def test_cosign_attestations_newest_age_findings_keys(self):
        cp = self.verify("--type", "vuln")
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn(f"no vuln attestation of acme/app@{self.digest}", cp.stderr)

        # a month-old scan with a High finding (.att tag), then a scan 2h ago without (bundle)
        self.cosign.attest("vendor", self.image, "vuln",
                           vuln_predicate(24 * 30, [("CVE-2026-0001", "High")]))
        cp = self.verify("--type", "vuln", "--fail-on", "High")
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("lists 1 finding at or above High (CVE-2026-0001)", cp.stderr)
        cp = self.verify("--type", "vuln", "--max-age", "168h")
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("older than maxAge 168h0m", cp.stderr)

        self.cosign.attest("vendor", self.image, "vuln", vuln_predicate(2), bundle=True)
        cp = self.verify("--type", "vuln", "--max-age", "168h", "--fail-on", "High")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        statement = json.loads(cp.stdout)
        self.assertEqual(statement["predicateType"],
                         "https://cosign.sigstore.dev/attestation/vuln/v1")
        self.assertEqual(statement["predicate"]["scanner"]["result"]["vulnerabilities"], [])
        self.assertEqual(statement["subject"][0]["digest"]["sha256"], self.digest[7:])
        self.assertIn("(referrer)", cp.stderr)
        cp = self.verify("--type", "vuln", "--max-age", "1h")
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("older than maxAge 1h0m", cp.stderr)

        # signed by a key this verifier does not trust: not an attestation of the vendor
        cp = self.verify("--type", "vuln", key=self.other_pub)
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("2 vuln attestations, none signed by the trusted key", cp.stderr)
        self.assertIn("does not verify with key sha256:", cp.stderr)

        # another type: an SBOM is looked for among SPDX and CycloneDX statements only
        cp = self.verify("--type", "sbom")
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("no sbom attestation", cp.stderr)
        self.cosign.attest("vendor", self.image, "spdxjson", {
            "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "app",
            "creationInfo": {"created": "2026-01-02T03:04:05Z", "creators": ["Tool: test"]}})
        cp = self.verify("--type", "sbom")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("sbom attestation from 2026-01-02T03:04:05Z (https://spdx.dev/Document)",
                      cp.stderr)

        # usage errors are exit 2, a registry that is down exit 3
        self.assertEqual(self.verify("--type", "vulnerabilities").returncode, 2)
        self.assertEqual(self.verify("--type", "vuln", "--max-age", "soon").returncode, 2)
        self.assertEqual(self.verify("--type", "sbom", "--fail-on", "High").returncode, 2)
        self.reg.stop()
        self.assertEqual(self.verify("--type", "vuln").returncode, 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
