"""DeployPolicy requireAttestations and runtimeClassNames on the real kube-apiserver, with the
controller's webhook (client-certificate authenticated, so denials carry the reason) and a
docker-registry with Basic auth. Attestations are made with the real cosign v3.1.3 using the
vendor's SigningKey (imported into cosign), both in cosign's legacy .att layout and as bundle
referrers; the same cluster, controller and images as e2e.policy.admission (its setUp)."""
import json
import os
import unittest

import procs
import registry as reglib
from attestlib import Cosign, vuln_predicate
from test_admission import AdmissionTest

RULES = """    requireAttestations: [{type: vuln, maxAge: 168h}]
    runtimeClassNames: [gvisor]
"""

POD = """apiVersion: v1
kind: Pod
metadata: {name: %(name)s, namespace: shop}
spec:
  imagePullSecrets: [{name: customer-pull}]
%(runtime)s  containers:
  - name: app
    image: %(image)s
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      imagePullSecrets: [{name: customer-pull}]
      containers: [{name: app, image: "%(image)s"}]
"""


class AttestationAdmissionTest(AdmissionTest):
    def push_signed(self, tag, seed):
        """A new image in the customer registry, signed with the vendor's key; its digest
        reference."""
        layout = os.path.join(self.tmp, "layout-" + tag)
        lay = reglib.Layout(layout)
        lay.tag(lay.image([1024], seed=seed), tag)
        reglib.push(layout, tag, f"{self.reg.host}/mirror/app:{tag}", creds=self.reg.creds())
        digest = reglib.sha256_digest(reglib.inspect_raw(f"{self.reg.host}/mirror/app:{tag}",
                                                         self.reg.creds()))
        procs.run([procs.SEALIFT, "sign", f"{self.reg.host}/mirror/app@{digest}", "--key",
                   self.keyfile, "--creds", self.reg.creds(), "--insecure"], env=self.key_env)
        return f"{self.reg.host}/mirror/app@{digest}"

    def pod(self, name, image, runtime="gvisor"):
        rt = f"  runtimeClassName: {runtime}\n" if runtime else ""
        return self.apply(POD % {"name": name, "image": image, "runtime": rt})

    def test_attestations_and_runtime_classes(self):
        for rc in ("gvisor", "runc"):
            self.kube.kubectl("apply", "-f", "-", input=f"""
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {{name: {rc}}}
handler: {rc}
""")
        cosign = Cosign(self.tmp, self.reg.host, self.reg.creds())
        # the SigningKey's cosign.key is cosign's encrypted format: its password opens it (and
        # protects the other key cosign generates here)
        cosign.env["COSIGN_PASSWORD"] = self.key_env["COSIGN_PASSWORD"]
        cosign.keypair("release", import_from=self.keyfile)
        cosign.keypair("other")
        self.sign_image_2()
        fresh = self.image["1.0"]
        stale = self.image["2.0"]
        high = self.push_signed("3.0", 53)
        forged = self.push_signed("4.0", 54)
        cosign.attest("release", fresh, "vuln", vuln_predicate(2), bundle=True)
        cosign.attest("release", stale, "vuln", vuln_predicate(200))
        cosign.attest("release", high, "vuln", vuln_predicate(1, [("CVE-2026-4242", "High"),
                                                                  ("CVE-2026-1", "Low")]))
        cosign.attest("other", forged, "vuln", vuln_predicate(1))
        self.apply_policy(rules=RULES)

        # runtimeClassNames is a ValidatingAdmissionPolicy rule: the API server denies by itself
        # (it loads a new policy within moments, the webhook denies meanwhile: wait with dry
        # runs first)
        nort = POD % {"name": "no-runtime", "image": fresh, "runtime": ""}
        by_policy = "ValidatingAdmissionPolicy 'sealift-signed-only'"
        procs.wait_for(lambda: by_policy in self.kube.kubectl(
            "apply", "--dry-run=server", "-f", "-", input=nort, check=False).stderr,
            timeout=60, what="the ValidatingAdmissionPolicy to enforce runtimeClassNames")
        cp = self.pod("no-runtime", fresh, runtime=None)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn(by_policy, cp.stderr)
        self.assertIn("runtimeClassNames: every workload must set runtimeClassName to one of "
                      "gvisor", cp.stderr)
        cp = self.pod("runc", fresh, runtime="runc")
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("runtimeClassNames", cp.stderr)
        cp = self.apply(DEPLOYMENT % {"image": fresh})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("runtimeClassNames", cp.stderr)
        # the webhook checks it too, for anyone who reaches it directly
        resp = self.forged_review("shop", fresh)
        self.assertFalse(resp["allowed"], resp)
        self.assertIn("runtimeClassNames: the workload must set runtimeClassName to one of "
                      "[gvisor] (it names none)", resp["status"]["message"])

        # a fresh vuln attestation by the vendor's key, no findings: admitted
        cp = self.pod("fresh", fresh)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # decided once per digest: a second Pod of the same image asks the registry nothing
        before = self.registry_requests()
        cp = self.pod("fresh-again", fresh)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(self.registry_requests(), before)

        cp = self.pod("stale", stale)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn(stale, cp.stderr)
        self.assertIn("requireAttestations: the newest vuln attestation", cp.stderr)
        self.assertIn("old, older than maxAge 168h0m", cp.stderr)

        cp = self.pod("high", high)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn(high, cp.stderr)
        self.assertIn("lists 1 finding at or above High (CVE-2026-4242)", cp.stderr)

        cp = self.pod("forged", forged)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn(forged, cp.stderr)
        self.assertIn("1 vuln attestation, none signed by the trusted key", cp.stderr)

        # an image with no attestation at all
        bare = self.push_signed("5.0", 55)
        cp = self.pod("bare", bare)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("requireAttestations: no vuln attestation", cp.stderr)

        # the vendor re-scans: a fresh report without the finding is what counts now
        cosign.attest("release", high, "vuln", vuln_predicate(0.5), bundle=True)
        procs.wait_for(lambda: self.pod("high", high).returncode == 0, timeout=60,
                       what="the re-attested image to be admitted once the denial expires")
        names = json.loads(self.kube.kubectl("get", "pods", "-n", "shop", "-o", "json").stdout)
        self.assertEqual(sorted(p["metadata"]["name"] for p in names["items"]),
                         ["fresh", "fresh-again", "high"])

    def sign_image_2(self):
        procs.run([procs.SEALIFT, "sign", f"{self.reg.host}/mirror/app:2.0", "--key",
                   self.keyfile, "--creds", self.reg.creds(), "--insecure"], env=self.key_env)


def load_tests(loader, tests, pattern):
    """Only this file's test (the base class's run in e2e.policy.admission)."""
    return unittest.TestSuite([AttestationAdmissionTest("test_attestations_and_runtime_classes")])


if __name__ == "__main__":
    unittest.main(verbosity=2)
