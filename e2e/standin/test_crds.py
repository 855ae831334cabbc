"""sealift's real manifests (crds/) against the stand-in: `kubectl apply -k crds/` installs
them, `kubectl get sealift` lists the category, and objects breaking the DESIGN.md contract are
refused with messages naming the field. Skipped while crds/ has no kustomization."""
import json
import os
import unittest

import procs
from kube import StandIn
from standin_fixtures import write

CRDS = os.path.join(procs.SRC, "crds")


@unittest.skipUnless(os.path.exists(os.path.join(CRDS, "kustomization.yaml")),
                     "crds/kustomization.yaml not written yet")
class CrdsTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.api = StandIn(self.tmp).start(self)
        self.api.kubectl("apply", "-k", CRDS)
        for crd in ("imagedeliveries", "deploypolicies", "scanpolicies", "signingkeys",
                    "gitsources"):
            self.api.kubectl("wait", "--for=condition=Established",
                             f"crd/{crd}.sealift.dev", "--timeout=30s")
        # kubectl caches discovery from before the CRDs existed; api-resources refreshes it
        self.api.kubectl("api-resources", "--api-group=sealift.dev")

    def test_category_and_valid_objects(self):
        self.assertIn("No resources found", self.api.kubectl("get", "sealift", "-A").stderr)
        imd = {"apiVersion": "sealift.dev/v1beta1", "kind": "ImageDelivery",
               "metadata": {"name": "app", "namespace": "default"},
               "spec": {"source": {"image": "registry.vendor.example/acme/app",
                                   "tags": ["1.4.0"]},
                        "targets": [{"image": "registry.customer.example/mirror/app"}]}}
        dp = {"apiVersion": "sealift.dev/v1beta1", "kind": "DeployPolicy",
              "metadata": {"name": "strict"},
              "spec": {"enforcement": "Deny", "rules": {"requireDigest": True}}}
        out = self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "ok.yaml"), imd, dp))
        self.assertIn("imagedelivery.sealift.dev/app created", out.stdout)
        self.assertIn("deploypolicy.sealift.dev/strict created", out.stdout)
        listing = self.api.kubectl("get", "sealift", "-A").stdout
        self.assertIn("app", listing)
        self.assertIn("strict", listing)
        cols = self.api.kubectl("get", "imagedeliveries").stdout.splitlines()[0].split()
        self.assertEqual(cols[:2], ["NAME", "SOURCE"])
        self.assertIn("READY", cols)
        got = json.loads(self.api.kubectl("get", "imd", "app", "-o", "json").stdout)
        self.assertEqual(got["metadata"]["generation"], 1)

    def test_contract_violations_name_the_field(self):
        no_image = {"apiVersion": "sealift.dev/v1beta1", "kind": "ImageDelivery",
                    "metadata": {"name": "bad"},
                    "spec": {"source": {"tags": ["1"]},
                             "targets": [{"image": "registry.customer.example/m/app"}]}}
        cp = self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "b1.yaml"),
                                                   no_image), check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("spec.source.image: Required value", cp.stderr)
        enf = {"apiVersion": "sealift.dev/v1beta1", "kind": "DeployPolicy",
               "metadata": {"name": "bad"}, "spec": {"enforcement": "Sometimes"}}
        cp = self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "b2.yaml"), enf),
                              check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn('spec.enforcement: Unsupported value: "Sometimes": supported values: '
                      '"Deny", "Warn", "Audit"', cp.stderr)
        unknown = dict(no_image, spec={"source": {"image": "r/a"}, "targets": [{"image": "r/b"}],
                                       "colour": "red"})
        cp = self.api.kubectl("apply", "-f", write(os.path.join(self.tmp, "b3.yaml"), unknown),
                              check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn('unknown field "spec.colour"', cp.stderr)


if __name__ == "__main__":
    unittest.main()
