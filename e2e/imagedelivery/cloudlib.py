"""What the end-to-end tests of the cloud registry providers (`provider: aws|azure|gcp`) share:
a client of a stand-in test peer's record (/_standin/calls, /_standin/secrets) and the
assertions on ImageDelivery conditions of any namespace and on secrets that must not leak.
Results are read from the API server, the stand-in and the controller's log, not from sealift
code."""
import json
import os
import ssl
import urllib.request

import procs
from imdlib import ImdTestCase

WORKLOAD_IDENTITY_RBAC = os.path.join(procs.SRC, "crds", "workload-identity.yaml")


class StandIn:
    """A stand-in test peer (hack/tools/<name>) on a free port with a certificate of the test CA
    in cert_dir (tls.crt, tls.key, ca.crt); args are its own flags."""

    def __init__(self, tc, name, cert_dir, args):
        self.port = procs.free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.proc = tc.start([procs.peer(name), "-addr", f"127.0.0.1:{self.port}",
                              "-tls-cert", os.path.join(cert_dir, "tls.crt"),
                              "-tls-key", os.path.join(cert_dir, "tls.key")] + list(args), name)
        procs.wait_port(self.port)
        self.ctx = ssl.create_default_context(cafile=os.path.join(cert_dir, "ca.crt"))

    def _get(self, path):
        with urllib.request.urlopen(self.url + path, context=self.ctx, timeout=10) as r:
            return json.loads(r.read())

    def calls(self, service=None):
        """The calls so far (never a secret), of one service or all."""
        return [c for c in self._get("/_standin/calls")["calls"]
                if service is None or c["service"] == service]

    def secrets(self):
        """Every secret the stand-in received or handed out, by kind."""
        return self._get("/_standin/secrets")


class CloudProviderTestCase(ImdTestCase):
    """ImdTestCase with the waits and checks of objects in any namespace."""

    def get_in(self, namespace, name):
        status, _, body = self.kube.request(
            "GET", f"/apis/sealift.dev/v1beta1/namespaces/{namespace}/imagedeliveries/{name}")
        if status != 200:
            raise AssertionError(f"GET imagedeliveries/{name}: {status} {body}")
        return body

    def wait_ready_condition(self, name, pred, what, namespace, timeout=90):
        """Waits until the Ready condition of the current generation satisfies pred; returns
        (object, condition)."""
        last = {}

        def check():
            obj = self.get_in(namespace, name)
            last["obj"] = obj
            c = self.condition(obj, "Ready")
            return (c and obj.get("status", {}).get("observedGeneration")
                    == obj["metadata"]["generation"] and pred(c))
        try:
            procs.wait_for(check, timeout=timeout, interval=0.2, what=f"{name}: {what}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast status: "
                                 f"{json.dumps(last.get('obj', {}).get('status'), indent=1)}")
        return last["obj"], self.condition(last["obj"], "Ready")

    def wait_failed_in(self, namespace, name, reason):
        """Waits for Ready=False with reason; returns the condition's message."""
        _, c = self.wait_ready_condition(
            name, lambda c: c["status"] == "False" and c.get("reason") == reason,
            f"Ready=False reason {reason}", namespace)
        return c["message"]

    def assert_not_shown(self, values):
        """None of values (secrets), whole or a distinctive piece of it (a JWT's signature, the
        middle of an opaque token whose head is a fixed prefix), is in any ImageDelivery's
        status, any event or the controller's log."""
        needles = set()
        for v in values:
            if not v:
                continue
            needles.add(v)
            needles.add(v.rsplit(".", 1)[-1][-24:])
            needles.add(v[len(v) // 2:len(v) // 2 + 16])
        statuses = self.kube.kubectl("get", "imagedeliveries", "-A", "-o", "json").stdout
        statuses = json.dumps([o.get("status") for o in json.loads(statuses)["items"]])
        events = self.kube.kubectl("get", "events", "-A", "-o", "json").stdout
        log = self.ctl.proc.output()
        for where, text in (("a status", statuses), ("an event", events),
                            ("the controller's log", log)):
            for needle in needles:
                self.assertNotIn(needle, text, f"a secret is in {where}")
