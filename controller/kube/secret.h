/* Reading the values of a Secret object, with one decoding policy for all of sealift (see
 * docs/security.md, "Credentials"): a value is data[key], standard padded base64; spaces, tabs
 * and line breaks in it are skipped (the API server's own decoder skips line breaks, and
 * hand-written fakes and manifests wrap long values); stringData is never read (it is a
 * write-only field the API server folds into data, so a Secret read back never has it). */
#ifndef SL_KUBE_SECRET_H
#define SL_KUBE_SECRET_H

#include "kube/ops.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>

/* Reads Secret ns/name through kube for the spec field that names it (for messages, e.g.
 * "spec.secretRef.name"). Returns 0 with *out (release with sl_kube_secret_decref); SL_ENOTFOUND
 * with err "<field>: Secret \"<name>\" not found" (always the object's own namespace); or the
 * API error's code with err "<field>: reading Secret \"<name>\": <API message>". */
int sl_kube_secret_get(json_t **out, const struct sl_kube_ops *kube, const char *ns,
                       const char *name, const char *field, struct sl_err *err);

/* Decodes len characters of b64 by the policy above: *out is a new buffer of *out_len bytes
 * plus a NUL (caller frees with sl_secure_free(*out, *out_len + 1)). Returns 0 or SL_EINVAL. */
int sl_kube_secret_decode(unsigned char **out, size_t *out_len, const char *b64, size_t len);

/* Decoded data[key] of secret as a new NUL-terminated string, or NULL when the key is absent,
 * not a string or not valid base64 (the policy above). A value containing NUL bytes is cut at the
 * first one. Caller frees with sl_secure_free_str. */
char *sl_kube_secret_string(const json_t *secret, const char *key);

/* Decoded data[key] of secret: *out is a new buffer of *out_len bytes plus a NUL (caller frees
 * with sl_secure_free(*out, *out_len + 1)). Returns 0, SL_ENOTFOUND when the key is absent or
 * not a string, or SL_EINVAL when the value is not valid base64 (the policy above). */
int sl_kube_secret_bytes(unsigned char **out, size_t *out_len, const json_t *secret,
                         const char *key);

/* What a certSecretRef Secret holds for a TLS client: CAs to trust (ca.crt) and/or a client
 * certificate (tls.crt, with its chain) and its unencrypted key (tls.key), PEM texts. */
struct sl_kube_tls_secret {
    char *ca_pem;   /* ca.crt, or NULL */
    char *cert_pem; /* tls.crt, or NULL (key_pem is then NULL too) */
    char *key_pem;  /* tls.key, or NULL; wiped when cleared */
};

/* Reads ca.crt, tls.crt and tls.key of secret (called name in messages): ca.crt or the pair or
 * both; the pair both or neither, each PEM, the key the certificate's (http/clientcert.h), so
 * that a broken pair is named before anything is sent. Returns 0 with *out filled (release with
 * sl_kube_tls_secret_clear), or SL_EINVAL with err naming the Secret and the key ("Secret \"x\"
 * has tls.crt but no tls.key: a client certificate needs both"), never what the key holds;
 * *out is then empty. */
int sl_kube_secret_tls(struct sl_kube_tls_secret *out, const json_t *secret, const char *name,
                       struct sl_err *err);

/* Frees what t holds (the key wiped first) and zeroes it. NULL is a no-op. */
void sl_kube_tls_secret_clear(struct sl_kube_tls_secret *t);

/* Drops a reference to secret (NULL is a no-op). When it is the last one, first overwrites the
 * string values of its data (base64 of secret material) in place, so keys and passwords do not
 * linger in freed heap memory. */
void sl_kube_secret_decref(json_t *secret);

#endif
