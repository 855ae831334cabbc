"""Sharding and failover on a real kube-apiserver + etcd: three shards (`--shard s0|s1|s2`), two
`--leader-elect` replicas each, deliveries labelled sealift.dev/shard spread over them, real
images copied between two docker-registry accounts.

What it shows, from the API server and the registries (not from the controller's logs):
- each shard leads on its own Lease (sealift-controller-<key>);
- every delivery's status was written by exactly one field manager, its shard's
  (sealift-shard-<key>), and an unlabelled delivery is left to the (absent) unsharded
  controller;
- every leader killed at once (SIGKILL): the standbys take every Lease over (the time is
  printed; bar < 20 s with the default 15 s Lease) and all deliveries end Ready, including
  those created while no shard had a leader;
- deliveries relabelled to another shard (and given a second tag), just before that and again
  between running shards, have their new generation reconciled by the new shard, not the old
  one, and no target got a manifest a second time (no double delivery), through the moves and
  the failover resync.

Sized as the issue asks: 60 deliveries (20 per shard) plus 6 created during the failover, 10
relabelled; about a minute on a loaded 2-core machine with the sanitizer build."""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "imagedelivery"))

import imdlib  # noqa: E402
import procs  # noqa: E402
from controller import Controller  # noqa: E402

NS = imdlib.NS
SHARDS = ("s0", "s1", "s2")
PER_SHARD = 20
DURING_FAILOVER = 6
RELABEL = 10  # from s0: half to s1, half to s2
LABEL = "sealift.dev/shard"


class ShardTest(imdlib.ImdTestCase):
    def start_controller(self):
        self.ctls = {}
        for shard in SHARDS:
            self.ctls[shard] = [
                Controller(self, self.kube, name=f"ctl-{shard}-{r}",
                           extra_args=["--leader-elect", "--shard", shard, "--concurrency", "2"])
                for r in ("a", "b")]
        for pair in self.ctls.values():
            for c in pair:
                c.wait_ready(timeout=120)

    # ---- helpers ----

    def deliveries(self, names_shards):
        """Applies one ImageDelivery per (name, shard or None) in a single kubectl call; each
        delivers acme/app:1.0 to its own customer repository fleet/<name>."""
        docs = []
        for name, shard in names_shards:
            labels = f", labels: {{{LABEL}: {shard}}}" if shard else ""
            docs.append(
                "apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
                f"metadata: {{name: {name}, namespace: {NS}{labels}}}\n"
                "spec:\n  source:\n"
                f"    image: {self.vendor.host}/acme/app\n    insecure: true\n"
                "    secretRef: {name: vendor-pull}\n"
                "    tags: ['1.0']\n"
                "  targets:\n"
                f"  - image: {self.customer.host}/fleet/{name}\n    insecure: true\n"
                "    secretRef: {name: customer-push}\n"
                "  interval: 1m\n")
        self.apply("---\n".join(docs))

    def list_all(self):
        status, _, body = self.kube.request(
            "GET", f"/apis/sealift.dev/v1beta1/namespaces/{NS}/imagedeliveries")
        if status != 200:
            raise AssertionError(f"list: {status} {body}")
        return {o["metadata"]["name"]: o for o in body["items"]}

    @staticmethod
    def is_ready(obj):
        c = imdlib.ImdTestCase.condition(obj, "Ready")
        return bool(c and c["status"] == "True" and
                    obj.get("status", {}).get("observedGeneration") ==
                    obj["metadata"].get("generation"))

    def wait_all_ready(self, names, timeout):
        last = {}

        def check():
            objs = self.list_all()
            last["missing"] = sorted(n for n in names if not self.is_ready(objs.get(n, {
                "metadata": {}})))
            return not last["missing"]
        try:
            procs.wait_for(check, timeout=timeout, interval=0.5, what="deliveries Ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; not Ready: {last.get('missing')}")

    @staticmethod
    def status_managers(obj):
        """Field managers that wrote the status subresource."""
        return {m["manager"] for m in obj["metadata"].get("managedFields", [])
                if m.get("subresource") == "status"}

    def lease_holder(self, shard):
        status, _, body = self.kube.request(
            "GET", "/apis/coordination.k8s.io/v1/namespaces/sealift-system/leases/"
                   f"sealift-controller-{shard}")
        if status != 200:
            return None
        return body.get("spec", {}).get("holderIdentity") or None

    @staticmethod
    def identity(ctl):
        for r in ctl.log_lines():
            if r.get("msg") == "became leader":
                return r.get("identity")
        return None

    @staticmethod
    def observed_by(obj):
        """The field manager that owns status.observedGeneration: who reconciled the current
        generation."""
        for m in obj["metadata"].get("managedFields", []):
            if "f:observedGeneration" in m.get("fieldsV1", {}).get("f:status", {}):
                return m["manager"]
        return None

    def manifest_puts(self, name, tag="1.0"):
        return self.customer.count_requests("PUT", f"/v2/fleet/{name}/manifests/{tag} ")

    # ---- the test ----

    def test_three_shards_failover_and_relabel(self):
        self.seed_image("1.0", seed=1)
        self.seed_image("1.1", seed=2)
        first = [(f"d{i:02d}", SHARDS[i % len(SHARDS)]) for i in range(PER_SHARD * len(SHARDS))]
        shard_of = dict(first)
        was = dict(first)  # the shard before a move
        t0 = time.monotonic()
        self.deliveries(first + [("unlabelled", None)])
        self.wait_all_ready([n for n, _ in first], timeout=240)
        print(f"{len(first)} deliveries Ready over {len(SHARDS)} shards in "
              f"{time.monotonic() - t0:.1f} s", file=sys.stderr)

        # each shard leads on its own Lease, held by one of its two replicas
        leaders = {}
        for shard in SHARDS:
            holder = procs.wait_for(lambda s=shard: self.lease_holder(s), timeout=30,
                                    what=f"a holder of sealift-controller-{shard}")
            ids = {self.identity(c): c for c in self.ctls[shard]}
            self.assertIn(holder, ids, f"shard {shard}: Lease held by {holder}, not a replica")
            leaders[shard] = (holder, ids[holder])
        self.assertEqual(len({h for h, _ in leaders.values()}), len(SHARDS))

        # every delivery was reconciled by exactly its shard; the unlabelled one by nobody
        objs = self.list_all()
        for name, shard in first:
            self.assertEqual(self.status_managers(objs[name]), {f"sealift-shard-{shard}"},
                             name)
        self.assertNotIn("status", objs["unlabelled"])
        self.assertEqual(self.status_managers(objs["unlabelled"]), set())

        per_delivery = self.manifest_puts("d00")
        self.assertGreaterEqual(per_delivery, 1)
        for name, _ in first:
            self.assertEqual(self.manifest_puts(name), per_delivery, f"fleet/{name}")

        # some deliveries move from s0 to s1 and s2 and then ask for a second tag (a new
        # generation), then every leader dies at once, and new deliveries arrive while no shard
        # has a leader
        moved = [n for n, s in first if s == "s0"][:RELABEL]
        for i, name in enumerate(moved):
            new = SHARDS[1 + i % 2]
            self.kube.kubectl("label", "-n", NS, "imagedelivery", name, f"{LABEL}={new}",
                              "--overwrite")
            self.kube.kubectl("patch", "-n", NS, "imagedelivery", name, "--type", "merge", "-p",
                              json.dumps({"spec": {"source": {"tags": ["1.0", "1.1"]}}}))
            shard_of[name] = new
        killed_at = time.monotonic()
        for _, ctl in leaders.values():
            ctl.proc.stop(signal.SIGKILL)
        late = [(f"late{i}", SHARDS[i % len(SHARDS)]) for i in range(DURING_FAILOVER)]
        shard_of.update(late)
        self.deliveries(late)

        # the standbys take every Lease over
        old = {s: h for s, (h, _) in leaders.items()}
        procs.wait_for(lambda: all(self.lease_holder(s) not in (None, old[s]) for s in SHARDS),
                       timeout=90, interval=0.1, what="the standbys to take every Lease")
        failover_s = time.monotonic() - killed_at
        print(f"failover of all {len(SHARDS)} shard leaders after SIGKILL: {failover_s:.1f} s "
              "(default 15 s Lease, real Lease API)", file=sys.stderr)
        self.assertLess(failover_s, 20.0)

        # all deliveries end Ready, the late ones by their shard
        self.wait_all_ready([n for n, _ in first + late], timeout=240)
        print(f"all {len(first) + len(late)} deliveries Ready {time.monotonic() - killed_at:.1f} s "
              "after the leaders were killed", file=sys.stderr)

        # a second move while every shard's (new) leader is running: s1 -> s0, with a second
        # tag; the old shard lets go and the new one delivers the new generation at once
        moved2 = [n for n, _ in first if shard_of[n] == "s1" and n not in moved][:4]
        t_move = time.monotonic()
        was.update((n, "s1") for n in moved2)
        for name in moved2:
            self.kube.kubectl("label", "-n", NS, "imagedelivery", name, f"{LABEL}=s0",
                              "--overwrite")
            self.kube.kubectl("patch", "-n", NS, "imagedelivery", name, "--type", "merge", "-p",
                              json.dumps({"spec": {"source": {"tags": ["1.0", "1.1"]}}}))
            shard_of[name] = "s0"
        self.wait_all_ready(moved2, timeout=120)
        print(f"{len(moved2)} deliveries moved between running shards, Ready at their new "
              f"generation {time.monotonic() - t_move:.1f} s after the first relabel",
              file=sys.stderr)
        moved = moved + moved2

        # moved ones: their new generation (the second tag) was reconciled by the new shard and
        # not by the old one, which had let go of them
        objs = self.list_all()
        for name in moved:
            self.assertEqual(self.observed_by(objs[name]), f"sealift-shard-{shard_of[name]}",
                             name)
            self.assertEqual(sorted(i["tag"] for i in objs[name]["status"]["images"]),
                             ["1.0", "1.1"], name)
            self.assertTrue(self.status_managers(objs[name]) <=
                            {f"sealift-shard-{was[name]}", f"sealift-shard-{shard_of[name]}"},
                            name)
        for name, shard in late:
            self.assertEqual(self.status_managers(objs[name]), {f"sealift-shard-{shard}"},
                             name)
        for name, _ in first:
            if name not in moved:
                self.assertEqual(self.status_managers(objs[name]),
                                 {f"sealift-shard-{shard_of[name]}"}, name)
        self.assertEqual(self.status_managers(objs["unlabelled"]), set())

        # delivered once: no target got its manifest again, across the failover resync and the
        # move to another shard, and the late ones got it as often as the first ones
        for name, _ in first + late:
            self.assertEqual(self.manifest_puts(name), per_delivery,
                             f"manifest PUTs to fleet/{name}:1.0")
        for name in moved:
            self.assertEqual(self.manifest_puts(name, "1.1"), per_delivery,
                             f"manifest PUTs to fleet/{name}:1.1")
        # the surviving replicas are all alive and leading their shard
        for shard in SHARDS:
            standby = [c for c in self.ctls[shard] if c is not leaders[shard][1]][0]
            self.assertTrue(standby.proc.alive())
            self.assertEqual(self.lease_holder(shard), self.identity(standby))


if __name__ == "__main__":
    unittest.main()
