"""ImageDelivery spec.sign.attestations end to end: `sealift controller` against a real API server
and docker-registry accounts with auth delivers a two-platform Debian-like index (os-release and a
dpkg status; the amd64 image has an old libc6, the arm64 one a fixed libc6) under a report-only
ScanPolicy and a generated SigningKey. The real cosign v3.1.3 `verify-attestation` then checks,
for each platform manifest in the customer's registry, the SPDX SBOM and the vulnerability
report with the public key the SigningKey published (and refuses another key); a short
rescanInterval makes the controller write a fresh report next to the first."""
import json
import os
import sys
import unittest

import procs
import registry as reg
from imdlib import CUSTOMER, NS, VENDOR, ImdTestCase

sys.path.insert(0, os.path.join(procs.SRC, "e2e", "scan"))
sys.path.insert(0, os.path.join(procs.SRC, "e2e", "sign"))
import attestlib  # noqa: E402
import scanlib  # noqa: E402

V = ":".join(VENDOR)
C = ":".join(CUSTOMER)
OLD_LIBC = "2.36-9+deb12u1"
NEW_LIBC = "2.36-9+deb12u7"


class AttestationsTest(ImdTestCase):
    def setUp(self):
        super().setUp()
        adv = scanlib.advisory_dir(os.path.join(self.tmp, "advisories"))
        self.db_image = f"{self.vendor.host}/security/advisories:v1"
        self.db_digest, _ = scanlib.db_push(adv, self.db_image, creds=V)
        layout = os.path.join(self.tmp, "multi")
        self.index = scanlib.debian_multiarch_layout(layout, OLD_LIBC, NEW_LIBC)
        scanlib.skopeo_push(layout, "multi", f"{self.vendor.host}/acme/app:multi", V,
                            all_platforms=True)
        idx = json.loads(reg.inspect_raw(f"{self.vendor.host}/acme/app@{self.index}", V))
        self.children = {m["platform"]["architecture"]: m["digest"] for m in idx["manifests"]}
        self.apply(f"""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {{name: vendor-release, namespace: {NS}}}
spec:
  mode: Generate
  secretRef: {{name: vendor-release-key}}
  publishKey: {{configMapRef: {{name: vendor-release-pub}}}}
---
apiVersion: sealift.dev/v1beta1
kind: ScanPolicy
metadata: {{name: default, namespace: {NS}}}
spec:
  database:
    image: {self.db_image}
    insecure: true
    secretRef: {{name: vendor-pull}}
  severityThreshold: Critical
  action: Warn
  rescanInterval: 20s
""")
        self.kube.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", NS,
                          "signingkey/vendor-release")
        cm = json.loads(self.kube.kubectl("get", "configmap", "vendor-release-pub", "-n", NS,
                                          "-o", "json").stdout)
        self.pub = os.path.join(self.tmp, "release.pub")
        with open(self.pub, "w") as f:
            f.write(cm["data"]["cosign.pub"])
        procs.run([procs.SEALIFT, "keygen", "--out", os.path.join(self.tmp, "other")])
        self.other_pub = os.path.join(self.tmp, "other.pub")
        self.cosign = attestlib.Cosign(self.tmp, {self.customer.host: C})

    def verified(self, digest, typ, pub=None):
        ref = f"{self.customer.host}/mirror/app@{digest}"
        r = self.cosign.verify_attestation(ref, pub or self.pub, typ)
        self.assertEqual(r.returncode, 0, f"verify-attestation --type {typ} {ref}:\n{r.stderr}")
        sts = [s for s in attestlib.statements(r.stdout)
               if s["predicateType"] == attestlib.COSIGN_TYPES[typ]]
        self.assertTrue(sts, r.stdout)
        for s in sts:
            self.assertEqual(s["subject"][0]["digest"]["sha256"], digest[7:])
        return sts

    def target_attestations(self, obj):
        return obj["status"]["images"][0]["targets"][0].get("attestations") or {}

    def test_every_platform_attested_and_rescanned(self):
        self.delivery("app", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['multi']\n",
                      extra_spec="  scanPolicyRef: {name: default}\n"
                                 "  sign: {signingKeyRef: {name: vendor-release}}\n",
                      interval="2s")
        obj = self.wait_for_status(
            "app", lambda o: self.target_attestations(o).get("images") == 2, timeout=180,
            what="attestations of both platforms")
        att = self.target_attestations(obj)
        self.assertEqual(att["sbom"], "spdx")
        self.assertTrue(att["vuln"])
        self.assertEqual(att["database"], self.db_digest)
        first_report_at = att["vulnAttestedAt"]
        self.wait_ready("app", timeout=120)

        for arch, libc in (("amd64", OLD_LIBC), ("arm64", NEW_LIBC)):
            digest = self.children[arch]
            spdx = self.verified(digest, "spdxjson")[-1]["predicate"]
            pkgs = {p["name"]: p.get("versionInfo") for p in spdx["packages"]}
            self.assertEqual(pkgs["libc6"], libc, arch)
            self.assertEqual(pkgs["zlib1g"], "1:1.2.13.dfsg-1", arch)
            vuln = self.verified(digest, "vuln")[-1]["predicate"]
            self.assertEqual(vuln["scanner"]["db"]["version"], self.db_digest)
            ids = {(f["id"], f["package"]) for f in vuln["scanner"]["result"]["findings"]}
            if arch == "amd64":
                self.assertIn(("CVE-2023-4911", "libc6"), ids)
            else:
                self.assertNotIn(("CVE-2023-4911", "libc6"), ids)
            r = self.cosign.verify_attestation(f"{self.customer.host}/mirror/app@{digest}",
                                               self.other_pub, "vuln")
            self.assertNotEqual(r.returncode, 0, "another key verified the report")

        # the ScanPolicy's rescanInterval passes: a fresh report joins the first, both verify
        self.wait_for_status(
            "app", lambda o: self.target_attestations(o).get("vulnAttestedAt", first_report_at)
            != first_report_at, timeout=180, what="a fresh vulnerability report")
        reports = self.verified(self.children["amd64"], "vuln")
        self.assertGreaterEqual(len(reports), 2)
        finished = [s["predicate"]["metadata"]["scanFinishedOn"] for s in reports]
        self.assertLess(finished[0], finished[-1])
        # the SBOM was not written again
        self.assertEqual(len(self.verified(self.children["amd64"], "spdxjson")), 1)


if __name__ == "__main__":
    unittest.main()
