"""ImageDelivery when the controller itself dies (DESIGN.md section 7: "a controller killed at any
moment resumes without manual repair"). `sealift controller` runs with --leader-elect, as
crds/deployment.yaml runs it, and is SIGKILLed
  - in the middle of a copy: blob bytes are arriving in the target registry, the tag is not
    written yet;
  - right after a copy, before it could write status (the API server is stopped from the
    moment the copy is in flight, so the status write that follows it cannot land);
  - while signing (spec.sign), the image already copied: the target is reached through
    e2e/lib/faultproxy.py, which holds the PUT of the `sha256-<hex>.sig` signature manifest
    either before it reaches the registry (the signature payload blob is uploaded, the
    manifest not written) or after the registry stored it (the controller never hears back).
A new controller process then has to take the Lease over from the dead one and finish the
delivery with nothing repaired by hand: never a partial tag in the target, Ready=True, and the
target digest equal to the source's (checked with skopeo, every blob readable).

The source is read through e2e/lib/faultproxy.py with --slow-ms, so a copy of a few MiB is surely
in flight for seconds; "in flight" is observed in the target registry's storage (an upload
session that has received bytes), never guessed with a fixed sleep."""
import base64
import json
import os
import signal
import unittest

import procs
import registry as reg
from controller import Controller
from imdlib import CUSTOMER, KB, NS, VENDOR, Http, ImdTestCase

C = ":".join(CUSTOMER)
MIB = 1024 * KB
SLOW_MS = 40  # per 64 KiB of a response body: a 4 MiB layer takes about 2.5 s
SIG_MT = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANN = "dev.cosignproject.cosign/signature"

RELEASE_KEY = """
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: release, namespace: %s}
spec:
  mode: Generate
  secretRef: {name: release-key}
  publishKey: {configMapRef: {name: release-pub}}
""" % NS


class ControllerRestartTest(ImdTestCase):
    controller_args = ("--leader-elect",)

    def slow_source(self):
        """A proxy in front of the vendor registry that slows every response body; returns its
        host. The Secret "slow-pull" holds the vendor's credentials for it."""
        proxy = reg.FaultProxy(self, self.vendor.host, "none", 0, name="slow-source",
                               slow_ms=SLOW_MS)
        self.docker_secret("slow-pull", proxy.host, *VENDOR)
        return proxy.host

    def upload_sessions(self, repo):
        """{session id: bytes received} of the blob uploads open in the customer registry's
        storage for repo (distribution keeps them under _uploads until they are committed)."""
        base = os.path.join(self.customer.dir, "data", "docker", "registry", "v2",
                            "repositories", repo, "_uploads")
        out = {}
        for sid in os.listdir(base) if os.path.isdir(base) else []:
            data = os.path.join(base, sid, "data")
            out[sid] = os.path.getsize(data) if os.path.exists(data) else 0
        return out

    def wait_copy_in_flight(self, repo, min_bytes=1):
        """Waits until some upload session in the target holds min_bytes of a blob."""
        procs.wait_for(lambda: any(n >= min_bytes for n in self.upload_sessions(repo).values()),
                       timeout=60, interval=0.01,
                       what=f"{min_bytes} blob bytes arriving in {self.customer.host}/{repo}")

    def manifest_puts(self, repo, tag):
        return [p for m, p in self.requests(self.customer)
                if m == "PUT" and p == f"/v2/{repo}/manifests/{tag}"]

    def lease_holder(self):
        status, _, body = self.kube.request(
            "GET", "/apis/coordination.k8s.io/v1/namespaces/sealift-system/leases/"
                   "sealift-controller")
        return body.get("spec", {}).get("holderIdentity") if status == 200 else None

    def restart_controller(self, name):
        """A new controller process (another Lease identity, as a new pod would have)."""
        self.ctl = Controller(self, self.kube, name=name,
                              extra_args=self.controller_args)
        self.ctl.wait_ready()

    def assert_delivered(self, name, tag, digest, timeout=120):
        obj = self.wait_ready(name, timeout=timeout)
        target = f"{self.customer.host}/mirror/app:{tag}"
        self.assertEqual(self.digest_at(target, C), digest)
        reg.inspect(target, C)  # config and every layer readable
        img = obj["status"]["images"][0]
        self.assertEqual(img["digest"], digest)
        self.assertEqual(img["targets"][0]["digest"], digest)
        self.assertIn("syncedAt", img["targets"][0])
        self.assertEqual(self.condition(obj, "Synced")["status"], "True")
        return obj

    def test_status_write_conflict_is_retried(self):
        """Another client changes the object while a copy is in flight: the controller's status
        write, made against the resourceVersion it read, gets 409 Conflict from the real API
        server (seen in its audit log); the controller re-reads the object and writes again."""
        d = self.seed_image("3.0", seed=33, layers=(2 * MIB, 2 * MIB))
        src = self.slow_source()
        procs.wait_for(self.lease_holder, timeout=30, what="a Lease holder")
        self.delivery("conflict", f"{src}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['3.0']\n", source_secret="slow-pull")
        self.wait_copy_in_flight("mirror/app")
        self.kube.kubectl("annotate", "-n", NS, "imd/conflict", "example.com/touched=yes")
        obj = self.assert_delivered("conflict", "3.0", d)
        self.assertEqual(obj["metadata"]["annotations"]["example.com/touched"], "yes")
        codes = [e["responseStatus"]["code"] for e in self.kube.audit_events()
                 if e.get("verb") == "update" and e.get("stage") == "ResponseComplete"
                 and e.get("objectRef", {}).get("subresource") == "status"
                 and e.get("objectRef", {}).get("name") == "conflict"]
        self.assertIn(409, codes)
        self.assertEqual(codes[-1], 200)

    def test_controller_killed_mid_copy(self):
        d = self.seed_image("big", seed=31, layers=(4 * MIB, 4 * MIB, 4 * MIB))
        src = self.slow_source()
        holder = procs.wait_for(self.lease_holder, timeout=30, what="a Lease holder")
        self.delivery("restart", f"{src}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['big']\n", source_secret="slow-pull")
        self.wait_copy_in_flight("mirror/app", min_bytes=256 * KB)
        self.assertEqual(self.ctl.stop(signal.SIGKILL), -signal.SIGKILL)

        # killed mid-copy: upload sessions are left behind, no tag, no status
        self.assertTrue(any(0 < n < 4 * MIB for n in self.upload_sessions("mirror/app").values()))
        self.assertEqual(self.manifest_puts("mirror/app", "big"), [])
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:big", C))
        self.assertNotIn("images", self.get("restart").get("status", {}))

        # a new controller waits for the dead one's Lease to expire, takes it and finishes the
        # copy despite the abandoned sessions
        self.restart_controller("controller-2")
        self.assert_delivered("restart", "big", d)
        self.assertNotIn(self.lease_holder(), (None, "", holder))
        self.assertEqual(len(self.manifest_puts("mirror/app", "big")), 1)
        self.assertTrue(self.ctl.proc.alive())

    def test_controller_killed_after_copy_before_status(self):
        d = self.seed_image("2.0", seed=32, layers=(3 * MIB, 3 * MIB))
        src = self.slow_source()
        procs.wait_for(self.lease_holder, timeout=30, what="a Lease holder")
        self.delivery("late", f"{src}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['2.0']\n", source_secret="slow-pull")
        self.wait_copy_in_flight("mirror/app")
        # from now on the API server is away: the copy (registries only) completes, the status
        # write after it cannot
        self.kube.stop_apiserver()
        try:
            procs.wait_for(lambda: self.manifest_puts("mirror/app", "2.0"), timeout=60,
                           interval=0.01, what="the copy to write the target tag")
            self.assertEqual(self.ctl.stop(signal.SIGKILL), -signal.SIGKILL)
        finally:
            self.kube.start_apiserver()
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:2.0", C), d)
        self.assertNotIn("images", self.get("late").get("status", {}))
        uploads = sum(1 for m, p in self.requests(self.customer)
                      if m == "POST" and "/blobs/uploads/" in p)

        # the new controller finds the target in sync and only records it: nothing copied again
        self.restart_controller("controller-2")
        obj = self.assert_delivered("late", "2.0", d)
        self.assertEqual(self.condition(obj, "Ready")["reason"], "Delivered")
        self.assertEqual(len(self.manifest_puts("mirror/app", "2.0")), 1)
        self.assertEqual(sum(1 for m, p in self.requests(self.customer)
                             if m == "POST" and "/blobs/uploads/" in p), uploads)
        self.assertIn("lastSyncTime", obj["status"])

    # ---- killed while signing ----

    def release_key(self):
        """A Generate SigningKey "release", Ready; returns the path of its published public key."""
        self.apply(RELEASE_KEY)
        self.kube.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", NS,
                          "signingkey/release")
        cm = json.loads(self.kube.kubectl("get", "configmap", "release-pub", "-n", NS, "-o",
                                          "json").stdout)
        path = os.path.join(self.tmp, "release.pub")
        with open(path, "w") as f:
            f.write(cm["data"]["cosign.pub"])
        return path

    def sig_manifest(self, repo, digest):
        """The .sig manifest of digest in the customer registry (urllib), or None if absent."""
        import urllib.error
        try:
            return Http(self.customer.host, *CUSTOMER).manifest(
                repo, "sha256-" + digest[7:] + ".sig")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def signatures_by(self, repo, digest, pub):
        """(layers of the .sig manifest, the cosign simple-signing layers among them whose
        payload names digest and whose signature verifies with pub, checked with openssl)."""
        man = self.sig_manifest(repo, digest)
        self.assertIsNotNone(man, f"no signature manifest for {digest}")
        http = Http(self.customer.host, *CUSTOMER)
        good = []
        for i, layer in enumerate(man["layers"]):
            sig = layer.get("annotations", {}).get(SIG_ANN)
            if layer.get("mediaType") != SIG_MT or not sig:
                continue
            payload = http.blob(repo, layer["digest"])
            p_path = os.path.join(self.tmp, f"payload-{digest[7:15]}-{i}")
            with open(p_path, "wb") as f:
                f.write(payload)
            with open(p_path + ".sig", "wb") as f:
                f.write(base64.b64decode(sig))
            cp = procs.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature",
                            p_path + ".sig", p_path], check=False)
            if (cp.returncode == 0 and "Verified OK" in cp.stdout and
                    json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == digest):
                good.append(layer)
        return man["layers"], good

    def sig_puts(self, repo, digest):
        return [p for m, p in self.requests(self.customer)
                if m == "PUT" and p == f"/v2/{repo}/manifests/sha256-{digest[7:]}.sig"]

    def killed_while_signing(self, hold):
        """Delivers a signed image to a target behind a proxy that holds (mode `hold`) the
        first PUT of a .sig manifest, SIGKILLs the controller while that PUT is held, and lets
        a new controller finish. Returns (digest, pub key path, .sig manifest before restart)."""
        pub = self.release_key()
        d = self.seed_image("3.0", seed=33)
        proxy = reg.FaultProxy(self, self.customer.host, hold, 1, name="sign-target",
                               match=".sig", method="PUT")
        self.docker_secret("proxy-push", proxy.host, *CUSTOMER)
        holder = procs.wait_for(self.lease_holder, timeout=30, what="a Lease holder")
        self.delivery("signkill", f"{self.vendor.host}/acme/app",
                      [(f"{proxy.host}/mirror/app", "proxy-push")],
                      extra_source="    tags: ['3.0']\n",
                      extra_spec="  sign: {signingKeyRef: {name: release}}\n")
        held = f"{hold} PUT /v2/mirror/app/manifests/sha256-{d[7:]}.sig"
        procs.wait_for(lambda: held in proxy.fault_lines(), timeout=60, interval=0.01,
                       what="the signature manifest PUT to be held by the proxy")
        self.assertEqual(self.ctl.stop(signal.SIGKILL), -signal.SIGKILL)

        # killed while signing: the image is in the target, the signature is not recorded
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:3.0", C), d)
        self.assertNotIn("images", self.get("signkill").get("status", {}))
        before = self.sig_manifest("mirror/app", d)

        self.restart_controller("controller-2")
        obj = self.wait_ready("signkill", timeout=120)
        self.assertNotIn(self.lease_holder(), (None, "", holder))
        self.assertEqual(self.condition(obj, "Signed")["status"], "True")
        self.assertEqual(self.condition(obj, "Synced")["status"], "True")
        img = obj["status"]["images"][0]
        self.assertEqual(img["digest"], d)
        self.assertEqual(img["targets"][0]["digest"], d)
        self.assertTrue(img["targets"][0]["signed"])
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:3.0", C), d)
        reg.inspect(f"{self.customer.host}/mirror/app:3.0", C)

        # exactly one signature by the key, no duplicate layer from the retry
        layers, good = self.signatures_by("mirror/app", d, pub)
        self.assertEqual(len(good), 1, json.dumps(layers, indent=1))
        self.assertEqual(len(layers), 1, json.dumps(layers, indent=1))
        self.assertEqual(json.loads(Http(self.customer.host, *CUSTOMER).blob(
            "mirror/app", good[0]["digest"]))["critical"]["identity"]["docker-reference"],
            f"{proxy.host}/mirror/app")
        self.assertEqual(len(self.manifest_puts("mirror/app", "3.0")), 1)
        self.assertTrue(self.ctl.proc.alive())
        return d, pub, before

    def test_controller_killed_while_signing(self):
        """The .sig manifest PUT never reaches the registry: the new controller signs."""
        d, _, before = self.killed_while_signing("hold")
        self.assertIsNone(before)
        self.assertEqual(len(self.sig_puts("mirror/app", d)), 1)

    def test_controller_killed_after_signature_stored(self):
        """The registry stored the signature, the controller never heard: the new controller
        finds it and adds no second one."""
        d, pub, before = self.killed_while_signing("hold-response")
        self.assertIsNotNone(before)
        self.assertEqual(len(before["layers"]), 1)
        self.assertEqual(len(self.sig_puts("mirror/app", d)), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
