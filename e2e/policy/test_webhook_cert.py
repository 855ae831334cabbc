"""The admission webhook's own serving certificate (--webhook-cert-secret), on the real
kube-apiserver (hack/cluster.sh) with the controller's ServiceAccount and RBAC (crds/rbac.yaml):
started with no certificate files and no Secret, the controller creates a CA and a serving
certificate for sealift-webhook.sealift-system.svc in the Secret, serves it, and puts the CA in
the caBundle of the ValidatingWebhookConfiguration, so the API server calls the webhook (a signed
image is admitted, an unsigned one denied by the webhook). A certificate near expiry put in the
Secret is renewed: new Secret content, new certificate served, caBundle updated, admission still
works."""
import base64
import json
import os
import socket
import ssl
import subprocess
import unittest

import procs
import registry as reglib
from controller import Controller
from kube import Cluster

SECRET = "sealift-webhook-tls"
HOST = "sealift-webhook.sealift-system.svc"

POLICY = """apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {name: signed-only}
spec:
  namespaceSelector:
    matchLabels: {sealift.dev/enforce: "true"}
  enforcement: Deny
  verifyImages:
  - imageReferences: ["*"]
    authorities:
    - name: release
      key: {signingKeyRef: {namespace: vendor-acme, name: release, fingerprint: "%s"}}
  outputs: [ValidatingAdmissionPolicy]
"""

POD = """apiVersion: v1
kind: Pod
metadata: {name: %(name)s, namespace: shop}
spec:
  imagePullSecrets: [{name: customer-pull}]
  containers:
  - name: app
    image: %(image)s
"""


class WebhookCertTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.reg = reglib.Registry(self, "customer", users={"cust": "pw-cust"})
        layout = os.path.join(self.tmp, "layout")
        lay = reglib.Layout(layout)
        self.image = {}
        for i, tag in enumerate(("1.0", "2.0")):
            lay.tag(lay.image([1024], seed=30 + i), tag)
            reglib.push(layout, tag, f"{self.reg.host}/mirror/app:{tag}", creds=self.reg.creds())
            digest = reglib.sha256_digest(reglib.inspect_raw(
                f"{self.reg.host}/mirror/app:{tag}", self.reg.creds()))
            self.image[tag] = f"{self.reg.host}/mirror/app@{digest}"
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()
        self.certs = os.path.join(self.tmp, "webhook-certs")
        os.makedirs(self.certs)

    def secret(self):
        cp = self.kube.kubectl("get", "secret", "-n", "sealift-system", SECRET, "-o", "json",
                               check=False)
        return json.loads(cp.stdout) if cp.returncode == 0 else None

    def secret_file(self, key):
        return base64.b64decode(self.secret()["data"][key])

    def served_cert(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(self.kube.webhook_client_cert, self.kube.webhook_client_key)
        with socket.create_connection(("127.0.0.1", self.kube.webhook_port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=HOST) as t:
                return ssl.DER_cert_to_PEM_cert(t.getpeercert(binary_form=True))

    @staticmethod
    def pem_norm(data):
        return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(data.decode()))

    def pem_certs(self, data):
        end = b"-----END CERTIFICATE-----"
        return [self.pem_norm(part.strip() + end) for part in data.split(end) if b"BEGIN" in part]

    def ca_bundle(self):
        vwc = json.loads(self.kube.kubectl("get", "validatingwebhookconfiguration",
                                           "sealift-signed-only", "-o", "json").stdout)
        return base64.b64decode(vwc["webhooks"][0]["clientConfig"].get("caBundle", ""))

    def openssl(self, *args):
        return procs.run(["openssl", *args]).stdout

    def near_expiry_cert(self):
        """A CA and serving certificate with the right names, valid for 10 more days."""
        d = os.path.join(self.tmp, "old")
        os.makedirs(d)
        p = lambda n: os.path.join(d, n)  # noqa: E731
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "10",
                     "-subj", "/CN=old-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign")
        self.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", p("tls.key"), "-out", p("tls.csr"), "-subj", f"/CN={HOST}")
        with open(p("ext"), "w") as f:
            f.write(f"subjectAltName=DNS:{HOST},DNS:{HOST}.cluster.local\n"
                    "extendedKeyUsage=serverAuth\n")
        self.openssl("x509", "-req", "-in", p("tls.csr"), "-CA", p("ca.crt"), "-CAkey",
                     p("ca.key"), "-CAcreateserial", "-out", p("tls.crt"), "-days", "10",
                     "-extfile", p("ext"))
        out = {}
        for k in ("ca.crt", "tls.crt", "tls.key"):
            with open(p(k), "rb") as f:
                out[k] = f.read()
        return out

    def not_after_days(self, pem):
        out = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(300 * 86400)],
                             input=pem, capture_output=True)
        return out.returncode == 0  # still valid 300 days from now

    def test_generated_certificate_serves_and_rotates(self):
        self.assertIsNone(self.secret())
        self.assertEqual(os.listdir(self.certs), [])
        self.ctl = Controller(self, self.kube, extra_args=[
            "--insecure-registry", self.reg.host,
            "--webhook-addr", f"127.0.0.1:{self.kube.webhook_port}",
            "--webhook-cert-dir", self.certs,
            "--webhook-service-port", str(self.kube.webhook_port),
            "--webhook-cert-secret", SECRET,
            "--webhook-cert-check-interval", "2s",
            "--webhook-client-ca", self.kube.ca_path,
            "--webhook-client-name", "kube-apiserver-webhook-client"])
        self.ctl.wait_ready(timeout=60)

        # the Secret: a kubernetes.io/tls Secret with a CA and a certificate for the Service
        sec = self.secret()
        self.assertEqual(sec["type"], "kubernetes.io/tls")
        self.assertEqual(sorted(sec["data"]), ["ca.crt", "ca.key", "tls.crt", "tls.key"])
        d = os.path.join(self.tmp, "gen")
        os.makedirs(d)
        for k in ("ca.crt", "tls.crt"):
            with open(os.path.join(d, k), "wb") as f:
                f.write(self.secret_file(k))
        for name in (HOST, HOST + ".cluster.local"):
            cp = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.crt"),
                                 "-verify_hostname", name, os.path.join(d, "tls.crt")],
                                capture_output=True, text=True)
            self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        first_crt = self.secret_file("tls.crt")
        self.assertEqual(self.served_cert(), self.pem_norm(first_crt))
        self.assertEqual(os.stat(os.path.join(self.certs, "tls.key")).st_mode & 0o777, 0o600)
        # the private keys are in no log line
        for k in ("tls.key", "ca.key"):
            key_body = self.secret_file(k).decode().splitlines()[1]
            self.assertNotIn(key_body, self.ctl.proc.output())

        # a DeployPolicy whose webhook the API server calls through that certificate
        for ns in ("vendor-acme", "shop"):
            self.kube.kubectl("create", "namespace", ns)
        self.kube.kubectl("label", "namespace", "shop", "sealift.dev/enforce=true")
        self.kube.kubectl("create", "secret", "docker-registry", "customer-pull", "-n", "shop",
                          f"--docker-server={self.reg.host}", "--docker-username=cust",
                          "--docker-password=pw-cust")
        self.kube.kubectl("apply", "-f", "-", input="""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: release, namespace: vendor-acme}
spec: {mode: Generate, secretRef: {name: release-key}}
""")
        self.kube.kubectl("wait", "--for=condition=Ready", "-n", "vendor-acme", "sigkey/release",
                          "--timeout=60s")
        keyfile = os.path.join(self.tmp, "release.key")
        env = self.kube.signing_key_file("vendor-acme", "release-key", keyfile)
        procs.run([procs.SEALIFT, "sign", f"{self.reg.host}/mirror/app:1.0", "--key", keyfile,
                   "--creds", self.reg.creds(), "--insecure"], env=env)
        fp = self.kube.kubectl("get", "sigkey", "-n", "vendor-acme", "release", "-o",
                               "jsonpath={.status.fingerprint}").stdout.strip()
        self.kube.kubectl("apply", "-f", "-", input=POLICY % fp)
        self.kube.kubectl("wait", "--for=condition=Ready", "deploypolicy/signed-only",
                          "--timeout=60s")
        self.assertEqual(self.ca_bundle(), self.secret_file("ca.crt"))

        cp = self.kube.kubectl("apply", "-f", "-", check=False,
                               input=POD % {"name": "unsigned", "image": self.image["2.0"]})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn('admission webhook "signed-only.deploypolicy.sealift.dev" denied the '
                      'request', cp.stderr)
        self.assertIn("verifyImages[0].authorities: no signature", cp.stderr)
        cp = self.kube.kubectl("apply", "-f", "-", check=False,
                               input=POD % {"name": "signed", "image": self.image["1.0"]})
        self.assertEqual(cp.returncode, 0, cp.stderr)

        # a certificate 10 days from expiry in the Secret: the controller renews it
        old = self.near_expiry_cert()
        sec = self.secret()
        sec["data"] = {k: base64.b64encode(v).decode() for k, v in old.items()}
        self.kube.kubectl("replace", "-f", "-", input=json.dumps(sec))

        def renewed():
            s = self.secret()
            crt = base64.b64decode(s["data"]["tls.crt"])
            if crt in (old["tls.crt"], first_crt) or not self.not_after_days(crt):
                return None
            return s
        procs.wait_for(renewed, timeout=90, what="the near-expiry certificate to be renewed")
        new_ca, new_crt = self.secret_file("ca.crt"), self.secret_file("tls.crt")
        self.assertNotEqual(new_ca, old["ca.crt"])
        # the new CA first, the replaced one after it (trusted while replicas switch over)
        cas = self.pem_certs(new_ca)
        self.assertEqual(len(cas), 2)
        self.assertEqual(cas[1], self.pem_norm(old["ca.crt"]))
        procs.wait_for(lambda: self.ca_bundle() == new_ca, timeout=90,
                       what="caBundle to carry the new CA")
        procs.wait_for(lambda: self.served_cert() == self.pem_norm(new_crt), timeout=60,
                       what="the webhook to serve the renewed certificate")
        self.assertIn("within the 30-day renewal window", self.ctl.proc.output())
        # the API server still reaches the webhook, now through the new CA
        procs.wait_for(lambda: self.kube.kubectl(
            "apply", "-f", "-", check=False,
            input=POD % {"name": "signed-after", "image": self.image["1.0"]}).returncode == 0,
            timeout=60, what="a signed Pod to be admitted after the rotation")
        cp = self.kube.kubectl("apply", "-f", "-", check=False,
                               input=POD % {"name": "unsigned-after", "image": self.image["2.0"]})
        self.assertIn("verifyImages[0].authorities: no signature", cp.stderr)

    def test_two_replicas_start_together_and_serve_one_certificate(self):
        import threading
        dirs = [self.certs, os.path.join(self.tmp, "certs-b")]
        os.makedirs(dirs[1])
        ports = [self.kube.webhook_port, procs.free_port()]
        ctls, errors = [None, None], []

        def start(i):
            try:
                ctls[i] = Controller(self, self.kube, name=f"replica-{i}", extra_args=[
                    "--leader-elect",
                    "--webhook-addr", f"127.0.0.1:{ports[i]}",
                    "--webhook-cert-dir", dirs[i],
                    "--webhook-service-port", str(self.kube.webhook_port),
                    "--webhook-cert-secret", SECRET])
            except Exception as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)
        threads = [threading.Thread(target=start, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        crt = self.secret_file("tls.crt")
        for i in (0, 1):
            with open(os.path.join(dirs[i], "tls.crt"), "rb") as f:
                self.assertEqual(f.read(), crt)
        # one of them wrote the Secret; the other found it (or lost the race and read it)
        logs = ctls[0].proc.output() + ctls[1].proc.output()
        self.assertEqual(logs.count("wrote the webhook serving certificate"), 1, logs[-3000:])
        self.assertEqual(self.served_cert(), self.pem_norm(crt))

    def test_garbage_in_secret_is_replaced_at_start(self):
        self.kube.kubectl("create", "secret", "generic", SECRET, "-n", "sealift-system",
                          "--from-literal=ca.crt=garbage", "--from-literal=tls.crt=garbage",
                          "--from-literal=tls.key=garbage")
        self.ctl = Controller(self, self.kube, extra_args=[
            "--webhook-addr", f"127.0.0.1:{self.kube.webhook_port}",
            "--webhook-cert-dir", self.certs,
            "--webhook-service-port", str(self.kube.webhook_port),
            "--webhook-cert-secret", SECRET])
        self.ctl.wait_ready(timeout=60)
        self.assertIn("BEGIN CERTIFICATE", self.secret_file("tls.crt").decode())
        self.assertEqual(self.served_cert(), self.pem_norm(self.secret_file("tls.crt")))
        out = self.ctl.proc.output()
        self.assertIn("replacing the webhook serving certificate", out)
        self.assertIn("ca.crt is not a PEM certificate", out)

        # RBAC: update on that one Secret of the controller's namespace, no other
        def can(*args):
            cp = self.kube.kubectl("auth", "can-i", *args, check=False, as_controller=True)
            return cp.stdout.strip() == "yes"
        self.assertTrue(can("update", f"secrets/{SECRET}", "-n", "sealift-system"))
        self.assertFalse(can("update", "secrets/other", "-n", "sealift-system"))
        self.assertFalse(can("update", f"secrets/{SECRET}", "-n", "default"))
        self.assertFalse(can("delete", f"secrets/{SECRET}", "-n", "sealift-system"))


if __name__ == "__main__":
    unittest.main()
