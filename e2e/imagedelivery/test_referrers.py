"""ImageDelivery with referrers, end to end on the real API server: the vendor signs with the
real cosign v3.1.3 (bundle format, no transparency log), attests, and attaches an SBOM and a
review of it with the real oras v1.3.6, in a docker-registry without the referrers API (so in the
sha256-<hex> fallback index). The controller verifies the cosign v3 signature, delivers to a
docker-registry and to a registry with the referrers API (the refregistry peer), and signs there
in both formats. What arrived is checked with oras discover and cosign verify /
verify-attestation on the targets, not with sealift code."""
import base64
import json
import os
import subprocess
import unittest

import procs
import registry as reg
from imdlib import CUSTOMER, NS, VENDOR, ImdTestCase

BUNDLE_MT = "application/vnd.dev.sigstore.bundle.v0.3+json"
SBOM_MT = "application/spdx+json"
REVIEW_MT = "application/vnd.example.review+json"
BUILD_TYPE = "https://example.com/build/v1"

KEYS = """
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: vendor-cosign, namespace: %(ns)s}
spec:
  mode: VerifyOnly
  publicKey: {configMapRef: {name: vendor-cosign-pub}}
---
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: mirror, namespace: %(ns)s}
spec:
  mode: Generate
  secretRef: {name: mirror-key}
  publishKey: {configMapRef: {name: mirror-pub}}
""" % {"ns": NS}


class ReferrerDeliveryTest(ImdTestCase):
    def setUp(self):
        super().setUp()
        self.cosign = procs.peer("cosign")
        self.oras = procs.peer("oras")
        self.api = reg.RefRegistry(self, "api")
        self.docker_secret("api-push", self.api.host, *self.api.creds().split(":", 1))
        dcfg = os.path.join(self.tmp, "docker")
        os.makedirs(dcfg)
        auths = {r.host: {"auth": base64.b64encode(r.creds().encode()).decode()}
                 for r in (self.vendor, self.customer, self.api)}
        with open(os.path.join(dcfg, "config.json"), "w") as f:
            json.dump({"auths": auths}, f)
        self.env = dict(os.environ, DOCKER_CONFIG=dcfg, COSIGN_PASSWORD="", HOME=self.tmp)
        self.signing_config = os.path.join(self.tmp, "signing-config.json")
        with open(self.signing_config, "w") as f:
            json.dump({"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"}, f)
        for d in ("vendor-keys", "other-keys"):
            os.makedirs(os.path.join(self.tmp, d))
            self.tool(["generate-key-pair"], cwd=os.path.join(self.tmp, d))
        self.kube.kubectl("create", "configmap", "vendor-cosign-pub", "-n", NS,
                          f"--from-file=cosign.pub={self.tmp}/vendor-keys/cosign.pub")
        self.apply(KEYS)
        for name in ("vendor-cosign", "mirror"):
            self.kube.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", NS,
                              f"signingkey/{name}")
        cm = json.loads(self.kube.kubectl("get", "configmap", "mirror-pub", "-n", NS, "-o",
                                          "json").stdout)
        self.mirror_pub = os.path.join(self.tmp, "mirror.pub")
        with open(self.mirror_pub, "w") as f:
            f.write(cm["data"]["cosign.pub"])

    def tool(self, args, cwd=None, exe=None, check=True):
        cp = subprocess.run([exe or self.cosign, *args], capture_output=True, text=True,
                            env=self.env, cwd=cwd or self.tmp, timeout=300)
        if check and cp.returncode != 0:
            raise AssertionError(f"{os.path.basename(exe or self.cosign)} {' '.join(args)} exited "
                                 f"{cp.returncode}:\n{cp.stdout}\n{cp.stderr}")
        return cp

    def oras_tool(self, registry, args):
        user, password = registry.creds().split(":", 1)
        return self.tool([*args, "--plain-http", "-u", user, "-p", password], exe=self.oras)

    def discover(self, registry, ref):
        """{digest: artifactType} of every referrer oras discovers, all levels."""
        out = json.loads(self.oras_tool(registry, ["discover", "--format", "json", ref]).stdout)
        found = {}

        def walk(items):
            for m in items or []:
                found[m["digest"]] = m.get("artifactType", "")
                walk(m.get("referrers"))
        walk(out.get("referrers", out.get("manifests")))
        return found

    def cosign_verify(self, ref, pub, *extra):
        self.tool(["verify", "--key", pub, "--insecure-ignore-tlog",
                   "--allow-insecure-registry", *extra, ref])

    def attach(self, ref, name, mt, content):
        with open(os.path.join(self.tmp, name), "w") as f:
            json.dump(content, f)
        out = self.oras_tool(self.vendor, ["attach", "--artifact-type", mt, "--format", "json",
                                           ref, f"{name}:{mt}"]).stdout
        return json.loads(out)["digest"]

    def test_cosign_v3_signed_image_delivered_with_every_referrer(self):
        d = self.seed_image("1.0", seed=1)
        src = f"{self.vendor.host}/acme/app@{d}"
        key = os.path.join(self.tmp, "vendor-keys", "cosign.key")
        pub = os.path.join(self.tmp, "vendor-keys", "cosign.pub")
        self.tool(["sign", "--key", key, "--signing-config", self.signing_config,
                   "--allow-insecure-registry", "-y", src])
        pred = os.path.join(self.tmp, "predicate.json")
        with open(pred, "w") as f:
            json.dump({"builder": {"id": "vendor-ci"}}, f)
        self.tool(["attest", "--key", key, "--signing-config", self.signing_config,
                   "--allow-insecure-registry", "--type", BUILD_TYPE, "--predicate", pred,
                   "-y", src])
        sbom = self.attach(src, "sbom.json", SBOM_MT, {"spdxVersion": "SPDX-2.3"})
        self.attach(f"{self.vendor.host}/acme/app@{sbom}", "review.json", REVIEW_MT,
                    {"approved": True})
        source_refs = self.discover(self.vendor, src)
        self.assertEqual(len(source_refs), 4, source_refs)

        self.delivery("app", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push"),
                       (f"{self.api.host}/mirror/app", "api-push")],
                      extra_source="    tags: ['1.0']\n",
                      extra_spec=("  verify: {authorities: [{name: vendor-cosign, key: {signingKeyRef: {name: vendor-cosign}}}]}\n"
                                  "  sign: {signingKeyRef: {name: mirror}, format: both}\n"),
                      interval="2s")
        obj = self.wait_ready("app", timeout=120)
        self.assertEqual(self.condition(obj, "Verified")["status"], "True")
        self.assertEqual(self.condition(obj, "Signed")["status"], "True")
        targets = obj["status"]["images"][0]["targets"]
        for t in targets:
            self.assertEqual(t["referrers"]["count"], 4, t)
            self.assertEqual(t["referrers"]["byArtifactType"][BUNDLE_MT], 2, t)
        own = {}
        for registry in (self.customer, self.api):
            with self.subTest(target=registry.host):
                target = f"{registry.host}/mirror/app@{d}"
                got = self.discover(registry, target)
                # the source's referrers with their digests, plus sealift's own bundles: the
                # signature and the SBOM attestation (spec.sign.attestations' default)
                extra = {k: v for k, v in got.items() if k not in source_refs}
                own[registry.host] = list(extra)
                self.assertEqual({k: got[k] for k in source_refs}, source_refs)
                self.assertEqual(list(extra.values()), [BUNDLE_MT, BUNDLE_MT], got)
                self.cosign_verify(target, pub)                # the vendor's cosign v3 bundle
                self.cosign_verify(target, self.mirror_pub)    # sealift's bundle
                self.tool(["verify-attestation", "--key", self.mirror_pub,
                           "--insecure-ignore-tlog", "--allow-insecure-registry", "--type",
                           "spdxjson", target])
                self.tool(["verify-attestation", "--key", pub, "--insecure-ignore-tlog",
                           "--allow-insecure-registry", "--type", BUILD_TYPE, target])
        wide = self.kube.kubectl("get", "imd", "app", "-n", NS, "-o", "wide").stdout.splitlines()
        self.assertIn("REFERRERS", wide[0].split())
        # kubectl aligns each cell under its header (BLOCKED and SCANNED are empty here)
        self.assertEqual(wide[1][wide[0].index("REFERRERS"):].split()[0], "8")

        # the vendor attaches another SBOM later: it follows within an interval or two
        late = self.attach(src, "late.json", SBOM_MT, {"spdxVersion": "SPDX-2.3", "late": 1})
        procs.wait_for(lambda: late in self.discover(self.api, f"{self.api.host}/mirror/app@{d}")
                       and late in self.discover(self.customer,
                                                 f"{self.customer.host}/mirror/app@{d}"),
                       timeout=90, interval=1, what="the late SBOM in both targets")
        obj = self.wait_for_status("app", lambda o: all(
            t["referrers"]["count"] == 5 for t in o["status"]["images"][0]["targets"]),
            timeout=60, what="5 referrers per target")
        # merged into what the targets hold: sealift's own bundle entries are kept
        for registry in (self.customer, self.api):
            got = self.discover(registry, f"{registry.host}/mirror/app@{d}")
            self.assertEqual(len(got), 7, got)
            for digest in own[registry.host]:
                self.assertIn(digest, got)

        # steady state: the targets see manifest HEADs only, no writes; each check's status
        # write moves lastCheckTime and nothing else
        before = self.get("app")
        seen = len(self.requests(self.customer))
        after = before
        for _ in range(2):
            last = after["status"].get("lastCheckTime")
            after = self.wait_for_status("app", lambda o: o["status"].get("lastCheckTime") != last,
                                         timeout=60, what="another check")
        reqs = self.requests(self.customer)[seen:]
        self.assertTrue(reqs, "no request in two checks")
        self.assertEqual(sorted(set(m for m, _ in reqs)), ["HEAD"], reqs)

        def rest(st):
            return {k: v for k, v in st.items() if k != "lastCheckTime"}
        self.assertEqual(rest(after["status"]), rest(before["status"]))

        # an image signed with cosign v3 by another key does not pass the verify gate
        d2 = self.seed_image("2.0", seed=2)
        self.tool(["sign", "--key", os.path.join(self.tmp, "other-keys", "cosign.key"),
                   "--signing-config", self.signing_config, "--allow-insecure-registry", "-y",
                   f"{self.vendor.host}/acme/app@{d2}"])
        self.delivery("other", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['2.0']\n",
                      extra_spec="  verify: {authorities: [{name: vendor-cosign, key: {signingKeyRef: {name: vendor-cosign}}}]}\n")
        obj = self.wait_reason("other", "SignatureInvalid", timeout=120)
        self.assertIn("DSSE signature does not verify with key",
                      self.condition(obj, "Ready")["message"])
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:2.0", ":".join(CUSTOMER)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
