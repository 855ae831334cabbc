"""ImageDelivery `provider: gcp`, end to end: Google Artifact Registry credentials from a
ServiceAccount's identity (GKE workload identity federation) with a real API server, a real
docker-registry and the gcpstandin test peer (hack/tools/gcpstandin) in place of Google's
Security Token Service and IAM Credentials:

- the controller (--workload-identity) gets a token of the ServiceAccount for the audience the
  workload identity pool takes ("https:" + the provider's resource name; TokenRequest),
  exchanges it at STS (/v1/token, the stand-in checks the signature with the API server's key,
  the issuer, the audience and the pool's subjects) for a federated token and, when the
  ServiceAccount's iam.gke.io/gcp-service-account annotation names a Google service account,
  asks IAM Credentials (generateAccessToken) for that account's access token; the access token
  is the password of the user oauth2accesstoken; the pool is a workload identity provider
  ("//iam.googleapis.com/...", token audience "https:" + it) or GKE's identity namespace
  (token audience PROJECT.svc.id.goog);
- the registry is a docker-registry with TLS for europe-west1-docker.pkg.dev whose htpasswd
  holds that user and the one token the stand-in hands out for the impersonated account and to
  the one subject with direct resource access (any other federated token is random, so a
  controller that skipped impersonation would be refused); reached through --connect-to (TLS
  still verifies the name);
- the attacks: CEL refusals, `provider: gcp` smuggled onto a non-Google registry through a
  v1alpha1 object's conversion annotation, a malformed (path-traversing) service account
  annotation, a Google service account the ServiceAccount may not impersonate, a ServiceAccount
  name borrowed from another namespace; and no secret (ServiceAccount token, federated token,
  access token) in any status, event or the controller's log.
Results are checked with skopeo and the stand-in's record of calls, not with sealift code."""
import json
import os
import secrets
import unittest

import registry as reg
import tlsgen
from cloudlib import WORKLOAD_IDENTITY_RBAC, CloudProviderTestCase, StandIn
from controller import Controller
from imdlib import NS, VENDOR

GAR_HOST = "europe-west1-docker.pkg.dev"
GAR_USER = "oauth2accesstoken"
POOL_PROVIDER = ("//iam.googleapis.com/projects/123456789012/locations/global/"
                 "workloadIdentityPools/sealift-lab/providers/kube")
TOKEN_AUDIENCE = "https:" + POOL_PROVIDER
# GKE's own pool: the identity namespace of the project, for a cluster of it
IDENTITY_NAMESPACE = ("identitynamespace:sealift-lab.svc.id.goog:https://container.googleapis.com/"
                      "v1/projects/sealift-lab/locations/europe-west1/clusters/lab")
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GSA_PUSHER = "sealift-pusher@sealift-lab.iam.gserviceaccount.com"
GSA_OTHER = "other-builder@sealift-lab.iam.gserviceaccount.com"
OTHER_NS = "other-team"
ANNOTATION = "iam.gke.io/gcp-service-account"


def subject(namespace, name):
    return f"system:serviceaccount:{namespace}:{name}"


class GcpFixture(CloudProviderTestCase):
    """The registry, the stand-in and the controller for a pool of STS audience
    pool_audience, whose ServiceAccount tokens have the audience token_audience."""

    pool_audience = POOL_PROVIDER
    token_audience = TOKEN_AUDIENCE

    def start_controller(self):
        # the registry and the stand-in share one test CA; the registry's certificate names only
        # the Artifact Registry host, so a TLS connection that did not verify that name would fail
        tls = os.path.join(self.tmp, "tls")
        gar_cert = tlsgen.make_serving_cert(os.path.join(tls, "gar"), dns_names=(GAR_HOST,),
                                            ips=())
        gcp_cert = tlsgen.make_serving_cert(os.path.join(tls, "gcp"), ca_dir=gar_cert)
        self.ca_crt = os.path.join(gar_cert, "ca.crt")
        self.registry_token = "ya29.reg-" + secrets.token_urlsafe(32)
        self.gar = reg.Registry(self, "gar", users={GAR_USER: self.registry_token},
                                tls=(os.path.join(gar_cert, "tls.crt"),
                                     os.path.join(gar_cert, "tls.key")))
        self.gar_creds = f"{GAR_USER}:{self.registry_token}"
        status, _, disc = self.kube.request("GET", "/.well-known/openid-configuration")
        self.assertEqual(status, 200, disc)
        args = ["-sa-public-key", os.path.join(self.kube.dir, "pki", "sa.pub"),
                "-issuer", disc["issuer"], "-audience", self.pool_audience,
                "-registry-token", self.registry_token,
                "-direct-subject", subject(NS, "direct"),
                "-impersonate", f"{GSA_PUSHER}={subject(NS, 'pusher')}",
                "-impersonate", f"{GSA_OTHER}={subject(OTHER_NS, 'builder')}"]
        for sub in (subject(NS, "pusher"), subject(NS, "direct"), subject(NS, "intruder"),
                    subject(OTHER_NS, "builder"), subject(OTHER_NS, "pusher")):
            args += ["-pool-subject", sub]
        self.gcp = StandIn(self, "gcpstandin", gcp_cert, args)
        self.kube.kubectl("apply", "-f", WORKLOAD_IDENTITY_RBAC)
        self.kube.kubectl("create", "namespace", OTHER_NS)
        for ns in (NS, OTHER_NS):
            self.kube.kubectl("create", "secret", "generic", "gar-ca", "-n", ns,
                              f"--from-file=ca.crt={self.ca_crt}")
        self.kube.kubectl("create", "secret", "docker-registry", "vendor-pull", "-n", OTHER_NS,
                          f"--docker-server={self.vendor.host}", f"--docker-username={VENDOR[0]}",
                          f"--docker-password={VENDOR[1]}")
        self.service_account("pusher", GSA_PUSHER)
        self.digest = self.seed_image("1.0", seed=47)
        # the webhook serves /convert, which v1alpha1 writes go through
        self.ctl = Controller(
            self, self.kube, webhook=True,
            extra_args=["--webhook-client-ca", self.kube.ca_path,
                        "--webhook-client-name", "kube-apiserver-webhook-client",
                        "--workload-identity",
                        "--connect-to", f"{GAR_HOST}:443:127.0.0.1:{self.gar.port}"],
            env={"GCP_WORKLOAD_IDENTITY_AUDIENCE": self.pool_audience,
                 "GCP_STS_ENDPOINT": self.gcp.url,
                 "GCP_IAM_CREDENTIALS_ENDPOINT": self.gcp.url,
                 "GCP_CA_BUNDLE": self.ca_crt})
        self.ctl.wait_ready()

    # ---- helpers ----

    def service_account(self, name, gsa=None, namespace=NS):
        ann = f"  annotations: {{{ANNOTATION}: '{gsa}'}}\n" if gsa else ""
        self.apply("apiVersion: v1\nkind: ServiceAccount\n"
                   f"metadata:\n  name: {name}\n  namespace: {namespace}\n" + ann)

    def gcp_delivery(self, name, target, sa="pusher", namespace=NS, check=True):
        text = ("apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
                f"metadata: {{name: {name}, namespace: {namespace}}}\n"
                "spec:\n  source:\n"
                f"    image: {self.vendor.host}/acme/app\n    tags: ['1.0']\n"
                "    insecure: true\n    secretRef: {name: vendor-pull}\n"
                "  targets:\n"
                f"  - image: {target}\n    provider: gcp\n"
                + (f"    serviceAccountName: {sa}\n" if sa else "")
                + "    certSecretRef: {name: gar-ca}\n"
                + "  interval: 1m\n")
        return self.kube.kubectl("apply", "-f", "-", input=text, check=check)

    def wait_delivered(self, name, namespace=NS):
        obj, _ = self.wait_ready_condition(name, lambda c: c["status"] == "True", "Ready=True",
                                           namespace, timeout=120)
        return obj

    def wait_failed(self, name, reason, namespace=NS):
        return self.wait_failed_in(namespace, name, reason)

    def gar_digest(self, repo, tag="1.0"):
        """The manifest digest at the registry, read by skopeo on its local port."""
        return reg.sha256_digest(reg.inspect_raw(f"{self.gar.host}/{repo}:{tag}",
                                                 self.gar_creds))

    def at_gar(self, repo, tag="1.0"):
        return self.exists(f"{self.gar.host}/{repo}:{tag}", self.gar_creds)

    def assert_no_secret_leaked(self):
        found = self.gcp.secrets()
        self.assertTrue(found["subjectTokens"], "STS never received a token")
        self.assertTrue(found["federatedTokens"], "STS never gave out a token")
        self.assert_not_shown([self.registry_token] + found["subjectTokens"]
                              + found["federatedTokens"] + found["accessTokens"])

    def assert_sts_ok(self, c, sa):
        """c is a successful exchange of the token of NS/sa for the pool's audience."""
        self.assertTrue(c["ok"], c)
        self.assertEqual(c["audience"], self.pool_audience)
        self.assertEqual(c["aud"], [self.token_audience])
        self.assertEqual(c["sub"], subject(NS, sa))
        self.assertEqual(c["scope"], [SCOPE])
        self.assertTrue(c["contentType"].startswith("application/json"), c)



class ProviderGcpTest(GcpFixture):
    def test_delivery_with_impersonation_cached_and_direct_access(self):
        self.gcp_delivery("to-gar", f"{GAR_HOST}/proj/mirror/app")
        obj = self.wait_delivered("to-gar")
        self.assertEqual(obj["status"]["images"][0]["digest"], self.digest)
        self.assertEqual(self.gar_digest("proj/mirror/app"), self.digest)

        # one STS exchange of the pusher ServiceAccount's own token, for the pool's audience,
        # then one impersonation of its Google service account with that federated token
        sts = self.gcp.calls("sts")
        self.assertEqual(len(sts), 1, sts)
        self.assert_sts_ok(sts[0], "pusher")
        iam = self.gcp.calls("iam")
        self.assertEqual(len(iam), 1, iam)
        self.assertTrue(iam[0]["ok"], iam)
        self.assertEqual(iam[0]["serviceAccount"], GSA_PUSHER)
        self.assertEqual(iam[0]["sub"], subject(NS, "pusher"))
        self.assertEqual(iam[0]["scope"], [SCOPE])
        self.assertEqual(iam[0]["lifetime"], "3600s")

        # the same ServiceAccount, Google service account and registry again: the cached
        # credentials, no new exchange
        self.gcp_delivery("to-gar-again", f"{GAR_HOST}/proj/mirror/again")
        self.wait_delivered("to-gar-again")
        self.assertEqual(self.gar_digest("proj/mirror/again"), self.digest)
        self.assertEqual(len(self.gcp.calls("sts")), 1)
        self.assertEqual(len(self.gcp.calls("iam")), 1)

        # a ServiceAccount without the annotation: direct resource access with the federated
        # token itself, no impersonation
        self.service_account("direct")
        self.gcp_delivery("direct", f"{GAR_HOST}/proj/mirror/direct", sa="direct")
        self.wait_delivered("direct")
        self.assertEqual(self.gar_digest("proj/mirror/direct"), self.digest)
        sts = self.gcp.calls("sts")
        self.assertEqual(len(sts), 2, sts)
        self.assert_sts_ok(sts[1], "direct")
        self.assertEqual(len(self.gcp.calls("iam")), 1)
        self.assertEqual(self.gcp.calls("unknown"), [])
        self.assert_no_secret_leaked()

    def test_attacks_get_no_credentials(self):
        # credentials of NS/pusher are in the controller's cache for everything below
        self.gcp_delivery("warm", f"{GAR_HOST}/proj/mirror/warm")
        self.wait_delivered("warm")
        self.assertEqual(self.gar_digest("proj/mirror/warm"), self.digest)
        sts_before = self.gcp.calls("sts")
        iam_before = self.gcp.calls("iam")
        self.assertEqual((len(sts_before), len(iam_before)), (1, 1))

        # the API server refuses provider gcp without a ServiceAccount, or off Google's hosts
        cp = self.gcp_delivery("no-sa", f"{GAR_HOST}/proj/mirror/app", sa=None, check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("provider gcp needs serviceAccountName", cp.stderr)
        cp = self.gcp_delivery("not-gar", f"{self.customer.host}/mirror/app", check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("provider gcp needs a Google Artifact Registry or Container Registry image",
                      cp.stderr)
        # a look-alike host: refused by the API server or, at the latest, by the controller
        cp = self.gcp_delivery("lookalike", f"{GAR_HOST}.evil.example/proj/mirror/app",
                               check=False)
        if cp.returncode == 0:
            message = self.wait_failed("lookalike", "InvalidSpec")
            self.assertIn("is not a Google Artifact Registry or Container Registry host",
                          message)

        # provider gcp smuggled onto the customer registry through v1alpha1, whose schema (and
        # CEL) knows no provider: the conversion annotation carries it into v1beta1, and the
        # controller refuses it before anything is sent anywhere
        customer_seen = len(self.requests(self.customer))
        alpha_target = {"image": f"{self.customer.host}/mirror/app", "insecure": True}
        beta_target = dict(alpha_target, insecureSkipTLSVerify=True, provider="gcp",
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
                         ("gcp", "pusher"), "the smuggling did not reach v1beta1")
        message = self.wait_failed("smuggled", "InvalidSpec")
        self.assertIn("spec.targets[0]", message)
        self.assertIn(self.customer.host.split(":")[0], message)
        self.assertIn("is not a Google Artifact Registry or Container Registry host", message)
        self.assertEqual(self.requests(self.customer)[customer_seen:], [])
        self.assertNotIn(GAR_USER, self.customer.log_text())

        # an annotation that is no Google service account e-mail (it would climb out of the
        # generateAccessToken path to another account): refused before any exchange
        self.service_account(
            "traversal", f"{GSA_PUSHER}/../../serviceAccounts/{GSA_OTHER}")
        self.gcp_delivery("traversal", f"{GAR_HOST}/proj/mirror/traversal", sa="traversal")
        message = self.wait_failed("traversal", "InvalidServiceAccount")
        self.assertIn(f"{NS}/traversal", message)
        self.assertIn(f"annotation {ANNOTATION}", message)

        # a Google service account the ServiceAccount may not impersonate: STS maps it (it is a
        # pool subject), IAM Credentials refuses, the condition says so
        self.service_account("intruder", GSA_OTHER)
        self.gcp_delivery("intruder", f"{GAR_HOST}/proj/mirror/intruder", sa="intruder")
        message = self.wait_failed("intruder", "CloudAuthFailed")
        self.assertIn("spec.targets[0]", message)
        self.assertIn(GSA_OTHER, message)
        self.assertIn(f"ServiceAccount {NS}/intruder", message)
        self.assertIn("PERMISSION_DENIED", message)
        self.assertIn("iam.serviceAccounts.getAccessToken", message)
        refused = [c for c in self.gcp.calls("iam") if c["serviceAccount"] == GSA_OTHER]
        self.assertTrue(refused)
        for c in refused:
            self.assertEqual((c["ok"], c["error"], c["sub"]),
                             (False, "PERMISSION_DENIED", subject(NS, "intruder")))
        self.assertFalse(self.at_gar("proj/mirror/intruder"))

        # pusher exists only in NS: a delivery of another namespace naming it gets nothing,
        # not even the credentials NS/pusher has in the controller's cache (although the pool
        # would map OTHER_NS's pusher, were there one)
        self.gcp_delivery("borrowed", f"{GAR_HOST}/proj/mirror/borrowed", namespace=OTHER_NS)
        message = self.wait_failed("borrowed", "ServiceAccountNotFound", namespace=OTHER_NS)
        self.assertIn(f"{OTHER_NS}/pusher", message)
        self.assertFalse(self.at_gar("proj/mirror/borrowed"))

        # since the warm-up, STS saw only the intruder's exchanges, IAM Credentials only the
        # refused impersonations; nothing of OTHER_NS, nothing for the traversal
        sts_new = self.gcp.calls("sts")[len(sts_before):]
        self.assertTrue(sts_new)
        for c in sts_new:
            self.assert_sts_ok(c, "intruder")
        iam_new = self.gcp.calls("iam")[len(iam_before):]
        self.assertEqual([c for c in iam_new if c["serviceAccount"] != GSA_OTHER], [])
        # the targets of the refused deliveries were never written
        for repo in ("proj/mirror/traversal", "proj/mirror/app"):
            self.assertFalse(self.at_gar(repo))
        self.assertEqual(self.gcp.calls("unknown"), [])
        self.assert_no_secret_leaked()


class ProviderGcpIdentityNamespaceTest(GcpFixture):
    """GKE's identity namespace as the pool: the token's audience is PROJECT.svc.id.goog."""

    pool_audience = IDENTITY_NAMESPACE
    token_audience = "sealift-lab.svc.id.goog"

    def test_delivery_through_the_identity_namespace(self):
        self.gcp_delivery("to-gar", f"{GAR_HOST}/proj/mirror/app")
        self.wait_delivered("to-gar")
        self.assertEqual(self.gar_digest("proj/mirror/app"), self.digest)
        sts = self.gcp.calls("sts")
        self.assertEqual(len(sts), 1, sts)
        self.assert_sts_ok(sts[0], "pusher")
        iam = self.gcp.calls("iam")
        self.assertEqual([(c["ok"], c["serviceAccount"]) for c in iam], [(True, GSA_PUSHER)])
        self.assert_no_secret_leaked()


if __name__ == "__main__":
    unittest.main()
