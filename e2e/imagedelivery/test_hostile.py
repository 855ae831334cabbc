"""ImageDelivery against a hostile source registry, and the controller's secure defaults.

- With the controller's defaults (no --insecure-registry), `insecure: true` is refused: Ready=False
  InsecureRegistryNotAllowed naming the field and the flag, and no request reaches the registry.
- A source whose tag list holds "1.4./../../../../victim/app/manifests/latest" (a proxy in front of
  the vendor registry adds it) with an unanchored tagPattern: the tag is reported, and nothing is
  written to the customer's registry, least of all to victim/app.
- Two Secrets for the same long host name (the first 200 bytes of the client identity equal): the
  one with a wrong password must not borrow the client, and the credentials, of the other.
- A source that drips its answers at 2 bytes a second: the pass ends at --registry-timeout with
  Ready=False RegistryTimeout naming the registry, and the only worker (--concurrency 1) goes on
  to deliver another ImageDelivery.
"""
import json
import os
import unittest

import hostile
import registry as reg
from imdlib import CUSTOMER, NS, VENDOR, ImdTestCase

C = ":".join(CUSTOMER)
BAD_TAG = "1.4./../../../../victim/app/manifests/latest"
# a 201-byte host name that curl resolves to loopback (*.localhost)
LONG_HOST = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + ".localhost"


class SecureDefaultsTest(ImdTestCase):
    controller_lab = False

    def test_insecure_refused_by_default(self):
        self.seed_image("1.0", seed=1)
        before = len(self.requests(self.vendor))
        self.delivery("plainhttp", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['1.0']\n")
        obj = self.wait_reason("plainhttp", "InsecureRegistryNotAllowed")
        ready = self.condition(obj, "Ready")
        self.assertEqual(ready["status"], "False")
        self.assertIn("spec.source.insecure", ready["message"])
        self.assertIn("--insecure-registry", ready["message"])
        self.assertIn(self.vendor.host, ready["message"])
        self.assertEqual(len(self.requests(self.vendor)), before, "nothing was sent")
        self.assertEqual(self.requests(self.customer), [])


class InsecureIsPlainHttpTest(ImdTestCase):
    """`insecure: true` allows plain http and nothing more: a target registry that answers with
    TLS and a certificate no trusted CA signed (what a machine in the middle presents) gets no
    credentials and no image; `insecureSkipTLSVerify: true` is the explicit, separate choice."""

    def test_insecure_keeps_tls_verification(self):
        _, crt, key = reg.make_tls(os.path.join(self.tmp, "tls"))
        mitm = reg.Registry(self, "mitm", users={"tls": "tls-pw"}, tls=(crt, key))
        self.docker_secret("tls-push", mitm.host, "tls", "tls-pw")
        self.seed_image("1.0", seed=1)
        target = f"{mitm.host}/mirror/app"

        def apply(tls_line):
            self.apply(
                "apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
                f"metadata: {{name: tlsdelivery, namespace: {NS}}}\n"
                "spec:\n  source:\n"
                f"    image: {self.vendor.host}/acme/app\n    insecure: true\n"
                "    secretRef: {name: vendor-pull}\n    tags: ['1.0']\n"
                f"  targets:\n  - image: {target}\n    {tls_line}\n"
                "    secretRef: {name: tls-push}\n  interval: 1m\n")

        apply("insecure: true")
        obj = self.wait_for_status(
            "tlsdelivery", lambda o: (self.condition(o, "Ready") or {}).get("status") == "False"
            and o["status"].get("observedGeneration") == o["metadata"]["generation"],
            what="Ready=False")
        message = self.condition(obj, "Ready")["message"]
        self.assertIn(mitm.host, message)
        self.assertIn("certificate", message)
        self.assertFalse(self.exists(f"{target}:1.0", "tls:tls-pw"))
        sent = [r for r in self.requests(mitm) if r[0] in ("PUT", "POST", "PATCH")]
        self.assertEqual(sent, [], "nothing was uploaded through unverified TLS")

        apply("insecureSkipTLSVerify: true")
        self.wait_ready("tlsdelivery")
        self.assertTrue(self.exists(f"{target}:1.0", "tls:tls-pw"))


class HostileTagTest(ImdTestCase):
    def test_tag_leaving_the_repository(self):
        d = self.seed_image("1.4.0", seed=1)
        # what the attacker wants written over the customer's victim/app:latest
        self.seed_image("latest", seed=7, repo="victim/app")
        # the customer's own image, which the bad tag aims at
        layout = reg.Layout(os.path.join(self.tmp, "victim"))
        victim = layout.image([10 * 1024], seed=9)
        layout.tag(victim, "latest")
        reg.push(layout.path, "latest", f"{self.customer.host}/victim/app:latest", C)
        self.assertNotEqual(victim["digest"], d)
        seeded = len(self.requests(self.customer))

        def add_bad_tag(path, data):
            if path.endswith("/tags/list"):
                listing = json.loads(data)
                listing["tags"] = (listing.get("tags") or []) + [BAD_TAG]
                return json.dumps(listing).encode()
            return data
        src = hostile.Server(self, lambda srv, h: hostile.proxy(h, self.vendor.host, add_bad_tag))
        self.docker_secret("hostile-pull", src.host, *VENDOR)
        self.delivery("tagattack", f"{src.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tagPattern: '1.4.'\n", source_secret="hostile-pull")
        obj = self.wait_reason("tagattack", "InvalidContent")
        msg = self.condition(obj, "Ready")["message"]
        self.assertIn("invalid tag name", msg)
        self.assertIn(BAD_TAG, msg)
        self.assertIn(src.host, msg)
        self.assertEqual(self.digest_at(f"{self.customer.host}/victim/app:latest", C),
                         victim["digest"])
        writes = [r for r in self.requests(self.customer)[seeded:]
                  if r[0] in ("PUT", "POST", "PATCH", "DELETE")]
        self.assertEqual(writes, [], "nothing written to the customer's registry")


class LongHostTest(ImdTestCase):
    controller_args = ("--insecure-registry", LONG_HOST)

    def test_long_host_names_do_not_share_credentials(self):
        d = self.seed_image("1.0", seed=1)
        src = f"{LONG_HOST}:{self.vendor.host.split(':')[1]}"
        self.docker_secret("tenant-a", src, *VENDOR)
        self.docker_secret("tenant-b", src, VENDOR[0], "not-the-password")
        self.delivery("tenant-a", f"{src}/acme/app",
                      [(f"{self.customer.host}/mirror/a", "customer-push")],
                      extra_source="    tags: ['1.0']\n", source_secret="tenant-a")
        self.wait_ready("tenant-a")
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/a:1.0", C), d)
        self.delivery("tenant-b", f"{src}/acme/app",
                      [(f"{self.customer.host}/mirror/b", "customer-push")],
                      extra_source="    tags: ['1.0']\n", source_secret="tenant-b")
        obj = self.wait_reason("tenant-b", "AuthenticationFailed")
        self.assertIn("spec.source", self.condition(obj, "Ready")["message"])
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/b:1.0", C))


class SlowRegistryTest(ImdTestCase):
    controller_args = ("--registry-timeout", "3s", "--concurrency", "1")

    def test_slow_drip_source_frees_the_worker(self):
        def registry(srv, h):
            if h.path == "/v2/":
                hostile.send(h, 200, {})
            else:
                hostile.drip_headers(srv, h)
        slow = hostile.Server(self, registry)
        self.docker_secret("slow-pull", slow.host, *VENDOR)
        self.delivery("slow", f"{slow.host}/acme/app",
                      [(f"{self.customer.host}/mirror/app", "customer-push")],
                      extra_source="    tags: ['1.0']\n", source_secret="slow-pull")
        obj = self.wait_reason("slow", "RegistryTimeout", timeout=90)
        ready = self.condition(obj, "Ready")
        self.assertEqual(ready["status"], "False")
        self.assertIn(slow.host, ready["message"])
        self.assertIn("--registry-timeout", ready["message"])
        # the one worker is free again: another delivery goes through
        d = self.seed_image("1.0", seed=2)
        self.delivery("fine", f"{self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/fine", "customer-push")],
                      extra_source="    tags: ['1.0']\n")
        self.wait_ready("fine", timeout=90)
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/fine:1.0", C), d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
