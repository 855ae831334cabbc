"""OpenVEX attestations attached to the image, end to end on a real API server and
docker-registry with auth: the vendor runs the real `cosign attest --type openvex` (cosign
v3.1.3, hack/peers.sh; the .att tag layout, then a Sigstore bundle referrer) on the source image
of a delivery that a High finding (CVE-2023-4911 in glibc) blocks. The ScanPolicy's spec.vex
attestations entry trusts the vendor's key (a PEM in a ConfigMap): the same document signed by
another key changes nothing and the Scanned message says why; signed by the vendor's key it
suppresses the finding, the image is delivered, the status names the attestation and the
justification, and the signed vulnerability report of the delivered digest marks the finding
suppressed (`sealift verify-attestation --fail-on High` passes)."""
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "imagedelivery"))
sys.path.insert(0, os.path.join(HERE, "..", "policy"))
import attestlib  # noqa: E402  (e2e/policy: the real cosign, offline)
import procs  # noqa: E402
import scanlib  # noqa: E402
import test_vex  # noqa: E402  (its advisory and OpenVEX document)
from imdlib import CUSTOMER, NS, VENDOR, ImdTestCase  # noqa: E402

C = ":".join(CUSTOMER)
V = ":".join(VENDOR)


class VexAttestationTest(ImdTestCase):
    def setUp(self):
        super().setUp()
        adv = os.path.join(self.tmp, "advisories")
        os.makedirs(adv)
        test_vex.looney_tunables_osv(adv)
        self.db_image = f"{self.vendor.host}/security/advisories:v1"
        scanlib.db_push(adv, self.db_image, creds=V)
        layout = scanlib.debian_layout(os.path.join(self.tmp, "deb-layout"),
                                       {"bad": test_vex.BAD_LIBC})
        self.src = f"{self.vendor.host}/acme/app"
        scanlib.skopeo_push(layout, "bad", f"{self.src}:bad", V)
        self.digest = self.digest_at(f"{self.src}:bad", V)
        self.cosign = attestlib.Cosign(self.tmp, self.vendor.host, V)

    def scanned(self, pred, what):
        """Waits until the Scanned condition's message satisfies pred; returns the object."""
        def check(obj):
            c = self.condition(obj, "Scanned")
            return c is not None and pred(c.get("message", ""), obj)
        return self.wait_for_status("app", check, timeout=120, what=what)

    def test_vendor_attestation_suppresses_only_with_the_trusted_key(self):
        vendor_pub = self.cosign.keypair("vendor")
        self.cosign.keypair("other")
        with open(vendor_pub) as f:
            pem = f.read()
        self.apply(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "vendor-keys", "namespace": NS},
                               "data": {"cosign.pub": pem}}))
        # the customer's own key signs what is delivered, with a vulnerability report
        self.apply(f"""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {{name: release, namespace: {NS}}}
spec:
  mode: Generate
  secretRef: {{name: release-key}}
  publishKey: {{configMapRef: {{name: release-pub}}}}
""")
        self.apply(
            "apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
            f"metadata: {{name: default, namespace: {NS}}}\n"
            "spec:\n  database:\n"
            f"    image: {self.db_image}\n    insecure: true\n"
            "    secretRef: {name: vendor-pull}\n"
            "  severityThreshold: High\n  rescanInterval: 24h\n"
            "  vex:\n  - attestations:\n      authorities:\n      - name: vendor\n"
            "        key: {configMapRef: {name: vendor-keys, key: cosign.pub}}\n")

        def policy_ready():
            obj = self.get("default", kind="scanpolicies")
            c = self.condition(obj, "Ready")
            return c and c["status"] == "True" and "OpenVEX attestations" in c["message"]
        procs.wait_for(policy_ready, timeout=90, interval=0.3, what="ScanPolicy Ready")

        self.kube.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", NS,
                          "signingkey/release")
        self.delivery("app", self.src, [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['bad']\n",
                      extra_spec="  scanPolicyRef: {name: default}\n"
                                 "  sign:\n    signingKeyRef: {name: release}\n"
                                 "    attestations: {sbom: none, vuln: true}\n",
                      interval="2s")
        obj = self.wait_reason("app", "ScanFailed", ctype="Scanned", timeout=120)
        self.assertIn("CVE-2023-4911 (High) in libc6", self.condition(obj, "Scanned")["message"])
        self.assertEqual(obj["status"]["images"][0]["scan"]["vexAttestations"],
                         {"verified": 0, "ignored": 0})

        # the vendor's statement signed by a key the policy does not trust: still blocked, and
        # the message says the attestation was ignored and why
        predicate = json.loads(test_vex.openvex(self.digest, self.src,
                                                justification=test_vex.JUSTIFICATION))
        self.cosign.attest("other", f"{self.src}@{self.digest}", "openvex", predicate)
        obj = self.scanned(lambda m, o: "1 OpenVEX attestation ignored" in m,
                           "the attestation signed by another key reported as ignored")
        msg = self.condition(obj, "Scanned")["message"]
        self.assertIn("CVE-2023-4911 (High) in libc6", msg)
        self.assertIn("the DSSE signature does not verify with key sha256:", msg)
        scan = obj["status"]["images"][0]["scan"]
        self.assertEqual((scan["result"], scan["high"]), ("Failed", 1))
        self.assertEqual(scan["vexAttestations"]["ignored"], 1)
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:bad", C))

        # the same document signed with the vendor's key (cosign v3's Sigstore bundle, an OCI
        # referrer this time): suppressed, delivered, and the status names the attestation and
        # the justification
        self.cosign.attest("vendor", f"{self.src}@{self.digest}", "openvex", predicate,
                           bundle=True)
        obj = self.wait_ready("app", timeout=120)
        scan = obj["status"]["images"][0]["scan"]
        self.assertEqual((scan["result"], scan["high"], scan["vexSuppressed"]), ("Passed", 0, 1))
        self.assertEqual(scan["vexAttestations"]["verified"], 1)
        self.assertEqual(scan["vexAttestations"]["ignored"], 1)
        [sup] = scan["suppressed"]
        self.assertEqual((sup["id"], sup["package"], sup["status"], sup["justification"]),
                         ("CVE-2023-4911", "libc6", "not_affected", test_vex.JUSTIFICATION))
        self.assertRegex(sup["document"],
                         r"^OpenVEX attestation sha256:[0-9a-f]{64} \(signed by vendor\)$")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:bad", C), self.digest)

        # the signed vulnerability report says what the gate said: suppressed, by that
        # attestation
        cm = json.loads(self.kube.kubectl("get", "configmap", "release-pub", "-n", NS,
                                          "-o", "json").stdout)
        release_pub = os.path.join(self.tmp, "release.pub")
        with open(release_pub, "w") as f:
            f.write(cm["data"]["cosign.pub"])
        last = {}

        def verified():
            last["r"] = subprocess.run(
                [procs.SEALIFT, "verify-attestation",
                 f"{self.customer.host}/mirror/app@{self.digest}", "--key", release_pub,
                 "--type", "vuln", "--fail-on", "High", "--creds", C, "--insecure"],
                capture_output=True, text=True, timeout=120)
            return last["r"].returncode == 0
        procs.wait_for(verified, timeout=120, interval=1,
                       what="a vulnerability attestation without findings at High")
        findings = json.loads(last["r"].stdout)["predicate"]["scanner"]["result"]["findings"]
        [libc] = [f for f in findings if f["id"] == "CVE-2023-4911"]
        self.assertTrue(libc["suppressed"])
        self.assertEqual(libc["vex"]["justification"], test_vex.JUSTIFICATION)
        self.assertEqual(libc["vex"]["document"], sup["document"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
