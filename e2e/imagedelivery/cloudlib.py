"""What the end-to-end tests of the cloud registry providers (`provider: aws|azure|gcp`) share:
a client of a stand-in test peer's record (/_standin/calls, /_standin/secrets), the set-up of a
cluster whose ServiceAccounts have cloud identities (the RBAC of --workload-identity, a second
namespace, the registry's CA, the controller), the deliveries to the cloud registry, the waits
and checks of ImageDelivery conditions of any namespace, the attacks every provider must refuse
alike and the check that no secret leaks. Results are read from the API server, the stand-in,
the registries and the controller's log, not from sealift code."""
import json
import os
import ssl
import urllib.request

import procs
import registry as reg
from controller import Controller
from imdlib import NS, VENDOR, ImdTestCase

WORKLOAD_IDENTITY_RBAC = os.path.join(procs.SRC, "crds", "workload-identity.yaml")
# a second tenant's namespace: it may not use NS's ServiceAccounts or their cached credentials
OTHER_NS = "other-team"
CA_SECRET = "cloud-ca"


def subject(namespace, name):
    """The subject (sub) of a ServiceAccount's token."""
    return f"system:serviceaccount:{namespace}:{name}"


class StandIn:
    """A stand-in test peer (the hack/peers.sh peer name, built from hack/tools/cloudstandin) on a
    free port with a certificate of the test CA in cert_dir (tls.crt, tls.key, ca.crt); args are
    its own flags."""

    def __init__(self, tc, name, cert_dir, args):
        self.tc, self.name, self.cert_dir = tc, name, cert_dir
        self.port = procs.free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.ctx = ssl.create_default_context(cafile=os.path.join(cert_dir, "ca.crt"))
        # what the stand-in recorded before a restart (a new process starts with no record)
        self.earlier_calls, self.earlier_secrets = [], {}
        self._start(args)

    def _start(self, args):
        self.proc = self.tc.start(
            [procs.peer(self.name), "-addr", f"127.0.0.1:{self.port}",
             "-tls-cert", os.path.join(self.cert_dir, "tls.crt"),
             "-tls-key", os.path.join(self.cert_dir, "tls.key")] + list(args), self.name)
        procs.wait_port(self.port)

    def restart(self, args):
        """Stops the stand-in (by PID) and starts it again on the same port with the flags
        args; calls() and secrets() still include what it recorded before."""
        self.earlier_calls = self.calls()
        self.earlier_secrets = self.secrets()
        self.proc.stop()
        self._start(args)

    def _get(self, path):
        with urllib.request.urlopen(self.url + path, context=self.ctx, timeout=10) as r:
            return json.loads(r.read())

    def calls(self, service=None):
        """The calls so far (never a secret), of one service or all, across restarts."""
        return [c for c in self.earlier_calls + self._get("/_standin/calls")["calls"]
                if service is None or c["service"] == service]

    def secrets(self):
        """Every secret the stand-in received or handed out, by kind, across restarts."""
        found = self._get("/_standin/secrets")
        for kind, values in self.earlier_secrets.items():
            found[kind] = values + [v for v in found.get(kind, []) if v not in values]
        return found


class CloudProviderTestCase(ImdTestCase):
    """ImdTestCase with a cloud registry of one provider. A subclass sets the class attributes
    below and, in start_controller, self.standin (its StandIn), self.cloud (the reg.Registry
    that holds what is delivered to the cloud registry, read by skopeo on its local port),
    self.cloud_user and self.cloud_password (its one account), then calls prepare_cluster and
    start_cloud_controller."""

    provider = None       # "aws", "azure" or "gcp": the targets' provider
    registry_host = None  # the cloud registry's name, as the targets' images have it
    repo_root = "mirror"  # the repositories the shared attacks deliver to, under registry_host
    annotation = None     # the ServiceAccount annotation that names the cloud identity
    # the kinds of /_standin/secrets that a test's exchanges must have filled (else the secret
    # check proves nothing), with the message when one is empty
    required_secrets = {}

    # ---- set-up ----

    def oidc_issuer(self):
        """The API server's service account issuer, as its discovery document names it."""
        status, _, disc = self.kube.request("GET", "/.well-known/openid-configuration")
        self.assertEqual(status, 200, disc)
        return disc["issuer"]

    def prepare_cluster(self, ca_crt, pusher_identity, seed):
        """The RBAC of --workload-identity, OTHER_NS with the vendor's pull secret, the secret
        CA_SECRET of the cloud registry's CA in NS and OTHER_NS, and NS's ServiceAccount pusher
        annotated with pusher_identity; seeds acme/app:1.0 (of seed) at the vendor, its digest
        in self.digest."""
        self.kube.kubectl("apply", "-f", WORKLOAD_IDENTITY_RBAC)
        self.kube.kubectl("create", "namespace", OTHER_NS)
        for ns in (NS, OTHER_NS):
            self.kube.kubectl("create", "secret", "generic", CA_SECRET, "-n", ns,
                              f"--from-file=ca.crt={ca_crt}")
        self.kube.kubectl("create", "secret", "docker-registry", "vendor-pull", "-n", OTHER_NS,
                          f"--docker-server={self.vendor.host}", f"--docker-username={VENDOR[0]}",
                          f"--docker-password={VENDOR[1]}")
        self.service_account("pusher", pusher_identity)
        self.digest = self.seed_image("1.0", seed=seed)

    def start_cloud_controller(self, port, env):
        """The controller with --workload-identity, registry_host reached at 127.0.0.1:port
        (TLS still verifies the name) and the webhook, which serves /convert for v1alpha1
        writes."""
        self.ctl = Controller(
            self, self.kube, webhook=True,
            extra_args=["--webhook-client-ca", self.kube.ca_path,
                        "--webhook-client-name", "kube-apiserver-webhook-client",
                        "--workload-identity",
                        "--connect-to", f"{self.registry_host}:443:127.0.0.1:{port}"],
            env=env)
        self.ctl.wait_ready()

    def service_account(self, name, identity=None, namespace=NS, annotations=None):
        """Applies a ServiceAccount whose annotation names identity (none without it), with
        annotations besides."""
        meta = {"name": name, "namespace": namespace}
        anns = dict(annotations or {})
        if identity:
            anns[self.annotation] = identity
        if anns:
            meta["annotations"] = anns
        self.apply(json.dumps({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}))

    # ---- deliveries and the cloud registry ----

    def cloud_delivery(self, name, target, sa="pusher", namespace=NS, check=True,
                       tags=("1.0",), interval="1m"):
        """Applies an ImageDelivery of the vendor's acme/app tags (1.0) to target with the
        provider, the ServiceAccount sa (none when None) and the cloud registry's CA; returns
        kubectl's result (check=False: a refusal is returned, not raised)."""
        text = ("apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
                f"metadata: {{name: {name}, namespace: {namespace}}}\n"
                "spec:\n  source:\n"
                f"    image: {self.vendor.host}/acme/app\n    tags: {json.dumps(list(tags))}\n"
                "    insecure: true\n    secretRef: {name: vendor-pull}\n"
                "  targets:\n"
                f"  - image: {target}\n    provider: {self.provider}\n"
                + (f"    serviceAccountName: {sa}\n" if sa else "")
                + f"    certSecretRef: {{name: {CA_SECRET}}}\n"
                + f"  interval: {interval}\n")
        return self.kube.kubectl("apply", "-f", "-", input=text, check=check)

    @property
    def cloud_creds(self):
        return f"{self.cloud_user}:{self.cloud_password}"

    def cloud_digest(self, repo, tag="1.0"):
        """The manifest digest of repo:tag in the cloud registry, read by skopeo."""
        return reg.sha256_digest(reg.inspect_raw(f"{self.cloud.host}/{repo}:{tag}",
                                                 self.cloud_creds))

    def at_cloud(self, repo, tag="1.0"):
        return self.exists(f"{self.cloud.host}/{repo}:{tag}", self.cloud_creds)

    # ---- conditions ----

    def get_in(self, namespace, name, kind="imagedeliveries"):
        status, _, body = self.kube.request(
            "GET", f"/apis/sealift.dev/v1beta1/namespaces/{namespace}/{kind}/{name}")
        if status != 200:
            raise AssertionError(f"GET {kind}/{name}: {status} {body}")
        return body

    def wait_ready_condition(self, name, pred, what, namespace=NS, timeout=90,
                             kind="imagedeliveries"):
        """Waits until the Ready condition of the current generation satisfies pred; returns
        (object, condition)."""
        last = {}

        def check():
            obj = self.get_in(namespace, name, kind)
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

    def wait_delivered(self, name, namespace=NS, kind="imagedeliveries"):
        """Waits for Ready=True; returns the object."""
        obj, _ = self.wait_ready_condition(name, lambda c: c["status"] == "True", "Ready=True",
                                           namespace, timeout=120, kind=kind)
        return obj

    def wait_failed(self, name, reason, namespace=NS):
        """Waits for Ready=False with reason; returns the condition's message."""
        _, c = self.wait_ready_condition(
            name, lambda c: c["status"] == "False" and c.get("reason") == reason,
            f"Ready=False reason {reason}", namespace)
        return c["message"]

    def assert_delivered(self, name, repo, sa="pusher"):
        """Delivers name to repo of the cloud registry with NS's ServiceAccount sa: Ready=True,
        and the vendor's digest in the status and in the cloud registry. Returns the object."""
        self.cloud_delivery(name, f"{self.registry_host}/{repo}", sa=sa)
        obj = self.wait_delivered(name)
        self.assertEqual(obj["status"]["images"][0]["digest"], self.digest)
        self.assertEqual(self.cloud_digest(repo), self.digest)
        return obj

    # ---- the attacks every provider refuses alike ----

    def warm_up(self, *services):
        """Delivers with NS/pusher, whose credentials are then in the controller's cache for
        the attacks that follow; returns the stand-in's calls of each of services so far."""
        self.assert_delivered("warm", f"{self.repo_root}/warm")
        return [self.standin.calls(s) for s in services]

    def assert_cel_refusals(self, off_registry_message):
        """The API server refuses the provider without a ServiceAccount, and off its registry
        (the customer's) with off_registry_message."""
        cp = self.cloud_delivery("no-sa", f"{self.registry_host}/{self.repo_root}/app",
                                 sa=None, check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn(f"provider {self.provider} needs serviceAccountName", cp.stderr)
        cp = self.cloud_delivery("off-registry", f"{self.customer.host}/mirror/app",
                                 check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn(off_registry_message, cp.stderr)

    def assert_smuggling_refused(self, not_host_message):
        """The provider smuggled onto the customer registry through v1alpha1, whose schema (and
        CEL) knows no provider: the conversion annotation carries it into v1beta1, and the
        controller refuses it (not_host_message) before anything is sent to the customer."""
        customer_seen = len(self.requests(self.customer))
        alpha_target = {"image": f"{self.customer.host}/mirror/app", "insecure": True}
        beta_target = dict(alpha_target, insecureSkipTLSVerify=True, provider=self.provider,
                           serviceAccountName="pusher")
        self.apply(json.dumps({
            "apiVersion": "sealift.dev/v1alpha1", "kind": "ImageDelivery",
            "metadata": {"name": "smuggled", "namespace": NS, "annotations": {
                "sealift.dev/v1beta1-fields": json.dumps({"spec": {"targets": [beta_target]}})}},
            "spec": {"source": {"image": f"{self.vendor.host}/acme/app", "tags": ["1.0"],
                                "insecure": True,
                                "credentials": {"secretRef": {"name": "vendor-pull"}}},
                     "targets": [alpha_target], "interval": "1m"}}))
        stored = self.get_in(NS, "smuggled")["spec"]["targets"][0]
        self.assertEqual((stored.get("provider"), stored.get("serviceAccountName")),
                         (self.provider, "pusher"), "the smuggling did not reach v1beta1")
        message = self.wait_failed("smuggled", "InvalidSpec")
        self.assertIn("spec.targets[0]", message)
        self.assertIn(self.customer.host.split(":")[0], message)
        self.assertIn(not_host_message, message)
        self.assertEqual(self.requests(self.customer)[customer_seen:], [])

    def assert_cloud_refused(self, name, identity, reason, pieces, annotations=None):
        """Applies NS's ServiceAccount name (identity and annotations as service_account has
        them) and delivers name to the cloud registry with it; waits for Ready=False with reason
        and a message that names the ServiceAccount and has every one of pieces; nothing was
        written. Returns the message."""
        self.service_account(name, identity, annotations=annotations)
        self.cloud_delivery(name, f"{self.registry_host}/{self.repo_root}/{name}", sa=name)
        message = self.wait_failed(name, reason)
        for piece in (f"{NS}/{name}",) + tuple(pieces):
            self.assertIn(piece, message)
        self.assertFalse(self.at_cloud(f"{self.repo_root}/{name}"))
        return message

    def assert_refused_calls(self, service, field, value, error, sa):
        """The stand-in's calls of service whose field is value are not empty, and each refused
        the token of NS/sa with error; returns them."""
        calls = [c for c in self.standin.calls(service) if c.get(field) == value]
        self.assertTrue(calls, f"no {service} call with {field} {value}")
        for c in calls:
            self.assertEqual((c["ok"], c["error"], c["sub"]), (False, error, subject(NS, sa)))
        return calls

    def assert_borrowed_refused(self):
        """pusher exists only in NS: a delivery of OTHER_NS naming it gets nothing, not even the
        credentials NS/pusher has in the controller's cache."""
        self.cloud_delivery("borrowed", f"{self.registry_host}/{self.repo_root}/borrowed",
                            namespace=OTHER_NS)
        message = self.wait_failed("borrowed", "ServiceAccountNotFound", namespace=OTHER_NS)
        self.assertIn(f"{OTHER_NS}/pusher", message)
        self.assertFalse(self.at_cloud(f"{self.repo_root}/borrowed"))

    # ---- secrets ----

    def assert_no_secret_leaked(self):
        """Every secret the stand-in received or handed out, and the cloud registry's password,
        is not shown (assert_not_shown); the kinds of required_secrets are not empty."""
        found = self.standin.secrets()
        for kind, message in self.required_secrets.items():
            self.assertTrue(found[kind], message)
        self.assert_not_shown([self.cloud_password]
                              + [v for values in found.values() for v in values])

    def assert_not_shown(self, values):
        """None of values (secrets), whole or a distinctive piece of it (a JWT's signature, the
        middle of an opaque token whose head is a fixed prefix), is in any ImageDelivery's or
        ScanPolicy's status, any event or the controller's log."""
        needles = set()
        for v in values:
            if not v:
                continue
            needles.add(v)
            needles.add(v.rsplit(".", 1)[-1][-24:])
            needles.add(v[len(v) // 2:len(v) // 2 + 16])
        statuses = self.kube.kubectl("get", "imagedeliveries,scanpolicies", "-A", "-o",
                                     "json").stdout
        statuses = json.dumps([o.get("status") for o in json.loads(statuses)["items"]])
        events = self.kube.kubectl("get", "events", "-A", "-o", "json").stdout
        log = self.ctl.proc.output()
        for where, text in (("a status", statuses), ("an event", events),
                            ("the controller's log", log)):
            for needle in needles:
                self.assertNotIn(needle, text, f"a secret is in {where}")
