"""DeployPolicy end to end: the controller renders and applies admission objects, maintains the
ValidatingWebhookConfiguration, and serves the signature-checking webhook over TLS; the real
kube-apiserver (hack/cluster.sh) calls it on `kubectl apply` of Pods and workloads, after its own
ValidatingAdmissionPolicy checks, presenting its webhook client certificate (AdmissionConfiguration),
which the controller requires (--webhook-client-ca). Signatures are made with `sealift sign`
using the key a SigningKey generated."""
import base64
import hashlib
import json
import os
import ssl
import subprocess
import time
import unittest
import urllib.error
import urllib.request

import procs
import registry as reglib
from controller import Controller
from kube import Cluster

POLICY = """apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {name: signed-only}
spec:
  namespaceSelector:
    matchLabels: {sealift.dev/enforce: "true"}
  enforcement: Deny
  rules:
    requireDigest: true
%(rules)s  verifyImages:
  - imageReferences: ["*"]
    authorities:
    - name: release
      key: {signingKeyRef: {namespace: vendor-acme, name: release, fingerprint: "%(fp)s"}}
%(extra)s  outputs: [ValidatingAdmissionPolicy]
"""

POD = """apiVersion: v1
kind: Pod
metadata: {name: %(name)s, namespace: %(ns)s}
spec:
  imagePullSecrets: [{name: customer-pull}]
  containers:
  - name: app
    image: %(image)s
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: %(name)s, namespace: %(ns)s}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      imagePullSecrets: [{name: customer-pull}]
      initContainers: [{name: init, image: "%(image)s"}]
      containers: [{name: app, image: "%(good)s"}]
"""


class AdmissionTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.reg = reglib.Registry(self, "customer", users={"cust": "pw-cust"})
        layout = os.path.join(self.tmp, "layout")
        lay = reglib.Layout(layout)
        for i, tag in enumerate(("1.0", "2.0")):
            lay.tag(lay.image([1024], seed=10 + i), tag)
            reglib.push(layout, tag, f"{self.reg.host}/mirror/app:{tag}", creds=self.reg.creds())
        self.digest = {t: reglib.sha256_digest(reglib.inspect_raw(
            f"{self.reg.host}/mirror/app:{t}", self.reg.creds())) for t in ("1.0", "2.0")}
        self.image = {t: f"{self.reg.host}/mirror/app@{self.digest[t]}" for t in self.digest}

        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.webhook_port = self.kube.webhook_port
        self.certs = self.kube.webhook_cert_dir
        self.kube.install()
        self.start_controller()
        for ns, enforce in (("vendor-acme", None), ("shop", "true"), ("lab", None)):
            self.kube.kubectl("create", "namespace", ns)
            if enforce:
                self.kube.kubectl("label", "namespace", ns, f"sealift.dev/enforce={enforce}")
        for ns in ("shop", "lab"):
            self.kube.kubectl("create", "secret", "docker-registry", "customer-pull", "-n", ns,
                              f"--docker-server={self.reg.host}", "--docker-username=cust",
                              "--docker-password=pw-cust")
        self.kube.kubectl("apply", "-f", "-", input="""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: release, namespace: vendor-acme}
spec: {mode: Generate, secretRef: {name: release-key}}
""")
        self.kube.kubectl("wait", "--for=condition=Ready", "-n", "vendor-acme",
                          "sigkey/release", "--timeout=30s")
        self.keyfile = os.path.join(self.tmp, "release.key")
        self.key_env = self.kube.signing_key_file("vendor-acme", "release-key", self.keyfile)
        procs.run([procs.SEALIFT, "sign", f"{self.reg.host}/mirror/app:1.0", "--key",
                   self.keyfile, "--creds", self.reg.creds(), "--insecure"], env=self.key_env)

    def start_controller(self, name="controller", client_auth=True):
        # the API server's webhook client certificate: CN kube-apiserver-webhook-client, signed
        # by the cluster CA (hack/cluster.sh), which also signs other clients: the name is pinned
        auth = ["--webhook-client-ca", self.kube.ca_path,
                "--webhook-client-name", "kube-apiserver-webhook-client"] if client_auth else []
        self.ctl = Controller(self, self.kube, name=name, webhook=True,
                              extra_args=["--insecure-registry", self.reg.host, *auth])
        self.ctl.wait_ready()

    def fingerprint(self):
        return self.kube.kubectl("get", "sigkey", "-n", "vendor-acme", "release", "-o",
                                 "jsonpath={.status.fingerprint}").stdout.strip()

    def apply_policy(self, extra="", fp=None, wait=True, enforcement="Deny", rules=""):
        """extra: more fields of the verifyImages entry; rules: more spec.rules."""
        self.kube.kubectl("apply", "-f", "-", input=POLICY.replace(
            "enforcement: Deny", f"enforcement: {enforcement}") % {
            "extra": extra, "rules": rules, "fp": fp or self.fingerprint()})
        if wait:
            self.kube.kubectl("wait", "--for=condition=Ready", "deploypolicy/signed-only",
                              "--timeout=30s")

    def ready(self, name="signed-only"):
        st = json.loads(self.kube.kubectl("get", "deploypolicy", name, "-o",
                                          "json").stdout).get("status", {})
        return next((c for c in st.get("conditions", []) if c["type"] == "Ready"), None)

    def wait_reason(self, reason, name="signed-only"):
        return procs.wait_for(lambda: (lambda c: c if c and c["reason"] == reason else None)(
            self.ready(name)), timeout=30, what=f"DeployPolicy {name} Ready reason {reason}")

    def registry_requests(self):
        return sum(self.reg.count_requests(m, "/v2/") for m in ("GET", "HEAD"))

    def forged_review(self, ns, image, client_cert=True, policy="signed-only"):
        """POSTs an AdmissionReview straight to the webhook, as anyone on the network could;
        returns the response object, or the exception the connection raised."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        ctx.check_hostname = False
        if client_cert:
            ctx.load_cert_chain(self.kube.webhook_client_cert, self.kube.webhook_client_key)
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                  "request": {"uid": "forged", "kind": {"group": "", "version": "v1",
                                                         "kind": "Pod"},
                              "namespace": ns, "operation": "CREATE",
                              "object": {"kind": "Pod", "spec": {
                                  "imagePullSecrets": [{"name": "customer-pull"}],
                                  "containers": [{"name": "app", "image": image}]}}}}
        req = urllib.request.Request(
            f"https://127.0.0.1:{self.webhook_port}/admission/{policy}",
            data=json.dumps(review).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
                return json.loads(r.read())["response"]
        except (OSError, ssl.SSLError, urllib.error.URLError) as exc:
            return exc

    def apply(self, text):
        return self.kube.kubectl("apply", "-f", "-", input=text, check=False)

    def test_signed_admitted_unsigned_denied_fail_closed(self):
        self.apply_policy()
        st = json.loads(self.kube.kubectl("get", "deploypolicy", "signed-only", "-o",
                                          "json").stdout)["status"]
        kinds = sorted(g["kind"] for g in st["generated"])
        self.assertEqual(kinds, ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
                                 "ValidatingWebhookConfiguration"])
        vwc = json.loads(self.kube.kubectl("get", "validatingwebhookconfiguration",
                                           "sealift-signed-only", "-o", "json").stdout)
        hook = vwc["webhooks"][0]
        self.assertEqual(hook["failurePolicy"], "Fail")
        # kube-system and the controller's namespace are never sent to the webhook
        self.assertEqual(hook["namespaceSelector"],
                         {"matchLabels": {"sealift.dev/enforce": "true"},
                          "matchExpressions": [{"key": "kubernetes.io/metadata.name",
                                                "operator": "NotIn",
                                                "values": ["kube-system", "sealift-system"]}]})
        self.assertTrue(any("pods/ephemeralcontainers" in r["resources"] and
                            r["operations"] == ["UPDATE"] for r in hook["rules"]), hook["rules"])
        with open(os.path.join(self.certs, "ca.crt"), "rb") as f:
            self.assertEqual(base64.b64decode(hook["clientConfig"]["caBundle"]), f.read())
        self.assertEqual(vwc["metadata"]["ownerReferences"][0]["kind"], "DeployPolicy")

        cp = self.apply(POD % {"name": "unsigned", "ns": "shop", "image": self.image["2.0"]})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn('admission webhook "signed-only.deploypolicy.sealift.dev" denied the '
                      'request', cp.stderr)
        self.assertIn(self.image["2.0"], cp.stderr)
        self.assertIn("verifyImages[0].authorities: no signature", cp.stderr)

        cp = self.apply(POD % {"name": "signed", "ns": "shop", "image": self.image["1.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # by tag: the API server itself denies it (requireDigest is a ValidatingAdmissionPolicy
        # rule, evaluated by kube-apiserver before the webhook is asked)
        # (it loads a new ValidatingAdmissionPolicy within moments: wait with dry runs first)
        bytag = POD % {"name": "bytag", "ns": "shop", "image": f"{self.reg.host}/mirror/app:1.0"}
        procs.wait_for(lambda: self.kube.kubectl("apply", "--dry-run=server", "-f", "-",
                                                 input=bytag, check=False).returncode != 0,
                       timeout=30, what="the ValidatingAdmissionPolicy to be enforced")
        cp = self.apply(bytag)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("ValidatingAdmissionPolicy 'sealift-signed-only'", cp.stderr)
        self.assertIn("requireDigest", cp.stderr)
        # without requireDigest, the webhook resolves the tag to its digest (with the pod's
        # imagePullSecret) and checks that
        self.kube.kubectl("apply", "-f", "-",
                          input=(POLICY % {"extra": "", "rules": "", "fp": self.fingerprint()}).replace(
                              "requireDigest: true",
                                                                 "requireDigest: false"))
        procs.wait_for(lambda: self.apply(POD % {
            "name": "bytag", "ns": "shop", "image": f"{self.reg.host}/mirror/app:1.0"}
        ).returncode == 0, timeout=30, what="the tag to be admitted once requireDigest is off")
        # a namespace the policy does not select is not checked
        cp = self.apply(POD % {"name": "lab", "ns": "lab", "image": self.image["2.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # workloads: an unsigned init container is enough to deny
        cp = self.apply(DEPLOYMENT % {"name": "web", "ns": "shop", "image": self.image["2.0"],
                                      "good": self.image["1.0"]})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("container init", cp.stderr)

        # webhook process stopped: the request fails closed
        self.ctl.stop()
        cp = self.apply(POD % {"name": "while-down", "ns": "shop", "image": self.image["1.0"]})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("signed-only.deploypolicy.sealift.dev", cp.stderr)
        self.assertEqual(self.kube.kubectl("get", "pod", "-n", "shop", "while-down",
                                           check=False).returncode, 1)

    def test_signature_by_another_key_and_scan_requirement(self):
        other = os.path.join(self.tmp, "other")
        procs.run([procs.SEALIFT, "keygen", "--out", other])
        procs.run([procs.SEALIFT, "sign", f"{self.reg.host}/mirror/app:2.0", "--key",
                   other + ".key", "--creds", self.reg.creds(), "--insecure"])
        # v1alpha1's boolean form trusts no ScanPolicy: v1beta1 cannot say it, the API server
        # refuses it naming the field
        cp = self.apply(POLICY % {
            "extra": "    requireScanPassed: true\n", "rules": "", "fp": self.fingerprint()})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("spec.verifyImages[0].requireScanPassed", cp.stderr)

        self.apply_policy(extra="    requireScanPassed:\n      scanPolicyRefs: "
                                "[{namespace: vendor-acme, name: default}]\n")
        cp = self.apply(POD % {"name": "otherkey", "ns": "shop", "image": self.image["2.0"]})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("no valid signature", cp.stderr)
        cp = self.apply(POD % {"name": "noscan", "ns": "shop", "image": self.image["1.0"]})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("requireScanPassed", cp.stderr)

    def test_verify_images_scoped_to_the_vendor_registry(self):
        """A verifyImages entry covers the images its imageReferences match: a Pod with the
        vendor's signed image and a sidecar from another registry, unsigned, is admitted when
        the entry names the vendor's registry and denied, naming the sidecar, when it names
        every image ("*")."""
        sidecars = reglib.Registry(self, "sidecars")
        reglib.push(os.path.join(self.tmp, "layout"), "2.0", f"{sidecars.host}/mesh/proxy:1")
        proxy = f"{sidecars.host}/mesh/proxy@{self.digest['2.0']}"
        pod = f"""apiVersion: v1
kind: Pod
metadata: {{name: %s, namespace: shop}}
spec:
  imagePullSecrets: [{{name: customer-pull}}]
  containers:
  - {{name: app, image: "{self.image['1.0']}"}}
  - {{name: proxy, image: "{proxy}"}}
"""
        vendor = POLICY.replace('imageReferences: ["*"]',
                                f'imageReferences: ["{self.reg.host}/mirror/*"]')
        self.kube.kubectl("apply", "-f", "-", input=vendor % {
            "extra": "", "rules": "", "fp": self.fingerprint()})
        self.kube.kubectl("wait", "--for=condition=Ready", "deploypolicy/signed-only",
                          "--timeout=30s")
        # an unsigned image of the vendor's registry is checked (and the webhook is in place)
        cp = procs.wait_for(lambda: (lambda cp: cp if cp.returncode != 0 else None)(
            self.apply(POD % {"name": "unsigned", "ns": "shop", "image": self.image["2.0"]})),
            timeout=30, what="the webhook to deny an unsigned image of the vendor's registry")
        self.assertIn("verifyImages[0].authorities: no signature", cp.stderr)
        cp = self.apply(pod % "with-sidecar")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # the same Pod under an entry for every image: the sidecar is not signed
        self.apply_policy()
        cp = procs.wait_for(lambda: (lambda cp: cp if cp.returncode != 0 else None)(
            self.apply(pod % "with-sidecar-2")), timeout=30,
            what="the policy for every image to deny the unsigned sidecar")
        self.assertIn("container proxy", cp.stderr)
        self.assertIn("verifyImages[0].authorities: no signature", cp.stderr)

    def test_namespace_without_pull_secret_does_not_poison_the_cache(self):
        self.apply_policy()
        self.kube.kubectl("create", "namespace", "other")
        self.kube.kubectl("label", "namespace", "other", "sealift.dev/enforce=true")
        nosecret = POD.replace("  imagePullSecrets: [{name: customer-pull}]\n", "")
        # a tenant without the pull Secret of this private registry is denied
        cp = self.apply(nosecret % {"name": "nosecret", "ns": "other", "image": self.image["1.0"]})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("registry error", cp.stderr)
        # the namespace that has it is not: its signed image is admitted right after
        cp = self.apply(POD % {"name": "signed", "ns": "shop", "image": self.image["1.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # a registry error is not kept either: the registry goes down, then comes back
        self.reg.stop()
        cp = self.apply(POD % {"name": "down", "ns": "shop", "image": self.image["2.0"]})
        self.assertNotEqual(cp.returncode, 0)
        self.reg.start()
        procs.run([procs.SEALIFT, "sign", f"{self.reg.host}/mirror/app:2.0", "--key",
                   self.keyfile, "--creds", self.reg.creds(), "--insecure"], env=self.key_env)
        cp = self.apply(POD % {"name": "up", "ns": "shop", "image": self.image["2.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def push_raw(self, method, path, data=b"", content_type="application/octet-stream"):
        """One authenticated request to the registry; returns the response."""
        url = path if path.startswith("http") else f"http://{self.reg.host}{path}"
        auth = base64.b64encode(self.reg.creds().encode()).decode()
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Basic {auth}", "Content-Type": content_type})
        return urllib.request.urlopen(req, timeout=30)

    def push_blob(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with self.push_raw("POST", "/v2/mirror/app/blobs/uploads/") as r:
            loc = r.headers["Location"]
        if not loc.startswith("http"):
            loc = f"http://{self.reg.host}{loc}"
        sep = "&" if "?" in loc else "?"
        self.push_raw("PUT", f"{loc}{sep}digest={digest}", data).close()
        return digest, len(data)

    def test_hostile_signature_manifests_are_bounded_and_do_not_take_every_worker(self):
        self.apply_policy()
        # a signature manifest with 3000 layers (one blob, repeated), stored for four digests
        payload, psize = self.push_blob(b'{"critical":{}}')
        config, csize = self.push_blob(b"{}")
        layer = {"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                 "digest": payload, "size": psize,
                 "annotations": {"dev.cosignproject.cosign/signature": "AAAA"}}
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config, "size": csize},
            "layers": [layer] * 3000}).encode()
        hostile = []
        for i in range(4):
            d = hashlib.sha256(f"hostile-{i}".encode()).hexdigest()
            self.push_raw("PUT", f"/v2/mirror/app/manifests/sha256-{d}.sig", manifest,
                          "application/vnd.oci.image.manifest.v1+json").close()
            hostile.append(f"sha256:{d}")

        # straight from the registry the layers come at once: 16 of them are looked at
        cp = self.apply(POD % {"name": "many", "ns": "shop",
                               "image": f"{self.reg.host}/mirror/app@{hostile[0]}"})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("more than 16 signatures to check", cp.stderr)

        # through a proxy that never passes a blob on, the layers are slow: four reviews of
        # such images in one namespace, and a review in another namespace is still answered
        proxy = reglib.FaultProxy(self, self.reg.host, "hold", 100000, match="/blobs/")
        self.kube.kubectl("create", "secret", "docker-registry", "proxy-pull", "-n", "shop",
                          f"--docker-server={proxy.host}", "--docker-username=cust",
                          "--docker-password=pw-cust")
        slow = []
        for i, d in enumerate(hostile):
            path = os.path.join(self.tmp, f"slow-{i}.yaml")
            with open(path, "w") as f:
                f.write((POD % {"name": f"slow-{i}", "ns": "shop",
                                "image": f"{proxy.host}/mirror/app@{d}"}).replace(
                                    "customer-pull", "proxy-pull"))
            p = subprocess.Popen(["kubectl", "--kubeconfig", self.kube.kubeconfig,
                                  "--cache-dir", self.kube.cache_dir, "apply", "-f", path],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            self.addCleanup(lambda p=p: (p.poll() is None and p.kill(), p.communicate()))
            slow.append(p)
        procs.wait_for(lambda: proxy.faults() >= 2, timeout=30,
                       what="two slow checks waiting for a layer")
        self.kube.kubectl("create", "namespace", "other")
        self.kube.kubectl("label", "namespace", "other", "sealift.dev/enforce=true")
        self.kube.kubectl("create", "secret", "docker-registry", "customer-pull", "-n", "other",
                          f"--docker-server={self.reg.host}", "--docker-username=cust",
                          "--docker-password=pw-cust")
        cp = self.apply(POD % {"name": "meanwhile", "ns": "other", "image": self.image["1.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertTrue(all(p.poll() is None for p in slow), "a hostile review ended first")
        for p in slow:
            _, err = p.communicate(timeout=120)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("signed-only.deploypolicy.sealift.dev", err)
        # each check asked for a handful of layers, not for thousands
        self.assertLess(proxy.faults(), 40)

    def test_warn_and_audit_admit_with_a_warning_or_an_audit_line(self):
        self.apply_policy(enforcement="Warn")
        cp = self.apply(POD % {"name": "warned", "ns": "shop", "image": self.image["2.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("Warning:", cp.stderr)
        self.assertIn("verifyImages[0].authorities: no signature", cp.stderr)
        self.apply_policy(enforcement="Audit")
        cp = self.apply(POD % {"name": "audited", "ns": "shop", "image": self.image["2.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertNotIn("Warning:", cp.stderr)
        procs.wait_for(lambda: any("audited (enforcement Audit)" in r.get("msg", "") and
                                   "verifyImages[0].authorities" in r.get("msg", "")
                                   for r in self.ctl.log_lines()),
                       timeout=10, what="the audit log line")

    def test_callers_without_the_client_certificate_learn_nothing(self):
        self.apply_policy()
        before = self.registry_requests()
        tag = f"{self.reg.host}/mirror/app:1.0"
        # no client certificate: 403 before the review is read, the registry is not contacted
        got = self.forged_review("shop", tag, client_cert=False)
        self.assertIsInstance(got, urllib.error.HTTPError)
        self.assertEqual(got.code, 403)
        self.assertEqual(self.registry_requests(), before)
        # the API server's certificate gets the answer
        got = self.forged_review("shop", tag)
        self.assertTrue(got["allowed"], got)

        # without --webhook-client-ca the webhook still answers anyone, but only "not verified"
        self.ctl.stop()
        self.start_controller(name="no-client-ca", client_auth=False)
        self.assertTrue(any("without a client certificate" in r.get("msg", "")
                            for r in self.ctl.log_lines()))
        got = self.forged_review("shop", f"{self.reg.host}/mirror/app:2.0", client_cert=False)
        self.assertFalse(got["allowed"])
        self.assertIn("is not verified", got["status"]["message"])
        self.assertNotIn(self.digest["2.0"], got["status"]["message"])
        self.assertNotIn("no signature", got["status"]["message"])

    def test_malformed_reviews_get_400_and_policy_removal(self):
        self.apply_policy()
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        ctx.load_cert_chain(self.kube.webhook_client_cert, self.kube.webhook_client_key)
        url = f"https://127.0.0.1:{self.webhook_port}/admission/signed-only"
        for body in (b"", b"{", b"[]", b'{"apiVersion":"admission.k8s.io/v1"}', b"\xff" * 100):
            req = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, context=ctx, timeout=10)
            self.assertEqual(e.exception.code, 400, body)
        self.assertTrue(self.ctl.proc.alive())
        # deleting the policy removes what it generated
        self.kube.kubectl("delete", "deploypolicy", "signed-only")
        procs.wait_for(lambda: self.kube.kubectl("get", "validatingwebhookconfiguration",
                                                 "sealift-signed-only",
                                                 check=False).returncode != 0,
                       timeout=30, what="webhook configuration removed")
        procs.wait_for(lambda: self.kube.kubectl("get", "validatingadmissionpolicy",
                                                 "sealift-signed-only",
                                                 check=False).returncode != 0,
                       timeout=30, what="admission policy removed")

    def test_kubectl_debug_with_an_unsigned_privileged_image_is_denied(self):
        """`kubectl debug` adds an ephemeral container to a running Pod with an UPDATE of the
        pods/ephemeralcontainers subresource. The API server itself denies, through a
        DeployPolicy's ValidatingAdmissionPolicy, an unlisted, look-alike, privileged or
        privilege-escalating debug image; sealift's webhook denies an unsigned one; a signed,
        listed, unprivileged one is added."""
        # first the CEL rules alone (no webhook), so the API server's own answer is what we see
        self.kube.kubectl("apply", "-f", "-", input=f"""
apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {{name: debug-rules}}
spec:
  namespaceSelector: {{matchLabels: {{sealift.dev/enforce: "true"}}}}
  rules:
    allowedRegistries: ["{self.reg.host}/mirror"]
    requireDigest: true
    forbidPrivileged: true
""")
        self.kube.kubectl("wait", "--for=condition=Ready", "deploypolicy/debug-rules",
                          "--timeout=30s")
        # the API server enforces a new policy once its informers have it: wait for that with a
        # server-side dry run (an ephemeral container, once added, cannot be removed)
        procs.wait_for(lambda: self.kube.kubectl(
            "apply", "--dry-run=server", "-f", "-", check=False,
            input=POD % {"name": "probe", "ns": "shop",
                         "image": "other.example/tools@sha256:" + "ab" * 32}).returncode != 0,
            timeout=30, what="the API server to enforce the DeployPolicy's admission policy")
        cp = self.apply(POD % {"name": "web", "ns": "shop", "image": self.image["1.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)

        def debug(container, image, profile="general", custom=None):
            extra = []
            if custom:
                path = os.path.join(self.tmp, f"{container}.json")
                with open(path, "w") as f:
                    json.dump(custom, f)
                extra = [f"--custom={path}"]
            return self.kube.kubectl("debug", "-n", "shop", "web", f"--image={image}",
                                     "-c", container, "--target=app", f"--profile={profile}",
                                     *extra, check=False)

        def ephemeral():
            pod = json.loads(self.kube.kubectl("get", "pod", "-n", "shop", "web", "-o",
                                               "json").stdout)
            return [c["name"] for c in pod["spec"].get("ephemeralContainers", [])]

        by_api_server = "ValidatingAdmissionPolicy 'sealift-debug-rules'"
        for name, image, kwargs, rule in (
                ("unlisted", "other.example/tools@sha256:" + "ab" * 32, {}, "allowedRegistries"),
                ("lookalike", f"{self.reg.host}/mirror-evil/app@{self.digest['1.0']}", {},
                 "allowedRegistries"),
                ("bytag", f"{self.reg.host}/mirror/app:1.0", {}, "requireDigest"),
                ("privileged", self.image["2.0"], {"profile": "sysadmin"}, "forbidPrivileged"),
                ("escalating", self.image["1.0"],
                 {"custom": {"securityContext": {"allowPrivilegeEscalation": True}}},
                 "forbidPrivileged")):
            cp = debug(name, image, **kwargs)
            self.assertNotEqual(cp.returncode, 0, name)
            self.assertIn(by_api_server, cp.stderr, name)
            self.assertIn(f"sealift DeployPolicy debug-rules: {rule}", cp.stderr, name)
        self.assertEqual(ephemeral(), [])

        # then signatures: the webhook is asked about the debug image
        self.apply_policy()
        procs.wait_for(lambda: self.kube.kubectl(
            "apply", "--dry-run=server", "-f", "-", check=False,
            input=POD % {"name": "probe", "ns": "shop", "image": self.image["2.0"]}
        ).returncode != 0, timeout=30, what="the API server to call the webhook")
        cp = debug("unsigned", self.image["2.0"])
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn('admission webhook "signed-only.deploypolicy.sealift.dev" denied the '
                      'request', cp.stderr)
        self.assertIn("container unsigned", cp.stderr)
        self.assertIn("verifyImages[0].authorities", cp.stderr)
        self.assertEqual(ephemeral(), [])
        cp = debug("allowed", self.image["1.0"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(ephemeral(), ["allowed"])

    def test_swapped_signing_key_is_not_trusted(self):
        """Whoever can write the SigningKey's Secret swaps in their own key: the SigningKey
        publishes it, the policy stops trusting it and says why until it pins the new key."""
        pinned = self.fingerprint()
        self.apply_policy(fp=pinned)
        attacker = os.path.join(self.tmp, "attacker")
        procs.run([procs.SEALIFT, "keygen", "--out", attacker],
                  env=dict(os.environ, COSIGN_PASSWORD="attacker-pw"))
        with open(attacker + ".key", "rb") as f:
            key = base64.b64encode(f.read()).decode()
        with open(attacker + ".pub", "rb") as f:
            pub = base64.b64encode(f.read()).decode()
        pw = base64.b64encode(b"attacker-pw").decode()
        self.kube.kubectl("patch", "secret", "-n", "vendor-acme", "release-key", "--type=merge",
                          "-p", json.dumps({"data": {"cosign.key": key, "cosign.pub": pub,
                                                     "cosign.password": pw}}))
        swapped = procs.wait_for(lambda: (lambda fp: fp if fp != pinned else None)(
            self.fingerprint()), timeout=30, what="the SigningKey publishes the swapped key")
        cond = self.wait_reason("KeyFingerprintMismatch")
        self.assertEqual(cond["status"], "False")
        self.assertIn("SigningKey vendor-acme/release", cond["message"])
        self.assertIn(f"publishes key {swapped}", cond["message"])
        self.assertIn(f"pins {pinned}", cond["message"])
        # the owner of the policy trusts the new key explicitly
        self.apply_policy(fp=swapped)
        self.assertEqual(self.ready()["status"], "True")

    def test_not_ready_without_a_webhook_and_system_namespaces_exempt(self):
        """A controller that serves no webhook: the policy is not Ready (every Pod of the
        selected namespaces is denied), but Pods of the controller's own namespace still come
        back, even when that namespace carries the enforcement label."""
        self.ctl.stop()
        self.ctl = Controller(self, self.kube, name="no-webhook",
                              extra_args=["--webhook-cert-dir", self.certs,
                                          "--insecure-registry", self.reg.host])
        self.ctl.wait_ready()
        self.apply_policy(wait=False)
        cond = self.wait_reason("WebhookNotReady")
        self.assertEqual(cond["status"], "False")
        self.assertIn("does not serve the admission webhook", cond["message"])
        cp = self.apply(POD % {"name": "nohook", "ns": "shop", "image": self.image["1.0"]})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("signed-only.deploypolicy.sealift.dev", cp.stderr)
        self.kube.kubectl("label", "--overwrite", "namespace", "sealift-system",
                          "sealift.dev/enforce=true")
        cp = self.apply(POD % {"name": "sealift-controller", "ns": "sealift-system",
                               "image": self.image["2.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
