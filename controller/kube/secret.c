#include "kube/secret.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <string.h>

#include "http/clientcert.h"
#include "util/base64.h"
#include "util/err.h"
#include "util/mem.h"

int sl_kube_secret_get(json_t **out, const struct sl_kube_ops *kube, const char *ns,
                       const char *name, const char *field, struct sl_err *err)
{
    struct sl_err local = {0};
    int rc = kube->get(kube->ctx, out, &SL_RES_SECRET, ns, name, &local);
    if (rc == SL_ENOTFOUND)
        return sl_err_set(err, rc, SL_ERRC_KUBE, "%s: Secret \"%s\" not found", field, name);
    if (rc != 0)
        return sl_err_set(err, rc, local.klass, "%s: reading Secret \"%s\": %s", field, name,
                          local.msg);
    return 0;
}

int sl_kube_secret_decode(unsigned char **out, size_t *out_len, const char *b64, size_t len)
{
    return sl_base64_decode_opts(out, out_len, b64, len, SL_BASE64_SPACE);
}

int sl_kube_secret_bytes(unsigned char **out, size_t *out_len, const json_t *secret,
                         const char *key)
{
    const json_t *v = json_object_get(json_object_get(secret, "data"), key);
    if (!json_is_string(v))
        return SL_ENOTFOUND;
    return sl_kube_secret_decode(out, out_len, json_string_value(v), json_string_length(v));
}

char *sl_kube_secret_string(const json_t *secret, const char *key)
{
    unsigned char *out = NULL;
    size_t len = 0;
    if (sl_kube_secret_bytes(&out, &len, secret, key) != 0)
        return NULL;
    /* sl_secure_free_str wipes up to the first NUL: wipe any bytes after it now */
    size_t n = strlen((char *)out);
    if (n < len)
        OPENSSL_cleanse(out + n, len - n);
    return (char *)out;
}

void sl_kube_secret_decref(json_t *secret)
{
    if (secret && secret->refcount == 1) {
        const char *k;
        json_t *v;
        /* jansson owns the buffers; zeros in place leave valid (empty) C strings */
        json_object_foreach(json_object_get(secret, "data"), k, v)
        {
            if (json_is_string(v) && json_string_length(v) > 0)
                OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
        }
    }
    json_decref(secret);
}

/* data[key] of secret as a NUL-terminated text without NUL bytes inside, or NULL with err. */
static char *pem_value(const json_t *secret, const char *name, const char *key, struct sl_err *err)
{
    unsigned char *v = NULL;
    size_t len = 0;
    if (sl_kube_secret_bytes(&v, &len, secret, key) != 0) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "Secret \"%s\" key %s: invalid base64", name,
                   key);
        return NULL;
    }
    if (len == 0 || strlen((char *)v) != len) {
        sl_secure_free(v, len + 1);
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "Secret \"%s\" key %s: empty or not text", name,
                   key);
        return NULL;
    }
    return (char *)v;
}

int sl_kube_secret_tls(struct sl_kube_tls_secret *out, const json_t *secret, const char *name,
                       struct sl_err *err)
{
    struct sl_kube_tls_secret t = {0};
    struct sl_err cerr = {0};
    const json_t *data = json_object_get(secret, "data");
    bool has_ca = json_is_string(json_object_get(data, "ca.crt"));
    bool has_crt = json_is_string(json_object_get(data, "tls.crt"));
    bool has_key = json_is_string(json_object_get(data, "tls.key"));
    memset(out, 0, sizeof(*out));
    if (!has_ca && !has_crt && !has_key)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "Secret \"%s\" has no key ca.crt, nor a client certificate in tls.crt "
                          "and tls.key",
                          name);
    if (has_crt != has_key)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "Secret \"%s\" has %s but no %s: a client certificate needs both", name,
                          has_crt ? "tls.crt" : "tls.key", has_crt ? "tls.key" : "tls.crt");
    if (has_ca && !(t.ca_pem = pem_value(secret, name, "ca.crt", err)))
        goto fail;
    if (has_crt) {
        if (!(t.cert_pem = pem_value(secret, name, "tls.crt", err)) ||
            !(t.key_pem = pem_value(secret, name, "tls.key", err)))
            goto fail;
        if (sl_clientcert_check(t.cert_pem, t.key_pem, "tls.crt", "tls.key", &cerr) != 0) {
            sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "Secret \"%s\": %s", name, cerr.msg);
            goto fail;
        }
    }
    *out = t;
    return 0;
fail:
    sl_kube_tls_secret_clear(&t);
    return SL_EINVAL;
}

void sl_kube_tls_secret_clear(struct sl_kube_tls_secret *t)
{
    if (!t)
        return;
    sl_secure_free_str(t->ca_pem);
    sl_secure_free_str(t->cert_pem);
    sl_secure_free_str(t->key_pem);
    memset(t, 0, sizeof(*t));
}
