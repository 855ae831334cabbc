"""ImageDelivery `provider: aws`, end to end: Amazon ECR credentials from a ServiceAccount's
identity (EKS "IAM roles for service accounts") with a real API server, a real docker-registry
and the awsstandin test peer (hack/tools/cloudstandin/aws) in place of AWS STS and ECR:

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
- the registry's password rotated while the controller keeps the old one: the registry's
  refusal makes the controller log in again once in the same pass (a CloudCredentialsRenewed
  event) and deliver; a registry that refuses the new credentials too: AuthenticationFailed,
  one login per attempt, never a loop, and no event claiming a renewal;
- a ScanPolicy whose spec.database (an advisory database pushed with `sealift db push`) is on
  ECR with provider aws: loaded with the role's credentials, its own STS exchange (the
  ScanPolicy reconciler does not share ImageDelivery's credentials cache), and the CEL refusal
  of provider aws off ECR.
Results are checked with skopeo and the stand-in's record of calls, not with sealift code."""
import base64
import json
import os
import secrets
import ssl
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scan"))
import registry as reg  # noqa: E402
import scanlib  # noqa: E402  (e2e/scan/scanlib.py: the advisory test data, `sealift db push`)
import tlsgen  # noqa: E402
from cloudlib import CA_SECRET, OTHER_NS, CloudProviderTestCase, StandIn, subject  # noqa: E402
from imdlib import NS  # noqa: E402
import procs  # noqa: E402

ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ROLE_PUSHER = "arn:aws:iam::123456789012:role/sealift-pusher"
ROLE_OTHER = "arn:aws:iam::123456789012:role/other-team-builder"
AUDIENCE = "sts.amazonaws.com"
ANNOTATION = "eks.amazonaws.com/role-arn"


class ProviderAwsTest(CloudProviderTestCase):
    provider = "aws"
    registry_host = ECR_HOST
    annotation = ANNOTATION
    required_secrets = {"webIdentityTokens": "STS never received a token"}

    def start_controller(self):
        # the ECR registry and the stand-in share one test CA; the registry's certificate names
        # only the ECR host, so a TLS connection that did not verify that name would fail
        tls = os.path.join(self.tmp, "tls")
        ecr_cert = tlsgen.make_serving_cert(os.path.join(tls, "ecr"), dns_names=(ECR_HOST,),
                                            ips=())
        aws_cert = tlsgen.make_serving_cert(os.path.join(tls, "aws"), ca_dir=ecr_cert)
        ca_crt = os.path.join(ecr_cert, "ca.crt")
        self.cloud_user, self.cloud_password = "AWS", "ecr-" + secrets.token_urlsafe(24)
        self.cloud = reg.Registry(self, "ecr", users={self.cloud_user: self.cloud_password},
                                  tls=(os.path.join(ecr_cert, "tls.crt"),
                                       os.path.join(ecr_cert, "tls.key")))
        self.ca_crt = ca_crt
        self.standin = StandIn(self, "awsstandin", aws_cert, self.standin_args())
        self.prepare_cluster(ca_crt, ROLE_PUSHER, seed=41)
        self.start_cloud_controller(self.cloud.port, {
            "AWS_ENDPOINT_URL_STS": self.standin.url, "AWS_ENDPOINT_URL_ECR": self.standin.url,
            "AWS_CA_BUNDLE": ca_crt})

    def standin_args(self):
        """The stand-in's flags: it hands out the ECR registry's password self.cloud_password."""
        return ["-sa-public-key", os.path.join(self.kube.dir, "pki", "sa.pub"),
                "-issuer", self.oidc_issuer(), "-ecr-password", self.cloud_password,
                "-region", "us-east-1",
                "-role", f"{ROLE_PUSHER}={subject(NS, 'pusher')}",
                "-role", f"{ROLE_OTHER}={subject(OTHER_NS, 'builder')}"]

    def ecr_answers(self, password):
        """The HTTP status the ECR registry answers to GET /v2/ with user AWS and password
        (plain urllib: TLS checked against the test CA; the certificate names the ECR host, not
        the 127.0.0.1 it is reached at)."""
        ctx = ssl.create_default_context(cafile=self.ca_crt)
        ctx.check_hostname = False
        req = urllib.request.Request(f"https://{self.cloud.host}/v2/")
        basic = base64.b64encode(f"{self.cloud_user}:{password}".encode()).decode()
        req.add_header("Authorization", "Basic " + basic)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def passes(self):
        """How many ImageDelivery reconciles the controller has finished (its metrics)."""
        status, text = self.ctl.get("/metrics")
        self.assertEqual(status, 200)
        return sum(int(float(line.split()[-1])) for line in text.splitlines()
                   if line.startswith('sealift_reconcile_total{kind="ImageDelivery",'))

    def events(self, name, reason):
        """The events of ImageDelivery name in NS with reason."""
        items = json.loads(self.kube.kubectl("get", "events", "-n", NS, "-o", "json").stdout)
        return [e for e in items["items"] if e.get("reason") == reason
                and e["involvedObject"].get("kind") == "ImageDelivery"
                and e["involvedObject"].get("name") == name]

    def rotate_cloud_password(self, password):
        """The stand-in restarted (same port) handing out password, then the ECR registry
        restarted (same port and storage) knowing only password for user AWS. In this order a
        pass in between still has a registry that takes the kept password, or one that is
        down; never one that refuses it while the old stand-in would hand out the old one."""
        self.cloud_password = password
        self.standin.restart(self.standin_args())
        self.cloud.restart(users={self.cloud_user: password})

    # ---- tests ----

    def test_delivery_with_role_credentials_cached(self):
        self.assert_delivered("to-ecr", "mirror/app")

        # one STS exchange: the pusher ServiceAccount's own token, for STS's audience
        sts = self.standin.calls("sts")
        self.assertEqual(len(sts), 1, sts)
        self.assertTrue(sts[0]["ok"], sts)
        self.assertEqual(sts[0]["role"], ROLE_PUSHER)
        self.assertEqual(sts[0]["sub"], subject(NS, "pusher"))
        self.assertEqual(sts[0]["aud"], [AUDIENCE])
        self.assertEqual(sts[0]["durationSeconds"], 3600)
        # ECR asked with that session, every request's signature the AWS SDK's own
        ecr = self.standin.calls("ecr")
        self.assertGreaterEqual(len(ecr), 1)
        for c in ecr:
            self.assertTrue(c["ok"] and c["verified"], c)
            self.assertEqual(c["accessKeyId"], sts[0]["accessKeyId"])
            self.assertEqual(c["region"], "us-east-1")
            self.assertEqual(c["operation"], "GetAuthorizationToken")

        # the same ServiceAccount, role and registry again: the cached credentials, no new
        # exchange with STS or ECR
        self.assert_delivered("to-ecr-again", "mirror/again")
        self.assertEqual(len(self.standin.calls("sts")), 1)
        self.assertEqual(len(self.standin.calls("ecr")), len(ecr))
        self.assert_no_secret_leaked()

    def test_rotated_registry_password_is_renewed_once(self):
        """The ECR registry's password is rotated while the controller keeps the old one: the
        next pass is refused with the kept credentials, logs in again once, delivers with the
        new ones and says so in a CloudCredentialsRenewed event. A registry that then refuses
        whatever the role gets: Ready=False AuthenticationFailed, one login per attempt."""
        repo = "mirror/app"
        target = f"{ECR_HOST}/{repo}"
        self.assert_delivered("to-ecr", repo)
        old_password = self.cloud_password
        logins = len(self.standin.calls("sts")), len(self.standin.calls("ecr"))
        self.assertEqual(logins[0], 1)

        # the rotation: the registry knows only the new password, ECR hands out the new one
        new_password = "ecr-" + secrets.token_urlsafe(24)
        self.rotate_cloud_password(new_password)
        self.assertEqual(self.ecr_answers(old_password), 401)
        self.assertEqual(self.ecr_answers(new_password), 200)

        # a new tag at the vendor and in the spec: the pass asks the target with the kept
        # (old) password first
        new_digest = self.seed_image("1.1", seed=43)
        self.cloud_delivery("to-ecr", target, tags=("1.0", "1.1"))
        obj = self.wait_delivered("to-ecr")
        self.assertEqual(self.cloud_digest(repo, "1.1"), new_digest)
        self.assertEqual(self.cloud_digest(repo, "1.0"), self.digest)
        self.assertEqual(sorted(i["tag"] for i in obj["status"]["images"]), ["1.0", "1.1"])

        # exactly one new login: one STS exchange of the pusher's token, one ECR call with it
        sts = self.standin.calls("sts")[logins[0]:]
        ecr = self.standin.calls("ecr")[logins[1]:]
        self.assertEqual(len(sts), 1, sts)
        self.assertTrue(sts[0]["ok"], sts)
        self.assertEqual((sts[0]["role"], sts[0]["sub"]), (ROLE_PUSHER, subject(NS, "pusher")))
        self.assertEqual(len(ecr), 1, ecr)
        self.assertTrue(ecr[0]["ok"] and ecr[0]["verified"], ecr)
        self.assertEqual(ecr[0]["operation"], "GetAuthorizationToken")
        self.assertEqual(ecr[0]["accessKeyId"], sts[0]["accessKeyId"])

        renewed = procs.wait_for(lambda: self.events("to-ecr", "CloudCredentialsRenewed"),
                                 timeout=60, what="a CloudCredentialsRenewed event")
        self.assertEqual(len(renewed), 1, renewed)
        self.assertEqual(renewed[0]["type"], "Normal")
        for piece in ("spec.targets[0]", f"ServiceAccount {NS}/pusher", "401"):
            self.assertIn(piece, renewed[0]["message"])
        self.assert_no_secret_leaked()  # the old and the new password, every token

        # the registry now refuses what ECR hands out (the role lost its permission, say); two
        # attempts, each started by a change of the spec (no wait for the slow backoff): the
        # first is refused the kept credentials and logs in again once, the second has none
        # kept and logs in once; both end in AuthenticationFailed
        logins = len(self.standin.calls("sts")), len(self.standin.calls("ecr"))
        passes_before = self.passes()
        refused_password = "ecr-" + secrets.token_urlsafe(24)
        self.cloud.restart(users={self.cloud_user: refused_password})
        self.assertEqual(self.ecr_answers(new_password), 401)
        for interval in ("2m", "3m"):
            self.cloud_delivery("to-ecr", target, tags=("1.0", "1.1"), interval=interval)
            message = self.wait_failed("to-ecr", "AuthenticationFailed")
            self.assertIn("spec.targets[0]", message)
            self.assertIn("401", message)
        # the reconcile counter is raised just after the pass writes its status
        procs.wait_for(lambda: self.passes() - passes_before >= 2, timeout=60,
                       what="the controller to count both attempts of to-ecr")
        sts = self.standin.calls("sts")[logins[0]:]
        ecr = self.standin.calls("ecr")[logins[1]:]
        attempts = self.passes() - passes_before
        self.assertGreaterEqual(len(sts), 2, sts)
        self.assertLessEqual(len(sts), attempts, f"{len(sts)} logins in {attempts} attempts")
        self.assertEqual(len(ecr), len(sts), ecr)
        self.assertTrue(all(c["ok"] for c in sts + ecr), sts + ecr)
        # a new login the registry refused too is no renewal: still the one event of the rotation
        renewed = self.events("to-ecr", "CloudCredentialsRenewed")
        self.assertEqual(sum(e.get("count") or 1 for e in renewed), 1, renewed)
        self.assert_not_shown([refused_password])
        self.assert_no_secret_leaked()

    def test_attacks_get_no_credentials(self):
        sts_before, ecr_before = self.warm_up("sts", "ecr")
        self.assertEqual(len(sts_before), 1)
        self.assert_cel_refusals("provider aws needs an Amazon ECR image")
        self.assert_smuggling_refused("is not an Amazon ECR registry host")
        self.assertNotIn("auth.user.name=AWS", self.customer.log_text())
        self.assertNotIn('user "AWS"', self.customer.log_text())

        # a ServiceAccount without the role annotation: named, nothing exchanged
        self.assert_cloud_refused("plain", None, "InvalidServiceAccount",
                                  [f"has no annotation {ANNOTATION}"])

        # a role whose trust policy names another subject: STS refuses, the condition says so
        self.assert_cloud_refused("intruder", ROLE_OTHER, "CloudAuthFailed", [
            "spec.targets[0]", ROLE_OTHER, f"ServiceAccount {NS}/intruder", "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity"])
        self.assert_refused_calls("sts", "role", ROLE_OTHER, "AccessDenied", "intruder")

        self.assert_borrowed_refused()

        # STS saw only the refused role's exchanges since the warm-up, ECR nothing at all
        sts_after = self.standin.calls("sts")
        self.assertEqual([c for c in sts_after[len(sts_before):] if c["role"] != ROLE_OTHER],
                         [])
        self.assertFalse([c for c in sts_after if OTHER_NS in c.get("sub", "")])
        self.assertEqual(self.standin.calls("ecr"), ecr_before)
        # the targets of the refused deliveries were never written
        for repo in ("mirror/plain", "mirror/app"):
            self.assertFalse(self.at_cloud(repo))
        self.assert_no_secret_leaked()

    def scan_policy_database(self, name, image, check=True):
        return self.kube.kubectl("apply", "-f", "-", check=check, input=(
            "apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
            f"metadata: {{name: {name}, namespace: {NS}}}\n"
            "spec:\n  database:\n"
            f"    image: {image}\n    provider: aws\n    serviceAccountName: pusher\n"
            f"    certSecretRef: {{name: {CA_SECRET}}}\n"
            "  severityThreshold: High\n"))

    def test_scan_policy_database_on_ecr(self):
        """ScanPolicy spec.database with provider aws: the advisory database is pulled from ECR
        with the role's credentials. The ScanPolicy reconciler keeps its own credentials cache
        (not ImageDelivery's), so it makes its own STS exchange for the same ServiceAccount."""
        adv = scanlib.advisory_dir(os.path.join(self.tmp, "advisories"))
        db_digest, db_records = scanlib.db_push(
            adv, f"{self.cloud.host}/security/advisories:latest", creds=self.cloud_creds)
        self.assertTrue(db_digest.startswith("sha256:"))
        self.assertGreater(db_records, 0)

        # an ImageDelivery of the same ServiceAccount, role and registry first
        self.assert_delivered("to-ecr", "mirror/app")
        self.assertEqual(len(self.standin.calls("sts")), 1)
        ecr_before = len(self.standin.calls("ecr"))

        self.scan_policy_database("on-ecr", f"{ECR_HOST}/security/advisories:latest")
        obj = self.wait_delivered("on-ecr", kind="scanpolicies")
        self.assertEqual(obj["status"]["database"]["digest"], db_digest)
        self.assertEqual(obj["status"]["database"]["records"], db_records)

        # a second exchange at STS, for the pusher ServiceAccount's own token, then ECR asked
        # with that new session
        sts = self.standin.calls("sts")
        self.assertEqual(len(sts), 2, sts)
        self.assertTrue(sts[1]["ok"], sts)
        self.assertEqual(sts[1]["role"], ROLE_PUSHER)
        self.assertEqual(sts[1]["sub"], subject(NS, "pusher"))
        self.assertEqual(sts[1]["aud"], [AUDIENCE])
        self.assertNotEqual(sts[1]["accessKeyId"], sts[0]["accessKeyId"])
        ecr = self.standin.calls("ecr")[ecr_before:]
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
        self.assertEqual(len(self.standin.calls("sts")), 2)
        self.assert_no_secret_leaked()


if __name__ == "__main__":
    unittest.main()
