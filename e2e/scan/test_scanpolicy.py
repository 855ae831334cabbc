"""Scanning end to end: `sealift db push` of the advisory test data into a registry, a ScanPolicy
loading it (database.image with a dockerconfigjson Secret) and ImageDeliveries gated by it in
`sealift controller` against a real API server. A failing image never reaches the customer's
registry (checked with skopeo), a passing one does, and allowlisting the blocking finding lets
the failing one through; an image with a layer entry the scanner cannot apply is blocked
naming the entry. The database pulled with a ServiceAccount's imagePullSecrets
(database.serviceAccountName). Also `sealift scan` of registry images, and a controller with the
secure defaults (no --allow-local-paths) refusing spec.database.path."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "imagedelivery"))
import procs  # noqa: E402
import registry as reg  # noqa: E402
import scanlib  # noqa: E402
from controller import Controller  # noqa: E402
from imdlib import CUSTOMER, NS, VENDOR, ImdTestCase  # noqa: E402

C = ":".join(CUSTOMER)
V = ":".join(VENDOR)
BAD_LIBC = "2.36-9+deb12u1"   # CVE-2099-0001 (Critical, fixed 2.36-9+deb12u4), both glibc DSAs
GOOD_LIBC = "2.36-9+deb12u7"  # after every fix in the test data


class ScanPolicyTest(ImdTestCase):
    def setUp(self):
        super().setUp()
        adv = scanlib.advisory_dir(os.path.join(self.tmp, "advisories"))
        self.db_image = f"{self.vendor.host}/security/advisories:v1"
        self.db_digest, self.db_records = scanlib.db_push(adv, self.db_image, creds=V)
        self.assertTrue(self.db_digest.startswith("sha256:"))
        self.assertGreater(self.db_records, 3)
        layout = scanlib.debian_layout(os.path.join(self.tmp, "deb-layout"),
                                       {"bad": BAD_LIBC, "good": GOOD_LIBC})
        for tag in ("bad", "good"):
            scanlib.skopeo_push(layout, tag, f"{self.vendor.host}/acme/app:{tag}", V)

    def scan_policy(self, allowlist="", rescan=""):
        self.apply(
            "apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
            f"metadata: {{name: default, namespace: {NS}}}\n"
            "spec:\n  database:\n"
            f"    image: {self.db_image}\n    insecure: true\n"
            "    secretRef: {name: vendor-pull}\n"
            "  severityThreshold: High\n" + allowlist
            + (f"  rescanInterval: {rescan}\n" if rescan else ""))

    def get_policy(self):
        return self.get("default", kind="scanpolicies")

    def wait_policy_ready(self):
        def ready(obj):
            c = self.condition(obj, "Ready")
            return (c and c["status"] == "True"
                    and obj["status"].get("observedGeneration") == obj["metadata"]["generation"])
        last = {}

        def check():
            last["obj"] = self.get_policy()
            return ready(last["obj"])
        import procs
        try:
            procs.wait_for(check, timeout=60, interval=0.2, what="ScanPolicy Ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{json.dumps(last.get('obj', {}).get('status'))}")
        return last["obj"]

    def scanned_delivery(self, name, tag):
        self.delivery(name, f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/{name}", "customer-push")],
                      extra_source=f"    tags: ['{tag}']\n",
                      extra_spec="  scanPolicyRef: {name: default}\n", interval="2s")

    def test_policy_ready_and_gate_blocks_then_allowlist(self):
        self.scan_policy()
        pol = self.wait_policy_ready()
        fresh = self.kube.kubectl(
            "get", "scanpolicy", "default", "-n", NS, "-o",
            'jsonpath={.status.conditions[?(@.type=="DatabaseFresh")].status}').stdout.strip()
        self.assertEqual(fresh, "True")
        st = pol["status"]
        self.assertEqual(st["database"]["records"], self.db_records)
        self.assertEqual(st["database"]["digest"], self.db_digest)
        self.assertIn("loadedAt", st["database"])
        self.assertEqual(st["database"]["fetchedAt"], st["database"]["loadedAt"])
        out = self.kube.kubectl("get", "scanpol", "-n", NS).stdout.strip().splitlines()
        # DB AGE: the age of status.database.fetchedAt, as kubectl computes it ("5s", "2m3s")
        self.assertEqual(out[0].split()[:7],
                         ["NAME", "THRESHOLD", "ACTION", "RECORDS", "DB", "AGE", "READY"])
        row = out[1].split()
        self.assertEqual(row[:4], ["default", "High", "Block", str(self.db_records)])
        self.assertRegex(row[4], r"^[0-9]+[smhd]")
        self.assertEqual(row[5], "True")
        # the built-in scanner names itself in status.scanner and the -o wide SCANNER column
        version = procs.run([procs.SEALIFT, "--version"]).stdout.split()[1]  # "sealift V (commit C)"
        self.assertEqual(st["scanner"], {"name": "sealift", "vendor": "sealift",
                                         "version": version})
        wide = self.kube.kubectl("get", "scanpol", "-n", NS, "-o", "wide").stdout.splitlines()
        self.assertEqual(wide[0].split()[:8],
                         ["NAME", "THRESHOLD", "ACTION", "RECORDS", "DB", "AGE", "SCANNER",
                          "READY"])
        row = wide[1].split()
        self.assertEqual(row[:4] + row[5:7],
                         ["default", "High", "Block", str(self.db_records), "sealift", "True"])
        # the load is logged: records, source and digest
        loads = [r["msg"] for r in self.ctl.log_lines()
                 if r.get("msg", "").startswith("database loaded: ")]
        self.assertTrue(loads, "no 'database loaded' log line")
        self.assertIn(f"{self.db_records} advisory records from {self.db_image}", loads[0])
        self.assertIn(self.db_digest, loads[0])

        # the failing image: blocked before any target is written
        self.scanned_delivery("bad", "bad")
        obj = self.wait_reason("bad", "ScanFailed", ctype="Scanned")
        scanned = self.condition(obj, "Scanned")
        self.assertEqual(scanned["status"], "False")
        self.assertIn("CVE-2099-0001 (Critical) in libc6 2.36-9+deb12u1, fixed in 2.36-9+deb12u4",
                      scanned["message"])
        img = obj["status"]["images"][0]
        self.assertEqual(img["scan"]["result"], "Failed")
        self.assertEqual(img["scan"]["critical"], 1)
        self.assertEqual(img["scan"]["policy"], "default")
        self.assertEqual(self.condition(obj, "Ready")["status"], "False")
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/bad:bad", C))

        # the passing image is delivered
        self.scanned_delivery("good", "good")
        obj = self.wait_ready("good")
        self.assertEqual(obj["status"]["images"][0]["scan"]["result"], "Passed")
        src = self.digest_at(f"{self.vendor.host}/acme/app:good", V)
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/good:good", C), src)

        lines = self.kube.kubectl("get", "imd", "-n", NS).stdout.strip().splitlines()
        header = lines[0].split()
        col = header.index("BLOCKED")
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        self.assertEqual(rows["bad"][col], "1")
        self.assertEqual(rows["good"][col], "0")
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/bad:bad", C))
        # /metrics counts the objects of each kind by Ready, and the delivered tags
        def metrics_agree():
            body = self.ctl.get("/metrics")[1]
            return all(line in body.splitlines() for line in (
                'sealift_objects{kind="ImageDelivery",ready="True"} 1',
                'sealift_objects{kind="ImageDelivery",ready="False"} 1',
                'sealift_delivered_tags{kind="ImageDelivery"} 1',
                'sealift_objects{kind="ScanPolicy",ready="True"} 1'))
        procs.wait_for(metrics_agree, timeout=30, interval=0.3, what="per-kind gauges")

        # an expired allowlist entry does not suppress: rescanned, still blocked
        before = obj_bad = self.get("bad")["status"]["images"][0]["scan"]["scannedAt"]
        time.sleep(1.1)  # scannedAt has one-second resolution
        self.scan_policy("  allowlist:\n  - {id: CVE-2099-0001, until: '2020-01-01'}\n")
        self.wait_policy_ready()
        obj_bad = self.wait_for_status(
            "bad", lambda o: o["status"]["images"][0].get("scan", {}).get("scannedAt") != before,
            what="a rescan under the new policy")
        self.assertEqual(obj_bad["status"]["images"][0]["scan"]["result"], "Failed")
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/bad:bad", C))
        # allowlisting the blocking finding (until a future date) lets the image through
        self.scan_policy("  allowlist:\n  - {id: CVE-2099-0001, until: '2099-01-01', "
                         "reason: 'not reachable'}\n")
        self.wait_policy_ready()
        obj = self.wait_ready("bad", timeout=90)
        self.assertEqual(obj["status"]["images"][0]["scan"]["result"], "Passed")
        src = self.digest_at(f"{self.vendor.host}/acme/app:bad", V)
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/bad:bad", C), src)

    def test_gate_fails_an_image_with_entries_it_cannot_apply(self):
        """An image that would pass, but with a layer entry of an unknown tar type (which a
        runtime refuses and the scanner cannot inspect), is blocked with the entry named."""
        import hostile  # tests/data/scan/hostile.py (scanlib puts its folder on sys.path)
        tar = (hostile.entry("etc/os-release", hostile.BOOKWORM)
               + hostile.entry("var/lib/dpkg/status", hostile.dpkg_status(GOOD_LIBC))
               + hostile.header("weird", "Z", 0o644, 1024) + b"\0" * 1024 + hostile.END)
        layout = os.path.join(self.tmp, "weird-layout")
        hostile.oci_layout(layout, tar)
        scanlib.skopeo_push(layout, "t", f"{self.vendor.host}/acme/app:weird", V)
        self.scan_policy()
        self.wait_policy_ready()
        self.scanned_delivery("weird", "weird")
        obj = self.wait_reason("weird", "ScanFailed", ctype="Scanned")
        self.assertIn("layer 0 entry weird: tar entry type 'Z' is not a file, link, directory "
                      "or device", self.condition(obj, "Scanned")["message"])
        self.assertEqual(obj["status"]["images"][0]["scan"]["result"], "Failed")
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/weird:weird", C))

    def push_multiarch(self):
        """Pushes acme/app:multi, an index whose linux/amd64 image is clean and whose
        linux/arm64 image carries the vulnerable libc6. Returns (index, amd64, arm64) digests."""
        layout = os.path.join(self.tmp, "multi-layout")
        index = scanlib.debian_multiarch_layout(layout, GOOD_LIBC, BAD_LIBC)
        scanlib.skopeo_push(layout, "multi", f"{self.vendor.host}/acme/app:multi", V,
                            all_platforms=True)
        with open(os.path.join(layout, "blobs", "sha256", index[7:])) as f:
            children = {m["platform"]["architecture"]: m["digest"]
                        for m in json.load(f)["manifests"]}
        return index, children["amd64"], children["arm64"]

    def test_every_platform_of_an_index_is_scanned(self):
        # no spec.platforms: the whole index is delivered, so every platform is scanned, and
        # the vulnerable arm64 image blocks it although amd64 is clean
        self.push_multiarch()
        self.scan_policy()
        self.wait_policy_ready()
        self.scanned_delivery("multi", "multi")
        obj = self.wait_reason("multi", "ScanFailed", ctype="Scanned")
        msg = self.condition(obj, "Scanned")["message"]
        self.assertIn("linux/arm64: CVE-2099-0001 (Critical) in libc6 2.36-9+deb12u1", msg)
        self.assertNotIn("linux/amd64", msg)
        self.assertEqual(obj["status"]["images"][0]["scan"]["critical"], 1)
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/multi:multi", C))

    def test_only_the_delivered_platforms_are_scanned(self):
        index, amd64, arm64 = self.push_multiarch()
        self.scan_policy()
        self.wait_policy_ready()
        # platforms [linux/amd64]: only the clean amd64 image is delivered, and only it is
        # scanned; the vulnerable arm64 image is never read
        pushed = len(self.requests(self.vendor))
        self.delivery("amd64", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/amd64", "customer-push")],
                      extra_source="    tags: ['multi']\n",
                      extra_spec="  scanPolicyRef: {name: default}\n"
                                 "  platforms: [linux/amd64]\n", interval="2s")
        obj = self.wait_ready("amd64")
        self.assertEqual(self.condition(obj, "Scanned")["status"], "True")
        img = obj["status"]["images"][0]
        self.assertEqual(img["digest"], index)
        self.assertEqual(img["scan"]["result"], "Passed")
        self.assertEqual(img["scan"]["critical"], 0)
        delivered = self.digest_at(f"{self.customer.host}/mirror/amd64:multi", C)
        self.assertNotEqual(delivered, index)  # the filtered index
        self.assertEqual(img["targets"][0]["digest"], delivered)
        raw = json.loads(reg.inspect_raw(f"{self.customer.host}/mirror/amd64:multi", C))
        self.assertEqual([m["digest"] for m in raw["manifests"]], [amd64])
        read = [path for _, path in self.requests(self.vendor)[pushed:]]
        self.assertTrue(any(amd64 in path for path in read))
        self.assertFalse(any(arm64 in path for path in read))
        # the same index without the filter: arm64 is delivered too, so it is scanned and blocks
        self.scanned_delivery("all", "multi")
        obj = self.wait_reason("all", "ScanFailed", ctype="Scanned")
        self.assertIn("linux/arm64: CVE-2099-0001 (Critical)",
                      self.condition(obj, "Scanned")["message"])
        self.assertIn("not delivered", self.condition(obj, "Scanned")["message"])
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/all:multi", C))
        # and the filtered delivery stays delivered and Passed
        self.assertEqual(self.get("amd64")["status"]["images"][0]["scan"]["result"], "Passed")

    def test_database_update_rescans_delivered_digests(self):
        self.scan_policy(rescan="2s")
        self.wait_policy_ready()
        self.scanned_delivery("good", "good")
        self.wait_ready("good")
        src = self.digest_at(f"{self.vendor.host}/acme/app:good", V)
        # a new advisory for zlib (every version before 1:1.3, Critical) under the same tag
        adv = scanlib.advisory_dir(os.path.join(self.tmp, "advisories-2"))
        with open(os.path.join(adv, "zlib.json"), "w") as f:
            json.dump({"id": "CVE-2099-0200", "modified": "2026-01-01T00:00:00Z",
                       "affected": [{"package": {"ecosystem": "Debian:12", "name": "zlib"},
                                     "ranges": [{"type": "ECOSYSTEM", "events": [
                                         {"introduced": "0"}, {"fixed": "1:1.3.dfsg-1"}]}],
                                     "database_specific": {"severity": "Critical"}}]}, f)
        digest2, records2 = scanlib.db_push(adv, self.db_image, creds=V)
        self.assertNotEqual(digest2, self.db_digest)
        import procs
        procs.wait_for(lambda: self.get_policy()["status"].get("database", {}).get("digest")
                       == digest2, timeout=60, interval=0.3, what="the new database loaded")
        self.assertEqual(self.get_policy()["status"]["database"]["records"], records2)
        obj = self.wait_reason("good", "ScanFailed", ctype="Scanned")
        msg = self.condition(obj, "Scanned")["message"]
        self.assertIn("CVE-2099-0200 (Critical) in zlib1g 1:1.2.13.dfsg-1, fixed in 1:1.3.dfsg-1",
                      msg)
        self.assertIn("already delivered", msg)
        # a Warning event on the ImageDelivery, and the delivered image is left in place
        def warned():
            ev = json.loads(self.kube.kubectl("get", "events", "-n", NS, "-o", "json").stdout)
            return any(e.get("type") == "Warning" and e["involvedObject"].get("name") == "good"
                       and "CVE-2099-0200" in e.get("message", "") for e in ev["items"])
        procs.wait_for(warned, timeout=30, interval=0.3, what="a Warning event on good")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/good:good", C), src)

    def test_blocked_tag_is_not_a_failed_delivery_and_a_new_failure_owns_ready(self):
        """The demo's end state: one tag blocked by the scan and the other delivered reads as a
        delivery that worked with a tag blocked; a target that then rejects the push credentials
        owns Ready, with a Warning event of its own, while Blocked still lists the tag."""
        # the delivery first, waiting on the ScanPolicy that comes next (its watch re-queues it)
        self.delivery("mixed", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/mixed", "customer-push")],
                      extra_source="    tags: ['bad', 'good']\n",
                      extra_spec="  scanPolicyRef: {name: default}\n", interval="2s")
        self.scan_policy()
        self.wait_policy_ready()
        obj = self.wait_ready("mixed")
        ready, blocked = self.condition(obj, "Ready"), self.condition(obj, "Blocked")
        self.assertEqual(ready["reason"], "Delivered")
        self.assertIn("1 tag(s) delivered to 1 target(s)", ready["message"])
        self.assertIn("1 tag(s) blocked by policy (bad)", ready["message"])
        self.assertEqual((blocked["status"], blocked["reason"]), ("True", "ScanFailed"))
        self.assertIn("CVE-2099-0001", blocked["message"])
        self.assertEqual(self.condition(obj, "Synced")["status"], "True")
        self.assertEqual(obj["status"]["summary"]["delivered"], 1)
        self.assertTrue(self.exists(f"{self.customer.host}/mirror/mixed:good", C))
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/mixed:bad", C))
        row = self.kube.kubectl("get", "imd", "-n", NS, "mixed").stdout.splitlines()[1].split()
        self.assertIn("True", row)

        # the customer's registry starts rejecting the push credentials
        self.kube.kubectl("delete", "secret", "customer-push", "-n", NS)
        self.docker_secret("customer-push", self.customer.host, CUSTOMER[0], "wrong-pw")
        obj = self.wait_reason("mixed", "AuthenticationFailed")
        ready = self.condition(obj, "Ready")
        self.assertEqual(ready["status"], "False")
        self.assertIn(self.customer.host, ready["message"])
        self.assertIn("also 1 tag(s) blocked (bad)", ready["message"])
        self.assertEqual(self.condition(obj, "Blocked")["reason"], "ScanFailed")

        def warned():
            ev = json.loads(self.kube.kubectl("get", "events", "-n", NS, "-o", "json").stdout)
            return [e for e in ev["items"] if e.get("type") == "Warning"
                    and e.get("reason") == "AuthenticationFailed"
                    and e["involvedObject"].get("name") == "mixed"]
        procs.wait_for(warned, timeout=30, interval=0.3, what="an AuthenticationFailed event")

    def test_secure_defaults_refuse_local_paths(self):
        """Without --allow-local-paths a ScanPolicy cannot make the controller read its own
        files (the digest and load errors would come back in status)."""
        self.ctl.stop()
        self.ctl = Controller(self, self.kube.kubeconfig, name="controller-secure", lab=False,
                              extra_args=("--insecure-registry", "127.0.0.1"))
        self.ctl.wait_ready()
        self.apply(
            "apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
            f"metadata: {{name: files, namespace: {NS}}}\n"
            "spec:\n  database:\n    path: /etc\n")

        def refused():
            c = self.condition(self.get("files", kind="scanpolicies"), "Ready")
            return c if c and c.get("reason") == "LocalPathNotAllowed" else None
        c = procs.wait_for(refused, timeout=60, interval=0.2,
                           what="Ready reason LocalPathNotAllowed")
        self.assertEqual(c["status"], "False")
        self.assertIn("--allow-local-paths", c["message"])
        self.assertNotIn("database", self.get("files", kind="scanpolicies").get("status", {}))

    def test_bad_database_keeps_last_good(self):
        self.scan_policy()
        fetched = self.wait_policy_ready()["status"]["database"]["fetchedAt"]
        # the tag now points at something that is not an advisory artifact
        scanlib.skopeo_push(os.path.join(self.tmp, "deb-layout"), "good", self.db_image, V)
        self.apply(
            "apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
            f"metadata: {{name: default, namespace: {NS}}}\n"
            "spec:\n  database:\n"
            f"    image: {self.db_image}\n    insecure: true\n"
            "    secretRef: {name: vendor-pull}\n"
            "  severityThreshold: Critical\n")

        def stale(obj):
            c = self.condition(obj, "Ready")
            return c and c.get("reason") == "StaleDatabase"
        import procs
        procs.wait_for(lambda: stale(self.get_policy()), timeout=60, interval=0.2,
                       what="Ready reason StaleDatabase")
        pol = self.get_policy()
        ready = self.condition(pol, "Ready")
        self.assertEqual(ready["status"], "True")
        self.assertIn("not an advisory artifact", ready["message"])
        self.assertIn("keeping the last good database " + self.db_digest, ready["message"])
        self.assertEqual(pol["status"]["database"]["digest"], self.db_digest)
        self.assertEqual(pol["status"]["database"]["records"], self.db_records)
        self.assertEqual(pol["status"]["database"]["fetchedAt"], fetched)  # DB AGE keeps growing
        # the stale database is visible on its own condition, as kubectl shows it
        fresh = self.kube.kubectl(
            "get", "scanpolicy", "default", "-n", NS, "-o",
            'jsonpath={.status.conditions[?(@.type=="DatabaseFresh")].status}/'
            '{.status.conditions[?(@.type=="DatabaseFresh")].reason}').stdout.strip()
        self.assertEqual(fresh, "False/StaleDatabase")
        # the gate still scans with the last good database
        self.scanned_delivery("bad", "bad")
        obj = self.wait_reason("bad", "ScanFailed", ctype="Scanned")
        self.assertIn("CVE-2099-0001", self.condition(obj, "Scanned")["message"])
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/bad:bad", C))

    def test_database_with_service_account_pull_secrets(self):
        """spec.database.serviceAccountName: the database image is pulled from the htpasswd
        registry with the pull Secret a ServiceAccount of the policy's namespace lists, as
        ImageDelivery's; without an entry for the registry nothing is asked anonymously."""
        self.apply("apiVersion: v1\nkind: ServiceAccount\n"
                   f"metadata: {{name: scanner, namespace: {NS}}}\n"
                   "imagePullSecrets: [{name: customer-push}]\n")

        def policy_status(pred, what):
            last = {}

            def check():
                last["obj"] = self.get("by-sa", kind="scanpolicies")
                c = self.condition(last["obj"], "Ready")
                return c and pred(c)
            try:
                procs.wait_for(check, timeout=120, interval=0.2, what=what)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{json.dumps(last.get('obj', {}).get('status'))}")
            return last["obj"]

        seeded = len(self.requests(self.vendor))
        self.apply("apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
                   f"metadata: {{name: by-sa, namespace: {NS}}}\n"
                   "spec:\n  database:\n"
                   f"    image: {self.db_image}\n    insecure: true\n"
                   "    serviceAccountName: scanner\n")
        obj = policy_status(lambda c: c.get("reason") == "NoCredentials", "NoCredentials")
        self.assertEqual(
            self.condition(obj, "Ready")["message"],
            f"spec.database.serviceAccountName: no credentials for {self.vendor.host} in "
            f"imagePullSecrets of ServiceAccount {NS}/scanner")
        self.assertEqual(self.requests(self.vendor)[seeded:], [])
        # the vendor's pull Secret listed second (the first with an entry for the host is used);
        # ServiceAccounts are not watched, so this waits for the next look
        self.kube.kubectl("patch", "serviceaccount", "scanner", "-n", NS, "--type=merge", "-p",
                          json.dumps({"imagePullSecrets": [{"name": "customer-push"},
                                                           {"name": "vendor-pull"}]}))
        obj = policy_status(lambda c: c["status"] == "True", "Ready=True")
        self.assertEqual(obj["status"]["database"]["digest"], self.db_digest)
        self.assertEqual(obj["status"]["database"]["records"], self.db_records)
        # the API server refuses secretRef together with serviceAccountName
        cp = self.kube.kubectl(
            "apply", "-f", "-", check=False, input=(
                "apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
                f"metadata: {{name: both, namespace: {NS}}}\n"
                f"spec:\n  database:\n    image: {self.db_image}\n"
                "    secretRef: {name: vendor-pull}\n    serviceAccountName: scanner\n"))
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("spec.database: set at most one of secretRef and serviceAccountName",
                      cp.stderr)

    def test_fetched_at_survives_a_restart(self):
        """A new controller process loads the same database again (loadedAt moves) but the
        advisories are no younger: fetchedAt, and so DB AGE, stays; a new digest moves it."""
        self.scan_policy(rescan="2s")
        first = self.wait_policy_ready()["status"]["database"]
        self.ctl.stop()
        # (a load in the same second would leave loadedAt as it is, and this test blind)
        procs.wait_for(lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                       > first["loadedAt"], timeout=5, interval=0.1, what="the next second")
        self.ctl = Controller(self, self.kube, name="controller-2",
                              extra_args=self.controller_args)
        self.ctl.wait_ready()
        procs.wait_for(lambda: self.get_policy()["status"]["database"]["loadedAt"]
                       != first["loadedAt"], timeout=60, interval=0.2,
                       what="the new process to load the database")
        again = self.get_policy()["status"]["database"]
        self.assertEqual(again["digest"], first["digest"])
        self.assertEqual(again["fetchedAt"], first["fetchedAt"])
        # a new database under the same tag: fetched now
        adv = scanlib.advisory_dir(os.path.join(self.tmp, "advisories-2"))
        with open(os.path.join(adv, "zlib.json"), "w") as f:
            json.dump({"id": "CVE-2099-0300", "modified": "2026-01-01T00:00:00Z",
                       "affected": [{"package": {"ecosystem": "Debian:12", "name": "zlib"},
                                     "ranges": [{"type": "ECOSYSTEM", "events": [
                                         {"introduced": "0"}, {"fixed": "1:1.3.dfsg-1"}]}]}]}, f)
        digest2, _ = scanlib.db_push(adv, self.db_image, creds=V)
        procs.wait_for(lambda: self.get_policy()["status"]["database"]["digest"] == digest2,
                       timeout=60, interval=0.3, what="the new database loaded")
        new = self.get_policy()["status"]["database"]
        self.assertEqual(new["fetchedAt"], new["loadedAt"])
        self.assertGreater(new["fetchedAt"], first["fetchedAt"])

    def test_empty_database_is_refused(self):
        """A folder without a single advisory record (documentation only) passes nothing: the
        ScanPolicy is not Ready, `db push` pushes nothing, `scan` gives no verdict."""
        empty = os.path.join(self.tmp, "empty-advisories")
        os.makedirs(empty)
        with open(os.path.join(empty, "README.md"), "w") as f:
            f.write("advisories go here\n")
        self.apply(
            "apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
            f"metadata: {{name: empty, namespace: {NS}}}\n"
            f"spec:\n  database:\n    path: {empty}\n  severityThreshold: Low\n")
        c = procs.wait_for(
            lambda: (lambda c: c if c and c.get("reason") == "DatabaseEmpty" else None)(
                self.condition(self.get("empty", kind="scanpolicies"), "Ready")),
            timeout=60, interval=0.2, what="Ready reason DatabaseEmpty")
        self.assertEqual(c["status"], "False")
        self.assertIn(empty, c["message"])
        self.assertIn("no advisory records", c["message"])
        self.assertIn("README.md", c["message"])
        self.assertNotIn("database", self.get("empty", kind="scanpolicies").get("status", {}))
        # the CLI: exit 2 naming the folder, nothing pushed, no PASS
        target = f"{self.vendor.host}/security/empty:v1"
        r = subprocess.run([procs.SEALIFT, "db", "push", empty, target, "--insecure", "--creds",
                            V], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"{empty}: no advisory records", r.stderr)
        self.assertFalse(self.exists(target, V))
        r = scanlib.scan(f"{self.vendor.host}/acme/app:bad", empty, creds=V,
                         extra=["--fail-on", "low", "--format", "table"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn(f"advisory database {empty}: no advisory records", r.stderr)

    def test_cli_result_says_what_was_evaluated(self):
        args = ["--format", "table"]
        r = scanlib.scan(f"{self.vendor.host}/acme/app:bad", self.db_image, creds=V, extra=args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("PASS", r.stdout)
        self.assertIn("Result: not evaluated (no --fail-on given): 1 Critical", r.stdout)
        r = scanlib.scan(f"{self.vendor.host}/acme/app:bad", self.db_image, creds=V,
                         extra=args + ["--fail-on", "High"])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("Result: FAIL (findings at or above High: 1)", r.stdout)
        r = scanlib.scan(f"{self.vendor.host}/acme/app:good", self.db_image, creds=V,
                         extra=args + ["--fail-on", "High"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Result: PASS (nothing at or above High)", r.stdout)

    def test_cli_scan_registry_images(self):
        bad = scanlib.scan(f"{self.vendor.host}/acme/app:bad", self.db_image, creds=V,
                           extra=["--fail-on", "High"])
        self.assertEqual(bad.returncode, 1, bad.stderr)
        rep = json.loads(bad.stdout)
        ids = sorted(v["id"] for v in rep["vulnerabilities"] if v["package"] == "libc6")
        self.assertEqual(ids, ["CVE-2023-4911", "CVE-2024-2961", "CVE-2099-0001"])
        self.assertEqual(rep["database"]["digest"], self.db_digest)
        good = scanlib.scan(f"{self.vendor.host}/acme/app:good", self.db_image, creds=V,
                            extra=["--fail-on", "High"])
        self.assertEqual(good.returncode, 0, good.stderr)
        self.assertEqual([v["id"] for v in json.loads(good.stdout)["vulnerabilities"]
                          if v["package"] == "libc6"], [])
        # wrong credentials: a registry error, exit 3, saying so
        r = scanlib.scan(f"{self.vendor.host}/acme/app:good", self.db_image, creds="vendor:nope")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("rejected the credentials", r.stderr)
        # a missing tag: input error
        r = scanlib.scan(f"{self.vendor.host}/acme/app:absent", self.db_image, creds=V)
        self.assertEqual(r.returncode, 2, r.stderr)
        # the registry serves other bytes than the digest names (the clean image's layer under
        # the vulnerable image's layer digest): no verdict, a digest error
        layout = os.path.join(self.tmp, "deb-layout")
        bad_layer, good_layer = (self.layer_digest(layout, t) for t in ("bad", "good"))
        with open(self.blob_path(good_layer), "rb") as f:
            good_bytes = f.read()
        with open(self.blob_path(bad_layer), "wb") as f:
            f.write(good_bytes)
        r = scanlib.scan(f"{self.vendor.host}/acme/app:bad", self.db_image, creds=V,
                         extra=["--fail-on", "High"])
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("content has digest", r.stderr)
        self.assertEqual(r.stdout, "")

    def blob_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.vendor.dir, "data", "docker", "registry", "v2", "blobs", "sha256",
                            hexd[:2], hexd, "data")

    @staticmethod
    def layer_digest(layout, tag):
        with open(os.path.join(layout, "index.json")) as f:
            index = json.load(f)
        for m in index["manifests"]:
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
                with open(os.path.join(layout, "blobs", "sha256", m["digest"][7:])) as f:
                    return json.load(f)["layers"][0]["digest"]
        raise AssertionError(f"no {tag} in {layout}")


if __name__ == "__main__":
    unittest.main()
