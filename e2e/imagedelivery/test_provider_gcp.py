"""ImageDelivery `provider: gcp`, end to end: Google Artifact Registry credentials from a
ServiceAccount's identity (GKE workload identity federation) with a real API server, a real
docker-registry and the gcpstandin test peer (hack/tools/cloudstandin/gcp) in place of Google's
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
import os
import secrets
import unittest

import registry as reg
import tlsgen
from cloudlib import OTHER_NS, CloudProviderTestCase, StandIn, subject
from imdlib import NS

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
ANNOTATION = "iam.gke.io/gcp-service-account"


class GcpFixture(CloudProviderTestCase):
    """The registry, the stand-in and the controller for a pool of STS audience
    pool_audience, whose ServiceAccount tokens have the audience token_audience."""

    provider = "gcp"
    registry_host = GAR_HOST
    repo_root = "proj/mirror"
    annotation = ANNOTATION
    required_secrets = {"subjectTokens": "STS never received a token",
                        "federatedTokens": "STS never gave out a token"}
    pool_audience = POOL_PROVIDER
    token_audience = TOKEN_AUDIENCE

    def start_controller(self):
        # the registry and the stand-in share one test CA; the registry's certificate names only
        # the Artifact Registry host, so a TLS connection that did not verify that name would fail
        tls = os.path.join(self.tmp, "tls")
        gar_cert = tlsgen.make_serving_cert(os.path.join(tls, "gar"), dns_names=(GAR_HOST,),
                                            ips=())
        gcp_cert = tlsgen.make_serving_cert(os.path.join(tls, "gcp"), ca_dir=gar_cert)
        ca_crt = os.path.join(gar_cert, "ca.crt")
        self.cloud_user, self.cloud_password = GAR_USER, "ya29.reg-" + secrets.token_urlsafe(32)
        self.cloud = reg.Registry(self, "gar", users={self.cloud_user: self.cloud_password},
                                  tls=(os.path.join(gar_cert, "tls.crt"),
                                       os.path.join(gar_cert, "tls.key")))
        args = ["-sa-public-key", os.path.join(self.kube.dir, "pki", "sa.pub"),
                "-issuer", self.oidc_issuer(), "-audience", self.pool_audience,
                "-registry-token", self.cloud_password,
                "-direct-subject", subject(NS, "direct"),
                "-impersonate", f"{GSA_PUSHER}={subject(NS, 'pusher')}",
                "-impersonate", f"{GSA_OTHER}={subject(OTHER_NS, 'builder')}"]
        for sub in (subject(NS, "pusher"), subject(NS, "direct"), subject(NS, "intruder"),
                    subject(OTHER_NS, "builder"), subject(OTHER_NS, "pusher")):
            args += ["-pool-subject", sub]
        self.standin = StandIn(self, "gcpstandin", gcp_cert, args)
        self.prepare_cluster(ca_crt, GSA_PUSHER, seed=47)
        self.start_cloud_controller(self.cloud.port, {
            "GCP_WORKLOAD_IDENTITY_AUDIENCE": self.pool_audience,
            "GCP_STS_ENDPOINT": self.standin.url,
            "GCP_IAM_CREDENTIALS_ENDPOINT": self.standin.url,
            "GCP_CA_BUNDLE": ca_crt})

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
        self.assert_delivered("to-gar", "proj/mirror/app")

        # one STS exchange of the pusher ServiceAccount's own token, for the pool's audience,
        # then one impersonation of its Google service account with that federated token
        sts = self.standin.calls("sts")
        self.assertEqual(len(sts), 1, sts)
        self.assert_sts_ok(sts[0], "pusher")
        iam = self.standin.calls("iam")
        self.assertEqual(len(iam), 1, iam)
        self.assertTrue(iam[0]["ok"], iam)
        self.assertEqual(iam[0]["serviceAccount"], GSA_PUSHER)
        self.assertEqual(iam[0]["sub"], subject(NS, "pusher"))
        self.assertEqual(iam[0]["scope"], [SCOPE])
        self.assertEqual(iam[0]["lifetime"], "3600s")

        # the same ServiceAccount, Google service account and registry again: the cached
        # credentials, no new exchange
        self.assert_delivered("to-gar-again", "proj/mirror/again")
        self.assertEqual(len(self.standin.calls("sts")), 1)
        self.assertEqual(len(self.standin.calls("iam")), 1)

        # a ServiceAccount without the annotation: direct resource access with the federated
        # token itself, no impersonation
        self.service_account("direct")
        self.assert_delivered("direct", "proj/mirror/direct", sa="direct")
        sts = self.standin.calls("sts")
        self.assertEqual(len(sts), 2, sts)
        self.assert_sts_ok(sts[1], "direct")
        self.assertEqual(len(self.standin.calls("iam")), 1)
        self.assertEqual(self.standin.calls("unknown"), [])
        self.assert_no_secret_leaked()

    def test_attacks_get_no_credentials(self):
        sts_before, iam_before = self.warm_up("sts", "iam")
        self.assertEqual((len(sts_before), len(iam_before)), (1, 1))
        self.assert_cel_refusals(
            "provider gcp needs a Google Artifact Registry or Container Registry image")
        # a look-alike host: refused by the API server or, at the latest, by the controller
        cp = self.cloud_delivery("lookalike", f"{GAR_HOST}.evil.example/proj/mirror/app",
                                 check=False)
        if cp.returncode == 0:
            message = self.wait_failed("lookalike", "InvalidSpec")
            self.assertIn("is not a Google Artifact Registry or Container Registry host",
                          message)
        self.assert_smuggling_refused(
            "is not a Google Artifact Registry or Container Registry host")
        self.assertNotIn(GAR_USER, self.customer.log_text())

        # an annotation that is no Google service account e-mail (it would climb out of the
        # generateAccessToken path to another account): refused before any exchange
        self.assert_cloud_refused("traversal", f"{GSA_PUSHER}/../../serviceAccounts/{GSA_OTHER}",
                                  "InvalidServiceAccount", [f"annotation {ANNOTATION}"])

        # a Google service account the ServiceAccount may not impersonate: STS maps it (it is a
        # pool subject), IAM Credentials refuses, the condition says so
        self.assert_cloud_refused("intruder", GSA_OTHER, "CloudAuthFailed", [
            "spec.targets[0]", GSA_OTHER, f"ServiceAccount {NS}/intruder", "PERMISSION_DENIED",
            "iam.serviceAccounts.getAccessToken"])
        self.assert_refused_calls("iam", "serviceAccount", GSA_OTHER, "PERMISSION_DENIED",
                                  "intruder")

        # OTHER_NS naming pusher gets nothing, although the pool would map OTHER_NS's pusher,
        # were there one
        self.assert_borrowed_refused()

        # since the warm-up, STS saw only the intruder's exchanges, IAM Credentials only the
        # refused impersonations; nothing of OTHER_NS, nothing for the traversal
        sts_new = self.standin.calls("sts")[len(sts_before):]
        self.assertTrue(sts_new)
        for c in sts_new:
            self.assert_sts_ok(c, "intruder")
        iam_new = self.standin.calls("iam")[len(iam_before):]
        self.assertEqual([c for c in iam_new if c["serviceAccount"] != GSA_OTHER], [])
        # the targets of the refused deliveries were never written
        for repo in ("proj/mirror/traversal", "proj/mirror/app"):
            self.assertFalse(self.at_cloud(repo))
        self.assertEqual(self.standin.calls("unknown"), [])
        self.assert_no_secret_leaked()


class ProviderGcpIdentityNamespaceTest(GcpFixture):
    """GKE's identity namespace as the pool: the token's audience is PROJECT.svc.id.goog."""

    pool_audience = IDENTITY_NAMESPACE
    token_audience = "sealift-lab.svc.id.goog"

    def test_delivery_through_the_identity_namespace(self):
        self.assert_delivered("to-gar", "proj/mirror/app")
        sts = self.standin.calls("sts")
        self.assertEqual(len(sts), 1, sts)
        self.assert_sts_ok(sts[0], "pusher")
        iam = self.standin.calls("iam")
        self.assertEqual([(c["ok"], c["serviceAccount"]) for c in iam], [(True, GSA_PUSHER)])
        self.assert_no_secret_leaked()


if __name__ == "__main__":
    unittest.main()
