"""sealift on a real kube-apiserver + etcd (hack/cluster.sh): what only a real API server can
show. The install (`kubectl apply -k crds/`) is accepted as is; `kubectl explain` prints the
field docs; cross-field rules are CEL rules in the CRDs, rejected by the API server with the field
named; the python client (python3-kubernetes) and `kubectl wait` work on the kinds; and a
DeployPolicy's generated ValidatingAdmissionPolicy is enforced by the API server itself on every
workload kind, for every rule, with the policy's message (server-side dry run: admission runs in
full, nothing is stored)."""
import json
import unittest

import procs
from controller import Controller
from kube import Cluster

DIGEST = "sha256:" + "ab" * 32
GOOD = f"registry.customer.example/mirror/app@{DIGEST}"

POLICY = """apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {name: strict}
spec:
  namespaceSelector: {matchLabels: {sealift.dev/enforce: "true"}}
  enforcement: Deny
  rules:
    allowedRegistries: ["registry.customer.example/mirror/"]
    requireDigest: true
    forbidPrivileged: true
    forbidHostNamespaces: true
    forbidHostPath: true
    requireRunAsNonRoot: true
    allowedCapabilities: [NET_BIND_SERVICE]
  outputs: [ValidatingAdmissionPolicy]
"""


def pod_spec(image=GOOD, privileged=False, host_network=False, host_path=False,
             non_root=True, caps=()):
    container = {"name": "app", "image": image}
    sc = {}
    if privileged:
        sc["privileged"] = True
    if caps:
        sc["capabilities"] = {"add": list(caps)}
    if sc:
        container["securityContext"] = sc
    spec = {"containers": [container]}
    if non_root:
        spec["securityContext"] = {"runAsNonRoot": True}
    if host_network:
        spec["hostNetwork"] = True
    if host_path:
        spec["volumes"] = [{"name": "h", "hostPath": {"path": "/etc"}}]
        container["volumeMounts"] = [{"name": "h", "mountPath": "/h"}]
    return spec


def workload(kind, name, spec):
    """A workload of the given kind whose pods run spec."""
    meta = {"name": name, "namespace": "shop"}
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": spec}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        body = {"selector": {"matchLabels": labels}, "template": template}
        if kind == "StatefulSet":
            body["serviceName"] = name
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": body}
    job_template = {"metadata": {"labels": labels},
                    "spec": dict(spec, restartPolicy="Never")}
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                "spec": {"template": job_template}}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
            "spec": {"schedule": "0 * * * *",
                     "jobTemplate": {"spec": {"template": job_template}}}}


KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
# rule name in the denial message -> pod spec that breaks only that rule
VIOLATIONS = {
    "allowedRegistries": dict(image=f"registry.evil.example/app@{DIGEST}"),
    "requireDigest": dict(image="registry.customer.example/mirror/app:1.0"),
    "forbidPrivileged": dict(privileged=True),
    "forbidHostNamespaces": dict(host_network=True),
    "forbidHostPath": dict(host_path=True),
    "requireRunAsNonRoot": dict(non_root=False),
    "allowedCapabilities": dict(caps=("SYS_ADMIN",)),
}


class RealApiTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()

    def k(self, *args, **kw):
        return self.kube.kubectl(*args, **kw)

    def test_install_explain_columns_and_cel_rules(self):
        names = self.k("api-resources", "--api-group=sealift.dev", "-o", "name").stdout.split()
        self.assertEqual(sorted(names), sorted([
            "deploypolicies.sealift.dev", "gitsources.sealift.dev",
            "imagedeliveries.sealift.dev", "scanpolicies.sealift.dev",
            "signingkeys.sealift.dev"]))
        # the API server publishes a new CRD's OpenAPI a moment after it is established
        out = procs.wait_for(lambda: self.k("explain", "imagedelivery.spec", check=False).stdout,
                             timeout=60, what="kubectl explain imagedelivery.spec")
        self.assertIn("tagPattern", out)
        self.assertIn("POSIX extended regular expression", self.k(
            "explain", "imagedelivery.spec.source.tagPattern").stdout)
        # exactly one of tags / tagPattern / digest: rejected at apply time, field named
        cp = self.k("apply", "-f", "-", check=False, input="""
apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {name: both, namespace: default}
spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0"], tagPattern: "^1"}
  targets: [{image: registry.customer.example/mirror/app}]
""")
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("spec.source", cp.stderr)
        self.assertIn("set exactly one of tags, tagPattern or digest", cp.stderr)
        cp = self.k("apply", "-f", "-", check=False, input="""
apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {name: tagonly, namespace: default}
spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0"]}
  targetTag: "1.0"
  targets: [{image: registry.customer.example/mirror/app}]
""")
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("spec.targetTag", cp.stderr)
        cp = self.k("apply", "-f", "-", check=False, input="""
apiVersion: sealift.dev/v1beta1
kind: GitSource
metadata: {name: escape, namespace: default}
spec: {url: "https://git.example/x.git", path: "clusters/../../etc"}
""")
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("spec.path", cp.stderr)
        cp = self.k("apply", "-f", "-", check=False, input="""
apiVersion: sealift.dev/v1beta1
kind: ScanPolicy
metadata: {name: twodb, namespace: default}
spec: {database: {image: "r.example/db:1", path: /var/lib/db}}
""")
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("spec.database", cp.stderr)
        cp = self.k("apply", "-f", "-", check=False, input="""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: nosecret, namespace: default}
spec: {mode: Generate}
""")
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("spec.secretRef", cp.stderr)
        # a valid object goes through, and shows in the category and the printer columns
        self.k("apply", "-f", "-", input="""
apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {name: ok, namespace: default}
spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0"]}
  targets: [{image: registry.customer.example/mirror/app}]
  suspend: true
""")
        header = self.k("get", "sealift", "-A").stdout.splitlines()[0].split()
        self.assertEqual(header[:4], ["NAMESPACE", "NAME", "SOURCE", "DELIVERED"])
        self.assertIn("imd/ok", self.k("get", "imd", "-o", "name", "-n", "default")
                      .stdout.replace("imagedelivery.sealift.dev", "imd"))

    def test_python_client_and_kubectl_wait(self):
        ctl = Controller(self, self.kube)
        ctl.wait_ready()
        from kubernetes import client
        api = client.CustomObjectsApi(self.kube.api_client())
        body = {"apiVersion": "sealift.dev/v1beta1", "kind": "SigningKey",
                "metadata": {"name": "py", "namespace": "default"},
                "spec": {"mode": "Generate", "secretRef": {"name": "py-key"}}}
        api.create_namespaced_custom_object("sealift.dev", "v1beta1", "default", "signingkeys",
                                            body)
        self.k("wait", "--for=condition=Ready", "sigkey/py", "-n", "default", "--timeout=60s")
        got = api.get_namespaced_custom_object("sealift.dev", "v1beta1", "default",
                                               "signingkeys", "py")
        self.assertTrue(got["status"]["fingerprint"].startswith("sha256:"))
        self.assertEqual(got["status"]["observedGeneration"], got["metadata"]["generation"])
        items = api.list_cluster_custom_object("sealift.dev", "v1beta1", "signingkeys")["items"]
        self.assertEqual([i["metadata"]["name"] for i in items], ["py"])
        # the private key Secret exists, was created by the controller's ServiceAccount, and
        # the status carries no private key
        secret = client.CoreV1Api(self.kube.api_client()).read_namespaced_secret("py-key",
                                                                                 "default")
        self.assertIn("cosign.key", secret.data)
        self.assertNotIn("PRIVATE", json.dumps(got["status"]))

    def test_admission_policy_enforced_by_the_api_server(self):
        ctl = Controller(self, self.kube)
        ctl.wait_ready()
        self.k("create", "namespace", "shop")
        self.k("label", "namespace", "shop", "sealift.dev/enforce=true")
        self.k("create", "namespace", "lab")
        self.k("apply", "-f", "-", input=POLICY)
        self.k("wait", "--for=condition=Ready", "deploypolicy/strict", "--timeout=60s")
        binding = json.loads(self.k("get", "validatingadmissionpolicybinding", "sealift-strict",
                                    "-o", "json").stdout)
        self.assertIn("Deny", binding["spec"]["validationActions"])

        def dry_run(obj):
            return self.k("apply", "--dry-run=server", "-f", "-", check=False,
                          input=json.dumps(obj))

        # the API server may take a moment to load a new policy into its admission chain
        procs.wait_for(lambda: dry_run(workload("Pod", "probe", pod_spec(privileged=True)))
                       .returncode != 0, timeout=30, what="the policy to be enforced")
        for kind in KINDS:
            cp = dry_run(workload(kind, "good", pod_spec()))
            self.assertEqual(cp.returncode, 0, f"{kind} good: {cp.stderr}")
            for rule, bad in VIOLATIONS.items():
                cp = dry_run(workload(kind, "bad", pod_spec(**bad)))
                self.assertNotEqual(cp.returncode, 0, f"{kind} breaking {rule} was admitted")
                self.assertIn("ValidatingAdmissionPolicy 'sealift-strict'", cp.stderr)
                self.assertIn(f"sealift DeployPolicy strict: {rule}", cp.stderr,
                              f"{kind} breaking {rule}")
        # a namespace the policy does not select is not checked
        lab = workload("Pod", "lab", pod_spec(privileged=True))
        lab["metadata"]["namespace"] = "lab"
        self.assertEqual(dry_run(lab).returncode, 0)
        # Warn: admitted, with the message as a warning
        self.k("patch", "deploypolicy", "strict", "--type=merge", "-p",
               '{"spec":{"enforcement":"Warn"}}')
        procs.wait_for(lambda: dry_run(workload("Pod", "warn", pod_spec(privileged=True)))
                       .returncode == 0, timeout=30, what="Warn to admit")
        cp = dry_run(workload("Pod", "warn", pod_spec(privileged=True)))
        self.assertIn("forbidPrivileged", cp.stderr)
        self.assertIn("Warning", cp.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
