"""docs/install.md, run: every ```sh block of the guide is executed in order (bash -eu, from the
source tree, the real kubectl, helm, sealift and hack/ scripts on PATH) against a real API
server with real docker-registry accounts; the blocks marked `helm` (and the certificate and
Helm upgrade) on a second API server. Only the `env` block is replaced by the test's values
(local registries, INSECURE=true). There is no kubelet, so the test runs the controller itself,
as the Deployment would, after the install and certificate blocks, with the certificate the
guide's hack/webhook-cert.sh put in the Secret."""
import base64
import json
import os
import re
import subprocess
import sys
import unittest

import procs
import registry as reglib
from controller import Controller
from kube import Cluster

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scan"))
import scanlib  # noqa: E402

GUIDE = os.path.join(procs.SRC, "docs", "install.md")
BLOCK = re.compile(r"(?:<!-- test: ([a-z-]+) -->\n)?```sh\n(.*?)```", re.S)
KUBECTL_ONLY = ("kustomize", "cert", "lab", "vendor", "customer", "upgrade-kustomize")
HELM_ONLY = ("helm", "cert", "upgrade-helm")


def guide_blocks():
    with open(GUIDE) as f:
        text = f.read()
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]


class GuideTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.bin)
        os.symlink(procs.SEALIFT, os.path.join(self.bin, "sealift"))
        os.symlink(procs.peer("helm"), os.path.join(self.bin, "helm"))
        self.work = os.path.join(self.tmp, "work")
        os.makedirs(self.work)

    def env(self, kube, extra=None):
        env = dict(os.environ, KUBECONFIG=kube.kubeconfig,
                   PATH=self.bin + os.pathsep + os.environ["PATH"],
                   HELM_CACHE_HOME=self.tmp + "/hc", HELM_CONFIG_HOME=self.tmp + "/hcfg",
                   HELM_DATA_HOME=self.tmp + "/hd", **(extra or {}))
        return env

    def run_block(self, tag, text, env):
        # from the source tree (crds/, hack/), files the guide writes (cosign.pub) in a scratch
        # folder: the tree's paths are made absolute for that
        script = re.sub(r"(?<![\w/.-])(crds|hack)/", procs.SRC + r"/\1/", text)
        r = subprocess.run(["bash", "-eu", "-c", script], capture_output=True, text=True,
                           env=env, cwd=self.work, timeout=600)
        self.assertEqual(r.returncode, 0,
                         f"docs/install.md block [{tag}] failed:\n{text}\n--- stdout\n"
                         f"{r.stdout[-2000:]}\n--- stderr\n{r.stderr[-3000:]}")
        return r.stdout

    def test_every_block_is_marked(self):
        blocks = guide_blocks()
        self.assertGreater(len(blocks), 8)
        for tag, text in blocks:
            self.assertIn(tag, ("env",) + KUBECTL_ONLY + HELM_ONLY, text)

    def test_guide_with_kustomize(self):
        vendor = reglib.Registry(self, "vendor", users={"acme": "vendor-pw"})
        customer = reglib.Registry(self, "customer", users={"cust": "customer-pw"})
        layout = scanlib.debian_layout(os.path.join(self.tmp, "layout"),
                                       {"1.0": "2.36-9+deb12u14"})
        scanlib.skopeo_push(layout, "1.0", f"{vendor.host}/acme/app:1.0", vendor.creds())
        advisories = scanlib.advisory_dir(os.path.join(self.tmp, "advisories"))
        kube = Cluster(self.tmp)
        kube.start(self)
        env = self.env(kube, {"VENDOR": vendor.host, "VENDOR_CREDS": vendor.creds(),
                              "CUSTOMER": customer.host, "CUSTOMER_CREDS": customer.creds(),
                              "ADVISORIES": advisories, "INSECURE": "true"})
        controller = None
        outputs = {}
        for tag, text in guide_blocks():
            if tag not in KUBECTL_ONLY:
                continue
            if tag == "vendor" and controller is None:
                controller = self.start_controller(kube)
            outputs.setdefault(tag, []).append(self.run_block(tag, text, env))
            if tag == "kustomize":
                # what a cluster gives the pods and the test has to provide: the webhook
                # Service routed to this machine and the ServiceAccount's token
                kube.install()
        # what the guide promised: the lab flag on the Deployment, the delivered and signed
        # image, the Pod admitted by digest, the one by tag denied, the signature verified
        dep = json.loads(kube.kubectl("get", "deployment", "-n", "sealift-system",
                                      "sealift-controller", "-o", "json").stdout)
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertIn("--insecure-registry=127.0.0.1", args)
        imd = json.loads(kube.kubectl("get", "imagedelivery", "-n", "vendor-acme", "acme-app",
                                      "-o", "json").stdout)
        digest = imd["status"]["images"][0]["digest"]
        self.assertEqual(reglib.sha256_digest(reglib.inspect_raw(
            f"{customer.host}/mirror/app:1.0", customer.creds())), digest)
        kube.kubectl("get", "pod", "-n", "shop", "app")
        customer_out = "".join(outputs["customer"])
        # denied by the generated ValidatingAdmissionPolicy, or by the webhook while the API
        # server is still loading that policy (both say why)
        self.assertIn("must be pinned by digest", customer_out)
        self.assertIn("denied", customer_out)
        self.assertIn(f"{digest}: valid signature", customer_out)
        self.assertIn("sealift-controller", "".join(outputs["kustomize"]))

    def start_controller(self, kube):
        """The controller as the Deployment runs it: its ServiceAccount, the webhook certificate
        from the Secret (as the kubelet mounts it), the API server's client CA."""
        certs = os.path.join(self.tmp, "tls")
        os.makedirs(certs)
        secret = json.loads(kube.kubectl("get", "secret", "-n", "sealift-system",
                                         "sealift-webhook-tls", "-o", "json").stdout)
        for k, v in secret["data"].items():
            with open(os.path.join(certs, k), "wb") as f:
                f.write(base64.b64decode(v))
        ctl = Controller(self, kube, extra_args=[
            "--webhook-addr", f"127.0.0.1:{kube.webhook_port}", "--webhook-cert-dir", certs,
            "--webhook-service-port", str(kube.webhook_port),
            "--webhook-client-ca", kube.ca_path,
            "--webhook-client-name", "kube-apiserver-webhook-client"])
        ctl.wait_ready(timeout=60)
        return ctl

    def test_guide_with_helm(self):
        kube = Cluster(self.tmp, name="helm-cluster")
        kube.start(self)
        env = self.env(kube)
        for tag, text in guide_blocks():
            if tag in HELM_ONLY:
                self.run_block(tag, text, env)
        dep = json.loads(kube.kubectl("get", "deployment", "-n", "sealift-system",
                                      "sealift-controller", "-o", "json").stdout)
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        self.assertRegex(image, r"^registry\.example/sealift@sha256:0d9b6c3f")  # the upgrade's
        kube.kubectl("get", "secret", "-n", "sealift-system", "sealift-webhook-tls")
        kube.kubectl("get", "crd", "imagedeliveries.sealift.dev")


if __name__ == "__main__":
    unittest.main(verbosity=2)
