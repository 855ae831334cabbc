"""unit.cli.migrate_stored: `sealift migrate --stored` against a scripted API server on
127.0.0.1 (the real kube-apiserver run is e2e.kube.upgrade). What this adds: the paths a real
server does not take on demand. A write that conflicts is read again and retried with the new
resourceVersion; list pages are followed; an object deleted meanwhile is no error; an object
that cannot be written leaves its CRD's storedVersions alone (exit 3) while the other kinds
are migrated; a CRD that does not store v1beta1 yet stops everything before the first write
(exit 1). usage: test_migrate_stored.py SEALIFT"""
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import unittest

SEALIFT = sys.argv.pop(1) if len(sys.argv) > 1 else "sealift"
PLURALS = ["imagedeliveries", "scanpolicies", "signingkeys", "deploypolicies", "gitsources"]


def crd(plural, storage="v1beta1"):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.sealift.dev"},
            "spec": {"versions": [
                {"name": "v1alpha1", "served": True, "storage": storage == "v1alpha1"},
                {"name": "v1beta1", "served": storage == "v1beta1",
                 "storage": storage == "v1beta1"}]},
            "status": {"storedVersions": ["v1alpha1"]}}


def obj(name, rv, ns="team"):
    return {"apiVersion": "sealift.dev/v1beta1", "kind": "ImageDelivery",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
            "spec": {"source": {"image": "r.example/a"}}}


class Server:
    """Answers from self.script: {(method, path): [answers...]} (status, body), the last
    answer repeating; records every request as (method, path, body)."""

    def __init__(self, script):
        self.script = {k: list(v) for k, v in script.items()}
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                outer.requests.append((self.command, self.path, body))
                answers = outer.script.get((self.command, self.path))
                if not answers:
                    status, out = 404, {"kind": "Status", "code": 404, "reason": "NotFound",
                                        "message": f"{self.path} not found"}
                else:
                    status, out = answers.pop(0) if len(answers) > 1 else answers[0]
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_PATCH = answer

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, method, pattern):
        return sum(1 for m, p, _ in self.requests if m == method and re.search(pattern, p))


def crd_path(plural):
    return f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.sealift.dev"


def list_path(plural, cont=None):
    return f"/apis/sealift.dev/v1beta1/{plural}?limit=100" + (f"&continue={cont}" if cont else "")


def empty_list():
    return (200, {"kind": "List", "items": [], "metadata": {}})


class MigrateStoredTest(unittest.TestCase):
    def run_migrate(self, script):
        server = Server(script)
        self.addCleanup(server.close)
        tmp = tempfile.mkdtemp()
        kc = os.path.join(tmp, "kubeconfig")
        with open(kc, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{server.httpd.server_port}"}}}}]
users: [{{name: admin, user: {{token: admin-token}}}}]
contexts: [{{name: admin, context: {{cluster: c, user: admin}}}}]
current-context: admin
""")
        cp = subprocess.run([SEALIFT, "migrate", "--stored", "--kubeconfig", kc],
                            capture_output=True, text=True, timeout=120)
        return cp, server

    def base_script(self):
        script = {}
        for p in PLURALS:
            script[("GET", crd_path(p))] = [(200, crd(p))]
            script[("GET", list_path(p))] = [empty_list()]
            script[("PATCH", crd_path(p) + "/status")] = [(200, crd(p))]
        return script

    def test_conflict_paging_and_deleted_objects(self):
        script = self.base_script()
        base = "/apis/sealift.dev/v1beta1/namespaces/team/imagedeliveries"
        script[("GET", list_path("imagedeliveries"))] = [
            (200, {"items": [obj("a", "1"), obj("gone", "1")], "metadata": {"continue": "p2"}})]
        script[("GET", list_path("imagedeliveries", "p2"))] = [
            (200, {"items": [obj("b", "1")], "metadata": {}})]
        conflict = {"kind": "Status", "code": 409, "reason": "Conflict",
                    "message": "the object has been modified"}
        script[("PUT", f"{base}/a")] = [(409, conflict), (200, obj("a", "3"))]
        script[("GET", f"{base}/a")] = [(200, obj("a", "2"))]
        script[("PUT", f"{base}/b")] = [(200, obj("b", "2"))]
        cp, server = self.run_migrate(script)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("imagedeliveries.sealift.dev: 2 objects written back as v1beta1; "
                      "status.storedVersions: [v1beta1]", cp.stdout)
        self.assertIn("gitsources.sealift.dev: 0 objects written back as v1beta1; "
                      "status.storedVersions: [v1beta1]", cp.stdout)
        puts = [(p, json.loads(b)) for m, p, b in server.requests if m == "PUT"]
        # a: written with rv 1, conflict, read again, written with rv 2
        self.assertEqual([(p.rsplit("/", 1)[1], o["metadata"]["resourceVersion"])
                          for p, o in puts], [("a", "1"), ("a", "2"), ("gone", "1"), ("b", "1")])
        self.assertTrue(all(o["apiVersion"] == "sealift.dev/v1beta1" for _, o in puts))
        self.assertEqual(puts[0][1]["spec"], {"source": {"image": "r.example/a"}})
        patches = [(p, json.loads(b)) for m, p, b in server.requests if m == "PATCH"]
        self.assertEqual(patches, [(crd_path(p) + "/status",
                                    {"status": {"storedVersions": ["v1beta1"]}})
                                   for p in PLURALS])

    def test_a_failed_write_keeps_that_kinds_stored_versions(self):
        script = self.base_script()
        script[("GET", list_path("gitsources"))] = [
            (200, {"items": [dict(obj("repo", "5"), kind="GitSource")], "metadata": {}})]
        script[("PUT", "/apis/sealift.dev/v1beta1/namespaces/team/gitsources/repo")] = [
            (422, {"kind": "Status", "code": 422, "reason": "Invalid",
                   "message": "GitSource.sealift.dev \"repo\" is invalid: spec.url: Required"})]
        cp, server = self.run_migrate(script)
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn("GitSource team/repo: GitSource.sealift.dev \"repo\" is invalid", cp.stderr)
        self.assertIn("gitsources.sealift.dev: 0 objects written back as v1beta1; some failed, "
                      "storedVersions left as they were", cp.stdout)
        self.assertEqual(server.count("PATCH", r"/gitsources\.sealift\.dev/status$"), 0)
        self.assertEqual(server.count("PATCH", r"/imagedeliveries\.sealift\.dev/status$"), 1)

    def test_refuses_before_the_crds_store_v1beta1(self):
        script = self.base_script()
        script[("GET", crd_path("scanpolicies"))] = [(200, crd("scanpolicies", "v1alpha1"))]
        cp, server = self.run_migrate(script)
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("scanpolicies.sealift.dev: v1beta1 is not served and not the storage "
                      "version (storage version: v1alpha1); upgrade the CRDs first", cp.stderr)
        self.assertIn("nothing written", cp.stderr)
        self.assertEqual([m for m, _, _ in server.requests if m != "GET"], [])
        self.assertEqual(server.count("GET", r"^/apis/sealift\.dev/"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
