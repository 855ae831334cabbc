"""Installing sealift on the real API server: `kubectl apply -k crds/` (also pinned by digest, as
hack/release.sh pins it) and the Helm chart crds/helm/sealift (the real helm, built from the Go
module proxy: `helm lint`, `helm template | kubectl apply --dry-run=server`), which renders the
same objects as crds/ by default, its CRDs pointed at the release's namespace and kept by `helm
uninstall`; a real Helm release in another namespace than sealift-system, upgraded from the chart
that shipped its CRDs in Helm's crds/ folder (which Helm never templates nor upgrades), upgraded
again, uninstalled and installed again; and the webhook serving certificate without cert-manager
(hack/webhook-cert.sh): the API server calls the webhook through the certificate it issued, and a
rotation keeps the CA while the controller serves the new certificate."""
import base64
import copy
import json
import os
import shutil
import socket
import ssl
import subprocess
import unittest

import yaml

import procs
from controller import Controller
from kube import Cluster

CHART = os.path.join(procs.SRC, "crds", "helm", "sealift")
DIGEST = "sha256:" + "ab" * 32

POLICY = """apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {name: signed-only}
spec:
  namespaceSelector:
    matchLabels: {sealift.dev/enforce: "true"}
  enforcement: Deny
  rules:
    requireDigest: true
  verifyImages:
  - imageReferences: ["*"]
    authorities:
    - name: release
      key: {signingKeyRef: {namespace: vendor-acme, name: release, fingerprint: "%s"}}
  outputs: [ValidatingAdmissionPolicy]
"""

POD = """apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: shop}
spec:
  containers:
  - name: app
    image: 127.0.0.1:1/mirror/app@sha256:%s
"""


CRD_FILES = ["sealift.dev_imagedeliveries.yaml", "sealift.dev_scanpolicies.yaml",
             "sealift.dev_signingkeys.yaml", "sealift.dev_deploypolicies.yaml",
             "sealift.dev_gitsources.yaml"]
KEEP = {"helm.sh/resource-policy": "keep"}

IMAGEDELIVERY = """apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {name: acme-app, namespace: team-x}
spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0"]}
  targets:
  - image: registry.customer.example/mirror/app
"""


def crds_docs(name):
    with open(os.path.join(procs.SRC, "crds", name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def conversion_service(crd):
    return crd["spec"]["conversion"]["webhook"]["clientConfig"]["service"]


def without_keep(crd):
    """The CRD as crds/ has it: the chart adds the one annotation helm.sh/resource-policy."""
    crd = copy.deepcopy(crd)
    md = crd["metadata"]
    if md.get("annotations") == KEEP:
        del md["annotations"]
    return crd


def ca_bundle(kube):
    """The caBundle of imagedeliveries.sealift.dev's conversion webhook (base64)."""
    return kube.kubectl("get", "crd", "imagedeliveries.sealift.dev", "-o",
                        "jsonpath={.spec.conversion.webhook.clientConfig.caBundle}").stdout


def write_ca_bundle(kube):
    """Writes a CA into imagedeliveries.sealift.dev's conversion webhook, as the controller
    does; returns it (base64)."""
    with open(kube.ca_path, "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    kube.kubectl("patch", "crd", "imagedeliveries.sealift.dev", "--type=merge", "-p",
                 json.dumps({"spec": {"conversion": {"webhook": {"clientConfig": {
                     "caBundle": ca}}}}}))
    assert ca_bundle(kube) == ca
    return ca


def helm_run(testcase, home, *args, kubeconfig=None, check=True):
    env = dict(os.environ, HELM_CACHE_HOME=home + "/hc", HELM_CONFIG_HOME=home + "/hcfg",
               HELM_DATA_HOME=home + "/hd")
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    r = subprocess.run([procs.peer("helm"), *args], capture_output=True, text=True, timeout=300,
                       env=env)
    if check:
        testcase.assertEqual(r.returncode, 0, r.stderr)
    return r


class InstallTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()  # kubectl apply -k crds/, for real

    def helm(self, *args, check=True):
        return helm_run(self, self.tmp, *args, check=check)

    def template(self, *sets, namespace="sealift-system"):
        args = ["template", "sealift", CHART, "--namespace", namespace]
        for s in sets:
            args += ["--set", s]
        return self.helm(*args).stdout

    def dry_run(self, text):
        r = self.kube.kubectl("apply", "--dry-run=server", "-f", "-", input=text, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_kustomize_and_chart_on_the_api_server(self):
        # the kustomization, as released: pinned to a digest
        crds = os.path.join(self.tmp, "crds")
        shutil.copytree(os.path.join(procs.SRC, "crds"), crds, symlinks=True)
        self.dry_run(self.kube.kubectl("kustomize", os.path.join(procs.SRC, "crds")).stdout)
        path = os.path.join(crds, "kustomization.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("  newTag: 0.1.0\n",
                                 f"  newName: registry.example/sealift\n  digest: {DIGEST}\n"))
        r = self.kube.kubectl("apply", "-k", crds, "--dry-run=server", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("deployment.apps/sealift-controller", r.stdout)
        dep = json.loads(self.kube.kubectl("apply", "-k", crds, "--dry-run=server", "-o",
                                           "json").stdout)
        images = [c["image"] for i in dep["items"] if i["kind"] == "Deployment"
                  for c in i["spec"]["template"]["spec"]["containers"]]
        self.assertEqual(images, [f"registry.example/sealift@{DIGEST}"])

        # re-applying a CRD of crds/ (which carries no caBundle) keeps the caBundle the
        # controller wrote into its conversion webhook
        ca = write_ca_bundle(self.kube)
        self.kube.kubectl("apply", "-f", os.path.join(procs.SRC, "crds", CRD_FILES[0]))
        self.assertEqual(ca_bundle(self.kube), ca)

        # the chart: lint, then its default rendering is crds/ itself (the CRDs with the one
        # annotation that keeps them on `helm uninstall`), accepted by the server
        lint = self.helm("lint", CHART)
        self.assertIn("1 chart(s) linted, 0 chart(s) failed", lint.stdout)
        out = self.template()
        self.dry_run(out)
        docs = [d for d in yaml.safe_load_all(out) if d]
        by_kind = {}
        for d in docs:
            by_kind.setdefault(d["kind"], []).append(d)
        chart_crds = by_kind["CustomResourceDefinition"]
        self.assertEqual([without_keep(d) for d in chart_crds],
                         [d for f in CRD_FILES for d in crds_docs(f)])
        for d in chart_crds:
            self.assertEqual(d["metadata"]["annotations"], KEEP, d["metadata"]["name"])
            # the controller writes the caBundle: Helm must not render one
            self.assertNotIn("caBundle", d["spec"]["conversion"]["webhook"]["clientConfig"])
        self.assertEqual(by_kind["Deployment"], crds_docs("deployment.yaml"))
        self.assertEqual(by_kind["Service"], crds_docs("service.yaml"))
        self.assertEqual([d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding",
                                                          "Role", "RoleBinding")],
                         crds_docs("rbac.yaml"))

        # --namespace team-x: the CRDs' conversion webhook is team-x's sealift-webhook Service
        # (where the controller serves /convert), and every namespaced object is in team-x
        self.kube.kubectl("create", "namespace", "team-x")
        out = self.template(namespace="team-x")
        self.dry_run(out)
        docs = [d for d in yaml.safe_load_all(out) if d]
        crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
        self.assertEqual(len(crds), 5)
        for d in crds:
            self.assertEqual(conversion_service(d),
                             {"namespace": "team-x", "name": "sealift-webhook",
                              "path": "/convert", "port": 443}, d["metadata"]["name"])
            self.assertEqual(d["metadata"]["annotations"], KEEP)
        namespaced = [d for d in docs if d["kind"] in ("Deployment", "Service", "ServiceAccount",
                                                       "Role", "RoleBinding")]
        self.assertEqual(len(namespaced), 7)
        for d in namespaced:
            self.assertEqual(d["metadata"]["namespace"], "team-x", d["metadata"]["name"])
        (crb,) = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
        self.assertEqual(crb["subjects"][0]["namespace"], "team-x")
        self.assertNotIn("sealift-system", json.dumps(docs))  # (comments may name it)

        # crds.enabled=false: teams that manage the CRDs elsewhere get everything else
        out = self.template("crds.enabled=false")
        kinds = [d["kind"] for d in yaml.safe_load_all(out) if d]
        self.assertNotIn("CustomResourceDefinition", kinds)
        self.assertIn("Deployment", kinds)

        # workloadIdentity.enabled: the token right (crds/workload-identity.yaml, bound in the
        # release's namespace) and --workload-identity, plus extraEnv; off by default
        self.assertNotIn("serviceaccounts/token", out)
        out = self.template("workloadIdentity.enabled=true",
                            "extraEnv[0].name=AWS_ENDPOINT_URL_STS",
                            "extraEnv[0].value=https://sts.vpce.example",
                            namespace="team-x")
        self.dry_run(out)
        docs = [d for d in yaml.safe_load_all(out) if d]
        (role,) = [d for d in docs if d["kind"] == "ClusterRole"
                   and d["metadata"]["name"] == "sealift-workload-identity"]
        self.assertEqual(role["rules"], [{"apiGroups": [""], "resources": ["serviceaccounts/token"],
                                          "verbs": ["create"]}])
        (binding,) = [d for d in docs if d["kind"] == "ClusterRoleBinding"
                      and d["metadata"]["name"] == "sealift-workload-identity"]
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount",
                                                "name": "sealift-controller",
                                                "namespace": "team-x"}])
        (dep,) = [d for d in docs if d["kind"] == "Deployment"]
        c = dep["spec"]["template"]["spec"]["containers"][0]
        self.assertIn("--workload-identity", c["args"])
        self.assertIn({"name": "AWS_ENDPOINT_URL_STS", "value": "https://sts.vpce.example"},
                      c["env"])

        # values: a digest, shards, resources, replicas, cert-manager certificates
        out = self.template("image.repository=registry.example/sealift", f"image.digest={DIGEST}",
                            "shards={blue,green}", "replicas=3",
                            "resources.limits.memory=1Gi",
                            "webhook.certificates.mode=cert-manager",
                            "extraArgs={--image-parallel-copies=4,--concurrency=8}")
        docs = [d for d in yaml.safe_load_all(out) if d]
        deps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
        self.assertEqual(sorted(deps), ["sealift-controller-blue", "sealift-controller-green"])
        for shard, d in (("blue", deps["sealift-controller-blue"]),
                         ("green", deps["sealift-controller-green"])):
            c = d["spec"]["template"]["spec"]["containers"][0]
            self.assertEqual(c["image"], f"registry.example/sealift@{DIGEST}")
            self.assertEqual(d["spec"]["replicas"], 3)
            self.assertEqual(c["resources"]["limits"]["memory"], "1Gi")
            self.assertIn(f"--shard {shard}", " ".join(c["args"]))
            # extraArgs come after the chart's own flags, as given
            self.assertEqual(c["args"][-2:], ["--image-parallel-copies=4", "--concurrency=8"])
            self.assertEqual(d["spec"]["selector"]["matchLabels"]["sealift.dev/shard"], shard)
            # the webhook (which knows its own shard's DeployPolicies) is served by blue alone
            self.assertEqual("--webhook-addr" in c["args"], shard == "blue")
        (svc,) = [d for d in docs if d["kind"] == "Service"]
        self.assertEqual(svc["spec"]["selector"]["sealift.dev/shard"], "blue")
        certs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Certificate"}
        self.assertEqual(certs["sealift-webhook"]["spec"]["secretName"], "sealift-webhook-tls")
        self.assertIn("sealift-webhook.sealift-system.svc",
                      certs["sealift-webhook"]["spec"]["dnsNames"])
        self.assertTrue(certs["sealift-webhook-ca"]["spec"]["isCA"])
        # without cert-manager's CRDs the server takes everything but its objects
        self.dry_run("---\n".join(yaml.safe_dump(d) for d in docs
                                  if d["apiVersion"] != "cert-manager.io/v1"))

        # webhook.certificates.mode=generate: the controller keeps the certificate in the Secret
        # (--webhook-cert-secret) and writes its files into a writable emptyDir
        gen = self.template("webhook.certificates.mode=generate")
        self.dry_run(gen)
        docs = [d for d in yaml.safe_load_all(gen) if d]
        (dep,) = [d for d in docs if d["kind"] == "Deployment"]
        c = dep["spec"]["template"]["spec"]["containers"][0]
        self.assertIn("--webhook-cert-secret sealift-webhook-tls", " ".join(c["args"]))
        (mount,) = [m for m in c["volumeMounts"] if m["name"] == "webhook-tls"]
        self.assertFalse(mount["readOnly"])
        (vol,) = [v for v in dep["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "webhook-tls"]
        self.assertIn("emptyDir", vol)
        self.assertNotIn("secret", vol)

        # values the chart refuses
        for bad, msg in ((["shards={Blue}"], "lowercase"), (["image.digest=latest"], "sha256"),
                         (["shards={a}", "webhook.shard=b"], "not one of shards"),
                         (["webhook.certificates.mode=vault"], "secret or cert-manager")):
            args = ["template", "sealift", CHART]
            for s in bad:
                args += ["--set", s]
            r = self.helm(*args, check=False)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn(msg, r.stderr)


class HelmReleaseTest(procs.TempDirTestCase):
    """A real Helm release in team-x, on an API server without sealift installed."""

    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)

    def helm(self, *args, check=True):
        return helm_run(self, self.tmp, *args, kubeconfig=self.kube.kubeconfig, check=check)

    def crds(self):
        items = json.loads(self.kube.kubectl("get", "crd", "-l",
                                             "app.kubernetes.io/part-of=sealift", "-o",
                                             "json").stdout)["items"]
        return {c["metadata"]["name"]: c for c in items}

    def chart_copy(self, name):
        """The chart with the files its links name, to be changed into another release of it."""
        path = os.path.join(self.tmp, name)
        shutil.copytree(CHART, path)
        return path

    def test_install_upgrade_uninstall_in_another_namespace(self):
        kube = self.kube
        names = sorted(crds_docs(f)[0]["metadata"]["name"] for f in CRD_FILES)
        kube.kubectl("create", "namespace", "team-x")

        # the chart as it was: the same files, the CRDs in Helm's crds/ folder, which Helm
        # installs untemplated (their webhook names sealift-system) and never upgrades
        previous = self.chart_copy("previous")
        os.makedirs(os.path.join(previous, "crds"))
        for f in CRD_FILES:
            os.rename(os.path.join(previous, "files", "crds", f), os.path.join(previous, "crds", f))
        os.remove(os.path.join(previous, "templates", "crds.yaml"))
        with open(os.path.join(previous, "values.yaml")) as f:
            values = yaml.safe_load(f)
        del values["crds"]
        with open(os.path.join(previous, "values.yaml"), "w") as f:
            yaml.safe_dump(values, f)
        self.helm("install", "sealift", previous, "--namespace", "team-x")
        crds = self.crds()
        self.assertEqual(sorted(crds), names)
        for c in crds.values():
            self.assertEqual(conversion_service(c)["namespace"], "sealift-system")
        kube.kubectl("apply", "-f", "-", input=IMAGEDELIVERY)
        # what docs/install.md told those users to do by hand (here for one of the five)
        kube.kubectl("patch", "crd", "imagedeliveries.sealift.dev", "--type=merge", "-p",
                     json.dumps({"spec": {"conversion": {"webhook": {"clientConfig": {
                         "service": {"namespace": "team-x"}}}}}}))

        # upgrading to this chart (as docs/install.md does, with --reuse-values: the previous
        # release's values, without crds.enabled): Helm takes over CRDs it did not install only
        # once they are labelled and annotated as the release's
        upgrade = ("upgrade", "sealift", CHART, "--namespace", "team-x", "--reuse-values")
        r = self.helm(*upgrade, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("invalid ownership metadata", r.stderr)
        kube.kubectl("label", "crd", "-l", "app.kubernetes.io/part-of=sealift",
                     "app.kubernetes.io/managed-by=Helm", "--overwrite")
        kube.kubectl("annotate", "crd", "-l", "app.kubernetes.io/part-of=sealift", "--overwrite",
                     "meta.helm.sh/release-name=sealift", "meta.helm.sh/release-namespace=team-x")
        self.helm(*upgrade)
        crds = self.crds()
        self.assertEqual(sorted(crds), names)
        for name, c in crds.items():
            self.assertEqual(conversion_service(c)["namespace"], "team-x", name)
            self.assertEqual(c["metadata"]["annotations"]["helm.sh/resource-policy"], "keep")

        # the caBundle the controller writes (the CA it serves /convert with) survives upgrades,
        # and an upgrade carries a CRD's changes (here a next release's short name)
        ca = write_ca_bundle(kube)
        following = self.chart_copy("following")
        path = os.path.join(following, "files", "crds", "sealift.dev_imagedeliveries.yaml")
        with open(path) as f:
            text = f.read()
        self.assertIn("shortNames: [imd]\n", text)
        with open(path, "w") as f:
            f.write(text.replace("shortNames: [imd]\n", "shortNames: [imd, imdnext]\n"))
        self.helm("upgrade", "sealift", following, "--namespace", "team-x")
        imd = self.crds()["imagedeliveries.sealift.dev"]
        self.assertEqual(imd["spec"]["names"]["shortNames"], ["imd", "imdnext"])
        self.assertEqual(ca_bundle(kube), ca)

        # helm uninstall keeps the CRDs, and with them the users' objects
        self.helm("uninstall", "sealift", "--namespace", "team-x")
        self.assertEqual(sorted(self.crds()), names)
        kube.kubectl("get", "imagedelivery", "-n", "team-x", "acme-app")
        self.assertEqual(kube.kubectl("get", "deployment", "-n", "team-x", "-o", "name").stdout,
                         "")

        # installed again: the release takes its CRDs back as this chart has them
        self.helm("install", "sealift", CHART, "--namespace", "team-x")
        self.assertEqual(kube.kubectl(
            "get", "crd", "imagedeliveries.sealift.dev", "-o",
            "jsonpath={.spec.conversion.webhook.clientConfig.service.namespace}"
            " {.spec.names.shortNames}").stdout, 'team-x ["imd"]')
        kube.kubectl("get", "imagedelivery", "-n", "team-x", "acme-app")
        kube.kubectl("get", "deployment", "-n", "team-x", "sealift-controller")


class WebhookCertTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()
        self.certs = os.path.join(self.tmp, "tls")

    def webhook_cert(self):
        r = subprocess.run(["bash", os.path.join(procs.SRC, "hack", "webhook-cert.sh"),
                            "--kubeconfig", self.kube.kubeconfig], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stderr

    def secret(self, name):
        s = json.loads(self.kube.kubectl("get", "secret", "-n", "sealift-system", name, "-o",
                                         "json").stdout)
        return s["type"], {k: base64.b64decode(v) for k, v in s["data"].items()}

    def mount(self, data):
        """What the kubelet does with the Secret volume: the files in the pod's cert dir."""
        os.makedirs(self.certs, exist_ok=True)
        for k, v in data.items():
            tmp = os.path.join(self.certs, "." + k)
            with open(tmp, "wb") as f:
                f.write(v)
            os.replace(tmp, os.path.join(self.certs, k))

    def served_cert(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.kube.webhook_port), timeout=10) as s:
            with ctx.wrap_socket(s) as t:
                return ssl.DER_cert_to_PEM_cert(t.getpeercert(binary_form=True)).encode()

    def pem_of(self, data):
        return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(data.decode())).encode()

    def test_issue_serve_and_rotate(self):
        self.assertIn("created the CA", self.webhook_cert())
        typ, tls = self.secret("sealift-webhook-tls")
        self.assertEqual(typ, "kubernetes.io/tls")
        self.assertEqual(sorted(tls), ["ca.crt", "tls.crt", "tls.key"])
        for k in ("ca.crt", "tls.crt"):
            with open(os.path.join(self.tmp, k), "wb") as f:
                f.write(tls[k])
        v = procs.run(["openssl", "verify", "-CAfile", os.path.join(self.tmp, "ca.crt"),
                       "-verify_hostname", "sealift-webhook.sealift-system.svc",
                       os.path.join(self.tmp, "tls.crt")], check=False)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.mount(tls)

        ctl = Controller(self, self.kube, webhook=False, extra_args=[
            "--webhook-addr", f"127.0.0.1:{self.kube.webhook_port}",
            "--webhook-cert-dir", self.certs,
            "--webhook-service-port", str(self.kube.webhook_port)])
        ctl.wait_ready()
        for ns in ("vendor-acme", "shop"):
            self.kube.kubectl("create", "namespace", ns)
        self.kube.kubectl("label", "namespace", "shop", "sealift.dev/enforce=true")
        self.kube.kubectl("apply", "-f", "-", input="""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: release, namespace: vendor-acme}
spec: {mode: Generate, secretRef: {name: release-key}}
""")
        self.kube.kubectl("wait", "--for=condition=Ready", "-n", "vendor-acme", "sigkey/release",
                          "--timeout=60s")
        fp = self.kube.kubectl("get", "sigkey", "-n", "vendor-acme", "release", "-o",
                               "jsonpath={.status.fingerprint}").stdout.strip()
        self.kube.kubectl("apply", "-f", "-", input=POLICY % fp)
        self.kube.kubectl("wait", "--for=condition=Ready", "deploypolicy/signed-only",
                          "--timeout=60s")
        vwc = json.loads(self.kube.kubectl("get", "validatingwebhookconfiguration",
                                           "sealift-signed-only", "-o", "json").stdout)
        self.assertEqual(base64.b64decode(vwc["webhooks"][0]["clientConfig"]["caBundle"]),
                         tls["ca.crt"])

        def denied_by_webhook(name):
            cp = self.kube.kubectl("apply", "-f", "-", input=POD % (name, "0" * 64), check=False)
            self.assertNotEqual(cp.returncode, 0)
            # the API server reached the webhook over TLS (no x509 error): the webhook denied it
            self.assertIn('admission webhook "signed-only.deploypolicy.sealift.dev" denied the '
                          'request', cp.stderr)
        denied_by_webhook("first")

        # rotation: a new serving certificate from the same CA; the caBundle stays valid
        self.assertIn("reusing the CA", self.webhook_cert())
        _, rotated = self.secret("sealift-webhook-tls")
        self.assertEqual(rotated["ca.crt"], tls["ca.crt"])
        self.assertNotEqual(rotated["tls.crt"], tls["tls.crt"])
        self.assertNotEqual(rotated["tls.key"], tls["tls.key"])
        self.mount(rotated)
        procs.wait_for(lambda: self.served_cert() == self.pem_of(rotated["tls.crt"]), timeout=60,
                       interval=0.5, what="the controller to serve the rotated certificate")
        denied_by_webhook("second")
        vwc = json.loads(self.kube.kubectl("get", "validatingwebhookconfiguration",
                                           "sealift-signed-only", "-o", "json").stdout)
        self.assertEqual(base64.b64decode(vwc["webhooks"][0]["clientConfig"]["caBundle"]),
                         tls["ca.crt"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
