"""ImageDelivery `provider: azure`, end to end: Azure Container Registry credentials from a
ServiceAccount's identity (Microsoft Entra Workload ID) with a real API server, a real
docker-registry and the azurestandin test peer (hack/tools/cloudstandin/azure) in place of Entra ID
and the registry's front:

- the controller (--workload-identity) gets a token of the ServiceAccount for the audience
  api://AzureADTokenExchange (TokenRequest), presents it to Entra ID's token endpoint as the
  client assertion of the application its azure.workload.identity/client-id annotation names
  (the stand-in checks the signature with the API server's key, the issuer, the audience and
  the application's federated credentials), exchanges the access token at the registry's
  /oauth2/exchange for a refresh token, and uses that as the password of the user
  00000000-0000-0000-0000-000000000000;
- the registry is sealiftlab.azurecr.io: the stand-in (TLS of the test CA for that name and
  127.0.0.1, reached through --connect-to, so TLS still verifies the name) proxies /v2/ to a
  plain docker-registry on loopback whose htpasswd holds that user and the refresh token;
- the attacks: CEL refusals, `provider: azure` smuggled onto a non-ACR registry through a
  v1alpha1 object's conversion annotation, a ServiceAccount without the client-id annotation,
  an application without a federated credential for the ServiceAccount, a tenant annotation
  naming a tenant the directory is not, a ServiceAccount name borrowed from another
  namespace; and no secret (ServiceAccount token, access token, refresh token) in any status,
  event or the controller's log.
Results are checked with skopeo on the upstream registry and the stand-in's record of calls,
not with sealift code."""
import os
import secrets
import unittest

import registry as reg
import tlsgen
from cloudlib import OTHER_NS, CloudProviderTestCase, StandIn, subject
from imdlib import NS

ACR_HOST = "sealiftlab.azurecr.io"
ACR_USER = "00000000-0000-0000-0000-000000000000"
TENANT = "5f3a9c2e-8d41-4b6f-a07e-2c9d1e4b7a63"
CLIENT_PUSHER = "0c7e2b94-3f15-4d8a-b6e1-9a4f2d7c5e08"
CLIENT_OTHER = "a1d94e37-6b2c-48f0-9e5d-3c8b7f1a2d46"
AUDIENCE = "api://AzureADTokenExchange"
SCOPE = "https://management.azure.com/.default"
OTHER_TENANT = "9b2e4f71-0c3d-4a85-b7e6-1f8d2c5a9e30"
CLIENT_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ANNOTATION = "azure.workload.identity/tenant-id"


class ProviderAzureTest(CloudProviderTestCase):
    provider = "azure"
    registry_host = ACR_HOST
    annotation = CLIENT_ANNOTATION
    required_secrets = {"clientAssertions": "Entra ID never received a token",
                        "accessTokens": "Entra ID never issued an access token"}

    def start_controller(self):
        # one certificate of the test CA for the stand-in: the registry's name (through
        # --connect-to) and 127.0.0.1 (the Entra ID authority)
        cert = tlsgen.make_serving_cert(os.path.join(self.tmp, "tls", "azure"),
                                        dns_names=(ACR_HOST,))
        ca_crt = os.path.join(cert, "ca.crt")
        # the registry behind the stand-in: plain http on loopback, only the ACR user
        self.cloud_user, self.cloud_password = ACR_USER, "acr-" + secrets.token_urlsafe(24)
        self.cloud = reg.Registry(self, "acr", users={self.cloud_user: self.cloud_password})
        self.issuer = self.oidc_issuer()
        self.standin = StandIn(self, "azurestandin", cert, [
            "-sa-public-key", os.path.join(self.kube.dir, "pki", "sa.pub"),
            "-issuer", self.issuer, "-tenant", TENANT,
            "-registry-host", ACR_HOST, "-registry-upstream", f"http://{self.cloud.host}",
            "-acr-password", self.cloud_password,
            "-federation", f"{CLIENT_PUSHER}={subject(NS, 'pusher')}",
            "-federation", f"{CLIENT_OTHER}={subject(OTHER_NS, 'builder')}"])
        self.prepare_cluster(ca_crt, CLIENT_PUSHER, seed=43)
        self.start_cloud_controller(self.standin.port, {
            "AZURE_AUTHORITY_HOST": self.standin.url + "/", "AZURE_TENANT_ID": TENANT,
            "AZURE_CA_BUNDLE": ca_crt})

    # ---- tests ----

    def test_delivery_with_workload_identity_cached(self):
        self.assert_delivered("to-acr", "mirror/app")

        # one Entra ID login: the pusher ServiceAccount's own token, for the token exchange
        # audience, as the application its annotation names, in the controller's tenant
        entra = self.standin.calls("entra")
        self.assertEqual(len(entra), 1, entra)
        self.assertTrue(entra[0]["ok"], entra)
        self.assertEqual(entra[0]["client_id"], CLIENT_PUSHER)
        self.assertEqual(entra[0]["tenant"], TENANT)
        self.assertEqual(entra[0]["sub"], subject(NS, "pusher"))
        self.assertEqual(entra[0]["aud"], [AUDIENCE])
        self.assertEqual(entra[0]["iss"], self.issuer)
        self.assertEqual(entra[0]["scope"], SCOPE)
        # one exchange at the registry, with that access token, named by the registry's host
        acr = self.standin.calls("acr")
        self.assertEqual(len(acr), 1, acr)
        self.assertTrue(acr[0]["ok"], acr)
        self.assertEqual(acr[0]["token_id"], entra[0]["token_id"])
        self.assertEqual((acr[0]["host"], acr[0]["acr_service"], acr[0]["tenant"]),
                         (ACR_HOST, ACR_HOST, TENANT))
        self.assertEqual(acr[0]["grant_type"], "access_token")
        # the registry saw the ACR user, and nobody else
        self.assertIn(f"auth.user.name={ACR_USER}", self.cloud.log_text().replace('"', ""))

        # the same ServiceAccount, application, tenant and registry again: the cached
        # credentials, no new call to Entra ID or the exchange
        self.assert_delivered("to-acr-again", "mirror/again")
        self.assertEqual(len(self.standin.calls("entra")), 1)
        self.assertEqual(len(self.standin.calls("acr")), 1)
        self.assert_no_secret_leaked()

    def test_attacks_get_no_credentials(self):
        entra_before, acr_before = self.warm_up("entra", "acr")
        self.assertEqual(len(entra_before), 1)
        self.assertEqual(len(acr_before), 1)
        self.assert_cel_refusals("provider azure needs an Azure Container Registry image")
        self.assert_smuggling_refused("is not an Azure Container Registry host")
        self.assertNotIn(ACR_USER, self.customer.log_text())
        self.assertEqual(self.standin.calls("entra"), entra_before)
        self.assertEqual(self.standin.calls("acr"), acr_before)

        # a ServiceAccount without the client-id annotation: named, nothing exchanged
        self.assert_cloud_refused("plain", None, "InvalidServiceAccount",
                                  [f"has no annotation {CLIENT_ANNOTATION}"])

        # an application whose federated credentials name another subject: Entra ID refuses,
        # the condition says so
        self.assert_cloud_refused("intruder", CLIENT_OTHER, "CloudAuthFailed", [
            "spec.targets[0]", CLIENT_OTHER, f"ServiceAccount {NS}/intruder", "invalid_client",
            "AADSTS70021", "No matching federated identity record found"])
        for c in self.assert_refused_calls("entra", "client_id", CLIENT_OTHER, "invalid_client",
                                           "intruder"):
            self.assertTrue(c["error_description"].startswith("AADSTS70021:"), c)

        # the tenant annotation wins over the controller's AZURE_TENANT_ID: the login goes to
        # that tenant (which this directory is not), and the answer names it
        self.assert_cloud_refused("elsewhere", CLIENT_PUSHER, "CloudAuthFailed", [
            f"ServiceAccount {NS}/elsewhere", "AADSTS90002", OTHER_TENANT],
            annotations={TENANT_ANNOTATION: OTHER_TENANT})
        elsewhere = [c for c in self.standin.calls("entra") if c.get("tenant") == OTHER_TENANT]
        self.assertTrue(elsewhere)
        for c in elsewhere:
            self.assertEqual((c["ok"], c["error"], c.get("client_id")),
                             (False, "invalid_request", CLIENT_PUSHER))

        self.assert_borrowed_refused()

        # Entra ID saw only the refused logins since the warm-up, the exchange nothing at all
        entra_after = self.standin.calls("entra")
        self.assertEqual([c for c in entra_after[len(entra_before):]
                          if c.get("client_id") != CLIENT_OTHER
                          and c.get("tenant") != OTHER_TENANT],
                         [])
        self.assertFalse([c for c in entra_after if OTHER_NS in c.get("sub", "")])
        self.assertEqual(self.standin.calls("acr"), acr_before)
        # the targets of the refused deliveries were never written
        for repo in ("mirror/plain", "mirror/app"):
            self.assertFalse(self.at_cloud(repo))
        self.assert_no_secret_leaked()


if __name__ == "__main__":
    unittest.main()
