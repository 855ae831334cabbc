#!/usr/bin/python3
"""Tests of hack/apidoc.py on a copy of crds/ and docs/api.md: the check passes on the tree as
committed, fails when a CRD description or bound changes without docs/api.md, fails naming the
field when a description is missing, and the rewrite mode brings docs/api.md back in line.
argv[1] is the source root."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

SRC = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..",
                                                             "..", "..")
APIDOC = os.path.join(SRC, "hack", "apidoc.py")
SK = "crds/sealift.dev_signingkeys.yaml"


class ApiDocTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sl-apidoc-")
        self.addCleanup(shutil.rmtree, self.root)
        shutil.copytree(os.path.join(SRC, "crds"), os.path.join(self.root, "crds"))
        os.makedirs(os.path.join(self.root, "docs"))
        shutil.copy(os.path.join(SRC, "docs", "api.md"), os.path.join(self.root, "docs"))

    def apidoc(self, *args):
        return subprocess.run(["/usr/bin/python3", APIDOC, "--root", self.root, *args],
                              capture_output=True, text=True, timeout=60)

    def edit_signingkey(self, change):
        path = os.path.join(self.root, SK)
        with open(path) as f:
            doc = yaml.safe_load(f)
        change(doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"])
        with open(path, "w") as f:
            yaml.safe_dump(doc, f)

    def api_md(self):
        with open(os.path.join(self.root, "docs", "api.md")) as f:
            return f.read()

    def test_committed_tree_is_up_to_date(self):
        cp = self.apidoc("--check")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("| `spec.mode` |", self.api_md())

    def test_changed_schema_fails_the_check_until_rewritten(self):
        def change(spec):
            spec["properties"]["mode"]["description"] = "A new description of the mode."
            spec["properties"]["secretRef"]["properties"]["name"]["maxLength"] = 99
        self.edit_signingkey(change)
        cp = self.apidoc("--check")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("docs/api.md: the field reference is out of date with crds/", cp.stderr)
        self.assertNotIn("A new description of the mode.", self.api_md())  # --check writes nothing
        cp = self.apidoc()
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("A new description of the mode.", self.api_md())
        self.assertIn("length ≤ 99", self.api_md())
        self.assertEqual(self.apidoc("--check").returncode, 0)

    def test_missing_description_is_named(self):
        self.edit_signingkey(lambda spec: spec["properties"]["algorithm"].pop("description"))
        for args in (("--check",), ()):
            cp = self.apidoc(*args)
            self.assertEqual(cp.returncode, 1)
            self.assertIn("crds: SigningKey v1alpha1: spec.algorithm: no description", cp.stderr)

    def test_missing_markers(self):
        path = os.path.join(self.root, "docs", "api.md")
        text = self.api_md().replace("<!-- END GENERATED FIELD REFERENCE -->", "")
        with open(path, "w") as f:
            f.write(text)
        cp = self.apidoc("--check")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("markers", cp.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
