"""ImageDelivery with spec.verify and spec.sign end to end. SigningKeys (Generate mode) are made
Ready by the SigningKey reconciler of the same controller; the vendor signs its source images
with `sealift sign`. The signatures in the target registry are fetched over plain HTTP (urllib)
and checked with the openssl CLI against the public keys published in the SigningKeys'
ConfigMaps, not with sealift code. The keys are also used by the real cosign (v3.1.3, built by
hack/peers.sh): `cosign sign --key k8s://ns/secret` with a Generate key, and a
`cosign generate-key-pair k8s://ns/secret` key imported to sign a delivery."""
import base64
import json
import os
import subprocess
import unittest

import procs
from imdlib import CUSTOMER, NS, VENDOR, Http, ImdTestCase

V = ":".join(VENDOR)
C = ":".join(CUSTOMER)
SIG_MT = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANN = "dev.cosignproject.cosign/signature"

KEYS = """
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: vendor-build, namespace: %(ns)s}
spec:
  mode: Generate
  secretRef: {name: vendor-build-key}
  publishKey: {configMapRef: {name: vendor-build-pub}}
---
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: vendor-release, namespace: %(ns)s}
spec:
  mode: Generate
  secretRef: {name: vendor-release-key}
  publishKey: {configMapRef: {name: vendor-release-pub}}
""" % {"ns": NS}

# spec.verify trusting the SigningKey vendor-build
VERIFY_BUILD = ("  verify:\n    authorities:\n"
                "    - {name: build, key: {signingKeyRef: {name: vendor-build}}}\n")

COSIGN_IMPORT = """
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: cosign-release, namespace: %(ns)s}
spec:
  mode: Import
  secretRef: {name: cosign-release-key}
""" % {"ns": NS}

# cosign v3 writing legacy .sig signatures, no transparency log (as e2e/sign/test_sign_race.py)
COSIGN_SIGN_FLAGS = ["-y", "--tlog-upload=false", "--new-bundle-format=false",
                     "--use-signing-config=false", "--allow-http-registry",
                     "--allow-insecure-registry"]


class SigningTest(ImdTestCase):
    def setUp(self):
        super().setUp()
        self.apply(KEYS)
        for name in ("vendor-build", "vendor-release"):
            self.kube.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", NS,
                              f"signingkey/{name}")
        # the Generate key as cosign would use it: cosign.key with its cosign.password
        self.build_key = os.path.join(self.tmp, "vendor-build-key.cosign.key")
        self.build_key_env = self.kube.signing_key_file(NS, "vendor-build-key", self.build_key)
        self.build_pub = self.configmap_file("vendor-build-pub")
        self.release_pub = self.configmap_file("vendor-release-pub")
        prefix = os.path.join(self.tmp, "other")
        procs.run([procs.SEALIFT, "keygen", "--out", prefix])
        self.other_key, self.other_pub = prefix + ".key", prefix + ".pub"
        self.http = Http(self.customer.host, *CUSTOMER)

    def configmap_file(self, name):
        cm = json.loads(self.kube.kubectl("get", "configmap", name, "-n", NS, "-o",
                                          "json").stdout)
        path = os.path.join(self.tmp, f"{name}.pub")
        with open(path, "w") as f:
            f.write(cm["data"]["cosign.pub"])
        return path

    def sealift_sign(self, ref, key, creds):
        procs.run([procs.SEALIFT, "sign", ref, "--key", key, "--creds", creds, "--insecure"],
                  env=self.build_key_env if key == self.build_key else None)

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
                      extra_spec=VERIFY_BUILD
                               + "  sign: {signingKeyRef: {name: vendor-release}}\n")
        obj = self.wait_ready("signed")
        st = obj["status"]
        self.assertEqual(self.condition(obj, "Verified")["status"], "True")
        self.assertEqual(self.condition(obj, "Signed")["status"], "True")
        self.assertEqual(st["summary"]["signed"], 2)
        self.assertEqual(st["summary"]["delivered"], 2)
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

        def cell(name):  # kubectl aligns each cell under its header; an empty one is blank
            rest = out[1][out[0].index(name):]
            return "" if rest.startswith(" ") else rest.split()[0]
        self.assertEqual([cell(c) for c in ("DELIVERED", "BLOCKED", "SIGNED", "READY")],
                         ["2", "", "2", "True"])

    def cosign(self, *args, creds=V, host=None, password=""):
        """Runs the real cosign with the test cluster's kubeconfig (for k8s:// keys) and a
        docker config holding creds for host."""
        cfg = os.path.join(self.tmp, "docker-" + creds.split(":")[0])
        os.makedirs(cfg, exist_ok=True)
        with open(os.path.join(cfg, "config.json"), "w") as f:
            auths = {host: {"auth": base64.b64encode(creds.encode()).decode()}} if host else {}
            json.dump({"auths": auths}, f)
        env = dict(os.environ, DOCKER_CONFIG=cfg, COSIGN_PASSWORD=password, HOME=self.tmp,
                   KUBECONFIG=self.kube.kubeconfig)
        cp = subprocess.run([procs.peer("cosign"), *args], cwd=self.tmp, env=env,
                            capture_output=True, text=True, timeout=300)
        self.assertEqual(cp.returncode, 0, f"cosign {' '.join(args)}:\n{cp.stdout}\n{cp.stderr}")
        return cp

    def test_real_cosign_uses_generated_keys_and_cosign_keys_sign_deliveries(self):
        d5 = self.seed_image("5.0", seed=5)
        # cosign signs with the Generate key straight from its Secret (cosign.key opened with
        # cosign.password, as cosign reads k8s://); the delivery's verify gate checks it
        self.cosign("sign", "--key", f"k8s://{NS}/vendor-build-key", *COSIGN_SIGN_FLAGS,
                    f"{self.vendor.host}/acme/app@{d5}", host=self.vendor.host)
        # a key pair cosign generated into a Secret, with a password, imported
        self.cosign("generate-key-pair", f"k8s://{NS}/cosign-release-key",
                    password="cosign-pw-test-only")
        self.apply(COSIGN_IMPORT)
        self.kube.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", NS,
                          "signingkey/cosign-release")
        cm_pub = base64.b64decode(json.loads(self.kube.kubectl(
            "get", "secret", "cosign-release-key", "-n", NS, "-o", "json").stdout)["data"]
            ["cosign.pub"]).decode()
        sk = json.loads(self.kube.kubectl("get", "signingkey", "cosign-release", "-n", NS, "-o",
                                          "json").stdout)
        self.assertEqual(sk["status"]["publicKey"].strip(), cm_pub.strip())

        self.delivery("cosign-keys", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/cosign", "customer-push")],
                      extra_source="    tags: ['5.0']\n",
                      extra_spec=VERIFY_BUILD
                               + "  sign: {signingKeyRef: {name: cosign-release}}\n")
        obj = self.wait_ready("cosign-keys", timeout=120)
        self.assertEqual(self.condition(obj, "Verified")["status"], "True")
        self.assertEqual(self.condition(obj, "Signed")["status"], "True")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/cosign:5.0", C), d5)
        # cosign verifies sealift's signature with the public key of the imported Secret
        self.cosign("verify", "--key", f"k8s://{NS}/cosign-release-key",
                    "--insecure-ignore-tlog=true", "--allow-http-registry",
                    "--allow-insecure-registry", f"{self.customer.host}/mirror/cosign@{d5}",
                    creds=C, host=self.customer.host)
        # and sealift verifies cosign's signature, copied next to it, with the Generate key's
        cp = procs.run([procs.SEALIFT, "verify", f"{self.customer.host}/mirror/cosign@{d5}",
                        "--key", self.build_pub, "--creds", C, "--insecure"], check=False)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # the password is in no status, event or log line
        everything = (self.kube.kubectl("get", "signingkeys,imagedeliveries,events", "-n", NS,
                                        "-o", "json").stdout + self.ctl.proc.output())
        self.assertNotIn("cosign-pw-test-only", everything)

    def test_any_listed_authority_verifies(self):
        """Key rotation: with two authorities a tag signed by the second key only is delivered;
        a tag signed by neither is blocked, and the message names both SigningKeys."""
        d3 = self.seed_image("3.0", seed=3)
        self.seed_image("6.0", seed=6)
        self.sealift_sign(f"{self.vendor.host}/acme/app:3.0", self.other_key, V)
        prefix = os.path.join(self.tmp, "stranger")
        procs.run([procs.SEALIFT, "keygen", "--out", prefix])
        self.sealift_sign(f"{self.vendor.host}/acme/app:6.0", prefix + ".key", V)
        self.kube.kubectl("create", "configmap", "next-pub", "-n", NS,
                          f"--from-file=cosign.pub={self.other_pub}")
        self.apply(f"""apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {{name: vendor-next, namespace: {NS}}}
spec: {{mode: VerifyOnly, publicKey: {{configMapRef: {{name: next-pub}}}}}}
""")
        self.delivery("rotation", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/rotation", "customer-push")],
                      extra_source="    tags: ['3.0', '6.0']\n",
                      extra_spec="  verify:\n    authorities:\n"
                                 "    - {name: current, key: {signingKeyRef: {name: vendor-build}}}\n"
                                 "    - {name: next, key: {signingKeyRef: {name: vendor-next}}}\n")
        obj = self.wait_ready("rotation", timeout=120)
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/rotation:3.0", C), d3)
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/rotation:6.0", C))
        self.assertEqual([i["verified"] for i in obj["status"]["images"]], [True, False])
        blocked = self.condition(obj, "Blocked")
        self.assertEqual(blocked["reason"], "SignatureInvalid")
        self.assertIn('no valid signature by one of SigningKeys "vendor-build", "vendor-next"',
                      blocked["message"])
        self.assertEqual(obj["status"]["summary"]["delivered"], 1)

    def test_unsigned_and_wrongly_signed_sources_are_not_delivered(self):
        self.seed_image("2.0", seed=2)
        self.seed_image("3.0", seed=3)
        self.sealift_sign(f"{self.vendor.host}/acme/app:3.0", self.other_key, V)
        for name, tag in (("unsigned", "2.0"), ("wrongkey", "3.0")):
            self.delivery(name, f"{self.vendor.host}/acme/app",
                          [(f"{self.customer.host}/mirror/{name}", "customer-push")],
                          extra_source=f"    tags: ['{tag}']\n",
                          extra_spec=VERIFY_BUILD
                                   + "  sign: {signingKeyRef: {name: vendor-release}}\n")
        obj = self.wait_reason("unsigned", "SignatureMissing")
        self.assertEqual(self.condition(obj, "Verified")["status"], "False")
        self.assertEqual(self.condition(obj, "Synced")["status"], "False")
        self.assertIn("vendor-build", self.condition(obj, "Ready")["message"])
        obj = self.wait_reason("wrongkey", "SignatureInvalid")
        self.assertEqual(self.condition(obj, "Verified")["reason"], "SignatureInvalid")
        self.assertEqual(obj["status"]["summary"], {"delivered": 0, "signed": 0})
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/unsigned:2.0", C))
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/wrongkey:3.0", C))
        events = self.kube.kubectl("get", "events", "-n", NS, "-o", "json").stdout
        self.assertIn("SignatureInvalid", events)
        self.assertIn("SignatureMissing", events)


if __name__ == "__main__":
    unittest.main(verbosity=2)
