"""ImageDelivery `provider: aws`, end to end: Amazon ECR credentials from a ServiceAccount's
identity (EKS "IAM roles for service accounts") with a real API server, a real docker-registry
and the awsstandin test peer (hack/tools/awsstandin) in place of AWS STS and ECR:

- the controller (--workload-identity) gets a token of the ServiceAccount for the audience
  sts.amazonaws.com (TokenRequest), exchanges it at STS (AssumeRoleWithWebIdentity) for the
  session of the role its eks.amazonaws.com/role-arn annotation names, and asks ECR
  (GetAuthorizationToken, Signature Version 4, checked by the AWS SDK for Go's own signer in the
  stand-in) for the registry password;
- the ECR registry is a docker-registry with TLS for 123456789012.dkr.ecr.us-east-1.amazonaws.com
  and htpasswd user AWS, reached through --connect-to (TLS still verifies that name);
- the attacks: CEL refusals, `provider: aws` smuggled onto a non-ECR registry through a
  v1alpha1 object's conversion annotation, a ServiceAccount without the annotation, a role that
  does not trust the ServiceAccount, a ServiceAccount name borrowed from another namespace; and
  no secret (ServiceAccount token, STS secret key and session token, ECR password) in any
  status, event or the controller's log;
- a ScanPolicy whose spec.database (an advisory database pushed with `sealift db push`) is on
  ECR with provider aws: loaded with the role's credentials, its own STS exchange (the
  ScanPolicy reconciler does not share ImageDelivery's credentials cache), and the CEL refusal
  of provider aws off ECR.
Results are checked with skopeo and the stand-in's record of calls, not with sealift code."""
import json
import os
import secrets
import ssl
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scan"))
import procs  # noqa: E402
import registry as reg  # noqa: E402
import scanlib  # noqa: E402  (e2e/scan/scanlib.py: the advisory test data, `sealift db push`)
import tlsgen  # noqa: E402
from controller import Controller  # noqa: E402
from imdlib import NS, VENDOR, ImdTestCase  # noqa: E402

V = ":".join(VENDOR)
ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ROLE_PUSHER = "arn:aws:iam::123456789012:role/sealift-pusher"
ROLE_OTHER = "arn:aws:iam::123456789012:role/other-team-builder"
OTHER_NS = "other-team"
AUDIENCE = "sts.amazonaws.com"
ANNOTATION = "eks.amazonaws.com/role-arn"
WORKLOAD_IDENTITY_RBAC = os.path.join(procs.SRC, "crds", "workload-identity.yaml")


class AwsStandIn:
    """hack/tools/awsstandin on a free port with a certificate of the test CA."""

    def __init__(self, tc, cert_dir, sa_public_key, issuer, roles, ecr_password):
        self.port = procs.free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        args = [procs.peer("awsstandin"), "-addr", f"127.0.0.1:{self.port}",
                "-tls-cert", os.path.join(cert_dir, "tls.crt"),
                "-tls-key", os.path.join(cert_dir, "tls.key"),
                "-sa-public-key", sa_public_key, "-issuer", issuer,
                "-ecr-password", ecr_password, "-region", "us-east-1"]
        for arn, subject in roles:
            args += ["-role", f"{arn}={subject}"]
        self.proc = tc.start(args, "awsstandin")
        procs.wait_port(self.port)
        self.ctx = ssl.create_default_context(cafile=os.path.join(cert_dir, "ca.crt"))

    def _get(self, path):
        with urllib.request.urlopen(self.url + path, context=self.ctx, timeout=10) as r:
            return json.loads(r.read())

    def calls(self, service=None):
        return [c for c in self._get("/_standin/calls")["calls"]
                if service is None or c["service"] == service]

    def secrets(self):
        """Every secret the stand-in received or handed out, by kind."""
        return self._get("/_standin/secrets")


class ProviderAwsTest(ImdTestCase):
    def start_controller(self):
        # the ECR registry and the stand-in share one test CA; the registry's certificate names
        # only the ECR host, so a TLS connection that did not verify that name would fail
        tls = os.path.join(self.tmp, "tls")
        ecr_cert = tlsgen.make_serving_cert(os.path.join(tls, "ecr"), dns_names=(ECR_HOST,),
                                            ips=())
        aws_cert = tlsgen.make_serving_cert(os.path.join(tls, "aws"), ca_dir=ecr_cert)
        self.ca_crt = os.path.join(ecr_cert, "ca.crt")
        self.ecr_password = "ecr-" + secrets.token_urlsafe(24)
        self.ecr = reg.Registry(self, "ecr", users={"AWS": self.ecr_password},
                                tls=(os.path.join(ecr_cert, "tls.crt"),
                                     os.path.join(ecr_cert, "tls.key")))
        self.ecr_creds = f"AWS:{self.ecr_password}"
        status, _, disc = self.kube.request("GET", "/.well-known/openid-configuration")
        self.assertEqual(status, 200, disc)
        self.issuer = disc["issuer"]
        self.aws = AwsStandIn(self, aws_cert, os.path.join(self.kube.dir, "pki", "sa.pub"),
                              self.issuer,
                              [(ROLE_PUSHER, f"system:serviceaccount:{NS}:pusher"),
                               (ROLE_OTHER, f"system:serviceaccount:{OTHER_NS}:builder")],
                              self.ecr_password)
        self.kube.kubectl("apply", "-f", WORKLOAD_IDENTITY_RBAC)
        self.kube.kubectl("create", "namespace", OTHER_NS)
        for ns in (NS, OTHER_NS):
            self.kube.kubectl("create", "secret", "generic", "ecr-ca", "-n", ns,
                              f"--from-file=ca.crt={self.ca_crt}")
        self.kube.kubectl("create", "secret", "docker-registry", "vendor-pull", "-n", OTHER_NS,
                          f"--docker-server={self.vendor.host}", f"--docker-username={VENDOR[0]}",
                          f"--docker-password={VENDOR[1]}")
        self.service_account("pusher", ROLE_PUSHER)
        self.digest = self.seed_image("1.0", seed=41)
        # the webhook serves /convert, which v1alpha1 writes go through
        self.ctl = Controller(
            self, self.kube, webhook=True,
            extra_args=["--webhook-client-ca", self.kube.ca_path,
                        "--webhook-client-name", "kube-apiserver-webhook-client",
                        "--workload-identity",
                        "--connect-to", f"{ECR_HOST}:443:127.0.0.1:{self.ecr.port}"],
            env={"AWS_ENDPOINT_URL_STS": self.aws.url, "AWS_ENDPOINT_URL_ECR": self.aws.url,
                 "AWS_CA_BUNDLE": self.ca_crt})
        self.ctl.wait_ready()

    # ---- helpers ----

    def service_account(self, name, role=None, namespace=NS):
        ann = f"  annotations: {{{ANNOTATION}: '{role}'}}\n" if role else ""
        self.apply("apiVersion: v1\nkind: ServiceAccount\n"
                   f"metadata:\n  name: {name}\n  namespace: {namespace}\n" + ann)

    def aws_delivery(self, name, target, sa="pusher", namespace=NS, check=True, extra_target=""):
        text = ("apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
                f"metadata: {{name: {name}, namespace: {namespace}}}\n"
                "spec:\n  source:\n"
                f"    image: {self.vendor.host}/acme/app\n    tags: ['1.0']\n"
                "    insecure: true\n    secretRef: {name: vendor-pull}\n"
                "  targets:\n"
                f"  - image: {target}\n    provider: aws\n"
                + (f"    serviceAccountName: {sa}\n" if sa else "")
                + "    certSecretRef: {name: ecr-ca}\n" + extra_target
                + "  interval: 1m\n")
        return self.kube.kubectl("apply", "-f", "-", input=text, check=check)

    def get_in(self, namespace, name, kind="imagedeliveries"):
        status, _, body = self.kube.request(
            "GET", f"/apis/sealift.dev/v1beta1/namespaces/{namespace}/{kind}/{name}")
        if status != 200:
            raise AssertionError(f"GET {kind}/{name}: {status} {body}")
        return body

    def wait_ready_condition(self, name, pred, what, namespace=NS, timeout=90,
                             kind="imagedeliveries"):
        """Waits until the Ready condition of the current generation satisfies pred; returns it."""
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

    def wait_failed(self, name, reason, namespace=NS):
        _, c = self.wait_ready_condition(
            name, lambda c: c["status"] == "False" and c.get("reason") == reason,
            f"Ready=False reason {reason}", namespace)
        return c["message"]

    def ecr_digest(self, repo, tag="1.0"):
        """The manifest digest at the ECR registry, read by skopeo on its local port."""
        return reg.sha256_digest(reg.inspect_raw(f"{self.ecr.host}/{repo}:{tag}",
                                                 self.ecr_creds))

    def assert_no_secret_leaked(self):
        """No secret the stand-in received or handed out, nor the ECR password, is in any
        ImageDelivery's or ScanPolicy's status, any event or the controller's log."""
        found = self.aws.secrets()
        self.assertTrue(found["webIdentityTokens"], "STS never received a token")
        values = [self.ecr_password]
        for kind in ("webIdentityTokens", "secretAccessKeys", "sessionTokens",
                     "ecrAuthorizationTokens"):
            values += found[kind]
        # whole values, and pieces that are unique to each (a JWT's signature, the tail of a
        # session token whose head is a fixed prefix)
        needles = set()
        for v in values:
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

    # ---- tests ----

    def test_delivery_with_role_credentials_cached(self):
        target = f"{ECR_HOST}/mirror/app"
        self.aws_delivery("to-ecr", target)
        obj, _ = self.wait_ready_condition("to-ecr", lambda c: c["status"] == "True",
                                           "Ready=True", timeout=120)
        self.assertEqual(obj["status"]["images"][0]["digest"], self.digest)
        self.assertEqual(self.ecr_digest("mirror/app"), self.digest)

        # one STS exchange: the pusher ServiceAccount's own token, for STS's audience
        sts = self.aws.calls("sts")
        self.assertEqual(len(sts), 1, sts)
        self.assertTrue(sts[0]["ok"], sts)
        self.assertEqual(sts[0]["role"], ROLE_PUSHER)
        self.assertEqual(sts[0]["sub"], f"system:serviceaccount:{NS}:pusher")
        self.assertEqual(sts[0]["aud"], [AUDIENCE])
        self.assertEqual(sts[0]["durationSeconds"], 3600)
        # ECR asked with that session, every request's signature the AWS SDK's own
        ecr = self.aws.calls("ecr")
        self.assertGreaterEqual(len(ecr), 1)
        for c in ecr:
            self.assertTrue(c["ok"] and c["verified"], c)
            self.assertEqual(c["accessKeyId"], sts[0]["accessKeyId"])
            self.assertEqual(c["region"], "us-east-1")
            self.assertEqual(c["operation"], "GetAuthorizationToken")

        # the same ServiceAccount, role and registry again: the cached credentials, no new
        # exchange with STS or ECR
        self.aws_delivery("to-ecr-again", f"{ECR_HOST}/mirror/again")
        obj, _ = self.wait_ready_condition("to-ecr-again", lambda c: c["status"] == "True",
                                           "Ready=True", timeout=120)
        self.assertEqual(self.ecr_digest("mirror/again"), self.digest)
        self.assertEqual(len(self.aws.calls("sts")), 1)
        self.assertEqual(len(self.aws.calls("ecr")), len(ecr))
        self.assert_no_secret_leaked()

    def test_attacks_get_no_credentials(self):
        # credentials of NS/pusher are in the controller's cache for everything below
        self.aws_delivery("warm", f"{ECR_HOST}/mirror/warm")
        self.wait_ready_condition("warm", lambda c: c["status"] == "True", "Ready=True",
                                  timeout=120)
        self.assertEqual(self.ecr_digest("mirror/warm"), self.digest)
        sts_before = self.aws.calls("sts")
        ecr_before = self.aws.calls("ecr")
        self.assertEqual(len(sts_before), 1)

        # the API server refuses provider aws without a ServiceAccount, or off ECR
        cp = self.aws_delivery("no-sa", f"{ECR_HOST}/mirror/app", sa=None, check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("provider aws needs serviceAccountName", cp.stderr)
        cp = self.aws_delivery("not-ecr", f"{self.customer.host}/mirror/app", check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("provider aws needs an Amazon ECR image", cp.stderr)

        # provider aws smuggled onto the customer registry through v1alpha1, whose schema (and
        # CEL) knows no provider: the conversion annotation carries it into v1beta1, and the
        # controller refuses it before anything is sent anywhere
        customer_seen = len(self.requests(self.customer))
        alpha_target = {"image": f"{self.customer.host}/mirror/app", "insecure": True}
        beta_target = dict(alpha_target, insecureSkipTLSVerify=True, provider="aws",
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
                         ("aws", "pusher"), "the smuggling did not reach v1beta1")
        message = self.wait_failed("smuggled", "InvalidSpec")
        self.assertIn("spec.targets[0]", message)
        self.assertIn(self.customer.host.split(":")[0], message)
        self.assertIn("is not an Amazon ECR registry host", message)
        self.assertEqual(self.requests(self.customer)[customer_seen:], [])
        self.assertNotIn("auth.user.name=AWS", self.customer.log_text())
        self.assertNotIn('user "AWS"', self.customer.log_text())

        # a ServiceAccount without the role annotation: named, nothing exchanged
        self.service_account("plain")
        self.aws_delivery("plain-sa", f"{ECR_HOST}/mirror/plain", sa="plain")
        message = self.wait_failed("plain-sa", "InvalidServiceAccount")
        self.assertIn(f"{NS}/plain", message)
        self.assertIn(f"has no annotation {ANNOTATION}", message)

        # a role whose trust policy names another subject: STS refuses, the condition says so
        self.service_account("intruder", ROLE_OTHER)
        self.aws_delivery("intruder", f"{ECR_HOST}/mirror/intruder", sa="intruder")
        message = self.wait_failed("intruder", "CloudAuthFailed")
        self.assertIn("spec.targets[0]", message)
        self.assertIn(ROLE_OTHER, message)
        self.assertIn(f"ServiceAccount {NS}/intruder", message)
        self.assertIn("AccessDenied", message)
        self.assertIn("Not authorized to perform sts:AssumeRoleWithWebIdentity", message)
        refused = [c for c in self.aws.calls("sts") if c["role"] == ROLE_OTHER]
        self.assertTrue(refused)
        for c in refused:
            self.assertEqual((c["ok"], c["error"], c["sub"]),
                             (False, "AccessDenied", f"system:serviceaccount:{NS}:intruder"))
        self.assertFalse(self.exists(f"{self.ecr.host}/mirror/intruder:1.0", self.ecr_creds))

        # pusher exists only in NS: a delivery of another namespace naming it gets nothing,
        # not even the credentials NS/pusher has in the controller's cache
        self.aws_delivery("borrowed", f"{ECR_HOST}/mirror/borrowed", namespace=OTHER_NS)
        message = self.wait_failed("borrowed", "ServiceAccountNotFound", namespace=OTHER_NS)
        self.assertIn(f"{OTHER_NS}/pusher", message)
        self.assertFalse(self.exists(f"{self.ecr.host}/mirror/borrowed:1.0", self.ecr_creds))

        # STS saw only the refused role's exchanges since the warm-up, ECR nothing at all
        sts_after = self.aws.calls("sts")
        self.assertEqual([c for c in sts_after[len(sts_before):] if c["role"] != ROLE_OTHER],
                         [])
        self.assertFalse([c for c in sts_after if OTHER_NS in c.get("sub", "")])
        self.assertEqual(self.aws.calls("ecr"), ecr_before)
        # the target of the refused deliveries were never written
        for repo in ("mirror/plain", "mirror/app"):
            self.assertFalse(self.exists(f"{self.ecr.host}/{repo}:1.0", self.ecr_creds))
        self.assert_no_secret_leaked()

    def scan_policy_database(self, name, image, check=True):
        return self.kube.kubectl("apply", "-f", "-", check=check, input=(
            "apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
            f"metadata: {{name: {name}, namespace: {NS}}}\n"
            "spec:\n  database:\n"
            f"    image: {image}\n    provider: aws\n    serviceAccountName: pusher\n"
            "    certSecretRef: {name: ecr-ca}\n"
            "  severityThreshold: High\n"))

    def test_scan_policy_database_on_ecr(self):
        """ScanPolicy spec.database with provider aws: the advisory database is pulled from ECR
        with the role's credentials. The ScanPolicy reconciler keeps its own credentials cache
        (not ImageDelivery's), so it makes its own STS exchange for the same ServiceAccount."""
        adv = scanlib.advisory_dir(os.path.join(self.tmp, "advisories"))
        db_digest, db_records = scanlib.db_push(
            adv, f"{self.ecr.host}/security/advisories:latest", creds=self.ecr_creds)
        self.assertTrue(db_digest.startswith("sha256:"))
        self.assertGreater(db_records, 0)

        # an ImageDelivery of the same ServiceAccount, role and registry first
        self.aws_delivery("to-ecr", f"{ECR_HOST}/mirror/app")
        self.wait_ready_condition("to-ecr", lambda c: c["status"] == "True", "Ready=True",
                                  timeout=120)
        self.assertEqual(len(self.aws.calls("sts")), 1)
        ecr_before = len(self.aws.calls("ecr"))

        self.scan_policy_database("on-ecr", f"{ECR_HOST}/security/advisories:latest")
        obj, _ = self.wait_ready_condition("on-ecr", lambda c: c["status"] == "True",
                                           "Ready=True", timeout=120, kind="scanpolicies")
        self.assertEqual(obj["status"]["database"]["digest"], db_digest)
        self.assertEqual(obj["status"]["database"]["records"], db_records)

        # a second exchange at STS, for the pusher ServiceAccount's own token, then ECR asked
        # with that new session
        sts = self.aws.calls("sts")
        self.assertEqual(len(sts), 2, sts)
        self.assertTrue(sts[1]["ok"], sts)
        self.assertEqual(sts[1]["role"], ROLE_PUSHER)
        self.assertEqual(sts[1]["sub"], f"system:serviceaccount:{NS}:pusher")
        self.assertEqual(sts[1]["aud"], [AUDIENCE])
        self.assertNotEqual(sts[1]["accessKeyId"], sts[0]["accessKeyId"])
        ecr = self.aws.calls("ecr")[ecr_before:]
        self.assertGreaterEqual(len(ecr), 1)
        for c in ecr:
            self.assertTrue(c["ok"] and c["verified"], c)
            self.assertEqual(c["accessKeyId"], sts[1]["accessKeyId"])
            self.assertEqual(c["operation"], "GetAuthorizationToken")

        # the API server refuses provider aws for a database off ECR
        cp = self.scan_policy_database(
            "not-ecr", f"{self.customer.host}/security/advisories:latest", check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("provider aws needs an Amazon ECR image", cp.stderr)
        status, _, _ = self.kube.request(
            "GET", f"/apis/sealift.dev/v1beta1/namespaces/{NS}/scanpolicies/not-ecr")
        self.assertEqual(status, 404)
        self.assertEqual(len(self.aws.calls("sts")), 2)
        self.assert_no_secret_leaked()


if __name__ == "__main__":
    unittest.main()
