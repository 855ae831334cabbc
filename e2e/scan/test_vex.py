"""OpenVEX in a ScanPolicy end to end, on a real API server and docker-registry with auth: an
image blocked by a High finding (CVE-2023-4911 in glibc, NVD's CVSS 3.1 vector, 7.8) is
delivered once the vendor's VEX document (a ConfigMap) says the image is not affected, and
blocked again when the VEX entry is removed; the same document pushed by oras as an OCI
artifact works the same (and is Ready=False VEXLoadFailed until it is pushed); an invalid document gives Ready=False InvalidVEX naming the entry and
the field, and nothing is delivered while it stands; a VEX artifact on a registry that requires a
TLS client certificate is read with its entry's certSecretRef. Results are read with kubectl and
skopeo."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "imagedelivery"))
import procs  # noqa: E402
import registry as reg  # noqa: E402
import scanlib  # noqa: E402
import tlsgen  # noqa: E402
from imdlib import CUSTOMER, NS, VENDOR, ImdTestCase  # noqa: E402
from tlsgen import make_client_cert  # noqa: E402

C = ":".join(CUSTOMER)
V = ":".join(VENDOR)
BAD_LIBC = "2.36-9+deb12u1"  # before the bookworm fix of CVE-2023-4911 (2.36-9+deb12u3)
JUSTIFICATION = "vulnerable_code_not_in_execute_path"


def looney_tunables_osv(dest):
    """CVE-2023-4911 for glibc in Debian 12 as an OSV record: the fixed version from DSA-5514-1
    and the CVSS 3.1 vector NVD published (base score 7.8, High)."""
    with open(os.path.join(dest, "CVE-2023-4911.json"), "w") as f:
        json.dump({"id": "CVE-2023-4911", "modified": "2023-10-03T18:15:00Z",
                   "summary": "buffer overflow in the dynamic loader's processing of "
                              "GLIBC_TUNABLES",
                   "severity": [{"type": "CVSS_V3",
                                 "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
                   "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                                 "ranges": [{"type": "ECOSYSTEM", "events": [
                                     {"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]}]}]}, f)


def openvex(digest, repository, status="not_affected", **extra):
    """The vendor's OpenVEX v0.2.0 document for the image digest (a pkg:oci purl)."""
    stmt = {"vulnerability": {"name": "CVE-2023-4911", "aliases": ["DSA-5514-1"]},
            "products": [{"@id": "pkg:oci/app@" + digest.replace(":", "%3A")
                          + "?repository_url=" + repository,
                          "subcomponents": [{"@id": f"pkg:deb/debian/libc6@{BAD_LIBC}"}]}],
            "status": status, **extra}
    return json.dumps({"@context": "https://openvex.dev/ns/v0.2.0",
                       "@id": "https://vendor.example/vex/app-2026-001",
                       "author": "Vendor Security Team", "timestamp": "2026-01-10T08:00:00Z",
                       "version": 1, "statements": [stmt]}, indent=2)


class VexTest(ImdTestCase):
    def setUp(self):
        super().setUp()
        adv = os.path.join(self.tmp, "advisories")
        os.makedirs(adv)
        looney_tunables_osv(adv)
        self.db_image = f"{self.vendor.host}/security/advisories:v1"
        scanlib.db_push(adv, self.db_image, creds=V)
        layout = scanlib.debian_layout(os.path.join(self.tmp, "deb-layout"), {"bad": BAD_LIBC})
        self.src = f"{self.vendor.host}/acme/app"
        scanlib.skopeo_push(layout, "bad", f"{self.src}:bad", V)
        self.digest = self.digest_at(f"{self.src}:bad", V)

    def scan_policy(self, vex_yaml="", rescan="2s"):
        self.apply(
            "apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
            f"metadata: {{name: default, namespace: {NS}}}\n"
            "spec:\n  database:\n"
            f"    image: {self.db_image}\n    insecure: true\n"
            "    secretRef: {name: vendor-pull}\n"
            f"  severityThreshold: High\n  rescanInterval: {rescan}\n" + vex_yaml)

    def vex_configmap(self, text):
        path = os.path.join(self.tmp, "vex.json")
        with open(path, "w") as f:
            f.write(text)
        manifest = self.kube.kubectl("create", "configmap", "vendor-vex", "-n", NS,
                                     f"--from-file=vex.json={path}", "--dry-run=client",
                                     "-o", "yaml").stdout
        self.apply(manifest)

    def policy_condition(self, reason):
        last = {}

        def check():
            obj = self.get("default", kind="scanpolicies")
            last["obj"] = obj
            c = self.condition(obj, "Ready")
            return (c and c["reason"] == reason
                    and obj["status"].get("observedGeneration") == obj["metadata"]["generation"])
        try:
            procs.wait_for(check, timeout=90, interval=0.3, what=f"ScanPolicy Ready {reason}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{json.dumps(last.get('obj', {}).get('status'))}")
        return last["obj"]

    def scanned_delivery(self, name):
        self.delivery(name, self.src, [(f"{self.customer.host}/mirror/{name}", "customer-push")],
                      extra_source="    tags: ['bad']\n",
                      extra_spec="  scanPolicyRef: {name: default}\n", interval="2s")

    def assert_suppressed(self, obj, document):
        scan = obj["status"]["images"][0]["scan"]
        self.assertEqual(scan["result"], "Passed")
        self.assertEqual((scan["high"], scan["vexSuppressed"]), (0, 1))
        self.assertEqual(scan["suppressed"], [{
            "id": "CVE-2023-4911", "package": "libc6", "status": "not_affected",
            "justification": JUSTIFICATION, "document": document}])

    def test_configmap_vex_lets_the_image_through_until_removed(self):
        # without VEX the High finding blocks the image
        self.scan_policy()
        self.policy_condition("DatabaseLoaded")
        self.scanned_delivery("app")
        obj = self.wait_reason("app", "ScanFailed", ctype="Scanned")
        self.assertIn("CVE-2023-4911 (High) in libc6 2.36-9+deb12u1, fixed in 2.36-9+deb12u3",
                      self.condition(obj, "Scanned")["message"])
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:bad", C))

        # an invalid document: Ready=False naming the entry and the field, nothing delivered
        self.vex_configmap(openvex(self.digest, self.src))  # valid, but not referenced yet
        bad = json.loads(openvex(self.digest, self.src))
        bad["statements"][0]["justification"] = "we_checked"
        self.vex_configmap(json.dumps(bad))
        vex_entry = "  vex:\n  - configMapRef: {name: vendor-vex, key: vex.json}\n"
        self.scan_policy(vex_entry)
        pol = self.policy_condition("InvalidVEX")
        ready = self.condition(pol, "Ready")
        self.assertEqual(ready["status"], "False")
        self.assertIn('spec.vex[0] (ConfigMap vendor-vex key vex.json): '
                      'statements[0].justification: Unsupported value: "we_checked"',
                      ready["message"])
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:bad", C))

        # the vendor's VEX says not_affected: the image is delivered, the status says why
        self.vex_configmap(openvex(self.digest, self.src, justification=JUSTIFICATION))
        pol = self.policy_condition("DatabaseLoaded")
        self.assertEqual(pol["status"]["vex"], {"documents": 1, "statements": 1})
        obj = self.wait_ready("app", timeout=90)
        self.assert_suppressed(obj, "spec.vex[0] (ConfigMap vendor-vex key vex.json)")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:bad", C), self.digest)

        # the VEX entry is removed: the finding is back and the digest is blocked again
        self.scan_policy()
        obj = self.wait_reason("app", "ScanFailed", ctype="Scanned", timeout=90)
        msg = self.condition(obj, "Scanned")["message"]
        self.assertIn("CVE-2023-4911 (High) in libc6", msg)
        self.assertIn("already delivered", msg)
        scan = obj["status"]["images"][0]["scan"]
        self.assertEqual((scan["result"], scan["high"]), ("Failed", 1))
        self.assertNotIn("suppressed", scan)

    def verify_vuln_attestation(self, pub):
        return subprocess.run(
            [procs.SEALIFT, "verify-attestation", f"{self.customer.host}/mirror/app@{self.digest}",
             "--key", pub, "--type", "vuln", "--fail-on", "High", "--creds", C, "--insecure"],
            capture_output=True, text=True, timeout=120)

    def test_vuln_attestation_follows_the_vex(self):
        """What the delivery attests agrees with the gate: a finding the vendor's VEX suppresses
        is marked suppressed in the signed vulnerability report (so `sealift verify-attestation
        --fail-on High`, the webhook's check, passes), and when the VEX entry is removed the
        digest, blocked but already delivered, gets a fresh report with the finding."""
        self.apply(f"""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {{name: vendor-release, namespace: {NS}}}
spec:
  mode: Generate
  secretRef: {{name: vendor-release-key}}
  publishKey: {{configMapRef: {{name: vendor-release-pub}}}}
""")
        self.kube.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", NS,
                          "signingkey/vendor-release")
        cm = json.loads(self.kube.kubectl("get", "configmap", "vendor-release-pub", "-n", NS,
                                          "-o", "json").stdout)
        pub = os.path.join(self.tmp, "release.pub")
        with open(pub, "w") as f:
            f.write(cm["data"]["cosign.pub"])
        self.vex_configmap(openvex(self.digest, self.src, justification=JUSTIFICATION))
        # no rescan by time: what writes the next report is the gate's new verdict
        self.scan_policy("  vex:\n  - configMapRef: {name: vendor-vex, key: vex.json}\n",
                         rescan="24h")
        self.policy_condition("DatabaseLoaded")
        self.delivery("app", self.src, [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['bad']\n",
                      extra_spec="  scanPolicyRef: {name: default}\n"
                                 "  sign:\n    signingKeyRef: {name: vendor-release}\n"
                                 "    attestations: {sbom: none, vuln: true}\n",
                      interval="2s")

        def attested(obj):
            targets = obj.get("status", {}).get("images", [{}])[0].get("targets") or [{}]
            return (targets[0].get("attestations") or {}).get("vulnAttestedAt")
        procs.wait_for(lambda: attested(self.get("app")), timeout=120, interval=0.5,
                       what="a vulnerability attestation of the delivered digest")
        r = self.verify_vuln_attestation(pub)
        self.assertEqual(r.returncode, 0, r.stderr)
        findings = json.loads(r.stdout)["predicate"]["scanner"]["result"]["findings"]
        libc = [f for f in findings if f["id"] == "CVE-2023-4911"]
        self.assertEqual(len(libc), 1, findings)
        self.assertTrue(libc[0]["suppressed"])
        self.assertEqual(libc[0]["vex"]["justification"], JUSTIFICATION)

        # the VEX entry is removed: the gate blocks the digest (already delivered), and the
        # newest signed report lists the High finding again
        self.scan_policy(rescan="24h")
        self.wait_reason("app", "ScanFailed", ctype="Scanned", timeout=90)
        last = {}

        def denied():
            last["r"] = self.verify_vuln_attestation(pub)
            return last["r"].returncode == 1
        procs.wait_for(denied, timeout=120, interval=1,
                       what="a fresh vulnerability report with the finding")
        self.assertIn("CVE-2023-4911", last["r"].stderr)

    def test_oras_pushed_vex_artifact(self):
        # the API server refuses an entry with both sources (CEL), naming the rule
        r = self.kube.kubectl(
            "apply", "-f", "-", check=False,
            input="apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
                  f"metadata: {{name: both, namespace: {NS}}}\n"
                  "spec:\n  vex:\n  - configMapRef: {name: v, key: k}\n    image: r.example/v\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("set exactly one of configMapRef, image and attestations", r.stderr)
        path = os.path.join(self.tmp, "app.openvex.json")
        with open(path, "w") as f:
            f.write(openvex(self.digest, self.src, justification=JUSTIFICATION))
        vex_ref = f"{self.vendor.host}/security/vex/app:latest"
        vex_entry = ("  vex:\n"
                     f"  - image: {vex_ref}\n    insecure: true\n"
                     "    secretRef: {name: vendor-pull}\n")
        # the artifact is not pushed yet: not Ready, naming the entry; looked at again later
        self.scan_policy(vex_entry)
        pol = self.policy_condition("VEXLoadFailed")
        self.assertIn(f"spec.vex[0] ({vex_ref}): ", self.condition(pol, "Ready")["message"])
        r = subprocess.run([procs.peer("oras"), "push", "--plain-http", "-u", VENDOR[0], "-p",
                            VENDOR[1], "--artifact-type", "application/openvex+json", vex_ref,
                            "app.openvex.json:application/openvex+json"],
                           cwd=self.tmp, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        pol = self.policy_condition("DatabaseLoaded")
        self.assertEqual(pol["status"]["vex"], {"documents": 1, "statements": 1})
        self.assertIn("1 OpenVEX statements from 1 documents",
                      self.condition(pol, "Ready")["message"])
        self.scanned_delivery("app")
        obj = self.wait_ready("app", timeout=90)
        self.assert_suppressed(obj, f"spec.vex[0] ({vex_ref}) layer 0")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:bad", C), self.digest)

        # the vendor pushes an "affected" statement under the same tag: picked up by digest,
        # the finding blocks again
        with open(path, "w") as f:
            f.write(openvex(self.digest, self.src, status="affected",
                            action_statement="upgrade glibc to 2.36-9+deb12u3"))
        r = subprocess.run([procs.peer("oras"), "push", "--plain-http", "-u", VENDOR[0], "-p",
                            VENDOR[1], "--artifact-type", "application/openvex+json", vex_ref,
                            "app.openvex.json:application/openvex+json"],
                           cwd=self.tmp, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        obj = self.wait_reason("app", "ScanFailed", ctype="Scanned", timeout=90)
        self.assertIn("CVE-2023-4911 (High) in libc6", self.condition(obj, "Scanned")["message"])

    def test_vex_artifact_over_mtls(self):
        """spec.vex[].certSecretRef: a VEX artifact on a registry that requires a TLS client
        certificate (docker-registry's http.tls.clientcas) is read with the certificate of that
        entry's Secret; without one the registry refuses the TLS session."""
        tls = os.path.join(self.tmp, "tls")
        server = tlsgen.make_serving_cert(os.path.join(tls, "server"))
        clients_ca = tlsgen.make_serving_cert(os.path.join(tls, "clients-ca"))
        crt, key = make_client_cert(os.path.join(tls, "scanner"), clients_ca, "scanner")
        # the artifact is pushed while the registry asks for no client certificate, then the
        # registry restarts requiring one
        vexreg = reg.Registry(self, "vex-registry", users={VENDOR[0]: VENDOR[1]},
                              tls=(os.path.join(server, "tls.crt"),
                                   os.path.join(server, "tls.key")))
        vex_ref = f"{vexreg.host}/security/vex/app:latest"
        with open(os.path.join(self.tmp, "app.openvex.json"), "w") as f:
            f.write(openvex(self.digest, self.src, justification=JUSTIFICATION))
        r = subprocess.run([procs.peer("oras"), "push", "--insecure", "-u", VENDOR[0], "-p",
                            VENDOR[1], "--artifact-type", "application/openvex+json", vex_ref,
                            "app.openvex.json:application/openvex+json"],
                           cwd=self.tmp, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        vexreg.tls = vexreg.tls + (os.path.join(clients_ca, "ca.crt"),)
        vexreg._write_config()
        vexreg.restart()
        self.docker_secret("vex-pull", vexreg.host, *VENDOR)
        server_ca = os.path.join(server, "ca.crt")
        for name, files in (("vex-server-ca", {"ca.crt": server_ca}),
                            ("vex-client", {"ca.crt": server_ca, "tls.crt": crt,
                                            "tls.key": key})):
            self.kube.kubectl("create", "secret", "generic", name, "-n", NS,
                              *[f"--from-file={k}={v}" for k, v in files.items()])

        def policy(cert_secret):
            self.scan_policy("  vex:\n"
                             f"  - image: {vex_ref}\n"
                             "    secretRef: {name: vex-pull}\n"
                             f"    certSecretRef: {{name: {cert_secret}}}\n")

        policy("vex-server-ca")
        pol = self.policy_condition("VEXLoadFailed")
        self.assertIn("requires a TLS client certificate and none was presented",
                      self.condition(pol, "Ready")["message"])
        policy("vex-client")
        pol = self.policy_condition("DatabaseLoaded")
        self.assertEqual(pol["status"]["vex"], {"documents": 1, "statements": 1})
        self.assertNotIn(read_pem_body(key), json.dumps(pol))


def read_pem_body(path):
    """The first base64 line of a PEM file: what would show if the key leaked."""
    with open(path) as f:
        return f.read().splitlines()[1]


if __name__ == "__main__":
    unittest.main(verbosity=2)
