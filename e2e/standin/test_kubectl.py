"""The stand-in API server driven by the real kubectl: apply (also -k), get with printer
columns, watch, describe, patch, wait, delete, discovery, and kube-apiserver's error texts."""
import json
import os
import signal
import subprocess
import time
import unittest

import procs
from kube import StandIn
from standin_fixtures import GROUP, install_crd, widget, write


class KubectlTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.api = StandIn(self.tmp).start(self)
        install_crd(self.api, self.tmp)

    def test_apply_get_columns_and_wide(self):
        path = write(os.path.join(self.tmp, "w.yaml"), widget("w1"),
                     widget("w2", image="registry.example/acme/other", enforcement="Audit"))
        out = self.api.kubectl("apply", "-f", path).stdout
        self.assertIn(f"widget.{GROUP}/w1 created", out)
        self.assertIn(f"widget.{GROUP}/w2 created", out)
        again = self.api.kubectl("apply", "-f", path).stdout
        self.assertIn(f"widget.{GROUP}/w1 unchanged", again)
        lines = self.api.kubectl("get", "widgets").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "IMAGE", "READY", "AGE"])
        self.assertEqual(lines[1].split()[:2], ["w1", "registry.example/acme/app"])
        wide = self.api.kubectl("get", "wd", "-o", "wide").stdout.splitlines()
        self.assertEqual(wide[0].split(), ["NAME", "IMAGE", "ENFORCEMENT", "READY", "AGE"])
        self.assertEqual(wide[2].split()[:3], ["w2", "registry.example/acme/other", "Audit"])
        # defaults from the schema were applied
        obj = json.loads(self.api.kubectl("get", "widget", "w1", "-o", "json").stdout)
        self.assertEqual(obj["spec"]["enforcement"], "Deny")
        self.assertEqual(obj["spec"]["interval"], "10m")
        self.assertEqual(obj["metadata"]["generation"], 1)
        # the category lists it
        cat = self.api.kubectl("get", "testcat").stdout
        self.assertIn("w2", cat)
        # all namespaces adds the NAMESPACE column
        alln = self.api.kubectl("get", "wd", "-A").stdout.splitlines()
        self.assertEqual(alln[0].split()[0], "NAMESPACE")

    def test_apply_kustomization(self):
        kdir = os.path.join(self.tmp, "kust")
        os.makedirs(kdir)
        write(os.path.join(kdir, "ns.yaml"), {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "team-a"}})
        write(os.path.join(kdir, "w.yaml"), widget("kw"))
        with open(os.path.join(kdir, "kustomization.yaml"), "w") as f:
            f.write("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                    "namespace: team-a\nresources:\n- ns.yaml\n- w.yaml\n"
                    "commonLabels:\n  app.kubernetes.io/part-of: demo\n")
        out = self.api.kubectl("apply", "-k", kdir).stdout
        self.assertIn("namespace/team-a created", out)
        self.assertIn(f"widget.{GROUP}/kw created", out)
        got = self.api.kubectl("get", "wd", "-n", "team-a", "-l",
                               "app.kubernetes.io/part-of=demo", "-o", "name").stdout
        self.assertEqual(got.strip(), f"widget.{GROUP}/kw")
        none = self.api.kubectl("get", "wd", "-n", "team-a", "-l",
                                "app.kubernetes.io/part-of notin (demo)", "-o", "name").stdout
        self.assertEqual(none.strip(), "")

    def test_schema_errors_have_apiserver_texts(self):
        bad = widget("bad", enforcement="Sometimes")
        del bad["spec"]["source"]["image"]
        cp = self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "bad.yaml"), bad),
                              check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn('The Widget "bad" is invalid', cp.stderr)
        self.assertIn("spec.source.image: Required value", cp.stderr)
        self.assertIn('spec.enforcement: Unsupported value: "Sometimes": supported values: '
                      '"Deny", "Warn", "Audit"', cp.stderr)
        typed = widget("typed", replicas="three")
        cp = self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "t.yaml"), typed),
                              check=False)
        self.assertIn('spec.replicas: Invalid value: "string": spec.replicas in body must be '
                      'of type integer: "string"', cp.stderr)
        big = widget("big", replicas=11)
        cp = self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "b.yaml"), big),
                              check=False)
        self.assertIn("spec.replicas: Invalid value: 11: spec.replicas in body should be less "
                      "than or equal to 10", cp.stderr)
        unknown = widget("unk")
        unknown["spec"]["colour"] = "blue"
        cp = self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "u.yaml"), unknown),
                              check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn('strict decoding error: unknown field "spec.colour"', cp.stderr)
        # with validation off, the unknown field is pruned and the object admitted
        self.api.kubectl("apply", "--validate=false", "-f",
                         os.path.join(self.tmp, "u.yaml"))
        obj = json.loads(self.api.kubectl("get", "wd", "unk", "-o", "json").stdout)
        self.assertNotIn("colour", obj["spec"])
        none = self.api.kubectl("get", "wd", "bad", check=False)
        self.assertIn(f'widgets.{GROUP} "bad" not found', none.stderr)

    def test_create_existing_is_already_exists(self):
        path = write(os.path.join(self.tmp, "w.yaml"), widget("dup"))
        self.api.kubectl("create", "-f", path)
        cp = self.api.kubectl("create", "-f", path, check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn(f'widgets.{GROUP} "dup" already exists', cp.stderr)

    def test_patch_status_wait_and_generation(self):
        self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "w.yaml"), widget("p")))
        self.api.kubectl("patch", "wd", "p", "--type", "merge", "-p",
                         '{"spec":{"replicas":2}}')
        self.api.kubectl("patch", "wd", "p", "--type", "json", "-p",
                         '[{"op":"replace","path":"/spec/enforcement","value":"Warn"}]')
        obj = json.loads(self.api.kubectl("get", "wd", "p", "-o", "json").stdout)
        self.assertEqual(obj["spec"]["replicas"], 2)
        self.assertEqual(obj["spec"]["enforcement"], "Warn")
        self.assertEqual(obj["metadata"]["generation"], 3)
        # strategic merge patch is refused on custom resources
        cp = self.api.kubectl("patch", "wd", "p", "-p", '{"spec":{"replicas":3}}', check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("application/strategic-merge-patch+json is not supported", cp.stderr)
        # status through the main endpoint is ignored; /status takes it without a generation bump
        self.api.kubectl("patch", "wd", "p", "--type", "merge", "-p",
                         '{"status":{"observedGeneration":9}}')
        obj = json.loads(self.api.kubectl("get", "wd", "p", "-o", "json").stdout)
        self.assertNotIn("status", obj)
        waiter = subprocess.Popen(["kubectl", "--kubeconfig", self.api.kubeconfig,
                                   "--cache-dir", self.api.cache_dir, "wait",
                                   "--for=condition=Ready", "wd/p", "--timeout=60s"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        self.assertIsNone(waiter.poll(), "kubectl wait returned before the condition was set")
        self.api.kubectl("patch", "wd", "p", "--subresource", "status", "--type", "merge", "-p",
                         '{"status":{"observedGeneration":3,"conditions":[{"type":"Ready",'
                         '"status":"True","reason":"Synced","message":"ok"}]}}')
        out, err = waiter.communicate(timeout=60)
        self.assertEqual(waiter.returncode, 0, err)
        self.assertIn("condition met", out)
        obj = json.loads(self.api.kubectl("get", "wd", "p", "-o", "json").stdout)
        self.assertEqual(obj["metadata"]["generation"], 3)
        self.assertEqual(obj["status"]["observedGeneration"], 3)
        line = self.api.kubectl("get", "wd", "p", "--no-headers").stdout.split()
        self.assertEqual(line[2], "True")

    def test_get_watch_describe_delete(self):
        self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "w.yaml"), widget("w")))
        out_path = os.path.join(self.tmp, "watch.out")
        with open(out_path, "w") as out:
            watcher = subprocess.Popen(["kubectl", "--kubeconfig", self.api.kubeconfig,
                                        "--cache-dir", self.api.cache_dir, "get", "wd", "-w"],
                                       stdout=out, stderr=subprocess.STDOUT)
        try:
            procs.wait_for(lambda: "w " in open(out_path).read(), 30, what="initial row")
            self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "w2.yaml"),
                                                  widget("w-second")))
            procs.wait_for(lambda: "w-second" in open(out_path).read(), 30,
                           what="watched ADDED row")
        finally:
            watcher.send_signal(signal.SIGTERM)
            watcher.wait(10)
        lines = open(out_path).read().splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "IMAGE", "READY", "AGE"])
        self.assertEqual(sum(1 for ln in lines if ln.startswith("NAME")), 1)
        desc = self.api.kubectl("describe", "wd", "w").stdout
        self.assertIn("Name:         w", desc)
        self.assertIn("Image:  registry.example/acme/app", desc)
        out = self.api.kubectl("delete", "wd", "w").stdout
        self.assertIn(f'widget.{GROUP} "w" deleted', out)
        cp = self.api.kubectl("get", "wd", "w", check=False)
        self.assertIn("NotFound", cp.stderr)

    def test_finalizer_keeps_object_until_removed(self):
        w = widget("fin")
        w["metadata"]["finalizers"] = ["test.sealift.dev/cleanup"]
        self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "f.yaml"), w))
        self.api.kubectl("delete", "wd", "fin", "--wait=false")
        obj = json.loads(self.api.kubectl("get", "wd", "fin", "-o", "json").stdout)
        self.assertIn("deletionTimestamp", obj["metadata"])
        self.api.kubectl("patch", "wd", "fin", "--type", "json", "-p",
                         '[{"op":"remove","path":"/metadata/finalizers"}]')
        cp = self.api.kubectl("get", "wd", "fin", check=False)
        self.assertIn("NotFound", cp.stderr)

    def test_builtin_kinds_and_discovery(self):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1"},
              "data": {"a": "1", "b": "2"}}
        self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "cm.yaml"), cm))
        cm["data"] = {"a": "1"}
        self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "cm.yaml"), cm))
        got = json.loads(self.api.kubectl("get", "cm", "cm1", "-o", "json").stdout)
        self.assertEqual(got["data"], {"a": "1"})
        lines = self.api.kubectl("get", "configmaps").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "DATA", "AGE"])
        self.assertEqual(lines[1].split()[:2], ["cm1", "1"])
        self.api.kubectl("create", "secret", "generic", "s1", "--from-literal=k=v")
        sec = json.loads(self.api.kubectl("get", "secret", "s1", "-o", "json").stdout)
        self.assertEqual(sec["data"], {"k": "dg=="})
        self.assertEqual(sec["type"], "Opaque")
        self.api.kubectl("create", "namespace", "made-by-create")
        self.assertIn("made-by-create", self.api.kubectl("get", "ns").stdout)
        # like kube-controller-manager, every namespace gets these
        self.api.kubectl("get", "-n", "made-by-create", "serviceaccount/default",
                         "configmap/kube-root-ca.crt")
        # kubectl create sends protobuf bodies for workloads
        self.api.kubectl("create", "deployment", "web", "--image=registry.example/web:1",
                         "--replicas=2", "--port=8080")
        dep = json.loads(self.api.kubectl("get", "deploy", "web", "-o", "json").stdout)
        self.assertEqual(dep["spec"]["replicas"], 2)
        self.assertEqual(dep["spec"]["selector"], {"matchLabels": {"app": "web"}})
        c = dep["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual((c["image"], c["ports"]), ("registry.example/web:1",
                                                    [{"containerPort": 8080}]))
        self.api.kubectl("create", "job", "once", "--image=busybox", "--", "echo", "hi")
        job = json.loads(self.api.kubectl("get", "job", "once", "-o", "json").stdout)
        self.assertEqual(job["spec"]["template"]["spec"]["containers"][0]["command"],
                         ["echo", "hi"])
        res = self.api.kubectl("api-resources").stdout
        self.assertRegex(res, r"widgets\s+wd\s+test.sealift.dev/v1\s+true\s+Widget")
        self.assertRegex(res, r"leases\s+coordination.k8s.io/v1\s+true\s+Lease")
        cp = self.api.kubectl("get", "wd", "-n", "missing-ns", "x", check=False)
        self.assertIn('namespaces "missing-ns" not found', cp.stderr)
        cp = self.api.kubectl("apply", "-n", "missing-ns", "-f",
                              write(os.path.join(self.tmp, "w.yaml"), widget("x")), check=False)
        self.assertIn('namespaces "missing-ns" not found', cp.stderr)
        ex = self.api.kubectl("explain", "widgets.spec").stdout
        self.assertIn("KIND:       Widget", ex)
        self.assertRegex(ex, r"source\s+<Object> -required-")
        self.assertIn("enum: Deny, Warn, Audit", ex)
        # strategic merge patch on a built-in kind merges containers by name
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "app", "image": "a:1"},
                                       {"name": "side", "image": "s:1"}]}}
        self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "pod.yaml"), pod))
        self.api.kubectl("patch", "pod", "p", "-p",
                         '{"spec":{"containers":[{"name":"app","image":"a:2"}]}}')
        got = json.loads(self.api.kubectl("get", "pod", "p", "-o", "json").stdout)
        self.assertEqual([(c["name"], c["image"]) for c in got["spec"]["containers"]],
                         [("app", "a:2"), ("side", "s:1")])

    def test_server_side_apply(self):
        path = write(os.path.join(self.tmp, "w.yaml"), widget("ssa", replicas=2))
        self.api.kubectl("apply", "--server-side", "-f", path)
        first = json.loads(self.api.kubectl("get", "wd", "ssa", "-o", "json").stdout)
        out = self.api.kubectl("apply", "--server-side", "-f", path).stdout
        self.assertIn("serverside-applied", out)
        again = json.loads(self.api.kubectl("get", "wd", "ssa", "-o", "json").stdout)
        self.assertEqual(again["metadata"]["resourceVersion"],
                         first["metadata"]["resourceVersion"], "a no-op apply wrote")
        # a field the manager stops applying is removed when nobody else owns it
        self.api.kubectl("apply", "--server-side", "-f",
                         write(os.path.join(self.tmp, "w1.yaml"),
                               widget("ssa", replicas=2, interval="5m")))
        self.api.kubectl("apply", "--server-side", "-f", path)
        obj = json.loads(self.api.kubectl("get", "wd", "ssa", "-o", "json").stdout)
        self.assertEqual(obj["spec"]["interval"], "10m")  # back to the schema default
        other = widget("ssa", replicas=4)
        opath = write(os.path.join(self.tmp, "o.yaml"), other)
        cp = self.api.kubectl("apply", "--server-side", "--field-manager", "other", "-f", opath,
                              check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn('conflict with "kubectl"', cp.stderr)
        self.assertIn(".spec.replicas", cp.stderr)
        self.api.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager",
                         "other", "-f", opath)
        obj = json.loads(self.api.kubectl("get", "wd", "ssa", "-o", "json").stdout)
        self.assertEqual(obj["spec"]["replicas"], 4)
        # kubectl's manager drops replicas from its config: other still owns it, so it stays
        self.api.kubectl("apply", "--server-side", "-f",
                         write(os.path.join(self.tmp, "w3.yaml"), widget("ssa")))
        obj = json.loads(self.api.kubectl("get", "wd", "ssa", "-o", "json").stdout)
        self.assertEqual(obj["spec"]["replicas"], 4)


if __name__ == "__main__":
    unittest.main()
