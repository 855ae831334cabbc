"""ImageDelivery `provider: azure`, end to end: Azure Container Registry credentials from a
ServiceAccount's identity (Microsoft Entra Workload ID) with a real API server, a real
docker-registry and the azurestandin test peer (hack/tools/azurestandin) in place of Entra ID
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
  naming a tenant the directory is not, a ServiceAccount name borrowed from another namespace; and no secret (ServiceAccount token, access token, refresh
  token) in any status, event or the controller's log.
Results are checked with skopeo on the upstream registry and the stand-in's record of calls,
not with sealift code."""
import json
import os
import secrets
import ssl
import unittest
import urllib.request

import procs
import registry as reg
import tlsgen
from controller import Controller
from imdlib import NS, VENDOR, ImdTestCase

ACR_HOST = "sealiftlab.azurecr.io"
ACR_USER = "00000000-0000-0000-0000-000000000000"
TENANT = "5f3a9c2e-8d41-4b6f-a07e-2c9d1e4b7a63"
CLIENT_PUSHER = "0c7e2b94-3f15-4d8a-b6e1-9a4f2d7c5e08"
CLIENT_OTHER = "a1d94e37-6b2c-48f0-9e5d-3c8b7f1a2d46"
OTHER_NS = "other-team"
AUDIENCE = "api://AzureADTokenExchange"
SCOPE = "https://management.azure.com/.default"
OTHER_TENANT = "9b2e4f71-0c3d-4a85-b7e6-1f8d2c5a9e30"
CLIENT_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ANNOTATION = "azure.workload.identity/tenant-id"
WORKLOAD_IDENTITY_RBAC = os.path.join(procs.SRC, "crds", "workload-identity.yaml")


class AzureStandIn:
    """hack/tools/azurestandin on a free port with a certificate of the test CA."""

    def __init__(self, tc, cert_dir, sa_public_key, issuer, federation, upstream, password):
        self.port = procs.free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        args = [procs.peer("azurestandin"), "-addr", f"127.0.0.1:{self.port}",
                "-tls-cert", os.path.join(cert_dir, "tls.crt"),
                "-tls-key", os.path.join(cert_dir, "tls.key"),
                "-sa-public-key", sa_public_key, "-issuer", issuer, "-tenant", TENANT,
                "-registry-host", ACR_HOST, "-registry-upstream", upstream,
                "-acr-password", password]
        for client, subject in federation:
            args += ["-federation", f"{client}={subject}"]
        self.proc = tc.start(args, "azurestandin")
        procs.wait_port(self.port)
        self.ctx = ssl.create_default_context(cafile=os.path.join(cert_dir, "ca.crt"))

    def _get(self, path):
        with urllib.request.urlopen(self.url + path, context=self.ctx, timeout=10) as r:
            return json.loads(r.read())

    def calls(self, service=None):
        """The token ("entra") and exchange ("acr") calls so far."""
        return [c for c in self._get("/_standin/calls")["calls"]
                if service is None or c["service"] == service]

    def secrets(self):
        """Every secret the stand-in received or handed out, by kind."""
        return self._get("/_standin/secrets")


class ProviderAzureTest(ImdTestCase):
    def start_controller(self):
        # one certificate of the test CA for the stand-in: the registry's name (through
        # --connect-to) and 127.0.0.1 (the Entra ID authority)
        cert = tlsgen.make_serving_cert(os.path.join(self.tmp, "tls", "azure"),
                                        dns_names=(ACR_HOST,))
        self.ca_crt = os.path.join(cert, "ca.crt")
        self.acr_password = "acr-" + secrets.token_urlsafe(24)
        # the registry behind the stand-in: plain http on loopback, only the ACR user
        self.acr = reg.Registry(self, "acr", users={ACR_USER: self.acr_password})
        self.acr_creds = f"{ACR_USER}:{self.acr_password}"
        status, _, disc = self.kube.request("GET", "/.well-known/openid-configuration")
        self.assertEqual(status, 200, disc)
        self.issuer = disc["issuer"]
        self.azure = AzureStandIn(self, cert, os.path.join(self.kube.dir, "pki", "sa.pub"),
                                  self.issuer,
                                  [(CLIENT_PUSHER, f"system:serviceaccount:{NS}:pusher"),
                                   (CLIENT_OTHER, f"system:serviceaccount:{OTHER_NS}:builder")],
                                  f"http://{self.acr.host}", self.acr_password)
        self.kube.kubectl("apply", "-f", WORKLOAD_IDENTITY_RBAC)
        self.kube.kubectl("create", "namespace", OTHER_NS)
        for ns in (NS, OTHER_NS):
            self.kube.kubectl("create", "secret", "generic", "acr-ca", "-n", ns,
                              f"--from-file=ca.crt={self.ca_crt}")
        self.kube.kubectl("create", "secret", "docker-registry", "vendor-pull", "-n", OTHER_NS,
                          f"--docker-server={self.vendor.host}", f"--docker-username={VENDOR[0]}",
                          f"--docker-password={VENDOR[1]}")
        self.service_account("pusher", CLIENT_PUSHER)
        self.digest = self.seed_image("1.0", seed=43)
        # the webhook serves /convert, which v1alpha1 writes go through
        self.ctl = Controller(
            self, self.kube, webhook=True,
            extra_args=["--webhook-client-ca", self.kube.ca_path,
                        "--webhook-client-name", "kube-apiserver-webhook-client",
                        "--workload-identity",
                        "--connect-to", f"{ACR_HOST}:443:127.0.0.1:{self.azure.port}"],
            env={"AZURE_AUTHORITY_HOST": self.azure.url + "/", "AZURE_TENANT_ID": TENANT,
                 "AZURE_CA_BUNDLE": self.ca_crt})
        self.ctl.wait_ready()

    # ---- helpers ----

    def service_account(self, name, client=None, namespace=NS, tenant=None):
        anns = ([f"{CLIENT_ANNOTATION}: '{client}'"] if client else []) + \
            ([f"{TENANT_ANNOTATION}: '{tenant}'"] if tenant else [])
        ann = f"  annotations: {{{', '.join(anns)}}}\n" if anns else ""
        self.apply("apiVersion: v1\nkind: ServiceAccount\n"
                   f"metadata:\n  name: {name}\n  namespace: {namespace}\n" + ann)

    def azure_delivery(self, name, target, sa="pusher", namespace=NS, check=True):
        text = ("apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
                f"metadata: {{name: {name}, namespace: {namespace}}}\n"
                "spec:\n  source:\n"
                f"    image: {self.vendor.host}/acme/app\n    tags: ['1.0']\n"
                "    insecure: true\n    secretRef: {name: vendor-pull}\n"
                "  targets:\n"
                f"  - image: {target}\n    provider: azure\n"
                + (f"    serviceAccountName: {sa}\n" if sa else "")
                + "    certSecretRef: {name: acr-ca}\n"
                + "  interval: 1m\n")
        return self.kube.kubectl("apply", "-f", "-", input=text, check=check)

    def get_in(self, namespace, name):
        status, _, body = self.kube.request(
            "GET", f"/apis/sealift.dev/v1beta1/namespaces/{namespace}/imagedeliveries/{name}")
        if status != 200:
            raise AssertionError(f"GET imagedeliveries/{name}: {status} {body}")
        return body

    def wait_ready_condition(self, name, pred, what, namespace=NS, timeout=90):
        """Waits until the Ready condition of the current generation satisfies pred; returns it."""
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

    def wait_failed(self, name, reason, namespace=NS):
        _, c = self.wait_ready_condition(
            name, lambda c: c["status"] == "False" and c.get("reason") == reason,
            f"Ready=False reason {reason}", namespace)
        return c["message"]

    def acr_digest(self, repo, tag="1.0"):
        """The manifest digest in the registry behind the stand-in, read by skopeo there."""
        return reg.sha256_digest(reg.inspect_raw(f"{self.acr.host}/{repo}:{tag}",
                                                 self.acr_creds))

    def acr_has(self, repo, tag="1.0"):
        return self.exists(f"{self.acr.host}/{repo}:{tag}", self.acr_creds)

    def assert_no_secret_leaked(self):
        """No secret the stand-in received or handed out (the ServiceAccount tokens, the access
        tokens, the refresh token) is in any ImageDelivery's status, any event or the
        controller's log."""
        found = self.azure.secrets()
        self.assertTrue(found["clientAssertions"], "Entra ID never received a token")
        self.assertTrue(found["accessTokens"], "Entra ID never issued an access token")
        values = [self.acr_password]
        for kind in ("clientAssertions", "accessTokens", "refreshTokens"):
            values += found[kind]
        # whole values, and pieces that are unique to each (a JWT's signature, a piece of the
        # middle)
        needles = set()
        for v in values:
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

    # ---- tests ----

    def test_delivery_with_workload_identity_cached(self):
        target = f"{ACR_HOST}/mirror/app"
        self.azure_delivery("to-acr", target)
        obj, _ = self.wait_ready_condition("to-acr", lambda c: c["status"] == "True",
                                           "Ready=True", timeout=120)
        self.assertEqual(obj["status"]["images"][0]["digest"], self.digest)
        self.assertEqual(self.acr_digest("mirror/app"), self.digest)

        # one Entra ID login: the pusher ServiceAccount's own token, for the token exchange
        # audience, as the application its annotation names, in the controller's tenant
        entra = self.azure.calls("entra")
        self.assertEqual(len(entra), 1, entra)
        self.assertTrue(entra[0]["ok"], entra)
        self.assertEqual(entra[0]["client_id"], CLIENT_PUSHER)
        self.assertEqual(entra[0]["tenant"], TENANT)
        self.assertEqual(entra[0]["sub"], f"system:serviceaccount:{NS}:pusher")
        self.assertEqual(entra[0]["aud"], [AUDIENCE])
        self.assertEqual(entra[0]["iss"], self.issuer)
        self.assertEqual(entra[0]["scope"], SCOPE)
        # one exchange at the registry, with that access token, named by the registry's host
        acr = self.azure.calls("acr")
        self.assertEqual(len(acr), 1, acr)
        self.assertTrue(acr[0]["ok"], acr)
        self.assertEqual(acr[0]["token_id"], entra[0]["token_id"])
        self.assertEqual((acr[0]["host"], acr[0]["acr_service"], acr[0]["tenant"]),
                         (ACR_HOST, ACR_HOST, TENANT))
        self.assertEqual(acr[0]["grant_type"], "access_token")
        # the registry saw the ACR user, and nobody else
        self.assertIn(f"auth.user.name={ACR_USER}", self.acr.log_text().replace('"', ""))

        # the same ServiceAccount, application, tenant and registry again: the cached
        # credentials, no new call to Entra ID or the exchange
        self.azure_delivery("to-acr-again", f"{ACR_HOST}/mirror/again")
        self.wait_ready_condition("to-acr-again", lambda c: c["status"] == "True",
                                  "Ready=True", timeout=120)
        self.assertEqual(self.acr_digest("mirror/again"), self.digest)
        self.assertEqual(len(self.azure.calls("entra")), 1)
        self.assertEqual(len(self.azure.calls("acr")), 1)
        self.assert_no_secret_leaked()

    def test_attacks_get_no_credentials(self):
        # credentials of NS/pusher are in the controller's cache for everything below
        self.azure_delivery("warm", f"{ACR_HOST}/mirror/warm")
        self.wait_ready_condition("warm", lambda c: c["status"] == "True", "Ready=True",
                                  timeout=120)
        self.assertEqual(self.acr_digest("mirror/warm"), self.digest)
        entra_before = self.azure.calls("entra")
        acr_before = self.azure.calls("acr")
        self.assertEqual(len(entra_before), 1)
        self.assertEqual(len(acr_before), 1)

        # the API server refuses provider azure without a ServiceAccount, or off ACR
        cp = self.azure_delivery("no-sa", f"{ACR_HOST}/mirror/app", sa=None, check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("provider azure needs serviceAccountName", cp.stderr)
        cp = self.azure_delivery("not-acr", f"{self.customer.host}/mirror/app", check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("provider azure needs an Azure Container Registry image", cp.stderr)

        # provider azure smuggled onto the customer registry through v1alpha1, whose schema
        # (and CEL) knows no provider: the conversion annotation carries it into v1beta1, and
        # the controller refuses it before anything is sent anywhere
        customer_seen = len(self.requests(self.customer))
        alpha_target = {"image": f"{self.customer.host}/mirror/app", "insecure": True}
        beta_target = dict(alpha_target, insecureSkipTLSVerify=True, provider="azure",
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
                         ("azure", "pusher"), "the smuggling did not reach v1beta1")
        message = self.wait_failed("smuggled", "InvalidSpec")
        self.assertIn("spec.targets[0]", message)
        self.assertIn(self.customer.host.split(":")[0], message)
        self.assertIn("is not an Azure Container Registry host", message)
        self.assertEqual(self.requests(self.customer)[customer_seen:], [])
        self.assertNotIn(ACR_USER, self.customer.log_text())
        self.assertEqual(self.azure.calls("entra"), entra_before)
        self.assertEqual(self.azure.calls("acr"), acr_before)

        # a ServiceAccount without the client-id annotation: named, nothing exchanged
        self.service_account("plain")
        self.azure_delivery("plain-sa", f"{ACR_HOST}/mirror/plain", sa="plain")
        message = self.wait_failed("plain-sa", "InvalidServiceAccount")
        self.assertIn(f"{NS}/plain", message)
        self.assertIn(f"has no annotation {CLIENT_ANNOTATION}", message)

        # an application whose federated credentials name another subject: Entra ID refuses,
        # the condition says so
        self.service_account("intruder", CLIENT_OTHER)
        self.azure_delivery("intruder", f"{ACR_HOST}/mirror/intruder", sa="intruder")
        message = self.wait_failed("intruder", "CloudAuthFailed")
        self.assertIn("spec.targets[0]", message)
        self.assertIn(CLIENT_OTHER, message)
        self.assertIn(f"ServiceAccount {NS}/intruder", message)
        self.assertIn("invalid_client", message)
        self.assertIn("AADSTS70021", message)
        self.assertIn("No matching federated identity record found", message)
        refused = [c for c in self.azure.calls("entra") if c.get("client_id") == CLIENT_OTHER]
        self.assertTrue(refused)
        for c in refused:
            self.assertEqual((c["ok"], c["error"], c["sub"]),
                             (False, "invalid_client", f"system:serviceaccount:{NS}:intruder"))
            self.assertTrue(c["error_description"].startswith("AADSTS70021:"), c)
        self.assertFalse(self.acr_has("mirror/intruder"))

        # the tenant annotation wins over the controller's AZURE_TENANT_ID: the login goes to
        # that tenant (which this directory is not), and the answer names it
        self.service_account("elsewhere", CLIENT_PUSHER, tenant=OTHER_TENANT)
        self.azure_delivery("elsewhere", f"{ACR_HOST}/mirror/elsewhere", sa="elsewhere")
        message = self.wait_failed("elsewhere", "CloudAuthFailed")
        self.assertIn(f"ServiceAccount {NS}/elsewhere", message)
        self.assertIn("AADSTS90002", message)
        self.assertIn(OTHER_TENANT, message)
        elsewhere = [c for c in self.azure.calls("entra") if c.get("tenant") == OTHER_TENANT]
        self.assertTrue(elsewhere)
        for c in elsewhere:
            self.assertEqual((c["ok"], c["error"], c.get("client_id")),
                             (False, "invalid_request", CLIENT_PUSHER))
        self.assertFalse(self.acr_has("mirror/elsewhere"))

        # pusher exists only in NS: a delivery of another namespace naming it gets nothing,
        # not even the credentials NS/pusher has in the controller's cache
        self.azure_delivery("borrowed", f"{ACR_HOST}/mirror/borrowed", namespace=OTHER_NS)
        message = self.wait_failed("borrowed", "ServiceAccountNotFound", namespace=OTHER_NS)
        self.assertIn(f"{OTHER_NS}/pusher", message)
        self.assertFalse(self.acr_has("mirror/borrowed"))

        # Entra ID saw only the refused logins since the warm-up, the exchange nothing at all
        entra_after = self.azure.calls("entra")
        self.assertEqual([c for c in entra_after[len(entra_before):]
                          if c.get("client_id") != CLIENT_OTHER
                          and c.get("tenant") != OTHER_TENANT],
                         [])
        self.assertFalse([c for c in entra_after if OTHER_NS in c.get("sub", "")])
        self.assertEqual(self.azure.calls("acr"), acr_before)
        # the targets of the refused deliveries were never written
        for repo in ("mirror/plain", "mirror/app"):
            self.assertFalse(self.acr_has(repo))
        self.assert_no_secret_leaked()


if __name__ == "__main__":
    unittest.main()
