"""Two writers adding signatures to the same `.sig` manifest at the same time: two `sealift sign`
processes with different keys, and `sealift sign` racing the real `cosign sign` (v3.1.3, legacy
`.sig` mode). Registries have no conditional manifest write, so whichever writer read the
manifest before the other wrote can overwrite it. A fault proxy in gate mode holds one writer's
request until the test lets it go, so each interleaving happens for sure. Every signature must be
at the tag afterwards, checked with the openssl CLI (and with cosign for cosign's)."""
import base64
import json
import os
import subprocess
import unittest

import procs
import registry as reglib
from test_sign_cli import SIG_ANN, Http

COSIGN_SIGN_FLAGS = ["-y", "--tlog-upload=false", "--new-bundle-format=false",
                     "--use-signing-config=false", "--allow-http-registry",
                     "--allow-insecure-registry"]


class SignRaceTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.reg = reglib.Registry(self, "vendor", users={"acme": "s3cret"})
        self.creds = self.reg.creds()
        self.http = Http(self.reg.host, self.creds)
        layout = os.path.join(self.tmp, "layout")
        lay = reglib.Layout(layout)
        lay.tag(lay.image([2048], seed=7), "1.0")
        reglib.push(layout, "1.0", f"{self.reg.host}/acme/app:1.0", creds=self.creds)
        self.digest = reglib.sha256_digest(
            reglib.inspect_raw(f"{self.reg.host}/acme/app:1.0", self.creds))
        self.sig_tag = f"sha256-{self.digest[7:]}.sig"
        self.gate = os.path.join(self.tmp, "gate-open")

    def gated_proxy(self, match, method):
        """A proxy in front of the registry that holds the first matching request at the gate."""
        return reglib.FaultProxy(self, self.reg.host, "gate", 1, name="gate-proxy", match=match,
                                 method=method, gate_file=self.gate)

    def keygen(self, name):
        prefix = os.path.join(self.tmp, name)
        procs.run([procs.SEALIFT, "keygen", "--algorithm", "ecdsa-p256", "--out", prefix])
        return prefix + ".key", prefix + ".pub"

    def start_sealift_sign(self, host, key, name):
        return self.start([procs.SEALIFT, "sign", f"{host}/acme/app@{self.digest}", "--key", key,
                           "--creds", self.creds, "--insecure"], name)

    def cosign_env(self, hosts):
        cfg = os.path.join(self.tmp, "docker")
        os.makedirs(cfg, exist_ok=True)
        auth = base64.b64encode(self.creds.encode()).decode()
        with open(os.path.join(cfg, "config.json"), "w") as f:
            json.dump({"auths": {h: {"auth": auth} for h in hosts}}, f)
        return dict(os.environ, DOCKER_CONFIG=cfg, COSIGN_PASSWORD="", HOME=self.tmp)

    def cosign_keygen(self, env):
        cp = self.cosign(env, "generate-key-pair")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return os.path.join(self.tmp, "cosign.key"), os.path.join(self.tmp, "cosign.pub")

    def cosign(self, env, *args):
        return subprocess.run([procs.peer("cosign"), *args], cwd=self.tmp, env=env,
                              capture_output=True, text=True, timeout=300)

    def layers(self):
        try:
            return self.http.manifest("acme/app", self.sig_tag)["layers"]
        except Exception:
            return []

    def verifying_layers(self, pub):
        """How many layers at the .sig tag hold a signature of the digest that openssl verifies
        with pub (the payload fetched from the registry, not through sealift)."""
        n = 0
        for layer in self.layers():
            payload = self.http.blob("acme/app", layer["digest"])
            doc = json.loads(payload)
            if doc["critical"]["image"]["docker-manifest-digest"] != self.digest:
                continue
            p = os.path.join(self.tmp, "payload")
            s = os.path.join(self.tmp, "sig")
            with open(p, "wb") as f:
                f.write(payload)
            with open(s, "wb") as f:
                f.write(base64.b64decode(layer["annotations"][SIG_ANN]))
            cp = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", s, p],
                                capture_output=True)
            n += cp.returncode == 0
        return n

    def wait_exit(self, proc, timeout=180):
        proc.popen.wait(timeout)
        self.assertEqual(proc.popen.returncode, 0, proc.output())

    def wait_gate_held(self, proxy):
        procs.wait_for(lambda: any(l.startswith("gate ") for l in proxy.fault_lines()),
                       timeout=120, what="a writer's request held at the gate")

    def open_gate(self):
        with open(self.gate, "w"):
            pass

    def test_two_sealift_writers_keep_both_signatures(self):
        k1, p1 = self.keygen("k1")
        k2, p2 = self.keygen("k2")
        proxy = self.gated_proxy("/manifests/sha256-", "PUT")
        # B has read the (absent) signature manifest and is about to write {b}
        b = self.start_sealift_sign(proxy.host, k2, "sign-b")
        self.wait_gate_held(proxy)
        # A signs meanwhile and writes {a}
        a = self.start_sealift_sign(self.reg.host, k1, "sign-a")
        procs.wait_for(lambda: self.verifying_layers(p1) == 1, timeout=120,
                       what="A's signature at the .sig tag")
        # B's write lands on top of A's: without re-reading, A's signature is gone for good
        self.open_gate()
        self.wait_exit(a)
        self.wait_exit(b)
        self.assertEqual(self.verifying_layers(p1), 1, self.layers())
        self.assertEqual(self.verifying_layers(p2), 1, self.layers())
        self.assertEqual(len(self.layers()), 2)
        for pub in (p1, p2):
            cp = procs.run([procs.SEALIFT, "verify", f"{self.reg.host}/acme/app@{self.digest}",
                            "--key", pub, "--creds", self.creds, "--insecure"], check=False)
            self.assertEqual(cp.returncode, 0, cp.stderr)

    def test_cosign_signs_while_sealift_is_signing(self):
        env = self.cosign_env([self.reg.host])
        ckey, cpub = self.cosign_keygen(env)
        key, pub = self.keygen("k1")
        # sealift has read the (absent) manifest; its payload upload is held
        proxy = self.gated_proxy("/blobs/uploads/", "POST")
        s = self.start_sealift_sign(proxy.host, key, "sign-sealift")
        self.wait_gate_held(proxy)
        cp = self.cosign(env, "sign", "--key", ckey, *COSIGN_SIGN_FLAGS,
                         f"{self.reg.host}/acme/app@{self.digest}")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(self.verifying_layers(cpub), 1)
        self.open_gate()
        self.wait_exit(s)
        self.assertEqual(self.verifying_layers(pub), 1, self.layers())
        self.assertEqual(self.verifying_layers(cpub), 1, self.layers())
        self.assertEqual(len(self.layers()), 2)
        cp = self.cosign(env, "verify", "--key", cpub, "--insecure-ignore-tlog=true",
                         "--allow-http-registry", "--allow-insecure-registry",
                         f"{self.reg.host}/acme/app@{self.digest}")
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def test_cosign_writes_between_sealifts_read_and_write(self):
        """cosign's write lands after sealift read the manifest it merges into, while sealift
        uploads the config blob of its manifest: sealift must notice before writing."""
        env = self.cosign_env([self.reg.host])
        ckey, cpub = self.cosign_keygen(env)
        key, pub = self.keygen("k1")
        proxy = self.gated_proxy("/blobs/uploads/", "POST")
        # sealift's payload blob (the same bytes it makes) is there already, so the first upload
        # sealift starts is its manifest's config, after the read its merge is based on
        payload = json.dumps({"critical": {
            "identity": {"docker-reference": f"{proxy.host}/acme/app"},
            "image": {"docker-manifest-digest": self.digest},
            "type": "cosign container image signature"}, "optional": {"creator": "sealift"}},
            separators=(",", ":")).encode()
        self.http.put_blob("acme/app", payload)
        s = self.start_sealift_sign(proxy.host, key, "sign-sealift")
        self.wait_gate_held(proxy)
        self.assertIsNone(self.http_manifest_or_none())
        cp = self.cosign(env, "sign", "--key", ckey, *COSIGN_SIGN_FLAGS,
                         f"{self.reg.host}/acme/app@{self.digest}")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.open_gate()
        self.wait_exit(s)
        self.assertEqual(self.verifying_layers(pub), 1, self.layers())
        self.assertEqual(self.verifying_layers(cpub), 1, self.layers())
        self.assertEqual(len(self.layers()), 2)

    def http_manifest_or_none(self):
        try:
            return self.http.manifest("acme/app", self.sig_tag)
        except Exception:
            return None

    def test_sealift_signs_while_cosign_is_signing(self):
        proxy = self.gated_proxy("/manifests/sha256-", "PUT")
        env = self.cosign_env([self.reg.host, proxy.host])
        ckey, cpub = self.cosign_keygen(env)
        key, pub = self.keygen("k1")
        # cosign has read the (absent) manifest and is about to write {cosign's}
        c = subprocess.Popen([procs.peer("cosign"), "sign", "--key", ckey, *COSIGN_SIGN_FLAGS,
                              f"{proxy.host}/acme/app@{self.digest}"], cwd=self.tmp, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: c.poll() is None and c.kill())
        self.wait_gate_held(proxy)
        s = self.start_sealift_sign(self.reg.host, key, "sign-sealift")
        procs.wait_for(lambda: self.verifying_layers(pub) == 1, timeout=120,
                       what="sealift's signature at the .sig tag")
        # cosign's write replaces sealift's manifest; sealift must notice and write again
        self.open_gate()
        out, _ = c.communicate(timeout=300)
        self.assertEqual(c.returncode, 0, out)
        self.wait_exit(s)
        self.assertEqual(self.verifying_layers(pub), 1, self.layers())
        self.assertEqual(self.verifying_layers(cpub), 1, self.layers())
        self.assertEqual(len(self.layers()), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
