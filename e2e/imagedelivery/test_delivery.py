"""ImageDelivery end to end: delivery to two targets, tagPattern, digest pinning, platform
filtering, immutable tags, printer columns and the steady state, against real docker-registry
accounts, the real API server (hack/cluster.sh) driven by kubectl, and `sealift controller`. Digests are checked with
skopeo (sha256 of the manifest bytes)."""
import json
import unittest

import registry as reg
from imdlib import CUSTOMER, NS, ImdTestCase

C = ":".join(CUSTOMER)


class DeliveryTest(ImdTestCase):
    def test_two_targets_digests_equal_source(self):
        d10 = self.seed_image("1.0", seed=1)
        d11 = self.seed_image("1.1", seed=2)
        self.delivery("app", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push"),
                       (f"{self.customer.host}/second/app", "customer-push")],
                      extra_source="    tags: ['1.0', '1.1']\n")
        obj = self.wait_ready("app")
        for repo in ("mirror/app", "second/app"):
            self.assertEqual(self.digest_at(f"{self.customer.host}/{repo}:1.0", C), d10)
            self.assertEqual(self.digest_at(f"{self.customer.host}/{repo}:1.1", C), d11)
            reg.inspect(f"{self.customer.host}/{repo}:1.1", C)  # config and layers readable
        st = obj["status"]
        # counts of gates the spec does not have are absent, not zero
        self.assertEqual(st["summary"], {"delivered": 2})
        self.assertEqual([i["tag"] for i in st["images"]], ["1.0", "1.1"])
        self.assertEqual(st["images"][0]["digest"], d10)
        self.assertEqual([t["digest"] for t in st["images"][1]["targets"]], [d11, d11])
        self.assertEqual(st["images"][1]["targets"][1]["image"],
                         f"{self.customer.host}/second/app:1.1")
        self.assertEqual(self.condition(obj, "Synced")["status"], "True")
        self.assertIsNone(self.condition(obj, "Verified"))
        # printer columns, as an operator sees them
        out = self.kube.kubectl("get", "imd", "-n", NS).stdout
        lines = out.strip().splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "SOURCE", "DELIVERED", "BLOCKED", "SIGNED",
                                            "READY", "STATUS", "LAST", "CHECK", "AGE"])
        # LAST CHECK is the age of status.lastCheckTime (kubectl shows "5s", "2m3s", ...)
        self.assertRegex(lines[1][lines[0].index("LAST CHECK"):].split()[0], r"^[0-9]+[smhd]")
        self.assertIn("2 tag(s) delivered to 2 target(s)", lines[1])
        # BLOCKED and SIGNED stay empty without a scan policy and a signing key
        self.assertEqual(lines[1].split()[:4],
                         ["app", f"{self.vendor.host}/acme/app", "2", "True"])
        # a Delivered event was recorded
        events = self.kube.kubectl("get", "events", "-n", NS, "-o", "json").stdout
        self.assertIn("Delivered", events)

    def test_tag_pattern_and_new_tag(self):
        d1 = self.seed_image("1.4.0", seed=1)
        self.seed_image("1.5.0", seed=2)
        self.seed_image("latest", seed=3)
        self.delivery("pat", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tagPattern: '^1\\.4\\.[0-9]+$'\n", interval="2s")
        obj = self.wait_ready("pat")
        self.assertEqual([i["tag"] for i in obj["status"]["images"]], ["1.4.0"])
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.4.0", C), d1)
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:1.5.0", C))
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:latest", C))
        # the vendor pushes a new matching tag: delivered at the next interval
        d2 = self.seed_image("1.4.1", seed=4)
        self.wait_for_status("pat",
                             lambda o: o["status"].get("summary", {}).get("delivered") == 2,
                             what="summary.delivered 2")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.4.1", C), d2)

    def test_tag_pattern_dialect_and_no_match(self):
        """The regex style Flux users write (\\d) selects the tags it says; what POSIX cannot
        express is refused by name; a pattern matching nothing is not success."""
        d1 = self.seed_image("1.4.0", seed=1)
        d2 = self.seed_image("1.4.12", seed=2)
        self.seed_image("1.5.0", seed=3)
        self.seed_image("v1.4.3", seed=4)
        self.delivery("perl", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tagPattern: '^1\\.4\\.\\d+$'\n")
        obj = self.wait_ready("perl")
        self.assertEqual([i["tag"] for i in obj["status"]["images"]], ["1.4.0", "1.4.12"])
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.4.0", C), d1)
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.4.12", C), d2)
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:1.5.0", C))
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:v1.4.3", C))

        self.delivery("nocase", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/other", "customer-push")],
                      extra_source="    tagPattern: '(?i)^V1\\.4'\n")
        obj = self.wait_reason("nocase", "InvalidSpec")
        ready = self.condition(obj, "Ready")
        self.assertEqual(ready["status"], "False")
        self.assertIn("spec.source.tagPattern", ready["message"])
        self.assertIn("(?i)", ready["message"])
        self.assertIn("POSIX extended regular expression", ready["message"])

        self.delivery("none", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/other", "customer-push")],
                      extra_source="    tagPattern: '^2\\.'\n", interval="2s")
        obj = self.wait_reason("none", "NoMatchingTags")
        ready = self.condition(obj, "Ready")
        self.assertEqual(ready["status"], "False")
        self.assertIn('"^2\\."', ready["message"])
        self.assertIn("matches none of the 4 tag(s)", ready["message"])
        self.assertIn("1.4.0", ready["message"])
        self.assertFalse(any(p.startswith("/v2/mirror/other/")
                             for _, p in self.requests(self.customer)))
        # not stalled: a matching tag pushed later is delivered at the interval
        d3 = self.seed_image("2.0", seed=5)
        self.wait_ready("none")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/other:2.0", C), d3)

    def test_digest_pinning_with_target_tag(self):
        d = self.seed_image("build-77", seed=5)
        self.delivery("pin", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source=f"    digest: {d}\n", extra_spec="  targetTag: '2.0.0'\n")
        obj = self.wait_ready("pin")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:2.0.0", C), d)
        self.assertEqual(obj["status"]["images"][0]["tag"], "2.0.0")
        self.assertEqual(obj["status"]["images"][0]["digest"], d)
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:build-77", C))

    def test_platforms_filter_on_multiarch_index(self):
        idx, amd, arm = self.seed_multiarch("3.0")
        self.delivery("multi", f"{self.vendor.host}/acme/multi",
                      [(f"{self.customer.host}/mirror/multi", "customer-push")],
                      extra_source="    tags: ['3.0']\n",
                      extra_spec="  platforms: ['linux/amd64']\n")
        obj = self.wait_ready("multi")
        raw = reg.inspect_raw(f"{self.customer.host}/mirror/multi:3.0", C)
        index = json.loads(raw)
        self.assertEqual([m["digest"] for m in index["manifests"]], [amd])
        self.assertTrue(reg.manifest_exists(self.customer.host, "mirror/multi", amd, C))
        self.assertFalse(reg.manifest_exists(self.customer.host, "mirror/multi", arm, C))
        img = obj["status"]["images"][0]
        self.assertEqual(img["digest"], idx)  # the source index
        self.assertEqual(img["targets"][0]["digest"], reg.sha256_digest(raw))
        self.assertNotEqual(reg.sha256_digest(raw), idx)

    def test_immutable_tag_conflict_then_mutable(self):
        old = self.seed_image("1.0", seed=1)
        self.delivery("imm", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['1.0']\n", interval="2s")
        self.wait_ready("imm")
        new = self.seed_image("1.0", seed=9)  # the vendor moves the tag
        self.assertNotEqual(old, new)
        obj = self.wait_reason("imm", "ImmutableTagConflict")
        ready = self.condition(obj, "Ready")
        self.assertEqual(ready["status"], "False")
        self.assertIn("immutableTags", ready["message"])
        self.assertEqual(self.condition(obj, "Synced")["reason"], "ImmutableTagConflict")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.0", C), old)
        self.assertEqual(obj["status"]["images"][0]["targets"][0]["digest"], old)
        # with immutableTags: false the target tag follows the source
        self.kube.kubectl("patch", "imd", "imm", "-n", NS, "--type=merge",
                          "-p", '{"spec":{"immutableTags":false}}')
        obj = self.wait_ready("imm")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.0", C), new)
        self.assertEqual(obj["status"]["images"][0]["targets"][0]["digest"], new)

    def test_steady_state_only_heads_and_last_check_time(self):
        """A check that changes nothing sends manifest HEADs only and writes status once,
        moving lastCheckTime alone; that status write (which the controller's own watch
        sees) does not start another check: over two intervals, two checks' requests."""
        self.seed_image("1.0", seed=1)
        self.seed_image("1.1", seed=2)
        self.delivery("steady", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['1.0', '1.1']\n", interval="4s")
        obj = self.wait_ready("steady")
        self.assertIn("lastCheckTime", obj["status"])

        def next_check(after):
            return self.wait_for_status(
                "steady", lambda o: o["status"].get("lastCheckTime") != after,
                what=f"lastCheckTime to move from {after}")
        # a first re-check after the delivery; from here on nothing changes
        settled = next_check(obj["status"]["lastCheckTime"])
        before = len(self.requests(self.customer))
        third = next_check(settled["status"]["lastCheckTime"])
        fourth = next_check(third["status"]["lastCheckTime"])
        reqs = self.requests(self.customer)[before:]
        # two checks: one manifest HEAD per tag on the target each, nothing else (an extra check
        # started by the status write would double this)
        self.assertEqual(len(reqs), 2 * 2, reqs)
        self.assertEqual(sorted(set(m for m, _ in reqs)), ["HEAD"], reqs)
        self.assertTrue(all("/manifests/" in p for _, p in reqs), reqs)
        # each check wrote status once, with nothing but lastCheckTime moved
        for st in (third["status"], fourth["status"]):
            self.assertEqual({k: v for k, v in st.items() if k != "lastCheckTime"},
                             {k: v for k, v in settled["status"].items()
                              if k != "lastCheckTime"})
        self.assertEqual(fourth["status"]["lastSyncTime"], obj["status"]["lastSyncTime"])
        self.assertGreater(fourth["status"]["lastCheckTime"], third["status"]["lastCheckTime"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
