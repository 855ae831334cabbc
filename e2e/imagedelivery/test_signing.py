"""ImageDelivery with spec.verify and spec.sign end to end. SigningKeys (Generate mode) are made
Ready by the SigningKey reconciler of the same controller; the vendor signs its source images
with `sealift sign`. The signatures in the target registry are fetched over plain HTTP (urllib)
and checked with the openssl CLI against the public keys published in the SigningKeys'
ConfigMaps, not with sealift code."""
import base64
import json
import os
import unittest

import procs
from imdlib import CUSTOMER, NS, VENDOR, Http, ImdTestCase

V = ":".join(VENDOR)
C = ":".join(CUSTOMER)
SIG_MT = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANN = "dev.cosignproject.cosign/signature"

KEYS = """
apiVersion: sealift.dev/v1alpha1
kind: SigningKey
metadata: {name: vendor-build, namespace: %(ns)s}
spec:
  mode: Generate
  secretRef: {name: vendor-build-key}
  publicKey: {configMapRef: {name: vendor-build-pub}}
---
apiVersion: sealift.dev/v1alpha1
kind: SigningKey
metadata: {name: vendor-release, namespace: %(ns)s}
spec:
  mode: Generate
  secretRef: {name: vendor-release-key}
  publicKey: {configMapRef: {name: vendor-release-pub}}
""" % {"ns": NS}


class SigningTest(ImdTestCase):
    def setUp(self):
        super().setUp()
        self.apply(KEYS)
        for name in ("vendor-build", "vendor-release"):
            self.kube.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", NS,
                              f"signingkey/{name}")
        self.build_key = self.secret_file("vendor-build-key", "cosign.key")
        self.build_pub = self.configmap_file("vendor-build-pub")
        self.release_pub = self.configmap_file("vendor-release-pub")
        prefix = os.path.join(self.tmp, "other")
        procs.run([procs.SEALIFT, "keygen", "--out", prefix])
        self.other_key, self.other_pub = prefix + ".key", prefix + ".pub"
        self.http = Http(self.customer.host, *CUSTOMER)

    def secret_file(self, name, key):
        sec = json.loads(self.kube.kubectl("get", "secret", name, "-n", NS, "-o",
                                           "json").stdout)
        path = os.path.join(self.tmp, f"{name}.{key}")
        with open(path, "wb") as f:
            f.write(base64.b64decode(sec["data"][key]))
        return path

    def configmap_file(self, name):
        cm = json.loads(self.kube.kubectl("get", "configmap", name, "-n", NS, "-o",
                                          "json").stdout)
        path = os.path.join(self.tmp, f"{name}.pub")
        with open(path, "w") as f:
            f.write(cm["data"]["cosign.pub"])
        return path

    def sealift_sign(self, ref, key, creds):
        procs.run([procs.SEALIFT, "sign", ref, "--key", key, "--creds", creds, "--insecure"])

    def signatures(self, repo, digest):
        """[(payload JSON, verifies-with-pubkey-path or None)] of the .sig manifest."""
        man = self.http.manifest(repo, "sha256-" + digest[7:] + ".sig")
        out = []
        for i, layer in enumerate(man["layers"]):
            self.assertEqual(layer["mediaType"], SIG_MT)
            payload = self.http.blob(repo, layer["digest"])
            p_path = os.path.join(self.tmp, f"payload-{digest[7:15]}-{i}")
            s_path = p_path + ".sig"
            with open(p_path, "wb") as f:
                f.write(payload)
            with open(s_path, "wb") as f:
                f.write(base64.b64decode(layer["annotations"][SIG_ANN]))
            signer = None
            for pub in (self.build_pub, self.release_pub, self.other_pub):
                cp = procs.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature",
                                s_path, p_path], check=False)
                if cp.returncode == 0 and "Verified OK" in cp.stdout:
                    signer = pub
            out.append((json.loads(payload), signer))
        return out

    def test_verified_delivery_copies_and_signs_keeping_foreign(self):
        d1 = self.seed_image("1.0", seed=1)
        d4 = self.seed_image("4.0", seed=4)
        for tag in ("1.0", "4.0"):
            self.sealift_sign(f"{self.vendor.host}/acme/app:{tag}", self.build_key, V)
        # the customer's registry already holds 4.0 with a signature by a foreign key
        procs.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                   "--dest-tls-verify=false", "--src-creds", V, "--dest-creds", C,
                   f"docker://{self.vendor.host}/acme/app:4.0",
                   f"docker://{self.customer.host}/mirror/app:4.0"])
        self.sealift_sign(f"{self.customer.host}/mirror/app:4.0", self.other_key, C)

        self.delivery("signed", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['1.0', '4.0']\n",
                      extra_spec="  verify: {signingKeyRef: {name: vendor-build}}\n"
                                 "  sign: {signingKeyRef: {name: vendor-release}}\n")
        obj = self.wait_ready("signed")
        st = obj["status"]
        self.assertEqual(self.condition(obj, "Verified")["status"], "True")
        self.assertEqual(self.condition(obj, "Signed")["status"], "True")
        self.assertEqual(st["signedSummary"], "2/2")
        self.assertTrue(all(i["verified"] for i in st["images"]))
        self.assertTrue(all(t["signed"] for i in st["images"] for t in i["targets"]))
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.0", C), d1)

        target_repo = f"{self.customer.host}/mirror/app"
        sigs = self.signatures("mirror/app", d1)
        signers = sorted(os.path.basename(s) for _, s in sigs if s)
        self.assertEqual(signers, ["vendor-build-pub.pub", "vendor-release-pub.pub"])
        for payload, signer in sigs:
            self.assertEqual(payload["critical"]["image"]["docker-manifest-digest"], d1)
            if signer == self.release_pub:
                self.assertEqual(payload["critical"]["identity"]["docker-reference"],
                                 target_repo)
        # the foreign signature on 4.0 is kept next to the copied and the new one
        sigs4 = self.signatures("mirror/app", d4)
        self.assertEqual(sorted(os.path.basename(s) for _, s in sigs4 if s),
                         ["other.pub", "vendor-build-pub.pub", "vendor-release-pub.pub"])
        self.assertEqual(len(sigs4), 3)

        out = self.kube.kubectl("get", "imd", "signed", "-n", NS).stdout.splitlines()
        self.assertEqual(out[1].split()[2:6], ["2", "-", "2/2", "True"])

    def test_unsigned_and_wrongly_signed_sources_are_not_delivered(self):
        self.seed_image("2.0", seed=2)
        self.seed_image("3.0", seed=3)
        self.sealift_sign(f"{self.vendor.host}/acme/app:3.0", self.other_key, V)
        for name, tag in (("unsigned", "2.0"), ("wrongkey", "3.0")):
            self.delivery(name, f"{self.vendor.host}/acme/app",
                          [(f"{self.customer.host}/mirror/{name}", "customer-push")],
                          extra_source=f"    tags: ['{tag}']\n",
                          extra_spec="  verify: {signingKeyRef: {name: vendor-build}}\n"
                                     "  sign: {signingKeyRef: {name: vendor-release}}\n")
        obj = self.wait_reason("unsigned", "SignatureMissing")
        self.assertEqual(self.condition(obj, "Verified")["status"], "False")
        self.assertEqual(self.condition(obj, "Synced")["status"], "False")
        self.assertIn("vendor-build", self.condition(obj, "Ready")["message"])
        obj = self.wait_reason("wrongkey", "SignatureInvalid")
        self.assertEqual(self.condition(obj, "Verified")["reason"], "SignatureInvalid")
        self.assertEqual(obj["status"]["deliveredTags"], 0)
        self.assertEqual(obj["status"]["signedSummary"], "0/0")
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/unsigned:2.0", C))
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/wrongkey:3.0", C))
        events = self.kube.kubectl("get", "events", "-n", NS, "-o", "json").stdout
        self.assertIn("SignatureInvalid", events)
        self.assertIn("SignatureMissing", events)


if __name__ == "__main__":
    unittest.main(verbosity=2)
