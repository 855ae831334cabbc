/* Fake cloud logins for the reconciler unit tests: implements struct sl_cloud_ops
 * (runtime/cloudcreds.h) in memory, so provider aws, azure and gcp can be tested with no network.
 * It records what the reconciler asked of the last login and hands out credentials that can be
 * told apart; a knob makes every login fail.
 *
 * Usage:
 *     struct sl_fake_cloud cloud;
 *     struct sl_cloud_ops ops;
 *     sl_fake_cloud_init(&cloud, &ops, &clock);   // clock: the reconciler's wall clock
 *     ... run the reconciler with .cloud = &ops ...
 *     CHECK_INT_EQ(cloud.calls, 1);
 *     CHECK_STR_EQ(cloud.identity, ROLE_ARN);
 *
 * What a login gives: username "AWS", SL_AZURE_ACR_USER or SL_GCP_REGISTRY_USER; password
 * "ecr-", "acr-" or "gar-" then SL_FAKE_CLOUD_PASSWORD, "-" and the login's number (calls after
 * it: the first login's AWS password is "ecr-" SL_FAKE_CLOUD_PASSWORD "-1"); valid for 12 hours
 * (AWS), 3 hours (Azure) or 1 hour (Google) from *clock.
 *
 * With rc set, a login fails with rc and the text its cloud would give:
 *   AWS:    "STS https://sts.REGION.amazonaws.com/: AccessDenied: Not authorized to perform
 *            sts:AssumeRoleWithWebIdentity"
 *   Azure:  "Entra ID https://login.microsoftonline.com/TENANT/oauth2/v2.0/token: invalid_client:
 *            AADSTS70021: No matching federated identity record found for presented assertion."
 *            (TENANT "controller-tenant" when the ServiceAccount names none)
 *   Google: "IAM Credentials https://iamcredentials.googleapis.com/: PERMISSION_DENIED: Permission
 *            'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
 * Not thread-safe: one login at a time. */
#ifndef SL_TEST_FAKE_CLOUD_H
#define SL_TEST_FAKE_CLOUD_H

#include "runtime/cloudcreds.h"

#include <stdbool.h>
#include <time.h>

/* The part of every password the fake hands out: tests look for it where it must never be
 * (status, events). */
#define SL_FAKE_CLOUD_PASSWORD "cl0ud-pa55-n0t-in-status"

/* The audience sl_cloud_ops.gcp_token_audience answers (unless no_gcp_audience). */
#define SL_FAKE_CLOUD_GCP_AUDIENCE                                                                 \
    "https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/lab/providers/"  \
    "cluster"

struct sl_fake_cloud {
    /* knobs, set by the test */
    int rc;               /* nonzero: every login fails with this code */
    bool no_gcp_audience; /* the controller has no GCP workload identity audience (SL_EINVAL) */
    const time_t *clock;  /* the reconciler's wall clock: expiry is counted from it */

    /* what the reconciler asked, each login overwriting the last one's record */
    int calls; /* logins asked, of any cloud, failed ones included */
    /* AWS: the role ARN; Azure: "TENANT/CLIENT" ("(controller's)/CLIENT" without a tenant);
     * Google: the service account ("(direct)" without one) */
    char identity[256];
    char session[96]; /* AWS: the session name; "" for the others */
    char token[256];  /* the ServiceAccount token exchanged */
    char host[160];   /* AWS: the ECR host's region; Azure and Google: the registry host */
    bool registry_ca; /* Azure: the registry's certSecretRef with a CA was passed */
};

/* Resets c (all knobs off, nothing asked), sets its clock and fills ops with the fake logins on
 * c (c and clock must outlive ops). */
void sl_fake_cloud_init(struct sl_fake_cloud *c, struct sl_cloud_ops *ops, const time_t *clock);

#endif
