/* The admission webhook's own serving certificate, kept in a Secret (--webhook-cert-secret):
 * a CA and a serving certificate for the Service sealift-webhook.<ns>.svc (EC P-256), stored
 * as ca.crt, ca.key, tls.crt and tls.key; ca.crt, tls.crt and tls.key are written into the
 * webhook certificate directory that the TLS listener reloads and the DeployPolicy reconciler
 * reads caBundle from.
 *
 * The decision (sl_webhookcert_check) and the generation take data and a clock; the sync
 * talks to the API server through struct sl_kube_ops and writes files, so unit tests run it
 * against the fake API server. The private key is never logged, nor put in an error message. */
#ifndef SL_RUNTIME_WEBHOOKCERT_H
#define SL_RUNTIME_WEBHOOKCERT_H

#include "kube/ops.h"
#include "util/err.h"

#include <stdbool.h>
#include <time.h>

#define SL_WEBHOOKCERT_SERVICE      "sealift-webhook"
#define SL_WEBHOOKCERT_CA_DAYS      3650 /* the CA's validity */
#define SL_WEBHOOKCERT_SERVING_DAYS 365  /* the serving certificate's validity */
#define SL_WEBHOOKCERT_RENEW_DAYS   30   /* renewed this long before either expires */

enum sl_webhookcert_state {
    SL_WEBHOOKCERT_OK = 0,   /* serve it as is */
    SL_WEBHOOKCERT_RENEW,    /* usable, but within the renewal window: the leader renews it */
    SL_WEBHOOKCERT_UNUSABLE, /* missing, not PEM, key not matching, not issued by the CA, names
                                other than the Service's, or expired: replace it now */
};

/* A CA certificate (ca.crt: the CA first, then possibly the CA it replaced, so that both are
 * trusted while replicas switch over), its key (ca.key), the serving certificate and key, PEM. */
struct sl_webhookcert {
    char *ca_pem;
    char *ca_key_pem; /* wiped when cleared */
    char *crt_pem;
    char *key_pem; /* wiped when cleared */
};

/* Decides what to do with ca_pem, crt_pem and key_pem (each may be NULL) for the Service
 * sealift-webhook in namespace service_ns at time now. Returns the state; when it is not OK
 * and why is not NULL, *why is a new one-line reason (no key material; caller frees). */
enum sl_webhookcert_state sl_webhookcert_check(const char *ca_pem, const char *crt_pem,
                                               const char *key_pem, const char *service_ns,
                                               time_t now, char **why);

/* Generates a serving certificate (SL_WEBHOOKCERT_SERVING_DAYS) with the DNS names
 * sealift-webhook.<service_ns>.svc and sealift-webhook.<service_ns>.svc.cluster.local, EC P-256,
 * valid from a few minutes before now, signed by the CA of keep (ca_pem and ca_key_pem) when keep
 * is not NULL and that CA is valid for longer than the certificate and its renewal window; else
 * by a new CA (SL_WEBHOOKCERT_CA_DAYS), and then ca.crt also carries the first certificate of
 * keep->ca_pem when that one has not expired (the API server trusts both until every replica
 * serves the new certificate). Returns 0 with *out filled (clear with sl_webhookcert_clear), or
 * SL_EFAIL (err). */
int sl_webhookcert_generate(struct sl_webhookcert *out, const struct sl_webhookcert *keep,
                            const char *service_ns, time_t now, struct sl_err *err);

/* Frees the PEM texts of c (the key wiped first) and zeroes c. NULL is a no-op. */
void sl_webhookcert_clear(struct sl_webhookcert *c);

struct sl_webhookcert_sync_opts {
    const struct sl_kube_ops *kube;
    const char *ns;          /* the controller's namespace: the Secret's and the Service's */
    const char *secret_name; /* the Secret holding ca.crt, tls.crt and tls.key */
    const char *cert_dir;    /* where ca.crt, tls.crt and tls.key are written */
    bool may_renew;          /* renew a usable certificate in its renewal window (the leader) */
    bool may_replace;        /* create a missing Secret, replace an unusable one (the leader, or a
                                replica starting with nothing to serve); otherwise such a Secret is
                                left for the leader and SL_ERETRY returned */
    time_t now;
};

/* Reads the Secret; creates it (missing, with may_replace) or replaces its data (unusable with
 * may_replace, or in the renewal window with may_renew) with a newly generated certificate, writing
 * with the read resourceVersion: when another replica wrote first (AlreadyExists, Conflict), reads
 * the winner's and uses it. Then writes the files into cert_dir (key first, mode 0600; each file
 * replaced atomically, and only when its content differs). *files_changed (may be NULL) tells
 * whether any file changed. Returns 0, or the API or file error's code with err. */
int sl_webhookcert_sync(const struct sl_webhookcert_sync_opts *o, bool *files_changed,
                        struct sl_err *err);

/* *out = the base64 caBundle of the webhook's CA: cert_dir/ca.crt, else cert_dir/tls.crt (a
 * self-signed serving certificate), at most 64 KiB of PEM holding at least one certificate.
 * *file (may be NULL) names the file used. Returns 0; SL_ENOTFOUND when cert_dir is NULL or
 * holds neither file; SL_EINVAL when the file holds no PEM certificate. Caller frees *out. */
int sl_webhookcert_ca_bundle(char **out, const char **file, const char *cert_dir,
                             struct sl_err *err);

/* The CRDs whose conversion webhook is sealift's /convert (NULL-terminated). */
extern const char *const SL_WEBHOOKCERT_CRDS[];

/* Writes the webhook's CA (cert_dir/ca.crt, else cert_dir/tls.crt: at most 64 KiB of PEM
 * certificates) as caBundle into the conversion webhook of each sealift.dev CRD (a merge patch of
 * spec.conversion.webhook.clientConfig.caBundle, only where it differs), so that the API server
 * can call /convert with whatever certificate the controller serves (generated, cert-manager's,
 * or a mounted Secret's). A CRD that is not installed, does not convert by webhook, or whose
 * webhook is not the Service sealift-webhook of service_ns is left alone. *patched (may be NULL)
 * counts the CRDs written. Returns 0; SL_ENOTFOUND when cert_dir holds no certificate;
 * SL_EINVAL when it is not PEM; else the first API error's code (a 403 names the RBAC rule),
 * having tried every CRD. */
int sl_webhookcert_publish_crd_ca(const struct sl_kube_ops *kube, const char *service_ns,
                                  const char *cert_dir, int *patched, struct sl_err *err);

#endif
