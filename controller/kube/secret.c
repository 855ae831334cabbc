#include "kube/secret.h"

#include <openssl/crypto.h>
#include <string.h>

#include "util/base64.h"
#include "util/err.h"

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
