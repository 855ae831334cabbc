"""Shared objects for the stand-in's own tests: a small test CRD (not sealift's real ones)."""
import json
import os

GROUP = "test.sealift.dev"

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                  "shortNames": ["wd"], "categories": ["testcat"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "Image", "type": "string", "jsonPath": ".spec.source.image"},
                {"name": "Enforcement", "type": "string", "jsonPath": ".spec.enforcement",
                 "priority": 1},
                {"name": "Ready", "type": "string",
                 "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["source"],
                        "properties": {
                            "source": {"type": "object", "required": ["image"], "properties": {
                                "image": {"type": "string", "minLength": 1},
                                "tags": {"type": "array", "items": {"type": "string"},
                                         "maxItems": 3},
                                "tagPattern": {"type": "string", "pattern": "^\\^"},
                            }},
                            "enforcement": {"type": "string", "enum": ["Deny", "Warn", "Audit"],
                                            "default": "Deny"},
                            "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
                            "interval": {"type": "string", "default": "10m"},
                            "until": {"type": "string", "format": "date-time"},
                            "port": {"x-kubernetes-int-or-string": True},
                            "extra": {"type": "object",
                                      "x-kubernetes-preserve-unknown-fields": True},
                        },
                    },
                    "status": {
                        "type": "object",
                        "properties": {
                            "observedGeneration": {"type": "integer"},
                            "conditions": {"type": "array", "items": {
                                "type": "object",
                                "properties": {"type": {"type": "string"},
                                               "status": {"type": "string"},
                                               "reason": {"type": "string"},
                                               "message": {"type": "string"}}}},
                        },
                    },
                },
            }},
        }],
    },
}


def widget(name, image="registry.example/acme/app", **spec):
    s = {"source": {"image": image}}
    s.update(spec)
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": s}


def write(path, *objs):
    """Writes objects as a multi-document YAML file (JSON documents are valid YAML)."""
    with open(path, "w") as f:
        f.write("".join("---\n" + json.dumps(o, indent=1) + "\n" for o in objs))
    return path


def install_crd(api, tmpdir):
    path = write(os.path.join(tmpdir, "crd.yaml"), CRD)
    api.kubectl("apply", "-f", path)
    api.kubectl("wait", "--for=condition=Established", f"crd/widgets.{GROUP}",
                "--timeout=30s")
