"""The admission webhook accepts a signature in cosign v3's bundle format: the vendor's key (a
SigningKey sealift generated, in cosign's own encrypted format with its password next to it in
the Secret) is used as it is by the real cosign v3.1.3, which signs an image
offline (empty signing config) into the sha256-<hex> fallback index of a docker-registry (no
referrers API). The same cluster, controller and policy as e2e.policy.admission (its setUp)."""
import base64
import json
import os
import subprocess
import unittest

import procs
import registry as reglib
from test_admission import POD, AdmissionTest


class BundleAdmissionTest(AdmissionTest):
    def cosign(self, args, cwd, password=""):
        env = dict(os.environ, COSIGN_PASSWORD=password, HOME=self.tmp,
                   DOCKER_CONFIG=os.path.join(self.tmp, "docker"))
        cp = subprocess.run([procs.peer("cosign"), *args], capture_output=True, text=True,
                            env=env, cwd=cwd, timeout=300)
        self.assertEqual(cp.returncode, 0, f"cosign {' '.join(args)}:\n{cp.stdout}\n{cp.stderr}")

    def test_cosign_v3_bundle_admitted_another_keys_denied(self):
        os.makedirs(os.path.join(self.tmp, "docker"))
        user, password = self.reg.creds().split(":", 1)
        with open(os.path.join(self.tmp, "docker", "config.json"), "w") as f:
            json.dump({"auths": {self.reg.host: {
                "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}, f)
        sc = os.path.join(self.tmp, "signing-config.json")
        with open(sc, "w") as f:
            json.dump({"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"}, f)
        work = os.path.join(self.tmp, "cosign")
        os.makedirs(work)
        # the SigningKey's own key file (cosign.key) with its cosign.password, as cosign reads
        # it; and a key of cosign's own
        self.cosign(["generate-key-pair", "--output-key-prefix", "other"], work)
        self.cosign(["sign", "--key", self.keyfile, "--signing-config", sc,
                     "--allow-insecure-registry", "-y", self.image["2.0"]], work,
                    password=self.key_env["COSIGN_PASSWORD"])
        self.apply_policy()
        cp = self.apply(POD % {"name": "bundle", "ns": "shop", "image": self.image["2.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)

        # the legacy .sig of 1.0 stays valid; a bundle by another key on it adds nothing, and on
        # an image with nothing else it is a denial naming the cause
        self.cosign(["sign", "--key", "other.key", "--signing-config", sc,
                     "--allow-insecure-registry", "-y", self.image["1.0"]], work)
        cp = self.apply(POD % {"name": "legacy", "ns": "shop", "image": self.image["1.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        layout = os.path.join(self.tmp, "layout")
        lay = reglib.Layout(layout)
        lay.tag(lay.image([1024], seed=33), "3.0")
        reglib.push(layout, "3.0", f"{self.reg.host}/mirror/app:3.0", creds=self.reg.creds())
        d3 = reglib.sha256_digest(reglib.inspect_raw(f"{self.reg.host}/mirror/app:3.0",
                                                     self.reg.creds()))
        image3 = f"{self.reg.host}/mirror/app@{d3}"
        self.cosign(["sign", "--key", "other.key", "--signing-config", sc,
                     "--allow-insecure-registry", "-y", image3], work)
        cp = self.apply(POD % {"name": "otherkey", "ns": "shop", "image": image3})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("no valid signature", cp.stderr)


def load_tests(loader, tests, pattern):
    """Only this file's test (the base class's run in e2e.policy.admission)."""
    return unittest.TestSuite(
        [BundleAdmissionTest("test_cosign_v3_bundle_admitted_another_keys_denied")])


if __name__ == "__main__":
    unittest.main(verbosity=2)
