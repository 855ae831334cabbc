"""Deploy-time enforcement of what sealift delivered: an image that an ImageDelivery scanned
(ScanPolicy with an advisory database pushed by `sealift db push`), delivered and signed is
admitted by a DeployPolicy whose verifyImages entry has authorities + requireScanPassed; the same policy denies an
image that is signed by the release key but never passed a scan. Real registries, kubectl, the
real kube-apiserver calling the controller's TLS webhook."""
import json
import os
import sys
import unittest

import procs
import registry as reg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scan"))
import scanlib  # noqa: E402  (e2e/scan/scanlib.py)
from controller import Controller  # noqa: E402
from kube import Cluster  # noqa: E402

GOOD_LIBC, BAD_LIBC = "2.36-9+deb12u7", "2.36-9+deb12u1"


class DeliveredAdmissionTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.vendor = reg.Registry(self, "vendor", users={"acme": "acme-pw"})
        self.customer = reg.Registry(self, "customer", users={"cust": "cust-pw"})
        layout = scanlib.debian_layout(os.path.join(self.tmp, "layout"),
                                       {"good": GOOD_LIBC, "bad": BAD_LIBC})
        for tag in ("good", "bad"):
            scanlib.skopeo_push(layout, tag, f"{self.vendor.host}/acme/app:{tag}", "acme:acme-pw")
        adv = scanlib.advisory_dir(os.path.join(self.tmp, "adv"), with_osv=True)
        scanlib.db_push(adv, f"{self.vendor.host}/security/advisories:latest", "acme:acme-pw")

        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.webhook_port = self.kube.webhook_port
        certs = self.kube.webhook_cert_dir
        k = self.kube.kubectl
        self.kube.install()
        # only the API server's webhook client certificate is answered
        self.ctl = Controller(self, self.kube, webhook=True, extra_args=[
            "--webhook-client-ca", self.kube.ca_path,
            "--webhook-client-name", "kube-apiserver-webhook-client",
            "--insecure-registry", self.vendor.host, "--insecure-registry", self.customer.host],
            env={"SEALIFT_STATE_DIR": os.path.join(self.tmp, "state")})
        self.ctl.wait_ready()
        for ns in ("vendor-acme", "shop"):
            k("create", "namespace", ns)
        k("label", "namespace", "shop", "sealift.dev/enforce=true")
        for ns, name, host, user, pw in (
                ("vendor-acme", "vendor-pull", self.vendor.host, "acme", "acme-pw"),
                ("vendor-acme", "customer-push", self.customer.host, "cust", "cust-pw"),
                ("shop", "customer-pull", self.customer.host, "cust", "cust-pw")):
            k("create", "secret", "docker-registry", name, "-n", ns, f"--docker-server={host}",
              f"--docker-username={user}", f"--docker-password={pw}")

    def test_scanned_signed_delivered_image_is_admitted(self):
        k = self.kube.kubectl
        k("apply", "-f", "-", input=f"""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {{name: release, namespace: vendor-acme}}
spec: {{mode: Generate, secretRef: {{name: release-key}}}}
---
apiVersion: sealift.dev/v1beta1
kind: ScanPolicy
metadata: {{name: default, namespace: vendor-acme}}
spec:
  database:
    image: {self.vendor.host}/security/advisories:latest
    insecure: true
    secretRef: {{name: vendor-pull}}
  severityThreshold: High
---
apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {{name: app, namespace: vendor-acme}}
spec:
  source:
    image: {self.vendor.host}/acme/app
    tags: [good, bad]
    insecure: true
    secretRef: {{name: vendor-pull}}
  targets:
  - image: {self.customer.host}/mirror/app
    insecure: true
    secretRef: {{name: customer-push}}
  scanPolicyRef: {{name: default}}
  sign: {{signingKeyRef: {{name: release}}}}
  interval: 1m
""")
        def delivered():
            st = json.loads(k("get", "imd", "-n", "vendor-acme", "app", "-o", "json").stdout)
            st = st.get("status", {})
            return st if st.get("summary", {}).get("delivered") == 1 else None
        st = procs.wait_for(delivered, timeout=90, what="the good tag delivered")
        good = next(i for i in st["images"] if i["tag"] == "good")
        self.assertEqual(good["scan"]["result"], "Passed")
        self.assertTrue(good["targets"][0]["signed"])
        self.assertFalse(reg.manifest_exists(self.customer.host, "mirror/app", "bad",
                                             "cust:cust-pw"))

        fp = k("get", "sigkey", "-n", "vendor-acme", "release", "-o",
               "jsonpath={.status.fingerprint}").stdout.strip()
        k("apply", "-f", "-", input=f"""
apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {{name: delivered-only}}
spec:
  namespaceSelector: {{matchLabels: {{sealift.dev/enforce: "true"}}}}
  verifyImages:
  - imageReferences: ["*"]
    authorities:
    - name: release
      key: {{signingKeyRef: {{namespace: vendor-acme, name: release, fingerprint: "{fp}"}}}}
    requireScanPassed: {{scanPolicyRefs: [{{namespace: vendor-acme, name: default}}]}}
""")
        k("wait", "--for=condition=Ready", "deploypolicy/delivered-only", "--timeout=30s")

        def pod(name, image):
            return k("apply", "-f", "-", check=False, input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: shop}}
spec:
  imagePullSecrets: [{{name: customer-pull}}]
  containers: [{{name: app, image: "{image}"}}]
""")
        cp = pod("good", f"{self.customer.host}/mirror/app@{good['digest']}")
        self.assertEqual(cp.returncode, 0, cp.stderr)

        # the vulnerable image, copied into the mirror by hand and signed with the release key:
        # its signature is valid, but sealift never passed it: denied while sealift scans it
        # itself, then denied because the scan fails
        keyfile = os.path.join(self.tmp, "release.key")
        key_env = self.kube.signing_key_file("vendor-acme", "release-key", keyfile)
        procs.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                   "--dest-tls-verify=false", "--src-creds", "acme:acme-pw", "--dest-creds",
                   "cust:cust-pw", f"docker://{self.vendor.host}/acme/app:bad",
                   f"docker://{self.customer.host}/mirror/app:by-hand"])
        procs.run([procs.SEALIFT, "sign", f"{self.customer.host}/mirror/app:by-hand", "--key",
                   keyfile, "--creds", "cust:cust-pw", "--insecure"], env=key_env)
        bad = reg.sha256_digest(reg.inspect_raw(f"{self.customer.host}/mirror/app:by-hand",
                                                "cust:cust-pw"))
        cp = pod("by-hand", f"{self.customer.host}/mirror/app@{bad}")
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("requireScanPassed", cp.stderr)
        self.assertNotIn("authorities", cp.stderr)

        def scanned_and_failed():
            cp = pod("by-hand", f"{self.customer.host}/mirror/app@{bad}")
            self.assertNotEqual(cp.returncode, 0, "the vulnerable image was admitted")
            return "scan pending" not in cp.stderr and cp.stderr
        msg = procs.wait_for(scanned_and_failed, timeout=60, what="the webhook's own scan")
        self.assertIn("requireScanPassed: the image fails ScanPolicy vendor-acme/default", msg)

        # a forged status (whoever can write ImageDelivery status) changes nothing
        k("apply", "-f", "-", input=f"""
apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {{name: forged, namespace: shop}}
spec:
  source: {{image: {self.customer.host}/mirror/app, digest: "{bad}"}}
  targets: [{{image: {self.customer.host}/mirror/forged}}]
  targetTag: forged
  suspend: true
""")
        k("patch", "imd", "forged", "-n", "shop", "--subresource=status", "--type=merge",
          "-p", json.dumps({"status": {"images": [{
              "tag": "by-hand", "digest": bad, "scan": {"result": "Passed"},
              "targets": [{"image": f"{self.customer.host}/mirror/app:by-hand",
                           "digest": bad, "signed": True}]}]}}))
        st = json.loads(k("get", "imd", "forged", "-n", "shop", "-o", "json").stdout)["status"]
        self.assertEqual(st["images"][0]["scan"]["result"], "Passed")
        cp = pod("forged", f"{self.customer.host}/mirror/app@{bad}")
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("requireScanPassed: the image fails ScanPolicy vendor-acme/default",
                      cp.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
