"""The CRD schemas on a real kube-apiserver + etcd: every cross-field rule the reconcilers used to
find only at runtime (`Ready=False InvalidSpec`) is now an `x-kubernetes-validations` rule the API
server enforces at apply time, with a message that names the field; intervals have a lower bound;
`allowlist[].until` is a real date; duplicate targets are refused; every example still applies;
and list types let a second field manager add one allowlist entry with server-side apply while a
GitSource-like manager owns the rest. Server-side dry runs: nothing rejected is stored."""
import json
import os
import shutil
import unittest

import yaml

import procs
from kube import Cluster

DIGEST = "sha256:" + "ab" * 32

IMD = """apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {name: d, namespace: default}
spec:
"""
# kind -> a valid spec, and the cases: (what, spec YAML, text the API server's message must hold)
VALID = {
    "ImageDelivery": """  source: {image: registry.vendor.example/acme/app, tags: ["1.0"]}
  targets: [{image: registry.customer.example/mirror/app}]
""",
}

CASES = [
    # ImageDelivery
    ("ImageDelivery", "no tag selector", """spec:
  source: {image: registry.vendor.example/acme/app}
  targets: [{image: r.example/m/app}]
""", ["spec.source", "set exactly one of tags, tagPattern or digest"]),
    ("ImageDelivery", "tags and digest", f"""spec:
  source: {{image: registry.vendor.example/acme/app, tags: ["1.0"], digest: "{DIGEST}"}}
  targetTag: "1.0"
  targets: [{{image: r.example/m/app}}]
""", ["spec.source", "set exactly one of tags, tagPattern or digest"]),
    ("ImageDelivery", "targetTag without digest", """spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0"]}
  targetTag: "1.0"
  targets: [{image: r.example/m/app}]
""", ["spec.targetTag", "only allowed with"]),
    ("ImageDelivery", "digest without targetTag", f"""spec:
  source: {{image: registry.vendor.example/acme/app, digest: "{DIGEST}"}}
  targets: [{{image: r.example/m/app}}]
""", ["spec.targetTag", "required with source.digest"]),
    ("ImageDelivery", "source with a tag", """spec:
  source: {image: "registry.vendor.example/acme/app:1.0", tags: ["1.0"]}
  targets: [{image: r.example/m/app}]
""", ["spec.source.image", "without tag or digest"]),
    ("ImageDelivery", "target with a digest", f"""spec:
  source: {{image: registry.vendor.example/acme/app, tags: ["1.0"]}}
  targets: [{{image: "r.example/m/app@{DIGEST}"}}]
""", ["spec.targets[0].image", "without tag or digest"]),
    ("ImageDelivery", "vulnerability attestations without a ScanPolicy", """spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0"]}
  targets: [{image: r.example/m/app}]
  sign: {signingKeyRef: {name: k}, attestations: {vuln: true}}
""", ["spec.sign.attestations.vuln", "needs spec.scanPolicyRef"]),
    ("ImageDelivery", "an unknown SBOM format", """spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0"]}
  targets: [{image: r.example/m/app}]
  sign: {signingKeyRef: {name: k}, attestations: {sbom: syft}}
""", ["spec.sign.attestations.sbom", "Unsupported value"]),
    ("ImageDelivery", "duplicate targets", """spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0"]}
  targets: [{image: r.example/m/app}, {image: r.example/m/app}]
""", ["spec.targets[1]", "Duplicate value"]),
    ("ImageDelivery", "interval below 1s", """spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0"]}
  targets: [{image: r.example/m/app}]
  interval: 500ms
""", ["spec.interval", "at least 1s"]),
    ("ImageDelivery", "too many platforms", """spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0"]}
  targets: [{image: r.example/m/app}]
  platforms: [%s]
""" % ", ".join(f"linux/arch{i}" for i in range(17)), ["spec.platforms", "must have at most 16 items"]),
    ("ImageDelivery", "duplicate tags", """spec:
  source: {image: registry.vendor.example/acme/app, tags: ["1.0", "1.0"]}
  targets: [{image: r.example/m/app}]
""", ["spec.source.tags[1]", "Duplicate value"]),
    ("ImageDelivery", "overlong tagPattern", """spec:
  source: {image: registry.vendor.example/acme/app, tagPattern: "%s"}
  targets: [{image: r.example/m/app}]
""" % ("a" * 1025), ["spec.source.tagPattern", "1024"]),
    # ScanPolicy
    ("ScanPolicy", "image and path", """spec:
  database: {image: "r.example/db:1", path: /var/lib/db}
""", ["spec.database", "set exactly one of spec.database.image or spec.database.path"]),
    ("ScanPolicy", "neither image nor path", """spec:
  database: {}
""", ["spec.database", "set exactly one of"]),
    ("ScanPolicy", "builtin and harbor", """spec:
  scanner: {builtin: {}, harbor: {url: "https://adapter.example"}}
""", ["spec.scanner", "set at most one of spec.scanner.builtin or spec.scanner.harbor"]),
    ("ScanPolicy", "harbor with a database", """spec:
  database: {path: /var/lib/db}
  scanner: {harbor: {url: "https://adapter.example"}}
""", ["spec.scanner.harbor", "not used with spec.scanner.harbor"]),
    ("ScanPolicy", "harbor with a baseline check", """spec:
  baseline: {forbidRootUser: true}
  scanner: {harbor: {url: "https://adapter.example"}}
""", ["spec.scanner.harbor", "not used with spec.scanner.harbor"]),
    ("ScanPolicy", "until 2027-13-45", """spec:
  allowlist: [{id: CVE-2023-0001, until: "2027-13-45"}]
""", ["spec.allowlist[0].until", "must be a real date"]),
    ("ScanPolicy", "until 2027-02-29", """spec:
  allowlist: [{id: CVE-2023-0001, until: "2027-02-29T00:00:00Z"}]
""", ["spec.allowlist[0].until", "must be a real date"]),
    ("ScanPolicy", "until 2100-02-29", """spec:
  allowlist: [{id: CVE-2023-0001, until: "2100-02-29"}]
""", ["spec.allowlist[0].until", "must be a real date"]),
    ("ScanPolicy", "duplicate allowlist id", """spec:
  allowlist: [{id: CVE-2023-0001}, {id: CVE-2023-0001, reason: twice}]
""", ["spec.allowlist[1]", "Duplicate value"]),
    ("ScanPolicy", "rescanInterval 0s", """spec:
  rescanInterval: 0s
""", ["spec.rescanInterval", "at least 1s"]),
    # SigningKey
    ("SigningKey", "Generate without secretRef", """spec: {mode: Generate}
""", ["spec.secretRef", "required with mode Generate and Import"]),
    ("SigningKey", "Import without secretRef", """spec: {mode: Import}
""", ["spec.secretRef", "required with mode Generate and Import"]),
    ("SigningKey", "VerifyOnly with nothing to read", """spec: {mode: VerifyOnly}
""", ["spec.secretRef", "spec.publicKey.configMapRef is required with mode VerifyOnly"]),
    # GitSource
    ("GitSource", "branch and tag", """spec:
  url: https://git.example/x.git
  ref: {branch: main, tag: v1}
""", ["spec.ref", "set at most one of branch, tag or commit"]),
    ("GitSource", "path escaping the repository", """spec:
  url: https://git.example/x.git
  path: clusters/../../etc
""", ["spec.path", "no '..' components"]),
    ("GitSource", "interval 100ms", """spec:
  url: https://git.example/x.git
  interval: 100ms
""", ["spec.interval", "at least 1s"]),
    ("GitSource", "name over 63 characters", """spec:
  url: https://git.example/x.git
""", ["metadata.name of a GitSource is at most 63 characters"]),
    ("GitSource", "timeout 2h", """spec:
  url: https://git.example/x.git
  timeout: 2h
""", ["spec.timeout", "from 1s to 1h"]),
    ("GitSource", "verify mode Tag on a branch", """spec:
  url: https://git.example/x.git
  ref: {branch: main}
  verify: {mode: Tag, secretRef: {name: release-keys}}
""", ["spec.verify.mode", "set spec.ref.tag"]),
    # DeployPolicy
    ("DeployPolicy", "registry entry without a host", """spec:
  rules: {allowedRegistries: ["mirror/app"]}
""", ["spec.rules.allowedRegistries[0]", "registry host"]),
    ("DeployPolicy", "the same authority twice", f"""spec:
  verifyImages:
  - imageReferences: ["*"]
    authorities:
    - {{name: k, key: {{signingKeyRef: {{namespace: a, name: k, fingerprint: "{DIGEST}"}}}}}}
    - {{name: k, key: {{signingKeyRef: {{namespace: a, name: k, fingerprint: "{DIGEST}"}}}}}}
""", ["spec.verifyImages[0].authorities[1]", "Duplicate value"]),
]


def manifest(kind, spec, name="d"):
    meta = f"metadata: {{name: {name}, namespace: default}}\n"
    if kind == "DeployPolicy":
        meta = f"metadata: {{name: {name}}}\n"
    # every kind is written as v1beta1, its storage version (v1alpha1 writes need the
    # conversion webhook, which this test does not run)
    return f"apiVersion: sealift.dev/v1beta1\nkind: {kind}\n{meta}{spec}"


class SchemaTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()

    def k(self, *args, **kw):
        return self.kube.kubectl(*args, **kw)

    def dry_run(self, text):
        return self.k("apply", "--dry-run=server", "-f", "-", check=False, input=text)

    def test_every_field_has_a_served_description(self):
        """What `kubectl explain` shows: the API server's OpenAPI v3 for sealift.dev/v1alpha1
        carries a description on every field of every kind (walked in full), and kubectl explain
        prints the CRD's own text (docs/api.md's field reference is rendered from the same
        schemas by hack/apidoc.py)."""
        kinds = ("ImageDelivery", "ScanPolicy", "SigningKey", "DeployPolicy", "GitSource")

        def served():
            status, _, doc = self.kube.request("GET", "/openapi/v3/apis/sealift.dev/v1alpha1")
            if status != 200 or not isinstance(doc, dict):
                return None
            schemas = doc.get("components", {}).get("schemas", {})
            return schemas if all(f"dev.sealift.v1alpha1.{k}" in schemas for k in kinds) \
                else None
        schemas = procs.wait_for(served, timeout=60, what="sealift.dev in the served OpenAPI")
        missing, fields = [], 0

        def walk(node, path):
            nonlocal fields
            for name, child in (node.get("properties") or {}).items():
                fields += 1
                if not child.get("description", "").strip():
                    missing.append(f"{path}.{name}")
                walk(child, f"{path}.{name}")
            for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
                if isinstance(node.get(key), dict):
                    walk(node[key], path + suffix)
        for kind in kinds:
            walk(schemas[f"dev.sealift.v1alpha1.{kind}"], kind)
        self.assertEqual(missing, [])
        self.assertGreater(fields, 200)  # the walk saw the schemas, not an empty shell

        for kind, field in (("imagedeliveries", "spec.source.tagPattern"),
                            ("signingkeys", "spec.secretRef"),
                            ("gitsources", "status.conditions")):
            with open(os.path.join(procs.SRC, "crds", f"sealift.dev_{kind}.yaml")) as f:
                crd = yaml.safe_load(f)
            node = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            for part in field.split("."):
                node = node["properties"][part]
            # kubectl's discovery cache may predate the CRDs being served: a miss drops the
            # cache and asks again
            def explain():
                cp = self.k("explain", f"{kind}.{field}", "--api-version=sealift.dev/v1alpha1",
                            check=False)
                if cp.returncode != 0:
                    shutil.rmtree(self.kube.cache_dir, ignore_errors=True)
                    return None
                return cp.stdout
            out = procs.wait_for(explain, timeout=60, interval=1, what=f"kubectl explain {kind}")
            self.assertIn("DESCRIPTION:", out)
            # kubectl wraps the text: compare word by word
            self.assertIn(" ".join(node["description"].split()[:6]), " ".join(out.split()))

    def test_rules_examples_and_server_side_apply(self):
        # each rule rejects its bad object with a message that names the field
        for kind, what, spec, want in CASES:
            with self.subTest(kind=kind, case=what):
                name = "g" * 64 if "63 characters" in want[0] else "bad"
                cp = self.dry_run(manifest(kind, spec, name))
                self.assertNotEqual(cp.returncode, 0, f"{kind} {what} was accepted")
                for text in want:
                    self.assertIn(text, cp.stderr)
        # the boundaries themselves are accepted
        for kind, spec in [
            ("ImageDelivery", """spec:
  source: {image: "localhost:5000/acme/app", tags: ["1.0"]}
  targets: [{image: "registry.customer.example:5443/m/app"}, {image: r.example/m/app}]
  interval: 1s
"""),
            ("ImageDelivery", f"""spec:
  source: {{image: registry.vendor.example/acme/app, digest: "{DIGEST}"}}
  targetTag: "1.0"
  targets: [{{image: r.example/m/app}}]
  interval: 1h30m
"""),
            ("ScanPolicy", """spec:
  allowlist:
  - {id: CVE-2023-0001, until: "2027-12-31"}
  - {id: CVE-2023-0002, until: "2027-01-01T10:00:00Z"}
  - {id: CVE-2023-0003, until: "2027-01-01T10:00:00.5+02:00"}
  - {id: CVE-2023-0004, until: "2028-02-29"}
  - {id: CVE-2023-0005, until: "2000-02-29"}
  - {id: CVE-2023-0006, until: "2027-04-30"}
  rescanInterval: 1s
"""),
            ("ScanPolicy", """spec:
  scanner: {harbor: {url: "https://adapter.example"}}
  baseline: {forbidRootUser: false}
"""),
            ("SigningKey", """spec: {mode: VerifyOnly, publicKey: {configMapRef: {name: pub}}}
"""),
            ("GitSource", """spec:
  url: https://git.example/x.git
  ref: {commit: "%s"}
  path: ./clusters/prod..old
""" % ("a" * 40)),
            ("GitSource", """spec:
  url: https://git.example/x.git
  ref: {tag: v1.4.0}
  timeout: 1h
  ignore: "*.draft.yaml"
  verify: {mode: Tag, secretRef: {name: release-keys}}
"""),
            ("DeployPolicy", """spec:
  rules: {allowedRegistries: ["localhost/x", "registry.example/mirror/", "127.0.0.1:5000"]}
"""),
        ]:
            with self.subTest(kind=kind, accepted=spec):
                name = "g" * 63 if kind == "GitSource" else "good"
                cp = self.dry_run(manifest(kind, spec, name))
                self.assertEqual(cp.returncode, 0, cp.stderr)

        # every example applies (server-side dry run after its namespace exists)
        self.k("apply", "-f", os.path.join(procs.SRC, "examples/basic/namespace.yaml"))
        for d in ("examples/reference", "examples/gitops/clusters/prod",
                  "examples/gitops/bootstrap"):
            with self.subTest(example=d):
                path = os.path.join(procs.SRC, d)
                args = ["-k", path] if os.path.exists(os.path.join(path, "kustomization.yaml")) \
                    else ["-f", path]
                cp = self.k("apply", "--dry-run=server", *args, check=False)
                self.assertEqual(cp.returncode, 0, cp.stderr)

        # server-side apply: the GitSource's manager owns the policy, a security engineer adds
        # one allowlist entry under their own manager, without conflict and without taking the
        # other entries; the GitSource's next apply keeps the engineer's entry
        owned = """apiVersion: sealift.dev/v1beta1
kind: ScanPolicy
metadata: {name: shared, namespace: default}
spec:
  severityThreshold: High
  allowlist:
  - {id: CVE-2023-0001, reason: owned by git}
"""
        gitops = ("apply", "--server-side", "--field-manager=sealift-gitsource/default/platform",
                  "-f", "-")
        self.k(*gitops, input=owned)
        cp = self.k("apply", "--server-side", "--field-manager=security-team", "-f", "-",
                    check=False, input="""apiVersion: sealift.dev/v1beta1
kind: ScanPolicy
metadata: {name: shared, namespace: default}
spec:
  allowlist:
  - {id: CVE-2024-9999, until: "2027-06-30", reason: accepted by security}
""")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.k(*gitops, input=owned.replace("owned by git", "still owned by git"))
        obj = json.loads(self.k("get", "scanpolicy", "shared", "-n", "default", "-o",
                                "json").stdout)
        self.assertEqual({e["id"]: e.get("reason") for e in obj["spec"]["allowlist"]},
                         {"CVE-2023-0001": "still owned by git",
                          "CVE-2024-9999": "accepted by security"})
        self.assertEqual(obj["spec"]["severityThreshold"], "High")


if __name__ == "__main__":
    unittest.main()
