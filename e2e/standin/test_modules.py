"""The stand-in's pure modules without a server: patches (JSON patch, merge, strategic merge,
server-side apply ownership), schema handling, selectors, printing helpers and the small YAML
and protobuf readers, checked against what kube-apiserver does on the same inputs."""
import os
import sys
import unittest

import procs

sys.path.insert(0, os.path.join(procs.SRC, "hack"))

from standin import patch, protobuf, schema, selectors, table, yamlmini  # noqa: E402
from standin.errors import ApiError  # noqa: E402


class PatchTest(unittest.TestCase):
    def test_json_patch_operations(self):
        doc = {"spec": {"tags": ["a", "b"], "x": 1}, "metadata": {"labels": {"k/v": "1"}}}
        out = patch.json_patch(doc, [
            {"op": "add", "path": "/spec/tags/1", "value": "ins"},
            {"op": "add", "path": "/spec/tags/-", "value": "end"},
            {"op": "remove", "path": "/spec/x"},
            {"op": "copy", "from": "/spec/tags/0", "path": "/spec/first"},
            {"op": "move", "from": "/spec/first", "path": "/spec/moved"},
            {"op": "replace", "path": "/metadata/labels/k~1v", "value": "2"},
            {"op": "test", "path": "/spec/moved", "value": "a"},
        ])
        self.assertEqual(out, {"spec": {"tags": ["a", "ins", "b", "end"], "moved": "a"},
                               "metadata": {"labels": {"k/v": "2"}}})
        self.assertEqual(doc["spec"]["x"], 1, "the input must not change")
        for ops in ([{"op": "test", "path": "/spec/x", "value": 2}],
                    [{"op": "remove", "path": "/nope"}],
                    [{"op": "replace", "path": "/spec/tags/9", "value": 1}],
                    [{"op": "frobnicate", "path": "/spec"}]):
            with self.assertRaises(ApiError) as cm:
                patch.json_patch(doc, ops)
            self.assertEqual(cm.exception.code, 422, ops)

    def test_merge_and_strategic_merge(self):
        self.assertEqual(patch.merge_patch({"a": {"b": 1, "c": 2}, "l": [1, 2]},
                                           {"a": {"b": None, "d": 3}, "l": [3]}),
                         {"a": {"c": 2, "d": 3}, "l": [3]})
        pod = {"spec": {"containers": [{"name": "app", "image": "a:1", "env": [
            {"name": "A", "value": "1"}]}, {"name": "side", "image": "s:1"}]},
            "metadata": {"finalizers": ["x"]}}
        out = patch.strategic_merge(pod, {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]},
                                    {"name": "side", "$patch": "delete"}]},
            "metadata": {"finalizers": ["y"]}})
        self.assertEqual(out["spec"]["containers"], [{"name": "app", "image": "a:1", "env": [
            {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}])
        self.assertEqual(out["metadata"]["finalizers"], ["x", "y"])
        out = patch.strategic_merge(out, {"metadata": {"$deleteFromPrimitiveList/finalizers":
                                                       ["x"]}})
        self.assertEqual(out["metadata"]["finalizers"], ["y"])
        out = patch.strategic_merge({"spec": {"a": 1, "b": 2}},
                                    {"spec": {"$patch": "replace", "c": 3}})
        self.assertEqual(out, {"spec": {"c": 3}})

    def test_server_side_apply_ownership(self):
        cfg = {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "o"},
               "spec": {"a": 1, "b": {"c": 2}}}
        obj = patch.server_side_apply(None, cfg, "one", False, "g/v1", None, True, "t")
        self.assertEqual(obj["spec"], {"a": 1, "b": {"c": 2}})
        self.assertEqual(patch.fields_from_v1(obj["metadata"]["managedFields"][0]["fieldsV1"]),
                         {("spec", "a"), ("spec", "b", "c")})
        # same values from another manager: shared, no conflict
        shared = patch.server_side_apply(obj, dict(cfg, spec={"a": 1}), "two", False, "g/v1",
                                         None, True, "t")
        self.assertEqual(len(shared["metadata"]["managedFields"]), 2)
        with self.assertRaises(ApiError) as cm:
            patch.server_side_apply(shared, dict(cfg, spec={"a": 5}), "two", False, "g/v1",
                                    None, True, "t")
        self.assertEqual(cm.exception.code, 409)
        self.assertEqual(cm.exception.message,
                         'Apply failed with 1 conflict: conflict with "one" using g/v1: .spec.a')
        forced = patch.server_side_apply(shared, dict(cfg, spec={"a": 5}), "two", True, "g/v1",
                                         None, True, "t")
        self.assertEqual(forced["spec"]["a"], 5)
        # "one" stops applying spec.b: removed (nobody else owns it); spec.a stays (two owns it)
        after = patch.server_side_apply(forced, dict(cfg, spec={}), "one", False, "g/v1", None,
                                        True, "t")
        self.assertEqual(after["spec"], {"a": 5})
        self.assertEqual(shared["spec"], {"a": 1, "b": {"c": 2}}, "input changed")


class SchemaTest(unittest.TestCase):
    SCH = {"type": "object", "properties": {"spec": {"type": "object", "required": ["n"],
           "properties": {
               "n": {"type": "integer", "minimum": 1, "exclusiveMaximum": True, "maximum": 5},
               "s": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$",
                     "default": "abc"},
               "m": {"type": "object", "additionalProperties": {"type": "string"}},
               "keep": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
               "opt": {"type": "string", "nullable": True},
               "l": {"type": "array", "x-kubernetes-list-type": "set",
                     "items": {"type": "string"}}}}}}

    def check(self, spec):
        obj = {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"}, "spec": spec}
        unknown = schema.prune(obj, self.SCH)
        schema.apply_defaults(obj, self.SCH)
        return obj, unknown, [str(e) for e in schema.validate(obj, self.SCH)]

    def test_validation_texts(self):
        obj, unknown, errs = self.check({"n": 1, "zz": 1, "keep": {"any": [1]}, "opt": None})
        self.assertEqual((unknown, errs), (["spec.zz"], []))
        self.assertEqual(obj["spec"]["s"], "abc")
        self.assertEqual(obj["spec"]["keep"], {"any": [1]})
        _, _, errs = self.check({"s": "ABCD", "m": {"k": 1}, "l": ["a", "a"]})
        self.assertEqual(errs, [
            "spec.n: Required value",
            "spec.s: Invalid value: \"ABCD\": spec.s in body should match '^[a-z]+$'",
            "spec.s: Too long: may not be more than 3 bytes",
            'spec.m[k]: Invalid value: "integer": spec.m[k] in body must be of type string: '
            '"integer"',
            'spec.l[1]: Duplicate value: "a"'])
        _, _, errs = self.check({"n": 5})
        self.assertEqual(errs, ["spec.n: Invalid value: 5: spec.n in body should be less than 5"])
        _, _, errs = self.check({"n": 0})
        self.assertEqual(errs, ["spec.n: Invalid value: 0: spec.n in body should be greater "
                                "than or equal to 1"])


class MiscTest(unittest.TestCase):
    def test_selectors(self):
        reqs = selectors.parse_labels("a=1,b!=2,c in (x, y),d notin (z),e,!f")
        self.assertTrue(selectors.match_labels(reqs, {"a": "1", "c": "y", "e": ""}))
        self.assertFalse(selectors.match_labels(reqs, {"a": "1", "c": "y", "e": "", "f": "1"}))
        self.assertFalse(selectors.match_labels(reqs, {"a": "1", "c": "q", "e": ""}))
        for bad in ("a in (b", "=x", "a b"):
            with self.assertRaises(ApiError):
                selectors.parse_labels(bad)
        f = selectors.parse_fields("metadata.name=x,involvedObject.kind!=Pod")
        self.assertTrue(selectors.match_fields(f, {"metadata": {"name": "x"},
                                                   "involvedObject": {"kind": "Widget"}}))

    def test_printing(self):
        self.assertEqual([table.human_duration(s) for s in (5, 119, 130, 3600, 7 * 3600 + 60,
                                                            3 * 86400, 400 * 86400)],
                         ["5s", "119s", "2m10s", "60m", "7h1m", "3d", "400d"])
        obj = {"status": {"conditions": [{"type": "Synced", "status": "False"},
                                         {"type": "Ready", "status": "True"}]},
               "spec": {"tags": ["a", "b"]}}
        self.assertEqual(table.jsonpath(obj, '.status.conditions[?(@.type=="Ready")].status'),
                         ["True"])
        self.assertEqual(table.jsonpath(obj, ".spec.tags[*]"), ["a", "b"])
        self.assertEqual(table.jsonpath(obj, ".spec.nothing"), [])

    def test_yaml_reader(self):
        doc = yamlmini.loads("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x  # c\n"
                             "  labels: {a: b}\ndata:\n  k: 'it''s'\n  n: \"1\"\nlist:\n"
                             "- name: a\n  v: [1, two]\n- plain\nblock: |\n  l1\n  l2\n")
        self.assertEqual(doc, {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "x", "labels": {"a": "b"}},
                               "data": {"k": "it's", "n": "1"},
                               "list": [{"name": "a", "v": [1, "two"]}, "plain"],
                               "block": "l1\nl2\n"})
        self.assertEqual(yamlmini.loads('{"a": [1]}'), {"a": [1]})

    def test_protobuf_reader(self):
        def field(n, payload):
            return bytes([(n << 3) | 2, len(payload)]) + payload
        meta = field(1, b"cm1") + field(11, field(1, b"app") + field(2, b"web"))
        cm = field(1, meta) + field(2, field(1, b"k") + field(2, b"v"))
        body = protobuf.MAGIC + field(1, field(1, b"v1") + field(2, b"ConfigMap")) + \
            field(2, cm)
        self.assertEqual(protobuf.decode(body), {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm1", "labels": {"app": "web"}}, "data": {"k": "v"}})
        for bad in (b"k8s\x00\x0a\xff", b"nope", protobuf.MAGIC + field(1, field(2, b"Pod2"))):
            with self.assertRaises(ValueError):
                protobuf.decode(bad)


if __name__ == "__main__":
    unittest.main()
