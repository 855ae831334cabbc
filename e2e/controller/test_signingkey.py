"""SigningKey end to end: real kubectl applies a SigningKey to a real API server, the controller makes
it Ready, and the openssl CLI verifies a signature made with the Secret's private key against the
public key published in the ConfigMap. The private key is cosign's encrypted format; this test
opens it on its own (scrypt from Python's hashlib, NaCl secretbox from libsodium through ctypes),
so the format is checked against a second implementation as well."""
import base64
import ctypes
import ctypes.util
import hashlib
import json
import os
import subprocess
import unittest

import procs
from controller import Controller
from kube import Cluster

SIGNINGKEY = """
apiVersion: v1
kind: Namespace
metadata: {name: vendor-acme}
---
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: release, namespace: vendor-acme}
spec:
  mode: Generate
  algorithm: %(alg)s
  secretRef: {name: release-key}
  publishKey: {configMapRef: {name: release-pub}}
"""


def cosign_key_der(pem, password):
    """The PKCS#8 DER inside a cosign "ENCRYPTED SIGSTORE PRIVATE KEY" PEM."""
    lines = pem.decode().strip().splitlines()
    assert lines[0] == "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----", lines[0]
    env = json.loads(base64.b64decode("".join(lines[1:-1])))
    assert env["kdf"]["name"] == "scrypt" and env["cipher"]["name"] == "nacl/secretbox", env
    p = env["kdf"]["params"]
    key = hashlib.scrypt(password, salt=base64.b64decode(env["kdf"]["salt"]), n=p["N"],
                         r=p["r"], p=p["p"], maxmem=256 << 20, dklen=32)
    boxed = base64.b64decode(env["ciphertext"])
    sodium = ctypes.CDLL(ctypes.util.find_library("sodium"))
    assert sodium.sodium_init() >= 0
    out = ctypes.create_string_buffer(len(boxed) - 16)
    rc = sodium.crypto_secretbox_open_easy(out, boxed, ctypes.c_ulonglong(len(boxed)),
                                           base64.b64decode(env["cipher"]["nonce"]), key)
    assert rc == 0, "secretbox did not open"
    return out.raw


class SigningKeyTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()
        self.ctl = Controller(self, self.kube)
        self.ctl.wait_ready()

    def wait_ready(self, name, ns="vendor-acme"):
        self.kube.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", ns,
                          f"signingkey/{name}")
        return json.loads(self.kube.kubectl("get", "-n", ns, f"signingkey/{name}",
                                            "-o", "json").stdout)

    def openssl_verify(self, alg):
        sec = json.loads(self.kube.kubectl("get", "-n", "vendor-acme", "secret", "release-key",
                                           "-o", "json").stdout)
        cm = json.loads(self.kube.kubectl("get", "-n", "vendor-acme", "configmap",
                                          "release-pub", "-o", "json").stdout)
        key = os.path.join(self.tmp, "cosign.key")
        pub = os.path.join(self.tmp, "cosign.pub")
        msg = os.path.join(self.tmp, "msg")
        sig = os.path.join(self.tmp, "msg.sig")
        der = cosign_key_der(base64.b64decode(sec["data"]["cosign.key"]),
                             base64.b64decode(sec["data"]["cosign.password"]))
        with open(key + ".der", "wb") as f:
            f.write(der)
        procs.run(["openssl", "pkey", "-inform", "DER", "-in", key + ".der", "-out", key])
        with open(pub, "w") as f:
            f.write(cm["data"]["cosign.pub"])
        with open(msg, "wb") as f:
            f.write(b'{"critical":{"image":{"docker-manifest-digest":"sha256:00"}}}')
        if alg == "ed25519":
            procs.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", msg,
                       "-out", sig])
            cp = procs.run(["openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", pub,
                            "-in", msg, "-sigfile", sig], check=False)
        else:
            digest = "-sha384" if alg == "ecdsa-p384" else "-sha256"
            procs.run(["openssl", "dgst", digest, "-sign", key, "-out", sig, msg])
            cp = procs.run(["openssl", "dgst", digest, "-verify", pub, "-signature", sig, msg],
                           check=False)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("Verified", cp.stdout + cp.stderr)
        # and the wrong message does not verify: the check can fail
        with open(msg, "ab") as f:
            f.write(b"x")
        if alg == "ed25519":
            cp = procs.run(["openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", pub,
                            "-in", msg, "-sigfile", sig], check=False)
        else:
            cp = procs.run(["openssl", "dgst", digest, "-verify", pub, "-signature", sig, msg],
                           check=False)
        self.assertNotEqual(cp.returncode, 0)
        return pub

    def fingerprint(self, pub):
        cp = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER"],
                            capture_output=True, check=True)
        return "sha256:" + hashlib.sha256(cp.stdout).hexdigest()

    def test_generate_ready_and_openssl_verifies(self):
        for alg in ("ecdsa-p256",):
            self.kube.kubectl("apply", "-f", "-", input=SIGNINGKEY % {"alg": alg})
            obj = self.wait_ready("release")
            pub = self.openssl_verify(alg)
            st = obj["status"]
            self.assertEqual(st["algorithm"], alg)
            self.assertEqual(st["fingerprint"], self.fingerprint(pub))
            self.assertIn("BEGIN PUBLIC KEY", st["publicKey"])
            self.assertEqual(st["publishedKey"], {"configMapName": "release-pub",
                                                  "fingerprint": st["fingerprint"]})
            self.assertNotIn("PRIVATE", json.dumps(st))
            # printer columns show it
            out = self.kube.kubectl("get", "sigkey", "-n", "vendor-acme").stdout
            self.assertIn("Generate", out)
            self.assertIn(st["fingerprint"][:20], out)
            self.assertIn("True", out)
            # no private key bytes in the controller log
            data = json.loads(self.kube.kubectl(
                "get", "-n", "vendor-acme", "secret", "release-key", "-o", "json").stdout
            )["data"]
            key_pem = base64.b64decode(data["cosign.key"]).decode()
            body = "".join(key_pem.strip().splitlines()[1:-1])
            self.assertNotIn(body[len(body) // 2:][:40], self.ctl.proc.output())
            self.assertNotIn("PRIVATE KEY", self.ctl.proc.output())
            # nor its password, in the log or in the status
            password = base64.b64decode(data["cosign.password"]).decode()
            self.assertEqual(len(password), 32)
            self.assertNotIn(password, self.ctl.proc.output())
            self.assertNotIn(password, json.dumps(st))

    def test_foreign_configmap_is_never_overwritten(self):
        """A ConfigMap of the publishKey name that sealift did not create stays as it was, and
        Ready says why; once it is gone sealift publishes its own."""
        self.kube.kubectl("create", "namespace", "vendor-acme")
        self.kube.kubectl("create", "configmap", "release-pub", "-n", "vendor-acme",
                          "--from-literal=cosign.pub=the web team's own key")
        before = json.loads(self.kube.kubectl("get", "configmap", "release-pub", "-n",
                                              "vendor-acme", "-o", "json").stdout)
        self.kube.kubectl("apply", "-f", "-", input=SIGNINGKEY % {"alg": "ed25519"})

        def refused():
            obj = json.loads(self.kube.kubectl("get", "-n", "vendor-acme", "signingkey/release",
                                               "-o", "json").stdout)
            ready = next((c for c in obj.get("status", {}).get("conditions", [])
                          if c["type"] == "Ready"), {})
            return obj if ready.get("reason") == "ConfigMapNotOwned" else None
        obj = procs.wait_for(refused, timeout=60, what="Ready=False ConfigMapNotOwned")
        ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
        self.assertEqual(ready["status"], "False")
        self.assertIn('ConfigMap "release-pub" exists and was not created by sealift',
                      ready["message"])
        self.assertTrue(obj["status"]["fingerprint"].startswith("sha256:"))
        self.assertNotIn("publishedKey", obj["status"])
        after = json.loads(self.kube.kubectl("get", "configmap", "release-pub", "-n",
                                             "vendor-acme", "-o", "json").stdout)
        self.assertEqual(after["data"], {"cosign.pub": "the web team's own key"})
        self.assertEqual(after["metadata"].get("labels"), before["metadata"].get("labels"))
        self.assertNotIn("ownerReferences", after["metadata"])
        self.assertEqual(after["metadata"]["resourceVersion"],
                         before["metadata"]["resourceVersion"])
        # the web team removes theirs: sealift creates its own and says where it is
        self.kube.kubectl("delete", "configmap", "release-pub", "-n", "vendor-acme")
        st = self.wait_ready("release")["status"]
        self.assertEqual(st["publishedKey"], {"configMapName": "release-pub",
                                              "fingerprint": st["fingerprint"]})

    def test_key_survives_reconcile_and_delete(self):
        self.kube.kubectl("apply", "-f", "-", input=SIGNINGKEY % {"alg": "ed25519"})
        first = self.wait_ready("release")["status"]["fingerprint"]
        self.openssl_verify("ed25519")
        # a spec change triggers a reconcile; the key is never replaced
        self.kube.kubectl("annotate", "-n", "vendor-acme", "sigkey/release", "touched=1")
        self.kube.kubectl("patch", "-n", "vendor-acme", "sigkey/release", "--type", "merge",
                          "-p", '{"spec":{"publishKey":{"configMapRef":{"name":"release-pub2"}}}}')
        procs.wait_for(lambda: self.kube.kubectl("get", "-n", "vendor-acme", "configmap",
                                                 "release-pub2", check=False).returncode == 0,
                       timeout=30, what="second ConfigMap")
        obj = self.wait_ready("release")
        self.assertEqual(obj["status"]["fingerprint"], first)
        # deleting the SigningKey keeps the Secret
        self.kube.kubectl("delete", "-n", "vendor-acme", "sigkey/release")
        cp = self.kube.kubectl("get", "-n", "vendor-acme", "secret", "release-key", check=False)
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def test_import_malformed_key_is_not_ready(self):
        self.kube.kubectl("create", "namespace", "vendor-acme")
        self.kube.kubectl("create", "secret", "generic", "-n", "vendor-acme", "bad-key",
                          "--from-literal=cosign.key=-----BEGIN PRIVATE KEY-----\nnonsense\n"
                          "-----END PRIVATE KEY-----\n")
        self.kube.kubectl("apply", "-f", "-", input="""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: imported, namespace: vendor-acme}
spec:
  mode: Import
  secretRef: {name: bad-key}
""")
        def not_ready():
            obj = json.loads(self.kube.kubectl("get", "-n", "vendor-acme", "sigkey/imported",
                                               "-o", "json").stdout)
            for c in obj.get("status", {}).get("conditions", []):
                if c["type"] == "Ready" and c["status"] == "False":
                    return c
            return None
        cond = procs.wait_for(not_ready, timeout=30, what="Ready=False on the imported key")
        self.assertEqual(cond["reason"], "InvalidKey")
        self.assertIn("bad-key", cond["message"])
        self.assertTrue(self.ctl.proc.alive())


if __name__ == "__main__":
    unittest.main(verbosity=2)
