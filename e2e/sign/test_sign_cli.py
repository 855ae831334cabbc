"""`sealift sign` / `sealift verify` against a real docker-registry. The signatures sealift writes
are fetched over plain HTTP (urllib, as curl would) and checked with the openssl CLI, not with
sealift code. Keys go both ways with the real cosign (v3.1.3, hack/peers.sh): a
`cosign generate-key-pair` key signs with `sealift sign`, a `sealift keygen` key with cosign."""
import base64
import json
import os
import subprocess
import tempfile
import unittest
import urllib.request

import procs
import registry as reglib

SIG_MT = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANN = "dev.cosignproject.cosign/signature"
# cosign v3 writing legacy .sig signatures, no transparency log
COSIGN_SIGN_FLAGS = ["-y", "--tlog-upload=false", "--new-bundle-format=false",
                     "--use-signing-config=false", "--allow-http-registry",
                     "--allow-insecure-registry"]


class Http:
    """Minimal registry client with Basic auth, independent of sealift."""

    def __init__(self, host, creds):
        self.base = f"http://{host}"
        self.auth = "Basic " + base64.b64encode(creds.encode()).decode()

    def req(self, method, path, data=None, headers=None):
        r = urllib.request.Request(self.base + path, data=data, method=method)
        r.add_header("Authorization", self.auth)
        for k, v in (headers or {}).items():
            r.add_header(k, v)
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()

    def manifest(self, repo, ref):
        _, _, body = self.req("GET", f"/v2/{repo}/manifests/{ref}",
                              headers={"Accept": reglib.OCI_MANIFEST})
        return json.loads(body)

    def blob(self, repo, digest):
        return self.req("GET", f"/v2/{repo}/blobs/{digest}")[2]

    def put_blob(self, repo, data):
        digest = reglib.sha256_digest(data)
        _, h, _ = self.req("POST", f"/v2/{repo}/blobs/uploads/")
        loc = h["Location"]
        sep = "&" if "?" in loc else "?"
        path = loc if loc.startswith("/") else "/" + loc.split("/", 3)[3]
        self.req("PUT", f"{path}{sep}digest={digest}", data=data,
                 headers={"Content-Type": "application/octet-stream"})
        return digest

    def put_manifest(self, repo, ref, manifest):
        data = json.dumps(manifest).encode()
        self.req("PUT", f"/v2/{repo}/manifests/{ref}", data=data,
                 headers={"Content-Type": reglib.OCI_MANIFEST})


class SignCliTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.reg = reglib.Registry(self, "vendor", users={"acme": "s3cret"})
        self.creds = self.reg.creds()
        self.http = Http(self.reg.host, self.creds)
        layout = os.path.join(self.tmp, "layout")
        lay = reglib.Layout(layout)
        for i, tag in enumerate(("1.0", "2.0")):
            lay.tag(lay.image([4096, 2048], seed=i), tag)
        for tag in ("1.0", "2.0"):
            reglib.push(layout, tag, f"{self.reg.host}/acme/app:{tag}", creds=self.creds)
        self.digest = {t: reglib.sha256_digest(
            reglib.inspect_raw(f"{self.reg.host}/acme/app:{t}", self.creds))
            for t in ("1.0", "2.0")}

    def sealift(self, *args, check=False):
        return procs.run([procs.SEALIFT, *args], check=check)

    def keygen(self, name, alg="ecdsa-p256"):
        prefix = os.path.join(self.tmp, name)
        procs.run([procs.SEALIFT, "keygen", "--algorithm", alg, "--out", prefix])
        return prefix + ".key", prefix + ".pub"

    def sign(self, tag, key):
        return self.sealift("sign", f"{self.reg.host}/acme/app:{tag}", "--key", key,
                            "--creds", self.creds, "--insecure")

    def verify(self, tag, key):
        return self.sealift("verify", f"{self.reg.host}/acme/app:{tag}", "--key", key,
                            "--creds", self.creds, "--insecure")

    def sig_layers(self, tag):
        d = self.digest[tag]
        m = self.http.manifest("acme/app", f"sha256-{d[7:]}.sig")
        self.assertEqual(m["config"]["mediaType"], "application/vnd.oci.image.config.v1+json")
        return m["layers"]

    def openssl_verify(self, layer, pub, alg="ecdsa-p256", tag="1.0"):
        payload = self.http.blob("acme/app", layer["digest"])
        self.assertEqual(reglib.sha256_digest(payload), layer["digest"])
        doc = json.loads(payload)
        self.assertEqual(doc["critical"]["image"]["docker-manifest-digest"], self.digest[tag])
        self.assertEqual(doc["critical"]["type"], "cosign container image signature")
        self.assertEqual(doc["critical"]["identity"]["docker-reference"],
                         f"{self.reg.host}/acme/app")
        sig = base64.b64decode(layer["annotations"][SIG_ANN])
        with tempfile.NamedTemporaryFile(dir=self.tmp, delete=False) as p, \
                tempfile.NamedTemporaryFile(dir=self.tmp, delete=False) as s:
            p.write(payload)
            s.write(sig)
        if alg == "ed25519":
            cmd = ["openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", pub,
                   "-in", p.name, "-sigfile", s.name]
        else:
            md = "-sha384" if alg == "ecdsa-p384" else "-sha256"
            cmd = ["openssl", "dgst", md, "-verify", pub, "-signature", s.name, p.name]
        return subprocess.run(cmd, capture_output=True, text=True).returncode == 0

    def test_sign_then_openssl_and_verify(self):
        key, pub = self.keygen("k1")
        cp = self.sign("1.0", key)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn(self.digest["1.0"], cp.stdout)
        layers = self.sig_layers("1.0")
        self.assertEqual(len(layers), 1)
        self.assertEqual(layers[0]["mediaType"], SIG_MT)
        self.assertTrue(self.openssl_verify(layers[0], pub))
        # same key again: no duplicate
        cp = self.sign("1.0", key)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("already signed", cp.stdout)
        self.assertEqual(len(self.sig_layers("1.0")), 1)
        self.assertEqual(self.verify("1.0", pub).returncode, 0)
        # the private key file verifies too
        self.assertEqual(self.verify("1.0", key).returncode, 0)

    def cosign(self, *args, password=""):
        cfg = os.path.join(self.tmp, "docker")
        os.makedirs(cfg, exist_ok=True)
        with open(os.path.join(cfg, "config.json"), "w") as f:
            json.dump({"auths": {self.reg.host: {
                "auth": base64.b64encode(self.creds.encode()).decode()}}}, f)
        env = dict(os.environ, DOCKER_CONFIG=cfg, COSIGN_PASSWORD=password, HOME=self.tmp)
        return subprocess.run([procs.peer("cosign"), *args], cwd=self.tmp, env=env,
                              capture_output=True, text=True, timeout=300)

    def test_cosign_keys_both_ways(self):
        cp = self.cosign("generate-key-pair", password="cosign-pw-test-only")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        ckey, cpub = os.path.join(self.tmp, "cosign.key"), os.path.join(self.tmp, "cosign.pub")
        ref = f"{self.reg.host}/acme/app:1.0"
        base = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
        # a wrong or missing password: exit 2, said plainly, the password never echoed
        for extra in ({"COSIGN_PASSWORD": "not-it-test-only"}, {}):
            cp = procs.run([procs.SEALIFT, "sign", ref, "--key", ckey, "--creds", self.creds,
                            "--insecure"], check=False, env=dict(base, **extra))
            self.assertEqual(cp.returncode, 2, cp.stderr)
            self.assertIn("cannot decrypt the cosign private key", cp.stderr)
            self.assertIn("COSIGN_PASSWORD, set" if extra else "COSIGN_PASSWORD, not set",
                          cp.stderr)
            self.assertNotIn("not-it-test-only", cp.stdout + cp.stderr)
        self.assertRaises(Exception, self.sig_layers, "1.0")  # nothing was written
        # with cosign's password, as cosign takes it
        cp = procs.run([procs.SEALIFT, "sign", ref, "--key", ckey, "--creds", self.creds,
                        "--insecure"], check=False,
                       env=dict(base, COSIGN_PASSWORD="cosign-pw-test-only"))
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertTrue(self.openssl_verify(self.sig_layers("1.0")[0], cpub))
        cp = self.cosign("verify", "--key", cpub, "--insecure-ignore-tlog=true",
                         "--allow-http-registry", "--allow-insecure-registry",
                         f"{self.reg.host}/acme/app@{self.digest['1.0']}")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # a key sealift keygen wrote with a password signs with cosign; sealift verifies it
        prefix = os.path.join(self.tmp, "sl")
        procs.run([procs.SEALIFT, "keygen", "--out", prefix],
                  env=dict(base, COSIGN_PASSWORD="sl-pw-test-only"))
        cp = self.cosign("sign", "--key", prefix + ".key", *COSIGN_SIGN_FLAGS,
                         f"{self.reg.host}/acme/app@{self.digest['2.0']}",
                         password="sl-pw-test-only")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(self.verify("2.0", prefix + ".pub").returncode, 0)
        self.assertTrue(self.openssl_verify(self.sig_layers("2.0")[0], prefix + ".pub",
                                            tag="2.0"))

    def test_other_algorithms(self):
        for alg in ("ecdsa-p384", "ed25519"):
            key, pub = self.keygen(alg, alg)
            self.assertEqual(self.sign("2.0", key).returncode, 0)
            layer = self.sig_layers("2.0")[-1]
            self.assertTrue(self.openssl_verify(layer, pub, alg, tag="2.0"), alg)
            self.assertEqual(self.verify("2.0", pub).returncode, 0)
        self.assertEqual(len(self.sig_layers("2.0")), 2)

    def test_foreign_signature_is_kept_and_wrong_key_fails(self):
        k1, p1 = self.keygen("k1")
        k2, p2 = self.keygen("k2")
        _, p3 = self.keygen("k3")
        self.assertEqual(self.sign("1.0", k1).returncode, 0)
        self.assertEqual(self.sign("1.0", k2).returncode, 0)
        layers = self.sig_layers("1.0")
        self.assertEqual(len(layers), 2)
        self.assertTrue(self.openssl_verify(layers[0], p1))
        self.assertTrue(self.openssl_verify(layers[1], p2))
        self.assertFalse(self.openssl_verify(layers[0], p2))
        cp = self.verify("1.0", p3)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("does not verify", cp.stderr)

    def test_unsigned_image_fails(self):
        _, pub = self.keygen("k1")
        cp = self.verify("2.0", pub)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("no signature", cp.stderr)

    def test_tampered_payload_fails(self):
        key, pub = self.keygen("k1")
        self.assertEqual(self.sign("1.0", key).returncode, 0)
        d = self.digest["1.0"]
        tag = f"sha256-{d[7:]}.sig"
        m = self.http.manifest("acme/app", tag)
        payload = self.http.blob("acme/app", m["layers"][0]["digest"])
        tampered = payload.replace(b"sealift", b"mallory")
        self.assertNotEqual(tampered, payload)
        m["layers"][0]["digest"] = self.http.put_blob("acme/app", tampered)
        m["layers"][0]["size"] = len(tampered)
        self.http.put_manifest("acme/app", tag, m)
        self.assertFalse(self.openssl_verify(m["layers"][0], pub))
        cp = self.verify("1.0", pub)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("does not verify", cp.stderr)

    def test_signature_for_another_digest_fails(self):
        key, pub = self.keygen("k1")
        self.assertEqual(self.sign("1.0", key).returncode, 0)
        d1, d2 = self.digest["1.0"], self.digest["2.0"]
        m = self.http.manifest("acme/app", f"sha256-{d1[7:]}.sig")
        self.http.put_manifest("acme/app", f"sha256-{d2[7:]}.sig", m)
        cp = self.verify("2.0", pub)
        self.assertEqual(cp.returncode, 1)
        self.assertIn(f"is for digest {d1}", cp.stderr)

    def test_bad_input(self):
        key, pub = self.keygen("k1")
        cp = self.sealift("sign", "not a reference", "--key", key)
        self.assertEqual(cp.returncode, 2)
        cp = self.sealift("verify", f"{self.reg.host}/acme/app:1.0", "--key",
                          os.path.join(self.tmp, "missing.pub"))
        self.assertEqual(cp.returncode, 2)
        self.assertIn("missing.pub", cp.stderr)
        cp = self.sealift("sign", f"{self.reg.host}/acme/app:1.0", "--key", pub, "--insecure")
        self.assertEqual(cp.returncode, 2)  # a public key cannot sign
        cp = self.sealift("verify", f"{self.reg.host}/acme/app:nope", "--key", pub,
                          "--creds", self.creds, "--insecure")
        self.assertEqual(cp.returncode, 3)
        cp = self.sealift("verify", f"{self.reg.host}/acme/app:1.0", "--key", pub,
                          "--creds", "acme:wrong", "--insecure")
        self.assertEqual(cp.returncode, 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
