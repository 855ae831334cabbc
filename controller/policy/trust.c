#include "policy/trust.h"

#include <string.h>

bool sl_policy_fingerprint_valid(const char *fingerprint)
{
    if (!fingerprint || strncmp(fingerprint, "sha256:", 7) != 0 || strlen(fingerprint) != 71)
        return false;
    for (const char *p = fingerprint + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

int sl_policy_trusted_key(struct sl_key **out, const json_t *key_ref, const json_t *signing_key,
                          struct sl_err *err)
{
    const char *ns = json_string_value(json_object_get(key_ref, "namespace"));
    const char *name = json_string_value(json_object_get(key_ref, "name"));
    const char *pin = json_string_value(json_object_get(key_ref, "fingerprint"));
    struct sl_key *key = NULL;
    char published[SL_KEY_FINGERPRINT_LEN];
    int rc = 0;
    if (!ns)
        ns = "?";
    if (!name)
        name = "?";
    if (!sl_policy_fingerprint_valid(pin)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "SigningKey %.63s/%.253s: the policy pins no valid fingerprint "
                        "(want sha256:<64 lower-case hex digits>)",
                        ns, name);
        goto done;
    }
    const char *pem =
        json_string_value(json_object_get(json_object_get(signing_key, "status"), "publicKey"));
    struct sl_err kerr = {0};
    if (!signing_key || !pem || sl_key_load_public_pem(&key, pem, strlen(pem), &kerr) != 0) {
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT, "SigningKey %.63s/%.253s %s", ns, name,
                        !signing_key ? "does not exist" : "publishes no public key yet");
        goto done;
    }
    if (sl_key_fingerprint(published, key, &kerr) != 0) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "SigningKey %.63s/%.253s: %s", ns, name,
                        kerr.msg);
        goto done;
    }
    if (strcmp(published, pin) != 0) {
        rc = sl_err_set(err, SL_ECONFLICT, SL_ERRC_INPUT,
                        "SigningKey %.63s/%.253s now publishes key %s, but the policy pins %s; "
                        "the key is not trusted until the authority pins its fingerprint",
                        ns, name, published, pin);
        goto done;
    }
    *out = key;
    key = NULL;
done:
    sl_key_free(key);
    return rc;
}
