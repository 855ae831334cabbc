/* Checks a TLS client certificate and its private key (PEM texts, as a certSecretRef Secret's
 * tls.crt and tls.key hold them) before a transport presents them, so that a broken pair is
 * reported as such instead of as a failed TLS handshake with the server.
 *
 * No key material ever reaches the error message. */
#ifndef SL_HTTP_CLIENTCERT_H
#define SL_HTTP_CLIENTCERT_H

#include "util/err.h"

/* The longest PEM text (certificate chain or key) accepted, in bytes. */
#define SL_CLIENTCERT_PEM_MAX (64 * 1024)

/* Checks that cert_pem holds a PEM certificate (possibly followed by its chain), that key_pem
 * holds an unencrypted PEM private key, and that the key is the certificate's. cert_name and
 * key_name say how messages name the two ("tls.crt", "tls.key"). Returns 0, or SL_EINVAL with
 * err naming what is wrong ("tls.key is not the private key of the certificate in tls.crt").
 * Nothing is kept. */
int sl_clientcert_check(const char *cert_pem, const char *key_pem, const char *cert_name,
                        const char *key_name, struct sl_err *err);

#endif
