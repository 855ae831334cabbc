"""ImageDelivery registry authentication beyond a pull Secret, end to end with real
docker-registry processes and a real API server:

- mTLS: registries that require a client certificate (docker-registry's http.tls.clientcas, so
  the Go TLS server itself enforces it). certSecretRef's tls.crt + tls.key are presented to the
  registry whose certSecretRef holds them and to no other.
- serviceAccountName: the imagePullSecrets of a ServiceAccount of the delivery's namespace, with
  htpasswd registries; no entry for the host stops the delivery, nothing anonymous is sent.
- a ScanPolicy's database image on a registry that requires a client certificate
  (spec.database.certSecretRef).
Results are checked with skopeo (with its own client certificate), not with sealift code."""
import base64
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scan"))
import procs  # noqa: E402
import registry as reg  # noqa: E402
import scanlib  # noqa: E402
import tlsgen  # noqa: E402
from imdlib import CUSTOMER, NS, VENDOR, ImdTestCase  # noqa: E402

V, C = ":".join(VENDOR), ":".join(CUSTOMER)


def read(path):
    with open(path) as f:
        return f.read()


class RegistryAuthTest(ImdTestCase):
    def generic_secret(self, name, **files):
        """An Opaque Secret whose keys (underscores read as dots) hold the given files."""
        args = ["create", "secret", "generic", name, "-n", NS]
        args += [f"--from-file={k.replace('_', '.')}={v}" for k, v in files.items()]
        self.kube.kubectl(*args)

    def mtls_delivery(self, name, src, dst, src_cert, dst_cert):
        self.apply(
            "apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
            f"metadata: {{name: {name}, namespace: {NS}}}\n"
            "spec:\n  source:\n"
            f"    image: {src}/acme/app\n    tags: ['1.0']\n"
            "    secretRef: {name: vendor-mtls-pull}\n"
            f"    certSecretRef: {{name: {src_cert}}}\n"
            "  targets:\n"
            f"  - image: {dst}/mirror/app\n"
            "    secretRef: {name: customer-mtls-push}\n"
            f"    certSecretRef: {{name: {dst_cert}}}\n"
            "  interval: 1m\n")

    def wait_message(self, name, text, timeout=90):
        def has(obj):
            c = self.condition(obj, "Ready")
            return (c and c["status"] == "False" and text in c.get("message", "")
                    and obj["status"].get("observedGeneration") == obj["metadata"]["generation"])
        return self.condition(self.wait_for_status(name, has, timeout, f"Ready=False: {text}"),
                              "Ready")

    def test_mtls_client_certificate_per_registry(self):
        tls = os.path.join(self.tmp, "tls")
        server = tlsgen.make_serving_cert(os.path.join(tls, "server"))
        clients_ca = tlsgen.make_serving_cert(os.path.join(tls, "clients-ca"))  # its CA only
        client_ca = os.path.join(clients_ca, "ca.crt")
        vcrt, vkey = tlsgen.make_client_cert(os.path.join(tls, "vendor-client"), clients_ca,
                                             "vendor")
        ccrt, ckey = tlsgen.make_client_cert(os.path.join(tls, "customer-client"), clients_ca,
                                             "customer")
        rogue_ca = tlsgen.make_serving_cert(os.path.join(tls, "rogue-ca"))  # trusted by nobody
        rcrt, rkey = tlsgen.make_client_cert(os.path.join(tls, "rogue-client"), rogue_ca,
                                             "vendor")
        srv = (os.path.join(server, "tls.crt"), os.path.join(server, "tls.key"), client_ca)
        src = reg.Registry(self, "vendor-mtls", users={VENDOR[0]: VENDOR[1]}, tls=srv)
        dst = reg.Registry(self, "customer-mtls", users={CUSTOMER[0]: CUSTOMER[1]}, tls=srv)
        layout = reg.Layout(os.path.join(self.tmp, "layout-mtls"))
        desc = layout.image([30 * 1024, 10 * 1024], seed=7)
        layout.tag(desc, "1.0")
        reg.push(layout.path, "1.0", f"{src.host}/acme/app:1.0", V,
                 cert_dir=os.path.dirname(vcrt))
        self.docker_secret("vendor-mtls-pull", src.host, *VENDOR)
        self.docker_secret("customer-mtls-push", dst.host, *CUSTOMER)
        server_ca = os.path.join(server, "ca.crt")
        self.generic_secret("server-ca", ca_crt=server_ca)
        self.generic_secret("vendor-client", ca_crt=server_ca, tls_crt=vcrt, tls_key=vkey)
        # the target's as cert-manager writes a Certificate's Secret: kubernetes.io/tls with ca.crt
        self.apply(json.dumps({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "customer-client", "namespace": NS},
            "data": {k: base64.b64encode(read(v).encode()).decode()
                     for k, v in (("ca.crt", server_ca), ("tls.crt", ccrt), ("tls.key", ckey))}}))
        self.generic_secret("half-pair", ca_crt=server_ca, tls_crt=vcrt)
        self.generic_secret("rogue-client", ca_crt=server_ca, tls_crt=rcrt, tls_key=rkey)

        # without a client certificate the source registry ends the handshake: a clear failure
        self.mtls_delivery("mtls", src.host, dst.host, "server-ca", "customer-client")
        ready = self.wait_message("mtls", src.host)
        self.assertEqual(ready["reason"], "AuthenticationFailed")
        self.assertIn("spec.source", ready["message"])
        self.assertIn("requires a TLS client certificate and none was presented",
                      ready["message"])
        self.assertFalse(self.exists_mtls(dst, ccrt))

        # a certificate of a CA the registry does not trust is refused, and the message says so
        self.mtls_delivery("mtls", src.host, dst.host, "rogue-client", "customer-client")
        ready = self.wait_message("mtls", "refused the TLS client certificate presented")
        self.assertEqual(ready["reason"], "AuthenticationFailed")
        self.assertIn(f"spec.source.image: {src.host}/acme/app", ready["message"])

        # a Secret with tls.crt but no tls.key is named before anything is sent
        self.mtls_delivery("mtls", src.host, dst.host, "half-pair", "customer-client")
        ready = self.wait_message("mtls", "half-pair")
        self.assertEqual(ready["reason"], "InvalidSecret")
        self.assertIn("spec.source.certSecretRef.name", ready["message"])
        self.assertIn("has tls.crt but no tls.key", ready["message"])

        # the source's client certificate goes to the source only: the target, which would
        # accept it (same issuing CA), sees none and ends the handshake
        rejected_before = dst.log_text().count("client didn't provide a certificate")
        self.mtls_delivery("mtls", src.host, dst.host, "vendor-client", "server-ca")
        ready = self.wait_message("mtls", dst.host)
        self.assertEqual(ready["reason"], "AuthenticationFailed")
        self.assertIn("spec.targets[0]", ready["message"])
        self.assertIn("none was presented", ready["message"])
        self.assertGreater(dst.log_text().count("client didn't provide a certificate"),
                           rejected_before)
        self.assertFalse(self.exists_mtls(dst, ccrt))

        # each registry with its own client certificate: delivered, digest preserved
        self.mtls_delivery("mtls", src.host, dst.host, "vendor-client", "customer-client")
        obj = self.wait_ready("mtls", timeout=120)
        self.assertEqual(obj["status"]["images"][0]["digest"], desc["digest"])
        got = reg.sha256_digest(reg.inspect_raw(f"{dst.host}/mirror/app:1.0", C,
                                                cert_dir=os.path.dirname(ccrt)))
        self.assertEqual(got, desc["digest"])
        # the private keys are nowhere in the object or its events
        events = self.kube.kubectl("get", "events", "-n", NS, "-o", "json").stdout
        for key in (vkey, ckey):
            body = read(key).splitlines()[1]
            self.assertNotIn(body, str(obj))
            self.assertNotIn(body, events)

    def test_service_account_pull_secrets(self):
        digest = self.seed_image("1.0", seed=3)
        sa_yaml = ("apiVersion: v1\nkind: ServiceAccount\n"
                   f"metadata: {{name: deliverer, namespace: {NS}}}\n"
                   "imagePullSecrets: [{name: customer-push}]\n")
        self.apply(sa_yaml)

        def delivery(name, sa):
            self.apply(
                "apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
                f"metadata: {{name: {name}, namespace: {NS}}}\n"
                "spec:\n  source:\n"
                f"    image: {self.vendor.host}/acme/app\n    tags: ['1.0']\n"
                f"    insecure: true\n    serviceAccountName: {sa}\n"
                "  targets:\n"
                f"  - image: {self.customer.host}/mirror/app\n    insecure: true\n"
                f"    serviceAccountName: {sa}\n"
                "  interval: 1m\n")

        # the ServiceAccount lists no Secret for the vendor registry: stopped, and the vendor
        # registry is not asked anonymously (no request after the seeding's)
        seeded = len(self.requests(self.vendor))
        delivery("by-sa", "deliverer")
        obj = self.wait_reason("by-sa", "NoCredentials")
        self.assertEqual(
            self.condition(obj, "Ready")["message"],
            f"spec.source.serviceAccountName: no credentials for {self.vendor.host} in "
            f"imagePullSecrets of ServiceAccount {NS}/deliverer")
        self.assertEqual(self.requests(self.vendor)[seeded:], [])

        # listing the vendor's pull Secret too (kubelet's order: the first with an entry for the
        # host) delivers; ServiceAccounts are not watched, so this waits for the next look
        self.kube.kubectl("patch", "serviceaccount", "deliverer", "-n", NS, "--type=merge", "-p",
                          json.dumps({"imagePullSecrets": [{"name": "customer-push"},
                                                           {"name": "vendor-pull"}]}))
        obj = self.wait_ready("by-sa", timeout=120)
        self.assertEqual(obj["status"]["images"][0]["digest"], digest)
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.0", C), digest)

        # a ServiceAccount that does not exist in the namespace is named
        delivery("no-sa", "nobody")
        obj = self.wait_reason("no-sa", "ServiceAccountNotFound")
        self.assertIn(f"ServiceAccount {NS}/nobody not found",
                      self.condition(obj, "Ready")["message"])

        # the API server refuses secretRef together with serviceAccountName
        cp = self.kube.kubectl(
            "apply", "-f", "-", check=False, input=(
                "apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
                f"metadata: {{name: both, namespace: {NS}}}\n"
                "spec:\n  source:\n"
                f"    image: {self.vendor.host}/acme/app\n    tags: ['1.0']\n"
                "    secretRef: {name: vendor-pull}\n    serviceAccountName: deliverer\n"
                f"  targets:\n  - image: {self.customer.host}/mirror/app\n"))
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("spec.source: set at most one of secretRef and serviceAccountName",
                      cp.stderr)

    def test_scanpolicy_database_over_mtls(self):
        tls = os.path.join(self.tmp, "tls")
        server = tlsgen.make_serving_cert(os.path.join(tls, "server"))
        clients_ca = tlsgen.make_serving_cert(os.path.join(tls, "clients-ca"))
        crt, key = tlsgen.make_client_cert(os.path.join(tls, "scanner"), clients_ca, "scanner")
        # the advisory database is pushed while the registry asks for no client certificate,
        # then the registry restarts requiring one
        db = reg.Registry(self, "db-registry", users={VENDOR[0]: VENDOR[1]},
                          tls=(os.path.join(server, "tls.crt"), os.path.join(server, "tls.key")))
        image = f"{db.host}/security/advisories:v1"
        adv = scanlib.advisory_dir(os.path.join(self.tmp, "advisories"))
        digest, records = scanlib.db_push(adv, image, creds=V)
        db.tls = db.tls + (os.path.join(clients_ca, "ca.crt"),)
        db._write_config()
        db.restart()
        self.docker_secret("db-pull", db.host, *VENDOR)
        server_ca = os.path.join(server, "ca.crt")
        self.generic_secret("db-server-ca", ca_crt=server_ca)
        self.generic_secret("db-client", ca_crt=server_ca, tls_crt=crt, tls_key=key)

        def policy(cert_secret):
            self.apply("apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
                       f"metadata: {{name: mtls-db, namespace: {NS}}}\n"
                       f"spec:\n  database:\n    image: {image}\n"
                       "    secretRef: {name: db-pull}\n"
                       f"    certSecretRef: {{name: {cert_secret}}}\n")

        def ready_when(pred, what):
            last = {}

            def check():
                obj = self.get("mtls-db", kind="scanpolicies")
                last["obj"] = obj
                c = self.condition(obj, "Ready")
                return (c and obj["status"].get("observedGeneration")
                        == obj["metadata"]["generation"] and pred(c))
            try:
                procs.wait_for(check, timeout=90, interval=0.2, what=what)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{json.dumps(last.get('obj', {}).get('status'))}")
            return last["obj"]

        policy("db-server-ca")
        obj = ready_when(lambda c: c["status"] == "False", "Ready=False without a certificate")
        self.assertIn("requires a TLS client certificate and none was presented",
                      self.condition(obj, "Ready")["message"])

        policy("db-client")
        obj = ready_when(lambda c: c["status"] == "True", "Ready=True with the certificate")
        self.assertEqual(obj["status"]["database"]["digest"], digest)
        self.assertEqual(obj["status"]["database"]["records"], records)

    def exists_mtls(self, registry, client_crt):
        try:
            reg.inspect_raw(f"{registry.host}/mirror/app:1.0", C,
                            cert_dir=os.path.dirname(client_crt))
            return True
        except AssertionError:
            return False


if __name__ == "__main__":
    unittest.main()
