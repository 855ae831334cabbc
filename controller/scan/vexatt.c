/* OpenVEX attestations attached to the scanned image (see vexatt.h). */
#include "scan/vexatt.h"

#include "kube/client.h"
#include "sign/attestation.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_vexatt_trust_clear(struct sl_vexatt_trust *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nkeys; i++)
        sl_key_free(t->keys[i]);
    memset(t, 0, sizeof(*t));
}

static bool nonempty_string(const json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= max &&
           strlen(json_string_value(v)) == json_string_length(v);
}

int sl_vexatt_spec_check(const json_t *att, size_t index, struct sl_err *err)
{
    const json_t *auths = json_object_get(att, "authorities");
    if (!json_is_object(att) || !json_is_array(auths) || json_array_size(auths) == 0 ||
        json_array_size(auths) > SL_VEXATT_MAX_AUTHORITIES)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "spec.vex[%zu].attestations.authorities: Invalid value: want 1 to %d "
                          "authorities {name, key}",
                          index, SL_VEXATT_MAX_AUTHORITIES);
    for (size_t i = 0; i < json_array_size(auths); i++) {
        const json_t *a = json_array_get(auths, i);
        const json_t *name = json_object_get(a, "name");
        if (!nonempty_string(name, SL_VEXATT_NAME_MAX - 1))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.vex[%zu].attestations.authorities[%zu].name: Required value: "
                              "1 to %d characters",
                              index, i, SL_VEXATT_NAME_MAX - 1);
        for (size_t k = 0; k < i; k++)
            if (json_equal(name, json_object_get(json_array_get(auths, k), "name")))
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                  "spec.vex[%zu].attestations.authorities[%zu].name: Duplicate "
                                  "value: \"%s\"",
                                  index, i, json_string_value(name));
        const json_t *key = json_object_get(a, "key");
        const json_t *sk = json_object_get(key, "signingKeyRef");
        const json_t *cm = json_object_get(key, "configMapRef");
        if ((sk != NULL) == (cm != NULL))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.vex[%zu].attestations.authorities[%zu].key: Invalid value: "
                              "set exactly one of signingKeyRef and configMapRef",
                              index, i);
        if ((sk && !nonempty_string(json_object_get(sk, "name"), 253)) ||
            (cm && (!nonempty_string(json_object_get(cm, "name"), 253) ||
                    !nonempty_string(json_object_get(cm, "key"), 253))))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.vex[%zu].attestations.authorities[%zu].key.%s: Required "
                              "value: %s",
                              index, i, sk ? "signingKeyRef" : "configMapRef",
                              sk ? "name" : "name and key");
    }
    return 0;
}

/* The PEM text of one authority's key (borrowed from *holder, which the caller frees). */
static int authority_pem(const char **pem, json_t **holder, const struct sl_kube_ops *kube,
                         const char *ns, const json_t *key, const char *label, const char **reason,
                         struct sl_err *err)
{
    struct sl_err kerr = {0};
    const char *sk = sl_kube_json_path_str(key, "signingKeyRef.name");
    const char *cm = sl_kube_json_path_str(key, "configMapRef.name");
    const char *cm_key = sl_kube_json_path_str(key, "configMapRef.key");
    int rc = kube->get(kube->ctx, holder, sk ? &SL_RES_SIGNINGKEY : &SL_RES_CONFIGMAP, ns,
                       sk ? sk : cm, &kerr);
    if (rc == SL_ENOTFOUND) {
        *reason = sk ? "SigningKeyNotReady" : "ConfigMapNotFound";
        return sl_err_set(err, rc, SL_ERRC_KUBE, "%s: %s \"%s\" not found", label,
                          sk ? "SigningKey" : "ConfigMap", sk ? sk : cm);
    }
    if (rc != 0) {
        *reason = "APIError";
        return sl_err_set(err, rc, SL_ERRC_KUBE, "%s: reading %s: %s", label,
                          sk ? "SigningKey" : "ConfigMap", kerr.msg);
    }
    if (sk) {
        *pem = sl_kube_json_path_str(*holder, "status.publicKey");
        if (!*pem || !**pem) {
            *reason = "SigningKeyNotReady";
            return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT,
                              "%s: SigningKey \"%s\" publishes no public key yet", label, sk);
        }
        return 0;
    }
    *pem = json_string_value(json_object_get(json_object_get(*holder, "data"), cm_key));
    if (!*pem) {
        *reason = "InvalidVEX";
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "%s: the ConfigMap \"%s\" has no key \"%s\"", label, cm, cm_key);
    }
    return 0;
}

int sl_vexatt_trust_load(struct sl_vexatt_trust *out, const struct sl_kube_ops *kube,
                         const char *ns, const json_t *att, size_t index, const char **reason,
                         struct sl_err *err)
{
    struct sl_vexatt_trust t;
    memset(&t, 0, sizeof(t));
    int rc = 0;
    const json_t *auths = json_object_get(att, "authorities");
    for (size_t i = 0; i < json_array_size(auths) && i < SL_VEXATT_MAX_AUTHORITIES; i++) {
        const json_t *a = json_array_get(auths, i);
        const char *name = json_string_value(json_object_get(a, "name"));
        char label[128];
        snprintf(label, sizeof(label), "spec.vex[%zu].attestations.authorities[%zu] (%.63s)", index,
                 i, name ? name : "");
        json_t *holder = NULL;
        const char *pem = NULL;
        rc = authority_pem(&pem, &holder, kube, ns, json_object_get(a, "key"), label, reason, err);
        struct sl_err kerr = {0};
        if (rc == 0 && sl_key_load_public_pem(&t.keys[t.nkeys], pem, strlen(pem), &kerr) != 0) {
            *reason = "InvalidVEX";
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: public key: %s", label, kerr.msg);
        }
        json_decref(holder);
        if (rc != 0)
            goto done;
        t.nkeys++;
        char fp[SL_KEY_FINGERPRINT_LEN];
        if (sl_key_fingerprint(fp, t.keys[t.nkeys - 1], &kerr) != 0) {
            *reason = "InvalidVEX";
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "%s: public key: %s", label, kerr.msg);
            goto done;
        }
        snprintf(t.names[i], sizeof(t.names[i]), "%s", name ? name : "");
        size_t used = strlen(t.fingerprint);
        snprintf(t.fingerprint + used, sizeof(t.fingerprint) - used, "%s=%s;", t.names[i], fp);
    }
done:
    if (rc != 0) {
        sl_vexatt_trust_clear(&t);
        return rc;
    }
    *out = t;
    return 0;
}

void sl_vexatt_free(struct sl_vexatt *a)
{
    if (!a)
        return;
    sl_vex_free(&a->vex);
    memset(a, 0, sizeof(*a));
}

/* Notes one attestation that suppresses nothing, and why (the first reason is kept). */
static void ignore(struct sl_vexatt *out, const char *why)
{
    if (out->ignored++ == 0)
        snprintf(out->ignored_why, sizeof(out->ignored_why), "%s", why);
}

/* sha256 hex of text. */
static void fingerprint_of(char out[65], const char *text)
{
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (EVP_Digest(text, strlen(text), sum, &n, EVP_sha256(), NULL) != 1)
        return;
    for (unsigned int i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", sum[i]);
}

int sl_vexatt_read(struct sl_vexatt *out, struct sl_registry *reg, const char *repo,
                   const char *digest, const struct sl_vexatt_trust *trust, struct sl_err *err)
{
    struct sl_vexatt r;
    memset(&r, 0, sizeof(r));
    sl_vex_init(&r.vex);
    struct sl_attestation_list list = {0};
    struct sl_attestation_type type;
    /* what the fingerprint covers: each attestation read (digest, used or not) and the
     * counts and first reason the summary reports */
    char seen[SL_VEXATT_MAX_ATTESTATIONS * 80 + 700] = "";
    int rc = sl_attestation_type_parse(&type, "openvex", err);
    if (rc != 0)
        goto done;
    struct sl_attestation_limits limits = {.max_attestations = SL_VEXATT_MAX_ATTESTATIONS,
                                           .max_bytes = SL_VEXATT_MAX_BYTES,
                                           .deadline_ms = sl_mono_ms() + SL_VEXATT_TIMEOUT_MS};
    const struct sl_key *keys[SL_VEXATT_MAX_AUTHORITIES];
    for (size_t i = 0; i < trust->nkeys; i++)
        keys[i] = trust->keys[i];
    rc = sl_attestation_list(&list, reg, repo, digest, &type, keys, trust->nkeys, &limits, err);
    if (rc != 0) {
        sl_err_prefix(err, "OpenVEX attestations of %.80s", digest);
        goto done;
    }
    r.ignored = list.ignored;
    snprintf(r.ignored_why, sizeof(r.ignored_why), "%s", list.ignored_why);
    for (size_t i = 0; i < list.n; i++) {
        const struct sl_attestation *a = &list.items[i];
        size_t used = strlen(seen);
        snprintf(seen + used, sizeof(seen) - used, "%s,", a->source);
        int k = a->key_index >= 0 && (size_t)a->key_index < trust->nkeys ? a->key_index : 0;
        char name[200];
        snprintf(name, sizeof(name), "OpenVEX attestation %s (signed by %s)", a->source,
                 trust->names[k]);
        char *doc = json_dumps(json_object_get(a->statement, "predicate"), JSON_COMPACT);
        struct sl_err verr = {0};
        int vrc = doc ? sl_vex_load(&r.vex, name, doc, strlen(doc), &verr)
                      : sl_err_set(&verr, SL_EINVAL, SL_ERRC_INPUT, "%s: no predicate", name);
        free(doc);
        if (vrc != 0) {
            /* signed but not valid OpenVEX (or past a cap): it suppresses nothing, and the
             * summary says why */
            ignore(&r, verr.msg);
            continue;
        }
        r.verified++;
    }
    /* the ignored ones count too: the message the cached verdict carries names them */
    size_t used = strlen(seen);
    snprintf(seen + used, sizeof(seen) - used, "|%zu|%zu|%s", r.verified, r.ignored, r.ignored_why);
    fingerprint_of(r.fingerprint, seen);
done:
    sl_attestation_list_free(&list);
    if (rc != 0) {
        sl_vexatt_free(&r);
        return rc;
    }
    *out = r;
    return 0;
}

int sl_vexatt_merge(struct sl_vexatt *a, const struct sl_vex *base, struct sl_err *err)
{
    struct sl_vex merged;
    sl_vex_init(&merged);
    int rc = sl_vex_append(&merged, base, err);
    if (rc == 0)
        rc = sl_vex_append(&merged, &a->vex, err);
    if (rc != 0) {
        sl_vex_free(&merged);
        return rc;
    }
    sl_vex_free(&a->vex);
    a->vex = merged;
    return 0;
}

json_t *sl_vexatt_summary(const struct sl_vexatt *a)
{
    json_t *s = json_pack("{s:I, s:I}", "verified", (json_int_t)a->verified, "ignored",
                          (json_int_t)a->ignored);
    if (a->ignored)
        json_object_set_new(s, "ignoredReason", json_string(a->ignored_why));
    return s;
}
