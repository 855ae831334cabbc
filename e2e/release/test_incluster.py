"""The controller from sealift's own image: hack/image.sh's root filesystem, unpacked from the OCI
layout, runs `sealift controller` under chroot as the image's user (65532) with the in-cluster
configuration (the ServiceAccount's token, CA and namespace where Kubernetes mounts them,
KUBERNETES_SERVICE_HOST/PORT) against the real API server, and delivers an image between two
real docker-registry accounts: the image holds everything the controller needs at run time."""
import json
import os
import shutil
import sys
import unittest

import procs
from controller import Controller

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "imagedelivery"))
from imdlib import CUSTOMER, ImdTestCase  # noqa: E402

SA_DIR = "var/run/secrets/kubernetes.io/serviceaccount"


def unpack_image(tmp):
    """hack/image.sh into tmp/layout; returns the unpacked root filesystem's path."""
    layout = os.path.join(tmp, "layout")
    procs.run(["bash", os.path.join(procs.SRC, "hack", "image.sh"), layout], timeout=900)
    blob = lambda d: os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1])  # noqa: E731
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)
    with open(blob(top["manifests"][0]["digest"])) as f:
        index = json.load(f)
    with open(blob(index["manifests"][0]["digest"])) as f:
        manifest = json.load(f)
    rootfs = os.path.join(tmp, "rootfs")
    os.makedirs(rootfs)
    for layer in manifest["layers"]:
        procs.run(["tar", "-xzf", blob(layer["digest"]), "-C", rootfs])
    return rootfs


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("chroot"),
                     "running the image's root filesystem needs chroot (root)")
class InClusterTest(ImdTestCase):
    def start_controller(self):
        rootfs = self.rootfs = unpack_image(self.tmp)
        sa = os.path.join(rootfs, SA_DIR)
        os.makedirs(sa)
        for f in ("token", "ca.crt", "namespace"):
            shutil.copy(os.path.join(self.kube.serviceaccount_dir, f), os.path.join(sa, f))
            os.chmod(os.path.join(sa, f), 0o644)
        # the image's /tmp and state directory, as the emptyDir volumes of crds/deployment.yaml
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": str(self.kube.port),
               "POD_NAMESPACE": "sealift-system", "POD_NAME": "sealift-controller-0",
               "TMPDIR": "/tmp"}
        self.ctl = Controller(self, self.kube, env=env, command=[
            shutil.which("chroot"), "--userspec=65532:65532", rootfs,
            "/usr/bin/sealift", "controller"])
        self.ctl.wait_ready(timeout=60)

    def test_delivery_from_the_image(self):
        digest = self.seed_image("1.0", seed=1)
        self.delivery("app", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['1.0']\n")
        obj = self.wait_ready("app", timeout=120)
        self.assertEqual(obj["status"]["summary"]["delivered"], 1)
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.0",
                                        ":".join(CUSTOMER)), digest)
        # it ran as the image's user, from the image's files (chroot execs it in place)
        pid = self.ctl.proc.pid
        with open(f"/proc/{pid}/status") as f:
            uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
        self.assertEqual(uid, "65532")
        self.assertEqual(os.readlink(f"/proc/{pid}/root"), self.rootfs)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            self.assertNotIn(b"--kubeconfig", f.read())

if __name__ == "__main__":
    unittest.main(verbosity=2)
