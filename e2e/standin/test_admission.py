"""Validating admission webhooks: a tiny HTTPS webhook in the test denies Pods with images
outside an allowed registry; kubectl shows kube-apiserver's denial text; failurePolicy Fail
refuses requests while the webhook is down and Ignore admits them; service references resolve
through --admission-service-host."""
import base64
import json
import os
import ssl
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import procs
from kube import StandIn
from standin_fixtures import write

ALLOWED = "registry.customer.example/"


def make_cert(tmp):
    ca_key, ca = os.path.join(tmp, "wh-ca.key"), os.path.join(tmp, "wh-ca.crt")
    key, csr, crt = (os.path.join(tmp, n) for n in ("wh.key", "wh.csr", "wh.crt"))
    ext = os.path.join(tmp, "wh.ext")
    procs.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
               "-subj", "/CN=test-webhook-ca"])
    procs.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=webhook"])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:policy-webhook.sealift-system.svc\n")
    procs.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
               "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext])
    with open(ca, "rb") as f:
        return base64.b64encode(f.read()).decode(), crt, key


class Webhook:
    """An HTTPS AdmissionReview server that denies images outside ALLOWED."""

    def __init__(self, crt, key):
        self.reviews = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.reviews.append(review)
                req = review["request"]
                spec = (req.get("object") or {}).get("spec") or {}
                images = [c.get("image", "") for c in spec.get("containers") or []]
                bad = [i for i in images if not i.startswith(ALLOWED)]
                resp = {"uid": req["uid"], "allowed": not bad}
                if bad:
                    resp["status"] = {"code": 403, "message": f"image {bad[0]} is not from an "
                                      f"allowed registry"}
                body = json.dumps({"apiVersion": "admission.k8s.io/v1",
                                   "kind": "AdmissionReview", "response": resp}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def pod(name, image):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def vwc(name, client_config, policy="Fail"):
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": name},
            "webhooks": [{"name": name, "clientConfig": client_config,
                          "rules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                     "operations": ["CREATE", "UPDATE"],
                                     "resources": ["pods"], "scope": "Namespaced"}],
                          "failurePolicy": policy, "sideEffects": "None",
                          "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
                          "namespaceSelector": {"matchExpressions": [
                              {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                               "values": ["kube-system"]}]}}]}


class AdmissionTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.ca_b64, crt, key = make_cert(self.tmp)
        self.hook = Webhook(crt, key)
        self.addCleanup(self.hook.stop)
        self.api = StandIn(self.tmp, extra_args=[
            "--admission-service-host", f"127.0.0.1:{self.hook.port}"]).start(self)

    def apply(self, name, *objs, check=False):
        return self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, name), *objs),
                                check=check)

    def test_url_webhook_denies_and_failure_policies(self):
        cfg = vwc("images.test.sealift.dev",
                  {"url": f"https://127.0.0.1:{self.hook.port}/validate",
                   "caBundle": self.ca_b64})
        self.apply("vwc.yaml", cfg, check=True)
        cp = self.apply("bad.yaml", pod("bad", "docker.io/library/nginx:1"))
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn('admission webhook "images.test.sealift.dev" denied the request: image '
                      'docker.io/library/nginx:1 is not from an allowed registry', cp.stderr)
        self.assertIn("Error from server (Forbidden)", cp.stderr)
        self.assertIn("NotFound", self.api.kubectl("get", "pod", "bad", check=False).stderr)
        good = self.apply("good.yaml", pod("good", ALLOWED + "app@sha256:" + "a" * 64))
        self.assertEqual(good.returncode, 0, good.stderr)
        review = self.hook.reviews[-1]
        self.assertEqual(review["kind"], "AdmissionReview")
        self.assertEqual(review["request"]["operation"], "CREATE")
        self.assertEqual(review["request"]["resource"],
                         {"group": "", "version": "v1", "resource": "pods"})
        self.assertEqual(review["request"]["namespace"], "default")
        # kube-system is excluded by the namespaceSelector
        seen = len(self.hook.reviews)
        self.api.kubectl("apply", "-n", "kube-system", "-f",
                         write(os.path.join(self.tmp, "sys.yaml"), pod("sys", "x/y:1")))
        self.assertEqual(len(self.hook.reviews), seen)
        # webhook down: Fail refuses, Ignore admits
        self.hook.stop()
        cp = self.apply("p2.yaml", pod("p2", ALLOWED + "app:1"))
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn('failed calling webhook "images.test.sealift.dev"', cp.stderr)
        self.assertIn("NotFound", self.api.kubectl("get", "pod", "p2", check=False).stderr)
        self.api.kubectl("patch", "validatingwebhookconfiguration", "images.test.sealift.dev",
                         "--type", "json", "-p",
                         '[{"op":"replace","path":"/webhooks/0/failurePolicy",'
                         '"value":"Ignore"}]')
        cp = self.apply("p2.yaml", pod("p2", "docker.io/anything:1"))
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def test_service_reference_and_untrusted_ca(self):
        cfg = vwc("svc.test.sealift.dev",
                  {"service": {"namespace": "sealift-system", "name": "policy-webhook",
                               "path": "/validate", "port": 443}, "caBundle": self.ca_b64})
        self.apply("vwc.yaml", cfg, check=True)
        cp = self.apply("bad.yaml", pod("bad", "quay.io/x:1"))
        self.assertIn('admission webhook "svc.test.sealift.dev" denied the request', cp.stderr)
        # a caBundle that did not sign the webhook's certificate: the call fails (Fail policy)
        other_ca = base64.b64encode(open(os.path.join(
            self.api.kubeconfig + ".pki", "ca.crt"), "rb").read()).decode() \
            if os.path.exists(self.api.kubeconfig + ".pki") else None
        if other_ca is None:
            procs.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                       os.path.join(self.tmp, "o.key"), "-out", os.path.join(self.tmp, "o.crt"),
                       "-days", "1", "-subj", "/CN=other"])
            other_ca = base64.b64encode(open(os.path.join(self.tmp, "o.crt"), "rb").read()
                                        ).decode()
        cfg["webhooks"][0]["clientConfig"]["caBundle"] = other_ca
        self.apply("vwc.yaml", cfg, check=True)
        cp = self.apply("ok.yaml", pod("ok", ALLOWED + "app:1"))
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("failed calling webhook", cp.stderr)


if __name__ == "__main__":
    unittest.main()
