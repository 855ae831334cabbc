#include "fake_cloud.h"

#include "oci/azure.h"
#include "oci/gcp.h"
#include "util/mem.h"

#include <stdio.h>
#include <string.h>

/* Counts a login and clears the last one's record. */
static void ask(struct sl_fake_cloud *c)
{
    c->calls++;
    c->identity[0] = c->session[0] = c->token[0] = c->host[0] = '\0';
    c->registry_ca = false;
}

/* The credentials of the login just counted: user, a password made of prefix, the fake's
 * marker and the login's number, valid for lifetime_s from the clock. */
static void grant(struct sl_fake_cloud *c, struct sl_creds *out, int64_t *expires_unix,
                  const char *user, const char *prefix, int64_t lifetime_s)
{
    out->username = sl_xstrdup(user);
    out->password = sl_xasprintf("%s-" SL_FAKE_CLOUD_PASSWORD "-%d", prefix, c->calls);
    *expires_unix = (int64_t)*c->clock + lifetime_s;
}

static int fake_aws_login(void *ctx, struct sl_creds *out, int64_t *expires_unix,
                          const struct sl_aws_ecr_host *host, const char *role_arn,
                          const char *session_name, const char *web_identity_token,
                          struct sl_err *err)
{
    struct sl_fake_cloud *c = ctx;
    ask(c);
    snprintf(c->identity, sizeof(c->identity), "%s", role_arn);
    snprintf(c->session, sizeof(c->session), "%s", session_name);
    snprintf(c->token, sizeof(c->token), "%s", web_identity_token);
    snprintf(c->host, sizeof(c->host), "%s", host->region);
    if (c->rc)
        return sl_err_set(err, c->rc, SL_ERRC_HTTP,
                          "STS https://sts.%s.amazonaws.com/: AccessDenied: Not authorized to "
                          "perform sts:AssumeRoleWithWebIdentity",
                          host->region);
    grant(c, out, expires_unix, "AWS", "ecr", 12 * 3600);
    return 0;
}

static int fake_azure_login(void *ctx, struct sl_creds *out, int64_t *expires_unix,
                            const struct sl_azure_acr_host *host, const char *tenant_id,
                            const char *client_id, const char *sa_token,
                            const struct sl_kube_tls_secret *registry_tls, struct sl_err *err)
{
    struct sl_fake_cloud *c = ctx;
    ask(c);
    snprintf(c->identity, sizeof(c->identity), "%s/%s", tenant_id ? tenant_id : "(controller's)",
             client_id);
    snprintf(c->token, sizeof(c->token), "%s", sa_token);
    snprintf(c->host, sizeof(c->host), "%s", host->host);
    c->registry_ca = registry_tls && registry_tls->ca_pem;
    if (c->rc)
        return sl_err_set(err, c->rc, SL_ERRC_HTTP,
                          "Entra ID https://login.microsoftonline.com/%s/oauth2/v2.0/token: "
                          "invalid_client: AADSTS70021: No matching federated identity record "
                          "found for presented assertion.",
                          tenant_id ? tenant_id : "controller-tenant");
    grant(c, out, expires_unix, SL_AZURE_ACR_USER, "acr", 3 * 3600);
    return 0;
}

static int fake_gcp_token_audience(void *ctx, char *buf, size_t n, struct sl_err *err)
{
    const struct sl_fake_cloud *c = ctx;
    if (c->no_gcp_audience)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "the controller has no workload identity audience "
                          "(GCP_WORKLOAD_IDENTITY_AUDIENCE)");
    snprintf(buf, n, "%s", SL_FAKE_CLOUD_GCP_AUDIENCE);
    return 0;
}

static int fake_gcp_login(void *ctx, struct sl_creds *out, int64_t *expires_unix,
                          const struct sl_gcp_registry_host *host, const char *google_sa,
                          const char *sa_token, struct sl_err *err)
{
    struct sl_fake_cloud *c = ctx;
    ask(c);
    snprintf(c->identity, sizeof(c->identity), "%s", google_sa ? google_sa : "(direct)");
    snprintf(c->token, sizeof(c->token), "%s", sa_token);
    snprintf(c->host, sizeof(c->host), "%s", host->host);
    if (c->rc)
        return sl_err_set(err, c->rc, SL_ERRC_HTTP,
                          "IAM Credentials https://iamcredentials.googleapis.com/: "
                          "PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' "
                          "denied on resource (or it may not exist).");
    grant(c, out, expires_unix, SL_GCP_REGISTRY_USER, "gar", 3600);
    return 0;
}

void sl_fake_cloud_init(struct sl_fake_cloud *c, struct sl_cloud_ops *ops, const time_t *clock)
{
    memset(c, 0, sizeof(*c));
    c->clock = clock;
    *ops = (struct sl_cloud_ops){.ctx = c,
                                 .aws_login = fake_aws_login,
                                 .azure_login = fake_azure_login,
                                 .gcp_token_audience = fake_gcp_token_audience,
                                 .gcp_login = fake_gcp_login};
}
