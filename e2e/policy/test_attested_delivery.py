"""The attestation chain of issue 16 in one piece, on the real kube-apiserver with the
controller's webhook and a docker-registry with Basic auth: the controller scans a Debian-like
image (CVE-2023-4911, High, in its glibc) under a ScanPolicy whose vendor OpenVEX says
not_affected, delivers it to the customer's mirror, signs it and writes a signed vulnerability
report; a DeployPolicy with requireAttestations admits a Pod of the delivered digest on that
report. The vendor's VEX entry is removed: the gate blocks the digest (already delivered) and the
controller writes a fresh report listing the High finding, so the webhook denies new Pods of it
(once its cached decision ends: --webhook-cache-ttl 2s here). A report signed with another key
than the policy trusts is refused. The same cluster, controller and SigningKey as
e2e.policy.admission (its setUp)."""
import json
import os
import sys
import unittest

import procs
import registry as reglib
from controller import Controller
from test_admission import AdmissionTest

sys.path.insert(0, os.path.join(procs.SRC, "e2e", "scan"))
import scanlib  # noqa: E402
from test_vex import JUSTIFICATION, looney_tunables_osv, openvex  # noqa: E402

BAD_LIBC = "2.36-9+deb12u1"  # before the bookworm fix of CVE-2023-4911 (2.36-9+deb12u3)

POD = """apiVersion: v1
kind: Pod
metadata: {name: %(name)s, namespace: shop}
spec:
  imagePullSecrets: [{name: customer-pull}]
  containers:
  - name: app
    image: %(image)s
"""


class AttestedDeliveryTest(AdmissionTest):
    def start_controller(self, name="controller", client_auth=True):
        auth = ["--webhook-client-ca", self.kube.ca_path,
                "--webhook-client-name", "kube-apiserver-webhook-client"] if client_auth else []
        self.ctl = Controller(self, self.kube, name=name, webhook=True,
                              extra_args=["--insecure-registry", self.reg.host,
                                          "--webhook-cache-ttl", "2s", *auth])
        self.ctl.wait_ready()

    def scan_policy(self, with_vex):
        vex = ("  vex:\n  - configMapRef: {name: vendor-vex, key: vex.json}\n"
               if with_vex else "")
        self.kube.kubectl("apply", "-f", "-", input=f"""
apiVersion: sealift.dev/v1beta1
kind: ScanPolicy
metadata: {{name: default, namespace: vendor-acme}}
spec:
  database:
    image: {self.db_image}
    insecure: true
    secretRef: {{name: registry}}
  severityThreshold: High
  rescanInterval: 24h
{vex}""")

    def delivered_report(self):
        obj = json.loads(self.kube.kubectl("get", "imagedelivery", "-n", "vendor-acme", "app",
                                           "-o", "json").stdout)
        targets = (obj.get("status", {}).get("images") or [{}])[0].get("targets") or [{}]
        return (targets[0].get("attestations") or {}).get("vulnAttestedAt")

    def pod(self, name):
        return self.kube.kubectl("apply", "-f", "-", check=False,
                                 input=POD % {"name": name, "image": self.delivered})

    def test_delivered_report_admits_until_the_vex_is_withdrawn(self):
        # the vendor's image, its advisories and its OpenVEX document
        layout = scanlib.debian_layout(os.path.join(self.tmp, "deb"), {"bad": BAD_LIBC})
        src = f"{self.reg.host}/vendor/app"
        scanlib.skopeo_push(layout, "bad", f"{src}:bad", self.reg.creds())
        digest = reglib.sha256_digest(reglib.inspect_raw(f"{src}:bad", self.reg.creds()))
        adv = os.path.join(self.tmp, "advisories")
        os.makedirs(adv)
        looney_tunables_osv(adv)
        self.db_image = f"{self.reg.host}/security/advisories:v1"
        scanlib.db_push(adv, self.db_image, creds=self.reg.creds())
        self.kube.kubectl("create", "secret", "docker-registry", "registry", "-n",
                          "vendor-acme", f"--docker-server={self.reg.host}",
                          "--docker-username=cust", "--docker-password=pw-cust")
        path = os.path.join(self.tmp, "vex.json")
        with open(path, "w") as f:
            f.write(openvex(digest, src, justification=JUSTIFICATION))
        self.kube.kubectl("create", "configmap", "vendor-vex", "-n", "vendor-acme",
                          f"--from-file=vex.json={path}")
        self.scan_policy(with_vex=True)
        self.kube.kubectl("apply", "-f", "-", input=f"""
apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {{name: app, namespace: vendor-acme}}
spec:
  source:
    image: {src}
    tags: [bad]
    insecure: true
    secretRef: {{name: registry}}
  targets:
  - image: {self.reg.host}/mirror/attested
    insecure: true
    secretRef: {{name: registry}}
  scanPolicyRef: {{name: default}}
  sign:
    signingKeyRef: {{name: release}}
    attestations: {{sbom: none, vuln: true}}
  interval: 2s
""")
        procs.wait_for(self.delivered_report, timeout=180, interval=0.5,
                       what="the delivery's signed vulnerability report")
        self.delivered = f"{self.reg.host}/mirror/attested@{digest}"

        # the policy trusts the release key and wants a fresh report with nothing High
        self.apply_policy(rules="    requireAttestations: [{type: vuln, maxAge: 168h}]\n")
        cp = self.pod("vexed")
        self.assertEqual(cp.returncode, 0, cp.stderr)

        # the vendor withdraws the VEX statement: blocked at the gate, a fresh report with the
        # finding in the mirror, and the webhook denies the digest from then on
        before = self.delivered_report()
        self.scan_policy(with_vex=False)
        procs.wait_for(lambda: self.delivered_report() != before, timeout=120, interval=0.5,
                       what="a fresh vulnerability report after the VEX was withdrawn")
        last = {"n": 0}

        def denied():
            # a new Pod each time: one admitted from the cached decision would make the next
            # apply of the same name an unchanged object the webhook never sees
            last["n"] += 1
            last["cp"] = self.pod(f"after-withdrawal-{last['n']}")
            return last["cp"].returncode != 0
        procs.wait_for(denied, timeout=60, interval=1,
                       what="the webhook to deny the digest on the new report")
        self.assertIn(digest, last["cp"].stderr)
        self.assertIn("lists 1 finding at or above High (CVE-2023-4911)", last["cp"].stderr)

        # a policy that trusts only another key, which also signed the image: the reports the
        # controller signed with the release key do not count
        empty = dict(os.environ, COSIGN_PASSWORD="")
        procs.run([procs.SEALIFT, "keygen", "--out", os.path.join(self.tmp, "other")], env=empty)
        procs.run([procs.SEALIFT, "sign", self.delivered, "--key",
                   os.path.join(self.tmp, "other.key"), "--creds", self.reg.creds(),
                   "--insecure"], env=empty)
        with open(os.path.join(self.tmp, "other.pub")) as f:
            other_pub = f.read()
        self.kube.kubectl("create", "configmap", "other-pub", "-n", "vendor-acme",
                          f"--from-literal=cosign.pub={other_pub}")
        self.kube.kubectl("apply", "-f", "-", input="""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: other, namespace: vendor-acme}
spec: {mode: VerifyOnly, publicKey: {configMapRef: {name: other-pub}}}
""")
        self.kube.kubectl("wait", "--for=condition=Ready", "-n", "vendor-acme",
                          "sigkey/other", "--timeout=30s")
        fp = self.kube.kubectl("get", "sigkey", "-n", "vendor-acme", "other", "-o",
                               "jsonpath={.status.fingerprint}").stdout.strip()
        self.kube.kubectl("apply", "-f", "-", input=f"""
apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {{name: other-key}}
spec:
  namespaceSelector:
    matchLabels: {{sealift.dev/enforce: "true"}}
  enforcement: Deny
  verifyImages:
  - imageReferences: ["*"]
    authorities:
    - name: other
      key: {{signingKeyRef: {{namespace: vendor-acme, name: other, fingerprint: "{fp}"}}}}
  rules:
    requireDigest: true
    requireAttestations: [{{type: vuln, maxAge: 168h, severityThreshold: None}}]
  outputs: [ValidatingAdmissionPolicy]
""")
        self.kube.kubectl("wait", "--for=condition=Ready", "deploypolicy/other-key",
                          "--timeout=30s")
        resp = self.forged_review("shop", self.delivered, policy="other-key")
        self.assertFalse(resp["allowed"], resp)
        self.assertIn("none signed by the trusted key", resp["status"]["message"])


def load_tests(loader, tests, pattern):
    """Only this file's test (the base class's run in e2e.policy.admission)."""
    return unittest.TestSuite(
        [AttestedDeliveryTest("test_delivered_report_admits_until_the_vex_is_withdrawn")])


if __name__ == "__main__":
    unittest.main(verbosity=2)
