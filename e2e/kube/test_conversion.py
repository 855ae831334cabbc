"""sealift.dev/v1beta1 on a real kube-apiserver + etcd, converted by sealift's webhook (/convert on
the admission webhook's TLS listener): objects written through v1alpha1 read back through v1beta1
with every field at its new place, objects written through v1beta1 read back through v1alpha1 and
come back up unchanged (what v1alpha1 cannot say rides in the sealift.dev/v1beta1-fields
annotation), `kubectl get` shows v1beta1's columns, CEL refuses what this release cannot enforce,
and with the webhook stopped reads through the version that is not stored fail (the API server
cannot convert) while reads through the storage version go on.

ImageDelivery and SigningKey are stored as v1beta1 (their v1alpha1 is served, deprecated); the
other kinds still store v1alpha1 and ship v1beta1 with served: false (serving it makes it the
group's preferred version, see docs/design/v1beta1.md), which each test serves on its own cluster.
The controller runs with a shard no object of these tests carries, so it only serves the webhook,
and with --webhook-client-ca as installed: kube-apiserver presents no client certificate to
conversion webhooks, so every conversion here goes through /convert without one, while the
admission routes of the same listener refuse a caller without the API server's certificate."""
import base64
import json
import os
import re
import shutil
import ssl
import unittest
import urllib.error
import urllib.request

import yaml

import procs
from controller import Controller
from kube import Cluster

DATA = os.path.join(procs.SRC, "tests", "data", "api")
CRDS = {"ImageDelivery": "imagedeliveries", "ScanPolicy": "scanpolicies",
        "SigningKey": "signingkeys", "DeployPolicy": "deploypolicies", "GitSource": "gitsources"}
CARRIED = ("sealift.dev/v1beta1-fields", "sealift.dev/v1alpha1-fields")


def load(name):
    with open(os.path.join(DATA, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def leaves(value, path=()):
    """(path, value) of every scalar and empty container under value; a path is a tuple of
    keys and list indices."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from leaves(v, path + (k,))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from leaves(v, path + (i,))
    else:
        yield path, value


def text(path):
    """spec.targets[0].image for ("spec", "targets", 0, "image")."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def parse(path_text):
    return tuple(int(p[1:-1]) if p.startswith("[") else p
                 for p in re.findall(r"[^.\[\]]+|\[\d+\]", path_text))


def at(obj, path):
    """The value at a path (a tuple, or text without dotted keys), or KeyError."""
    for part in parse(path) if isinstance(path, str) else path:
        obj = obj[part]
    return obj


# where each v1alpha1 field lives in v1beta1 (docs/design/v1beta1.md, "Shape changes")
MOVES = [
    (r"\.credentials\.secretRef\.", ".secretRef."),
    (r"\.caSecretRef\.", ".certSecretRef."),
    (r"^spec\.scanner\.harbor\.insecure$", "spec.scanner.harbor.insecureSkipTLSVerify"),
    (r"^spec\.verify\.signingKeyRef\.", "spec.verify.authorities[0].key.signingKeyRef."),
    (r"^spec\.rules\.requireSignature\.signingKeyRefs\[(\d+)\]\.",
     r"spec.verifyImages[0].authorities[\1].key.signingKeyRef."),
    (r"^spec\.rules\.requireScanPassed\.", "spec.verifyImages[0].requireScanPassed."),
    (r"^status\.deliveredTags$", "status.summary.delivered"),
]


def beta_path(kind, alpha_obj, path):
    if any(isinstance(p, str) and ("." in p or "/" in p) for p in path):
        return path  # label keys and media types: inside maps that keep their place
    path = text(path)
    for pattern, repl in MOVES:
        path = re.sub(pattern, repl, path)
    spec = alpha_obj.get("spec", {})
    if kind == "SigningKey" and path.startswith("spec.publicKey.") and \
            not (spec.get("mode") == "VerifyOnly" and "secretRef" not in spec):
        path = "spec.publishKey." + path[len("spec.publicKey."):]
    return parse(path)


class ConversionTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp).start(self)
        self.kube.install()
        for plural in CRDS.values():
            self.kube.kubectl("patch", "crd", f"{plural}.sealift.dev", "--type=json", "-p",
                              '[{"op":"replace","path":"/spec/versions/1/served","value":true}]')
        self.kube.kubectl("create", "namespace", "conv")
        self.start_controller()
        # kubectl's discovery cache may predate v1beta1 being served
        shutil.rmtree(self.kube.cache_dir, ignore_errors=True)
        procs.wait_for(lambda: self.kube.kubectl(
            "get", "imagedeliveries.v1beta1.sealift.dev", "-n", "conv", check=False)
            .returncode == 0, timeout=60, what="v1beta1 to be served and converted")

    def start_controller(self):
        self.controller = Controller(self, self.kube, webhook=True,
                                     extra_args=["--shard", "conversion-only",
                                                 "--webhook-client-ca", self.kube.ca_path,
                                                 "--webhook-client-name",
                                                 "kube-apiserver-webhook-client"])

    def resource(self, kind, version):
        return f"{CRDS[kind]}.{version}.sealift.dev"

    def get(self, obj, version, check=True):
        md = obj["metadata"]
        ns = ["-n", md["namespace"]] if md.get("namespace") else []
        cp = self.kube.kubectl("get", self.resource(obj["kind"], version), md["name"], *ns,
                               "-o", "json", check=check)
        return json.loads(cp.stdout) if cp.returncode == 0 else cp

    def store(self, obj):
        """Applies obj's spec through its apiVersion, then writes its status."""
        body = {k: v for k, v in obj.items() if k != "status"}
        self.kube.kubectl("apply", "-f", "-", input=json.dumps(body))
        if "status" in obj:
            md = obj["metadata"]
            ns = ["-n", md["namespace"]] if md.get("namespace") else []
            version = obj["apiVersion"].split("/")[1]
            self.kube.kubectl("patch", self.resource(obj["kind"], version), md["name"], *ns,
                              "--subresource=status", "--type=merge", "-p",
                              json.dumps({"status": obj["status"]}))

    def assert_holds(self, served, wanted, what):
        """Every field of wanted is in served with the same value (defaults may add more)."""
        for path, value in leaves({k: v for k, v in wanted.items()
                                   if k in ("spec", "status")}):
            try:
                got = at(served, path)
            except (KeyError, IndexError, TypeError):
                self.fail(f"{what}: {text(path)} missing in {json.dumps(served)}")
            self.assertEqual(got, value, f"{what}: {text(path)}")

    def test_v1alpha1_objects_read_through_v1beta1(self):
        objects = load("v1alpha1-full.yaml")
        for obj in objects:
            self.store(obj)
        for obj in objects:
            what = f"{obj['kind']} {obj['metadata']['name']}"
            alpha = self.get(obj, "v1alpha1")
            self.assert_holds(alpha, obj, what + " through v1alpha1")
            beta = self.get(obj, "v1beta1")
            self.assertEqual(beta["apiVersion"], "sealift.dev/v1beta1")
            # v1beta1 says everything these objects hold: nothing rides in an annotation
            anns = beta["metadata"].get("annotations", {})
            self.assertFalse(set(anns) & set(CARRIED), f"{what}: {anns}")
            anns.pop("kubectl.kubernetes.io/last-applied-configuration", None)
            self.assertEqual(anns, obj["metadata"].get("annotations", {}), what)
            # every field of the stored v1alpha1 object (defaults included) at its new place
            for path, value in leaves({k: alpha[k] for k in ("spec", "status") if k in alpha}):
                if text(path) in ("status.scanSummary", "status.signedSummary"):
                    continue
                if (obj["kind"], text(path)) == ("ScanPolicy", "spec.severityThreshold") and \
                        value == "None":
                    self.assertEqual(at(beta, "spec.severityThreshold"), "Critical", what)
                    self.assertEqual(at(beta, "spec.action"), "Warn", what)
                    continue
                bp = beta_path(obj["kind"], alpha, path)
                try:
                    got = at(beta, bp)
                except (KeyError, IndexError, TypeError):
                    self.fail(f"{what}: {text(path)} (v1beta1 {text(bp)}) missing in "
                              f"{json.dumps(beta)}")
                self.assertEqual(got, value, f"{what}: {text(path)} (v1beta1 {text(bp)})")
        # the display strings became counts; the authority and the key list got names
        tags = self.get(objects[0], "v1beta1")
        self.assertEqual(tags["status"]["summary"],
                         {"delivered": 1, "signed": 1, "scanned": 2, "blocked": 1})
        self.assertEqual(tags["spec"]["verify"]["authorities"][0]["name"], "default")
        deploy = self.get(next(o for o in objects if o["metadata"]["name"] == "full-deploy"),
                          "v1beta1")
        self.assertEqual(deploy["spec"]["verifyImages"][0]["imageReferences"], ["*"])
        self.assertEqual([a["name"] for a in deploy["spec"]["verifyImages"][0]["authorities"]],
                         ["vendor-release", "vendor-release-2027"])
        self.assertNotIn("requireSignature", deploy["spec"]["rules"])
        harbor = self.get(next(o for o in objects
                               if o["metadata"]["name"] == "full-harbor-never-block"), "v1beta1")
        self.assertNotIn("insecure", harbor["spec"]["scanner"]["harbor"])
        # kubectl get shows v1beta1's columns and its counts
        out = self.kube.kubectl("get", self.resource("ImageDelivery", "v1beta1"), "-n",
                                "conv").stdout
        header, rows = out.splitlines()[0].split(), out.splitlines()[1:]
        self.assertEqual(header[:5], ["NAME", "SOURCE", "DELIVERED", "BLOCKED", "SIGNED"], out)
        row = next(r.split() for r in rows if r.startswith("full-tags "))
        self.assertEqual(row[2:5], ["1", "1", "1"], out)
        out = self.kube.kubectl("get", self.resource("ScanPolicy", "v1beta1"), "-n",
                                "conv").stdout
        self.assertIn("ACTION", out.splitlines()[0])
        self.assertRegex(out, r"full-harbor-never-block\s+Critical\s+Warn")

    def test_v1beta1_writes_read_back_through_v1alpha1(self):
        objects = load("v1beta1-full.yaml")
        for obj in objects:
            self.store(obj)
        by_name = {o["metadata"]["name"]: o for o in objects}
        for obj in objects:
            what = f"{obj['kind']} {obj['metadata']['name']}"
            beta = self.get(obj, "v1beta1")
            self.assert_holds(beta, obj, what + " through v1beta1")
            anns = beta["metadata"].get("annotations", {})
            self.assertFalse(set(anns) & set(CARRIED), f"{what}: {anns}")
        # v1alpha1 readers (today's controller) see what they can enforce ...
        alpha = self.get(by_name["beta-authority"], "v1alpha1")
        self.assertEqual(alpha["spec"]["verify"], {"signingKeyRef": {"name": "vendor-build"}})
        self.assertEqual(alpha["spec"]["source"]["credentials"],
                         {"secretRef": {"name": "vendor-pull"}})
        self.assertEqual(alpha["spec"]["source"]["caSecretRef"], {"name": "vendor-ca"})
        # ... and the authority's name rides along
        self.assertIn("vendor-2026", alpha["metadata"]["annotations"][CARRIED[0]])
        warn = self.get(by_name["beta-warn-high"], "v1alpha1")
        self.assertEqual(warn["spec"]["severityThreshold"], "None")
        self.assertEqual(json.loads(warn["metadata"]["annotations"][CARRIED[0]]),
                         {"spec": {"severityThreshold": "High"}})
        harbor = self.get(by_name["beta-harbor"], "v1alpha1")
        self.assertEqual(harbor["spec"]["scanner"]["harbor"]["insecure"], True)
        self.assertEqual(harbor["spec"]["severityThreshold"], "Low")
        deploy = self.get(by_name["beta-deploy"], "v1alpha1")
        self.assertEqual(deploy["spec"]["rules"]["requireSignature"]["signingKeyRefs"][0]["name"],
                         "vendor-release")
        self.assertEqual(deploy["spec"]["rules"]["requireScanPassed"],
                         {"scanPolicyRefs": [{"namespace": "vendor-acme", "name": "default"}]})
        key = self.get(by_name["beta-import"], "v1alpha1")
        self.assertEqual(key["spec"]["publicKey"], {"configMapRef": {"name": "imported-pub"}})
        # GitSource's v1beta1-only fields ride in the annotation and survive a v1alpha1 write
        git = self.get(by_name["beta-git"], "v1alpha1")
        self.assertNotIn("timeout", git["spec"])
        self.assertEqual(json.loads(git["metadata"]["annotations"][CARRIED[0]]),
                         {"spec": {"timeout": "90s",
                                   "ignore": by_name["beta-git"]["spec"]["ignore"],
                                   "serviceAccountName": "delivery-applier",
                                   "verify": by_name["beta-git"]["spec"]["verify"]}})
        self.kube.kubectl("patch", self.resource("GitSource", "v1alpha1"), "beta-git", "-n",
                          "conv", "--type=merge", "-p", '{"spec":{"interval":"7m"}}')
        git = self.get(by_name["beta-git"], "v1beta1")
        self.assertEqual((git["spec"]["interval"], git["spec"]["timeout"], git["spec"]["ignore"],
                          git["spec"]["verify"], git["spec"]["serviceAccountName"]),
                         ("7m", "90s", by_name["beta-git"]["spec"]["ignore"],
                          by_name["beta-git"]["spec"]["verify"], "delivery-applier"))
        # a v1alpha1 writer changes a field; the v1beta1-only value survives the write
        self.kube.kubectl("patch", self.resource("ImageDelivery", "v1alpha1"), "beta-authority",
                          "-n", "conv", "--type=merge", "-p", '{"spec":{"interval":"20m"}}')
        beta = self.get(by_name["beta-authority"], "v1beta1")
        self.assertEqual(beta["spec"]["interval"], "20m")
        self.assertEqual(beta["spec"]["verify"]["authorities"],
                         by_name["beta-authority"]["spec"]["verify"]["authorities"])
        # a v1alpha1 writer changing what the carried fields cover wins: v1beta1 readers see
        # what the controller enforces (a blocking threshold), not the stale Warn
        self.kube.kubectl("patch", self.resource("ScanPolicy", "v1alpha1"), "beta-warn-high",
                          "-n", "conv", "--type=merge", "-p",
                          '{"spec":{"severityThreshold":"Medium"}}')
        beta = self.get(by_name["beta-warn-high"], "v1beta1")
        self.assertEqual((beta["spec"]["severityThreshold"], beta["spec"]["action"]),
                         ("Medium", "Block"))
        # what v1alpha1 cannot say is accepted and enforced: an ImageDelivery with several
        # authorities (any one verifies) and a DeployPolicy with scoped verifyImages
        beyond = {o["metadata"]["name"]: o for o in load("v1beta1-beyond.yaml")}
        for name in ("two-authorities", "scoped"):
            body = {k: v for k, v in beyond[name].items() if k != "status"}
            cp = self.kube.kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                                   input=json.dumps(body))
            self.assertEqual(cp.returncode, 0, cp.stderr)
        # ScanPolicy's provider: the API server takes it on images of its cloud, and refuses
        # it on an entry without an image
        cloud = {k: v for k, v in beyond["scan-cloud-providers"].items() if k != "status"}
        cp = self.kube.kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                               input=json.dumps(cloud))
        self.assertEqual(cp.returncode, 0, cp.stderr)
        bad = json.loads(json.dumps(cloud))
        bad["spec"]["vex"] = [{"configMapRef": {"name": "vex", "key": "doc.json"},
                               "provider": "aws"}]
        cp = self.kube.kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                               input=json.dumps(bad))
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("spec.vex[]: provider applies to an image only", cp.stderr)
        # ImageDelivery serviceAccountName (source, targets) survives a v1alpha1 write, whose
        # schema would prune it
        self.store(beyond["service-account-pulls"])
        alpha = self.get(beyond["service-account-pulls"], "v1alpha1")
        self.assertNotIn("serviceAccountName", alpha["spec"]["source"])
        self.kube.kubectl("patch", self.resource("ImageDelivery", "v1alpha1"),
                          "service-account-pulls", "-n", "conv", "--type=merge", "-p",
                          '{"spec":{"interval":"20m"}}')
        beta = self.get(beyond["service-account-pulls"], "v1beta1")
        self.assertEqual((beta["spec"]["interval"], beta["spec"]["source"]["serviceAccountName"],
                          beta["spec"]["targets"][0]["serviceAccountName"]),
                         ("20m", "vendor-puller", "customer-pusher"))
        # so do ScanPolicy's serviceAccountName (database, VEX images) and a VEX image's
        # certSecretRef, which v1alpha1 has no field for
        self.store(beyond["scan-service-accounts"])
        alpha = self.get(beyond["scan-service-accounts"], "v1alpha1")
        self.assertNotIn("serviceAccountName", alpha["spec"]["database"])
        for key in ("serviceAccountName", "certSecretRef", "caSecretRef"):
            self.assertNotIn(key, alpha["spec"]["vex"][0])
        self.kube.kubectl("patch", self.resource("ScanPolicy", "v1alpha1"),
                          "scan-service-accounts", "-n", "conv", "--type=merge", "-p",
                          '{"spec":{"ignoreUnfixed":true}}')
        beta = self.get(beyond["scan-service-accounts"], "v1beta1")
        self.assertEqual((beta["spec"]["ignoreUnfixed"],
                          beta["spec"]["database"]["serviceAccountName"],
                          beta["spec"]["vex"][0]["serviceAccountName"],
                          beta["spec"]["vex"][0]["certSecretRef"],
                          beta["spec"]["vex"][1]["certSecretRef"]),
                         (True, "db-puller", "vex-puller", {"name": "vex-mtls"},
                          {"name": "other-ca"}))

    def test_fails_closed_without_the_webhook(self):
        """Reads through the version that is not stored need the webhook. ImageDelivery is
        stored as v1beta1: a v1alpha1 object (written through the deprecated version, converted
        up by the webhook) reads back through v1alpha1 while the webhook runs; with it stopped
        v1alpha1 reads fail and v1beta1 reads go on."""
        obj = load("v1alpha1-full.yaml")[0]
        self.assertEqual((obj["apiVersion"], obj["kind"]),
                         ("sealift.dev/v1alpha1", "ImageDelivery"))
        self.store(obj)
        self.assertEqual(self.get(obj, "v1alpha1")["spec"]["source"]["credentials"],
                         {"secretRef": {"name": "vendor-pull"}})
        self.controller.stop()
        cp = self.get(obj, "v1alpha1", check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("conversion webhook", cp.stderr)
        beta = self.get(obj, "v1beta1")
        self.assertEqual(beta["apiVersion"], "sealift.dev/v1beta1")
        self.assertEqual(beta["spec"]["source"]["secretRef"], {"name": "vendor-pull"})

    def test_controller_puts_its_ca_into_the_crds(self):
        """Re-applying the CRDs (or installing with Helm) leaves their conversion webhook without
        the CA, and then the API server cannot convert: the controller, as its ServiceAccount,
        writes the CA it serves with into the conversion webhook of the five CRDs, and a
        v1alpha1 read works again."""
        obj = load("v1alpha1-full.yaml")[0]
        self.store(obj)
        self.controller.stop()
        for plural in CRDS.values():
            self.kube.kubectl("patch", "crd", f"{plural}.sealift.dev", "--type=json", "-p",
                              '[{"op":"remove","path":'
                              '"/spec/conversion/webhook/clientConfig/caBundle"}]')
        self.start_controller()
        ca = base64.b64encode(open(os.path.join(self.kube.webhook_cert_dir, "ca.crt"), "rb")
                              .read()).decode()

        def bundles():
            out = {}
            for plural in CRDS.values():
                crd = json.loads(self.kube.kubectl("get", "crd", f"{plural}.sealift.dev",
                                                   "-o", "json").stdout)
                out[plural] = crd["spec"]["conversion"]["webhook"]["clientConfig"].get("caBundle")
            return out
        procs.wait_for(lambda: set(bundles().values()) == {ca}, timeout=60,
                       what="the controller to write its CA into every CRD")
        procs.wait_for(lambda: isinstance(self.get(obj, "v1alpha1", check=False), dict),
                       timeout=30, what="v1alpha1 reads to convert again")
        self.assertEqual(self.get(obj, "v1alpha1")["spec"]["source"]["credentials"],
                         {"secretRef": {"name": "vendor-pull"}})

    def post(self, path, body, client_cert):
        """POSTs body (JSON) to the webhook listener directly, with or without the API server's
        webhook client certificate; returns (HTTP status, parsed or raw body)."""
        ctx = ssl.create_default_context(
            cafile=os.path.join(self.kube.webhook_cert_dir, "ca.crt"))
        if client_cert:
            ctx.load_cert_chain(self.kube.webhook_client_cert, self.kube.webhook_client_key)
        req = urllib.request.Request(f"https://127.0.0.1:{self.kube.webhook_port}{path}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def test_client_ca_mode_admission_needs_a_certificate_convert_does_not(self):
        """With --webhook-client-ca, /convert answers a caller without a client certificate (as
        the API server calls it), and the admission routes answer only the API server's."""
        alpha = load("v1alpha1-full.yaml")[0]
        review = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                  "request": {"uid": "no-cert", "desiredAPIVersion": "sealift.dev/v1beta1",
                              "objects": [alpha]}}
        status, got = self.post("/convert", review, client_cert=False)
        self.assertEqual(status, 200, got)
        self.assertEqual(got["response"]["uid"], "no-cert")
        self.assertEqual(got["response"]["result"]["status"], "Success", got)
        converted = got["response"]["convertedObjects"][0]
        self.assertEqual(converted["apiVersion"], "sealift.dev/v1beta1")
        self.assertEqual(converted["spec"]["source"]["secretRef"], {"name": "vendor-pull"})
        admission = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                     "request": {"uid": "no-cert", "kind": {"group": "", "version": "v1",
                                                             "kind": "Pod"},
                                 "namespace": "conv", "operation": "CREATE",
                                 "object": {"kind": "Pod", "spec": {"containers": [
                                     {"name": "app", "image": "registry.example/app:1"}]}}}}
        status, got = self.post("/admission/any-policy", admission, client_cert=False)
        self.assertEqual(status, 403, got)
        self.assertIn("client certificate", got)
        self.assertNotIn("response", got)
        # the API server's certificate reaches the admission handler (which answers the review)
        status, got = self.post("/admission/any-policy", admission, client_cert=True)
        self.assertNotEqual(status, 403, got)
        self.assertEqual(got["response"]["uid"], "no-cert", got)


if __name__ == "__main__":
    unittest.main(verbosity=2)
