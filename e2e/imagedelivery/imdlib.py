"""Shared fixture of the ImageDelivery end-to-end tests: a real Kubernetes API server (hack/cluster.sh) with sealift's
CRDs applied by the real kubectl, two docker-registry processes as two accounts (vendor and
customer, each with its own htpasswd), dockerconfigjson Secrets made with
`kubectl create secret docker-registry`, and `sealift controller` running against it all.
Results are checked with skopeo and plain HTTP, not with sealift code."""
import base64
import json
import os
import re
import subprocess
import urllib.request

import procs
import registry as reg
from controller import Controller
from kube import Cluster

NS = "vendor-acme"
KB = 1024
VENDOR = ("vendor", "vendor-pw")
CUSTOMER = ("customer", "customer-pw")
# the version each kind is read in (its storage version: no conversion webhook needed)
REQ_RE = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/1\.1"')


class ImdTestCase(procs.TempDirTestCase):
    """Starts a real API server, two registries and the controller for every test."""

    controller_env = None
    controller_args = ()
    controller_lab = True  # False: the controller's secure defaults (no --insecure-registry...)

    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()
        self.kube.kubectl("create", "namespace", NS)
        self.vendor = reg.Registry(self, "vendor", users={VENDOR[0]: VENDOR[1]})
        self.customer = reg.Registry(self, "customer", users={CUSTOMER[0]: CUSTOMER[1]})
        self.docker_secret("vendor-pull", self.vendor.host, *VENDOR)
        self.docker_secret("customer-push", self.customer.host, *CUSTOMER)
        self.start_controller()

    def start_controller(self):
        self.ctl = Controller(self, self.kube, env=self.controller_env,
                              extra_args=self.controller_args, lab=self.controller_lab)
        self.ctl.wait_ready()

    # ---- kube ----

    def docker_secret(self, name, host, user, password):
        self.kube.kubectl("create", "secret", "docker-registry", name, "-n", NS,
                          f"--docker-server={host}", f"--docker-username={user}",
                          f"--docker-password={password}")

    def apply(self, text):
        return self.kube.kubectl("apply", "-f", "-", input=text)

    def delivery(self, name, source_image, targets, extra_source="", extra_spec="",
                 interval="1m", source_secret="vendor-pull"):
        """Applies an ImageDelivery; targets is a list of (image, secret name)."""
        tlines = "".join(
            f"  - image: {img}\n    insecure: true\n"
            + (f"    secretRef: {{name: {sec}}}\n" if sec else "")
            for img, sec in targets)
        text = (
            "apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
            f"metadata: {{name: {name}, namespace: {NS}}}\n"
            "spec:\n  source:\n"
            f"    image: {source_image}\n    insecure: true\n"
            f"    secretRef: {{name: {source_secret}}}\n"
            + extra_source + "  targets:\n" + tlines + extra_spec
            + f"  interval: {interval}\n")
        self.apply(text)

    def get(self, name, kind="imagedeliveries"):
        version = "v1beta1"  # every kind is stored as v1beta1
        status, _, body = self.kube.request(
            "GET", f"/apis/sealift.dev/{version}/namespaces/{NS}/{kind}/{name}")
        if status != 200:
            raise AssertionError(f"GET {kind}/{name}: {status} {body}")
        return body

    @staticmethod
    def condition(obj, ctype):
        for c in obj.get("status", {}).get("conditions", []):
            if c.get("type") == ctype:
                return c
        return None

    def wait_for_status(self, name, pred, timeout=60, what="status"):
        last = {}

        def check():
            obj = self.get(name)
            last["obj"] = obj
            return pred(obj)
        try:
            procs.wait_for(check, timeout=timeout, interval=0.2, what=f"{name}: {what}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast status: "
                                 f"{json.dumps(last.get('obj', {}).get('status'), indent=1)}")
        return last["obj"]

    def wait_ready(self, name, timeout=60):
        def ready(obj):
            c = self.condition(obj, "Ready")
            gen = obj["metadata"].get("generation")
            return (c and c["status"] == "True"
                    and obj["status"].get("observedGeneration") == gen)
        return self.wait_for_status(name, ready, timeout, "Ready=True")

    def wait_reason(self, name, reason, timeout=60, ctype="Ready"):
        def has(obj):
            c = self.condition(obj, ctype)
            return c and c.get("reason") == reason
        return self.wait_for_status(name, has, timeout, f"{ctype} reason {reason}")

    # ---- registries ----

    def seed_image(self, tag, seed, layers=(40 * KB, 20 * KB), repo="acme/app", arch="amd64"):
        layout = reg.Layout(os.path.join(self.tmp, f"layout-{repo.replace('/', '-')}-{seed}"))
        desc = layout.image(list(layers), seed=seed, arch=arch)
        layout.tag(desc, tag)
        reg.push(layout.path, tag, f"{self.vendor.host}/{repo}:{tag}", self.vendor.creds())
        return desc["digest"]

    def seed_multiarch(self, tag, repo="acme/multi"):
        layout = reg.Layout(os.path.join(self.tmp, "layout-multi"))
        amd = layout.image([30 * KB, 10 * KB], arch="amd64", seed=11)
        arm = layout.image([31 * KB, 11 * KB], arch="arm64", seed=12)
        idx = layout.index([amd, arm])
        layout.tag(idx, tag)
        reg.push(layout.path, tag, f"{self.vendor.host}/{repo}:{tag}", self.vendor.creds(),
                 all_platforms=True)
        return idx["digest"], amd["digest"], arm["digest"]

    @staticmethod
    def digest_at(ref, creds):
        """sha256 of the manifest bytes skopeo reads at ref (independent of sealift)."""
        return reg.sha256_digest(reg.inspect_raw(ref, creds))

    @staticmethod
    def exists(ref, creds):
        args = [reg.SKOPEO, "inspect", "--raw", "--tls-verify=false", "--creds", creds,
                f"docker://{ref}"]
        return subprocess.run(args, capture_output=True, timeout=60).returncode == 0

    @staticmethod
    def requests(registry):
        """(method, path) of every request in the registry's access log so far."""
        return REQ_RE.findall(registry.log_text())


class Http:
    """A minimal registry client with Basic auth (urllib), independent of sealift."""

    def __init__(self, host, user, password):
        self.base = f"http://{host}"
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def get(self, path, accept=None):
        r = urllib.request.Request(self.base + path)
        r.add_header("Authorization", self.auth)
        if accept:
            r.add_header("Accept", accept)
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.read()

    def manifest(self, repo, ref):
        return json.loads(self.get(f"/v2/{repo}/manifests/{ref}", accept=reg.OCI_MANIFEST))

    def blob(self, repo, digest):
        return self.get(f"/v2/{repo}/blobs/{digest}")
