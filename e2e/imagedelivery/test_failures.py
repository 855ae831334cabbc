"""ImageDelivery end to end when things go wrong: wrong credentials, a missing Secret, an
unparseable reference, a target registry killed in the middle of a copy and restarted, and a
fault-injecting proxy (503, 429 with Retry-After, dropped connections) in front of the target.
Every case must end with a clear Ready condition, and deliveries that can complete must complete
with digests equal to the source's (checked with skopeo)."""
import time
import unittest

import registry as reg
from imdlib import CUSTOMER, KB, NS, ImdTestCase

C = ":".join(CUSTOMER)


class FailureTest(ImdTestCase):
    def test_wrong_credentials_401(self):
        self.seed_image("1.0", seed=1)
        self.docker_secret("bad-push", self.customer.host, "customer", "not-the-password")
        self.delivery("badcreds", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "bad-push")],
                      extra_source="    tags: ['1.0']\n")
        obj = self.wait_reason("badcreds", "AuthenticationFailed")
        ready = self.condition(obj, "Ready")
        self.assertEqual(ready["status"], "False")
        self.assertRegex(ready["message"].lower(), "401|unauthorized")
        self.assertIn("spec.targets[0]", ready["message"])
        self.assertNotIn("not-the-password", str(obj))
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/app:1.0", C))
        # fixing the Secret is picked up (secondary watch on Secrets) and the delivery completes
        self.kube.kubectl("delete", "secret", "bad-push", "-n", NS)
        self.docker_secret("bad-push", self.customer.host, *CUSTOMER)
        self.wait_ready("badcreds", timeout=90)
        self.assertTrue(self.exists(f"{self.customer.host}/mirror/app:1.0", C))

    def test_wrong_password_backs_off(self):
        """A wrong target password must not be tried again and again: registries that count
        failed logins lock the account. One failed login per pass, and passes 30 s apart."""
        for i, tag in enumerate(("1.0", "1.1", "1.2")):
            self.seed_image(tag, seed=i + 1)
        self.docker_secret("wrong-push", self.customer.host, "customer", "wrong-password")
        self.delivery("lockout", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "wrong-push")],
                      extra_source="    tags: ['1.0', '1.1', '1.2']\n", interval="1s")
        obj = self.wait_reason("lockout", "AuthenticationFailed")
        self.assertIn("rejected the credentials", self.condition(obj, "Ready")["message"])
        time.sleep(20)
        # docker-registry logs every rejected password (a request without credentials is only
        # "invalid authorization credential"): the password went out once or twice, not a burst
        failed = self.customer.log_text().count('error authenticating user \\"customer\\"')
        self.assertGreaterEqual(failed, 1)
        self.assertLessEqual(failed, 3, f"{failed} failed logins in about 20 s")
        obj = self.get("lockout")
        self.assertEqual(self.condition(obj, "Ready")["reason"], "AuthenticationFailed")

    def test_missing_secret_then_created(self):
        d = self.seed_image("1.0", seed=1)
        self.delivery("nosecret", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "later-push")],
                      extra_source="    tags: ['1.0']\n")
        obj = self.wait_reason("nosecret", "SecretNotFound")
        msg = self.condition(obj, "Ready")["message"]
        self.assertIn("spec.targets[0].secretRef.name", msg)
        self.assertIn('"later-push"', msg)
        self.docker_secret("later-push", self.customer.host, *CUSTOMER)
        self.wait_ready("nosecret")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.0", C), d)

    def test_unparseable_reference_and_missing_tag(self):
        self.seed_image("1.0", seed=1)
        self.delivery("badref", "Registry.Example/UPPER CASE//app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['1.0']\n")
        obj = self.wait_reason("badref", "InvalidSpec")
        self.assertIn("spec.source.image", self.condition(obj, "Ready")["message"])
        # a tag the vendor never pushed: Ready=False TagNotFound naming the tag
        self.delivery("notag", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['1.0', '9.9']\n")
        obj = self.wait_reason("notag", "TagNotFound")
        self.assertIn("9.9", self.condition(obj, "Ready")["message"])
        self.assertTrue(self.exists(f"{self.customer.host}/mirror/app:1.0", C))
        # still running: the controller did not crash on any of this
        self.assertTrue(self.ctl.proc.alive())

    def test_target_killed_mid_copy_and_restarted(self):
        d = self.seed_image("big", seed=7, layers=(6 * 1024 * KB, 6 * 1024 * KB, 6 * 1024 * KB))
        self.delivery("crash", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['big']\n")
        # kill the target as soon as the first blob upload starts
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(m == "POST" and "/blobs/uploads/" in p
                   for m, p in self.requests(self.customer)):
                break
            time.sleep(0.005)
        self.customer.kill()
        # killed before the tag was written: the copy really was interrupted
        self.assertFalse(any(m == "PUT" and p.endswith("/manifests/big")
                             for m, p in self.requests(self.customer)))
        time.sleep(2)
        self.customer.start()
        obj = self.wait_ready("crash", timeout=120)
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:big", C), d)
        reg.inspect(f"{self.customer.host}/mirror/app:big", C)  # every blob in place
        self.assertEqual(obj["status"]["images"][0]["targets"][0]["digest"], d)

    def test_fault_proxy_in_front_of_target(self):
        d = self.seed_image("1.0", seed=3, layers=(300 * KB, 200 * KB))
        proxy = reg.FaultProxy(self, self.customer.host, "mixed", 9)
        self.docker_secret("proxy-push", proxy.host, *CUSTOMER)
        self.delivery("faults", f"{self.vendor.host}/acme/app",
                      [(f"{proxy.host}/mirror/app", "proxy-push")],
                      extra_source="    tags: ['1.0']\n")
        obj = self.wait_ready("faults", timeout=120)
        self.assertEqual(proxy.faults(), 9)
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/app:1.0", C), d)
        reg.inspect(f"{self.customer.host}/mirror/app:1.0", C)
        self.assertEqual(obj["status"]["images"][0]["targets"][0]["digest"], d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
