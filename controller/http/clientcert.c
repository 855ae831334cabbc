/* TLS client certificate checks (clientcert.h). */
#include "http/clientcert.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string.h>

/* PEM password callback that gives no password: an encrypted key fails to load here instead of
 * OpenSSL asking on a terminal (transports cannot give a password to libcurl either). */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

int sl_clientcert_check(const char *cert_pem, const char *key_pem, const char *cert_name,
                        const char *key_name, struct sl_err *err)
{
    int rc = SL_EINVAL;
    BIO *cb = NULL, *kb = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    if (!cert_pem || !*cert_pem || strlen(cert_pem) > SL_CLIENTCERT_PEM_MAX) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s is empty or larger than %d bytes", cert_name,
                   SL_CLIENTCERT_PEM_MAX);
        goto done;
    }
    if (!key_pem || !*key_pem || strlen(key_pem) > SL_CLIENTCERT_PEM_MAX) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s is empty or larger than %d bytes", key_name,
                   SL_CLIENTCERT_PEM_MAX);
        goto done;
    }
    cb = BIO_new_mem_buf(cert_pem, -1);
    kb = BIO_new_mem_buf(key_pem, -1);
    if (!cb || !kb) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "out of memory reading %s", cert_name);
        rc = SL_EFAIL;
        goto done;
    }
    cert = PEM_read_bio_X509(cb, NULL, no_password, NULL);
    if (!cert) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s is not a PEM certificate", cert_name);
        goto done;
    }
    key = PEM_read_bio_PrivateKey(kb, NULL, no_password, NULL);
    if (!key) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                   "%s is not an unencrypted PEM private key (PKCS#8, or the traditional RSA or "
                   "EC form)",
                   key_name);
        goto done;
    }
    if (X509_check_private_key(cert, key) != 1) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                   "%s is not the private key of the certificate in %s", key_name, cert_name);
        goto done;
    }
    rc = 0;
done:
    ERR_clear_error(); /* OpenSSL's queue would carry what failed into unrelated calls */
    EVP_PKEY_free(key);
    X509_free(cert);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}
