"""The stand-in driven by python-kubernetes: custom objects (create, list with pagination and
selectors, patch, watch), conflicts, 410 after compaction, status subresource, core kinds,
leases, garbage collection, namespaces, bad input and the fault-injection hooks."""
import json
import queue
import threading
import time
import unittest

import procs
from kube import StandIn
from standin_fixtures import CRD, GROUP, widget

from kubernetes import client, watch
from kubernetes.client.rest import ApiException


class ClientTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.api = StandIn(self.tmp).start(self)
        self.client = self.api.api_client()
        self.addCleanup(self.client.close)
        ext = client.ApiextensionsV1Api(self.client)
        ext.create_custom_resource_definition(CRD)
        self.co = client.CustomObjectsApi(self.client)
        self.core = client.CoreV1Api(self.client)

    def create(self, name, ns="default", **kw):
        return self.co.create_namespaced_custom_object(GROUP, "v1", ns, "widgets",
                                                       widget(name, **kw))

    def get(self, name, ns="default"):
        return self.co.get_namespaced_custom_object(GROUP, "v1", ns, "widgets", name)

    def status(self, exc):
        return json.loads(exc.body)

    def test_crd_status_and_discovery(self):
        crd = client.ApiextensionsV1Api(self.client).read_custom_resource_definition(
            f"widgets.{GROUP}")
        types = {c.type: c.status for c in crd.status.conditions}
        self.assertEqual(types, {"Established": "True", "NamesAccepted": "True"})
        self.assertEqual(crd.status.accepted_names.kind, "Widget")
        self.assertEqual(crd.status.stored_versions, ["v1"])
        res = client.CustomObjectsApi(self.client).api_client.call_api(
            f"/apis/{GROUP}/v1", "GET", response_type="object", _return_http_data_only=True)
        names = {r["name"]: r for r in res["resources"]}
        self.assertEqual(names["widgets/status"]["verbs"], ["get", "patch", "update"])
        self.assertEqual(names["widgets"]["shortNames"], ["wd"])

    def test_create_conflicts_and_update_rules(self):
        w = self.create("c1")
        self.assertEqual(w["metadata"]["generation"], 1)
        self.assertTrue(w["metadata"]["uid"])
        with self.assertRaises(ApiException) as cm:
            self.create("c1")
        self.assertEqual(cm.exception.status, 409)
        st = self.status(cm.exception)
        self.assertEqual(st["reason"], "AlreadyExists")
        self.assertEqual(st["message"], f'widgets.{GROUP} "c1" already exists')
        self.assertEqual(st["details"], {"name": "c1", "group": GROUP, "kind": "widgets"})
        stale = dict(w)
        w["spec"]["replicas"] = 2
        w2 = self.co.replace_namespaced_custom_object(GROUP, "v1", "default", "widgets", "c1", w)
        self.assertEqual(w2["metadata"]["generation"], 2)
        self.assertNotEqual(w2["metadata"]["resourceVersion"], w["metadata"]["resourceVersion"])
        stale["spec"] = {"source": {"image": "x"}}
        with self.assertRaises(ApiException) as cm:
            self.co.replace_namespaced_custom_object(GROUP, "v1", "default", "widgets", "c1",
                                                     stale)
        self.assertEqual(cm.exception.status, 409)
        self.assertIn("the object has been modified", self.status(cm.exception)["message"])
        norv = widget("c1")
        with self.assertRaises(ApiException) as cm:
            self.co.replace_namespaced_custom_object(GROUP, "v1", "default", "widgets", "c1",
                                                     norv)
        self.assertEqual(cm.exception.status, 422)
        self.assertIn("metadata.resourceVersion: Invalid value: 0x0: must be specified for an "
                      "update", self.status(cm.exception)["message"])
        # a metadata-only change keeps the generation
        w2["metadata"]["labels"] = {"a": "b"}
        w3 = self.co.replace_namespaced_custom_object(GROUP, "v1", "default", "widgets", "c1",
                                                      w2)
        self.assertEqual(w3["metadata"]["generation"], 2)
        # status subresource: main endpoint ignores status, /status ignores spec
        w3["status"] = {"observedGeneration": 2}
        w4 = self.co.replace_namespaced_custom_object(GROUP, "v1", "default", "widgets", "c1",
                                                      w3)
        self.assertNotIn("status", w4)
        w4["status"] = {"observedGeneration": 2, "conditions": [{"type": "Ready",
                                                                 "status": "True"}]}
        w4["spec"]["replicas"] = 7
        w5 = self.co.replace_namespaced_custom_object_status(GROUP, "v1", "default", "widgets",
                                                             "c1", w4)
        self.assertEqual(w5["status"]["observedGeneration"], 2)
        self.assertEqual(w5["spec"]["replicas"], 2)
        # /status is pruned and validated against the schema too
        bad_status = dict(w5, status={"observedGeneration": "two", "junk": 1})
        with self.assertRaises(ApiException) as cm:
            self.co.replace_namespaced_custom_object_status(GROUP, "v1", "default", "widgets",
                                                            "c1", bad_status)
        self.assertIn('status.observedGeneration: Invalid value: "string"',
                      self.status(cm.exception)["message"])
        w5 = self.co.patch_namespaced_custom_object_status(
            GROUP, "v1", "default", "widgets", "c1", {"status": {"junk": 1}})
        self.assertNotIn("junk", w5["status"])
        self.assertEqual(w5["metadata"]["generation"], 2)
        with self.assertRaises(ApiException) as cm:
            self.co.get_namespaced_custom_object(GROUP, "v1", "default", "widgets", "nope")
        st = self.status(cm.exception)
        self.assertEqual((st["code"], st["reason"], st["message"]),
                         (404, "NotFound", f'widgets.{GROUP} "nope" not found'))

    def test_invalid_objects(self):
        bad = widget("bad", enforcement="Sometimes", until="yesterday")
        del bad["spec"]["source"]["image"]
        with self.assertRaises(ApiException) as cm:
            self.co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", bad)
        self.assertEqual(cm.exception.status, 422)
        st = self.status(cm.exception)
        self.assertEqual(st["reason"], "Invalid")
        causes = {c["field"]: c for c in st["details"]["causes"]}
        self.assertEqual(causes["spec.source.image"]["reason"], "FieldValueRequired")
        self.assertEqual(causes["spec.enforcement"]["message"],
                         'Unsupported value: "Sometimes": supported values: "Deny", "Warn", '
                         '"Audit"')
        self.assertIn("spec.until in body must be of type date-time", st["message"])
        self.assertEqual(st["details"]["kind"], "Widget")
        many = widget("many")
        many["spec"]["source"]["tags"] = ["a", "b", "c", "d"]
        with self.assertRaises(ApiException) as cm:
            self.co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", many)
        self.assertIn("spec.source.tags: Too many: 4: must have at most 3 items",
                      self.status(cm.exception)["message"])
        # int-or-string and preserve-unknown-fields accept what they should
        ok = widget("ok", port="http", extra={"any": {"thing": [1, 2]}})
        got = self.co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", ok)
        self.assertEqual(got["spec"]["extra"], {"any": {"thing": [1, 2]}})
        # unknown fields: pruned with a warning by default, refused with Strict
        unk = widget("unk")
        unk["spec"]["bogus"] = True
        got = self.co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", unk)
        self.assertNotIn("bogus", got["spec"])
        unk["metadata"]["name"] = "unk2"
        status, _, st = self.api.request(
            "POST", f"/apis/{GROUP}/v1/namespaces/default/widgets?fieldValidation=Strict",
            body=unk)
        self.assertEqual(status, 400)
        self.assertIn('unknown field "spec.bogus"', st["message"])
        status, headers, _ = self.api.request(
            "POST", f"/apis/{GROUP}/v1/namespaces/default/widgets?fieldValidation=Warn",
            body=unk)
        self.assertEqual(status, 201)
        self.assertIn('unknown field \\"spec.bogus\\"', headers.get("Warning"))
        bad_name = widget("Bad_Name")
        with self.assertRaises(ApiException) as cm:
            self.co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", bad_name)
        self.assertIn('metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 '
                      'subdomain', self.status(cm.exception)["message"])

    def test_malformed_bodies_are_400(self):
        for body in (b"{not json", b"[1,2]", b"", b"\xff\xfe"):
            status, _, st = self.api.request(
                "POST", f"/apis/{GROUP}/v1/namespaces/default/widgets", body=body)
            self.assertEqual(status, 400, body)
            self.assertEqual(st["kind"], "Status")
        status, _, st = self.api.request(
            "PATCH", f"/apis/{GROUP}/v1/namespaces/default/widgets/x", body=b"{",
            headers={"Content-Type": "application/merge-patch+json"})
        self.assertEqual(status, 404)
        self.create("pp")
        status, _, st = self.api.request(
            "PATCH", f"/apis/{GROUP}/v1/namespaces/default/widgets/pp", body=b"{",
            headers={"Content-Type": "application/merge-patch+json"})
        self.assertEqual(status, 400)
        status, _, st = self.api.request(
            "PATCH", f"/apis/{GROUP}/v1/namespaces/default/widgets/pp", body=b"[{\"op\":1}]",
            headers={"Content-Type": "application/json-patch+json"})
        self.assertEqual(status, 422)
        status, _, _ = self.api.request("GET", "/apis/nope.example/v1/things")
        self.assertEqual(status, 404)
        status, _, _ = self.api.request(
            "GET", f"/apis/{GROUP}/v1/widgets?labelSelector=a%20in%20b")
        self.assertEqual(status, 400)
        # still serving
        self.assertEqual(self.get("pp")["metadata"]["name"], "pp")

    def test_list_pagination_and_selectors(self):
        for i in range(7):
            w = widget(f"p{i}")
            w["metadata"]["labels"] = {"tier": "gold" if i % 2 else "silver", "idx": str(i)}
            self.co.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", w)
        names, cont, pages = [], None, 0
        while True:
            page = self.co.list_namespaced_custom_object(GROUP, "v1", "default", "widgets",
                                                         limit=3, _continue=cont)
            names += [o["metadata"]["name"] for o in page["items"]]
            pages += 1
            cont = page["metadata"].get("continue")
            if not cont:
                break
        self.assertEqual(names, [f"p{i}" for i in range(7)])
        self.assertEqual(pages, 3)

        def sel(s):
            lst = self.co.list_cluster_custom_object(GROUP, "v1", "widgets", label_selector=s)
            return sorted(o["metadata"]["name"] for o in lst["items"])
        self.assertEqual(sel("tier=gold"), ["p1", "p3", "p5"])
        self.assertEqual(sel("tier!=gold,idx in (0,2,5)"), ["p0", "p2"])
        self.assertEqual(sel("idx notin (0,1,2,3,4,5)"), ["p6"])
        self.assertEqual(sel("tier"), [f"p{i}" for i in range(7)])
        self.assertEqual(sel("!tier"), [])
        lst = self.co.list_namespaced_custom_object(GROUP, "v1", "default", "widgets",
                                                    field_selector="metadata.name=p4")
        self.assertEqual([o["metadata"]["name"] for o in lst["items"]], ["p4"])

    def test_watch_replay_and_410_after_compaction(self):
        a = self.create("wa")
        rv = a["metadata"]["resourceVersion"]
        self.create("wb")
        self.co.patch_namespaced_custom_object(GROUP, "v1", "default", "widgets", "wa",
                                               {"spec": {"replicas": 3}})
        self.co.delete_namespaced_custom_object(GROUP, "v1", "default", "widgets", "wb")
        w = watch.Watch()
        got = []
        for ev in w.stream(self.co.list_namespaced_custom_object, GROUP, "v1", "default",
                           "widgets", resource_version=rv, timeout_seconds=5):
            got.append((ev["type"], ev["object"]["metadata"]["name"]))
            if len(got) == 3:
                w.stop()
        self.assertEqual(got, [("ADDED", "wb"), ("MODIFIED", "wa"), ("DELETED", "wb")])
        self.api.admin("compact")
        status, _, raw = self.api.request(
            "GET", f"/apis/{GROUP}/v1/namespaces/default/widgets?watch=1&resourceVersion={rv}")
        self.assertEqual(status, 200)
        ev = raw if isinstance(raw, dict) else json.loads(raw.splitlines()[0])
        self.assertEqual(ev["type"], "ERROR")
        self.assertEqual(ev["object"]["code"], 410)
        self.assertEqual(ev["object"]["reason"], "Expired")
        with self.assertRaises(ApiException) as cm:
            for _ in watch.Watch().stream(self.co.list_namespaced_custom_object, GROUP, "v1",
                                          "default", "widgets", resource_version=rv,
                                          timeout_seconds=5):
                pass
        self.assertEqual(cm.exception.status, 410)

    def test_live_watch_and_drop_hook(self):
        events = queue.Queue()

        def run():
            w = watch.Watch()
            try:
                for ev in w.stream(self.co.list_cluster_custom_object, GROUP, "v1", "widgets",
                                   timeout_seconds=30):
                    events.put((ev["type"], ev["object"]["metadata"]["name"]))
            except Exception as exc:  # reported through the queue
                events.put(("EXC", repr(exc)))
            events.put(("END", ""))
        t = threading.Thread(target=run, daemon=True)
        t.start()
        procs.wait_for(lambda: self.api.admin("stats")["watches"] >= 1, 10, what="watch open")
        self.create("live", ns="default")
        self.assertEqual(events.get(timeout=10), ("ADDED", "live"))
        self.assertEqual(self.api.admin("drop-watches")["dropped"], 1)
        self.assertEqual(events.get(timeout=10), ("END", ""))
        t.join(5)
        # bookmarks carry the current resourceVersion; sendInitialEvents ends with one
        status, _, raw = self.api.request(
            "GET", f"/apis/{GROUP}/v1/widgets?watch=1&allowWatchBookmarks=true"
            "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
        lines = [json.loads(ln) for ln in raw.splitlines()] if isinstance(raw, bytes) else [raw]
        self.assertEqual([ev["type"] for ev in lines], ["ADDED", "BOOKMARK"])
        self.assertEqual(lines[1]["object"]["metadata"]["annotations"],
                         {"k8s.io/initial-events-end": "true"})

    def test_core_kinds_events_and_leases(self):
        sec = client.V1Secret(metadata=client.V1ObjectMeta(name="s1"), string_data={"k": "v"},
                              type="kubernetes.io/dockerconfigjson")
        sec.string_data = {".dockerconfigjson": '{"auths":{}}'}
        self.core.create_namespaced_secret("default", sec)
        got = self.core.read_namespaced_secret("s1", "default")
        self.assertEqual(got.data, {".dockerconfigjson": "eyJhdXRocyI6e319"})
        cm = self.core.create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="c1", labels={"x": "y"}), data={"a": "b"}))
        self.core.patch_namespaced_config_map("c1", "default", {"data": {"c": "d"}})
        self.assertEqual(self.core.read_namespaced_config_map("c1", "default").data,
                         {"a": "b", "c": "d"})
        self.assertEqual(cm.metadata.generation, None)
        ev = client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="w.1", namespace="default"),
            involved_object=client.V1ObjectReference(kind="Widget", name="w",
                                                     namespace="default"),
            reason="Synced", message="copied 3 tags", type="Normal", count=1)
        self.core.create_namespaced_event("default", ev)
        self.core.patch_namespaced_event("w.1", "default", {"count": 2})
        lst = self.core.list_namespaced_event("default",
                                              field_selector="involvedObject.name=w")
        self.assertEqual([(e.reason, e.count) for e in lst.items], [("Synced", 2)])
        coord = client.CoordinationV1Api(self.client)
        lease = coord.create_namespaced_lease("default", client.V1Lease(
            metadata=client.V1ObjectMeta(name="sealift-leader"),
            spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15)))
        lease.spec.holder_identity = "b"
        coord.replace_namespaced_lease("sealift-leader", "default", lease)
        lease.spec.holder_identity = "c"
        with self.assertRaises(ApiException) as cm:
            coord.replace_namespaced_lease("sealift-leader", "default", lease)
        self.assertEqual(cm.exception.status, 409)
        self.assertEqual(coord.read_namespaced_lease("sealift-leader", "default")
                         .spec.holder_identity, "b")
        with self.assertRaises(ApiException) as cm:
            self.core.create_namespaced_config_map("ghost", client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="c1")))
        self.assertEqual(cm.exception.status, 404)
        self.assertEqual(self.status(cm.exception)["message"], 'namespaces "ghost" not found')

    def test_garbage_collection_and_namespace_deletion(self):
        owner = self.create("owner")
        dep = client.V1ConfigMap(metadata=client.V1ObjectMeta(
            name="dep", owner_references=[client.V1OwnerReference(
                api_version=f"{GROUP}/v1", kind="Widget", name="owner",
                uid=owner["metadata"]["uid"], controller=True)]))
        self.core.create_namespaced_config_map("default", dep)
        keep = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="keep"))
        self.core.create_namespaced_config_map("default", keep)
        self.co.delete_namespaced_custom_object(GROUP, "v1", "default", "widgets", "owner")

        def gone():
            try:
                self.core.read_namespaced_config_map("dep", "default")
                return False
            except ApiException as exc:
                return exc.status == 404
        procs.wait_for(gone, 10, what="dependent garbage-collected")
        self.core.read_namespaced_config_map("keep", "default")
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="tmp")))
        self.create("in-tmp", ns="tmp")
        held = widget("held")
        held["metadata"]["finalizers"] = ["test.sealift.dev/hold"]
        self.co.create_namespaced_custom_object(GROUP, "v1", "tmp", "widgets", held)
        self.core.delete_namespace("tmp")
        self.assertEqual(self.core.read_namespace("tmp").status.phase, "Terminating")
        with self.assertRaises(ApiException) as cm:
            self.create("late", ns="tmp")
        self.assertEqual(cm.exception.status, 403)
        self.assertIn("because it is being terminated", self.status(cm.exception)["message"])
        # the namespace waits for the finalizer of its last object
        procs.wait_for(lambda: "deletionTimestamp" in self.get("held", "tmp")["metadata"], 10,
                       what="object in terminating namespace marked for deletion")
        self.assertEqual(self.core.read_namespace("tmp").status.phase, "Terminating")
        self.co.patch_namespaced_custom_object(GROUP, "v1", "tmp", "widgets", "held",
                                               {"metadata": {"finalizers": None}})
        with self.assertRaises(ApiException) as cm:
            self.core.delete_namespace("default")
        self.assertEqual(cm.exception.status, 403)

        def ns_gone():
            try:
                self.core.read_namespace("tmp")
                return False
            except ApiException as exc:
                return exc.status == 404
        procs.wait_for(ns_gone, 10, what="namespace deleted")
        lst = self.co.list_cluster_custom_object(GROUP, "v1", "widgets")
        self.assertEqual(lst["items"], [])

    def test_fault_injection_hooks(self):
        self.api.admin("fail", count=2, code=500)
        for _ in range(2):
            with self.assertRaises(ApiException) as cm:
                self.core.list_namespace()
            self.assertEqual(cm.exception.status, 500)
        self.assertTrue(self.core.list_namespace().items)
        self.api.admin("fail", count=1, code=503)
        status, headers, st = self.api.request("GET", "/api/v1/namespaces")
        self.assertEqual((status, st["reason"], headers.get("Retry-After")),
                         (503, "ServiceUnavailable", "1"))
        status, _, _ = self.api.request("GET", "/api/v1/namespaces")
        self.assertEqual(status, 200)
        self.api.admin("latency", ms=300, count=1)
        t0 = time.monotonic()
        self.core.list_namespace()
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)


if __name__ == "__main__":
    unittest.main()
