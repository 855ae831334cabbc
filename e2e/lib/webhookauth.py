"""The API server's webhook client certificate for a Cluster whose webhook Service port is not
443.

kube-apiserver picks the client certificate for a webhook from its AdmissionConfiguration
kubeconfig by user name: "<service>.<namespace>.svc:<port>" (or "*.<namespace>.svc:<port>");
a name without a port ("*.sealift-system.svc", what hack/cluster.sh writes) only matches port
443. The e2e Cluster serves the webhook Service on the test's own port, so the API server would
call sealift's webhook without a certificate, and a controller started with
--webhook-client-ca refuses that handshake. present_client_cert() adds the port-qualified user
to the cluster's kubeconfig and restarts kube-apiserver so it reads it."""
import os


def present_client_cert(cluster):
    """Call after cluster.start(): the API server then presents pki/webhook-client.crt to the
    webhook at sealift-webhook.sealift-system.svc:<cluster.webhook_port>."""
    path = os.path.join(cluster.dir, "webhook-client.kubeconfig")
    with open(path) as f:
        text = f.read()
    name = f"sealift-webhook.sealift-system.svc:{cluster.webhook_port}"
    if name not in text:
        text = text.rstrip("\n") + f"""
- name: "{name}"
  user:
    client-certificate: {cluster.webhook_client_cert}
    client-key: {cluster.webhook_client_key}
"""
        with open(path, "w") as f:
            f.write(text)
        cluster.restart_apiserver()
